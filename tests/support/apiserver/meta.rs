//! Object metadata helpers: timestamps, resourceVersion, finalizers, name validation and the
//! `metadata.*` fields the server owns. Pure functions over `serde_json::Value`.

use serde_json::{Map, Value, json};

use super::status::{Cause, invalid_cause, required_cause};

/// RFC 3339 with second precision, as `metav1.Time` serialises.
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn metadata(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

/// The `metadata` map, created when missing. Objects are always JSON objects once decoded.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let map = object.as_object_mut().expect("object was just made an object");
    let entry = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("metadata was just made an object")
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    metadata(object)?.get(field)?.as_str()
}

pub fn name(object: &Value) -> Option<&str> {
    meta_str(object, "name").filter(|n| !n.is_empty())
}

pub fn resource_version(object: &Value) -> Option<&str> {
    meta_str(object, "resourceVersion").filter(|rv| !rv.is_empty())
}

pub fn set_resource_version(object: &mut Value, rv: u64) {
    metadata_mut(object).insert("resourceVersion".into(), json!(rv.to_string()));
}

pub fn generation(object: &Value) -> i64 {
    metadata(object).and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(0)
}

pub fn finalizers(object: &Value) -> Vec<String> {
    metadata(object)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    metadata(object).is_some_and(|m| m.get("deletionTimestamp").is_some())
}

pub fn labels(object: &Value) -> Map<String, Value> {
    metadata(object)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Copies the fields only the server may set from `old` into `new`.
pub fn keep_server_fields(new: &mut Value, old: &Value) {
    const SERVER_OWNED: [&str; 7] = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
        "selfLink",
    ];
    let old_meta = metadata(old).cloned().unwrap_or_default();
    let new_meta = metadata_mut(new);
    for field in SERVER_OWNED {
        match old_meta.get(field) {
            Some(value) => {
                new_meta.insert(field.into(), value.clone());
            }
            None => {
                new_meta.remove(field);
            }
        }
    }
    for field in ["name", "namespace"] {
        if let Some(value) = old_meta.get(field) {
            new_meta.insert(field.into(), value.clone());
        }
    }
}

/// Drops the server-owned fields a client may not set on create.
pub fn clear_server_fields(object: &mut Value) {
    let meta = metadata_mut(object);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
        "selfLink",
        "managedFields",
    ] {
        meta.remove(field);
    }
}

const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS1035_LABEL: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// Which rule a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Most kinds: a DNS-1123 subdomain.
    Subdomain,
    /// Namespaces: a DNS-1123 label.
    Label,
    /// Services: a DNS-1035 label (starts with a letter).
    Dns1035Label,
    /// RBAC kinds: any path segment (`system:controller:x` is fine).
    PathSegment,
}

/// `metadata.name` rules, worded like apimachinery's validators.
pub fn validate_name(name: &str, rule: NameRule) -> Vec<Cause> {
    let value = json!(name);
    if rule == NameRule::PathSegment {
        return path_segment_problems(name)
            .into_iter()
            .map(|why| invalid_cause("metadata.name", &value, &why))
            .collect();
    }
    let (pattern, max, what, chars, example) = match rule {
        NameRule::Label => (
            DNS1123_LABEL,
            63,
            "a lowercase RFC 1123 label",
            "lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            "'my-name',  or '123-abc'",
        ),
        NameRule::Dns1035Label => (
            DNS1035_LABEL,
            63,
            "a DNS-1035 label",
            "lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            "'my-name',  or 'abc-123'",
        ),
        _ => (
            DNS1123_SUBDOMAIN,
            253,
            "a lowercase RFC 1123 subdomain",
            "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "'example.com'",
        ),
    };
    let mut causes = Vec::new();
    if name.len() > max {
        causes.push(invalid_cause(
            "metadata.name",
            &value,
            &format!("must be no more than {max} characters"),
        ));
    }
    let matches = regex::Regex::new(pattern).is_ok_and(|r| r.is_match(name));
    if !matches {
        let trimmed = pattern.trim_start_matches('^').trim_end_matches('$');
        causes.push(invalid_cause(
            "metadata.name",
            &value,
            &format!(
                "{what} must consist of {chars} (e.g. {example}, regex used for validation is '{trimmed}')"
            ),
        ));
    }
    causes
}

/// `path.IsValidPathSegmentName`: what RBAC object names may not be or contain.
fn path_segment_problems(name: &str) -> Vec<String> {
    if let Some(bad) = [".", ".."].into_iter().find(|bad| name == *bad) {
        return vec![format!("may not be '{bad}'")];
    }
    ["/", "%"]
        .into_iter()
        .filter(|bad| name.contains(bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

pub fn name_required() -> Cause {
    required_cause("metadata.name", "name or generateName is required")
}

/// Completes `generateName` with five random-looking characters, as the server does.
pub fn generate_name(prefix: &str, seed: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut suffix = String::new();
    for _ in 0..5 {
        suffix.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
        n = n.wrapping_mul(31).wrapping_add(7);
    }
    format!("{prefix}{suffix}")
}

/// `kubectl get`'s AGE column: `duration.HumanDuration` from apimachinery.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let days = hours / 24;
    let years = days / 365;
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        },
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        },
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        },
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 => match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        },
        _ => format!("{years}y"),
    }
}

/// Seconds since an RFC 3339 timestamp, or `None` when it does not parse.
pub fn age_seconds(timestamp: &str) -> Option<i64> {
    let then: jiff::Timestamp = timestamp.parse().ok()?;
    Some(jiff::Timestamp::now().as_second() - then.as_second())
}

/// `prefix/name` or `name`, as `metadata.finalizers` entries must be.
pub fn is_qualified_name(value: &str) -> bool {
    let (prefix, name) = match value.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, value),
    };
    let name_ok = name.len() <= 63
        && regex::Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
            .is_ok_and(|r| r.is_match(name));
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253 && regex::Regex::new(DNS1123_SUBDOMAIN).is_ok_and(|r| r.is_match(p))
    });
    name_ok && prefix_ok
}
