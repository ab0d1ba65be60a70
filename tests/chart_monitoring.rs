//! The chart's optional monitoring: a Grafana dashboard in a ConfigMap and a PrometheusRule of
//! alerts. Neither renders by default; both follow their values (namespace, labels, thresholds,
//! `for` durations, single alerts switched off, extra rules). Like `promtool check rules`, every
//! PromQL expression — alerts, dashboard panels, dashboard variables — is parsed by a PromQL
//! parser, and beyond it each may use only the series, labels and label values of the metrics
//! contract (`contract`), which is checked against what `byoc::telemetry::Metrics` exports. Every
//! alert links to its runbook heading in docs/dashboards-and-alerts.md.
//! Shells out to `helm` (see `support::helm`); never skips when helm is missing.

mod support;

#[path = "chart_monitoring/contract.rs"]
mod contract;
#[path = "chart_monitoring/promql.rs"]
mod promql;
#[path = "chart_monitoring/rules.rs"]
mod rules;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ConfigMap;
use promql_parser::parser::value::ValueType;
use regex::Regex;
use serde_json::Value;
use support::helm::{NAMESPACE, rendered_documents, run_helm, template};

/// Values that turn both on.
const BOTH: [&str; 2] = ["grafanaDashboard.enabled=true", "prometheusRule.enabled=true"];

/// The chart with both enabled, plus `set`.
fn render(set: &[&str]) -> Vec<Value> {
    let mut all = BOTH.to_vec();
    all.extend(set);
    rendered_documents(&[], &all)
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn only<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0]
}

/// The dashboard's ConfigMap and the dashboard it holds.
fn dashboard(docs: &[Value]) -> (ConfigMap, Value) {
    let doc = only(docs, "ConfigMap");
    let map: ConfigMap = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("the dashboard ConfigMap is not a ConfigMap: {e}"));
    let json = map.data.as_ref().and_then(|d| d.get("byoc-operator.json")).expect("its JSON key");
    let parsed = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("the dashboard in the ConfigMap is not JSON: {e}"));
    (map, parsed)
}

/// Every panel, rows and the panels of collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// The names of the dashboard's template variables.
fn variables(dashboard: &Value) -> BTreeSet<String> {
    let list = dashboard["templating"]["list"].as_array().expect("templating.list");
    list.iter().map(|v| v["name"].as_str().expect("a variable name").to_string()).collect()
}

/// A dashboard query as Prometheus receives it: Grafana's interval variables become a duration,
/// the dashboard's own variables a placeholder value. An unknown variable is an error.
fn substitute_variables(query: &str, defined: &BTreeSet<String>) -> Result<String, String> {
    let variable = Regex::new(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]").unwrap();
    let mut unknown = Vec::new();
    let out = variable.replace_all(query, |c: &regex::Captures| {
        let name = c.get(1).or(c.get(2)).or(c.get(3)).unwrap().as_str();
        match name {
            "__rate_interval" | "__interval" | "__range" => "5m".to_string(),
            _ if defined.contains(name) => "placeholder".to_string(),
            _ => {
                unknown.push(name.to_string());
                String::new()
            }
        }
    });
    match unknown.is_empty() {
        true => Ok(out.into_owned()),
        false => Err(format!("{query}: undefined variables {unknown:?}")),
    }
}

/// `{{label}}` references of a Grafana legend.
fn legend_labels(legend: &str) -> BTreeSet<String> {
    let reference = Regex::new(r"\{\{\s*(\w+)\s*\}\}").unwrap();
    reference.captures_iter(legend).map(|c| c[1].to_string()).collect()
}

#[test]
fn monitoring_renders_nothing_by_default_and_each_part_only_when_enabled() {
    let cases: [(&str, &[&str], usize, usize); 4] = [
        ("default values", &[], 0, 0),
        ("the dashboard only", &["grafanaDashboard.enabled=true"], 1, 0),
        ("the rule only", &["prometheusRule.enabled=true"], 0, 1),
        ("both", &BOTH, 1, 1),
    ];
    for (reason, set, config_maps, rules) in cases {
        let docs = rendered_documents(&[], set);
        assert_eq!(of_kind(&docs, "ConfigMap").len(), config_maps, "{reason}");
        assert_eq!(of_kind(&docs, "PrometheusRule").len(), rules, "{reason}");
    }
}

