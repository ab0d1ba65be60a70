//! Validation of a (pruned, defaulted) custom resource against its CRD's `openAPIV3Schema`:
//! type, required, enum, pattern, bounds, lengths, item counts, cheap formats,
//! `x-kubernetes-int-or-string` and `x-kubernetes-list-type` uniqueness. Returns one `Cause`
//! per violation, worded like kube-apiserver. Pure.

use serde_json::{Value, json};

use super::prune::property_schema;
use super::status::{
    Cause, duplicate_cause, invalid_cause, not_supported_cause, required_cause, too_long_cause,
    too_many_cause, type_invalid_cause,
};

/// Validates everything but `apiVersion`, `kind` and `metadata` of a custom resource.
pub fn validate(schema: &Value, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(child) = property_schema(schema, key) {
                validate_node(child, value, key, &mut causes);
            }
        }
        check_required(schema, map, "", &mut causes);
    }
    causes
}

/// The JSON type name kube-openapi reports for a value.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn validate_node(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        if !flag(schema, "nullable")
            && let Some(expected) = schema.get("type").and_then(Value::as_str)
        {
            causes.push(type_mismatch(path, expected, value));
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !matches!(type_name(value), "integer" | "string") {
            causes.push(type_mismatch(path, "integer,string", value));
        }
        return;
    }
    let actual = type_name(value);
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let matches = expected == actual || (expected == "number" && actual == "integer");
        if !matches {
            causes.push(type_mismatch(path, expected, value));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        causes.push(not_supported_cause(path, value, allowed));
    }
    match value {
        Value::String(s) => validate_string(schema, s, value, path, causes),
        Value::Number(_) => validate_number(schema, value, path, causes),
        Value::Array(items) => validate_array(schema, items, path, causes),
        Value::Object(map) => {
            for (key, child_value) in map {
                if let Some(child) = property_schema(schema, key) {
                    validate_node(child, child_value, &join(path, key), causes);
                }
            }
            check_required(schema, map, path, causes);
            let count = map.len() as u64;
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && count > max
            {
                causes.push(too_many_cause(path, map.len(), max));
            }
            if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
                && count < min
            {
                let detail = format!("{path} in body should have at least {min} properties");
                causes.push(invalid_cause(path, &json!(count), &detail));
            }
        }
        _ => {}
    }
}

fn type_mismatch(path: &str, expected: &str, value: &Value) -> Cause {
    let actual = type_name(value);
    let detail = format!("{path} in body must be of type {expected}: {actual:?}");
    type_invalid_cause(path, &json!(actual), &detail)
}

fn check_required(
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(required) {
            causes.push(required_cause(&join(path, required), ""));
        }
    }
}

fn validate_string(schema: &Value, s: &str, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let length = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && length > max
    {
        causes.push(too_long_cause(path, max));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && length < min
    {
        let detail = format!("{path} in body should be at least {min} chars long");
        causes.push(invalid_cause(path, value, &detail));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matches = regex::Regex::new(pattern).is_ok_and(|r| r.is_match(s));
        if !matches {
            let detail = format!("{path} in body should match '{pattern}'");
            causes.push(invalid_cause(path, value, &detail));
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && !format_matches(format, s)
    {
        let detail = format!("{path} in body must be of type {format}: {s:?}");
        causes.push(invalid_cause(path, value, &detail));
    }
}

/// The formats checked; unknown formats are accepted, like kube-openapi.
fn format_matches(format: &str, s: &str) -> bool {
    match format {
        "date-time" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.parse::<jiff::civil::Date>().is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => regex::Regex::new(
            r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
        )
        .is_ok_and(|r| r.is_match(s)),
        "byte" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        "hostname" => regex::Regex::new(
            r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,62})?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,62})?)*\.?$",
        )
        .is_ok_and(|r| r.is_match(s) && s.len() <= 255),
        _ => true,
    }
}

fn validate_number(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let Some(n) = value.as_f64() else { return };
    let exclusive_max = flag(schema, "exclusiveMaximum");
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let over = if exclusive_max { n >= max } else { n > max };
        if over {
            let bound = schema.get("maximum").cloned().unwrap_or_default();
            let relation = if exclusive_max { "less than" } else { "less than or equal to" };
            let detail = format!("{path} in body should be {relation} {bound}");
            causes.push(invalid_cause(path, value, &detail));
        }
    }
    let exclusive_min = flag(schema, "exclusiveMinimum");
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let under = if exclusive_min { n <= min } else { n < min };
        if under {
            let bound = schema.get("minimum").cloned().unwrap_or_default();
            let relation = if exclusive_min { "greater than" } else { "greater than or equal to" };
            let detail = format!("{path} in body should be {relation} {bound}");
            causes.push(invalid_cause(path, value, &detail));
        }
    }
    if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64)
        && factor != 0.0
        && (n / factor).fract() != 0.0
    {
        let bound = schema.get("multipleOf").cloned().unwrap_or_default();
        let detail = format!("{path} in body should be a multiple of {bound}");
        causes.push(invalid_cause(path, value, &detail));
    }
}

fn validate_array(schema: &Value, items: &[Value], path: &str, causes: &mut Vec<Cause>) {
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && items.len() as u64 > max
    {
        causes.push(too_many_cause(path, items.len(), max));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        let detail = format!("{path} in body should have at least {min} items");
        causes.push(invalid_cause(path, &json!(items.len()), &detail));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate_node(item_schema, item, &format!("{path}[{i}]"), causes);
        }
    }
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys = list_map_keys(schema);
            let mut seen: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let key = item_key(item, &keys);
                if seen.contains(&key) {
                    causes.push(duplicate_cause(&format!("{path}[{i}]"), &key));
                } else {
                    seen.push(key);
                }
            }
        }
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    causes.push(duplicate_cause(&format!("{path}[{i}]"), item));
                }
            }
        }
        _ => {}
    }
}

pub fn list_map_keys(schema: &Value) -> Vec<String> {
    schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// `{"type":"Ready"}`: the key fields of a list-map item.
pub fn item_key(item: &Value, keys: &[String]) -> Value {
    let mut key = serde_json::Map::new();
    for k in keys {
        if let Some(v) = item.get(k) {
            key.insert(k.clone(), v.clone());
        }
    }
    Value::Object(key)
}
