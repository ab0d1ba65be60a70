//! Structural pruning and defaulting of custom resources, as kube-apiserver does before
//! validation: unknown fields are dropped (and reported, for `fieldValidation=Strict|Warn`),
//! `null` is dropped where the schema is not `nullable`, then `default`s are filled in.
//! Pure functions over `serde_json::Value`.

use serde_json::{Map, Value};

/// The `metadata` fields `ObjectMeta` knows; anything else is unknown.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Prunes `object` in place against a CRD's `openAPIV3Schema`; returns the paths of the fields
/// removed because the schema does not declare them (`spec.foo`, `spec.items[0].bar`).
pub fn prune(schema: &Value, object: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Some(map) = object.as_object_mut() {
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            prune_metadata(meta, &mut unknown);
        }
        for (key, value) in map.iter_mut() {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(child) = property_schema(schema, key) {
                prune_node(child, value, key, &mut unknown);
            }
        }
        let preserve = preserves_unknown(schema);
        map.retain(|key, _| {
            let known = matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                || property_schema(schema, key).is_some();
            if !known && !preserve {
                unknown.push(key.clone());
            }
            known || preserve
        });
    }
    unknown
}

fn prune_metadata(meta: &mut Map<String, Value>, unknown: &mut Vec<String>) {
    meta.retain(|key, _| {
        let known = OBJECT_META_FIELDS.contains(&key.as_str());
        if !known {
            unknown.push(format!("metadata.{key}"));
        }
        known
    });
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
}

fn is_nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool) == Some(true)
}

/// The schema of `key` in an object node: a declared property, else `additionalProperties`.
pub fn property_schema<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    if let Some(child) = schema.get("properties").and_then(|p| p.get(key)) {
        return Some(child);
    }
    match schema.get("additionalProperties") {
        Some(Value::Object(child)) if !child.is_empty() => schema.get("additionalProperties"),
        Some(Value::Bool(true)) => schema.get("additionalProperties"),
        _ => None,
    }
}

fn prune_node(schema: &Value, value: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        return;
    }
    match value {
        Value::Object(map) => {
            if schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true)
                && let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut)
            {
                prune_metadata(meta, unknown);
            }
            let preserve = preserves_unknown(schema);
            let embedded =
                schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true);
            let mut removed = Vec::new();
            for (key, child_value) in map.iter_mut() {
                match property_schema(schema, key) {
                    Some(child) => {
                        prune_node(child, child_value, &format!("{path}.{key}"), unknown)
                    }
                    None if preserve
                        || (embedded
                            && matches!(key.as_str(), "apiVersion" | "kind" | "metadata")) => {}
                    None => removed.push(key.clone()),
                }
            }
            for key in removed {
                map.remove(&key);
                unknown.push(format!("{path}.{key}"));
            }
            let nulls: Vec<String> = map
                .iter()
                .filter(|(k, v)| {
                    v.is_null() && property_schema(schema, k).is_some_and(|s| !is_nullable(s))
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in nulls {
                map.remove(&key);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item_schema, item, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Fills in schema `default`s where a field is absent, recursively, like the structural
/// defaulting of kube-apiserver (defaults are themselves pruned-shaped already).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, child_schema) in properties {
                    if !map.contains_key(key)
                        && let Some(default) = child_schema.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            for (key, child_value) in map.iter_mut() {
                if let Some(child_schema) = property_schema(schema, key) {
                    apply_defaults(child_schema, child_value);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}
