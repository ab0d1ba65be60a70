//! kstatus conditions from a pipeline outcome. Pure: takes the outcome and the previous
//! conditions, returns the status to write (the controller) or print (`byoc apply`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::{
    api::{
        BuildPhase, BuildStatus, CloudServiceStatus, READY, RECONCILING, RolloutState, STALLED,
        SUSPENDED, reason, set_condition,
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
        plan: None,
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

/// Status after a failure: `Stalled` for what will not fix itself, else `Reconciling`; no plan.
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
    // A preview that cannot be computed has no plan to show.
    status.plan = None;
    set_failed(&mut status.conditions, reason, stalled, message, generation, now);
    status
}

/// The conditions of a failure, for a CloudService or a CloudAccount: `Ready` false, and
/// `Stalled` (needs a change) or `Reconciling` (retried) with `reason` and `message`.
pub fn set_failed(
    conditions: &mut Vec<Condition>,
    reason: &str,
    stalled: bool,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    set_condition(conditions, READY, false, reason, message, generation, now);
    let (reconciling, stalled_message) = if stalled { ("", message) } else { (message, "") };
    set_condition(conditions, RECONCILING, !stalled, reason, reconciling, generation, now);
    set_condition(conditions, STALLED, stalled, reason, stalled_message, generation, now);
}

/// The message of the `Suspended` condition.
pub const SUSPENDED_MESSAGE: &str = "spec.suspend is true: no AWS changes, drift is not corrected; deleting the CloudService still deletes its AWS resources";

/// `previous` with the `Suspended` condition: everything else stays as last observed, so the
/// status says what AWS looked like when the service was suspended.
pub fn suspended(
    previous: &CloudServiceStatus,
    generation: Option<i64>,
    now: &Time,
) -> CloudServiceStatus {
    let mut status = previous.clone();
    set_condition(
        &mut status.conditions,
        SUSPENDED,
        true,
        reason::SUSPENDED,
        SUSPENDED_MESSAGE,
        generation,
        now,
    );
    status
}

/// `previous` without what holding a service left in it (the `Suspended` condition and the
/// plan of a preview): the status of a service the controller applies again.
pub fn resumed(previous: &CloudServiceStatus) -> CloudServiceStatus {
    let mut status = previous.clone();
    status.conditions.retain(|c| c.type_ != SUSPENDED);
    status.plan = None;
    status
}

/// Status of a preview (`byoc.dev/plan-only`): the plan of this generation in `status.plan`,
/// with the conditions of `set_planned`. `label` heads the text as in `byoc plan`.
pub fn planned(
    generation: Option<i64>,
    label: &str,
    plan: &crate::resources::Plan,
    suspended: bool,
    previous: &CloudServiceStatus,
    now: &Time,
) -> CloudServiceStatus {
    let mut status =
        if suspended { self::suspended(previous, generation, now) } else { resumed(previous) };
    status.observed_generation = generation;
    status.plan = Some(plan_status(generation, label, plan));
    set_planned(&mut status.conditions, plan, generation, now);
    status
}

/// `plan` as the API publishes it (a CloudService's or CloudAccount's `status.plan`), its text
/// headed by `label` as `byoc plan` prints it.
pub fn plan_status(
    generation: Option<i64>,
    label: &str,
    plan: &crate::resources::Plan,
) -> crate::api::PlanStatus {
    crate::api::PlanStatus {
        observed_generation: generation,
        pending: !plan.is_empty(),
        text: format!("{label}\n{plan}"),
        changes: plan.to_api(),
    }
}

