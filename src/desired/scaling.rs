//! The desired autoscaling of a service (`spec.autoscaling`): one Application Auto Scaling
//! scalable target on the ECS service's desired count and one target-tracking policy per target
//! the spec names. Pure.

use crate::api::Autoscaling;

/// Prefix of the policy names the operator owns on its scalable targets: others' policies on the
/// same target are never changed or deleted.
pub const POLICY_PREFIX: &str = "byoc-";

/// What Application Auto Scaling should hold for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredScaling {
    /// `service/<cluster>/<service>`, the scalable target's `ResourceId`.
    pub resource_id: String,
    pub min: i32,
    pub max: i32,
    pub policies: Vec<DesiredPolicy>,
}

/// One target-tracking policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPolicy {
    pub name: String,
    pub metric: Metric,
    pub target: i32,
    pub scale_in_cooldown: i32,
    pub scale_out_cooldown: i32,
}

/// The predefined metric a policy tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Cpu,
    Memory,
    /// ALB requests per target per minute; needs the target group and load balancer (the
    /// policy's resource label).
    Requests,
}

impl Metric {
    /// Application Auto Scaling's `PredefinedMetricType`.
    pub fn predefined(self) -> &'static str {
        match self {
            Metric::Cpu => "ECSServiceAverageCPUUtilization",
            Metric::Memory => "ECSServiceAverageMemoryUtilization",
            Metric::Requests => "ALBRequestCountPerTarget",
        }
    }

    /// The short name in policy names and status.
    pub fn short(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Requests => "requests",
        }
    }
}

/// The scalable target's resource id for an ECS service.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// The desired scaling of `spec.autoscaling` for the ECS service `service` of `cluster`.
pub fn desired_scaling(a: &Autoscaling, cluster: &str, service: &str) -> DesiredScaling {
    let targets = [
        (Metric::Cpu, a.target_cpu_percent),
        (Metric::Memory, a.target_memory_percent),
        (Metric::Requests, a.target_requests_per_task),
    ];
    DesiredScaling {
        resource_id: resource_id(cluster, service),
        min: a.min_replicas,
        max: a.max_replicas,
        policies: targets
            .into_iter()
            .filter_map(|(metric, target)| {
                Some(DesiredPolicy {
                    name: format!("{POLICY_PREFIX}{}", metric.short()),
                    metric,
                    target: target?,
                    scale_in_cooldown: a.scale_in_cooldown_seconds,
                    scale_out_cooldown: a.scale_out_cooldown_seconds,
                })
            })
            .collect(),
    }
}

/// The ALB request metric's resource label, `app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>`,
/// from the load balancer's and target group's ARNs (`PredefinedMetricSpecification`, Application
/// Auto Scaling API Reference).
pub fn request_label(load_balancer_arn: &str, target_group_arn: &str) -> Option<String> {
    let lb = load_balancer_arn.split_once(":loadbalancer/")?.1;
    let tg = target_group_arn.split_once(":targetgroup/")?.1;
    Some(format!("{lb}/targetgroup/{tg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Autoscaling {
        Autoscaling {
            min_replicas: 2,
            max_replicas: 10,
            target_cpu_percent: Some(60),
            target_memory_percent: None,
            target_requests_per_task: Some(500),
            scale_in_cooldown_seconds: 300,
            scale_out_cooldown_seconds: 60,
        }
    }

    #[test]
    fn one_policy_per_target_the_spec_names() {
        let d = desired_scaling(&spec(), "apps", "shop-web-1a2b3c");
        assert_eq!(d.resource_id, "service/apps/shop-web-1a2b3c");
        let names: Vec<&str> = d.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["byoc-cpu", "byoc-requests"]);
        assert_eq!((d.min, d.max), (2, 10));
    }

    #[test]
    fn the_request_label_joins_the_load_balancer_and_target_group_suffixes() {
        let lb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/byoc-public/50dc6c495c0c9188";
        let tg = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-web/943f017f100becff";
        assert_eq!(
            request_label(lb, tg).as_deref(),
            Some("app/byoc-public/50dc6c495c0c9188/targetgroup/shop-web/943f017f100becff")
        );
        assert_eq!(request_label("nonsense", tg), None);
    }
}
