//! DELETE: immediate removal, finalizers, preconditions, namespace termination, owner
//! garbage collection and dry runs.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

use crate::common::{api_error, raw, server, widget, widgets};

#[tokio::test]
async fn delete_without_finalizers_removes_at_once_and_returns_status_success() {
    let server = server().await;
    let api = widgets(&server, "default");
    let created = api
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let (code, _, body) = raw(
        &server,
        "DELETE",
        "/apis/fixtures.byoc.dev/v1alpha1/namespaces/default/widgets/web",
        "application/json",
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "Success");
    assert_eq!(body["details"]["uid"], json!(created.metadata.uid));
    assert_eq!(api.get_opt("web").await.expect("get"), None);
}

#[tokio::test]
async fn delete_with_finalizer_sets_deletion_timestamp_and_keeps_object() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut web = widget("web", json!({"image": "nginx"}));
    web.metadata.finalizers = Some(vec!["byoc.dev/cleanup".into()]);
    api.create(&PostParams::default(), &web).await.expect("create");
    let deleting = api.delete("web", &DeleteParams::default()).await.expect("delete");
    let object = deleting.left().expect("the object is returned while finalizers remain");
    assert!(object.metadata.deletion_timestamp.is_some());
    assert_eq!(object.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(object.metadata.generation, Some(2), "marking for deletion bumps generation");
    let again = api.delete("web", &DeleteParams::default()).await.expect("second delete");
    assert_eq!(
        again.left().unwrap().metadata.deletion_timestamp,
        object.metadata.deletion_timestamp
    );
    assert!(api.get_opt("web").await.expect("get").is_some());
}

#[tokio::test]
async fn removing_the_last_finalizer_of_a_deleting_object_deletes_it() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut web = widget("web", json!({"image": "nginx"}));
    web.metadata.finalizers = Some(vec!["byoc.dev/cleanup".into()]);
    api.create(&PostParams::default(), &web).await.expect("create");
    api.delete("web", &DeleteParams::default()).await.expect("delete");
    let clear = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("web", &PatchParams::default(), &clear).await.expect("clear finalizers");
    assert_eq!(api.get_opt("web").await.expect("get"), None);
}

#[tokio::test]
async fn new_finalizers_cannot_be_added_to_an_object_being_deleted() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut web = widget("web", json!({"image": "nginx"}));
    web.metadata.finalizers = Some(vec!["byoc.dev/a".into()]);
    api.create(&PostParams::default(), &web).await.expect("create");
    api.delete("web", &DeleteParams::default()).await.expect("delete");
    let add = Patch::Merge(json!({"metadata": {"finalizers": ["byoc.dev/a", "byoc.dev/b"]}}));
    let status = api_error(api.patch("web", &PatchParams::default(), &add).await);
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [\"byoc.dev/b\"]"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn delete_preconditions_on_uid_and_resource_version_are_honoured() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("nope".into()), resource_version: None }),
        ..DeleteParams::default()
    };
    let status = api_error(api.delete("web", &wrong_uid).await);
    assert_eq!(status.code, 409);
    assert!(
        status.message.contains("Precondition failed: UID in precondition: nope"),
        "{}",
        status.message
    );
    let wrong_rv = DeleteParams {
        preconditions: Some(Preconditions { uid: None, resource_version: Some("1".into()) }),
        ..DeleteParams::default()
    };
    assert_eq!(api_error(api.delete("web", &wrong_rv).await).code, 409);
    let background = DeleteParams::background();
    api.delete("web", &background).await.expect("delete with a propagation policy");
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents_then_the_namespace() {
    let server = server().await;
    let namespaces: Api<Namespace> = Api::all(server.client());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap(),
        )
        .await
        .expect("ns");
    let api = widgets(&server, "team");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let mut held = widget("held", json!({"image": "nginx"}));
    held.metadata.finalizers = Some(vec!["byoc.dev/cleanup".into()]);
    api.create(&PostParams::default(), &held).await.expect("create held");
    let terminating = namespaces
        .delete("team", &DeleteParams::default())
        .await
        .expect("delete ns")
        .left()
        .expect("namespace object");
    assert_eq!(terminating.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert_eq!(api.get_opt("web").await.expect("get"), None);
    let status = api_error(
        api.create(&PostParams::default(), &widget("late", json!({"image": "nginx"}))).await,
    );
    assert_eq!(status.code, 403);
    assert!(api.get("held").await.expect("held").metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    assert_eq!(namespaces.get_opt("team").await.expect("get ns"), None);
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_dependents() {
    let server = server().await;
    let owner = widgets(&server, "default")
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("owner");
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let dependent: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "web-config", "ownerReferences": [{
        "apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "name": "web", "uid": owner.metadata.uid, "controller": true}]}})).unwrap();
    maps.create(&PostParams::default(), &dependent).await.expect("dependent");
    widgets(&server, "default")
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete owner");
    assert_eq!(maps.get_opt("web-config").await.expect("get"), None);
}

#[tokio::test]
async fn dry_run_create_update_and_delete_persist_nothing() {
    let server = server().await;
    let api = widgets(&server, "default");
    let dry = PostParams { dry_run: true, ..PostParams::default() };
    let would_be =
        api.create(&dry, &widget("ghost", json!({"image": "nginx"}))).await.expect("dry create");
    assert_eq!(would_be.data["spec"]["replicas"], 1, "a dry run still defaults");
    assert_eq!(api.get_opt("ghost").await.expect("get"), None);
    let before = server.resource_version();
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let after_create = server.resource_version();
    assert!(after_create > before);
    let patch = Patch::Merge(json!({"spec": {"image": "httpd"}}));
    let dry_patch = PatchParams::default().dry_run();
    let preview = api.patch("web", &dry_patch, &patch).await.expect("dry patch");
    assert_eq!(preview.data["spec"]["image"], "httpd");
    assert_eq!(api.get("web").await.expect("get").data["spec"]["image"], "nginx");
    api.delete("web", &DeleteParams::default().dry_run()).await.expect("dry delete");
    assert!(api.get_opt("web").await.expect("get").is_some());
    assert_eq!(server.resource_version(), after_create);
}
