//! The fault hooks: injected 500/429/409 answers, latency, and the request log.

use std::time::{Duration, Instant};

use kube::api::PostParams;
use serde_json::json;

use crate::common::{api_error, raw, server, widget, widgets};
use crate::support::apiserver::{Fault, LoggedRequest};

#[tokio::test]
async fn injected_errors_answer_the_next_matching_requests_then_stop() {
    let server = server().await;
    let api = widgets(&server, "default");
    server
        .faults()
        .fail_next_matching(1, Fault::InternalError, |method, _| method == http::Method::POST);
    let status = api_error(
        api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await,
    );
    assert_eq!((status.code, status.reason.as_str()), (500, "InternalError"));
    server.faults().fail_next(1, Fault::Conflict);
    let status = api_error(
        api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"}))).await,
    );
    assert_eq!(status.code, 409);
    api.create(&PostParams::default(), &widget("a", json!({"image": "nginx"})))
        .await
        .expect("faults are used up");
}

#[tokio::test]
async fn an_injected_429_carries_retry_after_and_kube_retries_it() {
    let server = server().await;
    server.faults().fail_next(1, Fault::TooManyRequests { retry_after_seconds: 1 });
    let (code, headers, body) =
        raw(&server, "GET", "/api/v1/namespaces", "application/json", None).await;
    assert_eq!(code, 429, "{:?}", server.request_log());
    assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    server.faults().fail_next(1, Fault::TooManyRequests { retry_after_seconds: 1 });
    widgets(&server, "default").get_opt("a").await.expect("kube's default client retries 429");
    let statuses: Vec<u16> = server.request_log().iter().map(|r| r.status).collect();
    assert_eq!(statuses[statuses.len() - 2..], [429, 404]);
}

#[tokio::test]
async fn latency_delays_every_request() {
    let server = server().await;
    server.faults().set_latency(Duration::from_millis(200));
    let started = Instant::now();
    widgets(&server, "default").get_opt("a").await.expect("get");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn the_request_log_records_method_path_with_query_and_status() {
    let server = server().await;
    widgets(&server, "default").get_opt("a").await.expect("get");
    let (code, _, _) = raw(
        &server,
        "GET",
        "/apis/fixtures.byoc.dev/v1alpha1/widgets?limit=1",
        "application/json",
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        server.request_log(),
        [
            LoggedRequest {
                method: "GET".into(),
                path: "/apis/fixtures.byoc.dev/v1alpha1/namespaces/default/widgets/a".into(),
                status: 404
            },
            LoggedRequest {
                method: "GET".into(),
                path: "/apis/fixtures.byoc.dev/v1alpha1/widgets?limit=1".into(),
                status: 200
            },
        ]
    );
}
