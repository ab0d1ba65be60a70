//! Create, get, update and list semantics.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::common::{api_error, raw, rv, server, to_value, widget, widgets};

#[tokio::test]
async fn create_sets_uid_creation_timestamp_resource_version_and_generation_one() {
    let server = server().await;
    let created = widgets(&server, "default")
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx"})),
        )
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
    let first = api
        .create(&PostParams::default(), &template)
        .await
        .expect("first");
    let second = api
        .create(&PostParams::default(), &template)
        .await
        .expect("second");
    let (a, b) = (first.metadata.name.unwrap(), second.metadata.name.unwrap());
    assert!(a.starts_with("web-") && a.len() == 9, "{a}");
    assert_ne!(a, b);
}

#[tokio::test]
async fn create_of_an_existing_name_is_rejected_with_409_already_exists() {
    let server = server().await;
    let api = widgets(&server, "default");
    let web = widget("web", json!({"image": "nginx"}));
    api.create(&PostParams::default(), &web)
        .await
        .expect("create");
    let status = api_error(api.create(&PostParams::default(), &web).await);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "AlreadyExists");
    assert_eq!(
        status.message,
        "widgets.fixtures.byoc.dev \"web\" already exists"
    );
}

#[tokio::test]
async fn create_in_a_missing_namespace_is_rejected_with_404() {
    let server = server().await;
    let status = api_error(
        widgets(&server, "nowhere")
            .create(
                &PostParams::default(),
                &widget("web", json!({"image": "nginx"})),
            )
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
        .create(
            &PostParams::default(),
            &widget("a", json!({"image": "nginx"})),
        )
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
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx"})),
        )
        .await
        .expect("create");
    let mut first = created.clone();
    first.data["spec"]["image"] = json!("nginx:2");
    api.replace("web", &PostParams::default(), &first)
        .await
        .expect("first update");
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
    api.create(
        &PostParams::default(),
        &widget("web", json!({"image": "nginx"})),
    )
    .await
    .expect("create");
    let status = api_error(
        api.replace(
            "web",
            &PostParams::default(),
            &widget("web", json!({"image": "x"})),
        )
        .await,
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
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx"})),
        )
        .await
        .expect("create");
    object.metadata.labels = Some(BTreeMap::from([("tier".to_string(), "web".to_string())]));
    let mut object = api
        .replace("web", &PostParams::default(), &object)
        .await
        .expect("label");
    assert_eq!(object.metadata.generation, Some(1));
    object.data["spec"]["image"] = json!("nginx:2");
    let object = api
        .replace("web", &PostParams::default(), &object)
        .await
        .expect("spec");
    assert_eq!(object.metadata.generation, Some(2));
}

#[tokio::test]
async fn writes_to_the_main_resource_ignore_status() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut web = widget("web", json!({"image": "nginx"}));
    web.data["status"] = json!({"phase": "Ready"});
    let mut created = api
        .create(&PostParams::default(), &web)
        .await
        .expect("create");
    assert!(
        created.data.get("status").is_none(),
        "create dropped status"
    );
    created.data["status"] = json!({"phase": "Ready"});
    let updated = api
        .replace("web", &PostParams::default(), &created)
        .await
        .expect("update");
    assert!(
        updated.data.get("status").is_none(),
        "update kept the old (absent) status"
    );
}

#[tokio::test]
async fn status_write_changes_only_status_and_never_bumps_generation() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut object = api
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx"})),
        )
        .await
        .expect("create");
    object.data["status"] = json!({"phase": "Ready", "observedGeneration": 1});
    object.data["spec"]["image"] = json!("changed-through-status");
    object.metadata.labels = Some(BTreeMap::from([("ignored".to_string(), "yes".to_string())]));
    let updated = api
        .replace_status("web", &PostParams::default(), &object)
        .await
        .expect("status");
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
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx"})),
        )
        .await
        .expect("create");
    let again = api
        .replace("web", &PostParams::default(), &created)
        .await
        .expect("no-op");
    assert_eq!(rv(&again), rv(&created));
}

