//! Counts every AWS call by service, operation and outcome. Shared by all clients of a process; the
//! controller exports it as `byoc_aws_api_calls_total`, tests assert on it (e.g. zero writes on a
//! no-op apply). No IO.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

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
