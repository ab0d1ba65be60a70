//! The rendered chart applied to the Kubernetes API stand-in (`support::apiserver`) the way
//! `helm install --server-side` would: CRDs first, then every other document into the release
//! namespace, each resolved through discovery and server-side applied as a `DynamicObject`.
//! Proves every render (default values and every `ci/` file) is accepted and stored as rendered,
//! that re-applying changes nothing, and that a broken Deployment is refused as a real server
//! would. Runs helm and an in-process API server.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

use super::ci_values_files;
use crate::support::{
    apiserver::ApiServer,
    helm::{NAMESPACE, rendered_documents},
    manifests::repo_root,
};

/// The field manager helm uses for server-side apply.
const FIELD_MANAGER: &str = "helm";

/// The default values and every `ci/` values file, each with what it renders.
fn every_render() -> Vec<(String, Vec<Value>)> {
    let mut renders = vec![("default values".to_string(), rendered_documents(&[], &[]))];
    for file in ci_values_files() {
        let docs = rendered_documents(&[&file], &[]);
        renders.push((file, docs));
    }
    renders
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

/// Where a namespaced document goes: its own namespace, else the release namespace.
fn namespace_of(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or(NAMESPACE)
}

fn describe(doc: &Value) -> String {
    format!("{} {}/{}", kind(doc), namespace_of(doc), name(doc))
}

fn gvk_of(doc: &Value) -> GroupVersionKind {
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind(doc))
}

/// A stand-in with the repo's CRDs, the release namespace, every namespace the render puts a
/// Role in (an operator creates watched namespaces before installing), and — when the render
/// has a ServiceMonitor — prometheus-operator's CRD, created through the API as a cluster with
/// Prometheus would have it.
async fn cluster_for(docs: &[Value]) -> ApiServer {
    let server = ApiServer::start(&repo_root().join("crds")).await;
    let namespaces: Api<Namespace> = Api::all(server.client());
    let mut wanted = vec![NAMESPACE.to_string()];
    wanted
        .extend(docs.iter().filter_map(|d| d["metadata"]["namespace"].as_str().map(String::from)));
    wanted.sort();
    wanted.dedup();
    for namespace in wanted.iter().filter(|n| *n != "default") {
        let object = serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {namespace}: {e}"));
    }
    if docs.iter().any(|d| kind(d) == "ServiceMonitor") {
        install_service_monitor_crd(&server).await;
    }
    server
}

async fn install_service_monitor_crd(server: &ApiServer) {
    let path = repo_root().join("tests/fixtures/crds/servicemonitor.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    crds.create(&PostParams::default(), &crd).await.expect("creating the ServiceMonitor CRD");
}

/// The API for `doc`'s kind as discovery describes it, scoped to where `doc` goes.
fn api_for(server: &ApiServer, discovery: &Discovery, doc: &Value) -> Api<DynamicObject> {
    let gvk = gvk_of(doc);
    let (resource, capabilities) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| {
        panic!("{}: the server has no {gvk:?}; is its CRD installed?", describe(doc))
    });
    match capabilities.scope {
        Scope::Cluster => Api::all_with(server.client(), &resource),
        Scope::Namespaced => Api::namespaced_with(server.client(), namespace_of(doc), &resource),
    }
}

async fn apply_one(api: &Api<DynamicObject>, doc: &Value) -> kube::Result<DynamicObject> {
    api.patch(name(doc), &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(doc)).await
}

/// Server-side applies `docs` in helm's order — CRDs, then (after rediscovery, so the new kinds
/// resolve) everything else — and returns each document's outcome.
async fn apply_documents(
    server: &ApiServer,
    docs: &[Value],
) -> Vec<(String, kube::Result<DynamicObject>)> {
    let (crds, rest): (Vec<&Value>, Vec<&Value>) =
        docs.iter().partition(|d| kind(d) == "CustomResourceDefinition");
    let mut outcomes = Vec::new();
    for batch in [crds, rest] {
        let discovery = Discovery::new(server.client()).run().await.expect("discovery");
        for doc in batch {
            let api = api_for(server, &discovery, doc);
            outcomes.push((describe(doc), apply_one(&api, doc).await));
        }
    }
    outcomes
}

/// The first place where `stored` lacks or differs from what `rendered` says; server defaults
/// may add fields, never change rendered ones.
fn first_difference(rendered: &Value, stored: &Value, path: &str) -> Option<String> {
    match (rendered, stored) {
        (Value::Object(want), Value::Object(have)) => want.iter().find_map(|(key, value)| {
            let path = format!("{path}.{key}");
            match have.get(key) {
                Some(stored) => first_difference(value, stored, &path),
                None if value.is_null() => None,
                None => Some(format!("{path} is missing")),
            }
        }),
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => want
            .iter()
            .zip(have)
            .enumerate()
            .find_map(|(i, (w, h))| first_difference(w, h, &format!("{path}[{i}]"))),
        _ if rendered == stored => None,
        _ => Some(format!("{path}: rendered {rendered}, stored {stored}")),
    }
}

fn stored_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("objects serialise")
}

fn the_one<'a>(docs: &'a [Value], wanted: &str) -> &'a Value {
    let mut found = docs.iter().filter(|d| kind(d) == wanted);
    let doc = found.next().unwrap_or_else(|| panic!("no {wanted} rendered"));
    assert!(found.next().is_none(), "more than one {wanted} rendered");
    doc
}

