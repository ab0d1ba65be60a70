//! PATCH media types: merge patch, JSON patch, strategic merge patch.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::common::{api_error, raw, rv, server, widget, widgets};

const WEB: &str = "/apis/fixtures.byoc.dev/v1alpha1/namespaces/default/widgets/web";

async fn web(server: &crate::support::apiserver::ApiServer) -> kube::api::DynamicObject {
    widgets(server, "default")
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx", "tags": {"a": "1", "b": "2"}})),
        )
        .await
        .expect("create")
}

#[tokio::test]
async fn merge_patch_sets_fields_and_null_removes_them() {
    let server = server().await;
    web(&server).await;
    let patch = Patch::Merge(json!({"spec": {"image": "nginx:2", "tags": {"a": null, "c": "3"}}}));
    let patched = widgets(&server, "default")
        .patch("web", &PatchParams::default(), &patch)
        .await
        .expect("patch");
    assert_eq!(patched.data["spec"]["image"], "nginx:2");
    assert_eq!(patched.data["spec"]["tags"], json!({"b": "2", "c": "3"}));
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn json_patch_applies_operations_and_a_failed_test_is_rejected_with_422() {
    let server = server().await;
    web(&server).await;
    let ops = json!([
        {"op": "test", "path": "/spec/image", "value": "nginx"},
        {"op": "replace", "path": "/spec/image", "value": "nginx:3"},
        {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
    ]);
    let (code, _, body) =
        raw(&server, "PATCH", WEB, "application/json-patch+json", Some(ops)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["image"], "nginx:3");
    assert_eq!(body["metadata"]["labels"], json!({"x": "y"}));
    let failing = json!([{"op": "test", "path": "/spec/image", "value": "nginx"}]);
    let (code, _, body) =
        raw(&server, "PATCH", WEB, "application/json-patch+json", Some(failing)).await;
    assert_eq!(code, 422);
    assert_eq!(body["reason"], "Invalid");
}

#[tokio::test]
async fn strategic_merge_patch_on_a_custom_resource_is_rejected_with_415() {
    let server = server().await;
    web(&server).await;
    let patch = json!({"spec": {"image": "nginx:2"}});
    let (code, _, body) =
        raw(&server, "PATCH", WEB, "application/strategic-merge-patch+json", Some(patch)).await;
    assert_eq!(code, 415);
    assert_eq!(body["reason"], "UnsupportedMediaType");
    assert_eq!(
        body["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

#[tokio::test]
async fn strategic_merge_patch_on_a_configmap_is_accepted() {
    let server = server().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"a": "1"}}))
            .unwrap();
    maps.create(&PostParams::default(), &map).await.expect("create");
    let patch = Patch::Strategic(json!({"data": {"b": "2"}}));
    let patched = maps.patch("settings", &PatchParams::default(), &patch).await.expect("patch");
    let data = patched.data.unwrap();
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("1", "2"));
}

#[tokio::test]
async fn a_patch_carrying_a_stale_resource_version_conflicts() {
    let server = server().await;
    let created = web(&server).await;
    let api = widgets(&server, "default");
    api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"image": "nginx:2"}})))
        .await
        .expect("first");
    let stale = Patch::Merge(
        json!({"metadata": {"resourceVersion": rv(&created).to_string()}, "spec": {"image": "nginx:3"}}),
    );
    let status = api_error(api.patch("web", &PatchParams::default(), &stale).await);
    assert_eq!(status.code, 409);
}

#[tokio::test]
async fn patching_a_missing_object_is_404() {
    let server = server().await;
    let status = api_error(
        widgets(&server, "default")
            .patch("ghost", &PatchParams::default(), &Patch::Merge(json!({"spec": {}})))
            .await,
    );
    assert_eq!(status.code, 404);
}
