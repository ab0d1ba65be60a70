//! AWS Cloud Map through the layer: what real Cloud Map refuses and moto 5.2.1 allows, and the
//! filters moto ignores. Every request first brings the Cloud Map services ECS manages up to date
//! (`connect::settle`); requests go to moto unless the layer answers them.
//!
//! - DeleteNamespace: "Deletes a namespace from the current account. If the namespace still
//!   contains one or more services, the request fails."
//!   (<https://docs.aws.amazon.com/cloud-map/latest/api/API_DeleteNamespace.html>): ResourceInUse,
//!   HTTP 409, "The specified resource can't be deleted because it contains other resources.", in
//!   Cloud Map's words "Namespace has associated services; delete the services before deleting
//!   the namespace" (anomalyco/sst#5678). moto deletes it and leaves its services. `Id`: "The ID
//!   or Amazon Resource Name (ARN) of the namespace"; moto takes only the id, so the layer
//!   passes it the id.
//! - CreateHttpNamespace with the name of an existing namespace: NamespaceAlreadyExists, which
//!   carries "The CreatorRequestId that was used to create the namespace" and "The ID of the
//!   existing namespace"; `CreatorRequestId`: "A unique string that identifies the request and
//!   that allows failed CreateHttpNamespace requests to be retried without the risk of running the
//!   operation twice." (<https://docs.aws.amazon.com/cloud-map/latest/api/API_CreateHttpNamespace.html>):
//!   a repeated request returns the first one's OperationId and creates nothing. moto creates a
//!   second namespace either way. An HTTP namespace's HTTP name is its name, and HTTP names are
//!   unique (ECS gave a new one "<name>-<random>" next to a DNS namespace of the same name,
//!   aws/aws-cdk#25616), so the name of any namespace with that HTTP name is taken. The message
//!   is the layer's.
//! - ListNamespaces `Filters`: "If you specify more than one filter, a namespace must match all
//!   filters"; `NAME`, `HTTP_NAME` and `TYPE` with `EQ` ("the default condition") or
//!   `BEGINS_WITH` (`NamespaceFilter`,
//!   <https://docs.aws.amazon.com/cloud-map/latest/api/API_NamespaceFilter.html>); `MaxResults`:
//!   "If you don't specify a value for MaxResults, Cloud Map returns up to 100 namespaces."; and
//!   `NextToken`: "Cloud Map gets MaxResults namespaces and then filters them based on the
//!   specified criteria." — a page may be empty and still have a NextToken
//!   (<https://docs.aws.amazon.com/cloud-map/latest/api/API_ListNamespaces.html>). moto ignores
//!   filters and pages.
//! - ListServices `Filters` `NAMESPACE_ID`: "Specify one namespace ID or ARN" (`ServiceFilter`,
//!   <https://docs.aws.amazon.com/cloud-map/latest/api/API_ServiceFilter.html>); moto ignores it.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    Shared,
    connect::{self, ask},
    wire::{self, Reply, Req},
};

#[derive(Debug, Default)]
pub struct Model {
    /// CreateHttpNamespace requests by CreatorRequestId.
    created: HashMap<String, Created>,
}

#[derive(Debug, Clone)]
struct Created {
    name: String,
    operation: String,
    namespace: String,
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    connect::settle(shared, req).await;
    match req.operation.as_str() {
        "CreateHttpNamespace" => {
            let _one_at_a_time = shared.cloud_map.lock().await;
            create_http_namespace(shared, req).await
        }
        "DeleteNamespace" => {
            let _one_at_a_time = shared.cloud_map.lock().await;
            delete_namespace(shared, req).await
        }
        "ListNamespaces" => list_namespaces(shared, req).await,
        "ListServices" => list_services(shared, req).await,
        _ => shared.forward(req).await,
    }
}

/// A namespace's HTTP name (moto gives DNS namespaces none: their name, then).
pub fn http_name(namespace: &Value) -> Option<&str> {
    namespace["Properties"]["HttpProperties"]["HttpName"].as_str().or(namespace["Name"].as_str())
}

/// A namespace id from an id or an ARN (`…:namespace/ns-…`).
fn namespace_id(given: &str) -> &str {
    given.rsplit('/').next().unwrap_or(given)
}

