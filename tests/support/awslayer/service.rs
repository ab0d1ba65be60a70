//! One ECS service's deployments in time, as ECS runs them and moto does not: tasks that take
//! time to start, a rolling update that keeps the old deployment until the new one is running and
//! then drains it, tasks that fail, the deployment circuit breaker that fails the deployment and
//! rolls back, and a deleted service that drains before it is INACTIVE. State is advanced lazily
//! from timestamps (`advance`), so no ticker is needed. Pure: the caller hands in the clock.
//!
//! Sources:
//! - Rolling update: "If you modify the task definition with UpdateService, Amazon ECS spawns a
//!   task with the new version of the task definition and then stops an old task after the new
//!   version is running" (UpdateService,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html>).
//!   `rolloutState` and its reasons: `Deployment`
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html>): "The
//!   rollout state of the deployment. When a service deployment is started, it begins in an
//!   IN_PROGRESS state. When the service reaches a steady state, the deployment transitions to a
//!   COMPLETED state. If the service fails to reach a steady state and circuit breaker is turned
//!   on, the deployment transitions to a FAILED state."
//! - Circuit breaker threshold: `ServiceDeploymentCircuitBreaker`
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentCircuitBreaker.html>):
//!   "The deployment circuit breaker has a minimum threshold of 3 and a maximum threshold of 200.
//!   and uses the values in the following formula to determine the deployment failure.
//!   0.5 * desired task count".
//! - Rollback: `DeploymentCircuitBreaker`
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentCircuitBreaker.html>):
//!   "If rollback is on, when a service deployment fails, the service is rolled back to the last
//!   deployment that completed successfully." Reasons and events use ECS's own wording as seen
//!   on real services ("ECS deployment circuit breaker: tasks failed to start.", "ECS deployment
//!   circuit breaker: rolling back to deploymentId ecs-svc/…").
//! - Deleted services: DeleteService
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html>): "the
//!   service status moves from ACTIVE to DRAINING, and the service is no longer visible in the
//!   console or in the ListServices API operation. After all tasks have transitioned to either
//!   STOPPING or STOPPED status, the service status moves from DRAINING to INACTIVE."

use std::time::Instant;

use super::{
    deployment::{Batch, Deployment, Rollout, Timing},
    faults::Rng,
};

/// What every change to a service needs: the time, the durations, ids, and which task definitions
/// fail to start.
pub struct Ctx<'a> {
    pub now: Instant,
    pub timing: Timing,
    pub rng: &'a mut Rng,
    pub failing: &'a dyn Fn(&str) -> bool,
}

/// One event of the service, newest first when rendered.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub at: Instant,
    pub message: String,
}

/// The circuit breaker setting: `deploymentConfiguration.deploymentCircuitBreaker`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaker {
    pub enable: bool,
    pub rollback: bool,
}

/// ECS's failure threshold for `desired` tasks: 0.5 × desired, rounded up, within 3..=200.
pub fn breaker_threshold(desired: i64) -> i64 {
    ((desired + 1) / 2).clamp(3, 200)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Draining,
    Inactive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Draining => "DRAINING",
            Status::Inactive => "INACTIVE",
        }
    }
}

/// One ECS service in time.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub desired: i64,
    pub breaker: Breaker,
    /// Newest first.
    pub deployments: Vec<Deployment>,
    /// Newest first.
    pub events: Vec<Event>,
    pub deleted: Option<Instant>,
    /// The last deployment that completed: its id and task definition.
    last_completed: Option<(String, String)>,
}

impl Service {
    /// A new service with its first deployment (CreateService).
    pub fn create(
        name: &str,
        task_definition: &str,
        desired: i64,
        breaker: Breaker,
        ctx: &mut Ctx,
    ) -> Service {
        let mut service = Service {
            name: name.to_string(),
            desired,
            breaker,
            deployments: Vec::new(),
            events: Vec::new(),
            deleted: None,
            last_completed: None,
        };
        service.start_deployment(task_definition, ctx);
        service
    }

    /// A service the layer first sees already settled (created before the layer watched it).
    pub fn settled(name: &str, task_definition: &str, desired: i64, ctx: &mut Ctx) -> Service {
        let now = ctx.now;
        ctx.now = now.checked_sub(ctx.timing.task_start + ctx.timing.drain).unwrap_or(now);
        let mut service = Service::create(name, task_definition, desired, Breaker::default(), ctx);
        if let Some(d) = service.deployments.first_mut() {
            d.failing = false;
        }
        ctx.now = now;
        service.advance(ctx);
        service
    }