#[tokio::test]
async fn list_filters_by_label_selector_operators() {
    let server = server().await;
    let api = widgets(&server, "default");
    for (name, labels) in [
        ("a", json!({"tier": "web", "env": "prod"})),
        ("b", json!({"tier": "db"})),
        ("c", json!({})),
    ] {
        let mut w = to_value(&widget(name, json!({"image": "nginx"})));
        w["metadata"]["labels"] = labels;
        api.create(&PostParams::default(), &serde_json::from_value(w).unwrap())
            .await
            .expect("create");
    }
    let cases = [
        ("tier=web", vec!["a"], "equality"),
        ("tier==web", vec!["a"], "double equals"),
        (
            "tier!=web",
            vec!["b", "c"],
            "inequality includes objects without the label",
        ),
        ("tier in (web,db)", vec!["a", "b"], "set membership"),
        (
            "tier notin (web)",
            vec!["b", "c"],
            "set exclusion includes objects without the label",
        ),
        ("env", vec!["a"], "existence"),
        ("!env", vec!["b", "c"], "non-existence"),
        ("tier=web,env=prod", vec!["a"], "conjunction"),
    ];
    for (selector, expected, reason) in cases {
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list");
        let names: Vec<String> = list
            .items
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, expected, "{reason}: {selector}");
    }
    let (code, _, _) = raw(
        &server,
        "GET",
        "/apis/fixtures.byoc.dev/v1alpha1/widgets?labelSelector=a%20b%20c",
        "application/json",
        None,
    )
    .await;
    assert_eq!(code, 400, "a malformed selector is a bad request");
}

#[tokio::test]
async fn list_filters_by_field_selector_and_rejects_unsupported_fields() {
    let server = server().await;
    for ns in ["default", "kube-system"] {
        widgets(&server, ns)
            .create(
                &PostParams::default(),
                &widget("web", json!({"image": "nginx"})),
            )
            .await
            .expect("create");
    }
    let all = crate::common::all_widgets(&server);
    let list = all
        .list(&ListParams::default().fields("metadata.namespace=kube-system"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    let list = all
        .list(&ListParams::default().fields("metadata.name!=web"))
        .await
        .expect("list");
    assert!(list.items.is_empty());
    let status = api_error(
        all.list(&ListParams::default().fields("spec.image=nginx"))
            .await,
    );
    assert_eq!(status.code, 400);
    assert_eq!(status.message, "field label not supported: spec.image");
}

#[tokio::test]
async fn list_pages_with_limit_and_continue_and_reports_the_list_resource_version() {
    let server = server().await;
    let api = widgets(&server, "default");
    for i in 0..5 {
        api.create(
            &PostParams::default(),
            &widget(&format!("w{i}"), json!({"image": "nginx"})),
        )
        .await
        .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    assert_eq!(
        first.metadata.resource_version,
        Some(server.resource_version().to_string())
    );
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("page 2");
    let third = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .expect("page 3");
    assert_eq!(third.metadata.continue_, None);
    let names: Vec<String> = [first, second, third]
        .iter()
        .flat_map(|l| l.items.iter().map(|o| o.metadata.name.clone().unwrap()))
        .collect();
    assert_eq!(names, ["w0", "w1", "w2", "w3", "w4"]);
}

#[tokio::test]
async fn a_continue_token_older_than_the_retained_history_is_rejected_with_410_gone() {
    let server = server().await;
    let api = widgets(&server, "default");
    for i in 0..3 {
        api.create(
            &PostParams::default(),
            &widget(&format!("w{i}"), json!({"image": "nginx"})),
        )
        .await
        .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(1))
        .await
        .expect("page 1");
    api.create(
        &PostParams::default(),
        &widget("later", json!({"image": "nginx"})),
    )
    .await
    .expect("create");
    server.compact_history();
    let token = first.metadata.continue_.unwrap();
    let status = api_error(
        api.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
    );
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
}

#[tokio::test]
async fn listing_across_all_namespaces_includes_every_namespace() {
    let server = server().await;
    for ns in ["default", "kube-system"] {
        widgets(&server, ns)
            .create(
                &PostParams::default(),
                &widget("web", json!({"image": "nginx"})),
            )
            .await
            .expect("create");
    }
    let list = crate::common::all_widgets(&server)
        .list(&ListParams::default())
        .await
        .expect("list");
    let namespaces: Vec<String> = list
        .items
        .iter()
        .map(|o| o.metadata.namespace.clone().unwrap())
        .collect();
    assert_eq!(namespaces, ["default", "kube-system"]);
}

#[tokio::test]
async fn lease_updates_are_optimistic_so_only_one_candidate_wins() {
    let server = server().await;
    let leases: Api<Lease> = Api::namespaced(server.client(), "default");
    let lease: Lease = serde_json::from_value(
        json!({"metadata": {"name": "byoc-leader"}, "spec": {"holderIdentity": "a"}}),
    )
    .unwrap();
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create");
    let mut mine = created.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let mut theirs = created;
    theirs.spec.as_mut().unwrap().holder_identity = Some("c".into());
    leases
        .replace("byoc-leader", &PostParams::default(), &mine)
        .await
        .expect("first wins");
    let status = api_error(
        leases
            .replace("byoc-leader", &PostParams::default(), &theirs)
            .await,
    );
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
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create");
    let data = created.data.expect("data");
    assert_eq!(data["token"].0, b"abc");
    assert_eq!(created.string_data, None);
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
}
