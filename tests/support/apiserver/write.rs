//! Create and update, shared by POST, PUT, PATCH and apply: namespace existence, name and
//! generateName, server-owned metadata (uid, creationTimestamp, generation), the status
//! subresource split, optimistic concurrency, finalizer rules on deleting objects, admission,
//! managedFields, no-op detection and `dryRun=All`. Mutates the in-memory store only.

use serde_json::{Value, json};

use super::admission::{self, Verb};
use super::builtins;
use super::delete;
use super::http::{Reply, Request, Target};
use super::meta;
use super::registry::ResourceType;
use super::ssa::{self, Writer};
use super::status::{ApiError, Cause, forbidden_cause};
use super::store::{ObjectKey, State};

/// How managedFields are maintained for this write.
pub enum Ownership<'a> {
    /// A plain write by this manager (`Update` operation).
    Update(&'a str),
    /// Server-side apply already merged the object and its managedFields.
    Applied,
}

pub fn key_for(target: &Target, name: &str) -> ObjectKey {
    ObjectKey {
        group: target.resource.group.clone(),
        plural: target.resource.plural.clone(),
        namespace: target.namespace.clone().unwrap_or_default(),
        name: name.to_string(),
    }
}

/// The object as clients of this version see it.
pub fn present(resource: &ResourceType, mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(resource.api_version()));
        map.insert("kind".into(), json!(resource.kind));
    }
    object
}

fn check_type(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let kind = object.get("kind").and_then(Value::as_str);
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != resource.kind)
        || api_version.is_some_and(|v| v != resource.api_version())
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            api_version.unwrap_or_default(),
            resource.api_version()
        )));
    }
    if !object.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    Ok(())
}

/// Checks the URL namespace exists and is not terminating, and reconciles the body's namespace.
pub fn settle_namespace(
    state: &State,
    target: &Target,
    object: &mut Value,
) -> Result<(), ApiError> {
    let resource = &target.resource;
    if !resource.namespaced {
        meta::metadata_mut(object).remove("namespace");
        return Ok(());
    }
    let namespace = target.namespace.clone().unwrap_or_default();
    match meta::meta_str(object, "namespace") {
        Some(ns) if !ns.is_empty() && ns != namespace => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        _ => {
            meta::metadata_mut(object).insert("namespace".into(), json!(namespace));
        }
    }
    if !state.namespace_exists(&namespace) {
        return Err(ApiError::namespace_not_found(&namespace));
    }
    Ok(())
}

pub fn create(
    state: &mut State,
    target: &Target,
    req: &Request,
    mut object: Value,
    ownership: Ownership,
) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    check_type(resource, &object)?;
    settle_namespace(state, target, &mut object)?;
    if meta::name(&object).is_none()
        && let Some(prefix) = meta::meta_str(&object, "generateName").map(str::to_string)
    {
        let seed = state.resource_version + state.objects.len() as u64;
        let mut name = meta::generate_name(&prefix, seed);
        let mut attempt = 0;
        while state.get(&key_for(target, &name)).is_some() && attempt < 8 {
            attempt += 1;
            name = meta::generate_name(&prefix, seed + attempt);
        }
        meta::metadata_mut(&mut object).insert("name".into(), json!(name));
    }
    let name = meta::name(&object).unwrap_or_default().to_string();
    if resource.namespaced
        && state.namespace_terminating(target.namespace.as_deref().unwrap_or_default())
    {
        let why = format!(
            "unable to create new content in namespace {} because it is being terminated",
            target.namespace.as_deref().unwrap_or_default()
        );
        return Err(ApiError::forbidden(&resource.subject(&name), &why));
    }
    let managed = meta::metadata(&object).and_then(|m| m.get("managedFields")).cloned();
    meta::clear_server_fields(&mut object);
    if matches!(ownership, Ownership::Applied)
        && let Some(managed) = managed
    {
        meta::metadata_mut(&mut object).insert("managedFields".into(), managed);
    }
    if resource.status_subresource
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    builtins::prepare(resource, &mut object, None);
    builtins::validate(resource, &object, None)?;
    let verb = if matches!(ownership, Ownership::Applied) { Verb::Apply } else { Verb::Write };
    let warnings = admission::admit(resource, &mut object, None, req.field_validation()?, verb)?;
    let uid = state.new_uid();
    let metadata = meta::metadata_mut(&mut object);
    metadata.insert("uid".into(), json!(uid));
    metadata.insert("creationTimestamp".into(), json!(meta::now()));
    if resource.tracks_generation {
        metadata.insert("generation".into(), json!(1));
    }
    if let Ownership::Update(manager) = ownership {
        let writer = writer(resource, manager, "");
        ssa::record_update(resource.schema.as_ref(), None, &mut object, &writer);
    }
    let key = key_for(target, &name);
    if state.get(&key).is_some() {
        return Err(ApiError::already_exists(&resource.subject(&name)));
    }
    if req.dry_run() {
        return Ok(Reply::json(201, present(resource, object)).with_warnings(warnings));
    }
    let stored = state.insert(key, object);
    builtins::after_write(state, resource, &stored);
    let stored = state.get(&key_for(target, &name)).cloned().unwrap_or(stored);
    Ok(Reply::json(201, present(resource, stored)).with_warnings(warnings))
}

