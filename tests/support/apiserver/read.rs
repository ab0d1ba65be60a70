//! GET of one object and LIST of a collection: label and field selectors, `limit` and
//! `continue` paging (410 Expired for a token older than the retained history), the list's
//! `resourceVersion`, Table output when kubectl asks for it, and metadata-only objects
//! (`PartialObjectMetadata`) when the client asks for those. Reads the store only.

use base64::Engine;
use serde_json::{Value, json};

use super::http::{Reply, Request, Target};
use super::selectors::{FieldSelector, LabelSelector, Selectors};
use super::status::ApiError;
use super::store::State;
use super::table;
use super::write::{key_for, present};

pub fn get(state: &State, target: &Target, req: &Request) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let name = target.name.clone().unwrap_or_default();
    let object = state
        .get(&key_for(target, &name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&resource.subject(&name)))?;
    let object = present(resource, object);
    if req.wants_table() {
        let rv = object.pointer("/metadata/resourceVersion").cloned().unwrap_or_default();
        let include = req.param("includeObject").unwrap_or("Metadata");
        return Ok(Reply::ok(table::table(
            resource,
            &[object],
            json!({"resourceVersion": rv}),
            include,
        )));
    }
    if req.wants_metadata_only() {
        return Ok(Reply::ok(partial_metadata(object)));
    }
    Ok(Reply::ok(object))
}

/// The object as a `PartialObjectMetadata`: its metadata only, as kube-apiserver answers a
/// client that sends `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`.
pub fn partial_metadata(object: Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

pub fn selectors(target: &Target, req: &Request) -> Result<Selectors, ApiError> {
    let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(
        req.param("fieldSelector").unwrap_or_default(),
        &target.resource.selectable_fields,
    )
    .map_err(ApiError::bad_request)?;
    Ok(Selectors { labels, fields })
}

/// The decoded `continue` token: the list's resourceVersion and the last key returned.
struct Continue {
    resource_version: u64,
    start_after: String,
}

fn encode_continue(resource_version: u64, last_key: &str) -> String {
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": resource_version, "start": format!("{last_key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<Continue, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let resource_version = value.get("rv").and_then(Value::as_u64).ok_or_else(invalid)?;
    let start = value.get("start").and_then(Value::as_str).ok_or_else(invalid)?;
    Ok(Continue { resource_version, start_after: start.trim_end_matches('\u{0}').to_string() })
}

pub fn list(state: &State, target: &Target, req: &Request) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let selectors = selectors(target, req)?;
    let limit = match req.param("limit") {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {text}")))?,
        None => 0,
    };
    let continued = match req.param("continue") {
        Some(token) => {
            let token = decode_continue(token)?;
            if token.resource_version < state.window_start {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ));
            }
            Some(token)
        }
        None => None,
    };
    let list_rv = continued.as_ref().map(|c| c.resource_version).unwrap_or(state.resource_version);
    let matching: Vec<(String, Value)> = state
        .objects
        .iter()
        .filter(|(k, _)| k.group == resource.group && k.plural == resource.plural)
        .filter(|(k, _)| target.namespace.as_ref().is_none_or(|ns| k.namespace == *ns))
        .filter(|(_, o)| selectors.matches(o))
        .filter(|(k, _)| {
            continued.as_ref().is_none_or(|c| {
                let (ns, name) = c.start_after.split_once('/').unwrap_or(("", &c.start_after));
                (k.namespace.as_str(), k.name.as_str()) > (ns, name)
            })
        })
        .map(|(k, o)| (format!("{}/{}", k.namespace, k.name), o.clone()))
        .collect();
    let total = matching.len();
    let page: Vec<(String, Value)> =
        if limit > 0 { matching.into_iter().take(limit).collect() } else { matching };
    let mut list_meta = json!({"resourceVersion": list_rv.to_string()});
    if limit > 0
        && total > page.len()
        && let Some((last_key, _)) = page.last()
    {
        list_meta["continue"] = json!(encode_continue(list_rv, last_key));
        list_meta["remainingItemCount"] = json!(total - page.len());
    }
    let items: Vec<Value> = page.into_iter().map(|(_, o)| present(resource, o)).collect();
    if req.wants_table() {
        let include = req.param("includeObject").unwrap_or("Metadata");
        return Ok(Reply::ok(table::table(resource, &items, list_meta, include)));
    }
    if req.wants_metadata_only() {
        return Ok(Reply::ok(json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": list_meta,
            "items": items.into_iter().map(partial_metadata).collect::<Vec<_>>(),
        })));
    }
    Ok(Reply::ok(json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": list_meta,
        "items": items,
    })))
}
