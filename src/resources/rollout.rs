//! The truth about an ECS rollout, from a `DescribeServices` shape. Pure, so every state ECS can
//! report is unit-tested without an emulator.
//!
//! How ECS reports a rollout (Amazon ECS API Reference, `Deployment` and `DeploymentCircuitBreaker`;
//! Developer Guide, "How the Amazon ECS deployment circuit breaker detects failures"):
//! - each deployment has an id (`ecs-svc/…`), a status (`PRIMARY` for the newest, `ACTIVE` for
//!   older ones still running tasks) and, for the rolling update controller, a `rolloutState`
//!   (`IN_PROGRESS`, `COMPLETED`, `FAILED`) with a `rolloutStateReason`;
//! - `rolloutState` becomes `FAILED` only when the circuit breaker is on, once `failedTasks`
//!   reaches its threshold (0.5 × desired count, at least 3, at most 200);
//! - with rollback on, ECS then starts a deployment of the last completed revision, which becomes
//!   `PRIMARY` and the service's `taskDefinition`; once that rollback completes, the `FAILED`
//!   deployment is no longer listed at all.
//!
//! The last point is why a rollout is tracked by the deployment id ECS returned when the operator
//! started it (kept in the status, and on the revision's `byoc.dev/deployment` tag so it survives
//! a lost status and serves the CLI): a deployment that is gone while the service runs another
//! revision was rolled back, when the last status saw it unfinished or the service's events (the
//! last 100 ECS keeps) say it failed.

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};

use crate::api::{Rollout, RolloutState};

/// What the operator knows of earlier rollouts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The rollout the last status recorded (the controller's; none in the CLI).
    pub previous: Option<&'a Rollout>,
    /// The deployment id recorded on the task definition revision when it was deployed.
    pub deployment: Option<&'a str>,
}

/// A progress deadline: a rollout still in progress this long after its deployment was created
/// is reported as failed (ECS keeps trying).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadline {
    pub seconds: i32,
    /// Now, in seconds since the Unix epoch.
    pub now: f64,
}

impl Deadline {
    pub fn from_now(seconds: i32) -> Deadline {
        Deadline { seconds, now: jiff::Timestamp::now().as_millisecond() as f64 / 1000.0 }
    }
}

/// `family:revision` of a task definition ARN.
pub fn revision(task_definition: &str) -> &str {
    task_definition.rsplit('/').next().unwrap_or(task_definition)
}

impl<'a> Known<'a> {
    /// The last status's rollout, if it was of `task_definition`.
    fn previous_of(&self, task_definition: &str) -> Option<&'a Rollout> {
        self.previous.filter(|p| p.task_definition.as_deref() == Some(revision(task_definition)))
    }

    /// The deployment id tracked for `task_definition`.
    fn tracked_id(&self, task_definition: &str) -> Option<&'a str> {
        self.previous_of(task_definition)
            .and_then(|p| p.deployment_id.as_deref())
            .or(self.deployment)
    }

    /// Whether the tracked deployment `id`, no longer listed, was rolled back rather than
    /// completed and replaced out of band.
    fn rolled_back(&self, service: &Service, task_definition: &str, id: &str) -> bool {
        if service.deployments().iter().any(|d| d.id() == Some(id)) {
            return false;
        }
        let unfinished = self.previous_of(task_definition).is_some_and(|p| {
            p.deployment_id.as_deref() == Some(id) && p.state != RolloutState::Completed
        });
        // ECS: "(service web) (deployment ecs-svc/…) deployment failed: tasks failed to start."
        let failed_event =
            service.events().iter().filter_map(|e| e.message()).any(|m| {
                m.contains(&format!("(deployment {id})")) && m.contains("deployment failed")
            });
        unfinished || failed_event
    }
}

/// The deployment running `task_definition`: the tracked one if it is still listed, else the
/// newest one with that task definition.
fn ours<'a>(
    service: &'a Service,
    task_definition: &str,
    tracked: Option<&str>,
) -> Option<&'a Deployment> {
    let deployments = service.deployments();
    if let Some(d) = tracked.and_then(|id| deployments.iter().find(|d| d.id() == Some(id))) {
        return Some(d);
    }
    deployments.iter().filter(|d| d.task_definition() == Some(task_definition)).max_by(|a, b| {
        let created = |d: &Deployment| d.created_at().map(|t| t.as_secs_f64()).unwrap_or(0.0);
        (a.status() == Some("PRIMARY"))
            .cmp(&(b.status() == Some("PRIMARY")))
            .then(created(a).total_cmp(&created(b)))
    })
}

