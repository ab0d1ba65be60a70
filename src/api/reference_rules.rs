//! The validation of one schema node as lines of Markdown: enums, patterns, lengths, counts,
//! numeric ranges, list and map types, CEL rules (immutability and transition rules named as
//! such), and the same for list items and map values. Pure.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, ValidationRule,
};

use super::{code, escape_html, items, map_values};

/// Every constraint of the node, one line each; list items' and map values' own constraints
/// prefixed with "each item" / "each value".
pub(super) fn validation(schema: &JSONSchemaProps) -> Vec<String> {
    let mut lines = constraints(schema);
    for (prefix, inner) in [("each item", items(schema)), ("each value", map_values(schema))] {
        let Some(inner) = inner else { continue };
        // An object's own fields are described in their own sections; its rules stay here.
        lines.extend(constraints(inner).into_iter().map(|line| format!("{prefix}: {line}")));
        if let Some(deeper) = items(inner).or_else(|| map_values(inner)) {
            let nested = validation(deeper);
            lines.extend(nested.into_iter().map(|line| format!("{prefix}, each element: {line}")));
        }
    }
    lines
}

fn constraints(schema: &JSONSchemaProps) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(values) = &schema.enum_ {
        let values: Vec<String> = values.iter().map(|v| code(&enum_text(&v.0))).collect();
        lines.push(format!("one of {}", values.join(", ")));
    }
    if let Some(pattern) = &schema.pattern {
        lines.push(format!("matches the pattern {}", code(pattern)));
    }
    let counts = [
        (schema.min_length, schema.max_length, "character"),
        (schema.min_items, schema.max_items, "item"),
        (schema.min_properties, schema.max_properties, "entry"),
    ];
    lines.extend(counts.into_iter().filter_map(|(min, max, unit)| bounds(min, max, unit)));
    if let Some(line) = range(schema) {
        lines.push(line);
    }
    if let Some(factor) = schema.multiple_of {
        lines.push(format!("a multiple of {}", number(factor)));
    }
    if schema.unique_items == Some(true) {
        lines.push("items are unique".into());
    }
    match schema.x_kubernetes_list_type.as_deref() {
        Some("map") => {
            let keys: Vec<String> =
                schema.x_kubernetes_list_map_keys.iter().flatten().map(|k| code(k)).collect();
            lines.push(format!(
                "a map list keyed by {}: no two items share a key, and server-side apply merges items by it",
                keys.join(" + ")
            ));
        }
        Some("set") => lines.push("a set list: items are unique".into()),
        Some("atomic") => lines.push("an atomic list: server-side apply replaces it whole".into()),
        _ => {}
    }
    if schema.x_kubernetes_map_type.as_deref() == Some("atomic") {
        lines.push("an atomic map: server-side apply replaces it whole".into());
    }
    for rule in schema.x_kubernetes_validations.iter().flatten() {
        lines.push(cel_rule(rule));
    }
    lines
}

fn cel_rule(rule: &ValidationRule) -> String {
    let expression = rule.rule.split_whitespace().collect::<Vec<_>>().join(" ");
    let kind = if expression == "self == oldSelf" {
        "immutable once set: "
    } else if expression.contains("oldSelf") {
        "on update: "
    } else {
        ""
    };
    let mut notes = Vec::new();
    if let Some(expression) = &rule.message_expression {
        notes.push(format!("message computed by {}", code(expression)));
    }
    if let Some(reason) = &rule.reason {
        notes.push(format!("reason `{reason}`"));
    }
    if let Some(path) = &rule.field_path {
        notes.push(format!("reported on `{path}`"));
    }
    let notes: String = notes.iter().map(|n| format!(", {n}")).collect();
    let rule_kind = if kind == "on update: " { "CEL transition rule" } else { "CEL rule" };
    match &rule.message {
        Some(message) => {
            format!("{kind}\"{}\" ({rule_kind} {}{notes})", escape_html(message), code(&expression))
        }
        None => format!("{kind}{rule_kind} {}{notes}", code(&expression)),
    }
}

fn enum_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn bounds(min: Option<i64>, max: Option<i64>, unit: &str) -> Option<String> {
    let plural = |n: i64| {
        let units = match unit {
            "entry" if n != 1 => "entries".to_string(),
            _ if n != 1 => format!("{unit}s"),
            _ => unit.to_string(),
        };
        format!("{n} {units}")
    };
    match (min, max) {
        (Some(min), Some(max)) if min == max => Some(format!("exactly {}", plural(max))),
        (Some(min), Some(max)) => Some(format!("{min} to {}", plural(max))),
        (Some(min), None) => Some(format!("at least {}", plural(min))),
        (None, Some(max)) => Some(format!("at most {}", plural(max))),
        (None, None) => None,
    }
}

fn range(schema: &JSONSchemaProps) -> Option<String> {
    let low = schema.minimum.map(|m| {
        let op = if schema.exclusive_minimum == Some(true) { ">" } else { "≥" };
        format!("{op} {}", number(m))
    });
    let high = schema.maximum.map(|m| {
        let op = if schema.exclusive_maximum == Some(true) { "<" } else { "≤" };
        format!("{op} {}", number(m))
    });
    match (low, high) {
        (Some(low), Some(high)) => Some(format!("value {low} and {high}")),
        (Some(bound), None) | (None, Some(bound)) => Some(format!("value {bound}")),
        (None, None) => None,
    }
}

/// `365` for 365.0, `0.5` for 0.5.
pub(super) fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}
