//! `CloudAccount`: "your own cloud account", set up once by a platform team and shared by the
//! services that name it.

// Each `printcolumn(...)` repeats the keys `name`, `type_` and `json_path`; that is the derive's syntax.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CloudAccountStatus, patterns};

/// CloudWatch Logs' allowed retention periods, in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// An AWS account (and region) that CloudServices deploy into, with the network, ECS cluster and
/// shared load balancers they use.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "byoc.dev",
    version = "v1alpha1",
    kind = "CloudAccount",
    plural = "cloudaccounts",
    shortname = "cacct",
    category = "byoc",
    status = "CloudAccountStatus",
    doc = "An AWS account and region that CloudServices deploy into: its network, ECS cluster, task execution role and pool of shared Application Load Balancers.",
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.aws.region"),
    printcolumn(name = "Account ID", type_ = "string", json_path = ".status.accountId"),
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
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountSpec {
    /// How the operator reaches the account.
    pub aws: AwsAccess,
    /// The existing VPC network tasks run in.
    pub network: Network,
    /// The ECS cluster services run on.
    pub cluster: Cluster,
    /// IAM role ECS uses to pull images, write logs and read secrets for the tasks (the task
    /// execution role). It must trust `ecs-tasks.amazonaws.com`.
    #[schemars(regex(pattern = patterns::ROLE_ARN), length(max = 2048))]
    pub execution_role_arn: String,
    /// Pool of Application Load Balancers that services share through host/path rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub load_balancers: Vec<LoadBalancer>,
    /// Only CloudServices in namespaces whose labels match may deploy here. Omit to allow every
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<LabelSelector>,
    /// AWS tags added to every resource created in this account, and to every resource of its
    /// services. Keys starting with `byoc.dev/` or `aws:` are reserved. At most 45: AWS allows 50
    /// tags per resource and the operator adds up to 5; with a service's own `tags` the merged set
    /// must also stay within 45.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = super::USER_TAGS_MAX))]
    #[x_kube(validation = super::tag_keys_rule())]
    #[x_kube(validation = super::tag_values_rule())]
    pub tags: BTreeMap<String, String>,
    /// Defaults for the services of this account.
    #[serde(default)]
    pub defaults: AccountDefaults,
    /// Builds from source (`CloudService.spec.build`): the CodeBuild role they run as. Omit to
    /// allow only services that name an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<super::AccountBuild>,
    /// Private service-to-service traffic (ECS Service Connect) in an AWS Cloud Map namespace.
    /// Omit when services only talk through load balancers. Turning it on or off rolls out every
    /// service of the account once (each task gets or loses its Service Connect proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect: Option<super::ServiceConnect>,
    /// Managed certificates (ACM, DNS-validated) for the services' hosts, and the Route 53
    /// hosted zones the operator may write their records to. Omit to serve hosts only with the
    /// load balancers' own `certificateArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<super::Domains>,
}

/// How the operator reaches the AWS account.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.externalId) || has(self.roleArn)").message("spec.aws.externalId is only used with spec.aws.roleArn"))]
pub struct AwsAccess {
    /// AWS region, e.g. `eu-west-1`.
    #[schemars(length(min = 1, max = 32), regex(pattern = patterns::REGION))]
    pub region: String,
    /// Role to assume in the account, from the operator's own identity (IRSA, EKS Pod Identity or
    /// the default credential chain). Omit to use the operator's identity directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::ROLE_ARN), length(max = 2048))]
    pub role_arn: Option<String>,
    /// External id required by the role's trust policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = r"^[\w+=,.@:/-]+$"))]
    pub external_id: Option<String>,
    /// Endpoint override for AWS-compatible emulators (e.g. `http://127.0.0.1:5000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::ENDPOINT_URL), length(max = 2048))]
    pub endpoint_url: Option<String>,
}

/// The existing network tasks run in.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// The VPC id.
    #[schemars(regex(pattern = patterns::VPC_ID), length(max = 21))]
    pub vpc_id: String,
    /// Subnets tasks run in (and, unless a load balancer names its own, where ALBs are placed).
    #[schemars(length(min = 1, max = 16), inner(regex(pattern = patterns::SUBNET_ID), length(max = 24)))]
    pub subnet_ids: Vec<String>,
    /// Security groups attached to every task. They must allow traffic from the ALB security groups
    /// on the container ports.
    #[schemars(length(min = 1, max = 5), inner(regex(pattern = patterns::SECURITY_GROUP_ID), length(max = 20)))]
    pub security_group_ids: Vec<String>,
    /// Give tasks a public IP (needed in public subnets without a NAT gateway to pull images).
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// The ECS cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Cluster name. Created and owned when absent; used but never modified or deleted when it
    /// exists without our ownership tags.
    #[schemars(regex(pattern = patterns::CLUSTER_NAME), length(min = 1, max = 255))]
    pub name: String,
}

/// One shared Application Load Balancer of the pool.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.existing) || (has(self.securityGroupIds) && size(self.securityGroupIds) > 0)").message("a load balancer needs securityGroupIds unless it uses an existing listener"))]
pub struct LoadBalancer {
    /// Name services use in `ingress.loadBalancer`.
    #[schemars(length(min = 1, max = 32), regex(pattern = patterns::DNS_LABEL))]
    pub name: String,
    /// `InternetFacing` or `Internal`.
    #[serde(default)]
    pub scheme: Scheme,
    /// Subnets for the ALB (at least two Availability Zones). Defaults to `network.subnetIds`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(regex(pattern = patterns::SUBNET_ID), length(max = 24)))]
    pub subnet_ids: Vec<String>,
    /// Security groups of the ALB.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(regex(pattern = patterns::SECURITY_GROUP_ID), length(max = 20)))]
    pub security_group_ids: Vec<String>,
    /// ACM certificate for an HTTPS listener; HTTP then redirects to HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::CERTIFICATE_ARN), length(max = 2048))]
    pub certificate_arn: Option<String>,
    /// Use a listener of an ALB the operator does not own: rules are added to it, nothing else
    /// about it is changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingListener>,
}

/// A listener the operator uses but does not own.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExistingListener {
    /// ARN of the listener.
    #[schemars(regex(pattern = patterns::LISTENER_ARN), length(max = 2048))]
    pub listener_arn: String,
}

/// Load balancer scheme.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

/// What happens to a service's AWS resources when the CloudService is deleted.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Delete them.
    #[default]
    Delete,
    /// Leave them in the account, still tagged.
    Retain,
}

/// Defaults for the services of an account.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountDefaults {
    /// Log retention for services that do not set `logs.retentionDays`.
    #[serde(default = "default_retention")]
    #[schemars(extend("enum" = RETENTION_DAYS))]
    pub log_retention_days: i32,
    /// Deletion policy for services that do not set `deletionPolicy`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_retention() -> i32 {
    30
}

impl Default for AccountDefaults {
    fn default() -> Self {
        AccountDefaults {
            log_retention_days: default_retention(),
            deletion_policy: DeletionPolicy::Delete,
        }
    }
}