async fn create_http_namespace(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let name = body["Name"].as_str().unwrap_or_default().to_string();
    let request_id = body["CreatorRequestId"].as_str().map(str::to_string);
    let repeated = request_id
        .as_ref()
        .and_then(|id| shared.lock().cloudmap.created.get(id).cloned())
        .filter(|c| c.name == name);
    if let Some(first) = repeated {
        return wire::json_reply(&json!({ "OperationId": first.operation }));
    }
    let all = ask(shared, req, "ListNamespaces", json!({})).await;
    let existing = all["Namespaces"].as_array().and_then(|all| {
        all.iter().find(|n| http_name(n) == Some(name.as_str()) || n["Name"] == name.as_str())
    });
    if let Some(existing) = existing {
        let mut answer = json!({
            "__type": "NamespaceAlreadyExists",
            "Message": format!("Namespace {name} already exists."),
            "NamespaceId": existing["Id"],
        });
        if let Some(id) = existing["CreatorRequestId"].as_str() {
            answer["CreatorRequestId"] = json!(id);
        }
        let refused = wire::json_error(400, "NamespaceAlreadyExists", "");
        return Reply { body: Bytes::from(answer.to_string()), ..refused };
    }
    let reply = shared.forward(req).await;
    let operation = reply.json()["OperationId"].as_str().map(str::to_string);
    if let (true, Some(request_id), Some(operation)) = (reply.is_success(), request_id, operation) {
        let done = ask(shared, req, "GetOperation", json!({ "OperationId": operation })).await;
        let namespace =
            done["Operation"]["Targets"]["NAMESPACE"].as_str().unwrap_or_default().to_string();
        shared.lock().cloudmap.created.insert(request_id, Created { name, operation, namespace });
    }
    reply
}

async fn delete_namespace(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let given = body["Id"].as_str().unwrap_or_default();
    let id = namespace_id(given).to_string();
    let services = ask(shared, req, "ListServices", json!({})).await;
    let in_use = services["Services"]
        .as_array()
        .is_some_and(|all| all.iter().any(|s| s["NamespaceId"] == id.as_str()));
    if in_use {
        return wire::json_error(
            409,
            "ResourceInUse",
            "Namespace has associated services; delete the services before deleting the namespace",
        );
    }
    let forwarded = Req { body: Bytes::from(json!({ "Id": id }).to_string()), ..req.clone() };
    let reply = shared.forward(&forwarded).await;
    if reply.is_success() {
        shared.lock().cloudmap.created.retain(|_, c| c.namespace != id);
    }
    reply
}

async fn list_namespaces(shared: &Shared, req: &Req) -> Reply {
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let body = req.json();
    let mut answer = reply.json();
    let all = answer["Namespaces"].as_array().cloned().unwrap_or_default();
    let size = body["MaxResults"].as_u64().map_or(100, |n| (n as usize).clamp(1, 100));
    let start = body["NextToken"]
        .as_str()
        .and_then(|t| t.strip_prefix("layer-page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0usize);
    let filters = body["Filters"].as_array().cloned().unwrap_or_default();
    // Cloud Map takes a page, then filters it.
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(size)
        .filter(|n| filters.iter().all(|f| matches(n, f)))
        .cloned()
        .collect();
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("Namespaces".into(), Value::Array(page));
        if start + size < all.len() {
            obj.insert("NextToken".into(), json!(format!("layer-page-{}", start + size)));
        } else {
            obj.remove("NextToken");
        }
    }
    reply.with_json(&answer)
}

/// Whether a namespace matches one `NamespaceFilter`.
fn matches(namespace: &Value, filter: &Value) -> bool {
    let field = match filter["Name"].as_str().unwrap_or_default() {
        "NAME" => namespace["Name"].as_str(),
        "HTTP_NAME" => http_name(namespace),
        "TYPE" => namespace["Type"].as_str(),
        // The layer plays one account: every namespace is its own.
        "RESOURCE_OWNER" => Some("SELF"),
        _ => return true,
    };
    let Some(field) = field else { return false };
    let values = filter["Values"].as_array().into_iter().flatten().filter_map(Value::as_str);
    match filter["Condition"].as_str().unwrap_or("EQ") {
        "BEGINS_WITH" => values.clone().any(|v| field.starts_with(v)),
        _ => values.clone().any(|v| field == v),
    }
}

async fn list_services(shared: &Shared, req: &Req) -> Reply {
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let mut answer = reply.json();
    let body = req.json();
    let wanted: Vec<String> = body["Filters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["Name"] == "NAMESPACE_ID")
        .filter_map(|f| f["Values"][0].as_str().map(|v| namespace_id(v).to_string()))
        .collect();
    if let Some(services) = answer["Services"].as_array_mut() {
        services.retain(|s| wanted.iter().all(|id| s["NamespaceId"] == id.as_str()));
    }
    reply.with_json(&answer)
}
