//! The controller's metrics: a `prometheus-client` registry, encoded as OpenMetrics or as the
//! Prometheus text format. Labels are bounded: kinds, outcomes, AWS services, operations and
//! rate-limit buckets, fixed condition reasons, and the namespace/name of CloudServices that
//! exist. No IO.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

use super::collectors::{AwsCalls, ServiceGauges, ServiceState};
use crate::{
    api::{CloudServiceStatus, READY, STALLED, reason},
    aws::CallCounter,
};

/// The kinds the controller reconciles.
const RECONCILED_KINDS: [&str; 2] = ["CloudService", "CloudAccount"];
/// Reconcile outcomes (a CloudAccount's are `success` or `error`).
const OUTCOMES: [&str; 4] = ["success", "waiting", "stalled", "error"];
/// The kinds whose watch streams are counted.
const WATCHED_KINDS: [&str; 3] = ["CloudService", "CloudAccount", "Secret"];

/// Upper bounds of the reconcile duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The condition reasons a `Stalled` condition may carry (`api::reason`).
const STALLED_REASONS: [&str; 19] = [
    reason::READY,
    reason::PROGRESSING,
    reason::ROLLING_OUT,
    reason::DELETING,
    reason::INVALID_SPEC,
    reason::OWNERSHIP_CONFLICT,
    reason::HOST_CONFLICT,
    reason::PRIVATE_NAME_CONFLICT,
    reason::ACCOUNT_NOT_READY,
    reason::NAMESPACE_NOT_ALLOWED,
    reason::ROLLOUT_FAILED,
    reason::BUILDING,
    reason::BUILD_FAILED,
    reason::SOURCE_UNREACHABLE,
    reason::AWS_ACCESS_DENIED,
    reason::QUOTA_EXCEEDED,
    reason::AWS_ERROR,
    reason::PLAN_ONLY,
    reason::SUSPENDED,
];
/// The `reason` label of a Stalled reason that is not one of `STALLED_REASONS`.
const OTHER_REASON: &str = "Other";

/// An exposition format of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// The Prometheus text format 0.0.4.
    Prometheus,
}

impl Format {
    /// The format a scraper asks for in its `Accept` header: OpenMetrics when it lists
    /// `application/openmetrics-text` (with a non-zero `q`), else the Prometheus text format, as
    /// Prometheus' own client libraries negotiate.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let wants_openmetrics = accept.unwrap_or_default().split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=").is_some_and(|q| q.parse::<f64>().is_ok_and(|q| q <= 0.0))
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
        if wants_openmetrics { Format::OpenMetrics } else { Format::Prometheus }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconcileLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

type DurationFamily = Family<KindLabel, Histogram, fn() -> Histogram>;

/// Process-wide metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    durations: DurationFamily,
    in_flight: Gauge,
    leader: Gauge,
    watch_errors: Family<KindLabel, Counter>,
    services: Arc<ServiceGauges>,
    /// Every AWS call of the process (all accounts), exported as `byoc_aws_*`.
    pub aws_calls: CallCounter,
    ready: AtomicBool,
}

