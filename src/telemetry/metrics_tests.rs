use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::api::set_condition;

fn openmetrics(m: &Metrics) -> String {
    m.encode(Format::OpenMetrics).unwrap()
}

/// The value of the one sample `series` (name and labels exactly as encoded).
fn value(text: &str, series: &str) -> Option<String> {
    let mut found = text.lines().filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '));
    let v = found.next().map(str::to_string);
    assert!(found.next().is_none(), "{series} appears twice in:\n{text}");
    v
}

/// Every `# TYPE` line: (family, type).
fn types(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// A status with `Ready` and `Stalled` as given (`Stalled` with `stalled_reason`).
fn status(ready: bool, stalled: Option<&str>) -> CloudServiceStatus {
    let now = Time(jiff::Timestamp::UNIX_EPOCH);
    let mut conditions = Vec::new();
    set_condition(&mut conditions, READY, ready, "Ready", "", Some(1), &now);
    set_condition(
        &mut conditions,
        STALLED,
        stalled.is_some(),
        stalled.unwrap_or("Ready"),
        "",
        Some(1),
        &now,
    );
    CloudServiceStatus { conditions, ..Default::default() }
}

fn service_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("byoc_service_")).collect()
}

#[test]
fn every_family_of_the_contract_is_encoded_with_its_type_and_the_openmetrics_eof() {
    let m = Metrics::new();
    let text = openmetrics(&m);
    let expected = [
        ("byoc_reconcile", "counter"),
        ("byoc_reconcile_duration_seconds", "histogram"),
        ("byoc_reconcile_in_flight", "gauge"),
        ("byoc_leader", "gauge"),
        ("byoc_watch_errors", "counter"),
        ("byoc_build_info", "gauge"),
        ("byoc_aws_api_calls", "counter"),
        ("byoc_aws_throttled", "counter"),
        ("byoc_aws_rate_limit_waits", "counter"),
        ("byoc_aws_rate_limit_wait_seconds", "counter"),
        ("byoc_service_ready", "gauge"),
        ("byoc_service_suspended", "gauge"),
        ("byoc_service_stalled", "gauge"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    assert_eq!(types(&text), expected, "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# UNIT byoc_reconcile_duration_seconds seconds\n"), "{text}");
}

#[test]
fn the_prometheus_text_format_names_counters_with_total_and_has_no_eof() {
    let m = Metrics::new();
    let text = m.encode(Format::Prometheus).unwrap();
    let types = types(&text);
    assert!(types.contains(&("byoc_reconcile_total".into(), "counter".into())), "{text}");
    assert!(types.contains(&("byoc_aws_rate_limit_wait_seconds_total".into(), "counter".into())));
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    assert_eq!(value(&text, "byoc_leader"), Some("0".into()));
}

#[test]
fn counters_of_fixed_labels_start_at_zero() {
    let text = openmetrics(&Metrics::new());
    for kind in ["CloudService", "CloudAccount"] {
        for outcome in ["success", "waiting", "stalled", "error"] {
            let series = format!("byoc_reconcile_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}");
            assert_eq!(value(&text, &series), Some("0".into()), "{series}");
        }
    }
    for kind in ["CloudService", "CloudAccount", "Secret"] {
        let series = format!("byoc_watch_errors_total{{kind=\"{kind}\"}}");
        assert_eq!(value(&text, &series), Some("0".into()), "{series}");
    }
    for bucket in ["elbv2", "ecs-register", "ecs", "ecr", "logs", "tagging", "other"] {
        for name in ["byoc_aws_throttled_total", "byoc_aws_rate_limit_waits_total"] {
            let series = format!("{name}{{bucket=\"{bucket}\"}}");
            assert_eq!(value(&text, &series), Some("0".into()), "{series}");
        }
        let series = format!("byoc_aws_rate_limit_wait_seconds_total{{bucket=\"{bucket}\"}}");
        assert_eq!(value(&text, &series), Some("0.0".into()), "{series}");
    }
}

#[test]
fn reconciles_are_counted_and_timed_by_kind() {
    let m = Metrics::new();
    m.reconciled("CloudService", "success", Duration::from_millis(200));
    m.reconciled("CloudService", "success", Duration::from_millis(200));
    m.reconciled("CloudAccount", "error", Duration::from_secs(3));
    let text = openmetrics(&m);
    let series = |s: &str| value(&text, s);
    assert_eq!(
        series("byoc_reconcile_total{kind=\"CloudService\",outcome=\"success\"}"),
        Some("2".into())
    );
    assert_eq!(
        series("byoc_reconcile_total{kind=\"CloudAccount\",outcome=\"error\"}"),
        Some("1".into())
    );
    let bucket = |kind: &str, le: &str| {
        series(&format!("byoc_reconcile_duration_seconds_bucket{{le=\"{le}\",kind=\"{kind}\"}}"))
    };
    assert_eq!(bucket("CloudService", "0.1"), Some("0".into()), "{text}");
    assert_eq!(bucket("CloudService", "0.25"), Some("2".into()));
    assert_eq!(bucket("CloudService", "+Inf"), Some("2".into()));
    assert_eq!(bucket("CloudAccount", "2.5"), Some("0".into()));
    assert_eq!(bucket("CloudAccount", "5.0"), Some("1".into()));
    assert_eq!(
        series("byoc_reconcile_duration_seconds_count{kind=\"CloudService\"}"),
        Some("2".into())
    );
    assert_eq!(
        series("byoc_reconcile_duration_seconds_sum{kind=\"CloudAccount\"}"),
        Some("3.0".into())
    );
}

#[test]
fn the_in_flight_gauge_follows_running_reconciles() {
    let m = Metrics::new();
    let first = m.start();
    let second = m.start();
    assert_eq!(value(&openmetrics(&m), "byoc_reconcile_in_flight"), Some("2".into()));
    drop(first);
    assert_eq!(m.in_flight(), 1);
    drop(second);
    assert_eq!(value(&openmetrics(&m), "byoc_reconcile_in_flight"), Some("0".into()));
}

#[test]
fn leader_watch_errors_and_build_info_are_exported() {
    let m = Metrics::new();
    m.set_leader(true);
    m.watch_error("Secret");
    m.watch_error("Secret");
    let text = openmetrics(&m);
    assert_eq!(value(&text, "byoc_leader"), Some("1".into()));
    assert_eq!(value(&text, "byoc_watch_errors_total{kind=\"Secret\"}"), Some("2".into()));
    assert_eq!(value(&text, "byoc_watch_errors_total{kind=\"CloudService\"}"), Some("0".into()));
    let version = env!("CARGO_PKG_VERSION");
    let commit = option_env!("BYOC_GIT_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown");
    let series = format!("byoc_build_info{{version=\"{version}\",commit=\"{commit}\"}}");
    assert_eq!(value(&text, &series), Some("1".into()), "{text}");
}

#[test]
fn aws_calls_throttles_and_waits_come_from_the_shared_call_counter() {
    let m = Metrics::new();
    let session = m.aws_calls.clone();
    session.record("ecs", "CreateService", "ok");
    session.record("elbv2", "CreateRule", "throttled");
    session.record_wait("elbv2", Duration::from_millis(1500));
    m.aws_calls.record_wait("elbv2", Duration::from_millis(500));
    let text = openmetrics(&m);
    let series = |s: &str| value(&text, s);
    assert_eq!(
        series(
            "byoc_aws_api_calls_total{service=\"ecs\",operation=\"CreateService\",outcome=\"ok\"}"
        ),
        Some("1".into())
    );
    assert_eq!(series("byoc_aws_throttled_total{bucket=\"elbv2\"}"), Some("1".into()));
    assert_eq!(series("byoc_aws_throttled_total{bucket=\"ecs\"}"), Some("0".into()));
    assert_eq!(series("byoc_aws_rate_limit_waits_total{bucket=\"elbv2\"}"), Some("2".into()));
    assert_eq!(
        series("byoc_aws_rate_limit_wait_seconds_total{bucket=\"elbv2\"}"),
        Some("2.0".into())
    );
}

#[test]
fn a_service_s_gauges_follow_its_status_and_go_when_it_is_forgotten() {
    let m = Metrics::new();
    m.observe_service("shop", "web", &status(true, None), false);
    m.observe_service("shop", "api", &status(false, None), true);
    let text = openmetrics(&m);
    assert_eq!(
        service_lines(&text),
        [
            "byoc_service_ready{namespace=\"shop\",name=\"api\"} 0",
            "byoc_service_ready{namespace=\"shop\",name=\"web\"} 1",
            "byoc_service_suspended{namespace=\"shop\",name=\"api\"} 1",
            "byoc_service_suspended{namespace=\"shop\",name=\"web\"} 0",
        ]
    );
    m.forget_service("shop", "api");
    m.forget_service("shop", "never-seen");
    assert_eq!(
        service_lines(&openmetrics(&m)),
        [
            "byoc_service_ready{namespace=\"shop\",name=\"web\"} 1",
            "byoc_service_suspended{namespace=\"shop\",name=\"web\"} 0",
        ]
    );
    m.forget_service("shop", "web");
    let text = openmetrics(&m);
    assert!(service_lines(&text).is_empty(), "{text}");
    // The families stay described with no series.
    assert!(text.contains("# TYPE byoc_service_stalled gauge\n"), "{text}");
}

#[test]
fn a_stalled_service_has_one_series_with_its_current_reason_and_none_once_it_recovers() {
    let m = Metrics::new();
    let stalled = |text: &str| -> Vec<String> {
        service_lines(text)
            .into_iter()
            .filter(|l| l.starts_with("byoc_service_stalled"))
            .map(str::to_string)
            .collect()
    };
    m.observe_service("shop", "web", &status(false, Some(reason::INVALID_SPEC)), false);
    assert_eq!(
        stalled(&openmetrics(&m)),
        ["byoc_service_stalled{namespace=\"shop\",name=\"web\",reason=\"InvalidSpec\"} 1"]
    );
    m.observe_service("shop", "web", &status(false, Some(reason::HOST_CONFLICT)), false);
    assert_eq!(
        stalled(&openmetrics(&m)),
        ["byoc_service_stalled{namespace=\"shop\",name=\"web\",reason=\"HostConflict\"} 1"]
    );
    m.observe_service("shop", "web", &status(true, None), false);
    let text = openmetrics(&m);
    assert!(stalled(&text).is_empty(), "{text}");
    assert_eq!(
        value(&text, "byoc_service_ready{namespace=\"shop\",name=\"web\"}"),
        Some("1".into())
    );
}

#[test]
fn a_reason_outside_the_fixed_set_is_labelled_other() {
    let m = Metrics::new();
    m.observe_service("shop", "web", &status(false, Some("something: free text")), false);
    let series = "byoc_service_stalled{namespace=\"shop\",name=\"web\",reason=\"Other\"}";
    assert_eq!(value(&openmetrics(&m), series), Some("1".into()));
}

#[test]
fn every_condition_reason_is_a_stalled_label_of_its_own() {
    // Reads the reasons from their source, so a new reason cannot be forgotten here.
    let source = include_str!("../api/conditions.rs");
    let module = source.split("pub mod reason {").nth(1).and_then(|m| m.split("\n}").next());
    let reasons: Vec<&str> = module
        .expect("the reason module of src/api/conditions.rs")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert!(reasons.len() >= 10, "{reasons:?}");
    for r in reasons {
        assert_eq!(stalled_reason(r), r, "add reason::{r} to STALLED_REASONS");
    }
}

#[test]
fn gauges_of_services_that_no_longer_exist_are_dropped_at_the_next_scrape() {
    let m = Metrics::new();
    m.observe_service("shop", "web", &status(false, Some(reason::INVALID_SPEC)), false);
    m.observe_service("shop", "api", &status(true, None), false);
    let existing = Arc::new(Mutex::new(vec!["web", "api"]));
    let known = existing.clone();
    m.known_services(move |namespace, name| {
        namespace == "shop" && known.lock().unwrap().contains(&name)
    });
    assert_eq!(service_lines(&openmetrics(&m)).len(), 5);
    existing.lock().unwrap().retain(|n| *n != "web");
    assert_eq!(
        service_lines(&openmetrics(&m)),
        [
            "byoc_service_ready{namespace=\"shop\",name=\"api\"} 1",
            "byoc_service_suspended{namespace=\"shop\",name=\"api\"} 0",
        ]
    );
}

#[test]
fn the_format_is_negotiated_from_the_accept_header() {
    let cases = [
        (None, Format::Prometheus, "no Accept header: the Prometheus text format"),
        (Some("*/*"), Format::Prometheus, "curl"),
        (Some("text/plain"), Format::Prometheus, "plain text asked for"),
        (
            Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
            Format::OpenMetrics,
            "Prometheus 2",
        ),
        (
            Some(
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            ),
            Format::OpenMetrics,
            "Prometheus 3",
        ),
        (
            Some("text/plain;version=0.0.4, application/openmetrics-text; q=0"),
            Format::Prometheus,
            "OpenMetrics refused with q=0",
        ),
        (Some("Application/OpenMetrics-Text"), Format::OpenMetrics, "media types ignore case"),
    ];
    for (accept, expected, reason) in cases {
        assert_eq!(Format::from_accept(accept), expected, "{reason}");
    }
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(Format::Prometheus.content_type(), "text/plain; version=0.0.4; charset=utf-8");
}
