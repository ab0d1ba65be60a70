//! `x-kubernetes-validations` CEL rules, evaluated with kube-cel: `self`, transition rules with
//! `oldSelf` on update, `fieldPath`, `reason`, `message` and `messageExpression`. Failures
//! become `Cause`s worded like kube-apiserver's (`Invalid value: "object": <message>`). Pure.

use serde_json::{Value, json};

use super::status::{Cause, duplicate_cause, forbidden_cause, invalid_cause, required_cause};

/// Evaluates every rule of `schema` against `object` (and `old` on update).
pub fn validate(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    if !has_rules(schema) {
        return Vec::new();
    }
    let body_schema = without_metadata(schema);
    let errors = match kube_cel::validate(&body_schema, object, old) {
        Ok(()) => return Vec::new(),
        Err(errors) => errors.into_vec(),
    };
    errors
        .iter()
        .map(|error| {
            let value = json!(rule_node_type(schema, &error.rule).unwrap_or("object"));
            let field = error.field_path.as_str();
            match error.reason.as_deref() {
                Some("FieldValueForbidden") => forbidden_cause(field, &error.message),
                Some("FieldValueRequired") => required_cause(field, &error.message),
                Some("FieldValueDuplicate") => duplicate_cause(field, &value),
                _ => invalid_cause(field, &value, &error.message),
            }
        })
        .collect()
}

/// The cause kube-apiserver adds instead of running CEL when the object has type errors.
pub fn skipped_cause() -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
        field: "<nil>".into(),
    }
}

fn has_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            map.contains_key("x-kubernetes-validations") || map.values().any(has_rules)
        }
        Value::Array(items) => items.iter().any(has_rules),
        _ => false,
    }
}

/// Rules are not evaluated against `metadata` beyond name and generateName; dropping its
/// schema keeps kube-cel from walking into server-set fields.
fn without_metadata(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.remove("metadata");
    }
    schema
}

/// The `type` of the schema node that declares `rule`, used as the reported bad value.
fn rule_node_type<'a>(schema: &'a Value, rule: &str) -> Option<&'a str> {
    let declares =
        schema.get("x-kubernetes-validations").and_then(Value::as_array).is_some_and(|rules| {
            rules.iter().any(|r| r.get("rule").and_then(Value::as_str) == Some(rule))
        });
    if declares {
        return schema.get("type").and_then(Value::as_str);
    }
    let children = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
        .chain(schema.get("items"))
        .chain(schema.get("additionalProperties"));
    for child in children {
        if let Some(found) = rule_node_type(child, rule) {
            return Some(found);
        }
    }
    None
}
