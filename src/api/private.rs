//! Private service-to-service traffic through ECS Service Connect: `CloudService.spec.private`
//! (reachable by other services of the account at a stable name) and
//! `CloudAccount.spec.serviceConnect` (the AWS Cloud Map namespace the names live in).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::patterns;

/// Make this service reachable by the account's other services at `http://<name>:<port>`
/// without the load balancer (ECS Service Connect). Needs `spec.serviceConnect` on the account.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Private {
    /// The DNS name other services call, unique in the account, e.g. `api.shop` or `api`.
    /// Default: `<metadata.name>.<metadata.namespace>`, as in Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = patterns::PRIVATE_NAME))]
    pub name: Option<String>,
    /// Names of the entries in `spec.ports` to serve privately, each on its container port.
    /// Default: every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), inner(length(min = 1, max = 15), regex(pattern = patterns::PORT_NAME)))]
    pub ports: Vec<String>,
}

/// ECS Service Connect for the account's services: every service can call the private names of
/// the others (a Service Connect proxy runs beside each task), and services with
/// `spec.private` get one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConnect {
    /// Name of the AWS Cloud Map HTTP namespace, e.g. `internal`: created and owned when absent,
    /// used but never changed or deleted when it exists without the operator's tags.
    #[schemars(length(min = 1, max = 1024), regex(pattern = patterns::NAMESPACE_NAME))]
    pub namespace: String,
}
