//! kube-runtime's watcher and reflector against the stand-in: they recover through a 410
//! Expired and through a cut connection, and converge on the server's state.

use std::time::Duration;

use futures::StreamExt;
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use crate::common::{eventually, server, widget, widget_resource, widgets};
use crate::support::apiserver::Fault;

fn names(store: &Store<DynamicObject>) -> Vec<String> {
    let mut names: Vec<String> =
        store.state().iter().map(|o| o.metadata.name.clone().unwrap_or_default()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_reflector_recovers_from_a_dropped_connection_and_converges() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await.expect("a");
    let writer = reflector::store::Writer::<DynamicObject>::new(widget_resource());
    let reader = writer.as_reader();
    let stream =
        reflector::reflector(writer, watcher::watcher(api.clone(), watcher::Config::default()))
            .default_backoff()
            .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    eventually(Duration::from_secs(10), "initial sync", || async {
        (names(&reader) == ["a"]).then_some(())
    })
    .await;
    server.faults().drop_watches();
    api.create(&PostParams::default(), &widget("b", json!({"image": "nginx"}))).await.expect("b");
    api.delete("a", &DeleteParams::default()).await.expect("delete a");
    eventually(Duration::from_secs(20), "convergence after the cut", || async {
        (names(&reader) == ["b"]).then_some(())
    })
    .await;
    let rewatches = server.request_log().iter().filter(|r| r.path.contains("watch=true")).count();
    assert!(rewatches >= 2, "the watcher re-established its watch");
    task.abort();
}

#[tokio::test]
async fn the_watcher_recovers_from_410_expired_by_relisting_and_converges() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await.expect("a");
    let writer = reflector::store::Writer::<DynamicObject>::new(widget_resource());
    let reader = writer.as_reader();
    let stream =
        reflector::reflector(writer, watcher::watcher(api.clone(), watcher::Config::default()))
            .default_backoff()
            .boxed();
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(stream.for_each(move |event| {
        let label = match &event {
            Ok(Event::Init) => "init".to_string(),
            Ok(Event::InitDone) => "init-done".to_string(),
            Ok(_) => "event".to_string(),
            Err(e) => format!("error: {e}"),
        };
        let _ = events_tx.send(label);
        async {}
    }));
    eventually(Duration::from_secs(10), "initial sync", || async {
        (names(&reader) == ["a"]).then_some(())
    })
    .await;
    // Hold the re-watch off with one failure, change state and compact meanwhile, so the
    // watcher's next watch asks for a version that is gone.
    server
        .faults()
        .fail_next_matching(1, Fault::InternalError, |_, path| path.contains("watch=true"));
    server.faults().drop_watches();
    eventually(Duration::from_secs(10), "the failed re-watch", || async {
        server.request_log().iter().any(|r| r.status == 500).then_some(())
    })
    .await;
    api.create(&PostParams::default(), &widget("b", json!({"image": "nginx"}))).await.expect("b");
    server.compact_history();
    eventually(Duration::from_secs(20), "convergence after 410", || async {
        (names(&reader) == ["a", "b"]).then_some(())
    })
    .await;
    let lists = server
        .request_log()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.contains("/widgets?") && !r.path.contains("watch=true")
        })
        .count();
    assert!(lists >= 2, "the 410 made the watcher relist: {:#?}", server.request_log());
    let mut labels = Vec::new();
    while let Ok(label) = events_rx.try_recv() {
        labels.push(label);
    }
    assert!(labels.iter().any(|l| l == "init"), "{labels:?}");
    task.abort();
}