#[test]
fn helm_lint_passes_with_the_dashboard_and_the_alerts_enabled() {
    let chart = support::helm::chart_dir().display().to_string();
    let mut args = vec!["lint", "--strict", &chart];
    for set in [&BOTH[..], &["metrics.serviceMonitor.enabled=true", "replicas=2"]].concat() {
        args.extend(["--set", set]);
    }
    run_helm(&args).unwrap_or_else(|e| panic!("helm lint: {e}"));
}

#[test]
fn the_dashboard_config_map_holds_an_importable_grafana_dashboard() {
    let (map, dashboard) = dashboard(&render(&[]));
    let labels = map.metadata.labels.unwrap();
    assert_eq!(labels.get("grafana_dashboard").map(String::as_str), Some("1"), "sidecar label");
    assert_eq!(labels.get("app.kubernetes.io/instance").map(String::as_str), Some("byoc"));
    assert_eq!(map.metadata.namespace.as_deref(), Some(NAMESPACE));

    assert_eq!(dashboard["uid"], "byoc-operator");
    assert_eq!(dashboard["title"], "byoc-operator");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36, "schemaVersion");
    assert!(dashboard["id"].is_null(), "an import must not carry another Grafana's id");
    let list = dashboard["templating"]["list"].as_array().unwrap();
    let source = list.iter().find(|v| v["type"] == "datasource").expect("a data source variable");
    assert_eq!(source["query"], "prometheus");
    let source = format!("${{{}}}", source["name"].as_str().unwrap());

    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let mut queries = 0;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(ids.insert(panel["id"].as_u64().expect("a numeric id")), "{title}: id reused");
        let grid = &panel["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| {
            grid[k].as_u64().unwrap_or_else(|| panic!("{title}: gridPos.{k} is not a number"))
        });
        assert!(h > 0 && w > 0 && x + w <= 24, "{title}: gridPos {grid} is outside the grid");
        for cell in (x..x + w).flat_map(|cx| (y..y + h).map(move |cy| (cx, cy))) {
            assert!(cells.insert(cell), "{title} overlaps another panel at {cell:?}");
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], source.as_str(), "{title}: data source");
        let targets = panel["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("{title}: no query"));
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}: expr");
            assert!(target["legendFormat"].as_str().is_some_and(|l| !l.is_empty()), "{title}");
            assert_eq!(target["datasource"]["uid"], source.as_str(), "{title}: target source");
            assert!(refs.insert(target["refId"].as_str().unwrap()), "{title}: refId reused");
            queries += 1;
        }
    }
    assert!(queries >= 20, "only {queries} queries in the dashboard");
}

#[test]
fn every_dashboard_query_parses_and_uses_only_the_metrics_contract() {
    let (_, dashboard) = dashboard(&render(&[]));
    let defined = variables(&dashboard);
    let mut families = BTreeSet::new();
    let mut quantiles = Vec::new();
    for panel in panels(&dashboard).into_iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            let raw = target["expr"].as_str().unwrap();
            let query = substitute_variables(raw, &defined).unwrap_or_else(|e| panic!("{e}"));
            let analysis = promql::analyse(&query)
                .unwrap_or_else(|e| panic!("{title}: {raw} does not parse: {e}"));
            assert!(analysis.problems.is_empty(), "{title}: {raw}: {:?}", analysis.problems);
            assert_eq!(analysis.value_type, ValueType::Vector, "{title}: {raw}");
            let legend = legend_labels(target["legendFormat"].as_str().unwrap());
            assert!(
                legend.is_subset(&analysis.labels),
                "{title}: the legend names {legend:?}, the query gives {:?}",
                analysis.labels
            );
            for selector in &analysis.selectors {
                let series = contract::series(&selector.series).unwrap();
                families.insert(series.family);
                let filters: Vec<&str> = selector
                    .matchers
                    .iter()
                    .filter(|(_, op, value)| op == "=~" && value == "placeholder")
                    .map(|(label, _, _)| label.as_str())
                    .collect();
                let mut wanted = vec!["job"];
                if selector.series.starts_with("byoc_service_") {
                    wanted.extend(["namespace", "name"]);
                }
                assert_eq!(filters, wanted, "{title}: {raw} ignores the dashboard's variables");
            }
            quantiles.extend(analysis.quantiles);
        }
        let columns = panel["transformations"].as_array().into_iter().flatten();
        for renamed in columns.filter_map(|t| t["options"]["renameByName"].as_object()) {
            let analysis = promql::analyse(
                &substitute_variables(panel["targets"][0]["expr"].as_str().unwrap(), &defined)
                    .unwrap(),
            )
            .unwrap();
            for column in renamed.keys() {
                assert!(analysis.labels.contains(column), "{title}: no column {column}");
            }
        }
    }
    let every: BTreeSet<&str> = contract::FAMILIES.iter().map(|f| f.name).collect();
    assert_eq!(families, every, "the dashboard shows every metric the controller exports");
    quantiles.sort_by(f64::total_cmp);
    assert_eq!(quantiles, [0.5, 0.95, 0.99], "reconcile duration p50, p95 and p99");
}

