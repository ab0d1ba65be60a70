//! Server-side printing: the `meta.k8s.io/v1` `Table` kubectl asks for, built from a CRD's
//! `additionalPrinterColumns` (Name and Age otherwise), with the simple JSONPath subset printer
//! columns use: `.a.b`, `[0]`, `['key']` and `[?(@.type=="Ready")]`. Pure.

use serde_json::{Value, json};

use super::meta;
use super::registry::{PrinterColumn, ResourceType};

/// Builds a Table from (already presented) objects; `include_object` is `includeObject`.
pub fn table(
    resource: &ResourceType,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
) -> Value {
    let columns = columns(resource);
    let mut definitions = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    })];
    for column in &columns {
        definitions.push(json!({
            "name": column.name, "type": column.type_, "format": column.format,
            "description": column.description, "priority": column.priority,
        }));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut cells = vec![json!(meta::name(object).unwrap_or_default())];
            cells.extend(columns.iter().map(|c| cell(c, object)));
            let embedded = match include_object {
                "None" => Value::Null,
                "Object" => object.clone(),
                _ => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object.get("metadata").cloned().unwrap_or_default(),
                }),
            };
            json!({"cells": cells, "object": embedded})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

fn columns(resource: &ResourceType) -> Vec<PrinterColumn> {
    if !resource.printer_columns.is_empty() {
        return resource.printer_columns.clone();
    }
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

/// One cell, converted like the apiextensions table convertor (`cellForJSONValue`).
fn cell(column: &PrinterColumn, object: &Value) -> Value {
    let Some(value) = evaluate(&column.json_path, object) else {
        return Value::Null;
    };
    match column.type_.as_str() {
        "integer" => value.as_f64().map(|n| json!(n as i64)).unwrap_or(Value::Null),
        "number" => value.as_f64().map(|n| json!(n)).unwrap_or(Value::Null),
        "boolean" => value.as_bool().map(|b| json!(b)).unwrap_or(Value::Null),
        "date" => match value.as_str() {
            Some(timestamp) => match meta::age_seconds(timestamp) {
                Some(age) => json!(meta::human_duration(age)),
                None => json!("<invalid>"),
            },
            None => Value::Null,
        },
        _ => match value {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            other => json!(other.to_string()),
        },
    }
}

/// Evaluates a simple JSONPath (`{}` optional) against an object.
pub fn evaluate<'a>(path: &str, object: &'a Value) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut current = object;
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let field = &after[..end];
            if !field.is_empty() {
                current = current.get(field)?;
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = find_closing(after)?;
            let inside = &after[..end];
            current = index(current, inside)?;
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(current)
}

/// Position of the `]` closing a bracket, skipping those inside quotes.
fn find_closing(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn index<'a>(value: &'a Value, inside: &str) -> Option<&'a Value> {
    let inside = inside.trim();
    if let Some(filter) = inside.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        let (left, right) = filter.split_once("==")?;
        let field = left.trim().strip_prefix("@.")?;
        let wanted = right.trim().trim_matches(|c| c == '"' || c == '\'');
        return value.as_array()?.iter().find(|item| {
            let mut current = Some(*item);
            for part in field.split('.') {
                current = current.and_then(|c| c.get(part));
            }
            match current {
                Some(Value::String(s)) => s == wanted,
                Some(other) => {
                    let text = other.to_string();
                    text == wanted
                }
                None => false,
            }
        });
    }
    if let Ok(i) = inside.parse::<usize>() {
        return value.as_array()?.get(i);
    }
    let key = inside.trim_matches(|c| c == '"' || c == '\'');
    value.get(key)
}
