//! Counts every AWS call by service, operation and outcome, and the waits for client-side rate
//! limit tokens by bucket. Shared by all clients of a process (every account's session); the
//! controller exports it as `byoc_aws_api_calls_total`, `byoc_aws_throttled_total` and
//! `byoc_aws_rate_limit_wait*`, tests assert on it (e.g. zero writes on a no-op apply). No IO.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::limiter::bucket_for;

/// Key of one counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallKey {
    pub service: &'static str,
    pub operation: &'static str,
    /// `ok` or the error category in lower case.
    pub outcome: &'static str,
}

/// The counters. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<CallKey, u64>>>,
    /// Per rate-limit bucket: calls that waited for a token, and the time they waited.
    waits: Arc<Mutex<BTreeMap<&'static str, (u64, Duration)>>>,
}

/// Whether an AWS operation changes anything. Reads are Describe*, List*, Get*.
pub fn is_write(operation: &str) -> bool {
    !["Describe", "List", "Get", "BatchGet", "Head"].iter().any(|p| operation.starts_with(p))
}

impl CallCounter {
    pub fn record(&self, service: &'static str, operation: &'static str, outcome: &'static str) {
        let key = CallKey { service, operation, outcome };
        // A poisoned lock only means another thread panicked mid-increment; counts stay usable.
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(key).or_default() += 1;
    }

    /// Records that a call waited `took` for a token of the rate-limit bucket `bucket`.
    pub fn record_wait(&self, bucket: &'static str, took: Duration) {
        let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        let entry = waits.entry(bucket).or_default();
        entry.0 += 1;
        entry.1 += took;
    }

    /// Per rate-limit bucket: how many calls waited for a token, and how long in total.
    pub fn waits(&self) -> BTreeMap<&'static str, (u64, Duration)> {
        self.waits.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Per rate-limit bucket: calls whose answer was a throttling error.
    pub fn throttles(&self) -> BTreeMap<&'static str, u64> {
        let mut by_bucket = BTreeMap::new();
        for (k, n) in self.snapshot().into_iter().filter(|(k, _)| k.outcome == "throttled") {
            *by_bucket.entry(bucket_for(k.service, k.operation).0).or_default() += n;
        }
        by_bucket
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> BTreeMap<CallKey, u64> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Total calls that change something in AWS.
    pub fn writes(&self) -> u64 {
        self.snapshot().iter().filter(|(k, _)| is_write(k.operation)).map(|(_, n)| n).sum()
    }

    /// Total calls.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Calls of one operation, any outcome.
    pub fn count(&self, operation: &str) -> u64 {
        self.snapshot().iter().filter(|(k, _)| k.operation == operation).map(|(_, n)| n).sum()
    }

    /// Names of the write operations called, with counts (for test failure messages).
    pub fn write_summary(&self) -> Vec<(String, u64)> {
        let mut by_op: BTreeMap<String, u64> = BTreeMap::new();
        for (k, n) in self.snapshot() {
            if is_write(k.operation) {
                *by_op.entry(format!("{}:{}", k.service, k.operation)).or_default() += n;
            }
        }
        by_op.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_are_summed_per_rate_limit_bucket() {
        let calls = CallCounter::default();
        calls.record("elbv2", "CreateRule", "throttled");
        calls.record("elbv2", "DescribeRules", "throttled");
        calls.record("elbv2", "DescribeRules", "ok");
        calls.record("ecs", "RegisterTaskDefinition", "throttled");
        calls.record("ecs", "UpdateService", "transient");
        let throttles: Vec<_> = calls.throttles().into_iter().collect();
        assert_eq!(throttles, [("ecs-register", 1), ("elbv2", 2)]);
    }

    #[test]
    fn waits_add_up_per_bucket_across_clones() {
        let calls = CallCounter::default();
        let other_session = calls.clone();
        calls.record_wait("elbv2", Duration::from_millis(300));
        other_session.record_wait("elbv2", Duration::from_millis(200));
        calls.record_wait("ecs-register", Duration::from_secs(1));
        let waits: Vec<_> = calls.waits().into_iter().collect();
        assert_eq!(
            waits,
            [
                ("ecs-register", (1, Duration::from_secs(1))),
                ("elbv2", (2, Duration::from_millis(500)))
            ]
        );
    }
}