pub fn writer<'a>(resource: &ResourceType, manager: &'a str, subresource: &'a str) -> Writer<'a> {
    Writer {
        manager,
        api_version: resource.api_version(),
        subresource,
        status_split: resource.status_subresource,
    }
}

/// Everything but metadata (and status, when it is a subresource): what bumps generation.
fn generation_relevant(resource: &ResourceType, object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("apiVersion");
        map.remove("kind");
        if resource.status_subresource {
            map.remove("status");
        }
    }
    copy
}

/// Writes `new` over the stored `old`: the tail of PUT, PATCH and apply.
pub fn update(
    state: &mut State,
    target: &Target,
    req: &Request,
    old: Value,
    mut new: Value,
    ownership: Ownership,
    require_resource_version: bool,
) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let name = meta::name(&old).unwrap_or_default().to_string();
    let subject = resource.subject(&name);
    check_type(resource, &new)?;
    match meta::resource_version(&new) {
        Some(rv) if Some(rv) != meta::resource_version(&old) => {
            return Err(ApiError::conflict(&subject));
        }
        None if require_resource_version && !resource.allow_unconditional_update => {
            let cause = Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: 0x0: must be specified for an update".into(),
                field: "metadata.resourceVersion".into(),
            };
            return Err(ApiError::invalid(&subject, vec![cause]));
        }
        _ => {}
    }
    let subresource = target.subresource.as_deref().unwrap_or_default();
    if subresource == "status" {
        let status = new.get("status").cloned();
        let managed = meta::metadata(&new).and_then(|m| m.get("managedFields")).cloned();
        new = old.clone();
        if let Some(map) = new.as_object_mut() {
            match status {
                Some(status) => map.insert("status".into(), status),
                None => map.remove("status"),
            };
        }
        if let Some(managed) = managed {
            meta::metadata_mut(&mut new).insert("managedFields".into(), managed);
        }
    } else if resource.status_subresource
        && let Some(map) = new.as_object_mut()
    {
        match old.get("status") {
            Some(status) => map.insert("status".into(), status.clone()),
            None => map.remove("status"),
        };
    }
    let managed = meta::metadata(&new).and_then(|m| m.get("managedFields")).cloned();
    meta::keep_server_fields(&mut new, &old);
    if matches!(ownership, Ownership::Applied)
        && let Some(managed) = managed
    {
        meta::metadata_mut(&mut new).insert("managedFields".into(), managed);
    }
    if meta::is_deleting(&old) {
        let before = meta::finalizers(&old);
        let added: Vec<String> =
            meta::finalizers(&new).into_iter().filter(|f| !before.contains(f)).collect();
        if !added.is_empty() {
            let detail = format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
            );
            let cause = forbidden_cause("metadata.finalizers", &detail);
            return Err(ApiError::invalid(&subject, vec![cause]));
        }
    }
    builtins::prepare(resource, &mut new, Some(&old));
    builtins::validate(resource, &new, Some(&old))?;
    let verb = if matches!(ownership, Ownership::Applied) { Verb::Apply } else { Verb::Write };
    let warnings = admission::admit(resource, &mut new, Some(&old), req.field_validation()?, verb)?;
    if resource.tracks_generation
        && generation_relevant(resource, &new) != generation_relevant(resource, &old)
    {
        meta::metadata_mut(&mut new).insert("generation".into(), json!(meta::generation(&old) + 1));
    }
    if let Ownership::Update(manager) = ownership {
        let writer = writer(resource, manager, subresource);
        ssa::record_update(resource.schema.as_ref(), Some(&old), &mut new, &writer);
    }
    meta::set_resource_version(&mut new, 0);
    let mut unchanged_old = old.clone();
    meta::set_resource_version(&mut unchanged_old, 0);
    if new == unchanged_old {
        return Ok(Reply::ok(present(resource, old)).with_warnings(warnings));
    }
    if let Some(rv) = meta::resource_version(&old) {
        meta::metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv));
    }
    if req.dry_run() {
        return Ok(Reply::ok(present(resource, new)).with_warnings(warnings));
    }
    let key = key_for(target, &name);
    if meta::is_deleting(&new) && meta::finalizers(&new).is_empty() {
        state.replace(key.clone(), new);
        let removed = delete::remove_now(state, &key);
        let body = removed.map(|o| present(resource, o)).unwrap_or_default();
        return Ok(Reply::ok(body).with_warnings(warnings));
    }
    let stored = state.replace(key, new);
    builtins::after_write(state, resource, &stored);
    Ok(Reply::ok(present(resource, stored)).with_warnings(warnings))
}
