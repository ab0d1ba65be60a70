//! The merge step of server-side apply: an applied configuration merged into the live object,
//! maps key by key, `x-kubernetes-list-type: map` lists by their keys, sets by value, everything
//! else (atomic lists, `x-kubernetes-map-type: atomic`) replaced. ObjectMeta's own list types
//! (finalizers as a set, ownerReferences by uid) are honoured. Pure.

use serde_json::{Value, json};

use super::prune::property_schema;
use super::schema::{item_key, list_map_keys};

/// Merges `patch` into `target` following the schema's map and list semantics.
pub fn merge_into(schema: Option<&Value>, target: &mut Value, patch: &Value, root: bool) {
    let (Some(target_map), Some(patch_map)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return;
    };
    let atomic = !root
        && schema.is_some_and(|s| {
            s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
        });
    if atomic {
        *target = patch.clone();
        return;
    }
    for (key, patch_value) in patch_map {
        let child_schema = if root && key == "metadata" {
            None
        } else {
            schema.and_then(|s| property_schema(s, key))
        };
        let Some(existing) = target_map.get_mut(key) else {
            target_map.insert(key.clone(), patch_value.clone());
            continue;
        };
        if root && key == "metadata" {
            merge_metadata(existing, patch_value);
            continue;
        }
        match (existing, patch_value) {
            (existing @ Value::Object(_), Value::Object(_)) => {
                merge_into(child_schema, existing, patch_value, false)
            }
            (Value::Array(items), Value::Array(patch_items)) => {
                merge_list(child_schema, items, patch_items)
            }
            (existing, _) => *existing = patch_value.clone(),
        }
    }
}

fn merge_metadata(existing: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        return;
    };
    for (key, value) in patch {
        match (key.as_str(), existing.get_mut(key)) {
            ("labels" | "annotations", Some(current @ Value::Object(_))) => {
                merge_into(None, current, value, false)
            }
            ("finalizers", Some(Value::Array(current))) => {
                let schema = json!({"x-kubernetes-list-type": "set"});
                merge_list(
                    Some(&schema),
                    current,
                    value.as_array().map(Vec::as_slice).unwrap_or_default(),
                )
            }
            ("ownerReferences", Some(Value::Array(current))) => {
                let schema = json!({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"], "items": {"x-kubernetes-map-type": "atomic"}});
                merge_list(
                    Some(&schema),
                    current,
                    value.as_array().map(Vec::as_slice).unwrap_or_default(),
                )
            }
            _ => {
                if let Some(map) = existing.as_object_mut() {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

fn merge_list(schema: Option<&Value>, items: &mut Vec<Value>, patch: &[Value]) {
    let list_type = schema
        .and_then(|s| s.get("x-kubernetes-list-type"))
        .and_then(Value::as_str)
        .unwrap_or("atomic");
    match list_type {
        "map" => {
            let keys = schema.map(list_map_keys).unwrap_or_default();
            let item_schema = schema.and_then(|s| s.get("items"));
            for patch_item in patch {
                let key = item_key(patch_item, &keys);
                match items.iter_mut().find(|i| item_key(i, &keys) == key) {
                    Some(existing) => merge_into(item_schema, existing, patch_item, false),
                    None => items.push(patch_item.clone()),
                }
            }
        }
        "set" => {
            for patch_item in patch {
                if !items.contains(patch_item) {
                    items.push(patch_item.clone());
                }
            }
        }
        _ => *items = patch.to_vec(),
    }
}