/// Decrements the in-flight gauge when a reconcile ends, however it ends.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric registered; counters of the fixed label values start at zero, so that a
    /// first error shows as an increase.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let durations = DurationFamily::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        // Creating the series is the point: the guards `get_or_create` returns go at once.
        for kind in RECONCILED_KINDS {
            for outcome in OUTCOMES {
                let _ = reconciles.get_or_create(&ReconcileLabels { kind, outcome });
            }
            let _ = durations.get_or_create(&KindLabel { kind });
        }
        registry.register(
            "byoc_reconcile",
            "Reconciles by kind and outcome (success, waiting, stalled, error)",
            reconciles.clone(),
        );
        registry.register_with_unit(
            "byoc_reconcile_duration",
            "Reconcile duration by kind",
            Unit::Seconds,
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "byoc_reconcile_in_flight",
            "Reconciles running now, at most the controllers' --concurrency each (kube-runtime \
             exposes no work queue depth: a gauge held at that limit means work is queuing)",
            in_flight.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "byoc_leader",
            "1 when this replica leads (or runs without leader election), else 0",
            leader.clone(),
        );
        let watch_errors = Family::<KindLabel, Counter>::default();
        for kind in WATCHED_KINDS {
            let _ = watch_errors.get_or_create(&KindLabel { kind });
        }
        registry.register(
            "byoc_watch_errors",
            "Errors of the Kubernetes watch streams by watched kind (each is retried with backoff)",
            watch_errors.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&build_labels()).set(1);
        registry.register(
            "byoc_build_info",
            "Always 1: the version of this binary and the commit it was built from",
            build,
        );
        let aws_calls = CallCounter::default();
        registry.register_collector(Box::new(AwsCalls(aws_calls.clone())));
        let services = Arc::new(ServiceGauges::default());
        registry.register_collector(Box::new(services.clone()));
        Metrics {
            registry,
            reconciles,
            durations,
            in_flight,
            leader,
            watch_errors,
            services,
            aws_calls,
            ready: AtomicBool::new(false),
        }
    }

    /// Marks a reconcile as started.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// Records a finished reconcile of `kind` with `outcome` (`success`, `error`, `waiting`, …).
    pub fn reconciled(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        self.reconciles.get_or_create(&ReconcileLabels { kind, outcome }).inc();
        self.durations.get_or_create(&KindLabel { kind }).observe(took.as_secs_f64());
    }

    /// Counts an error of the watch stream of `kind`.
    pub fn watch_error(&self, kind: &'static str) {
        self.watch_errors.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Sets the gauges of the CloudService `namespace/name` from the status it is given (Ready,
    /// the reason it is Stalled with, if it is) and whether its spec suspends it.
    pub fn observe_service(
        &self,
        namespace: &str,
        name: &str,
        status: &CloudServiceStatus,
        suspended: bool,
    ) {
        let is_true =
            |type_: &str| status.conditions.iter().find(|c| c.type_ == type_ && c.status == "True");
        let state = ServiceState {
            ready: is_true(READY).is_some(),
            stalled: is_true(STALLED).map(|c| stalled_reason(&c.reason)),
            suspended,
        };
        self.services.lock().insert((namespace.to_string(), name.to_string()), state);
    }

    /// Drops every gauge of the CloudService `namespace/name` (it is gone).
    pub fn forget_service(&self, namespace: &str, name: &str) {
        self.services.lock().remove(&(namespace.to_string(), name.to_string()));
    }

    /// Sets which CloudServices exist: at every scrape, the gauges of services `exists` denies
    /// are dropped first (a service deleted while it held no finalizer of ours, e.g. one whose
    /// spec never validated, is never seen again by `forget_service`). Set once; later calls
    /// are ignored.
    pub fn known_services(&self, exists: impl Fn(&str, &str) -> bool + Send + Sync + 'static) {
        let _ = self.services.exists.set(Box::new(exists));
    }

    /// Every metric in `format`. Fails only if a value cannot be written, which a `String`
    /// never refuses.
    pub fn encode(&self, format: Format) -> Result<String, fmt::Error> {
        let mut out = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)?
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?
            }
        }
        Ok(out)
    }
}

/// Version and commit of this binary (`BYOC_GIT_COMMIT` at build time, else `unknown`).
fn build_labels() -> BuildLabels {
    let commit = option_env!("BYOC_GIT_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown");
    BuildLabels { version: env!("CARGO_PKG_VERSION"), commit }
}

/// The label value of a Stalled reason: one of the fixed reasons, else `Other`.
fn stalled_reason(reason: &str) -> &'static str {
    STALLED_REASONS.iter().find(|r| **r == reason).copied().unwrap_or(OTHER_REASON)
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
