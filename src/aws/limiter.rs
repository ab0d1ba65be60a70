//! Client-side rate limits per AWS throttling bucket, so one busy account never earns throttling
//! for all its services: ELBv2 shares about 10 requests/s across all its calls per account, ECS
//! `RegisterTaskDefinition` sustains about 1/s. Token buckets with a burst; async, no IO.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

/// A bucket: refill rate and burst size.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    updated: Instant,
}

/// Shared limiter; clones share buckets.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    buckets: Arc<Mutex<HashMap<&'static str, Bucket>>>,
    /// Time spent waiting, per bucket: `(waits, total)`.
    waited: Arc<Mutex<HashMap<&'static str, (u64, Duration)>>>,
    disabled: bool,
    /// Multiplies every bucket's rate and burst (1: AWS's defaults).
    scale: f64,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::scaled(1.0)
    }
}

/// Every bucket `bucket_for` names.
pub const BUCKETS: [&str; 7] = ["elbv2", "ecs-register", "ecs", "ecr", "logs", "tagging", "other"];

/// The bucket an operation draws from, and its rate.
pub fn bucket_for(service: &'static str, operation: &'static str) -> (&'static str, Rate) {
    match (service, operation) {
        ("elbv2", _) => ("elbv2", Rate { per_second: 10.0, burst: 20.0 }),
        ("ecs", "RegisterTaskDefinition") => ("ecs-register", Rate { per_second: 1.0, burst: 5.0 }),
        ("ecs", _) => ("ecs", Rate { per_second: 20.0, burst: 50.0 }),
        ("ecr", _) => ("ecr", Rate { per_second: 10.0, burst: 20.0 }),
        ("logs", _) => ("logs", Rate { per_second: 5.0, burst: 10.0 }),
        // Not published per operation; kept well below what the Tag Editor itself uses.
        ("tagging", _) => ("tagging", Rate { per_second: 5.0, burst: 10.0 }),
        _ => ("other", Rate { per_second: 20.0, burst: 40.0 }),
    }
}

impl RateLimiter {
    /// A limiter that never waits (benchmarks measuring raw call counts).
    pub fn unlimited() -> Self {
        RateLimiter { disabled: true, ..Default::default() }
    }

    /// A limiter whose buckets all run `scale` times AWS's default rates (an account whose
    /// quotas were raised, or an emulator whose throttling is scaled the same way).
    pub fn scaled(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        RateLimiter { buckets: Arc::default(), waited: Arc::default(), disabled: false, scale }
    }

    /// How often and how long calls waited for a token, per bucket.
    pub fn waits(&self) -> Vec<(&'static str, u64, Duration)> {
        let waited = self.waited.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = waited.iter().map(|(b, (n, d))| (*b, *n, *d)).collect();
        out.sort();
        out
    }

    /// Waits until the operation's bucket has a token, then takes it. Returns how long it
    /// waited, when it had to.
    pub async fn acquire(
        &self,
        service: &'static str,
        operation: &'static str,
    ) -> Option<Duration> {
        if self.disabled {
            return None;
        }
        let (name, rate) = bucket_for(service, operation);
        let rate =
            Rate { per_second: rate.per_second * self.scale, burst: rate.burst * self.scale };
        let started = Instant::now();
        let mut waited = false;
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let bucket = buckets.entry(name).or_insert(Bucket {
                    rate,
                    tokens: rate.burst,
                    updated: now,
                });
                let elapsed = now.duration_since(bucket.updated).as_secs_f64();
                bucket.tokens =
                    (bucket.tokens + elapsed * bucket.rate.per_second).min(bucket.rate.burst);
                bucket.updated = now;
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    drop(buckets);
                    if !waited {
                        return None;
                    }
                    let took = started.elapsed();
                    let mut w = self.waited.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = w.entry(name).or_default();
                    entry.0 += 1;
                    entry.1 += took;
                    return Some(took);
                }
                waited = true;
                Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.rate.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn register_task_definition_is_limited_to_one_per_second_after_its_burst() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for _ in 0..8 {
            limiter.acquire("ecs", "RegisterTaskDefinition").await;
        }
        // 5 from the burst, then 3 more at 1/s.
        let waited = start.elapsed().as_secs_f64();
        assert!((2.9..3.5).contains(&waited), "waited {waited}s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_limiter_runs_every_bucket_faster_and_counts_its_waits() {
        let limiter = RateLimiter::scaled(10.0);
        let start = Instant::now();
        // A burst of 50, then 10/s.
        for _ in 0..60 {
            limiter.acquire("ecs", "RegisterTaskDefinition").await;
        }
        let waited = start.elapsed().as_secs_f64();
        assert!((0.9..1.2).contains(&waited), "waited {waited}s");
        let waits = limiter.waits();
        assert_eq!(waits.len(), 1);
        assert_eq!((waits[0].0, waits[0].1), ("ecs-register", 10));
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_reports_only_the_waits_it_had_to_make() {
        let limiter = RateLimiter::default();
        for _ in 0..5 {
            assert_eq!(limiter.acquire("ecs", "RegisterTaskDefinition").await, None);
        }
        let waited = limiter.acquire("ecs", "RegisterTaskDefinition").await;
        assert!(waited.is_some_and(|w| w >= Duration::from_millis(900)), "{waited:?}");
        assert_eq!(RateLimiter::unlimited().acquire("ecs", "RegisterTaskDefinition").await, None);
    }

    #[test]
    fn every_bucket_an_operation_draws_from_is_listed() {
        let operations = [
            ("elbv2", "CreateRule"),
            ("ecs", "RegisterTaskDefinition"),
            ("ecs", "DescribeServices"),
            ("ecr", "CreateRepository"),
            ("logs", "CreateLogGroup"),
            ("tagging", "GetResources"),
            ("acm", "RequestCertificate"),
        ];
        let named: Vec<&str> = operations.iter().map(|(s, o)| bucket_for(s, o).0).collect();
        assert_eq!(named, BUCKETS);
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_are_independent() {
        let limiter = RateLimiter::default();
        for _ in 0..5 {
            limiter.acquire("ecs", "RegisterTaskDefinition").await;
        }
        let start = Instant::now();
        limiter.acquire("ecs", "DescribeServices").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
