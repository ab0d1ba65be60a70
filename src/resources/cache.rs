//! Observation shared within a round, so one `DescribeRules` (plus batched `DescribeTags`) per
//! listener serves every service on it, and `DescribeServices` describes ten services per call.
//! Entries expire after a TTL and are dropped whenever we change what they describe, so a write is
//! never planned from stale data of our own making. No IO except `prefetch_services`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_sdk_ecs::types::{Service, ServiceField};
use tokio::time::Instant;

use super::rule::ListenerRule;
use crate::aws::{Aws, AwsError};

#[derive(Debug, Default)]
struct Inner {
    rules: HashMap<String, (Instant, Vec<ListenerRule>)>,
    /// `None`: described and not found.
    services: HashMap<(String, String), (Instant, Option<Service>)>,
}

/// A shared, expiring cache of observations. Clones share entries.
#[derive(Debug, Clone, Default)]
pub struct ObserveCache {
    inner: Arc<Mutex<Inner>>,
    ttl: Duration,
}

impl ObserveCache {
    /// A cache whose entries live for `ttl` (zero: caches nothing).
    pub fn new(ttl: Duration) -> Self {
        ObserveCache { inner: Arc::default(), ttl }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }

    /// The rules of a listener, if observed recently.
    pub fn rules(&self, listener: &str) -> Option<Vec<ListenerRule>> {
        let inner = self.lock();
        inner.rules.get(listener).filter(|(at, _)| self.fresh(*at)).map(|(_, r)| r.clone())
    }

    pub fn put_rules(&self, listener: &str, rules: Vec<ListenerRule>) {
        if !self.ttl.is_zero() {
            self.lock().rules.insert(listener.to_string(), (Instant::now(), rules));
        }
    }

    /// Forgets a listener's rules (after we changed them).
    pub fn invalidate_listener(&self, listener: &str) {
        self.lock().rules.remove(listener);
    }

    /// A prefetched ECS service: `Some(None)` when it was described and not found.
    pub fn service(&self, cluster: &str, name: &str) -> Option<Option<Service>> {
        let inner = self.lock();
        inner
            .services
            .get(&(cluster.to_string(), name.to_string()))
            .filter(|(at, _)| self.fresh(*at))
            .map(|(_, s)| s.clone())
    }

    /// Forgets a service (after we changed it).
    pub fn invalidate_service(&self, cluster: &str, name: &str) {
        self.lock().services.remove(&(cluster.to_string(), name.to_string()));
    }
}

/// Describes `names` in `cluster`, ten per call, into the cache.
pub async fn prefetch_services(
    aws: &Aws,
    cache: &ObserveCache,
    cluster: &str,
    names: &[String],
) -> Result<(), AwsError> {
    if cache.ttl.is_zero() {
        return Ok(());
    }
    for chunk in names.chunks(10) {
        let out = match aws
            .call(
                "ecs",
                "DescribeServices",
                aws.ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .include(ServiceField::Tags)
                    .send(),
            )
            .await
        {
            // No cluster yet: nothing to prefetch; each observe will say so.
            Err(e) if e.is_not_found() => return Ok(()),
            other => other?,
        };
        let now = Instant::now();
        let mut inner = cache.lock();
        for name in chunk {
            let found = out
                .services()
                .iter()
                .find(|s| s.service_name() == Some(name.as_str()) && s.status() != Some("INACTIVE"))
                .cloned();
            inner.services.insert((cluster.to_string(), name.clone()), (now, found));
        }
    }
    Ok(())
}
