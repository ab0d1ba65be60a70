//! The metrics contract the chart's dashboard and alerts are written against: every family the
//! controller exports on `/metrics`, its type, its labels and the fixed values some labels take,
//! plus what a Prometheus scrape adds. Pure data; `exported_families` reads the same facts from a
//! fresh `byoc::telemetry::Metrics` so the two cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    fn parse(word: &str) -> Option<MetricType> {
        match word {
            "counter" => Some(MetricType::Counter),
            "gauge" => Some(MetricType::Gauge),
            "histogram" => Some(MetricType::Histogram),
            _ => None,
        }
    }
}

/// One metric family as PromQL names it (counters with `_total`, histograms without suffix).
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: MetricType,
    pub labels: &'static [&'static str],
}

const fn family(name: &'static str, kind: MetricType, labels: &'static [&'static str]) -> Family {
    Family { name, kind, labels }
}

use MetricType::{Counter, Gauge, Histogram};

/// The families the controller exports.
pub const FAMILIES: [Family; 13] = [
    family("byoc_reconcile_total", Counter, &["kind", "outcome"]),
    family("byoc_reconcile_duration_seconds", Histogram, &["kind"]),
    family("byoc_reconcile_in_flight", Gauge, &[]),
    family("byoc_aws_api_calls_total", Counter, &["service", "operation", "outcome"]),
    family("byoc_leader", Gauge, &[]),
    family("byoc_service_ready", Gauge, &["namespace", "name"]),
    family("byoc_service_stalled", Gauge, &["namespace", "name", "reason"]),
    family("byoc_service_suspended", Gauge, &["namespace", "name"]),
    family("byoc_aws_throttled_total", Counter, &["bucket"]),
    family("byoc_aws_rate_limit_waits_total", Counter, &["bucket"]),
    family("byoc_aws_rate_limit_wait_seconds_total", Counter, &["bucket"]),
    family("byoc_watch_errors_total", Counter, &["kind"]),
    family("byoc_build_info", Gauge, &["version", "commit"]),
];

/// Labels every Prometheus scrape attaches to every series, whatever its configuration.
pub const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// Series Prometheus itself records for each scrape target.
const SCRAPE_SERIES: [&str; 1] = ["up"];

const BUCKETS: &[&str] = &["elbv2", "ecs-register", "ecs", "ecr", "logs", "tagging", "other"];
const RECONCILED_KINDS: &[&str] = &["CloudService", "CloudAccount"];

/// Labels whose values are a fixed set: (family, label, values, whether a fresh controller
/// already exports every value — counters start at zero — rather than only those seen so far).
pub const LABEL_VALUES: [(&str, &str, &[&str], bool); 9] = [
    ("byoc_reconcile_total", "kind", RECONCILED_KINDS, true),
    ("byoc_reconcile_total", "outcome", &["success", "waiting", "stalled", "error"], true),
    ("byoc_reconcile_duration_seconds", "kind", RECONCILED_KINDS, true),
    (
        "byoc_aws_api_calls_total",
        "outcome",
        &[
            "ok",
            "not_found",
            "already_exists",
            "throttled",
            "access_denied",
            "invalid",
            "quota_exceeded",
            "transient",
            "fault",
        ],
        false,
    ),
    ("byoc_aws_throttled_total", "bucket", BUCKETS, true),
    ("byoc_aws_rate_limit_waits_total", "bucket", BUCKETS, true),
    ("byoc_aws_rate_limit_wait_seconds_total", "bucket", BUCKETS, true),
    ("byoc_watch_errors_total", "kind", &["CloudService", "CloudAccount", "Secret"], true),
    ("byoc_build_info", "version", &[env!("CARGO_PKG_VERSION")], true),
];

/// A series name PromQL may select, resolved to its family and the labels it carries.
#[derive(Debug, Clone)]
pub struct Series {
    /// The family, or the series itself for what Prometheus records (`up`).
    pub family: &'static str,
    pub labels: BTreeSet<String>,
}

/// Resolves a series name: a counter or gauge family, a histogram's `_bucket` (with `le`),
/// `_sum` or `_count`, or a series of the scrape itself. None when the contract has no such name.
pub fn series(name: &str) -> Option<Series> {
    let with_targets = |labels: &[&str], extra: &[&str]| -> BTreeSet<String> {
        labels.iter().chain(extra).chain(&TARGET_LABELS).map(|l| l.to_string()).collect()
    };
    if let Some(scrape) = SCRAPE_SERIES.iter().find(|s| **s == name) {
        return Some(Series { family: scrape, labels: with_targets(&[], &[]) });
    }
    FAMILIES.iter().find_map(|f| {
        let labels = match f.kind {
            Counter | Gauge if name == f.name => with_targets(f.labels, &[]),
            Histogram if name == format!("{}_bucket", f.name) => with_targets(f.labels, &["le"]),
            Histogram
                if [format!("{}_sum", f.name), format!("{}_count", f.name)]
                    .contains(&name.to_string()) =>
            {
                with_targets(f.labels, &[])
            }
            _ => return None,
        };
        Some(Series { family: f.name, labels })
    })
}

/// The fixed values of `label` on `family`, if the contract fixes them.
pub fn fixed_values(family: &str, label: &str) -> Option<&'static [&'static str]> {
    LABEL_VALUES.iter().find(|(f, l, _, _)| *f == family && *l == label).map(|(_, _, v, _)| *v)
}