    pub fn status(&self, now: Instant, timing: &Timing) -> Status {
        match self.deleted {
            None => Status::Active,
            Some(at) if now < at + timing.service_draining => Status::Draining,
            Some(_) => Status::Inactive,
        }
    }

    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.primary)
    }

    /// The task definition ECS runs: the primary deployment's (after a rollback, the old one).
    pub fn task_definition(&self) -> String {
        self.primary().map(|d| d.task_definition.clone()).unwrap_or_default()
    }

    fn event(&mut self, at: Instant, message: String, rng: &mut Rng) {
        let id = uuid(rng);
        self.events.insert(0, Event { id, at, message });
        self.events.truncate(100);
    }

    /// Starts a deployment of `task_definition` now: it becomes PRIMARY, the previous one ACTIVE;
    /// that one stops launching tasks but keeps those already running until the new one
    /// completes. Returns the new deployment's id.
    pub fn start_deployment(&mut self, task_definition: &str, ctx: &mut Ctx) -> String {
        self.start(task_definition, None, ctx)
    }

    fn start(
        &mut self,
        task_definition: &str,
        rollback_to: Option<String>,
        ctx: &mut Ctx,
    ) -> String {
        for d in &mut self.deployments {
            d.primary = false;
            d.stop_launching(ctx.now, &ctx.timing);
        }
        let id = format!("ecs-svc/{}", ctx.rng.digits(19));
        let failing = (ctx.failing)(task_definition);
        let mut deployment =
            Deployment::new(id.clone(), task_definition, self.desired, failing, ctx.now);
        if let Some(to) = &rollback_to {
            deployment.reason =
                format!("ECS deployment circuit breaker: rolling back to deploymentId {to}.");
        }
        deployment.rollback_to = rollback_to;
        self.deployments.insert(0, deployment);
        self.started_tasks(self.desired, ctx.now, ctx.rng);
        id
    }

    fn started_tasks(&mut self, count: i64, now: Instant, rng: &mut Rng) {
        if count <= 0 {
            return;
        }
        let tasks: Vec<String> =
            (0..count.min(10)).map(|_| format!("(task {})", rng.hex(32))).collect();
        let message =
            format!("(service {}) has started {count} tasks: {}.", self.name, tasks.join(" "));
        self.event(now, message, rng);
    }

    /// A desiredCount-only change: the primary deployment launches or stops tasks.
    pub fn scale(&mut self, desired: i64, ctx: &mut Ctx) {
        let (now, timing) = (ctx.now, ctx.timing);
        self.desired = desired;
        let Some(primary) = self.deployments.iter_mut().find(|d| d.primary) else { return };
        primary.desired = desired;
        if primary.rollout == Rollout::Failed {
            return;
        }
        if primary.failing {
            primary.stop_launching(now, &timing);
            primary.batches = vec![Batch { count: desired, launched: now }];
            return;
        }
        let launched: i64 = primary.batches.iter().map(|b| b.count).sum();
        if desired > launched {
            primary.batches.push(Batch { count: desired - launched, launched: now });
            self.started_tasks(desired - launched, now, ctx.rng);
            return;
        }
        // Fewer tasks: the newest (pending first) stop.
        let mut surplus = launched - desired;
        while surplus > 0 {
            let Some(last) = primary.batches.last_mut() else { break };
            let taken = last.count.min(surplus);
            last.count -= taken;
            surplus -= taken;
            if last.count == 0 {
                primary.batches.pop();
            }
        }
    }

    /// DeleteService: desired 0, every task stops, the service drains.
    pub fn delete(&mut self, now: Instant, timing: &Timing) {
        self.desired = 0;
        self.deleted = Some(now);
        for d in &mut self.deployments {
            d.stop_launching(now, timing);
            d.batches.clear();
            d.desired = 0;
        }
    }

    /// Applies every transition due up to `ctx.now`, in time order.
    pub fn advance(&mut self, ctx: &mut Ctx) {
        while let Some((at, transition)) = self.next_transition(&ctx.timing) {
            if at > ctx.now {
                break;
            }
            self.apply(at, transition, ctx);
        }
    }

    fn next_transition(&self, timing: &Timing) -> Option<(Instant, Transition)> {
        if self.deleted.is_some() {
            return None;
        }
        let primary = self.primary()?;
        if primary.rollout != Rollout::InProgress {
            return None;
        }
        if primary.failing {
            if !self.breaker.enable {
                return None;
            }
            let at = primary.trips_at(breaker_threshold(self.desired), timing)?;
            return Some((at, Transition::Trip));
        }
        let mut at = primary.all_running_at(timing);
        if self.deployments.len() > 1 {
            at += timing.drain;
        }
        Some((at, Transition::Complete))
    }

    fn apply(&mut self, at: Instant, transition: Transition, ctx: &mut Ctx) {
        let name = self.name.clone();
        match transition {
            Transition::Complete => {
                self.deployments.retain(|d| d.primary);
                let Some(primary) = self.deployments.first_mut() else { return };
                primary.rollout = Rollout::Completed;
                primary.reason = format!("ECS deployment {} completed.", primary.id);
                primary.updated = at;
                let id = primary.id.clone();
                self.last_completed = Some((id.clone(), primary.task_definition.clone()));
                self.event(
                    at,
                    format!("(service {name}) (deployment {id}) deployment completed."),
                    ctx.rng,
                );
                self.event(at, format!("(service {name}) has reached a steady state."), ctx.rng);
            }
            Transition::Trip => {
                let timing = ctx.timing;
                let Some(primary) = self.deployments.iter_mut().find(|d| d.primary) else { return };
                primary.stop_launching(at, &timing);
                primary.rollout = Rollout::Failed;
                primary.reason = "ECS deployment circuit breaker: tasks failed to start.".into();
                primary.updated = at;
                let (id, is_rollback) = (primary.id.clone(), primary.rollback_to.is_some());
                let failed = format!(
                    "(service {name}) (deployment {id}) deployment failed: tasks failed to start."
                );
                self.event(at, failed, ctx.rng);
                let target = self.last_completed.clone().filter(|(done, _)| *done != id);
                if let (true, false, Some((to, td))) = (self.breaker.rollback, is_rollback, target)
                {
                    self.event(
                        at,
                        format!("(service {name}) rolling back to deployment {to}."),
                        ctx.rng,
                    );
                    let now = std::mem::replace(&mut ctx.now, at);
                    self.start(&td, Some(to), ctx);
                    ctx.now = now;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Transition {
    /// The primary's tasks all run and the others have drained.
    Complete,
    /// The primary's failures reached the circuit breaker threshold.
    Trip,
}

/// A random UUID-shaped id.
pub fn uuid(rng: &mut Rng) -> String {
    let h = rng.hex(32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}
