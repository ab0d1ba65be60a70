//! LIST semantics: selectors, paging, list resourceVersion, all-namespaces lists.

use kube::api::{ListParams, PostParams};
use serde_json::json;

use crate::common::{all_widgets, api_error, raw, server, to_value, widget, widgets};

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
        ("tier!=web", vec!["b", "c"], "inequality includes objects without the label"),
        ("tier in (web,db)", vec!["a", "b"], "set membership"),
        ("tier notin (web)", vec!["b", "c"], "set exclusion includes objects without the label"),
        ("env", vec!["a"], "existence"),
        ("!env", vec!["b", "c"], "non-existence"),
        ("tier=web,env=prod", vec!["a"], "conjunction"),
    ];
    for (selector, expected, reason) in cases {
        let list = api.list(&ListParams::default().labels(selector)).await.expect("list");
        let names: Vec<String> =
            list.items.iter().map(|o| o.metadata.name.clone().unwrap()).collect();
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
            .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
            .await
            .expect("create");
    }
    let all = all_widgets(&server);
    let list = all
        .list(&ListParams::default().fields("metadata.namespace=kube-system"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    let list = all.list(&ListParams::default().fields("metadata.name!=web")).await.expect("list");
    assert!(list.items.is_empty());
    let status = api_error(all.list(&ListParams::default().fields("spec.image=nginx")).await);
    assert_eq!(status.code, 400);
    assert_eq!(status.message, "field label not supported: spec.image");
}

#[tokio::test]
async fn list_pages_with_limit_and_continue_and_reports_the_list_resource_version() {
    let server = server().await;
    let api = widgets(&server, "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &widget(&format!("w{i}"), json!({"image": "nginx"})))
            .await
            .expect("create");
    }
    let first = api.list(&ListParams::default().limit(2)).await.expect("page 1");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    assert_eq!(first.metadata.resource_version, Some(server.resource_version().to_string()));
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second =
        api.list(&ListParams::default().limit(2).continue_token(&token)).await.expect("page 2");
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
        api.create(&PostParams::default(), &widget(&format!("w{i}"), json!({"image": "nginx"})))
            .await
            .expect("create");
    }
    let first = api.list(&ListParams::default().limit(1)).await.expect("page 1");
    api.create(&PostParams::default(), &widget("later", json!({"image": "nginx"})))
        .await
        .expect("create");
    server.compact_history();
    let token = first.metadata.continue_.unwrap();
    let status = api_error(api.list(&ListParams::default().limit(1).continue_token(&token)).await);
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
}

#[tokio::test]
async fn listing_across_all_namespaces_includes_every_namespace() {
    let server = server().await;
    for ns in ["default", "kube-system"] {
        widgets(&server, ns)
            .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
            .await
            .expect("create");
    }
    let list = all_widgets(&server).list(&ListParams::default()).await.expect("list");
    let namespaces: Vec<String> =
        list.items.iter().map(|o| o.metadata.namespace.clone().unwrap()).collect();
    assert_eq!(namespaces, ["default", "kube-system"]);
}

#[tokio::test]
async fn a_client_asking_for_metadata_only_gets_lists_and_watch_events_without_the_data() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Secret;
    use kube::{
        Api,
        api::{WatchEvent, WatchParams},
    };

    let server = server().await;
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let payload = "x".repeat(64 * 1024);
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "helm-release", "labels": {"owner": "helm"}}, "stringData": {"release": payload}}),
    )
    .unwrap();
    secrets.create(&PostParams::default(), &secret).await.expect("create");

    let accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    let request = http::Request::get("/api/v1/namespaces/default/secrets")
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .unwrap();
    let text = server.client().request_text(request).await.expect("list");
    assert!(text.len() < 4096, "a metadata-only list leaves the data out: {} bytes", text.len());
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(list["items"][0]["metadata"]["labels"]["owner"], "helm");
    assert!(list["items"][0].get("data").is_none());

    let names: Vec<String> = secrets
        .list_metadata(&ListParams::default())
        .await
        .expect("kube's metadata list")
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert_eq!(names, ["helm-release"]);

    let request =
        http::Request::get("/api/v1/namespaces/default/secrets?watch=true&timeoutSeconds=1")
            .header(
                http::header::ACCEPT,
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            )
            .body(Vec::new())
            .unwrap();
    let text = server.client().request_text(request).await.expect("watch");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("an event")).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "PartialObjectMetadata");
    assert!(first["object"].get("data").is_none(), "a metadata-only watch leaves the data out");

    let mut events =
        secrets.watch_metadata(&WatchParams::default(), "0").await.expect("watch").boxed();
    match events.try_next().await.expect("an event") {
        Some(WatchEvent::Added(s)) => assert_eq!(s.metadata.name.as_deref(), Some("helm-release")),
        other => panic!("expected ADDED, got {other:?}"),
    }
}