/// A family as a `/metrics` exposition shows it.
#[derive(Debug, Default)]
pub struct Exported {
    pub kind: Option<MetricType>,
    /// Label names seen on its samples (histograms' `le` excluded).
    pub labels: BTreeSet<String>,
    /// Values seen per label.
    pub values: BTreeMap<String, BTreeSet<String>>,
}

/// The families of a Prometheus text exposition (0.0.4 or OpenMetrics), keyed by the name
/// PromQL gives them: a counter declared without `_total` (OpenMetrics) gets it back.
pub fn exported_families(exposition: &str) -> BTreeMap<String, Exported> {
    let mut families: BTreeMap<String, Exported> = BTreeMap::new();
    let mut declared: Vec<(String, String, Option<MetricType>)> = Vec::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let kind = MetricType::parse(words.next().unwrap_or_default());
            let promql = match kind {
                Some(Counter) if !name.ends_with("_total") => format!("{name}_total"),
                _ => name.clone(),
            };
            families.entry(promql.clone()).or_default().kind = kind;
            declared.push((name, promql, kind));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, labels) = split_sample(line);
        let owner = declared.iter().rev().find(|(name, promql, kind)| match kind {
            Some(Histogram) => ["_bucket", "_sum", "_count", "_created"]
                .iter()
                .any(|suffix| series == format!("{name}{suffix}")),
            Some(Counter) => series == *promql || series == format!("{name}_created"),
            _ => series == *name,
        });
        let Some((_, promql, _)) = owner else { continue };
        let family = families.entry(promql.clone()).or_default();
        for (label, value) in labels.into_iter().filter(|(l, _)| l != "le") {
            family.labels.insert(label.clone());
            family.values.entry(label).or_default().insert(value);
        }
    }
    families
}

/// A sample line's series name and labels (`name{a="x",b="y"} value`).
fn split_sample(line: &str) -> (String, Vec<(String, String)>) {
    let Some((name, rest)) = line.split_once('{') else {
        let name = line.split_whitespace().next().unwrap_or_default();
        return (name.to_string(), Vec::new());
    };
    let mut labels = Vec::new();
    let mut rest = rest;
    while let Some((label, after)) = rest.split_once("=\"") {
        let label = label.trim_start_matches([',', ' ']).to_string();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((label, value));
        rest = &after[end..];
        if rest.starts_with('}') {
            break;
        }
    }
    (name.to_string(), labels)
}