#[test]
fn the_dashboard_variables_list_the_namespaces_and_names_of_cloud_services() {
    let (_, dashboard) = dashboard(&render(&[]));
    let defined = variables(&dashboard);
    let label_values = Regex::new(r"^label_values\((.+),\s*(\w+)\)$").unwrap();
    let list = dashboard["templating"]["list"].as_array().unwrap();
    let mut sources = Vec::new();
    for variable in list.iter().filter(|v| v["type"] == "query") {
        let name = variable["name"].as_str().unwrap();
        let query = variable["query"]["query"].as_str().or(variable["query"].as_str()).unwrap();
        let call = label_values.captures(query).unwrap_or_else(|| panic!("{name}: {query}"));
        let selector = substitute_variables(&call[1], &defined).unwrap();
        let analysis = promql::analyse(&selector).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(analysis.problems.is_empty(), "{name}: {:?}", analysis.problems);
        assert!(analysis.labels.contains(&call[2]), "{name}: {} has no {}", &call[1], &call[2]);
        sources.push((name.to_string(), analysis.selectors[0].series.clone(), call[2].to_string()));
    }
    for wanted in ["namespace", "name"] {
        assert!(
            sources.contains(&(wanted.into(), "byoc_service_ready".into(), wanted.into())),
            "a {wanted} variable from byoc_service_ready: {sources:?}"
        );
    }
}

#[test]
fn the_dashboard_follows_its_namespace_labels_and_annotations() {
    let docs = render(&[
        "grafanaDashboard.namespace=monitoring",
        "grafanaDashboard.labels.team=platform",
        "grafanaDashboard.annotations.grafana_folder=Operators",
    ]);
    let (map, _) = dashboard(&docs);
    assert_eq!(map.metadata.namespace.as_deref(), Some("monitoring"));
    let labels = map.metadata.labels.unwrap();
    assert_eq!(labels.get("team").map(String::as_str), Some("platform"));
    assert_eq!(labels.get("grafana_dashboard").map(String::as_str), Some("1"), "default kept");
    let annotations = map.metadata.annotations.unwrap();
    assert_eq!(annotations.get("grafana_folder").map(String::as_str), Some("Operators"));

    let docs = render(&[
        "grafanaDashboard.labels.grafana_dashboard=null",
        "grafanaDashboard.labels.dashboards=byoc",
    ]);
    let labels = dashboard(&docs).0.metadata.labels.unwrap();
    assert!(!labels.contains_key("grafana_dashboard"), "null removes the default label");
    assert_eq!(labels.get("dashboards").map(String::as_str), Some("byoc"));
}

#[test]
fn the_service_monitor_keeps_the_namespace_label_of_cloud_service_metrics() {
    for (set, honor) in [(None, true), (Some("metrics.serviceMonitor.honorLabels=false"), false)] {
        let mut values = vec!["metrics.serviceMonitor.enabled=true"];
        values.extend(set);
        let docs = rendered_documents(&[], &values);
        let monitor = only(&docs, "ServiceMonitor");
        assert_eq!(monitor["spec"]["endpoints"][0]["honorLabels"], honor, "{set:?}");
    }
}

