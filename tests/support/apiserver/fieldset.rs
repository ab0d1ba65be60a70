//! Field sets for server-side apply: the leaf paths an object sets, in the `fieldsV1` encoding
//! (`f:spec`, `k:{"type":"Ready"}` for `x-kubernetes-list-type: map` items, `v:"x"` for set
//! items), following the CRD schema for list and map types (and ObjectMeta's own rules for
//! `metadata`). Conversion to and from `fieldsV1` JSON, path lookup and removal. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::prune::property_schema;
use super::schema::{item_key, list_map_keys};

/// One path element in `fieldsV1` form: `f:name`, `k:{json}` or `v:json`.
pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// `metadata` fields the field manager never tracks.
const STRIPPED_METADATA: [&str; 8] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// ObjectMeta's list and map types, as the field manager sees them.
fn metadata_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        json!({
            "type": "object",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "ownerReferences": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["uid"],
                    "items": {"type": "object", "x-kubernetes-map-type": "atomic"}
                }
            }
        })
    })
}

/// Every tracked leaf path of `object`, given the resource's root schema (if any).
pub fn fields_of(schema: Option<&Value>, object: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(map) = object.as_object() else {
        return set;
    };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if let Some(meta) = value.as_object() {
                    for (field, child) in meta {
                        if STRIPPED_METADATA.contains(&field.as_str()) {
                            continue;
                        }
                        let path = vec!["f:metadata".to_string(), format!("f:{field}")];
                        let child_schema = property_schema(metadata_schema(), field);
                        collect(child_schema, child, path, &mut set);
                    }
                }
            }
            _ => {
                let child_schema = schema.and_then(|s| property_schema(s, key));
                collect(child_schema, value, vec![format!("f:{key}")], &mut set);
            }
        }
    }
    set
}

fn is_atomic_map(schema: Option<&Value>) -> bool {
    schema.is_some_and(|s| {
        s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            || s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
    })
}

fn list_type(schema: Option<&Value>) -> &str {
    schema.and_then(|s| s.get("x-kubernetes-list-type")).and_then(Value::as_str).unwrap_or("atomic")
}

fn collect(schema: Option<&Value>, value: &Value, path: Path, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() && !is_atomic_map(schema) => {
            for (key, child) in map {
                let child_schema = schema.and_then(|s| property_schema(s, key));
                let mut child_path = path.clone();
                child_path.push(format!("f:{key}"));
                collect(child_schema, child, child_path, set);
            }
        }
        Value::Array(items) if !items.is_empty() => match list_type(schema) {
            "map" => {
                let keys = schema.map(list_map_keys).unwrap_or_default();
                let item_schema = schema.and_then(|s| s.get("items"));
                for item in items {
                    let mut item_path = path.clone();
                    item_path.push(format!("k:{}", item_key(item, &keys)));
                    set.insert(item_path.clone());
                    collect(item_schema, item, item_path, set);
                }
            }
            "set" => {
                for item in items {
                    let mut item_path = path.clone();
                    item_path.push(format!("v:{item}"));
                    set.insert(item_path);
                }
            }
            _ => {
                set.insert(path);
            }
        },
        _ => {
            set.insert(path);
        }
    }
}

/// True for a list-map item marker (`k:`), which names an item rather than a leaf value.
pub fn is_item_marker(path: &Path) -> bool {
    path.last().is_some_and(|p| p.starts_with("k:"))
}

/// The value a path points to, if present.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = object;
    for element in path {
        current = step(current, element)?;
    }
    Some(current)
}

fn step<'a>(value: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(field) = element.strip_prefix("f:") {
        return value.get(field);
    }
    let items = value.as_array()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items.iter().find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(literal) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(literal).ok()?;
        return items.iter().find(|item| **item == wanted);
    }
    None
}

/// Removes the field, list-map item or set item a path names; a no-op when absent.
pub fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for element in parents {
        let next = step_mut(current, element);
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = current.as_object_mut() {
            map.remove(field);
        }
        return;
    }
    let Some(items) = current.as_array_mut() else {
        return;
    };
    if let Some(key) = last.strip_prefix("k:") {
        if let Ok(key) = serde_json::from_str::<Map<String, Value>>(key) {
            items.retain(|item| !key.iter().all(|(k, v)| item.get(k) == Some(v)));
        }
    } else if let Some(literal) = last.strip_prefix("v:")
        && let Ok(wanted) = serde_json::from_str::<Value>(literal)
    {
        items.retain(|item| *item != wanted);
    }
}

fn step_mut<'a>(value: &'a mut Value, element: &str) -> Option<&'a mut Value> {
    if let Some(field) = element.strip_prefix("f:") {
        return value.get_mut(field);
    }
    let items = value.as_array_mut()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items.iter_mut().find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
    if let Some(literal) = element.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(literal).ok()?;
        return items.iter_mut().find(|item| **item == wanted);
    }
    None
}

#[derive(Default)]
struct Node {
    is_member: bool,
    children: BTreeMap<String, Node>,
}

/// Encodes a set as `fieldsV1` JSON: `{"f:spec":{"f:image":{}}}`, with `"."` marking a node
/// that is itself a member and has children.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node.children.entry(element.clone()).or_default();
        }
        node.is_member = true;
    }
    encode(&root)
}

fn encode(node: &Node) -> Value {
    let mut map = Map::new();
    if node.is_member && !node.children.is_empty() {
        map.insert(".".into(), json!({}));
    }
    for (element, child) in &node.children {
        map.insert(element.clone(), encode(child));
    }
    Value::Object(map)
}

/// Decodes `fieldsV1` JSON back into a set.
pub fn from_fields_v1(fields: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    decode(fields, Vec::new(), &mut set);
    set
}

fn decode(node: &Value, path: Path, set: &mut FieldSet) {
    let Some(map) = node.as_object() else {
        return;
    };
    if map.is_empty() && !path.is_empty() {
        set.insert(path);
        return;
    }
    for (element, child) in map {
        if element == "." {
            set.insert(path.clone());
            continue;
        }
        let mut child_path = path.clone();
        child_path.push(element.clone());
        decode(child, child_path, set);
    }
}

/// `.spec.image`, `.status.conditions[type="Ready"].status`, `.metadata.finalizers[="x"]`:
/// how conflict messages print a path.
pub fn path_string(path: &Path) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(field) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = element.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(literal) = element.strip_prefix("v:") {
            out.push_str(&format!("[={literal}]"));
        }
    }
    out
}

/// The set restricted to paths under (or outside) `.status`, for status-subresource resets.
pub fn split_status(set: &FieldSet) -> (FieldSet, FieldSet) {
    set.iter().cloned().partition(|p| p.first().is_some_and(|f| f == "f:status"))
}
