//! The project's own CRDs (`crds/`) and examples (`examples/`) against the stand-in: they load,
//! kubectl applies every example client- and server-side, and the CEL rules our API relies on
//! are enforced.

use std::path::PathBuf;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::json;

use crate::common::api_error;
use crate::kubectl::succeed;
use crate::support::apiserver::ApiServer;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

async fn server() -> ApiServer {
    ApiServer::start(&repo("crds")).await
}

fn cloud_services(server: &ApiServer) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("byoc.dev", "v1alpha1", "CloudService");
    Api::namespaced_with(
        server.client(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "cloudservices"),
    )
}

fn service(name: &str, spec: serde_json::Value) -> Patch<serde_json::Value> {
    Patch::Apply(
        json!({"apiVersion": "byoc.dev/v1alpha1", "kind": "CloudService", "metadata": {"name": name}, "spec": spec}),
    )
}

#[tokio::test]
async fn kubectl_applies_every_example_against_the_real_crds() {
    let server = server().await;
    let examples = repo("examples");
    let out = succeed(&server, &["apply", "-f", examples.to_str().unwrap()]).await;
    assert!(out.contains("cloudaccount.byoc.dev/demo created"), "{out}");
    assert!(out.contains("cloudservice.byoc.dev/web created"), "{out}");
    let out = succeed(&server, &["apply", "--server-side", "-f", examples.to_str().unwrap()]).await;
    assert!(out.contains("cloudservice.byoc.dev/web serverside-applied"), "{out}");
    let services = succeed(&server, &["get", "csvc"]).await;
    assert!(services.lines().any(|l| l.starts_with("web ")), "{services}");
    let accounts = succeed(&server, &["get", "cacct"]).await;
    assert!(accounts.lines().any(|l| l.starts_with("demo ")), "{accounts}");
}

#[tokio::test]
async fn an_ingress_port_that_names_no_container_port_is_rejected_at_its_field() {
    let server = server().await;
    let spec = json!({"accountRef": {"name": "demo"}, "image": "nginx", "ports": [{"name": "http", "containerPort": 80}],
                      "ingress": {"loadBalancer": "public", "hosts": ["a.example.com"], "port": "metrics"}});
    let status = api_error(
        cloud_services(&server)
            .patch("web", &PatchParams::apply("test"), &service("web", spec))
            .await,
    );
    assert_eq!(status.code, 422, "{}", status.message);
    assert!(
        status.message.contains("spec.ingress.port: Invalid value: \"object\": spec.ingress.port must be the name of an entry in spec.ports"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn the_account_ref_of_a_cloud_service_is_immutable() {
    let server = server().await;
    let api = cloud_services(&server);
    let spec = |account: &str| json!({"accountRef": {"name": account}, "image": "nginx"});
    api.patch("web", &PatchParams::apply("test"), &service("web", spec("demo")))
        .await
        .expect("create");
    let status = api_error(
        api.patch("web", &PatchParams::apply("test"), &service("web", spec("other"))).await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("spec.accountRef: Invalid value: \"object\": spec.accountRef is immutable"),
        "{}",
        status.message
    );
}
