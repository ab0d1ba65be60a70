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
