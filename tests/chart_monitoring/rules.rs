//! The PrometheusRule: every alert is there with a severity, a summary, a description and a
//! runbook link to a heading of docs/dashboards-and-alerts.md; its expression parses, selects the
//! controller's scrape job and uses only the metrics contract; its Prometheus templates were left
//! to Prometheus by Helm and name only labels the alert has; thresholds, `for`, labels,
//! namespace, job and extra rules follow the values. Runs helm.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::parser::{Expr, value::ValueType};
use regex::Regex;
use serde_json::Value;

use super::{only, promql, render};
use crate::support::{
    helm::{NAMESPACE, chart_dir, rendered_documents},
    manifests::repo_root,
};

/// Every alert, by the key of its values under `prometheusRule.alerts`.
const ALERTS: [(&str, &str); 8] = [
    ("serviceStalled", "ByocServiceStalled"),
    ("serviceNotReady", "ByocServiceNotReady"),
    ("reconcileErrors", "ByocReconcileErrors"),
    ("awsThrottling", "ByocAwsThrottling"),
    ("rateLimitSaturated", "ByocRateLimitSaturated"),
    ("leaderMissing", "ByocLeaderMissing"),
    ("watchErrors", "ByocWatchErrors"),
    ("operatorDown", "ByocOperatorDown"),
];

