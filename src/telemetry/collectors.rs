//! The collectors of `metrics`: series computed at each scrape, from the per-CloudService state
//! the controller keeps and from the process' AWS call counter. No IO.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Mutex, MutexGuard, OnceLock},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Unit,
};

use crate::aws::{CallCounter, RATE_LIMIT_BUCKETS};

/// What the gauges of one CloudService show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ServiceState {
    pub ready: bool,
    pub stalled: Option<&'static str>,
    pub suspended: bool,
}

pub(super) type ServiceExists = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The per-CloudService gauges, encoded from one map at each scrape: a service has one series
/// per gauge (Stalled: one, with its current reason, or none), and all go when it goes.
#[derive(Default)]
pub(super) struct ServiceGauges {
    states: Mutex<BTreeMap<(String, String), ServiceState>>,
    pub exists: OnceLock<ServiceExists>,
}

impl fmt::Debug for ServiceGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceGauges").field("states", &self.states).finish_non_exhaustive()
    }
}

impl ServiceGauges {
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), ServiceState>> {
        // A poisoned lock only means another thread panicked mid-update; the map stays usable.
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collector for ServiceGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let states = {
            let mut states = self.lock();
            if let Some(exists) = self.exists.get() {
                states.retain(|(namespace, name), _| exists(namespace, name));
            }
            states.clone()
        };
        let ready = "1 when the CloudService's Ready condition is True, else 0.";
        encode_per_service(&mut encoder, "byoc_service_ready", ready, &states, |s| s.ready)?;
        let suspended = "1 when the CloudService's spec.suspend is true, else 0.";
        encode_per_service(&mut encoder, "byoc_service_suspended", suspended, &states, |s| {
            s.suspended
        })?;
        let mut stalled = encoder.encode_descriptor(
            "byoc_service_stalled",
            "1 while the CloudService is Stalled, with the condition's reason; no series when it is not.",
            None,
            MetricType::Gauge,
        )?;
        for ((namespace, service), state) in &states {
            let Some(reason) = state.stalled else { continue };
            let labels =
                [("namespace", namespace.as_str()), ("name", service.as_str()), ("reason", reason)];
            ConstGauge::new(1i64).encode(stalled.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A gauge with one series per service, 1 where `value` holds for its state, else 0.
fn encode_per_service(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    states: &BTreeMap<(String, String), ServiceState>,
    value: impl Fn(&ServiceState) -> bool,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for ((namespace, service), state) in states {
        let labels = [("namespace", namespace.as_str()), ("name", service.as_str())];
        ConstGauge::new(i64::from(value(state))).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The AWS counters, read from the process' `CallCounter` at each scrape.
#[derive(Debug)]
pub(super) struct AwsCalls(pub CallCounter);

impl Collector for AwsCalls {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut calls = encoder.encode_descriptor(
            "byoc_aws_api_calls",
            "AWS API calls by service, operation and outcome (ok or the error's category).",
            None,
            MetricType::Counter,
        )?;
        for (key, n) in self.0.snapshot() {
            let labels =
                [("service", key.service), ("operation", key.operation), ("outcome", key.outcome)];
            ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
        }
        let throttles = self.0.throttles();
        let mut throttled = encoder.encode_descriptor(
            "byoc_aws_throttled",
            "AWS calls answered with a throttling error (after the SDK's retries), by client-side rate-limit bucket.",
            None,
            MetricType::Counter,
        )?;
        for bucket in RATE_LIMIT_BUCKETS {
            let n = throttles.get(bucket).copied().unwrap_or_default();
            ConstCounter::new(n).encode(throttled.encode_family(&[("bucket", bucket)])?)?;
        }
        let waits = self.0.waits();
        let waited = |bucket: &str| waits.get(bucket).copied().unwrap_or_default();
        let mut count = encoder.encode_descriptor(
            "byoc_aws_rate_limit_waits",
            "AWS calls that waited for a client-side rate-limit token, by bucket.",
            None,
            MetricType::Counter,
        )?;
        for bucket in RATE_LIMIT_BUCKETS {
            ConstCounter::new(waited(bucket).0)
                .encode(count.encode_family(&[("bucket", bucket)])?)?;
        }
        let seconds = Unit::Seconds;
        let mut time = encoder.encode_descriptor(
            "byoc_aws_rate_limit_wait",
            "Time AWS calls spent waiting for client-side rate-limit tokens, by bucket.",
            Some(&seconds),
            MetricType::Counter,
        )?;
        for bucket in RATE_LIMIT_BUCKETS {
            let secs = waited(bucket).1.as_secs_f64();
            ConstCounter::new(secs).encode(time.encode_family(&[("bucket", bucket)])?)?;
        }
        Ok(())
    }
}
