//! Observation shared by the services of one account, so a resync costs a fraction of an AWS read
//! per service:
//! - the account's **snapshot** (see `snapshot`), taken at most once per `ttl` by whichever
//!   reconcile needs it first while the others wait for it;
//! - each listener's rules, listed once per `ttl` for every service on it, with the tags of rules
//!   already seen kept by ARN (a rule's ARN is never reused);
//! - repository details that have no batched read (tags, lifecycle policy), kept for
//!   `details_ttl` per repository.
//!
//! What we change is *touched*: until a snapshot started after the change plus a margin for
//! AWS's eventual consistency, observing it reads AWS directly. And the snapshot only ever
//! concludes that nothing needs doing: `engine::observe` observes a service again, directly,
//! before anything is planned (`touch_stack`). No IO except taking snapshots and listing rules.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::{rule::ListenerRule, snapshot::Snapshot, tags::Tags};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredStack, Owner},
};

/// How long after our own change AWS's listings may still show the old state. A listing that
/// lags longer only costs reads: it shows a difference, and the service is read again directly.
const CONSISTENCY_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Inner {
    snapshot: Option<Arc<Snapshot>>,
    /// Per listener: when listed, the rules, and whether every rule's tags were read (not
    /// inferred from its target group).
    rules: HashMap<String, (Instant, Vec<ListenerRule>, bool)>,
    /// Keys (see `key`) we changed, and when.
    touched: HashMap<String, Instant>,
    /// Tags read directly, by ARN (or ARN and creation time where ARNs are reused).
    tags: HashMap<String, (Instant, Tags)>,
    /// Repository lifecycle policies, by ARN and creation time.
    lifecycle: HashMap<String, (Instant, Option<serde_json::Value>)>,
}

/// How long observations may be reused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Freshness {
    /// The snapshot and listener rules (zero: nothing is shared, every read is direct).
    pub ttl: Duration,
    /// Details without a batched read (repository tags and lifecycle policy).
    pub details_ttl: Duration,
}

impl Freshness {
    /// The controller's: a new snapshot each resync, details every twelve.
    pub fn for_resync(resync: Duration) -> Freshness {
        Freshness { ttl: resync, details_ttl: resync * 12 }
    }
}

/// A shared, expiring cache of one account's observations. Clones share entries.
#[derive(Debug, Clone, Default)]
pub struct ObserveCache {
    inner: Arc<Mutex<Inner>>,
    /// Held while a snapshot is being taken, so one reconcile lists and the others wait.
    taking: Arc<tokio::sync::Mutex<()>>,
    freshness: Freshness,
}

/// Keys of what we change, per kind.
pub mod key {
    pub fn log_group(name: &str) -> String {
        format!("logs:{name}")
    }
    pub fn repository(name: &str) -> String {
        format!("ecr:{name}")
    }
    pub fn target_group(name: &str) -> String {
        format!("tg:{name}")
    }
    pub fn secret(name: &str) -> String {
        format!("secret:{name}")
    }
    pub fn task_definition(family: &str) -> String {
        format!("td:{family}")
    }
    pub fn service(cluster: &str, name: &str) -> String {
        format!("ecs:{cluster}/{name}")
    }
    /// An ECS service's scalable target and policies, by resource id.
    pub fn scaling(resource_id: &str) -> String {
        format!("aas:{resource_id}")
    }
}

impl ObserveCache {
    /// A cache with the given freshness (zero: caches nothing).
    pub fn new(ttl: Duration) -> Self {
        ObserveCache::with_freshness(Freshness { ttl, details_ttl: ttl })
    }

    pub fn with_freshness(freshness: Freshness) -> Self {
        ObserveCache { freshness, ..Default::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self, at: Instant, ttl: Duration) -> bool {
        at.elapsed() < ttl
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        let inner = self.lock();
        let snap = inner.snapshot.as_ref()?;
        let started = snap.started?;
        self.fresh(started, self.freshness.ttl).then(|| snap.clone())
    }

    /// The account's snapshot, while fresh.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current()
    }

