//! Secrets: the top-level `secrets` definitions (`file`, `environment`, `external`, `name`), each
//! service's `secrets` uses → environment variables read from a Kubernetes Secret (ECS here has
//! no file mounts), and the Secret manifests. Reads secret files only when their values are
//! asked for; never puts a value into a note, an error or a CloudService.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use serde_json::Value;

use super::{
    Note, Notes, SecretFrom, SecretSource,
    error::{ComposeError, invalid, io_message},
    interpolate::Vars,
    names::{dns_label, matches, secret_env_name},
    value::{boolean, child, item, list, mapping, sorted_keys, string},
};
use crate::api::{EnvVar, EnvVarSource, SecretKeyRef, patterns};

/// The key every Secret keeps its value under.
pub(crate) const KEY: &str = "value";

/// One top-level secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Definition {
    pub from: SecretFrom,
    /// The Kubernetes Secret's name.
    pub secret_name: String,
}

/// Top-level secrets by key.
pub(crate) type Definitions = BTreeMap<String, Definition>;

/// Reads the top-level `secrets`.
pub(crate) fn definitions(
    v: Option<&Value>,
    project: &str,
    notes: &mut Vec<Note>,
) -> Result<Definitions, ComposeError> {
    let mut defs = Definitions::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(defs);
    };
    let m = mapping(v, "secrets")?;
    for key in sorted_keys(m) {
        let path = child("secrets", key);
        let d = mapping(&m[key], &path)?;
        for k in sorted_keys(d) {
            match k.as_str() {
                "file" | "environment" | "external" | "name" => {}
                _ => notes.unsupported(child(&path, k), "the value is stored in a Kubernetes Secret; drivers, labels and templates do not apply"),
            }
        }
        let external = match d.get("external") {
            None | Some(Value::Null) => false,
            // The legacy form `external: {name: x}`.
            Some(Value::Object(_)) => true,
            Some(e) => boolean(e, &child(&path, "external"))?,
        };
        let legacy_name = d.get("external").and_then(|e| e.get("name")).and_then(Value::as_str);
        let name = match d.get("name") {
            Some(n) => Some(string(n, &child(&path, "name"))?),
            None => legacy_name.map(str::to_string),
        };
        let file = d.get("file").map(|f| string(f, &child(&path, "file"))).transpose()?;
        let env =
            d.get("environment").map(|e| string(e, &child(&path, "environment"))).transpose()?;
        let (from, secret_name) = match (external, file, env) {
            (true, None, None) => {
                let secret_name = name.unwrap_or_else(|| key.clone());
                if secret_name.len() > 253 || !matches(patterns::OBJECT_NAME, &secret_name) {
                    return Err(invalid(
                        &path,
                        format!(
                            "external secret {secret_name:?} is not a Kubernetes Secret name; set name: to the Secret's name (lower case, digits, - and .)"
                        ),
                    ));
                }
                (SecretFrom::External, secret_name)
            }
            (false, Some(file), None) => {
                (SecretFrom::File(PathBuf::from(file)), project_secret(project, key, &path)?)
            }
            (false, None, Some(var)) => {
                (SecretFrom::Environment(var), project_secret(project, key, &path)?)
            }
            _ => {
                return Err(invalid(
                    path,
                    "give exactly one of file, environment and external: true",
                ));
            }
        };
        if d.contains_key("name") && !external {
            notes.changed(
                child(&path, "name"),
                format!("the Kubernetes Secret is named {secret_name}"),
            );
        }
        if let Some((other, _)) = defs.iter().find(|(_, d)| d.secret_name == secret_name) {
            return Err(invalid(
                path,
                format!(
                    "its Kubernetes Secret {secret_name} has the same name as secrets.{other}'s; rename one"
                ),
            ));
        }
        defs.insert(key.clone(), Definition { from, secret_name });
    }
    Ok(defs)
}

fn project_secret(project: &str, key: &str, path: &str) -> Result<String, ComposeError> {
    let name = dns_label(&format!("{project}-{key}"));
    if name.len() > 253 || name.is_empty() {
        return Err(invalid(
            path,
            "the secret's name is too long for a Kubernetes Secret; shorten it",
        ));
    }
    Ok(name)
}

