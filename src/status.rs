//! kstatus conditions from a pipeline outcome. Pure: takes the outcome and the previous
//! conditions, returns the status to write (the controller) or print (`byoc apply`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::{
    api::{
        BuildPhase, BuildStatus, CloudServiceStatus, READY, RECONCILING, RolloutState, STALLED,
        reason, set_condition,
    },
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
        build: None,
        private_addresses: applied.private_addresses.clone(),
        autoscaling: applied.autoscaling.clone(),
        domains: Vec::new(),
    }
}

/// `status` with the build from source: while the image builds (or waits to appear in the
/// registry) the service is `Reconciling/Building`, even when an older image runs; a failed
/// build is `Stalled/BuildFailed` with its log, until a new commit or spec change.
pub fn with_build(
    mut status: CloudServiceStatus,
    build: BuildStatus,
    generation: Option<i64>,
    now: &Time,
) -> CloudServiceStatus {
    let (why, stalled, message) = match build.phase {
        BuildPhase::Succeeded => {
            status.build = Some(build);
            return status;
        }
        BuildPhase::Failed => (
            reason::BUILD_FAILED,
            true,
            build.message.clone().unwrap_or_else(|| "the build failed".into()),
        ),
        BuildPhase::Building | BuildPhase::WaitingForImage => (
            reason::BUILDING,
            false,
            build.message.clone().unwrap_or_else(|| format!("building {}", build.source)),
        ),
    };
    let conditions = &mut status.conditions;
    set_condition(conditions, READY, false, why, &message, generation, now);
    let (rec, stall) = if stalled { ("", message.as_str()) } else { (message.as_str(), "") };
    set_condition(conditions, RECONCILING, !stalled, why, rec, generation, now);
    set_condition(conditions, STALLED, stalled, why, stall, generation, now);
    status.observed_generation = generation;
    status.build = Some(build);
    status
}

/// The condition reason and whether the problem is stalled (needs a change from the user) for an
/// engine error.
pub fn classify(e: &EngineError) -> (&'static str, bool) {
    match e {
        EngineError::OwnershipConflict { .. } => (reason::OWNERSHIP_CONFLICT, true),
        EngineError::HostConflict { .. } => (reason::HOST_CONFLICT, true),
        EngineError::AccountNotReady(_) => (reason::ACCOUNT_NOT_READY, false),
        EngineError::Invalid(_) => (reason::INVALID_SPEC, true),
        EngineError::Unreachable(_) => (reason::SOURCE_UNREACHABLE, false),
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

/// `status` with the service's hosts on custom domains (when the account has `spec.domains`):
/// each host's certificate and the records to create where the operator may not write the zone;
/// the URL is `https` once every host's certificate is issued on a load balancer with an HTTPS
/// listener, `http` until then.
pub fn with_domains(
    mut status: CloudServiceStatus,
    spec: &crate::api::CloudServiceSpec,
    account: &crate::api::CloudAccountSpec,
    domains: &[crate::api::DomainStatus],
    load_balancer_dns: Option<&str>,
) -> CloudServiceStatus {
    let (Some(_), Some(ingress)) = (&account.domains, &spec.ingress) else { return status };
    let (hosts, issued) =
        crate::desired::domains::host_statuses(&ingress.hosts, domains, load_balancer_dns);
    let https = account
        .load_balancers
        .iter()
        .any(|l| l.name == ingress.load_balancer && l.certificate_arn.is_some());
    status.domains = hosts;
    if !status.domains.is_empty() {
        status.url = status.url.map(|url| {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest).to_string();
            format!("{}://{rest}", if https && issued { "https" } else { "http" })
        });
    }
    status
}
