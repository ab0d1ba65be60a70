//! Test fixtures: a CloudAccount and CloudServices built from JSON, as a user would write them.

use serde_json::{Value, json};

use crate::api::{CloudAccount, CloudService};

/// The account `demo` with one load balancer, `public`, and a cost-center tag.
pub fn account() -> CloudAccount {
    serde_json::from_value(json!({
        "apiVersion": "byoc.dev/v1alpha1",
        "kind": "CloudAccount",
        "metadata": {"name": "demo"},
        "spec": {
            "aws": {"region": "eu-west-1"},
            "network": {
                "vpcId": "vpc-0a1b2c3d4e5f67890",
                "subnetIds": ["subnet-0a1b2c3d4e5f67890"],
                "securityGroupIds": ["sg-0a1b2c3d4e5f67890"]
            },
            "cluster": {"name": "byoc-demo"},
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "loadBalancers": [{"name": "public", "securityGroupIds": ["sg-0c1d2e3f4a5b67890"]}],
            "tags": {"cost-center": "platform"}
        }
    }))
    .expect("valid CloudAccount")
}

/// The service `shop/web` on account `demo`, with `spec` merged over a minimal valid spec.
pub fn service(spec: Value) -> CloudService {
    named_service("shop", "web", spec)
}

/// A service with the given namespace and name, `spec` merged over a minimal valid spec.
pub fn named_service(namespace: &str, name: &str, spec: Value) -> CloudService {
    let mut base = json!({
        "accountRef": {"name": "demo"},
        "image": "nginx:1.27",
        "ports": [{"name": "http", "containerPort": 80}]
    });
    for (k, v) in spec.as_object().expect("spec is an object") {
        base[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "byoc.dev/v1alpha1",
        "kind": "CloudService",
        "metadata": {"name": name, "namespace": namespace, "uid": "7f3c1a52-0000-4000-8000-000000000001"},
        "spec": base
    }))
    .expect("valid CloudService")
}