    /// Makes sure a fresh snapshot of the account exists, taking one if not (one at a time).
    pub async fn ensure_snapshot(
        &self,
        aws: &Aws,
        cluster: &str,
        cluster_id: &str,
    ) -> Result<(), AwsError> {
        if self.freshness.ttl.is_zero() || self.current().is_some() {
            return Ok(());
        }
        let _taking = self.taking.lock().await;
        if self.current().is_some() {
            return Ok(());
        }
        let snap = Snapshot::take(aws, cluster, cluster_id).await?;
        let started = snap.started;
        let mut inner = self.lock();
        // What the new snapshot shows needs no direct read any more.
        if let Some(started) = started {
            inner.touched.retain(|_, at| *at + CONSISTENCY_MARGIN > started);
        }
        inner.snapshot = Some(Arc::new(snap));
        Ok(())
    }

    /// The snapshot to observe `key` from: `None` when there is none, or when we changed `key`
    /// since it was taken (then AWS is read directly).
    pub fn listed(&self, key: &str) -> Option<Arc<Snapshot>> {
        let snap = self.current()?;
        let started = snap.started?;
        let inner = self.lock();
        match inner.touched.get(key) {
            Some(at) if *at + CONSISTENCY_MARGIN > started => None,
            _ => Some(snap.clone()),
        }
    }

    /// Whether we changed `key` so recently that no listing would be trusted for it yet.
    pub fn recently_touched(&self, key: &str) -> bool {
        self.lock().touched.get(key).is_some_and(|at| at.elapsed() < CONSISTENCY_MARGIN)
    }

    /// Notes that we changed (or must re-read) these keys.
    pub fn touch(&self, keys: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let mut inner = self.lock();
        for k in keys {
            inner.touched.insert(k, now);
        }
    }

    /// Makes everything of `stack` read directly from now on (before planning changes from
    /// fresh reads, and after making them), listeners included.
    pub fn touch_stack(&self, stack: &DesiredStack, listeners: &[String]) {
        // Every name of a stack derives from its owner but the secrets' (one per env var).
        self.touch_owner(&stack.owner, &stack.cluster, listeners);
        self.touch(stack.secrets.iter().map(|s| key::secret(&s.name)));
    }

    /// Makes everything `owner` may have read directly from now on (deletion, which never
    /// trusts a listing).
    pub fn touch_owner(&self, owner: &Owner, cluster: &str, listeners: &[String]) {
        self.touch([
            key::log_group(&owner.log_group_name()),
            key::repository(&owner.repository_name()),
            key::target_group(&owner.target_group_name()),
            key::task_definition(&owner.ecs_name()),
            key::service(cluster, &owner.ecs_name()),
            key::secret(&owner.secret_name("")),
            key::scaling(&crate::desired::scaling::resource_id(cluster, &owner.ecs_name())),
        ]);
        for l in listeners {
            self.invalidate_listener(l);
        }
    }

    /// The rules of a listener, if observed recently; with `exact`, only a listing whose rules'
    /// tags were all read.
    pub fn rules(&self, listener: &str, exact: bool) -> Option<Vec<ListenerRule>> {
        let inner = self.lock();
        inner
            .rules
            .get(listener)
            .filter(|(at, _, read)| self.fresh(*at, self.freshness.ttl) && (*read || !exact))
            .map(|(_, r, _)| r.clone())
    }

    pub fn put_rules(&self, listener: &str, rules: Vec<ListenerRule>, exact: bool) {
        if !self.freshness.ttl.is_zero() {
            self.lock().rules.insert(listener.to_string(), (Instant::now(), rules, exact));
        }
    }

    /// Forgets a listener's rules unless they were listed within `age`.
    pub fn refresh_listener(&self, listener: &str, age: Duration) {
        let mut inner = self.lock();
        if inner.rules.get(listener).is_some_and(|(at, _, _)| at.elapsed() >= age) {
            inner.rules.remove(listener);
        }
    }

    /// Forgets a listener's rules (after we changed them).
    pub fn invalidate_listener(&self, listener: &str) {
        self.lock().rules.remove(listener);
    }

