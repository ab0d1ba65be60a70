//! WATCH: initial state, replay from a resourceVersion, 410 Expired, bookmarks, streaming
//! lists, timeouts, selectors, deletion with finalizers and the dropped-connection hook.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;

use crate::common::{rv, server, widget, widgets};

type Events = std::pin::Pin<Box<dyn Stream<Item = kube::Result<WatchEvent<DynamicObject>>> + Send>>;

async fn open(api: &kube::Api<DynamicObject>, params: &WatchParams, version: &str) -> Events {
    api.watch(params, version).await.expect("watch opens").boxed()
}

/// The next event as ("ADDED", name) etc., failing after 5 s.
async fn next(events: &mut Events) -> (String, String) {
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an event within 5s")
        .expect("the stream stays open")
        .expect("the event decodes");
    match event {
        WatchEvent::Added(o) => ("ADDED".into(), o.metadata.name.unwrap_or_default()),
        WatchEvent::Modified(o) => ("MODIFIED".into(), o.metadata.name.unwrap_or_default()),
        WatchEvent::Deleted(o) => ("DELETED".into(), o.metadata.name.unwrap_or_default()),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version),
        WatchEvent::Error(e) => ("ERROR".into(), format!("{} {}", e.code, e.reason)),
    }
}

fn quiet() -> WatchParams {
    WatchParams::default().disable_bookmarks()
}

#[tokio::test]
async fn a_watch_without_resource_version_starts_with_synthetic_added_events() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await.expect("a");
    let mut events = open(&api, &quiet(), "0").await;
    assert_eq!(next(&mut events).await, ("ADDED".into(), "a".into()));
    api.create(&PostParams::default(), &widget("b", json!({"image": "nginx"}))).await.expect("b");
    assert_eq!(next(&mut events).await, ("ADDED".into(), "b".into()));
}

#[tokio::test]
async fn a_watch_from_a_resource_version_replays_only_later_events() {
    let server = server().await;
    let api = widgets(&server, "default");
    let a = api
        .create(&PostParams::default(), &widget("a", json!({"image": "nginx"})))
        .await
        .expect("a");
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"spec": {"image": "httpd"}})))
        .await
        .expect("patch");
    api.delete("a", &DeleteParams::default()).await.expect("delete");
    let mut events = open(&api, &quiet(), &rv(&a).to_string()).await;
    assert_eq!(next(&mut events).await, ("MODIFIED".into(), "a".into()));
    assert_eq!(next(&mut events).await, ("DELETED".into(), "a".into()));
}

#[tokio::test]
async fn watch_from_compacted_resource_version_gets_410_expired() {
    let server = server().await;
    let api = widgets(&server, "default");
    let a = api
        .create(&PostParams::default(), &widget("a", json!({"image": "nginx"})))
        .await
        .expect("a");
    api.create(&PostParams::default(), &widget("b", json!({"image": "nginx"}))).await.expect("b");
    server.compact_history();
    let mut events = open(&api, &quiet(), &rv(&a).to_string()).await;
    assert_eq!(next(&mut events).await, ("ERROR".into(), "410 Expired".into()));
    let ended =
        tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("the stream ends");
    assert!(ended.is_none(), "the server closes the watch after the error");
}

#[tokio::test]
async fn a_bounded_history_expires_versions_that_fell_out_of_it() {
    let server = server().await;
    server.set_history_limit(2);
    let api = widgets(&server, "default");
    let first = api
        .create(&PostParams::default(), &widget("a", json!({"image": "nginx"})))
        .await
        .expect("a");
    for name in ["b", "c", "d"] {
        api.create(&PostParams::default(), &widget(name, json!({"image": "nginx"})))
            .await
            .expect(name);
    }
    let mut events = open(&api, &quiet(), &rv(&first).to_string()).await;
    assert_eq!(next(&mut events).await.0, "ERROR");
}

#[tokio::test]
async fn bookmarks_carry_the_latest_resource_version_when_allowed() {
    let server = server().await;
    server.faults().set_bookmark_interval(Duration::from_millis(50));
    let api = widgets(&server, "default");
    let a = api
        .create(&PostParams::default(), &widget("a", json!({"image": "nginx"})))
        .await
        .expect("a");
    let mut events = open(&api, &WatchParams::default(), &rv(&a).to_string()).await;
    let (kind, version) = next(&mut events).await;
    assert_eq!(kind, "BOOKMARK");
    assert_eq!(version, server.resource_version().to_string());
    let path = format!(
        "/apis/fixtures.byoc.dev/v1alpha1/widgets?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion={}",
        rv(&a)
    );
    let (status, _, body) =
        crate::common::raw_text(&server, "GET", &path, "application/json", None).await;
    assert_eq!(status, 200);
    let first: serde_json::Value =
        serde_json::from_str(body.lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        first,
        json!({"type": "BOOKMARK", "object": {"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget",
               "metadata": {"resourceVersion": server.resource_version().to_string()}}})
    );
}

#[tokio::test]
async fn a_streaming_list_ends_its_initial_events_with_an_annotated_bookmark() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await.expect("a");
    let mut events = api.watch(&WatchParams::streaming_lists(), "").await.expect("watch").boxed();
    assert_eq!(next(&mut events).await, ("ADDED".into(), "a".into()));
    let bookmark = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Bookmark(bookmark) = bookmark else { panic!("expected a bookmark") };
    assert_eq!(
        bookmark.metadata.annotations.get("k8s.io/initial-events-end").map(String::as_str),
        Some("true")
    );
}

#[tokio::test]
async fn a_watch_ends_after_timeout_seconds() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut events = open(&api, &quiet().timeout(1), "0").await;
    let ended = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("ends within 10s");
    assert!(ended.is_none());
}

#[tokio::test]
async fn a_filtered_watch_sees_objects_enter_and_leave_its_selector() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await.expect("a");
    let mut events = open(&api, &quiet().labels("tier=web"), "0").await;
    let label = |v: serde_json::Value| Patch::Merge(json!({"metadata": {"labels": {"tier": v}}}));
    api.patch("a", &PatchParams::default(), &label(json!("web"))).await.expect("enter");
    assert_eq!(next(&mut events).await, ("ADDED".into(), "a".into()));
    api.patch("a", &PatchParams::default(), &label(json!("db"))).await.expect("leave");
    assert_eq!(next(&mut events).await, ("DELETED".into(), "a".into()));
}

#[tokio::test]
async fn deleting_an_object_with_a_finalizer_is_seen_as_modified_then_deleted() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut w = widget("a", json!({"image": "nginx"}));
    w.metadata.finalizers = Some(vec!["byoc.dev/cleanup".into()]);
    let created = api.create(&PostParams::default(), &w).await.expect("a");
    let mut events = open(&api, &quiet(), &rv(&created).to_string()).await;
    api.delete("a", &DeleteParams::default()).await.expect("delete");
    assert_eq!(next(&mut events).await, ("MODIFIED".into(), "a".into()));
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    let mut seen = vec![next(&mut events).await.0];
    if seen[0] == "MODIFIED" {
        seen.push(next(&mut events).await.0);
    }
    assert_eq!(seen.last().map(String::as_str), Some("DELETED"));
}

#[tokio::test]
async fn the_drop_hook_cuts_open_watches_mid_stream() {
    let server = server().await;
    let api = widgets(&server, "default");
    let mut events = open(&api, &quiet(), "0").await;
    server.faults().drop_watches();
    let outcome = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the cut is noticed");
    assert!(matches!(outcome, None | Some(Err(_))), "the stream ends or fails: {outcome:?}");
}