/// The rollout of `task_definition` (the ARN we want running) on `service`.
pub fn rollout(
    service: &Service,
    task_definition: &str,
    known: Known<'_>,
    deadline: Option<Deadline>,
) -> Rollout {
    let tracked = known.tracked_id(task_definition);
    let base = Rollout {
        desired: service.desired_count(),
        task_definition: Some(revision(task_definition).to_string()),
        deployment_id: tracked.map(str::to_string),
        ..Default::default()
    };
    let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
    let Some(primary) = primary else {
        return Rollout { message: Some("no deployment yet".into()), ..base };
    };
    let ours = ours(service, task_definition, tracked);
    let primary_is_ours = primary.task_definition() == Some(task_definition);
    // Our deployment failed: the circuit breaker stopped it, and with rollback ECS made the
    // previous task definition PRIMARY again.
    if let Some(d) = ours.filter(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed)) {
        let rolled_back = !primary_is_ours;
        return Rollout {
            state: RolloutState::Failed,
            running: d.running_count(),
            desired: d.desired_count(),
            pending: d.pending_count(),
            failed_tasks: d.failed_tasks(),
            deployment_id: d.id().map(str::to_string),
            message: Some(failure_message(d.id(), d.rollout_state_reason(), rolled_back)),
            rolled_back,
            ..base
        };
    }
    if !primary_is_ours {
        // The deployment we started is gone and the service runs another revision: ECS rolled it
        // back and dropped it. A deployment that had completed and was replaced out of band is
        // drift instead, and is corrected.
        if tracked.is_some_and(|id| known.rolled_back(service, task_definition, id)) {
            return Rollout {
                state: RolloutState::Failed,
                rolled_back: true,
                failed_tasks: known.previous_of(task_definition).map_or(0, |p| p.failed_tasks),
                // Only the circuit breaker rolls back a deployment we start (we set no
                // deployment alarms).
                message: Some(failure_message(
                    tracked,
                    Some(
                        "the ECS deployment circuit breaker stopped it; see the service's ECS events and the task logs",
                    ),
                    true,
                )),
                ..base
            };
        }
        return Rollout { message: Some("waiting for ECS to start the deployment".into()), ..base };
    }
    let single = service.deployments().len() == 1;
    let done = match primary.rollout_state() {
        Some(DeploymentRolloutState::Completed) => true,
        Some(DeploymentRolloutState::Failed) => false,
        // Services without the circuit breaker report no rollout state: judge by the counts and
        // by the old deployments having drained.
        _ => single,
    };
    // With a single deployment the service's own counts are the primary's, and they follow a
    // scale change immediately; during a rollout only the primary's counts say how far it got.
    let (running, pending) = if single {
        (service.running_count(), service.pending_count())
    } else {
        (primary.running_count(), primary.pending_count())
    };
    let desired = service.desired_count();
    let completed = done && running == desired && pending == 0;
    let mut rollout = Rollout {
        state: if completed { RolloutState::Completed } else { RolloutState::InProgress },
        running,
        desired,
        pending,
        failed_tasks: primary.failed_tasks(),
        deployment_id: primary.id().map(str::to_string),
        message: primary.rollout_state_reason().map(str::to_string),
        ..base
    };
    if let (false, Some(deadline), Some(created)) = (completed, deadline, primary.created_at()) {
        let age = deadline.now - created.as_secs_f64();
        if age > f64::from(deadline.seconds) {
            rollout.state = RolloutState::Failed;
            rollout.message = Some(format!(
                "the deployment {} did not complete within progressDeadlineSeconds ({}s): {}/{} tasks running, {} failed to start; ECS keeps trying, see the service's ECS events and the task logs",
                primary.id().unwrap_or("?"),
                deadline.seconds,
                running,
                desired,
                primary.failed_tasks()
            ));
        }
    }
    rollout
}

fn failure_message(id: Option<&str>, reason: Option<&str>, rolled_back: bool) -> String {
    format!(
        "the deployment {} failed{}: {}; it is not deployed again until the spec changes",
        id.unwrap_or("?"),
        if rolled_back { " and ECS rolled back to the previous revision" } else { "" },
        reason.unwrap_or("see the service's ECS events and the task logs")
    )
}

/// Why a task definition revision must not be deployed again: ECS's circuit breaker failed its
/// deployment (seen now, or recorded earlier on the revision's `byoc.dev/rollout-failed` tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRevision {
    /// What to tell the user (and what the tag records).
    pub message: String,
    /// Whether the revision already carries the tag.
    pub recorded: bool,
}

/// Whether `task_definition` failed its rollout and must not be deployed again. `recorded` is the
/// value of its `byoc.dev/rollout-failed` tag, if any.
pub fn failed_revision(
    task_definition: &str,
    recorded: Option<&str>,
    service: Option<&Service>,
    known: Known<'_>,
) -> Option<FailedRevision> {
    if let Some(message) = recorded {
        return Some(FailedRevision { message: message.to_string(), recorded: true });
    }
    let seen = rollout(service?, task_definition, known, None);
    (seen.state == RolloutState::Failed)
        .then(|| FailedRevision { message: seen.message.unwrap_or_default(), recorded: false })
}

/// The rollout reported for a revision that failed: the service keeps running what ECS rolled
/// back to, and nothing is deployed until the spec changes.
pub fn failed_rollout(
    service: Option<&Service>,
    task_definition: &str,
    failed: &FailedRevision,
    known: Known<'_>,
) -> Rollout {
    let seen = service.map(|s| rollout(s, task_definition, known, None));
    let running_ours = service.and_then(|s| s.task_definition()) == Some(task_definition);
    Rollout {
        state: RolloutState::Failed,
        running: service.map_or(0, |s| s.running_count()),
        desired: service.map_or(0, |s| s.desired_count()),
        pending: service.map_or(0, |s| s.pending_count()),
        task_definition: Some(revision(task_definition).to_string()),
        message: Some(failed.message.clone()),
        rolled_back: !running_ours,
        failed_tasks: seen
            .as_ref()
            .map(|r| r.failed_tasks)
            .filter(|n| *n > 0)
            .or(known.previous_of(task_definition).map(|p| p.failed_tasks))
            .unwrap_or(0),
        deployment_id: seen
            .and_then(|r| r.deployment_id)
            .or_else(|| known.tracked_id(task_definition).map(str::to_string)),
    }
}

/// A tag value AWS accepts (letters, digits, spaces and `+ - = . _ : / @`, at most 256
/// characters; "Tagging your Amazon ECS resources", tag restrictions) holding `text`.
pub fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_alphanumeric() || " +-=._:/@".contains(c) { c } else { ' ' })
        .take(256)
        .collect()
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
