//! Walking the parsed Compose file: typed views of `serde_json::Value` nodes that name the Compose
//! path and the type found when a node is not what Compose expects. Pure; no IO.

use serde_json::{Map, Value};

use super::error::{ComposeError, invalid};

/// A mapping node.
pub(crate) type Mapping = Map<String, Value>;

/// What a node is, for error messages ("found a list").
pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `path.key`, the Compose path of a child.
pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// `path[i]`, the Compose path of a list item.
pub(crate) fn item(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn expected(path: &str, what: &str, v: &Value) -> ComposeError {
    invalid(path, format!("expected {what}, found {}", describe(v)))
}

/// The node as a mapping.
pub(crate) fn mapping<'a>(v: &'a Value, path: &str) -> Result<&'a Mapping, ComposeError> {
    v.as_object().ok_or_else(|| expected(path, "a mapping", v))
}

/// The node as a list.
pub(crate) fn list<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], ComposeError> {
    v.as_array().map(Vec::as_slice).ok_or_else(|| expected(path, "a list", v))
}

/// The keys of a mapping in sorted order (independent of the map's own ordering).
pub(crate) fn sorted_keys(m: &Mapping) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys
}

/// A scalar as text: strings as they are, numbers and booleans as YAML wrote them (as far as
/// the parser kept them: `1.0` stays `1.0`).
pub(crate) fn scalar(v: &Value, path: &str) -> Result<String, ComposeError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(expected(path, "a string or a number", v)),
    }
}

/// A string node (numbers are accepted and written as text).
pub(crate) fn string(v: &Value, path: &str) -> Result<String, ComposeError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(expected(path, "a string", v)),
    }
}

/// A string, or a list of strings.
pub(crate) fn string_or_list(v: &Value, path: &str) -> Result<Vec<String>, ComposeError> {
    match v {
        Value::Array(items) => {
            items.iter().enumerate().map(|(i, x)| scalar(x, &item(path, i))).collect()
        }
        _ => Ok(vec![
            scalar(v, path).map_err(|_| expected(path, "a string or a list of strings", v))?,
        ]),
    }
}

/// A whole number: a YAML integer, or text that is one (what interpolation leaves behind).
pub(crate) fn integer(v: &Value, path: &str) -> Result<i64, ComposeError> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| match v {
        Value::String(s) => invalid(path, format!("{s:?} is not a whole number")),
        _ => expected(path, "a whole number", v),
    })
}

/// A decimal number: a YAML number, or text that is one.
pub(crate) fn number(v: &Value, path: &str) -> Result<f64, ComposeError> {
    let parsed = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.filter(|f| f.is_finite()).ok_or_else(|| match v {
        Value::String(s) => invalid(path, format!("{s:?} is not a number")),
        _ => expected(path, "a number", v),
    })
}

/// A boolean: YAML `true`/`false`, or text Compose reads as one after interpolation.
pub(crate) fn boolean(v: &Value, path: &str) -> Result<bool, ComposeError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Ok(true),
            "false" | "no" | "n" | "off" => Ok(false),
            _ => Err(invalid(path, format!("{s:?} is not true or false"))),
        },
        _ => Err(expected(path, "true or false", v)),
    }
}

/// A `KEY: value` mapping or a `["KEY=value", "KEY"]` list, as Compose writes `environment`,
/// `build.args` and `labels`: each key with its value as text, or `None` for a key without one.
pub(crate) fn key_values(
    v: &Value,
    path: &str,
) -> Result<Vec<(String, Option<String>, String)>, ComposeError> {
    match v {
        Value::Object(m) => sorted_keys(m)
            .into_iter()
            .map(|k| {
                let p = child(path, k);
                let value = match &m[k] {
                    Value::Null => None,
                    other => Some(scalar(other, &p)?),
                };
                Ok((k.clone(), value, p))
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let p = item(path, i);
                let text = string(x, &p)?;
                Ok(match text.split_once('=') {
                    Some((k, val)) => (k.to_string(), Some(val.to_string()), p),
                    None => (text, None, p),
                })
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(expected(path, "a mapping or a list of KEY=VALUE", v)),
    }
}
