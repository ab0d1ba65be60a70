//! PATCH in its four media types: JSON merge patch (RFC 7386), JSON patch (RFC 6902, `test`
//! included), strategic merge patch (built-in kinds only; custom resources get 415 like the
//! real server) and server-side apply (`application/apply-patch+yaml`, `fieldManager`
//! required, `force`, creates the object when missing). Mutates the store through `write`.

use serde_json::{Value, json};

use super::http::{Reply, Request, Target};
use super::meta;
use super::ssa;
use super::status::{ApiError, forbidden_cause, required_cause};
use super::store::State;
use super::write::{self, Ownership, key_for};

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

pub fn patch(state: &mut State, target: &Target, req: &Request) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let media_type = req.media_type().to_string();
    let accepted: Vec<&str> = if resource.is_custom {
        vec![JSON_PATCH, MERGE, APPLY]
    } else {
        vec![JSON_PATCH, MERGE, STRATEGIC, APPLY]
    };
    if !accepted.contains(&media_type.as_str()) {
        return Err(ApiError::unsupported_media_type(&accepted));
    }
    check_options(req, media_type == APPLY)?;
    let name = target.name.clone().unwrap_or_default();
    let key = key_for(target, &name);
    let existing = state.get(&key).cloned();
    if media_type == APPLY {
        return apply(state, target, req, existing);
    }
    let old = existing.ok_or_else(|| ApiError::not_found(&resource.subject(&name)))?;
    let current = write::present(resource, old.clone());
    let patched = match media_type.as_str() {
        JSON_PATCH => {
            let operations: json_patch::Patch = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut document = current.clone();
            json_patch::patch(&mut document, &operations).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            document
        }
        _ => {
            let patch = req.body_value()?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "the body of a merge patch must be a JSON object",
                ));
            }
            let mut document = current.clone();
            json_patch::merge(&mut document, &strip_directives(patch));
            document
        }
    };
    if meta::name(&patched) != Some(name.as_str()) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta::name(&patched).unwrap_or_default()
        )));
    }
    let manager = req.manager();
    write::update(state, target, req, old, patched, Ownership::Update(&manager), false)
}

/// `PatchOptions` validation: apply needs `fieldManager`; `force` is apply-only.
fn check_options(req: &Request, is_apply: bool) -> Result<(), ApiError> {
    let subject = super::status::Subject {
        qualified_resource: "PatchOptions.meta.k8s.io".into(),
        group: "meta.k8s.io".into(),
        kind: "PatchOptions".into(),
        name: String::new(),
    };
    if is_apply && req.param("fieldManager").is_none() {
        let cause = required_cause("fieldManager", "is required for apply patch");
        return Err(ApiError::invalid(&subject, vec![cause]));
    }
    if !is_apply && req.param("force").is_some() {
        let cause = forbidden_cause("force", "may not be specified for non-apply patch");
        return Err(ApiError::invalid(&subject, vec![cause]));
    }
    Ok(())
}

/// Drops strategic-merge `$patch`/`$retainKeys`-style directives, which merge patch lacks.
fn strip_directives(mut patch: Value) -> Value {
    if let Some(map) = patch.as_object_mut() {
        map.retain(|k, _| !k.starts_with('$'));
        for value in map.values_mut() {
            if value.is_object() {
                *value = strip_directives(value.take());
            }
        }
    }
    patch
}

fn apply(
    state: &mut State,
    target: &Target,
    req: &Request,
    existing: Option<serde_json::Value>,
) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let name = target.name.clone().unwrap_or_default();
    let applied = req.body_value()?;
    if !applied.is_object() {
        return Err(ApiError::bad_request("the applied configuration must be an object"));
    }
    for (field, wanted) in [("apiVersion", resource.api_version()), ("kind", resource.kind.clone())]
    {
        let actual = applied.get(field).and_then(Value::as_str).unwrap_or_default();
        if actual.is_empty() {
            return Err(ApiError::bad_request(format!("{field} must be set in an apply patch")));
        }
        if actual != wanted {
            return Err(ApiError::bad_request(format!(
                "the {field} in the data ({actual}) does not match the expected {field} ({wanted})"
            )));
        }
    }
    if meta::name(&applied).is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta::name(&applied).unwrap_or_default()
        )));
    }
    let manager = req.param("fieldManager").unwrap_or_default().to_string();
    let subresource = target.subresource.clone().unwrap_or_default();
    let writer = write::writer(resource, &manager, &subresource);
    let mut pruned = applied.clone();
    if let Some(schema) = &resource.schema {
        let unknown = super::prune::prune(schema, &mut pruned);
        if let Some(first) = unknown.first() {
            return Err(ApiError::bad_request(format!(
                "failed to create typed patch object ({}, Kind={}): .{first}: field not declared in schema",
                resource.api_version(),
                resource.kind
            )));
        }
    }
    let force = req.flag("force");
    match existing {
        None => {
            if !subresource.is_empty() {
                return Err(ApiError::not_found(&resource.subject(&name)));
            }
            let mut merged =
                ssa::apply(resource.schema.as_ref(), &json!({}), &pruned, &writer, force)?;
            meta::metadata_mut(&mut merged).insert("name".into(), json!(name));
            write::create(state, target, req, merged, Ownership::Applied)
        }
        Some(old) => {
            if let Some(rv) = meta::resource_version(&pruned)
                && Some(rv) != meta::resource_version(&old)
            {
                return Err(ApiError::conflict(&resource.subject(&name)));
            }
            let live = write::present(resource, old.clone());
            let mut merged = ssa::apply(resource.schema.as_ref(), &live, &pruned, &writer, force)?;
            if subresource.is_empty() {
                ssa::refresh_last_applied(&mut merged, &applied, &manager);
            }
            write::update(state, target, req, old, merged, Ownership::Applied, false)
        }
    }
}
