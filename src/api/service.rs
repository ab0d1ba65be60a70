//! `CloudService`: one container service a team owns, deployed as an ECS Fargate service with its
//! image repository, log group and (optionally) a route on a shared Application Load Balancer.

// Each `printcolumn(...)` repeats the keys `name`, `type_` and `json_path`; that is the derive's syntax.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CloudServiceStatus, DeletionPolicy, fargate, patterns};

/// A container service deployed into a `CloudAccount`: an ECS Fargate service, its task definition,
/// a CloudWatch log group, optionally an ECR repository, and optionally a host/path route on one of
/// the account's shared Application Load Balancers.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "byoc.dev",
    version = "v1alpha1",
    kind = "CloudService",
    plural = "cloudservices",
    shortname = "csvc",
    category = "byoc",
    namespaced,
    status = "CloudServiceStatus",
    doc = "A container service deployed into your own AWS account as an ECS Fargate service, with its log group, optional ECR repository and optional route on a shared Application Load Balancer.",
    printcolumn(name = "Account", type_ = "string", json_path = ".spec.accountRef.name"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // The ECR repository is `byoc/<namespace>/<name>`, and ECR's name rule allows no doubled
    // separators (CreateRepository repositoryName,
    // https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html).
    // CEL at the root sees metadata.name but not metadata.namespace, so the namespace and the
    // 256-character limit are checked by `desired::validate` only.
    validation = kube::core::Rule::new("(!has(self.spec.repository) && !has(self.spec.build)) || !self.metadata.name.contains('--')")
        .message("metadata.name must not contain '--' when spec.repository or spec.build is set: the ECR repository byoc/<namespace>/<name> allows no doubled separators; rename the CloudService, or drop spec.repository and push to an existing registry")
        .reason(kube::core::Reason::FieldValueInvalid)
)]
#[x_kube(validation = kube::core::Rule::new("has(self.image) != has(self.build)")
        .message("set exactly one of spec.image (an image someone built) and spec.build (build it from source in the account)")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[x_kube(validation = kube::core::Rule::new("!has(self.ingress) || (has(self.ports) && self.ports.exists(p, p.name == self.ingress.port))")
        .message("spec.ingress.port must be the name of an entry in spec.ports")
        .field_path(".ingress.port")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[x_kube(validation = kube::core::Rule::new("!has(self.private) || !has(self.private.ports) || self.private.ports.all(n, has(self.ports) && self.ports.exists(p, p.name == n))")
        .message("spec.private.ports must name entries of spec.ports")
        .field_path(".private.ports")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[x_kube(validation = kube::core::Rule::new("!has(self.private) || (has(self.ports) && size(self.ports) > 0)")
        .message("spec.private needs at least one entry in spec.ports to serve")
        .field_path(".private")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[x_kube(validation = kube::core::Rule::new("!has(self.autoscaling) || !has(self.autoscaling.targetRequestsPerTask) || has(self.ingress)")
        .message("spec.autoscaling.targetRequestsPerTask needs spec.ingress: requests are counted by the load balancer")
        .field_path(".autoscaling.targetRequestsPerTask")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[x_kube(validation = kube::core::Rule::new("!has(self.healthCheck) || !has(self.healthCheck.port) || (has(self.ports) && self.ports.exists(p, p.name == self.healthCheck.port))")
        .message("spec.healthCheck.port must be the name of an entry in spec.ports")
        .field_path(".healthCheck.port")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[x_kube(validation = kube::core::Rule::new(fargate::size_rule())
        .message("spec.cpu and spec.memory must be a valid Fargate combination: 0.25 vCPU takes 512Mi, 1Gi or 2Gi; 0.5 takes 1-4Gi; 1 takes 2-8Gi; 2 takes 4-16Gi; 4 takes 8-30Gi (1Gi steps); 8 takes 16-60Gi (4Gi steps); 16 takes 32-120Gi (8Gi steps)")
        .field_path(".memory")
        .reason(kube::core::Reason::FieldValueInvalid))]
#[serde(rename_all = "camelCase")]
pub struct CloudServiceSpec {
    /// The CloudAccount to deploy into. Immutable: to move a service, delete and recreate it.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("spec.accountRef is immutable; delete the CloudService and create it again to move it to another account"))]
    pub account_ref: AccountRef,

    /// Container image, by tag or digest, e.g. `nginx:1.27` or
    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:…`. Set exactly one of
    /// `image` and `build`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = patterns::IMAGE))]
    pub image: Option<String>,

    /// Build the image from source in the account (AWS CodeBuild), push it to the service's own
    /// ECR repository (`byoc/<namespace>/<name>`, created with `repository`'s defaults when that
    /// is not set) and run exactly that image, pinned by digest. An unchanged source never builds
    /// again. The CloudAccount must name a CodeBuild role in `spec.build`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<super::Build>,

    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    pub command: Vec<String>,

    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    pub args: Vec<String>,

    /// Ports the container listens on (TCP). `ingress.port` and `healthCheck.port` refer to them by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub ports: Vec<ContainerPort>,

    /// Environment variables: plain values, or values read from a Kubernetes Secret (stored in AWS
    /// Secrets Manager under the operator's ownership and injected as ECS secrets, never as plain text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub env: Vec<EnvVar>,

    /// vCPU for the task: one of 0.25, 0.5, 1, 2, 4, 8, 16 (or in millicores: 250m, 500m, 1000m, …).
    #[serde(default = "default_cpu")]
    #[schemars(regex(pattern = fargate::CPU_PATTERN), length(max = 8))]
    pub cpu: String,

    /// Memory for the task as a whole number of `Mi` or `Gi` (e.g. `512Mi`, `2Gi`); must be a valid
    /// Fargate combination with `cpu`.
    #[serde(default = "default_memory")]
    #[schemars(regex(pattern = fargate::MEMORY_PATTERN), length(max = 9))]
    pub memory: String,

    /// Number of tasks to run. 0 stops the service but keeps everything else.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,

    /// HTTP health check used by the load balancer target group (and ECS' grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,

    /// Route traffic to this service from one of the account's shared load balancers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress>,

    /// Serve some ports privately to the account's other services at a stable name, without the
    /// load balancer (ECS Service Connect; the account must declare `spec.serviceConnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<super::Private>,

    /// Scale the number of tasks with load (Application Auto Scaling). `replicas` is then only
    /// the count the service starts with; the autoscaler owns it afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<super::Autoscaling>,

    /// CloudWatch Logs settings for the container's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Logs>,

    /// Create an ECR repository for this service's images. Omit to use an existing registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,

    /// Rolling deployment settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,

    /// IAM role the application assumes (the ECS task role). The account's execution role is used to
    /// pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::ROLE_ARN), length(max = 2048))]
    pub task_role_arn: Option<String>,

    /// What happens to the AWS resources when this CloudService is deleted: `Delete` removes them,
    /// `Retain` leaves them in the account (untagged from nothing; they keep their tags). Defaults to
    /// the account's `defaults.deletionPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Extra AWS tags on every resource of this service (merged over the account's tags). Keys
    /// starting with `byoc.dev/` or `aws:` are reserved. At most 45 together with the account's
    /// tags: AWS allows 50 tags per resource and the operator adds up to 5.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = super::USER_TAGS_MAX))]
    #[x_kube(validation = super::tag_keys_rule())]
    #[x_kube(validation = super::tag_values_rule())]
    pub tags: BTreeMap<String, String>,

    /// Stop reconciling this service: no AWS writes, drift is not corrected, the status keeps the
    /// last observation (with `Suspended` true). Deleting the CloudService still deletes its AWS
    /// resources. With the annotation `byoc.dev/plan-only: "true"` the plan is still computed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

fn default_cpu() -> String {
    "0.25".into()
}
fn default_memory() -> String {
    "512Mi".into()
}
fn default_replicas() -> i32 {
    1
}

/// Reference to a cluster-scoped `CloudAccount`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AccountRef {
    /// Name of the CloudAccount.
    #[schemars(length(min = 1, max = 253), regex(pattern = patterns::OBJECT_NAME))]
    pub name: String,
}

/// A TCP port the container listens on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Name of the port (an IANA service name such as `http`), unique within the service.
    #[schemars(length(min = 1, max = 15), regex(pattern = patterns::PORT_NAME))]
    pub name: String,
    /// Port number inside the container.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
}

/// One environment variable. Set exactly one of `value` and `valueFrom`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.value) != has(self.valueFrom)").message("set exactly one of value and valueFrom"))]
pub struct EnvVar {
    /// Variable name.
    #[schemars(length(min = 1, max = 255), regex(pattern = patterns::ENV_NAME))]
    pub name: String,
    /// Plain value. Do not put secrets here: use `valueFrom.secretKeyRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32768))]
    pub value: Option<String>,
    /// Read the value from a Kubernetes Secret in the service's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    /// A key of a Secret in the service's namespace.
    pub secret_key_ref: SecretKeyRef,
}

/// A key of a Kubernetes Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the CloudService's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = patterns::OBJECT_NAME))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// HTTP health check of the service's tasks.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.timeoutSeconds < self.intervalSeconds").message("spec.healthCheck.timeoutSeconds must be less than intervalSeconds"))]
#[x_kube(validation = kube::core::Rule::new("!has(self.successCodes) || !self.successCodes.contains('-') || self.successCodes.substring(0, 3) <= self.successCodes.substring(4)")
        .message("spec.healthCheck.successCodes: a range runs from the lower code to the higher, e.g. 200-399")
        .field_path(".successCodes")
        .reason(kube::core::Reason::FieldValueInvalid))]
pub struct HealthCheck {
    /// Path requested by the load balancer, e.g. `/healthz`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = patterns::HTTP_PATH))]
    pub path: String,
    /// Name of the port to check; defaults to `ingress.port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = patterns::PORT_NAME))]
    pub port: Option<String>,
    /// Seconds between checks.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: i32,
    /// Seconds without a response before a check fails.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout_seconds: i32,
    /// Consecutive successes before a task counts as healthy.
    #[serde(default = "default_healthy")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: i32,
    /// Consecutive failures before a task counts as unhealthy.
    #[serde(default = "default_unhealthy")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: i32,
    /// HTTP status codes that count as healthy, between 200 and 499: one code (`200`), a list
    /// (`200,204`) or one range (`200-399`).
    #[serde(default = "default_matcher")]
    #[schemars(length(min = 1, max = 64), regex(pattern = patterns::SUCCESS_CODES))]
    pub success_codes: String,
    /// Seconds ECS ignores failing health checks after a task starts.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 0, max = 7200))]
    pub grace_period_seconds: i32,
    /// Shell command ECS runs inside the container as its own health check, e.g.
    /// `curl -fsS http://localhost:8080/healthz || exit 1`. Omit when the image has no such tool:
    /// the load balancer's HTTP check still applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub command: Option<String>,
}

fn default_interval() -> i32 {
    30
}
fn default_timeout() -> i32 {
    5
}
fn default_healthy() -> i32 {
    3
}
fn default_unhealthy() -> i32 {
    3
}
fn default_matcher() -> String {
    "200-399".into()
}
fn default_grace() -> i32 {
    60
}

/// A route from a shared load balancer to this service. At least one host or path, at most five
/// in total (an ALB rule's limit).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("(has(self.hosts) ? size(self.hosts) : 0) + (has(self.paths) ? size(self.paths) : 0) >= 1 && (has(self.hosts) ? size(self.hosts) : 0) + (has(self.paths) ? size(self.paths) : 0) <= 5").message("spec.ingress needs at least one of hosts and paths, and at most five host and path values in total"))]
pub struct Ingress {
    /// Name of a load balancer in the account's `loadBalancers` pool.
    #[schemars(length(min = 1, max = 32), regex(pattern = patterns::DNS_LABEL))]
    pub load_balancer: String,
    /// Host names to match (host-header), e.g. `shop.example.com` or `*.example.com`: at least one
    /// dot and only letters after the last one, as ALB host conditions require; `*` and `?` are
    /// wildcards.
    #[serde(default)]
    #[schemars(length(max = 5), inner(length(min = 1, max = 128), regex(pattern = patterns::HOST)))]
    pub hosts: Vec<String>,
    /// Path patterns to match, e.g. `/api/*`. Omit to match every path of the hosts.
    #[serde(default)]
    #[schemars(length(max = 5), inner(length(min = 1, max = 128), regex(pattern = patterns::PATH_PATTERN)))]
    pub paths: Vec<String>,
    /// Name of the entry in `ports` that receives the traffic.
    #[schemars(length(min = 1, max = 15), regex(pattern = patterns::PORT_NAME))]
    pub port: String,
    /// Seconds the load balancer keeps sending in-flight requests to a task that is being
    /// stopped (the target group's deregistration delay). AWS's own default of 300 s would add up
    /// to five minutes to every rollout and deletion.
    #[serde(default = "default_deregistration_delay")]
    #[schemars(range(min = 0, max = 3600))]
    pub deregistration_delay_seconds: i32,
}

fn default_deregistration_delay() -> i32 {
    30
}

/// CloudWatch Logs settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Logs {
    /// Days to keep log events; one of CloudWatch's allowed values. Defaults to the account's
    /// `defaults.logRetentionDays`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = super::RETENTION_DAYS))]
    pub retention_days: Option<i32>,
}

/// An ECR repository created and owned for this service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// Scan images for vulnerabilities when they are pushed.
    #[serde(default = "default_true")]
    pub scan_on_push: bool,
    /// Whether a tag may be pushed again with other content.
    #[serde(default)]
    pub tag_mutability: TagMutability,
    /// Keep only this many most recent images (a lifecycle policy expires older ones).
    #[serde(default = "default_keep")]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_last_images: i32,
}

fn default_true() -> bool {
    true
}
fn default_keep() -> i32 {
    30
}

/// ECR image tag mutability.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
}

/// Rolling deployment settings of the ECS service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.maximumPercent > self.minimumHealthyPercent").message("spec.deployment.maximumPercent must be greater than minimumHealthyPercent, or a rollout could never start a new task"))]
pub struct Deployment {
    /// Lower bound on running tasks during a deployment, as a percentage of `replicas`.
    #[serde(default = "default_min_healthy")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: i32,
    /// Upper bound on running tasks during a deployment, as a percentage of `replicas`.
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 100, max = 200))]
    pub maximum_percent: i32,
    /// Stop a failing deployment and roll back to the last one that worked.
    #[serde(default)]
    pub circuit_breaker: CircuitBreaker,
    /// Seconds a rollout may take before the service is reported `Stalled` with reason
    /// `RolloutFailed` (like a Deployment's `progressDeadlineSeconds`). ECS keeps trying, and the
    /// service turns `Ready` if the rollout completes later. With the circuit breaker off this is
    /// the only way a crash-looping rollout is reported as failed.
    #[serde(default = "default_progress_deadline")]
    #[schemars(range(min = 10, max = 86400))]
    pub progress_deadline_seconds: i32,
}

fn default_min_healthy() -> i32 {
    100
}
fn default_max_percent() -> i32 {
    200
}
fn default_progress_deadline() -> i32 {
    600
}

/// ECS deployment circuit breaker.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    /// Stop a deployment whose tasks keep failing.
    #[serde(default = "default_true")]
    pub enable: bool,
    /// Roll back to the last completed deployment when the circuit breaker trips.
    #[serde(default = "default_true")]
    pub rollback: bool,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker { enable: true, rollback: true }
    }
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            minimum_healthy_percent: default_min_healthy(),
            maximum_percent: default_max_percent(),
            circuit_breaker: CircuitBreaker::default(),
            progress_deadline_seconds: default_progress_deadline(),
        }
    }
}

impl Default for Repository {
    fn default() -> Self {
        Repository {
            scan_on_push: true,
            tag_mutability: TagMutability::Mutable,
            keep_last_images: default_keep(),
        }
    }
}
