//! Discovery and OpenAPI, and CRDs applied through the API registering their resources.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::json;

use crate::common::{raw, server};

#[tokio::test]
async fn discovery_lists_builtin_and_custom_resources_with_their_subresources() {
    let server = server().await;
    let discovery = Discovery::new(server.client()).run().await.expect("discovery");
    let find = |group: &str, kind: &str| {
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(r, _)| r.group == group && r.kind == kind)
    };
    let (widget, widget_caps) = find("fixtures.byoc.dev", "Widget").expect("widgets");
    assert_eq!(widget.plural, "widgets");
    assert_eq!(widget_caps.scope, Scope::Namespaced);
    assert!(widget_caps.subresources.iter().any(|(r, _)| r.plural == "status"));
    let (_, gadget_caps) = find("fixtures.byoc.dev", "Gadget").expect("gadgets");
    assert_eq!(gadget_caps.scope, Scope::Cluster);
    for (group, kind) in [
        ("", "Namespace"),
        ("", "Secret"),
        ("", "ConfigMap"),
        ("", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("events.k8s.io", "Event"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ] {
        assert!(find(group, kind).is_some(), "{group}/{kind} is discoverable");
    }
    let (_, _, list) =
        raw(&server, "GET", "/apis/fixtures.byoc.dev/v1alpha1", "application/json", None).await;
    let widgets = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "widgets")
        .unwrap()
        .clone();
    assert_eq!(widgets["shortNames"], json!(["wdg"]));
    assert_eq!(widgets["categories"], json!(["byoc"]));
    assert_eq!(widgets["singularName"], "widget");
}

#[tokio::test]
async fn creating_a_crd_through_the_api_serves_its_resource_and_deleting_it_stops() {
    let server = server().await;
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "things.extra.byoc.dev"},
        "spec": {"group": "extra.byoc.dev", "scope": "Namespaced",
                 "names": {"kind": "Thing", "plural": "things", "singular": "thing", "listKind": "ThingList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.expect("create CRD");
    let established = created
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);
    let gvk = kube::api::GroupVersionKind::gvk("extra.byoc.dev", "v1", "Thing");
    let things: Api<DynamicObject> = Api::default_namespaced_with(
        server.client(),
        &kube::api::ApiResource::from_gvk_with_plural(&gvk, "things"),
    );
    things.list(&Default::default()).await.expect("the new resource is served");
    crds.delete("things.extra.byoc.dev", &DeleteParams::default()).await.expect("delete CRD");
    let (code, _, _) = raw(
        &server,
        "GET",
        "/apis/extra.byoc.dev/v1/namespaces/default/things",
        "application/json",
        None,
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn openapi_v3_documents_declare_server_side_field_validation() {
    let server = server().await;
    let (_, _, index) = raw(&server, "GET", "/openapi/v3", "application/json", None).await;
    let url = index["paths"]["apis/fixtures.byoc.dev/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .expect("group-version listed")
        .to_string();
    let (code, _, document) = raw(&server, "GET", &url, "application/json", None).await;
    assert_eq!(code, 200);
    let patch = &document["paths"]["/apis/fixtures.byoc.dev/v1alpha1/namespaces/{namespace}/widgets/{name}"]
        ["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Widget");
    assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    assert!(
        patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_none()
    );
    let (code, _, _) = raw(&server, "GET", "/openapi/v2", "application/json", None).await;
    assert_eq!(code, 404, "kubectl falls back to v3");
}