#[test]
fn dashboard_and_alert_values_outside_the_schema_are_refused() {
    let cases: [(&str, &[&str], &str); 11] = [
        (
            "an unknown alert",
            &["prometheusRule.alerts.serviceStaled.enabled=false"],
            "serviceStaled",
        ),
        (
            "an unknown severity",
            &["prometheusRule.alerts.serviceStalled.severity=page"],
            "severity",
        ),
        ("a for that is no duration", &["prometheusRule.alerts.serviceStalled.for=soon"], "for"),
        ("a for without a unit", &["prometheusRule.alerts.leaderMissing.for=15"], "leaderMissing"),
        (
            "an error ratio above 1",
            &["prometheusRule.alerts.reconcileErrors.errorRatio=2"],
            "errorRatio",
        ),
        (
            "a decimal ratio above 1",
            &["prometheusRule.alerts.reconcileErrors.errorRatio=1.5"],
            "errorRatio",
        ),
        (
            "a threshold that is no number",
            &["prometheusRule.alerts.watchErrors.errorsIn10m=many"],
            "errorsIn10m",
        ),
        (
            "a negative threshold",
            &["prometheusRule.alerts.awsThrottling.throttledPerSecond=-1"],
            "throttledPerSecond",
        ),
        (
            "a runbook URL that is no URL",
            &["prometheusRule.runbookBaseUrl=docs/x.md"],
            "runbookBaseUrl",
        ),
        ("a rule without expr", &["prometheusRule.additionalRules[0].alert=X"], "expr"),
        (
            "a dashboard namespace that is no name",
            &["grafanaDashboard.namespace=Team_A"],
            "namespace",
        ),
    ];
    for (reason, values, field) in cases {
        match template(&[], values) {
            Ok(_) => panic!("{reason}: {values:?} was accepted"),
            Err(error) => assert!(error.contains(field), "{reason}: error lacks {field}: {error}"),
        }
    }
}

/// What a controller exports once it has made an AWS call and seen a stalled, suspended service:
/// every family with samples, so that labels can be compared too.
fn controller_exposition(format: byoc::telemetry::Format) -> String {
    use byoc::api::{CloudServiceStatus, READY, STALLED, reason, set_condition};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let metrics = byoc::telemetry::Metrics::new();
    metrics.aws_calls.record("ecs", "DescribeServices", "ok");
    let now = Time(jiff::Timestamp::UNIX_EPOCH);
    let mut conditions = Vec::new();
    set_condition(&mut conditions, READY, false, reason::INVALID_SPEC, "", Some(1), &now);
    set_condition(&mut conditions, STALLED, true, reason::INVALID_SPEC, "", Some(1), &now);
    let status = CloudServiceStatus { conditions, ..Default::default() };
    metrics.observe_service("shop", "web", &status, true);
    metrics.encode(format).expect("the exposition")
}

#[test]
fn the_metrics_contract_is_what_the_controller_exports() {
    use byoc::telemetry::Format;
    let text = controller_exposition(Format::Prometheus);
    let exported = contract::exported_families(&text);
    let openmetrics = contract::exported_families(&controller_exposition(Format::OpenMetrics));
    assert_eq!(
        format!("{exported:?}"),
        format!("{openmetrics:?}"),
        "both exposition formats name the same series"
    );
    for family in &contract::FAMILIES {
        let found = exported.get(family.name).unwrap_or_else(|| {
            panic!("the controller does not export {}; it has {:?}", family.name, exported.keys())
        });
        assert_eq!(found.kind, Some(family.kind), "{}: type", family.name);
        let labels: BTreeSet<String> = family.labels.iter().map(|l| l.to_string()).collect();
        assert_eq!(found.labels, labels, "{}: labels", family.name);
    }
    let contracted: BTreeSet<&str> = contract::FAMILIES.iter().map(|f| f.name).collect();
    for name in exported.keys().filter(|n| n.starts_with("byoc_")) {
        assert!(contracted.contains(name.as_str()), "{name} is exported but not in the contract");
    }
    for (family, label, values, complete) in contract::LABEL_VALUES {
        let seen = &exported[family].values[label];
        let allowed: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
        assert!(seen.is_subset(&allowed), "{family}{{{label}}}: {seen:?} beyond {allowed:?}");
        if complete {
            assert_eq!(*seen, allowed, "{family}{{{label}}}: a fresh controller exports each");
        }
    }
}
