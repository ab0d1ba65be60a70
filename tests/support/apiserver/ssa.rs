//! Server-side apply and `managedFields` bookkeeping. `record_update` gives an `Update`
//! manager the fields a write changed; `apply` merges an applied configuration into the live
//! object (maps by key, `x-kubernetes-list-type: map` lists by their keys, sets by value, other
//! lists atomically), reports conflicts with other managers unless forced, and removes fields
//! the applier stopped applying that nobody else owns. Pure.

use serde_json::{Value, json};

use super::fieldset::{
    FieldSet, Path, fields_of, from_fields_v1, is_item_marker, path_string, remove_at,
    split_status, to_fields_v1, value_at,
};
use super::merge::merge_into;
use super::meta;
use super::status::{ApiError, Cause};

/// One `managedFields` entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&self.fields),
        });
        if !self.subresource.is_empty() {
            entry["subresource"] = json!(self.subresource);
        }
        entry
    }
}

/// Who is writing: manager name, API version used and subresource (`""` or `"status"`).
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: String,
    pub subresource: &'a str,
    /// The resource has a status subresource, so each endpoint owns only its half.
    pub status_split: bool,
}

impl Writer<'_> {
    /// Keeps only the fields this endpoint may set (the reset-fields rule).
    fn owned_part(&self, set: FieldSet) -> FieldSet {
        if !self.status_split {
            return set;
        }
        let (status, rest) = split_status(&set);
        if self.subresource == "status" { status } else { rest }
    }
}

fn entries(object: &Value) -> Vec<Entry> {
    meta::metadata(object)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                    Entry {
                        manager: text("manager").into(),
                        operation: text("operation").into(),
                        api_version: text("apiVersion").into(),
                        time: text("time").into(),
                        subresource: text("subresource").into(),
                        fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn store_entries(object: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> =
        entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_json).collect();
    let meta = meta::metadata_mut(object);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Records a non-apply write (create, update, patch) of `new` over `old` by `writer`.
pub fn record_update(
    schema: Option<&Value>,
    old: Option<&Value>,
    new: &mut Value,
    writer: &Writer,
) {
    let new_fields = writer.owned_part(fields_of(schema, new));
    let old_fields = old.map(|o| writer.owned_part(fields_of(schema, o))).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| {
            let before = old.and_then(|o| value_at(o, p));
            match before {
                None => true,
                Some(_) if is_item_marker(p) => false,
                Some(before) => Some(before) != value_at(new, p),
            }
        })
        .cloned()
        .collect();
    let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
    let mut list = old.map(entries).unwrap_or_default();
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, list);
        return;
    }
    for entry in &mut list {
        entry.fields.retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let now = meta::now();
    match list.iter_mut().find(|e| e.same_owner(writer.manager, "Update", writer.subresource)) {
        Some(entry) => {
            entry.fields.extend(changed);
            entry.time = now;
            entry.api_version = writer.api_version.clone();
        }
        None => list.push(Entry {
            manager: writer.manager.into(),
            operation: "Update".into(),
            api_version: writer.api_version.clone(),
            time: now,
            subresource: writer.subresource.into(),
            fields: changed,
        }),
    }
    store_entries(new, list);
}

