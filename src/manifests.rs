//! Reading manifests for the one-shot CLI: the CloudAccount, CloudService and Secret documents of
//! files, checked as the API server checks them with `kubectl`'s strict field validation (fields
//! the CRD does not declare are refused) and deserialized with the failing field named in YAML
//! terms. Reads files; parsing is pure.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::api::{CloudAccount, CloudService};

/// The objects found in the files.
#[derive(Debug, Default)]
pub struct Manifests {
    pub accounts: BTreeMap<String, CloudAccount>,
    pub services: Vec<CloudService>,
    /// `(namespace, name)` → key → value.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// The directory of each service's file, in the order of `services` (a local build
    /// context is relative to it); missing entries mean the current directory.
    pub service_dirs: Vec<PathBuf>,
}

impl Manifests {
    /// The directory the `i`-th service's file is in.
    pub fn service_dir(&self, i: usize) -> PathBuf {
        self.service_dirs.get(i).cloned().unwrap_or_else(|| PathBuf::from("."))
    }
}

/// Reads every `.yaml`/`.yml`/`.json` document in a file or directory (not recursive).
pub fn load(path: &Path) -> Result<Manifests, String> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut m = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        parse_into(&mut m, &text).map_err(|e| format!("{}: {e}", file.display()))?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        m.service_dirs.resize(m.services.len(), dir);
    }
    Ok(m)
}

/// Adds the documents of one YAML text.
pub fn parse_into(m: &mut Manifests, text: &str) -> Result<(), String> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("invalid YAML: {e}"))?;
    for (i, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
        if !doc.is_object() {
            return Err(format!(
                "document {}: not a Kubernetes object; each document must be a mapping with apiVersion, kind and metadata",
                i + 1
            ));
        }
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let name = doc["metadata"]["name"].as_str().unwrap_or("<unnamed>").to_string();
        match (doc["apiVersion"].as_str().unwrap_or_default(), kind.as_str()) {
            ("byoc.dev/v1alpha1", "CloudAccount") => {
                known_fields(&kind, &name, &doc)?;
                let a: CloudAccount =
                    typed(doc).map_err(|e| format!("CloudAccount {name}: {e}"))?;
                m.accounts.insert(name, a);
            }
            ("byoc.dev/v1alpha1", "CloudService") => {
                known_fields(&kind, &name, &doc)?;
                let s: CloudService =
                    typed(doc).map_err(|e| format!("CloudService {name}: {e}"))?;
                m.services.push(s);
            }
            ("v1", "Secret") => {
                let s: Secret = typed(doc).map_err(|e| format!("Secret {name}: {e}"))?;
                let ns = s.metadata.namespace.clone().unwrap_or_else(|| "default".into());
                let mut data: BTreeMap<String, String> = s.string_data.clone().unwrap_or_default();
                for (k, v) in s.data.iter().flatten() {
                    let value = String::from_utf8(v.0.clone())
                        .map_err(|_| format!("Secret {name}: key {k} is not UTF-8"))?;
                    data.entry(k.clone()).or_insert(value);
                }
                m.secrets.insert((ns, name), data);
            }
            (api_version, other) => {
                return Err(format!(
                    "document {} ({api_version:?}, kind {other:?}, name {name}): only CloudAccount, CloudService and Secret documents are read (apiVersion byoc.dev/v1alpha1, and v1 for a Secret)",
                    i + 1
                ));
            }
        }
    }
    Ok(())
}

/// Refuses fields the CRD schema does not declare, as the API server does with
/// `fieldValidation=Strict`; serde alone would drop them without a word.
fn known_fields(kind: &str, name: &str, doc: &Value) -> Result<(), String> {
    let unknown = crate::api::unknown_fields::unknown_fields(kind, doc);
    if unknown.is_empty() {
        return Ok(());
    }
    let fields: Vec<String> = unknown.iter().map(ToString::to_string).collect();
    Err(format!(
        "{kind} {name}: {}; remove or correct it (kubectl explain {} lists the fields)",
        fields.join(", "),
        kind.to_lowercase()
    ))
}

/// Deserializes a document, naming the field that does not fit (e.g. `spec.replicas: invalid
/// type: string "two", expected i32`).
fn typed<T: serde::de::DeserializeOwned>(doc: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        if let Some(field) = inner.strip_prefix("missing field `").and_then(|f| f.strip_suffix('`'))
        {
            let at = if path == "." { field.to_string() } else { format!("{path}.{field}") };
            return format!("{at}: required, but missing; set it");
        }
        let message = explain_type_error(&inner);
        if path == "." { message } else { format!("{path}: {message}") }
    })
}

/// serde's wording with what to write instead: `expected i32` says little to a YAML author, and
/// a number or boolean where text belongs only needs quotes.
fn explain_type_error(message: &str) -> String {
    let whole = ["expected i32", "expected i64", "expected u32", "expected u16", "expected u64"];
    if let Some(rust) = whole.iter().find(|w| message.ends_with(*w)) {
        let head = &message[..message.len() - rust.len()];
        return format!("{head}expected a whole number; write it without quotes, e.g. 2");
    }
    let unquoted =
        ["invalid type: integer", "invalid type: floating point", "invalid type: boolean"];
    if message.ends_with("expected a string") && unquoted.iter().any(|u| message.starts_with(u)) {
        return format!("{message}; put the value in quotes, e.g. \"1\"");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "apiVersion: byoc.dev/v1alpha1\nkind: CloudService\nmetadata: { name: web, namespace: shop }\nspec:\n  accountRef: { name: a }\n";

    fn error(yaml: &str) -> String {
        parse_into(&mut Manifests::default(), yaml).unwrap_err()
    }

    #[test]
    fn type_errors_say_what_to_write_in_yaml_terms() {
        let cases = [
            (
                "a word for a number",
                "  image: nginx\n  replicas: two\n",
                "CloudService web: spec.replicas: invalid type: string \"two\", expected a whole number; write it without quotes, e.g. 2",
            ),
            (
                "a number for text",
                "  image: nginx\n  cpu: 1\n",
                "CloudService web: spec.cpu: invalid type: integer `1`, expected a string; put the value in quotes, e.g. \"1\"",
            ),
            (
                "a missing field",
                "  image: nginx\n  ingress: { loadBalancer: public }\n",
                "CloudService web: spec.ingress.port: required, but missing; set it",
            ),
            (
                "a misspelt field",
                "  image: nginx\n  replica: 2\n",
                "CloudService web: spec.replica: unknown field (did you mean replicas?); remove or correct it",
            ),
        ];
        for (reason, spec, expected) in cases {
            let err = error(&format!("{SERVICE}{spec}"));
            assert!(err.starts_with(expected), "{reason}: {err}");
        }
    }

    #[test]
    fn a_document_that_is_not_an_object_of_a_kind_we_read_is_named_by_its_position() {
        let err = error(&format!("{SERVICE}  image: nginx\n---\n- a\n- b\n"));
        assert!(err.starts_with("document 2: not a Kubernetes object"), "{err}");
        let err = error("apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\n");
        assert!(err.starts_with("document 1 (\"apps/v1\", kind \"Deployment\", name x): only CloudAccount, CloudService and Secret"), "{err}");
    }
}
