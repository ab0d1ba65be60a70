//! What kube-apiserver does on writes to rbac.authorization.k8s.io/v1 objects: the v1 defaults
//! for `roleRef.apiGroup` and subjects' `apiGroup`, and `ValidateRole`/`ValidateRoleBinding`
//! (rules need verbs, API groups and resources; a binding needs a `roleRef` of the right kind,
//! which may never change, and well-formed subjects). Pure.

use serde_json::{Value, json};

use super::status::{Cause, invalid_cause, not_supported_cause, required_cause};

pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// `SetDefaults_RoleBinding`/`ClusterRoleBinding` and `SetDefaults_Subject`.
pub fn prepare_binding(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let role_ref = map.entry("roleRef").or_insert_with(|| json!({}));
    if let Some(role_ref) = role_ref.as_object_mut()
        && role_ref.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty)
    {
        role_ref.insert("apiGroup".into(), json!(RBAC_GROUP));
    }
    let subjects = map.get_mut("subjects").and_then(Value::as_array_mut);
    for subject in subjects.into_iter().flatten().filter_map(Value::as_object_mut) {
        if subject.get("apiGroup").and_then(Value::as_str).is_some_and(|g| !g.is_empty()) {
            continue;
        }
        let group = match subject.get("kind").and_then(Value::as_str) {
            Some("User" | "Group") => RBAC_GROUP,
            _ => continue,
        };
        subject.insert("apiGroup".into(), json!(group));
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `ValidatePolicyRule` for every rule of a Role (`namespaced`) or ClusterRole.
pub fn validate_role(object: &Value, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let rules = object.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        let list = |k: &str| strings(rule.get(k));
        if list("verbs").is_empty() {
            causes.push(required_cause(
                &format!("{path}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = list("nonResourceURLs");
        if !urls.is_empty() {
            let rendered = json!(urls);
            if namespaced {
                causes.push(invalid_cause(
                    &format!("{path}.nonResourceURLs"),
                    &rendered,
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if ["apiGroups", "resources", "resourceNames"].iter().any(|k| !list(k).is_empty()) {
                causes.push(invalid_cause(
                    &format!("{path}.nonResourceURLs"),
                    &rendered,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if rule.get("apiGroups").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            causes.push(required_cause(
                &format!("{path}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if list("resources").is_empty() {
            causes.push(required_cause(
                &format!("{path}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    causes
}

/// `ValidateRoleBinding` (`namespaced`) or `ValidateClusterRoleBinding`, plus the update rule
/// that `roleRef` never changes.
pub fn validate_binding(object: &Value, old: Option<&Value>, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let role_ref = object.get("roleRef").cloned().unwrap_or_default();
    let group = text(&role_ref, "apiGroup");
    if group != RBAC_GROUP {
        causes.push(not_supported_cause("roleRef.apiGroup", &json!(group), &[json!(RBAC_GROUP)]));
    }
    let kinds: Vec<Value> = if namespaced {
        vec![json!("Role"), json!("ClusterRole")]
    } else {
        vec![json!("ClusterRole")]
    };
    let kind = json!(text(&role_ref, "kind"));
    if !kinds.contains(&kind) {
        causes.push(not_supported_cause("roleRef.kind", &kind, &kinds));
    }
    if text(&role_ref, "name").is_empty() {
        causes.push(required_cause("roleRef.name", ""));
    }
    let subjects = object.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, subject) in subjects.iter().enumerate() {
        causes.extend(validate_subject(subject, namespaced, &format!("subjects[{i}]")));
    }
    if let Some(old_ref) = old.and_then(|o| o.get("roleRef"))
        && *old_ref != role_ref
    {
        let mut cause = invalid_cause("roleRef", &Value::Null, "cannot change roleRef");
        cause.message = format!(
            "Invalid value: rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}: cannot change roleRef",
            group,
            text(&role_ref, "kind"),
            text(&role_ref, "name")
        );
        causes.push(cause);
    }
    causes
}

fn validate_subject(subject: &Value, namespaced: bool, path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    if text(subject, "name").is_empty() {
        causes.push(required_cause(&format!("{path}.name"), ""));
    }
    let group = json!(text(subject, "apiGroup"));
    match text(subject, "kind") {
        "ServiceAccount" => {
            if group != json!("") {
                causes.push(not_supported_cause(&format!("{path}.apiGroup"), &group, &[json!("")]));
            }
            if !namespaced && text(subject, "namespace").is_empty() {
                causes.push(required_cause(&format!("{path}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != json!(RBAC_GROUP) {
                let field = format!("{path}.apiGroup");
                causes.push(not_supported_cause(&field, &group, &[json!(RBAC_GROUP)]));
            }
        }
        other => {
            let supported = [json!("ServiceAccount"), json!("User"), json!("Group")];
            causes.push(not_supported_cause(&format!("{path}.kind"), &json!(other), &supported));
        }
    }
    causes
}
