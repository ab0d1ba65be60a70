//! Status types written by the operator (and printed by `byoc apply`): what exists in AWS, how the
//! ECS rollout is going, and kstatus conditions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a CloudService.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled` (kstatus), with stable CamelCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Where the service answers, when it has an ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Progress of the current ECS deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// One entry per AWS resource of this service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// The image build from source (`spec.build`): the last one started for this spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<super::BuildStatus>,
    /// Where the account's other services reach this one privately (`spec.private`), as
    /// `name:port` (Service Connect).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private_addresses: Vec<String>,
    /// The autoscaler's bounds and its current choice (`spec.autoscaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<super::AutoscalingStatus>,
    /// The service's hosts on custom domains (the account's `spec.domains`): certificate state
    /// and the records to create where the operator may not write the zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<super::HostStatus>,
    /// What applying the spec would change in AWS, computed with reads only while the
    /// annotation `byoc.dev/plan-only: "true"` is set (a preview, e.g. for a pull request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
}

/// A plan computed against live AWS without changing anything, as `byoc plan` shows it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// The `metadata.generation` planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether applying would change anything in AWS.
    pub pending: bool,
    /// The plan as `byoc plan` prints it.
    pub text: String,
    /// The changes, one per AWS resource, in the order applying would make them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<PlannedChange>,
}

/// One AWS resource a plan would change.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    /// Kind of AWS resource, e.g. `TargetGroup`.
    pub kind: String,
    /// Its name, ARN or id in AWS.
    pub id: String,
    /// `Create`, `Update`, `Replace`, `Delete`, `Retain` (left by `deletionPolicy: Retain`) or
    /// `Keep` (left in place, see `reason`).
    pub action: PlannedAction,
    /// The fields an `Update` changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<PlannedField>,
    /// Why a resource is replaced (the immutable property that changed) or kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a plan does to one resource.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedAction {
    Create,
    Update,
    Replace,
    Delete,
    Retain,
    Keep,
}

/// One field an update changes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedField {
    /// The field, e.g. `desiredCount`.
    pub field: String,
    /// Its value in AWS now.
    pub from: String,
    /// Its value after applying.
    pub to: String,
}

/// Progress of the ECS deployment of the current task definition.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// `InProgress`, `Completed` or `Failed` (the circuit breaker stopped it, ECS rolled it back,
    /// or it missed `spec.deployment.progressDeadlineSeconds`).
    pub state: RolloutState,
    /// Tasks running for the current task definition.
    pub running: i32,
    /// Tasks wanted.
    pub desired: i32,
    /// Tasks starting.
    pub pending: i32,
    /// Task definition revision being rolled out, as `family:revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// ECS' explanation of the rollout state (e.g. why the circuit breaker tripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether ECS rolled back to the previous deployment after a failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolled_back: bool,
    /// Tasks of this deployment that stopped before becoming healthy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_tasks: i32,
    /// The ECS deployment id (`ecs-svc/…`) of this rollout, as ECS returned it when the operator
    /// started it. A rollout is tracked by this id, so a deployment that ECS rolled back and then
    /// dropped is still known to have failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// State of an ECS deployment.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RolloutState {
    #[default]
    InProgress,
    Completed,
    Failed,
}

/// One AWS resource of a service.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// Kind of AWS resource, e.g. `TargetGroup`.
    pub kind: String,
    /// Its name, ARN or id in AWS.
    pub id: String,
    /// `Ready`, `Pending`, `Deleting`, `Retained` or `Failed`.
    pub state: ResourceState,
    /// The last AWS error for this resource, until it succeeds again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ResourceError>,
}

/// State of one AWS resource.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceState {
    Ready,
    Pending,
    Deleting,
    Retained,
    Failed,
}

/// An AWS error on one resource.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceError {
    /// The AWS operation, e.g. `CreateTargetGroup`.
    pub operation: String,
    /// The AWS error code, e.g. `AccessDenied`.
    pub code: String,
    /// The AWS error message.
    pub message: String,
}

/// Observed state of a CloudAccount.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled` (kstatus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The 12-digit AWS account id the operator reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// ARN of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// ARN of the AWS Cloud Map namespace of `spec.serviceConnect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_namespace_arn: Option<String>,
    /// Each host name family of the services (`spec.domains`): its certificate and records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<super::DomainStatus>,
    /// State of each load balancer of the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancerStatus>,
    /// What applying the spec would change in AWS, computed with reads only while the
    /// annotation `byoc.dev/plan-only: "true"` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
}

/// State of one shared load balancer.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// Name in the account's pool.
    pub name: String,
    /// ARN of the ALB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Public DNS name of the ALB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// ARN of the listener services' rules go on (HTTPS when a certificate is set, else HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_arn: Option<String>,
    /// Listener rules in use, out of the ALB's quota.
    #[serde(default)]
    pub rules: i32,
    /// Target groups attached, out of the ALB's limit of 100.
    #[serde(default)]
    pub target_groups: i32,
}
