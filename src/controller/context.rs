//! What every reconcile receives: the Kubernetes client, AWS clients per account (cached, one
//! rate limiter per account since AWS throttles per account), per-listener locks, per-object
//! backoff, metrics and the event recorder.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Client,
    runtime::{
        events::{Recorder, Reporter},
        reflector::Store,
    },
};

use crate::{
    api::{AwsAccess, CloudAccount, CloudService},
    aws::{self, Aws, RateLimiter},
    desired::naming::fnv1a,
    resources::{ObserveCache, cache::Freshness},
    telemetry::Metrics,
};

/// Settings of one controller process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Identifies this installation in ownership tags.
    pub cluster_id: String,
    /// Periodic re-reconcile that detects and corrects drift.
    pub resync: Duration,
    /// Requeue while waiting for AWS (rollouts, load balancers).
    pub waiting: Duration,
    /// Whether env values may come from Kubernetes Secrets.
    pub secret_env: bool,
    /// Send every AWS call to this endpoint (emulators), whatever the accounts say.
    pub endpoint_override: Option<String>,
    /// Multiplies the client-side AWS rate limits (1: AWS's default quotas).
    pub aws_rate_scale: f64,
}

/// Shared state of the controllers.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub accounts: Store<CloudAccount>,
    /// One store per watched namespace (or one for all).
    pub services: Vec<Store<CloudService>>,
    /// Per account: its AWS clients and what was observed of it (shared by its services).
    sessions: tokio::sync::Mutex<HashMap<String, (u64, Aws, ObserveCache)>>,
    listener_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<HashMap<String, u32>>,
    /// Per cache (accounts, then services): whether its first listing is complete.
    listed: Vec<tokio::sync::watch::Receiver<bool>>,
    /// Git revisions of built services, resolved to commits (shared for a short while).
    pub commits: crate::build::Commits,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        accounts: Store<CloudAccount>,
        services: Vec<Store<CloudService>>,
        listed: Vec<tokio::sync::watch::Receiver<bool>>,
    ) -> Self {
        let reporter = Reporter {
            controller: "byoc-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        // A new commit is seen within half a resync (at most a minute).
        let commits_ttl = (settings.resync / 2).min(Duration::from_secs(60));
        Context {
            commits: crate::build::Commits::new(commits_ttl),
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            metrics,
            accounts,
            services,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
            listener_locks: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            listed,
        }
    }

    /// AWS clients for an account; rebuilt when its `spec.aws` changes.
    pub async fn aws(&self, name: &str, access: &AwsAccess) -> Aws {
        self.session(name, access).await.0
    }

    /// AWS clients for an account and the observations its services share (a snapshot per
    /// resync); both start afresh when its `spec.aws` changes.
    pub async fn session(&self, name: &str, access: &AwsAccess) -> (Aws, ObserveCache) {
        let mut access = access.clone();
        if let Some(url) = &self.settings.endpoint_override {
            access.endpoint_url = Some(url.clone());
        }
        let key = fnv1a(format!("{access:?}").as_bytes());
        let mut sessions = self.sessions.lock().await;
        if let Some((k, aws, cache)) = sessions.get(name)
            && *k == key
        {
            return (aws.clone(), cache.clone());
        }
        let config = aws::load_config(&access).await;
        let limiter = RateLimiter::scaled(self.settings.aws_rate_scale);
        let aws = Aws::new(&config, self.metrics.aws_calls.clone(), limiter);
        let cache = ObserveCache::with_freshness(Freshness::for_resync(self.settings.resync));
        sessions.insert(name.to_string(), (key, aws.clone(), cache.clone()));
        (aws, cache)
    }

    /// When to look again at a service stalled on something outside its own spec (its account,
    /// its namespace's labels, a senior route): six waiting intervals, at most one resync.
    pub fn stalled_retry(&self) -> Duration {
        (self.settings.waiting * 6).min(self.settings.resync)
    }

    /// The lock serialising rule changes on one listener (priorities are shared state).
    pub fn listener_lock(&self, listener_arn: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.listener_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(listener_arn.to_string()).or_default().clone()
    }

    /// Waits until every cache (the accounts, and the services of each watched namespace) holds
    /// its first complete listing. Each controller waits for its own objects, not for the other
    /// kind's: without this, a service reconciled right after a start finds no account ("does not
    /// exist", a Stalled status and a wait), and a deleted account finds no service using it.
    /// (Not `Store::wait_until_ready`: its future wakes only the last of several waiters.)
    pub async fn caches_ready(&self) {
        for listed in &self.listed {
            // An error means the cache's stream is gone (shutting down): nothing to wait for.
            let _ = listed.clone().wait_for(|listed| *listed).await;
        }
    }

    /// Every CloudService the controllers know about.
    pub fn all_services(&self) -> Vec<Arc<CloudService>> {
        self.services.iter().flat_map(|s| s.state()).collect()
    }

    /// Exponential backoff with jitter for an object's consecutive failures: 1 s doubling up to
    /// 5 minutes, ±20 %.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        backoff(*n, fnv1a(format!("{key}{n}{:?}", std::time::SystemTime::now()).as_bytes()))
    }

    /// Forgets an object's failures after a success.
    pub fn reset_backoff(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// Delay after the `n`-th consecutive failure, with `entropy` choosing the jitter.
pub fn backoff(n: u32, entropy: u64) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(1 << n.saturating_sub(1).min(9))
        .min(Duration::from_secs(300));
    let jitter = (entropy % 400) as f64 / 1000.0 - 0.2;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes_with_jitter() {
        for (n, base) in [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (50, 300.0)] {
            for entropy in [0, 199, 399] {
                let d = backoff(n, entropy).as_secs_f64();
                assert!(d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9, "n={n}: {d}");
            }
        }
    }
}
