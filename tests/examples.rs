//! Every manifest under `examples/` parses into the Rust types and passes the CRD's CEL rules; a
//! table of invalid CloudServices is rejected by those same rules with the field named.

mod support;

use byoc::api::{CloudAccount, CloudService};
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};
use support::manifests::{crd_schema, documents, repo_root};

fn cel_errors(kind: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
    match kube_cel::Validator::new().validate(&crd_schema(kind), object, old) {
        Ok(()) => vec![],
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn every_example_parses_into_the_rust_types_and_passes_the_cel_rules() {
    let docs = documents(&repo_root().join("examples"));
    let mut kinds = Vec::new();
    for (file, doc) in docs
        .iter()
        .filter(|(_, d)| d["apiVersion"] == "byoc.dev/v1alpha1" || d["apiVersion"] == "v1")
    {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let parsed = match kind {
            "CloudAccount" => serde_json::from_value::<CloudAccount>(doc.clone()).map(|_| ()),
            "CloudService" => serde_json::from_value::<CloudService>(doc.clone()).map(|_| ()),
            "Secret" => serde_json::from_value::<Secret>(doc.clone()).map(|_| ()),
            other => panic!("{}: unexpected kind {other}", file.display()),
        };
        parsed.unwrap_or_else(|e| panic!("{} ({kind}): {e}", file.display()));
        if kind != "Secret" {
            let errors = cel_errors(kind, doc, None);
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        }
        kinds.push(kind.to_string());
    }
    assert!(
        kinds.iter().filter(|k| *k == "CloudService").count() >= 3,
        "examples need at least three CloudServices"
    );
    assert!(kinds.iter().any(|k| k == "CloudAccount"), "examples need a CloudAccount");
}

#[test]
fn every_example_service_passes_the_operators_own_validation() {
    let manifests = byoc::oneshot::load(&repo_root().join("examples")).unwrap();
    let prepared = byoc::oneshot::prepare(&manifests, "examples").unwrap_or_else(|errors| {
        panic!("examples/ fail validation: {errors:?}");
    });
    assert_eq!(prepared.len(), manifests.services.len());
}

fn service(spec: Value) -> Value {
    let mut base = json!({
        "accountRef": {"name": "demo"},
        "image": "nginx:1.27",
        "ports": [{"name": "http", "containerPort": 80}],
        "cpu": "0.25",
        "memory": "512Mi",
    });
    for (k, v) in spec.as_object().unwrap() {
        base[k] = v.clone();
    }
    json!({"apiVersion": "byoc.dev/v1alpha1", "kind": "CloudService", "metadata": {"name": "s", "namespace": "default"}, "spec": base})
}

#[test]
fn invalid_services_are_rejected_by_the_cel_rules_with_the_field_named() {
    let cases = [
        (
            "ingress on a port that is not declared",
            json!({"ingress": {"loadBalancer": "public", "hosts": ["a.example.com"], "port": "grpc"}}),
            "spec.ingress.port",
        ),
        ("memory too large for 0.25 vCPU", json!({"memory": "4Gi"}), "spec.memory"),
        ("0.25 vCPU with 1.5 GiB", json!({"memory": "1536Mi"}), "spec.memory"),
        (
            "ingress with neither host nor path",
            json!({"ingress": {"loadBalancer": "public", "port": "http"}}),
            "spec.ingress",
        ),
        (
            "env with both a value and a secret",
            json!({"env": [{"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
            "spec.env[0]",
        ),
        (
            "health check timeout not below its interval",
            json!({"healthCheck": {"path": "/", "intervalSeconds": 5, "timeoutSeconds": 5}}),
            "spec.healthCheck",
        ),
        ("reserved tag key", json!({"tags": {"byoc.dev/owner": "me"}}), "spec.tags"),
        (
            "health check on an undeclared port",
            json!({"healthCheck": {"path": "/", "port": "admin"}}),
            "spec.healthCheck.port",
        ),
        (
            "a success-code range that runs backwards",
            json!({"healthCheck": {"path": "/", "successCodes": "399-200"}}),
            "spec.healthCheck.successCodes",
        ),
        ("an AWS-reserved tag key in upper case", json!({"tags": {"AWS:team": "x"}}), "spec.tags"),
        ("an AWS-reserved tag value", json!({"tags": {"team": "aws:x"}}), "spec.tags"),
        ("an empty tag key", json!({"tags": {"": "x"}}), "spec.tags"),
    ];
    for (reason, spec, field) in cases {
        let errors = cel_errors("CloudService", &service(spec), None);
        assert!(
            errors.iter().any(|e| e.contains(field)),
            "{reason}: expected an error naming {field}, got {errors:?}"
        );
    }
}

#[test]
fn a_repository_needs_a_name_without_doubled_separators() {
    let cases = [
        ("a plain name with a repository", "web", json!({"repository": {}}), true),
        ("a doubled hyphen without a repository", "web--v2", json!({}), true),
        ("a doubled hyphen with a repository", "web--v2", json!({"repository": {}}), false),
    ];
    for (reason, name, spec, ok) in cases {
        let mut object = service(spec);
        object["metadata"]["name"] = json!(name);
        let errors = cel_errors("CloudService", &object, None);
        if ok {
            assert!(errors.is_empty(), "{reason}: {errors:?}");
        } else {
            assert!(
                errors.iter().any(|e| e.contains("metadata.name") && e.contains("spec.repository")),
                "{reason}: expected an error naming metadata.name, got {errors:?}"
            );
        }
    }
}

#[test]
fn valid_fargate_sizes_pass_the_cel_rule() {
    for (cpu, memory) in [
        ("0.25", "2Gi"),
        ("1", "3Gi"),
        ("4", "30Gi"),
        ("8", "20Gi"),
        ("16", "120Gi"),
        ("500m", "1024Mi"),
    ] {
        let errors =
            cel_errors("CloudService", &service(json!({"cpu": cpu, "memory": memory})), None);
        assert!(errors.is_empty(), "{cpu}/{memory}: {errors:?}");
    }
}

#[test]
fn account_ref_cannot_change_once_set() {
    let old = service(json!({}));
    let new = service(json!({"accountRef": {"name": "other"}}));
    let errors = cel_errors("CloudService", &new, Some(&old));
    assert!(
        errors.iter().any(|e| e.contains("spec.accountRef") && e.contains("immutable")),
        "{errors:?}"
    );
    assert!(cel_errors("CloudService", &old, Some(&old)).is_empty());
}
