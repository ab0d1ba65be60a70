//! kstatus conditions from a pipeline outcome. Pure: takes the outcome and the previous
//! conditions, returns the status to write (the controller) or print (`byoc apply`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::{
    api::{CloudServiceStatus, READY, RECONCILING, RolloutState, STALLED, reason, set_condition},
    aws::Category,
    desired::Invalid,
    resources::{Applied, EngineError},
};

/// Status after a successful `apply`: `Ready` only when the rollout of the current task
/// definition completed with every task running.
pub fn applied(
    generation: Option<i64>,
    applied: &Applied,
    previous: &[Condition],
    now: &Time,
) -> CloudServiceStatus {
    let mut conditions = previous.to_vec();
    let r = &applied.rollout;
    let (ready, rec, why, message) = match r.state {
        RolloutState::Completed => (
            true,
            false,
            reason::READY,
            format!("{}/{} tasks running the current task definition", r.running, r.desired),
        ),
        RolloutState::InProgress => (
            false,
            true,
            reason::ROLLING_OUT,
            format!(
                "rolling out {}: {}/{} running, {} pending{}",
                r.task_definition.as_deref().unwrap_or("?"),
                r.running,
                r.desired,
                r.pending,
                match r.failed_tasks {
                    0 => String::new(),
                    n => format!(", {n} failed to start"),
                }
            ),
        ),
        RolloutState::Failed => (
            false,
            false,
            reason::ROLLOUT_FAILED,
            format!(
                "rollout of {}: {}",
                r.task_definition.as_deref().unwrap_or("?"),
                r.message.as_deref().unwrap_or("the deployment failed; see the ECS service events")
            ),
        ),
    };
    set_condition(&mut conditions, READY, ready, why, &message, generation, now);
    set_condition(
        &mut conditions,
        RECONCILING,
        rec,
        if rec { why } else { reason::READY },
        if rec { &message } else { "" },
        generation,
        now,
    );
    let stalled = r.state == RolloutState::Failed;
    set_condition(
        &mut conditions,
        STALLED,
        stalled,
        if stalled { why } else { reason::READY },
        if stalled { &message } else { "" },
        generation,
        now,
    );
    CloudServiceStatus {
        observed_generation: generation,
        conditions,
        url: applied.url.clone(),
        rollout: Some(applied.rollout.clone()),
        resources: applied.resources.clone(),
    }
}

/// The condition reason and whether the problem is stalled (needs a change from the user) for an
/// engine error.
pub fn classify(e: &EngineError) -> (&'static str, bool) {
    match e {
        EngineError::OwnershipConflict { .. } => (reason::OWNERSHIP_CONFLICT, true),
        EngineError::HostConflict { .. } => (reason::HOST_CONFLICT, true),
        EngineError::AccountNotReady(_) => (reason::ACCOUNT_NOT_READY, false),
        EngineError::Aws { source, .. } => match source.category {
            Category::AccessDenied => (reason::AWS_ACCESS_DENIED, true),
            Category::QuotaExceeded => (reason::QUOTA_EXCEEDED, true),
            Category::Invalid => (reason::AWS_ERROR, true),
            _ => (reason::AWS_ERROR, false),
        },
    }
}

/// Status after a failure: `Stalled` for what will not fix itself, else `Reconciling`.
pub fn failed(
    generation: Option<i64>,
    reason: &str,
    stalled: bool,
    message: &str,
    previous: &CloudServiceStatus,
    now: &Time,
) -> CloudServiceStatus {
    let mut status = previous.clone();
    status.observed_generation = generation;
    set_condition(&mut status.conditions, READY, false, reason, message, generation, now);
    set_condition(
        &mut status.conditions,
        RECONCILING,
        !stalled,
        reason,
        if stalled { "" } else { message },
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        STALLED,
        stalled,
        reason,
        if stalled { message } else { "" },
        generation,
        now,
    );
    status
}

/// Status for an invalid spec.
pub fn invalid(
    generation: Option<i64>,
    e: &Invalid,
    previous: &CloudServiceStatus,
    now: &Time,
) -> CloudServiceStatus {
    failed(generation, e.reason, true, &format!("{}: {}", e.field, e.message), previous, now)
}
