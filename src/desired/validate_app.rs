//! Validation of what makes a service part of an application: `spec.autoscaling` and
//! `spec.private`, on their own and against the account. Pure; the same rules as the CRD's CEL, so
//! `byoc plan` refuses what the API server would.

use super::validate::{Invalid, check_pattern, check_range, invalid};
use crate::api::{CloudAccount, CloudServiceSpec, patterns};

/// The spec's own rules.
pub fn check_spec(spec: &CloudServiceSpec) -> Result<(), Invalid> {
    if let Some(a) = &spec.autoscaling {
        check_range("spec.autoscaling.minReplicas", a.min_replicas, 0, 1000)?;
        check_range("spec.autoscaling.maxReplicas", a.max_replicas, 1, 1000)?;
        if a.min_replicas > a.max_replicas {
            return Err(invalid(
                "spec.autoscaling.minReplicas",
                "must not be greater than maxReplicas",
            ));
        }
        let targets = [
            ("targetCpuPercent", a.target_cpu_percent, 100),
            ("targetMemoryPercent", a.target_memory_percent, 100),
            ("targetRequestsPerTask", a.target_requests_per_task, 1_000_000),
        ];
        if targets.iter().all(|(_, v, _)| v.is_none()) {
            return Err(invalid(
                "spec.autoscaling",
                "needs at least one target: targetCpuPercent, targetMemoryPercent or targetRequestsPerTask",
            ));
        }
        for (field, value, max) in targets {
            if let Some(v) = value {
                check_range(&format!("spec.autoscaling.{field}"), v, 1, max)?;
            }
        }
        if a.target_requests_per_task.is_some() && spec.ingress.is_none() {
            return Err(invalid(
                "spec.autoscaling.targetRequestsPerTask",
                "needs spec.ingress: requests are counted by the load balancer; scale on CPU or memory instead",
            ));
        }
        check_range(
            "spec.autoscaling.scaleInCooldownSeconds",
            a.scale_in_cooldown_seconds,
            0,
            3600,
        )?;
        check_range(
            "spec.autoscaling.scaleOutCooldownSeconds",
            a.scale_out_cooldown_seconds,
            0,
            3600,
        )?;
    }
    if let Some(p) = &spec.private {
        if spec.ports.is_empty() {
            return Err(invalid("spec.private", "needs at least one entry in spec.ports to serve"));
        }
        if let Some(name) = &p.name {
            check_pattern(
                "spec.private.name",
                name,
                patterns::PRIVATE_NAME,
                "a DNS name of lower-case labels, such as api or api.shop",
            )?;
            if name.len() > 253 {
                return Err(invalid("spec.private.name", "must be at most 253 characters"));
            }
        }
        for (i, port) in p.ports.iter().enumerate() {
            if !spec.ports.iter().any(|x| x.name == *port) {
                return Err(invalid(
                    format!("spec.private.ports[{i}]"),
                    format!("{port:?} must be the name of an entry in spec.ports"),
                ));
            }
        }
    }
    Ok(())
}

/// What the account must offer: a Service Connect namespace for `spec.private`.
pub fn check_account(spec: &CloudServiceSpec, account: &CloudAccount) -> Result<(), Invalid> {
    if spec.private.is_some() && account.spec.service_connect.is_none() {
        return Err(invalid(
            "spec.private",
            format!(
                "CloudAccount {:?} has no spec.serviceConnect, so private names cannot be served; ask the account's owner to set spec.serviceConnect.namespace, or remove spec.private",
                spec.account_ref.name
            ),
        ));
    }
    Ok(())
}