/// `prometheusRule.runbookBaseUrl` in values.yaml: the runbooks' file in the repository.
fn default_runbooks() -> String {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let values: Value = serde_saphyr::from_str(&text).unwrap();
    let url = values["prometheusRule"]["runbookBaseUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with("https://"), "{url}");
    assert!(url.ends_with("/docs/dashboards-and-alerts.md"), "the runbooks are not in {url}");
    url
}

/// The rules of the rendered PrometheusRule, in order.
fn rules(docs: &[Value]) -> Vec<Value> {
    let rule = only(docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let groups = rule["spec"]["groups"].as_array().expect("spec.groups");
    groups.iter().flat_map(|g| g["rules"].as_array().expect("rules").clone()).collect()
}

/// The alerting rules by name.
fn alerts(docs: &[Value]) -> BTreeMap<String, Value> {
    rules(docs).into_iter().filter_map(|r| Some((r["alert"].as_str()?.to_string(), r))).collect()
}

fn names(alerts: &BTreeMap<String, Value>) -> Vec<&str> {
    alerts.keys().map(String::as_str).collect()
}

fn expr(rule: &Value) -> &str {
    rule["expr"].as_str().expect("a rule has an expr")
}

/// A duration as Prometheus reads `for`: integers with units y, w, d, h, m, s, ms, largest first.
pub fn prometheus_duration(text: &str) -> Result<std::time::Duration, String> {
    let form = Regex::new(
        r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$",
    )
    .unwrap();
    if text.is_empty() || !form.is_match(text) {
        return Err(format!("{text:?} is not a Prometheus duration (e.g. 15m, 1h30m)"));
    }
    promql_parser::util::parse_duration(text)
}

/// GitHub's anchors for the headings of a Markdown file.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix('#').map(|h| h.trim_start_matches('#').trim()))
        .map(|heading| {
            heading
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// The threshold of `expr ... > N`: the number on the right of the outermost comparison.
fn threshold(expression: &Expr) -> Option<f64> {
    match expression {
        Expr::Binary(b) if b.op.is_comparison_operator() => match b.rhs.as_ref() {
            Expr::NumberLiteral(n) => Some(n.val),
            _ => None,
        },
        Expr::Paren(p) => threshold(&p.expr),
        _ => None,
    }
}

#[test]
fn prometheus_durations_are_told_from_other_text() {
    for good in ["15m", "1h30m", "2d", "90s", "500ms", "1w"] {
        assert!(prometheus_duration(good).is_ok(), "{good}");
    }
    for bad in ["", "15", "1.5h", "soon", "m15", "15 m", "30m1h"] {
        assert!(prometheus_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_promql_check_finds_what_promtool_and_the_contract_would_refuse() {
    let refused = [
        ("a syntax error", "sum(rate(byoc_reconcile_total[5m])"),
        ("a misspelt metric", "rate(byoc_reconcile_totl[5m])"),
        ("a label the metric lacks", "byoc_leader{kind=\"CloudService\"}"),
        ("a value outside the fixed set", "byoc_reconcile_total{outcome=\"failure\"}"),
        ("grouping by a missing label", "sum by (bucket) (rate(byoc_reconcile_total[5m]))"),
        ("matching on a missing label", "byoc_service_ready and on (pod) byoc_leader"),
        (
            "a histogram without le",
            "histogram_quantile(0.9, sum(rate(byoc_reconcile_duration_seconds_bucket[5m])))",
        ),
    ];
    for (reason, query) in refused {
        let found = promql::analyse(query).map(|a| a.problems);
        assert!(!matches!(found, Ok(ref p) if p.is_empty()), "{reason}: {query} passed");
    }
    let fine = "sum by (kind) (rate(byoc_reconcile_total{outcome=\"error\"}[5m])) > 0";
    assert_eq!(promql::analyse(fine).unwrap().problems, Vec::<String>::new());
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_and_its_runbook() {
    let docs = render(&[]);
    let alerts = alerts(&docs);
    let mut expected: Vec<&str> = ALERTS.iter().map(|(_, name)| *name).collect();
    expected.sort();
    assert_eq!(names(&alerts), expected);
    let doc = std::fs::read_to_string(repo_root().join("docs/dashboards-and-alerts.md"))
        .expect("docs/dashboards-and-alerts.md");
    let headings = anchors(&doc);
    let template = Regex::new(r"\{\{\s*(.*?)\s*\}\}").unwrap();
    let label = Regex::new(r"\$labels\.(\w+)").unwrap();
    for (name, rule) in &alerts {
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["critical", "warning", "info"].contains(&severity), "{name}: {severity:?}");
        let duration = rule["for"].as_str().unwrap_or_default();
        let duration = prometheus_duration(duration).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(duration.as_secs() >= 60, "{name}: for {duration:?}");

        let runbook = rule["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let anchor = name.to_lowercase();
        assert_eq!(runbook, format!("{}#{anchor}", default_runbooks()), "{name}");
        assert!(headings.contains(&anchor), "docs/dashboards-and-alerts.md has no # {name}");

        let analysis = promql::analyse(expr(rule)).unwrap();
        let static_labels = rule["labels"].as_object().unwrap().keys().cloned();
        let known: BTreeSet<String> = analysis.labels.into_iter().chain(static_labels).collect();
        for key in ["summary", "description"] {
            let text = rule["annotations"][key].as_str().unwrap_or_default();
            assert!(text.len() > 20, "{name}: {key} {text:?}");
            assert!(!text.contains('`'), "{name}: Helm's escaping leaked into {key}: {text}");
            assert_eq!(text.matches("{{").count(), text.matches("}}").count(), "{name}: {text}");
            for inner in template.captures_iter(text) {
                let action = &inner[1];
                assert!(
                    action.starts_with("$labels.") || action.starts_with("$value"),
                    "{name}: {key} has the template {action:?}"
                );
                for used in label.captures_iter(action) {
                    assert!(known.contains(&used[1]), "{name}: {key} uses $labels.{}", &used[1]);
                }
            }
        }
    }
}

#[test]
fn every_alert_expression_parses_selects_the_scrape_job_and_uses_only_the_contract() {
    let docs = render(&["metrics.serviceMonitor.enabled=true"]);
    let service = only(&docs, "Service");
    let job = service["metadata"]["name"].as_str().unwrap();
    let monitor = only(&docs, "ServiceMonitor");
    assert!(monitor["spec"]["jobLabel"].is_null(), "the job is then the Service's name");
    for (name, rule) in alerts(&docs) {
        let analysis = promql::analyse(expr(&rule))
            .unwrap_or_else(|e| panic!("{name}: {} does not parse: {e}", expr(&rule)));
        assert!(analysis.problems.is_empty(), "{name}: {:?}", analysis.problems);
        assert_eq!(analysis.value_type, ValueType::Vector, "{name}");
        assert!(!analysis.selectors.is_empty(), "{name}");
        for selector in &analysis.selectors {
            let wanted = ("job".to_string(), "=".to_string(), job.to_string());
            assert!(
                selector.matchers.contains(&wanted),
                "{name}: {} not job {job}",
                selector.series
            );
        }
    }
}

#[test]
fn thresholds_durations_and_severities_follow_the_values() {
    let values = [
        ("serviceStalled", None, "1h", "critical"),
        ("serviceNotReady", None, "45m", "info"),
        ("reconcileErrors", Some(("errorRatio", 0.25)), "20m", "critical"),
        ("awsThrottling", Some(("throttledPerSecond", 0.5)), "10m", "info"),
        ("rateLimitSaturated", Some(("waitSecondsPerSecond", 2.0)), "1h", "warning"),
        ("leaderMissing", None, "2m", "warning"),
        ("watchErrors", Some(("errorsIn10m", 7.0)), "30m", "critical"),
        ("operatorDown", None, "10m", "warning"),
    ];
    let mut set = Vec::new();
    for (key, threshold, duration, severity) in values {
        set.push(format!("prometheusRule.alerts.{key}.for={duration}"));
        set.push(format!("prometheusRule.alerts.{key}.severity={severity}"));
        if let Some((field, value)) = threshold {
            set.push(format!("prometheusRule.alerts.{key}.{field}={value}"));
        }
    }
    let set: Vec<&str> = set.iter().map(String::as_str).collect();
    let rendered = alerts(&render(&set));
    let defaults = alerts(&render(&[]));
    for (key, expected, duration, severity) in values {
        let name = ALERTS.iter().find(|(k, _)| *k == key).unwrap().1;
        let (rule, default) = (&rendered[name], &defaults[name]);
        assert_eq!(rule["for"], duration, "{name}");
        assert_eq!(rule["labels"]["severity"], severity, "{name}");
        let parsed = promql::analyse(expr(rule)).unwrap().expr;
        let before = promql::analyse(expr(default)).unwrap().expr;
        match expected {
            Some((_, value)) => {
                assert_eq!(threshold(&parsed), Some(value), "{name}: {}", expr(rule));
                assert_ne!(threshold(&before), Some(value), "{name}: the default differs");
            }
            None => assert_eq!(expr(rule), expr(default), "{name} has no threshold"),
        }
    }
}

#[test]
fn switching_one_alert_off_removes_that_alert_only() {
    for (key, name) in ALERTS {
        let off = format!("prometheusRule.alerts.{key}.enabled=false");
        let alerts = alerts(&render(&[&off]));
        let mut expected: Vec<&str> =
            ALERTS.iter().map(|(_, n)| *n).filter(|n| *n != name).collect();
        expected.sort();
        assert_eq!(names(&alerts), expected, "{off}");
    }
}

#[test]
fn a_controller_scaled_to_zero_is_neither_down_nor_leaderless() {
    let alerts = alerts(&render(&["replicas=0"]));
    assert!(!alerts.contains_key("ByocOperatorDown"), "replicas: 0 is deliberate");
    assert!(!alerts.contains_key("ByocLeaderMissing"), "replicas: 0 is deliberate");
    assert_eq!(alerts.len(), ALERTS.len() - 2);
}

#[test]
fn the_rule_follows_its_namespace_labels_job_runbooks_and_extra_rules() {
    let extra = tempfile_with(
        "prometheusRule:\n  additionalRules:\n\
         \x20   - record: byoc:reconcile_errors:rate10m\n\
         \x20     expr: sum by (kind) (rate(byoc_reconcile_total{outcome=\"error\"}[10m]))\n\
         \x20   - alert: ByocTooManyServices\n\
         \x20     expr: count(byoc_service_ready) > 500\n\
         \x20     for: 1h\n\
         \x20     labels: {severity: info}\n",
    );
    let docs = rendered_documents(
        &[extra.to_str().unwrap()],
        &[
            "prometheusRule.enabled=true",
            "prometheusRule.namespace=monitoring",
            "prometheusRule.labels.release=prometheus",
            "prometheusRule.job=byoc-controller",
            "prometheusRule.additionalAlertLabels.team=platform",
            "prometheusRule.runbookBaseUrl=https://wiki.example.com/byoc",
        ],
    );
    std::fs::remove_file(&extra).unwrap();
    let rule = only(&docs, "PrometheusRule");
    assert_eq!(rule["metadata"]["namespace"], "monitoring");
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let all = rules(&docs);
    let last: Vec<&str> = all[all.len() - 2..]
        .iter()
        .map(|r| r["record"].as_str().or(r["alert"].as_str()).unwrap())
        .collect();
    assert_eq!(last, ["byoc:reconcile_errors:rate10m", "ByocTooManyServices"], "appended");
    for rule in &all {
        let analysis = promql::analyse(expr(rule)).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert!(analysis.problems.is_empty(), "{}: {:?}", expr(rule), analysis.problems);
    }
    for (name, rule) in alerts(&docs).into_iter().filter(|(n, _)| n != "ByocTooManyServices") {
        assert_eq!(rule["labels"]["team"], "platform", "{name}");
        let runbook = format!("https://wiki.example.com/byoc#{}", name.to_lowercase());
        assert_eq!(rule["annotations"]["runbook_url"], runbook.as_str(), "{name}");
        for selector in promql::analyse(expr(&rule)).unwrap().selectors {
            let job = ("job".to_string(), "=".to_string(), "byoc-controller".to_string());
            assert!(selector.matchers.contains(&job), "{name}: {selector:?}");
        }
    }
    let defaults = render(&[]);
    assert_eq!(only(&defaults, "PrometheusRule")["metadata"]["namespace"], NAMESPACE);
}

#[test]
fn extra_alert_labels_never_replace_the_severity() {
    let alerts = alerts(&render(&["prometheusRule.additionalAlertLabels.severity=none"]));
    for (name, rule) in alerts {
        assert_ne!(rule["labels"]["severity"], "none", "{name}");
    }
}

/// A values file with `text` in the temporary directory; the caller removes it.
fn tempfile_with(text: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("byoc-chart-monitoring-{}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}
