//! DELETE: preconditions, finalizers (mark with `deletionTimestamp`, keep until they are gone),
//! immediate removal otherwise, namespace termination that deletes the namespace's contents,
//! and a small garbage collector removing objects whose owners are all gone. Mutates the store.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::builtins;
use super::http::{Reply, Request, Target};
use super::meta;
use super::selectors::Selectors;
use super::status::ApiError;
use super::store::{ObjectKey, State};
use super::write::{key_for, present};

/// Handles DELETE of one object.
pub fn delete(state: &mut State, target: &Target, req: &Request) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let name = target.name.clone().unwrap_or_default();
    let subject = resource.subject(&name);
    let key = key_for(target, &name);
    let old = state.get(&key).cloned().ok_or_else(|| ApiError::not_found(&subject))?;
    let options: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    check_preconditions(&options, &old, &subject)?;
    let dry_run = req.dry_run()
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let returns_object = resource.plural == "namespaces";
    let immediate = meta::finalizers(&old).is_empty() && resource.plural != "namespaces";
    if dry_run {
        return Ok(if immediate && !returns_object {
            Reply::ok(success(target, &old))
        } else {
            Reply::ok(present(resource, old))
        });
    }
    if immediate {
        remove_now(state, &key);
        return Ok(Reply::ok(success(target, &old)));
    }
    mark_deleting(state, &key);
    let marked = state.get(&key).cloned().unwrap_or(old);
    if resource.plural == "namespaces" {
        terminate_namespace(state, &name);
    }
    Ok(Reply::ok(present(resource, marked)))
}

fn check_preconditions(
    options: &Value,
    old: &Value,
    subject: &super::status::Subject,
) -> Result<(), ApiError> {
    let precondition =
        |field: &str| options.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str);
    if let Some(uid) = precondition("uid") {
        let actual = meta::meta_str(old, "uid").unwrap_or_default();
        if uid != actual {
            let why = format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
            );
            return Err(ApiError::conflict_because(subject, &why));
        }
    }
    if let Some(rv) = precondition("resourceVersion") {
        let actual = meta::resource_version(old).unwrap_or_default();
        if rv != actual {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
            );
            return Err(ApiError::conflict_because(subject, &why));
        }
    }
    Ok(())
}

/// `Status` Success for an object removed at once; `details.kind` is the resource, as upstream.
fn success(target: &Target, old: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta::name(old).unwrap_or_default(),
            "group": target.resource.group,
            "kind": target.resource.plural,
            "uid": meta::meta_str(old, "uid").unwrap_or_default(),
        }
    })
}

/// Sets `deletionTimestamp` (once) and bumps generation, as `markAsDeleting` does.
fn mark_deleting(state: &mut State, key: &ObjectKey) {
    let Some(mut object) = state.get(key).cloned() else {
        return;
    };
    if meta::is_deleting(&object) {
        return;
    }
    let generation = meta::generation(&object);
    let metadata = meta::metadata_mut(&mut object);
    metadata.insert("deletionTimestamp".into(), json!(meta::now()));
    metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
    if generation > 0 {
        metadata.insert("generation".into(), json!(generation + 1));
    }
    if key.plural == "namespaces" && key.group.is_empty() {
        object["status"] = json!({"phase": "Terminating"});
    }
    state.replace(key.clone(), object);
}

/// Deletes an object now, then lets dependents and terminating namespaces follow.
pub fn remove_now(state: &mut State, key: &ObjectKey) -> Option<Value> {
    let removed = state.remove(key)?;
    builtins::after_remove(state, key, &removed);
    collect_garbage(state);
    finish_namespaces(state);
    Some(removed)
}

/// Deletes (or marks, when they have finalizers) one object during a cascade.
fn cascade_delete(state: &mut State, key: &ObjectKey) {
    let Some(object) = state.get(key) else {
        return;
    };
    if meta::finalizers(object).is_empty() {
        if let Some(removed) = state.remove(key) {
            builtins::after_remove(state, key, &removed);
        }
    } else {
        mark_deleting(state, key);
    }
}

fn terminate_namespace(state: &mut State, namespace: &str) {
    let contents: Vec<ObjectKey> =
        state.objects.keys().filter(|k| k.namespace == namespace).cloned().collect();
    for key in contents {
        cascade_delete(state, &key);
    }
    collect_garbage(state);
    finish_namespaces(state);
}

/// Removes terminating namespaces that have become empty.
fn finish_namespaces(state: &mut State) {
    let terminating: Vec<ObjectKey> = state
        .objects
        .iter()
        .filter(|(k, v)| k.group.is_empty() && k.plural == "namespaces" && meta::is_deleting(v))
        .map(|(k, _)| k.clone())
        .collect();
    for key in terminating {
        let empty = !state.objects.keys().any(|k| k.namespace == key.name);
        if empty {
            state.remove(&key);
        }
    }
}

/// Background garbage collection: an object all of whose owners are gone is deleted.
fn collect_garbage(state: &mut State) {
    for _ in 0..32 {
        let uids: HashSet<String> = state
            .objects
            .values()
            .filter_map(|o| meta::meta_str(o, "uid").map(str::to_string))
            .collect();
        let orphans: Vec<ObjectKey> = state
            .objects
            .iter()
            .filter(|(_, o)| !meta::is_deleting(o))
            .filter(|(_, o)| {
                let owners = owner_uids(o);
                !owners.is_empty() && owners.iter().all(|uid| !uids.contains(uid))
            })
            .map(|(k, _)| k.clone())
            .collect();
        if orphans.is_empty() {
            return;
        }
        for key in orphans {
            cascade_delete(state, &key);
        }
    }
}

fn owner_uids(object: &Value) -> Vec<String> {
    meta::metadata(object)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// DELETE on a collection: deletes every object matching the selectors.
pub fn delete_collection(
    state: &mut State,
    target: &Target,
    req: &Request,
    selectors: &Selectors,
) -> Result<Reply, ApiError> {
    let resource = &target.resource;
    let keys: Vec<ObjectKey> = state
        .objects
        .iter()
        .filter(|(k, _)| k.group == resource.group && k.plural == resource.plural)
        .filter(|(k, _)| target.namespace.as_ref().is_none_or(|ns| k.namespace == *ns))
        .filter(|(_, o)| selectors.matches(o))
        .map(|(k, _)| k.clone())
        .collect();
    let mut items = Vec::new();
    for key in keys {
        if !req.dry_run() {
            cascade_delete(state, &key);
        }
        if let Some(object) = state.get(&key).cloned() {
            items.push(present(resource, object));
        }
    }
    collect_garbage(state);
    finish_namespaces(state);
    Ok(Reply::ok(json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": state.resource_version.to_string()},
        "items": items,
    })))
}