    /// Tags of a resource, from the snapshot's batched read or an earlier direct one.
    pub fn tags(&self, key: &str) -> Option<Tags> {
        if let Some(snap) = self.current()
            && let Some(tags) = snap.tags.get(key)
        {
            return Some(tags.clone());
        }
        let inner = self.lock();
        inner
            .tags
            .get(key)
            .filter(|(at, _)| self.fresh(*at, self.freshness.details_ttl))
            .map(|(_, t)| t.clone())
    }

    pub fn put_tags(&self, key: &str, tags: Tags) {
        if !self.freshness.details_ttl.is_zero() {
            self.lock().tags.insert(key.to_string(), (Instant::now(), tags));
        }
    }

    /// A repository's lifecycle policy read earlier: `Some(None)` when it had none.
    pub fn lifecycle(&self, key: &str) -> Option<Option<serde_json::Value>> {
        let inner = self.lock();
        inner
            .lifecycle
            .get(key)
            .filter(|(at, _)| self.fresh(*at, self.freshness.details_ttl))
            .map(|(_, p)| p.clone())
    }

    pub fn put_lifecycle(&self, key: &str, policy: Option<serde_json::Value>) {
        if !self.freshness.details_ttl.is_zero() {
            self.lock().lifecycle.insert(key.to_string(), (Instant::now(), policy));
        }
    }

    /// Forgets a service (after we changed it).
    pub fn invalidate_service(&self, cluster: &str, name: &str) {
        self.touch([key::service(cluster, name)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_with_snapshot(ttl: Duration) -> ObserveCache {
        let cache = ObserveCache::with_freshness(Freshness { ttl, details_ttl: ttl * 12 });
        cache.lock().snapshot =
            Some(Arc::new(Snapshot { started: Some(Instant::now()), ..Default::default() }));
        cache
    }

    #[tokio::test(start_paused = true)]
    async fn a_snapshot_serves_every_key_until_it_expires() {
        let cache = cache_with_snapshot(Duration::from_secs(60));
        assert!(cache.listed(&key::log_group("/byoc/a/b")).is_some());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(cache.listed(&key::log_group("/byoc/a/b")).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.listed(&key::log_group("/byoc/a/b")).is_none(), "expired");
    }

    #[tokio::test(start_paused = true)]
    async fn what_we_changed_is_read_directly_until_a_later_snapshot_shows_it() {
        let cache = cache_with_snapshot(Duration::from_secs(600));
        cache.touch([key::target_group("tg")]);
        assert!(cache.listed(&key::target_group("tg")).is_none());
        assert!(cache.listed(&key::target_group("other")).is_some());
        assert!(cache.recently_touched(&key::target_group("tg")));
        // A snapshot started just after the change may not show it yet (eventual consistency).
        tokio::time::advance(Duration::from_secs(1)).await;
        cache.lock().snapshot =
            Some(Arc::new(Snapshot { started: Some(Instant::now()), ..Default::default() }));
        assert!(cache.listed(&key::target_group("tg")).is_none());
        // One started past the margin does.
        tokio::time::advance(CONSISTENCY_MARGIN).await;
        cache.lock().snapshot =
            Some(Arc::new(Snapshot { started: Some(Instant::now()), ..Default::default() }));
        assert!(cache.listed(&key::target_group("tg")).is_some());
        assert!(!cache.recently_touched(&key::target_group("tg")));
    }

    #[tokio::test(start_paused = true)]
    async fn tags_read_directly_are_kept_for_the_details_ttl_and_a_zero_ttl_caches_nothing() {
        let cache = cache_with_snapshot(Duration::from_secs(10));
        cache.put_tags("arn:rule", Tags::from([("k".to_string(), "v".to_string())]));
        tokio::time::advance(Duration::from_secs(119)).await;
        assert!(cache.tags("arn:rule").is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.tags("arn:rule").is_none());
        let none = ObserveCache::new(Duration::ZERO);
        none.put_tags("arn:rule", Tags::new());
        none.put_rules("listener", Vec::new(), true);
        assert!(none.tags("arn:rule").is_none() && none.rules("listener", false).is_none());
        assert!(none.listed(&key::log_group("x")).is_none());
    }
}
