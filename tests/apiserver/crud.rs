//! Create, get, update and list semantics.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::common::{api_error, raw, rv, server, widget, widgets};

#[tokio::test]
async fn create_sets_uid_creation_timestamp_resource_version_and_generation_one() {
    let server = server().await;
    let created = widgets(&server, "default")
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let meta = &created.metadata;
    assert_eq!(meta.uid.as_deref().map(str::len), Some(36));
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert!(rv(&created) > 0);
    assert_eq!(meta.namespace.as_deref(), Some("default"));
}

#[tokio::test]
async fn create_with_generate_name_gets_a_unique_name() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut template = widget("", json!({"image": "nginx"}));
    template.metadata.name = None;
    template.metadata.generate_name = Some("web-".into());
    let first = api.create(&PostParams::default(), &template).await.expect("first");
    let second = api.create(&PostParams::default(), &template).await.expect("second");
    let (a, b) = (first.metadata.name.unwrap(), second.metadata.name.unwrap());
    assert!(a.starts_with("web-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn create_of_an_existing_name_is_rejected_with_409_already_exists() {
    let server = server().await;
    let api = widgets(&server, "default");
    let web = widget("web", json!({"image": "nginx"}));
    api.create(&PostParams::default(), &web).await.expect("create");
    let status = api_error(api.create(&PostParams::default(), &web).await);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "AlreadyExists");
    assert_eq!(status.message, "widgets.fixtures.byoc.dev \"web\" already exists");
}

#[tokio::test]
async fn create_in_a_missing_namespace_is_rejected_with_404() {
    let server = server().await;
    let status = api_error(
        widgets(&server, "nowhere")
            .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
            .await,
    );
    assert_eq!(status.code, 404);
    assert_eq!(status.message, "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn get_of_a_missing_object_returns_404_not_found_status() {
    let server = server().await;
    let (code, _, body) = raw(
        &server,
        "GET",
        "/apis/fixtures.byoc.dev/v1alpha1/namespaces/default/widgets/ghost",
        "application/json",
        None,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "widgets.fixtures.byoc.dev \"ghost\" not found", "reason": "NotFound",
               "details": {"name": "ghost", "group": "fixtures.byoc.dev", "kind": "widgets"}, "code": 404})
    );
}

#[tokio::test]
async fn resource_versions_increase_across_all_resources() {
    let server = server().await;
    let a = widgets(&server, "default")
        .create(&PostParams::default(), &widget("a", json!({"image": "nginx"})))
        .await
        .expect("widget");
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let b = maps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "b"}})).unwrap(),
        )
        .await
        .expect("configmap");
    let b_rv: u64 = b.metadata.resource_version.unwrap().parse().unwrap();
    assert!(b_rv > rv(&a));
}

#[tokio::test]
async fn update_with_stale_resource_version_is_rejected_with_409_conflict() {
    let server = server().await;
    let api = widgets(&server, "default");
    let created = api
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let mut first = created.clone();
    first.data["spec"]["image"] = json!("nginx:2");
    api.replace("web", &PostParams::default(), &first).await.expect("first update");
    let mut stale = created;
    stale.data["spec"]["image"] = json!("nginx:3");
    let status = api_error(api.replace("web", &PostParams::default(), &stale).await);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on widgets.fixtures.byoc.dev \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn update_of_a_custom_resource_without_resource_version_is_rejected_with_422() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let status = api_error(
        api.replace("web", &PostParams::default(), &widget("web", json!({"image": "x"}))).await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains(
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
        ),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn spec_change_bumps_generation_but_metadata_change_does_not() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut object = api
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    object.metadata.labels = Some(BTreeMap::from([("tier".to_string(), "web".to_string())]));
    let mut object = api.replace("web", &PostParams::default(), &object).await.expect("label");
    assert_eq!(object.metadata.generation, Some(1));
    object.data["spec"]["image"] = json!("nginx:2");
    let object = api.replace("web", &PostParams::default(), &object).await.expect("spec");
    assert_eq!(object.metadata.generation, Some(2));
}

#[tokio::test]
async fn writes_to_the_main_resource_ignore_status() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut web = widget("web", json!({"image": "nginx"}));
    web.data["status"] = json!({"phase": "Ready"});
    let mut created = api.create(&PostParams::default(), &web).await.expect("create");
    assert!(created.data.get("status").is_none(), "create dropped status");
    created.data["status"] = json!({"phase": "Ready"});
    let updated = api.replace("web", &PostParams::default(), &created).await.expect("update");
    assert!(updated.data.get("status").is_none(), "update kept the old (absent) status");
}

#[tokio::test]
async fn status_write_changes_only_status_and_never_bumps_generation() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut object = api
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    object.data["status"] = json!({"phase": "Ready", "observedGeneration": 1});
    object.data["spec"]["image"] = json!("changed-through-status");
    object.metadata.labels = Some(BTreeMap::from([("ignored".to_string(), "yes".to_string())]));
    let updated = api.replace_status("web", &PostParams::default(), &object).await.expect("status");
    assert_eq!(updated.data["status"]["phase"], "Ready");
    assert_eq!(updated.data["spec"]["image"], "nginx");
    assert_eq!(updated.metadata.labels, None);
    assert_eq!(updated.metadata.generation, Some(1));
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_resource_version() {
    let server = server().await;
    let api = widgets(&server, "default");
    let created = api
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let again = api.replace("web", &PostParams::default(), &created).await.expect("no-op");
    assert_eq!(rv(&again), rv(&created));
}

#[tokio::test]
async fn lease_updates_are_optimistic_so_only_one_candidate_wins() {
    let server = server().await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "default");
    let lease: Lease = serde_json::from_value(
        json!({"metadata": {"name": "byoc-leader"}, "spec": {"holderIdentity": "a"}}),
    )
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.expect("create");
    let mut mine = created.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let mut theirs = created;
    theirs.spec.as_mut().unwrap().holder_identity = Some("c".into());
    leases.replace("byoc-leader", &PostParams::default(), &mine).await.expect("first wins");
    let status = api_error(leases.replace("byoc-leader", &PostParams::default(), &theirs).await);
    assert_eq!(status.code, 409);
    let current = leases.get("byoc-leader").await.expect("get");
    assert_eq!(current.spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn secret_string_data_is_folded_into_base64_data() {
    let server = server().await;
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "creds"}, "stringData": {"token": "abc"}}),
    )
    .unwrap();
    let created = secrets.create(&PostParams::default(), &secret).await.expect("create");
    let data = created.data.expect("data");
    assert_eq!(data["token"].0, b"abc");
    assert_eq!(created.string_data, None);
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
}
