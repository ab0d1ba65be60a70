//! `spec.autoscaling`: Application Auto Scaling target tracking on the ECS service's desired
//! count, and `status.autoscaling`, what the autoscaler chose. With autoscaling on, the operator
//! sets the desired count only when it creates the ECS service; afterwards the autoscaler owns it.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Scale the number of tasks between `minReplicas` and `maxReplicas` to hold one or more
/// targets (Application Auto Scaling target tracking; each target is one policy, and the service
/// scales out when any policy asks for it and in only when all of them allow it).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.minReplicas <= self.maxReplicas").message("spec.autoscaling.minReplicas must not be greater than maxReplicas"))]
#[x_kube(validation = kube::core::Rule::new("has(self.targetCpuPercent) || has(self.targetMemoryPercent) || has(self.targetRequestsPerTask)")
        .message("spec.autoscaling needs at least one target: targetCpuPercent, targetMemoryPercent or targetRequestsPerTask")
        .reason(kube::core::Reason::FieldValueRequired))]
pub struct Autoscaling {
    /// Fewest tasks the autoscaler keeps running.
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: i32,
    /// Most tasks the autoscaler starts.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Average CPU utilization of the service's tasks to hold, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_percent: Option<i32>,
    /// Average memory utilization of the service's tasks to hold, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_percent: Option<i32>,
    /// Requests per task per minute on the load balancer to hold (ALB `RequestCountPerTarget`).
    /// Needs `spec.ingress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub target_requests_per_task: Option<i32>,
    /// Seconds after a scale-in before the next scale-in.
    #[serde(default = "default_scale_in_cooldown")]
    #[schemars(range(min = 0, max = 3600))]
    pub scale_in_cooldown_seconds: i32,
    /// Seconds after a scale-out before the next scale-out.
    #[serde(default = "default_scale_out_cooldown")]
    #[schemars(range(min = 0, max = 3600))]
    pub scale_out_cooldown_seconds: i32,
}

fn default_scale_in_cooldown() -> i32 {
    300
}
fn default_scale_out_cooldown() -> i32 {
    60
}

/// What the autoscaler is doing.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingStatus {
    /// The lower bound registered with Application Auto Scaling.
    pub min_replicas: i32,
    /// The upper bound registered with Application Auto Scaling.
    pub max_replicas: i32,
    /// The desired count the autoscaler chose (the ECS service's desired count).
    pub desired_replicas: i32,
    /// Tasks running now.
    pub running_replicas: i32,
    /// The target-tracking policies in force, e.g. `cpu`, `memory`, `requests`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}