/// The environment variables for a service's `secrets` at `path`, and the secrets it uses.
pub(crate) fn service_secrets(
    v: &Value,
    path: &str,
    defs: &Definitions,
    notes: &mut Vec<Note>,
) -> Result<Vec<(EnvVar, String, String)>, ComposeError> {
    let mut out = Vec::new();
    for (i, x) in list(v, path)?.iter().enumerate() {
        let ip = item(path, i);
        let (source, target) = match x {
            Value::Object(m) => {
                for k in sorted_keys(m) {
                    match k.as_str() {
                        "source" | "target" => {}
                        "uid" | "gid" | "mode" => notes.unsupported(child(&ip, k), "the secret is an environment variable, not a file: file ownership and mode do not apply"),
                        _ => notes.unsupported(child(&ip, k), "not a Compose secret field byoc knows; ignored"),
                    }
                }
                let source = m.get("source").ok_or_else(|| {
                    invalid(child(&ip, "source"), "required, but missing; name a top-level secret")
                })?;
                let source = string(source, &child(&ip, "source"))?;
                let target =
                    m.get("target").map(|t| string(t, &child(&ip, "target"))).transpose()?;
                (source.clone(), target.unwrap_or(source))
            }
            other => {
                let s = string(other, &ip)?;
                (s.clone(), s)
            }
        };
        let def = defs.get(&source).ok_or_else(|| {
            invalid(&ip, format!("secret {source:?} is not defined under the top-level secrets; define it there with file, environment or external: true"))
        })?;
        let env_name = secret_env_name(&target);
        let file =
            if target.starts_with('/') { target.clone() } else { format!("/run/secrets/{target}") };
        notes.changed(
            &ip,
            format!("provided as environment variable {env_name} (Secret {}, key {KEY}), not as the file {file}", def.secret_name),
        );
        let env = EnvVar {
            name: env_name,
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: SecretKeyRef {
                    name: def.secret_name.clone(),
                    key: KEY.to_string(),
                },
            }),
        };
        out.push((env, source, file));
    }
    Ok(out)
}

/// The Secret manifests (only with `values`) and the sources of the `used` secrets.
pub(crate) fn manifests(
    used: &BTreeSet<String>,
    defs: &Definitions,
    meta: &ObjectMeta,
    base_dir: &Path,
    vars: &Vars,
    values: bool,
) -> Result<(Vec<Secret>, Vec<SecretSource>), ComposeError> {
    let mut secrets = Vec::new();
    let mut sources = Vec::new();
    for key in used {
        let Some(def) = defs.get(key) else { continue };
        sources.push(SecretSource {
            compose_name: key.clone(),
            secret_name: def.secret_name.clone(),
            from: def.from.clone(),
        });
        if !values {
            continue;
        }
        let path = child("secrets", key);
        let value = match &def.from {
            SecretFrom::External => continue,
            SecretFrom::File(file) => {
                let bytes = std::fs::read(base_dir.join(file)).map_err(|e| {
                    invalid(child(&path, "file"), format!("{}: {}", file.display(), io_message(&e)))
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    invalid(
                        child(&path, "file"),
                        format!(
                            "{}: not UTF-8 text; a Secret's stringData takes text only",
                            file.display()
                        ),
                    )
                })?
            }
            SecretFrom::Environment(var) => vars.get(var).cloned().ok_or_else(|| {
                invalid(
                    child(&path, "environment"),
                    format!("variable {var} is not set; set it, or define the secret with file"),
                )
            })?,
        };
        let mut metadata = meta.clone();
        metadata.name = Some(def.secret_name.clone());
        secrets.push(Secret {
            metadata,
            type_: Some("Opaque".to_string()),
            string_data: Some(BTreeMap::from([(KEY.to_string(), value)])),
            ..Secret::default()
        });
    }
    secrets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    sources.sort_by(|a, b| a.secret_name.cmp(&b.secret_name));
    Ok((secrets, sources))
}