/// The conditions of a preview: `Ready` false with reason `PlanOnly` (the spec is not applied)
/// and a message counting the pending changes; neither reconciling nor stalled, since the
/// preview is complete.
pub fn set_planned(
    conditions: &mut Vec<Condition>,
    plan: &crate::resources::Plan,
    generation: Option<i64>,
    now: &Time,
) {
    let annotation = crate::api::PLAN_ONLY_ANNOTATION;
    let message = if plan.is_empty() {
        format!("{annotation} is set: AWS already matches the spec (no changes pending)")
    } else {
        let count = plan
            .changes
            .iter()
            .filter(|c| {
                !matches!(
                    c.action,
                    crate::resources::Action::Retain | crate::resources::Action::Keep(_)
                )
            })
            .count();
        format!(
            "{annotation} is set: {count} AWS change(s) pending, see status.plan; remove the annotation to apply them"
        )
    };
    set_condition(conditions, READY, false, reason::PLAN_ONLY, &message, generation, now);
    set_condition(conditions, RECONCILING, false, reason::PLAN_ONLY, "", generation, now);
    set_condition(conditions, STALLED, false, reason::PLAN_ONLY, "", generation, now);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Action, Change, FieldChange, Kind, Plan};

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn ready_status() -> CloudServiceStatus {
        let mut conditions = Vec::new();
        let t = at("2026-01-01T00:00:00Z");
        set_condition(&mut conditions, READY, true, reason::READY, "1/1 tasks", Some(1), &t);
        set_condition(&mut conditions, RECONCILING, false, reason::READY, "", Some(1), &t);
        set_condition(&mut conditions, STALLED, false, reason::READY, "", Some(1), &t);
        CloudServiceStatus {
            observed_generation: Some(1),
            conditions,
            url: Some("http://web.example.com".into()),
            ..Default::default()
        }
    }

    fn condition<'a>(s: &'a CloudServiceStatus, type_: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn a_suspended_status_keeps_the_last_observation_and_says_why() {
        let previous = ready_status();
        let next = suspended(&previous, Some(2), &at("2026-01-02T00:00:00Z"));
        assert_eq!(next.observed_generation, Some(1), "the applied generation stays");
        assert_eq!(condition(&next, READY), condition(&previous, READY));
        let s = condition(&next, SUSPENDED);
        assert_eq!((s.status.as_str(), s.reason.as_str()), ("True", reason::SUSPENDED));
        assert_eq!(s.observed_generation, Some(2));
        // Suspending again later keeps the transition time.
        let again = suspended(&next, Some(3), &at("2026-01-03T00:00:00Z"));
        assert_eq!(condition(&again, SUSPENDED).last_transition_time, s.last_transition_time);
        assert_eq!(resumed(&again), previous);
    }

    #[test]
    fn a_preview_publishes_the_plan_text_and_changes_with_ready_false() {
        let plan = Plan {
            changes: vec![
                Change::new(Kind::TargetGroup, "web-1a2b", Action::Create),
                Change::new(
                    Kind::EcsService,
                    "web",
                    Action::Update(vec![FieldChange::new("desiredCount", 1, 2)]),
                ),
                Change::new(Kind::Repository, "byoc/shop/web", Action::Keep("images".into())),
            ],
        };
        let now = at("2026-01-02T00:00:00Z");
        let next = planned(Some(2), "CloudService shop/web", &plan, false, &ready_status(), &now);
        let p = next.plan.clone().unwrap();
        assert!(p.pending);
        assert_eq!(p.observed_generation, Some(2));
        assert_eq!(p.text, format!("CloudService shop/web\n{plan}"));
        assert_eq!(p.changes.len(), 3);
        assert_eq!(p.changes[1].action, crate::api::PlannedAction::Update);
        assert_eq!(p.changes[1].fields[0].field, "desiredCount");
        assert_eq!(p.changes[2].reason.as_deref(), Some("images"));
        let ready = condition(&next, READY);
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", reason::PLAN_ONLY));
        assert!(ready.message.contains("2 AWS change(s) pending"), "{}", ready.message);
        assert_eq!(condition(&next, RECONCILING).status, "False");
        assert_eq!(condition(&next, STALLED).status, "False");
        assert!(next.conditions.iter().all(|c| c.type_ != SUSPENDED));
        assert_eq!(next.url, ready_status().url, "what exists stays in the status");

        let nothing =
            planned(Some(2), "CloudService shop/web", &Plan::default(), true, &next, &now);
        assert!(!nothing.plan.as_ref().unwrap().pending);
        assert!(condition(&nothing, READY).message.contains("no changes pending"));
        assert_eq!(condition(&nothing, SUSPENDED).status, "True");
    }
}
