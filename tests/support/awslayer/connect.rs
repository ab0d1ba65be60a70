//! ECS Service Connect through the layer, as ECS plays it and moto 5.2.1 does not (moto drops
//! `serviceConnectConfiguration` and never touches Cloud Map): the configuration a CreateService
//! or UpdateService sends is checked, remembered per deployment (`connect_model`) and shown on
//! the deployments of every answer that carries the service; the Cloud Map services ECS makes
//! for it are created in moto, and removed when ECS removes them. `ecs` calls in here.
//!
//! Behaviours and their sources:
//! - A deployment shows what it runs with: `serviceConnectConfiguration` ("The details of the
//!   Service Connect configuration that's used by this deployment. Compare the configuration
//!   between multiple deployments when troubleshooting issues with new deployments.") and
//!   `serviceConnectResources` ("The list of Service Connect resources that are associated with
//!   this deployment. Each list entry maps a discovery name to a Cloud Map service name.")
//!   (`Deployment`, <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html>;
//!   `ServiceConnectServiceResource`: `discoveryName`, `discoveryArn`,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceConnectServiceResource.html>).
//!   The `Service` has no such member of its own. `enabled: false` is no Service Connect. The
//!   namespace shows as its ARN however it was named [infer].
//! - UpdateService `serviceConnectConfiguration`: "This parameter triggers a new service
//!   deployment." (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html>);
//!   as for the other parameters worded so (`ecs`), a changed configuration starts one. An update
//!   without it keeps the service's configuration for any deployment it starts.
//! - Refused with NamespaceNotFoundException ("The specified namespace wasn't found.",
//!   CreateService and UpdateService errors): a namespace, by name or ARN, that Cloud Map does
//!   not have, in ECS's words "Failed to retrieve namespace for <name>"
//!   (terraform-aws-modules/terraform-aws-ecs#116). `namespace`: "The namespace name or full
//!   Amazon Resource Name (ARN) of the Cloud Map namespace" (`ServiceConnectConfiguration`,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceConnectConfiguration.html>);
//!   a name is the namespace's HTTP name (aws/aws-cdk#25616). The cluster's default namespace is
//!   not played: a configuration without one is not found.
//! - Refused with InvalidParameterException (`ServiceConnectService`,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceConnectService.html>):
//!   "The portName must match the name of one of the portMappings from all the containers in the
//!   task definition of this Amazon ECS service." — "portName(<name>) does not refer to any named
//!   PortMapping in the container definitions" (ECS's words as users report them); "The maximum
//!   number of client aliases that you can have in this list is 1. … For each
//!   ServiceConnectService, you must provide at least one clientAlias with one port." —
//!   "clientAliases must have 1 element." (hashicorp/terraform-provider-aws#44027); the
//!   `discoveryName` "must be unique within the Cloud Map namespace. The name can contain up to 64
//!   characters. The name can include lowercase letters, numbers, underscores (_), and hyphens
//!   (-). The name can't start with a hyphen." — one another ECS service (ACTIVE or DRAINING)
//!   uses is "SC service is already used by <namespace ARN>" (aws/copilot-cli#4659); a client
//!   alias: "Each name and port mapping must be unique within the namespace." and `dnsName` "can
//!   include up to 127 characters … lowercase letters, numbers, underscores (_), hyphens (-), and
//!   periods (.). The name can't start with a hyphen." (`ServiceConnectClientAlias`,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceConnectClientAlias.html>).
//!   The messages for an alias without port, a malformed name and a taken alias are the layer's.
//! - Cloud Map services: "The discoveryName is the name of the new Cloud Map service that Amazon
//!   ECS creates for this Amazon ECS service." (`ServiceConnectService`; without one, the port
//!   name): one per discovery name, type HTTP, tagged `AmazonECSManaged: true` — ECS's
//!   service-linked role may create Cloud Map services only with that tag key and delete only
//!   those carrying it (`AmazonECSServiceRolePolicy`,
//!   <https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonECSServiceRolePolicy.html>).
//!   ECS removes one once its ECS service is INACTIVE (after draining), or once no deployment of
//!   the service uses its discovery name (after an update dropped it, when the old deployment has
//!   drained) [infer: the name stays "already used" while the service drains, copilot-cli#4659].
//!   Removal is applied lazily, before the next ECS Service Connect check and every Cloud Map
//!   request.

use std::time::Instant;

use serde_json::{Value, json};

use super::{
    Shared,
    cloudmap::http_name,
    connect_model::{Asked, Key, Namespace, Registered, Registration, Sent, sent},
    wire::{self, Reply, Req},
};

/// Cloud Map's JSON target prefix.
pub const CLOUD_MAP: &str = "Route53AutoNaming_v20170314";

fn invalid(message: &str) -> Reply {
    wire::json_error(400, "InvalidParameterException", message)
}

