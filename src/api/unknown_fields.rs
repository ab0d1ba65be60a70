//! Fields a manifest sets that the CRD schema does not declare, found the way kube-apiserver
//! prunes them (`fieldValidation=Strict` refuses them; `kubectl` asks for that by default). The
//! one-shot CLI reads manifests without an API server, and serde alone would drop a misspelt
//! field without a word (`replica: 3` would silently deploy one task). Pure.

use std::sync::LazyLock;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::Value;

/// The fields of `ObjectMeta`, which the CRD schema does not describe.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// `(kind, openAPIV3Schema)` of our CRDs, generated once from the Rust types.
static SCHEMAS: LazyLock<Vec<(String, JSONSchemaProps)>> = LazyLock::new(|| {
    super::crd::crds()
        .into_iter()
        .filter_map(|(_, crd)| {
            let schema = crd.spec.versions.first()?.schema.clone()?.open_api_v3_schema?;
            Some((crd.spec.names.kind, schema))
        })
        .collect()
});

/// One field the schema does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// Its path, e.g. `spec.replica` or `spec.ports[0].port`.
    pub path: String,
    /// A declared field next to it with a similar name, e.g. `replicas`.
    pub did_you_mean: Option<String>,
}

impl std::fmt::Display for UnknownField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: unknown field", self.path)?;
        match &self.did_you_mean {
            Some(known) => write!(f, " (did you mean {known}?)"),
            None => Ok(()),
        }
    }
}

/// The fields of `doc`, a `kind` object (`CloudAccount` or `CloudService`), that its CRD schema
/// does not declare. Empty for other kinds.
pub fn unknown_fields(kind: &str, doc: &Value) -> Vec<UnknownField> {
    let Some((_, schema)) = SCHEMAS.iter().find(|(k, _)| k == kind) else { return Vec::new() };
    let mut out = Vec::new();
    let Some(map) = doc.as_object() else { return out };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for field in value.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !OBJECT_META_FIELDS.contains(&field.as_str()) {
                        out.push(UnknownField {
                            path: format!("metadata.{field}"),
                            did_you_mean: similar(field, OBJECT_META_FIELDS.iter().copied()),
                        });
                    }
                }
            }
            _ => walk(schema, key, value, key, &mut out),
        }
    }
    out
}

/// Checks `value`, the field `key` of an object whose schema is `parent`, found at `path`.
fn walk(
    parent: &JSONSchemaProps,
    key: &str,
    value: &Value,
    path: &str,
    out: &mut Vec<UnknownField>,
) {
    if parent.x_kubernetes_preserve_unknown_fields == Some(true) {
        return;
    }
    let schema = match parent.properties.as_ref().and_then(|p| p.get(key)) {
        Some(schema) => schema,
        None => match &parent.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(schema)) => schema.as_ref(),
            Some(JSONSchemaPropsOrBool::Bool(true)) => return,
            _ => {
                let known = parent.properties.iter().flat_map(|p| p.keys().map(String::as_str));
                out.push(UnknownField {
                    path: path.to_string(),
                    did_you_mean: similar(key, known),
                });
                return;
            }
        },
    };
    children(schema, value, path, out);
}

fn children(schema: &JSONSchemaProps, value: &Value, path: &str, out: &mut Vec<UnknownField>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                walk(schema, key, child, &format!("{path}.{key}"), out);
            }
        }
        Value::Array(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
                for (i, child) in items.iter().enumerate() {
                    children(item, child, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The known name closest to `unknown`: the same but for case, or at most two edits away.
fn similar<'a>(unknown: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|k| (edit_distance(&unknown.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(spec: Value) -> Value {
        json!({"apiVersion": "byoc.dev/v1alpha1", "kind": "CloudService",
               "metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
    }

    #[test]
    fn a_misspelt_field_is_named_with_the_field_it_was_probably_meant_to_be() {
        let doc = service(json!({"accountRef": {"name": "a"}, "image": "nginx", "replica": 2}));
        let found = unknown_fields("CloudService", &doc);
        assert_eq!(
            found,
            [UnknownField { path: "spec.replica".into(), did_you_mean: Some("replicas".into()) }]
        );
        assert_eq!(found[0].to_string(), "spec.replica: unknown field (did you mean replicas?)");
    }

    #[test]
    fn unknown_fields_are_found_in_lists_nested_objects_and_metadata() {
        let doc = service(json!({
            "accountRef": {"name": "a"}, "image": "nginx",
            "ports": [{"name": "http", "containerPort": 80}, {"name": "admin", "port": 9000}],
            "ingress": {"loadBalancer": "public", "hosts": ["a.example.com"], "port": "http", "tls": true},
        }));
        let mut doc = doc;
        doc["metadata"]["label"] = json!({"a": "b"});
        let paths: Vec<String> =
            unknown_fields("CloudService", &doc).into_iter().map(|u| u.path).collect();
        assert_eq!(paths, ["metadata.label", "spec.ingress.tls", "spec.ports[1].port"]);
    }

    #[test]
    fn maps_take_any_key_and_a_valid_manifest_has_no_unknown_fields() {
        let doc = service(json!({
            "accountRef": {"name": "a"}, "image": "nginx", "tags": {"team": "shop", "any-key": "x"},
            "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        }));
        assert_eq!(unknown_fields("CloudService", &doc), []);
        let account = json!({"apiVersion": "byoc.dev/v1alpha1", "kind": "CloudAccount",
            "metadata": {"name": "a"},
            "spec": {"aws": {"region": "eu-west-1"}, "tags": {"x": "y"}, "clusterName": "c"}});
        let paths: Vec<String> =
            unknown_fields("CloudAccount", &account).into_iter().map(|u| u.path).collect();
        assert_eq!(paths, ["spec.clusterName"]);
        assert_eq!(unknown_fields("Secret", &json!({"foo": 1})), []);
    }
}
