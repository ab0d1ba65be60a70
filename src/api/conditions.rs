//! kstatus conditions: the three types, their stable reasons, and a pure helper that sets one while
//! keeping `lastTransitionTime` unless the status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The service is deployed and serving as specified.
pub const READY: &str = "Ready";
/// The operator is working towards the spec (creating, rolling out, deleting).
pub const RECONCILING: &str = "Reconciling";
/// The operator cannot make progress without a change from the user.
pub const STALLED: &str = "Stalled";
/// `spec.suspend` holds the service: nothing is reconciled until it is false again.
pub const SUSPENDED: &str = "Suspended";

/// Stable reasons used in conditions.
pub mod reason {
    pub const READY: &str = "Ready";
    pub const PROGRESSING: &str = "Progressing";
    pub const ROLLING_OUT: &str = "RollingOut";
    pub const DELETING: &str = "Deleting";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const OWNERSHIP_CONFLICT: &str = "OwnershipConflict";
    pub const HOST_CONFLICT: &str = "HostConflict";
    /// Another service of the account already serves the private name and port.
    pub const PRIVATE_NAME_CONFLICT: &str = "PrivateNameConflict";
    pub const ACCOUNT_NOT_READY: &str = "AccountNotReady";
    pub const NAMESPACE_NOT_ALLOWED: &str = "NamespaceNotAllowed";
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    /// The image is being built from source (Reconciling).
    pub const BUILDING: &str = "Building";
    /// The build from source failed (Stalled); a new commit or spec change builds again.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// The build's source (a Git host) did not answer; retried with backoff.
    pub const SOURCE_UNREACHABLE: &str = "SourceUnreachable";
    pub const AWS_ACCESS_DENIED: &str = "AwsAccessDenied";
    pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";
    pub const AWS_ERROR: &str = "AwsError";
    /// The annotation `byoc.dev/plan-only` holds the service: the plan is in `status.plan`,
    /// nothing is applied.
    pub const PLAN_ONLY: &str = "PlanOnly";
    /// `spec.suspend` is true (the `Suspended` condition).
    pub const SUSPENDED: &str = "Suspended";
}

/// Sets condition `type_` in `conditions`. `lastTransitionTime` is `now` only when the condition is
/// new or its status changes; a changed reason or message alone keeps the old time.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation,
            last_transition_time: now.clone(),
        }),
    }
}

/// Whether condition `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn transition_time_changes_only_when_status_flips() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            READY,
            false,
            "Progressing",
            "creating",
            Some(1),
            &time("2026-01-01T00:00:00Z"),
        );
        set_condition(
            &mut conditions,
            READY,
            false,
            "RollingOut",
            "1/2 running",
            Some(1),
            &time("2026-01-01T00:01:00Z"),
        );
        assert_eq!(conditions[0].last_transition_time, time("2026-01-01T00:00:00Z"));
        assert_eq!(conditions[0].reason, "RollingOut");
        set_condition(
            &mut conditions,
            READY,
            true,
            "Ready",
            "2/2 running",
            Some(1),
            &time("2026-01-01T00:02:00Z"),
        );
        assert_eq!(conditions[0].last_transition_time, time("2026-01-01T00:02:00Z"));
        assert!(is_true(&conditions, READY));
    }
}