/// Merges `applied` into `live` (an empty object when creating) and updates managedFields.
/// Returns 409 with one cause per conflicting field unless `force`.
pub fn apply(
    schema: Option<&Value>,
    live: &Value,
    applied: &Value,
    writer: &Writer,
    force: bool,
) -> Result<Value, ApiError> {
    let applied_fields = writer.owned_part(fields_of(schema, applied));
    let mut merged = live.clone();
    merge_into(schema, &mut merged, applied, true);
    if writer.status_split {
        let keep_from_live = |merged: &mut Value, key: &str| match live.get(key) {
            Some(v) => {
                merged[key] = v.clone();
            }
            None => {
                if let Some(map) = merged.as_object_mut() {
                    map.remove(key);
                }
            }
        };
        if writer.subresource == "status" {
            let status = merged.get("status").cloned();
            let mut reset = live.clone();
            match status {
                Some(status) => reset["status"] = status,
                None => {
                    if let Some(map) = reset.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            merged = reset;
        } else {
            keep_from_live(&mut merged, "status");
        }
    }
    let mut list = entries(live);
    let me = |e: &Entry| e.same_owner(writer.manager, "Apply", writer.subresource);
    let mut conflicts: Vec<(String, Path, Entry)> = Vec::new();
    for entry in list.iter().filter(|e| !me(e)) {
        for path in entry.fields.intersection(&applied_fields) {
            if is_item_marker(path) {
                continue;
            }
            if value_at(live, path) != value_at(&merged, path) {
                conflicts.push((entry.manager.clone(), path.clone(), entry.clone()));
            }
        }
    }
    if !conflicts.is_empty()
        && !force
        && !upgrades_client_side_apply(schema, live, writer, &conflicts)
    {
        return Err(conflict_error(&conflicts));
    }
    for (_, path, owner) in &conflicts {
        for entry in list.iter_mut() {
            if entry.same_owner(&owner.manager, &owner.operation, &owner.subresource) {
                entry.fields.remove(path);
            }
        }
    }
    let previous: FieldSet =
        list.iter().find(|e| me(e)).map(|e| e.fields.clone()).unwrap_or_default();
    let owned_by_others: FieldSet =
        list.iter().filter(|e| !me(e)).flat_map(|e| e.fields.iter().cloned()).collect();
    // structured-merge-diff's prune: what the manager applied last time and not now, and nobody
    // else owns, goes — with every map or list item above it that neither this apply nor another
    // manager still holds anything under (named parents are members too). Top-level fields stay.
    let with_parents = |set: &FieldSet| -> FieldSet {
        set.iter()
            .flat_map(|p| {
                (1..=p.len()).filter(move |n| *n >= 2 || *n == p.len()).map(|n| p[..n].to_vec())
            })
            .collect()
    };
    let (kept, others) = (with_parents(&applied_fields), with_parents(&owned_by_others));
    let whole: FieldSet = with_parents(&previous)
        .into_iter()
        .filter(|p| !kept.contains(p) && !others.contains(p))
        .collect();
    // A path under an abandoned item or field goes with it: removing a list-map item's key
    // field first would leave the item unfindable and half removed.
    let mut abandoned: Vec<&Path> =
        whole.iter().filter(|p| !(1..p.len()).any(|n| whole.contains(&p[..n]))).collect();
    abandoned.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in abandoned {
        remove_at(&mut merged, path);
    }
    let now = meta::now();
    match list.iter_mut().find(|e| me(e)) {
        Some(entry) => {
            if entry.fields != applied_fields {
                entry.time = now;
            }
            entry.fields = applied_fields;
            entry.api_version = writer.api_version.clone();
        }
        None => list.push(Entry {
            manager: writer.manager.into(),
            operation: "Apply".into(),
            api_version: writer.api_version.clone(),
            time: now,
            subresource: writer.subresource.into(),
            fields: applied_fields,
        }),
    }
    store_entries(&mut merged, list);
    Ok(merged)
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// kube-apiserver's `lastAppliedManager`: `kubectl apply --server-side` (manager `kubectl`)
/// may take over fields that a previous client-side apply recorded in the last-applied
/// annotation, so migrating from client-side to server-side apply does not conflict.
fn upgrades_client_side_apply(
    schema: Option<&Value>,
    live: &Value,
    writer: &Writer,
    conflicts: &[(String, Path, Entry)],
) -> bool {
    if writer.manager != "kubectl" {
        return false;
    }
    let Some(annotation) = meta::metadata(live)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
    else {
        return false;
    };
    let Ok(last_applied) = serde_json::from_str::<Value>(annotation) else {
        return false;
    };
    let allowed = fields_of(schema, &last_applied);
    conflicts.iter().all(|(_, path, _)| allowed.contains(path))
}

/// kube-apiserver's `lastAppliedUpdater`: a server-side apply by `kubectl` refreshes an
/// existing last-applied annotation, so a later client-side apply computes the right patch.
pub fn refresh_last_applied(merged: &mut Value, applied: &Value, manager: &str) {
    if manager != "kubectl" {
        return;
    }
    let has_annotation = meta::metadata(merged)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .is_some();
    if !has_annotation {
        return;
    }
    let mut recorded = applied.clone();
    if let Some(annotations) =
        recorded.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let meta = meta::metadata_mut(merged);
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.insert(LAST_APPLIED.into(), json!(format!("{recorded}\n")));
    }
}

fn conflict_error(conflicts: &[(String, Path, Entry)]) -> ApiError {
    let describe = |e: &Entry| {
        let mut who = format!("{:?}", e.manager);
        if !e.subresource.is_empty() {
            who = format!("{who} with subresource {:?}", e.subresource);
        }
        if e.operation == "Update" {
            who = format!("{who} using {} at {}", e.api_version, e.time);
        }
        who
    };
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(_, path, entry)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", describe(entry)),
            field: path_string(path),
        })
        .collect();
    let message = if conflicts.len() == 1 {
        let (_, path, entry) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            describe(entry),
            path_string(path)
        )
    } else {
        let mut managers: Vec<&Entry> = Vec::new();
        for (_, _, entry) in conflicts {
            if !managers.iter().any(|m| m.manager == entry.manager) {
                managers.push(entry);
            }
        }
        managers.sort_by(|a, b| a.manager.cmp(&b.manager));
        let mut lines = Vec::new();
        for manager in managers {
            lines.push(format!("conflicts with {}:", describe(manager)));
            for (name, path, _) in conflicts {
                if *name == manager.manager {
                    lines.push(format!("- {}", path_string(path)));
                }
            }
        }
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    let mut error = ApiError::new(409, "Conflict", message);
    error.details.causes = causes;
    error
}