#[tokio::test]
async fn every_rendered_document_applies_to_the_api_stand_in_with_the_default_and_every_ci_values_file()
 {
    for (render, docs) in every_render() {
        let server = cluster_for(&docs).await;
        let outcomes = apply_documents(&server, &docs).await;
        let refused: Vec<String> = outcomes
            .iter()
            .filter_map(|(what, outcome)| outcome.as_ref().err().map(|e| format!("{what}: {e}")))
            .collect();
        assert!(refused.is_empty(), "{render}: refused:\n{}", refused.join("\n"));
        assert_eq!(outcomes.len(), docs.len(), "{render}: every document was applied");

        let discovery = Discovery::new(server.client()).run().await.expect("discovery");
        for doc in &docs {
            let stored = api_for(&server, &discovery, doc).get(name(doc)).await;
            let stored =
                stored.unwrap_or_else(|e| panic!("{render}: reading {}: {e}", describe(doc)));
            let difference = first_difference(doc, &stored_value(&stored), "");
            assert_eq!(difference, None, "{render}: {} was not stored as rendered", describe(doc));
        }
    }
}

#[tokio::test]
async fn the_applied_deployment_keeps_its_container_args_and_the_cluster_role_its_rules() {
    for (render, docs) in every_render() {
        let server = cluster_for(&docs).await;
        apply_documents(&server, &docs).await;
        let discovery = Discovery::new(server.client()).run().await.expect("discovery");

        let deployment = the_one(&docs, "Deployment");
        let stored = api_for(&server, &discovery, deployment).get(name(deployment)).await.unwrap();
        let stored = stored_value(&stored);
        let args = "/spec/template/spec/containers/0/args";
        assert_eq!(stored.pointer(args), deployment.pointer(args), "{render}: container args");
        assert_eq!(stored["metadata"]["generation"], 1, "{render}: a new Deployment");
        assert_eq!(stored["status"], json!({}), "{render}: no controller has reported yet");

        let role = the_one(&docs, "ClusterRole");
        let stored = api_for(&server, &discovery, role).get(name(role)).await.unwrap();
        let rules = stored_value(&stored)["rules"].clone();
        assert_eq!(rules, role["rules"], "{render}: ClusterRole rules");
        assert!(
            rules.as_array().is_some_and(|r| !r.is_empty()),
            "{render}: the ClusterRole grants"
        );
    }
}

#[tokio::test]
async fn reapplying_an_unchanged_render_changes_no_object() {
    for (render, docs) in every_render() {
        let server = cluster_for(&docs).await;
        let first = apply_documents(&server, &docs).await;
        let before = server.resource_version();
        let second = apply_documents(&server, &docs).await;
        for ((what, a), (_, b)) in first.iter().zip(&second) {
            let version = |o: &kube::Result<DynamicObject>| {
                o.as_ref().ok().and_then(|o| o.metadata.resource_version.clone())
            };
            assert_eq!(version(a), version(b), "{render}: {what} changed on re-apply");
        }
        assert_eq!(server.resource_version(), before, "{render}: nothing was written");
    }
}

#[tokio::test]
async fn the_service_monitor_does_not_resolve_until_its_crd_is_installed() {
    let docs = rendered_documents(&["ci/hardened-values.yaml"], &[]);
    let monitor = the_one(&docs, "ServiceMonitor");
    let server = ApiServer::start(&repo_root().join("crds")).await;
    let discovery = Discovery::new(server.client()).run().await.expect("discovery");
    assert!(
        discovery.resolve_gvk(&gvk_of(monitor)).is_none(),
        "a cluster without prometheus-operator has no ServiceMonitor kind"
    );
    install_service_monitor_crd(&server).await;
    let discovery = Discovery::new(server.client()).run().await.expect("discovery");
    let (resource, capabilities) =
        discovery.resolve_gvk(&gvk_of(monitor)).expect("the CRD serves ServiceMonitors");
    assert_eq!(
        (resource.plural.as_str(), capabilities.scope),
        ("servicemonitors", Scope::Namespaced)
    );
}

#[tokio::test]
async fn a_rendered_deployment_whose_selector_misses_its_template_labels_is_refused_with_422() {
    let docs = rendered_documents(&[], &[]);
    let server = cluster_for(&docs).await;
    let mut broken = the_one(&docs, "Deployment").clone();
    broken["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = json!("renamed");
    let discovery = Discovery::new(server.client()).run().await.expect("discovery");
    let api = api_for(&server, &discovery, &broken);
    let status = match apply_one(&api, &broken).await {
        Err(kube::Error::Api(status)) => status,
        other => panic!("the broken Deployment was not refused: {other:?}"),
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"), "{status:?}");
    let expected = format!(
        "Deployment.apps \"{}\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{{",
        name(&broken)
    );
    assert!(status.message.starts_with(&expected), "{}", status.message);
    assert!(
        status.message.contains("\"app.kubernetes.io/name\":\"renamed\""),
        "{}",
        status.message
    );
    assert!(status.message.ends_with("`selector` does not match template `labels`"));
    let fields: Vec<String> =
        status.details.iter().flat_map(|d| &d.causes).map(|c| c.field.clone()).collect();
    assert_eq!(fields, ["spec.template.metadata.labels"]);
    assert!(api.get_opt(name(&broken)).await.unwrap().is_none(), "nothing was stored");
}
