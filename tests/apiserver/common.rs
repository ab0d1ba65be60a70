//! Helpers for the stand-in's own tests: starting a server with the fixture CRDs, typed handles
//! on the fixture kinds, raw HTTP requests, and polling with a deadline.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use crate::support::apiserver::ApiServer;

pub fn fixture_crds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crds")
}

pub async fn server() -> ApiServer {
    ApiServer::start(&fixture_crds()).await
}

pub fn widget_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("fixtures.byoc.dev", "v1alpha1", "Widget");
    ApiResource::from_gvk_with_plural(&gvk, "widgets")
}

pub fn gadget_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("fixtures.byoc.dev", "v1alpha1", "Gadget");
    ApiResource::from_gvk_with_plural(&gvk, "gadgets")
}

pub fn widgets(server: &ApiServer, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(server.client(), namespace, &widget_resource())
}

pub fn all_widgets(server: &ApiServer) -> Api<DynamicObject> {
    Api::all_with(server.client(), &widget_resource())
}

/// A Widget named `name` with the given spec.
pub fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "fixtures.byoc.dev/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a valid Widget")
}

pub fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("objects serialise")
}

pub fn rv(object: &DynamicObject) -> u64 {
    object
        .metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("stored objects carry a numeric resourceVersion")
}

/// The `Status` (or other body) and status code of a failed kube call.
pub fn api_error(result: kube::Result<impl std::fmt::Debug>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Sends a raw request; returns status, headers and the JSON body (or Null).
pub async fn raw(
    server: &ApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<Value>,
) -> (u16, http::HeaderMap, Value) {
    let (status, headers, text) = raw_text(server, method, path, content_type, body).await;
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, value)
}

/// Sends a raw request; returns status, headers and the body as text.
pub async fn raw_text(
    server: &ApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<Value>,
) -> (u16, http::HeaderMap, String) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(kube::client::Body::from(bytes))
        .expect("a valid request");
    let mut config = kube::Config::new(server.url().parse().expect("a valid URL"));
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("a client");
    let response = client.send(request).await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect_bytes().await.expect("a readable body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// POSTs `body` as JSON; status code and body.
pub async fn post(server: &ApiServer, path: &str, body: Value) -> (u16, Value) {
    let (code, _, body) = raw(server, "POST", path, "application/json", Some(body)).await;
    (code, body)
}

/// JSON-merge-patches `path`; status code and body.
pub async fn merge_patch_raw(server: &ApiServer, path: &str, body: Value) -> (u16, Value) {
    let content_type = "application/merge-patch+json";
    let (code, _, body) = raw(server, "PATCH", path, content_type, Some(body)).await;
    (code, body)
}

/// Server-side applies `body` to `path` as manager `test`; status code and body.
pub async fn apply_raw(server: &ApiServer, path: &str, body: Value) -> (u16, Value) {
    let path = format!("{path}?fieldManager=test");
    let content_type = "application/apply-patch+yaml";
    let (code, _, body) = raw(server, "PATCH", &path, content_type, Some(body)).await;
    (code, body)
}

/// `(field, message)` of each cause in a `Status` body.
pub fn causes(status: &Value) -> Vec<(String, String)> {
    status["details"]["causes"]
        .as_array()
        .map(|causes| {
            causes
                .iter()
                .map(|c| {
                    (c["field"].as_str().unwrap().into(), c["message"].as_str().unwrap().into())
                })
                .collect()
        })
        .unwrap_or_default()
}
