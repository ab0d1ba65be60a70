//! OpenAPI v3 as kubectl reads it: the `/openapi/v3` index of group-versions and one document
//! per group-version whose PATCH operations declare `fieldValidation` (so kubectl validates
//! server-side) and whose schemas are the CRD schemas (for `kubectl explain`). Pure.

use serde_json::{Map, Value, json};

use super::discovery::SERVER_MINOR;
use super::registry::{Registry, ResourceType};

fn hash_of(text: &str) -> String {
    let mut hash: u64 = 1469598103934665603;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(1099511628211);
    }
    format!("{hash:016X}")
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let path = gv_path(&group, &version);
            let hash = hash_of(&document(registry, &group, &version).to_string());
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `io.k8s.api.core.v1.ConfigMap` for built-ins, `dev.byoc.v1alpha1.CloudService` for CRs.
fn schema_name(resource: &ResourceType) -> String {
    let group = if resource.group.is_empty() {
        "io.k8s.api.core".to_string()
    } else if resource.is_custom {
        resource.group.split('.').rev().collect::<Vec<_>>().join(".")
    } else {
        let short = resource.group.split('.').next().unwrap_or_default();
        format!("io.k8s.api.{short}")
    };
    format!("{group}.{}.{}", resource.version, resource.kind)
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn gvk(resource: &ResourceType) -> Value {
    json!({"group": resource.group, "version": resource.version, "kind": resource.kind})
}

fn query(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(resource: &ResourceType, action: &str, reference: &Value) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}", resource.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(resource),
        "responses": {"200": {"content": {"application/json": {"schema": reference}}}},
    });
    match action {
        "patch" => {
            op["parameters"] = json!([
                query("dryRun"),
                query("fieldManager"),
                query("fieldValidation"),
                query("force")
            ]);
            let mut content = Map::new();
            let mut types = vec![
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ];
            if !resource.is_custom {
                types.push("application/strategic-merge-patch+json");
            }
            for media_type in types {
                content.insert(media_type.into(), json!({"schema": {"type": "object"}}));
            }
            op["requestBody"] = json!({"content": content});
        }
        "put" | "post" => {
            op["parameters"] =
                json!([query("dryRun"), query("fieldManager"), query("fieldValidation")]);
            op["requestBody"] = json!({"content": {"application/json": {"schema": reference}}});
        }
        _ => {}
    }
    op
}

fn object_schema(resource: &ResourceType) -> Value {
    let mut schema = resource
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(map) = schema.as_object_mut() {
        let properties = map.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("apiVersion".into(), json!({"type": "string"}));
            properties.insert("kind".into(), json!({"type": "string"}));
            properties.insert(
                "metadata".into(),
                json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "default": {}}),
            );
        }
        map.insert("x-kubernetes-group-version-kind".into(), json!([gvk(resource)]));
    }
    schema
}

pub fn document(registry: &Registry, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        OBJECT_META.into(),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    );
    for resource in registry.in_group_version(group, version) {
        let name = schema_name(resource);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        schemas.insert(name, object_schema(resource));
        let prefix = if resource.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", gv_path(group, version), resource.plural)
        } else {
            format!("/{}/{}", gv_path(group, version), resource.plural)
        };
        paths.insert(
            prefix.clone(),
            json!({"get": operation(resource, "list", &reference), "post": operation(resource, "post", &reference)}),
        );
        let item = json!({
            "get": operation(resource, "get", &reference),
            "put": operation(resource, "put", &reference),
            "patch": operation(resource, "patch", &reference),
            "delete": operation(resource, "delete", &reference),
        });
        paths.insert(format!("{prefix}/{{name}}"), item.clone());
        if resource.status_subresource {
            paths.insert(format!("{prefix}/{{name}}/status"), item);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{SERVER_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
