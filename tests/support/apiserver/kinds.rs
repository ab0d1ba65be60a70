//! The built-in kinds the stand-in serves, described the way kube-apiserver's discovery does:
//! group/version, resource, kind, scope, short names, categories, subresources, whether
//! `metadata.generation` is kept and what names are allowed. What the server does on writes to
//! them lives in `builtins`. Pure data.

use super::meta::NameRule;
use super::registry::{CRD_GROUP, ResourceType};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The built-in resources the stand-in serves, in discovery order.
pub fn builtin_types() -> Vec<ResourceType> {
    let mut types = core_types();
    types.extend(workload_types());
    types.extend(rbac_types());
    types.extend(extension_types());
    types
}

fn core_types() -> Vec<ResourceType> {
    let mut namespaces = ResourceType::builtin("", "v1", "namespaces", "Namespace", false);
    namespaces.short_names = strings(&["ns"]);
    namespaces.status_subresource = true;
    namespaces.selectable_fields = strings(&["status.phase"]);
    namespaces.name_rule = NameRule::Label;
    let mut configmaps = ResourceType::builtin("", "v1", "configmaps", "ConfigMap", true);
    configmaps.short_names = strings(&["cm"]);
    let mut secrets = ResourceType::builtin("", "v1", "secrets", "Secret", true);
    secrets.selectable_fields = strings(&["type"]);
    let mut events = ResourceType::builtin("", "v1", "events", "Event", true);
    events.short_names = strings(&["ev"]);
    events.selectable_fields = strings(&[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]);
    let mut service_accounts =
        ResourceType::builtin("", "v1", "serviceaccounts", "ServiceAccount", true);
    service_accounts.short_names = strings(&["sa"]);
    let mut services = ResourceType::builtin("", "v1", "services", "Service", true);
    services.short_names = strings(&["svc"]);
    services.categories = strings(&["all"]);
    services.status_subresource = true;
    services.name_rule = NameRule::Dns1035Label;
    vec![namespaces, configmaps, secrets, events, service_accounts, services]
}

fn workload_types() -> Vec<ResourceType> {
    let mut deployments = ResourceType::builtin("apps", "v1", "deployments", "Deployment", true);
    deployments.short_names = strings(&["deploy"]);
    deployments.categories = strings(&["all"]);
    deployments.status_subresource = true;
    deployments.tracks_generation = true;
    let mut budgets =
        ResourceType::builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true);
    budgets.short_names = strings(&["pdb"]);
    budgets.status_subresource = true;
    budgets.tracks_generation = true;
    let mut policies =
        ResourceType::builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true);
    policies.short_names = strings(&["netpol"]);
    policies.tracks_generation = true;
    vec![deployments, budgets, policies]
}

fn rbac_types() -> Vec<ResourceType> {
    [
        ("roles", "Role", true),
        ("rolebindings", "RoleBinding", true),
        ("clusterroles", "ClusterRole", false),
        ("clusterrolebindings", "ClusterRoleBinding", false),
    ]
    .into_iter()
    .map(|(plural, kind, namespaced)| {
        let mut resource = ResourceType::builtin(RBAC_GROUP, "v1", plural, kind, namespaced);
        resource.name_rule = NameRule::PathSegment;
        resource
    })
    .collect()
}

fn extension_types() -> Vec<ResourceType> {
    let mut new_events = ResourceType::builtin("events.k8s.io", "v1", "events", "Event", true);
    new_events.short_names = strings(&["ev"]);
    let leases = ResourceType::builtin("coordination.k8s.io", "v1", "leases", "Lease", true);
    let mut crds = ResourceType::builtin(
        CRD_GROUP,
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
    );
    crds.short_names = strings(&["crd", "crds"]);
    crds.categories = strings(&["api-extensions"]);
    crds.status_subresource = true;
    crds.tracks_generation = true;
    crds.allow_unconditional_update = false;
    vec![new_events, leases, crds]
}
