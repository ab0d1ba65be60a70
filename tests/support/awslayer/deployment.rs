//! One ECS deployment's tasks in time: launched in batches, RUNNING `task_start` later; or, when
//! its image fails, failing every `task_start` and launched again, until the circuit breaker's
//! threshold is reached. Pure: the caller hands in the clock.
//!
//! `Deployment` (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html>):
//! "failedTasks: The number of consecutively failed tasks in the deployment. A task is considered
//! a failure if the service scheduler can't launch the task, the task doesn't transition to a
//! RUNNING state, or if it fails any of its defined health checks and is stopped."; "pendingCount:
//! The number of tasks in the deployment that are in the PENDING status."; "runningCount: The
//! number of tasks in the deployment that are in the RUNNING status."

use std::time::{Duration, Instant};

/// How long things take.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub task_start: Duration,
    pub drain: Duration,
    pub service_draining: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
}

/// Tasks launched together.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    pub(super) count: i64,
    pub(super) launched: Instant,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub primary: bool,
    pub task_definition: String,
    pub desired: i64,
    pub(super) batches: Vec<Batch>,
    /// Its tasks never become healthy (the image is one of the failing images).
    pub(super) failing: bool,
    /// Failures counted before the current batches.
    pub(super) failed_before: i64,
    pub rollout: Rollout,
    pub reason: String,
    pub created: Instant,
    pub updated: Instant,
    /// For ECS's own rollback deployments: the deployment rolled back to.
    pub(super) rollback_to: Option<String>,
}

impl Deployment {
    pub(super) fn new(
        id: String,
        task_definition: &str,
        desired: i64,
        failing: bool,
        now: Instant,
    ) -> Self {
        Deployment {
            reason: format!("ECS deployment {id} in progress."),
            id,
            primary: true,
            task_definition: task_definition.to_string(),
            desired,
            batches: vec![Batch { count: desired, launched: now }],
            failing,
            failed_before: 0,
            rollout: Rollout::InProgress,
            created: now,
            updated: now,
            rollback_to: None,
        }
    }

    /// Tasks running at `now`.
    pub fn running(&self, now: Instant, timing: &Timing) -> i64 {
        if self.failing {
            return 0;
        }
        self.batches.iter().filter(|b| b.launched + timing.task_start <= now).map(|b| b.count).sum()
    }

    /// Tasks launched but not yet running at `now`.
    pub fn pending(&self, now: Instant, timing: &Timing) -> i64 {
        let launched: i64 = self.batches.iter().map(|b| b.count).sum();
        launched - self.running(now, timing)
    }

    /// Tasks that failed to start, up to `now`: each pending task of a failing deployment fails
    /// once per `task_start` and is launched again.
    pub fn failed_tasks(&self, now: Instant, timing: &Timing) -> i64 {
        if !self.failing || timing.task_start.is_zero() {
            return self.failed_before;
        }
        let rounds = |b: &Batch| {
            (now.saturating_duration_since(b.launched).as_nanos() / timing.task_start.as_nanos())
                as i64
        };
        self.failed_before + self.batches.iter().map(|b| b.count * rounds(b)).sum::<i64>()
    }

    /// Stops launching: counts the failures so far and drops the tasks not yet running.
    pub(super) fn stop_launching(&mut self, now: Instant, timing: &Timing) {
        self.failed_before = self.failed_tasks(now, timing);
        if self.failing {
            self.batches.clear();
        } else {
            self.batches.retain(|b| b.launched + timing.task_start <= now);
        }
    }

    /// When every launched task is running (healthy deployments only).
    pub(super) fn all_running_at(&self, timing: &Timing) -> Instant {
        self.batches.iter().map(|b| b.launched).max().unwrap_or(self.created) + timing.task_start
    }

    /// When the circuit breaker trips: the first round at which failures reach `threshold`.
    pub(super) fn trips_at(&self, threshold: i64, timing: &Timing) -> Option<Instant> {
        if !self.failing || self.batches.is_empty() || timing.task_start.is_zero() {
            return None;
        }
        let mut failed = self.failed_before;
        let mut rounds: Vec<(Instant, i64)> = Vec::new();
        for b in &self.batches {
            let needed = threshold.saturating_sub(self.failed_before) / b.count.max(1) + 1;
            for k in 1..=needed.min(400) as u32 {
                rounds.push((b.launched + timing.task_start * k, b.count));
            }
        }
        rounds.sort_by_key(|(at, _)| *at);
        for (at, count) in rounds {
            failed += count;
            if failed >= threshold {
                return Some(at);
            }
        }
        None
    }
}
