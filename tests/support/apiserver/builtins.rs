//! What kube-apiserver's built-in strategies add on write, by kind: Secret `stringData` folded
//! into `data`, Namespace phase and finalizer, CustomResourceDefinitions (whose status the
//! server fills in and whose (de)registration changes the served resources), and the chart's
//! kinds — Deployments, PodDisruptionBudgets, Services, NetworkPolicies and RBAC — through
//! `workloads`, `network` and `rbac`. Mutates the store only.

use base64::Engine;
use serde_json::{Value, json};

use super::meta;
use super::network;
use super::rbac::{self, RBAC_GROUP};
use super::registry::{CRD_GROUP, ResourceType, types_from_crd};
use super::status::{ApiError, invalid_cause};
use super::store::{ObjectKey, State};
use super::workloads;

fn is(resource: &ResourceType, group: &str, plural: &str) -> bool {
    resource.group == group && resource.plural == plural
}

/// Applies the built-in strategy of `resource` (defaults, server-set fields) to an object
/// about to be stored over `old`.
pub fn prepare(resource: &ResourceType, object: &mut Value, old: Option<&Value>) {
    match (resource.group.as_str(), resource.plural.as_str()) {
        ("", "secrets") => fold_string_data(object),
        ("", "namespaces") => prepare_namespace(object, old),
        ("", "services") => network::prepare_service(object, old),
        ("apps", "deployments") => workloads::prepare_deployment(object, old),
        ("policy", "poddisruptionbudgets") => workloads::prepare_budget(object, old),
        ("networking.k8s.io", "networkpolicies") => network::prepare_network_policy(object),
        (RBAC_GROUP, "rolebindings" | "clusterrolebindings") => rbac::prepare_binding(object),
        (CRD_GROUP, "customresourcedefinitions") => prepare_crd(object, old),
        _ => {}
    }
}

fn prepare_namespace(object: &mut Value, old: Option<&Value>) {
    let name = meta::name(object).unwrap_or_default().to_string();
    let metadata = meta::metadata_mut(object);
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    if old.is_none() {
        object["spec"] = json!({"finalizers": ["kubernetes"]});
        object["status"] = json!({"phase": "Active"});
    }
}

fn prepare_crd(object: &mut Value, old: Option<&Value>) {
    let conditions =
        old.and_then(|o| o.pointer("/status/conditions")).cloned().unwrap_or_else(|| {
            let now = meta::now();
            json!([
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now},
            ])
        });
    let names = object.pointer("/spec/names").cloned().unwrap_or_default();
    let versions: Vec<Value> = object
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    object["status"] = json!({
        "acceptedNames": names,
        "conditions": conditions,
        "storedVersions": versions,
    });
}

/// Rejects, as 422, what the built-in strategy's validation would: a CRD the stand-in could not
/// serve, or a chart kind with a field the real server refuses. `old` is set on updates.
pub fn validate(
    resource: &ResourceType,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let causes = match (resource.group.as_str(), resource.plural.as_str()) {
        ("", "services") => network::validate_service(object),
        ("apps", "deployments") => workloads::validate_deployment(object, old),
        ("policy", "poddisruptionbudgets") => workloads::validate_budget(object),
        ("networking.k8s.io", "networkpolicies") => network::validate_network_policy(object),
        (RBAC_GROUP, "roles") => rbac::validate_role(object, true),
        (RBAC_GROUP, "clusterroles") => rbac::validate_role(object, false),
        (RBAC_GROUP, "rolebindings") => rbac::validate_binding(object, old, true),
        (RBAC_GROUP, "clusterrolebindings") => rbac::validate_binding(object, old, false),
        (CRD_GROUP, "customresourcedefinitions") => return validate_crd(resource, object),
        _ => Vec::new(),
    };
    if causes.is_empty() {
        return Ok(());
    }
    let subject = resource.subject(meta::name(object).unwrap_or_default());
    Err(ApiError::invalid(&subject, causes))
}

fn validate_crd(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let name = meta::name(object).unwrap_or_default();
    let subject = resource.subject(name);
    let types = types_from_crd(object).map_err(|why| {
        ApiError::invalid(&subject, vec![invalid_cause("spec", &json!("object"), &why)])
    })?;
    if let Some(first) = types.first() {
        let expected = format!("{}.{}", first.plural, first.group);
        if name != expected {
            let cause = invalid_cause(
                "metadata.name",
                &json!(name),
                "must be spec.names.plural+\".\"+spec.group",
            );
            return Err(ApiError::invalid(&subject, vec![cause]));
        }
    }
    Ok(())
}

fn fold_string_data(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map.entry("data").or_insert_with(|| json!({}));
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let text = value.as_str().unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(key, json!(encoded));
            }
        }
    }
    map.entry("type").or_insert_with(|| json!("Opaque"));
}

/// Registers the resource types of a stored CRD.
pub fn after_write(state: &mut State, resource: &ResourceType, object: &Value) {
    if !is(resource, CRD_GROUP, "customresourcedefinitions") {
        return;
    }
    if let Ok(types) = types_from_crd(object)
        && let Some(first) = types.first()
    {
        let (group, plural) = (first.group.clone(), first.plural.clone());
        state.registry.register(&group, &plural, types);
    }
}

/// Unregisters a removed CRD's resource types and drops all its custom resources.
pub fn after_remove(state: &mut State, key: &ObjectKey, object: &Value) {
    if !(key.group == CRD_GROUP && key.plural == "customresourcedefinitions") {
        return;
    }
    let group = object.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
    let plural = object.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default();
    let (group, plural) = (group.to_string(), plural.to_string());
    state.registry.unregister(&group, &plural);
    let doomed: Vec<ObjectKey> =
        state.objects.keys().filter(|k| k.group == group && k.plural == plural).cloned().collect();
    for key in doomed {
        state.remove(&key);
    }
}