/// Held by a request with `serviceConnectConfiguration` from its checks until what it made is
/// recorded, so that two requests never take the same name.
pub async fn lock<'a>(shared: &'a Shared, body: &Value) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    match body.get("serviceConnectConfiguration") {
        None | Some(Value::Null) => None,
        Some(_) => Some(shared.cloud_map.lock().await),
    }
}

/// A JSON request of the layer's own to moto's Cloud Map.
pub async fn ask(shared: &Shared, like: &Req, operation: &str, body: Value) -> Value {
    let target = format!("{CLOUD_MAP}.{operation}");
    let reply = shared.ask_service(like, "servicediscovery", &target, body).await;
    if reply.is_success() { reply.json() } else { Value::Null }
}

/// Removes from moto the Cloud Map services ECS has removed by now.
pub async fn settle(shared: &Shared, like: &Req) {
    let due: Vec<Registered> = shared.lock().connect_due(Instant::now());
    for r in due {
        ask(shared, like, "DeleteService", json!({ "Id": r.id })).await;
    }
}

/// Checks a CreateService or UpdateService's `serviceConnectConfiguration` as ECS does, for
/// service `key` running `task_definition` (when known); the refusal as ECS answers it.
pub async fn admit(
    shared: &Shared,
    req: &Req,
    key: &Key,
    body: &Value,
    task_definition: Option<&str>,
) -> Result<Asked, Reply> {
    settle(shared, req).await;
    let requested = match sent(body) {
        Ok(Sent::Nothing) => return Ok(Asked::Unchanged),
        Ok(Sent::Off) => return Ok(Asked::Off),
        Ok(Sent::On(requested)) => requested,
        Err(message) => return Err(invalid(&message)),
    };
    let Some(namespace) = find_namespace(shared, req, &requested.namespace).await else {
        let message = format!("Failed to retrieve namespace for {}", requested.namespace);
        return Err(wire::json_error(400, "NamespaceNotFoundException", &message));
    };
    let names = match task_definition {
        Some(td) => port_names(shared, req, td).await,
        None => None,
    };
    if let Some(names) = names
        && let Some(w) = requested.services.iter().find(|w| !names.contains(&w.port_name))
    {
        return Err(invalid(&format!(
            "portName({}) does not refer to any named PortMapping in the container definitions",
            w.port_name
        )));
    }
    let connect = requested.accept(namespace);
    if let Some(message) = shared.lock().connect_conflict(key, &connect, Instant::now()) {
        return Err(invalid(&message));
    }
    Ok(Asked::On(connect))
}

/// Creates in moto the Cloud Map services ECS creates for `asked` that do not exist yet.
pub async fn provision(shared: &Shared, req: &Req, key: &Key, asked: &Asked) -> Vec<Registration> {
    let Asked::On(connect) = asked else { return Vec::new() };
    let namespace = &connect.namespace.id;
    let mut made = Vec::new();
    for s in &connect.served {
        if shared.lock().connect.is_registered(namespace, &s.discovery) {
            continue;
        }
        let body = json!({
            "Name": s.discovery,
            "NamespaceId": namespace,
            "Type": "HTTP",
            "Tags": [{ "Key": "AmazonECSManaged", "Value": "true" }],
        });
        let answer = ask(shared, req, "CreateService", body).await;
        let service = &answer["Service"];
        if let (Some(id), Some(arn)) = (service["Id"].as_str(), service["Arn"].as_str()) {
            let registered = Registered { id: id.into(), arn: arn.into(), owner: key.clone() };
            made.push(((namespace.clone(), s.discovery.clone()), registered));
        }
    }
    made
}

/// The namespace `given` (an ARN, or an HTTP name) names, as moto has it.
async fn find_namespace(shared: &Shared, req: &Req, given: &str) -> Option<Namespace> {
    let answer = ask(shared, req, "ListNamespaces", json!({})).await;
    let found = answer["Namespaces"].as_array()?.iter().find(|n| {
        !given.is_empty() && (n["Arn"].as_str() == Some(given) || http_name(n) == Some(given))
    })?;
    Some(Namespace {
        id: found["Id"].as_str()?.to_string(),
        arn: found["Arn"].as_str()?.to_string(),
        name: found["Name"].as_str()?.to_string(),
    })
}

/// The port mapping names of a task definition; `None` when it cannot be read (moto then answers
/// the request as it does).
async fn port_names(shared: &Shared, req: &Req, task_definition: &str) -> Option<Vec<String>> {
    let target = "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition";
    let body = json!({ "taskDefinition": task_definition });
    let reply = shared.ask_service(req, "ecs", target, body).await;
    if !reply.is_success() {
        return None;
    }
    let answer = reply.json();
    let containers = answer["taskDefinition"]["containerDefinitions"].as_array()?.clone();
    Some(
        containers
            .iter()
            .flat_map(|c| c["portMappings"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect(),
    )
}
