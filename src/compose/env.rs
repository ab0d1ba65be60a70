//! `env_file` and `environment` → plain `spec.env` values (`environment` wins over the files,
//! later files over earlier ones, as in Compose). Reads the env files, relative to the compose
//! file's directory; everything else is pure.

use std::{collections::BTreeMap, path::Path};

use serde_json::Value;

use super::{
    dotenv,
    error::{ComposeError, invalid, io_message},
    interpolate::Vars,
    value::{boolean, child, item, key_values, mapping, string},
};

/// A variable's value and the Compose path it came from.
pub(crate) type Values = BTreeMap<String, (String, String)>;

/// The service's environment: `env_file` entries, then `environment` over them. A key without a
/// value takes the variable of the same name from `vars`, and is left out when that is unset.
pub(crate) fn environment(
    m: &super::value::Mapping,
    path: &str,
    base_dir: &Path,
    vars: &Vars,
) -> Result<Values, ComposeError> {
    let mut out = Values::new();
    if let Some(files) = m.get("env_file").filter(|v| !v.is_null()) {
        let p = child(path, "env_file");
        let list: Vec<(&Value, String)> = match files {
            Value::Array(items) => {
                items.iter().enumerate().map(|(i, x)| (x, item(&p, i))).collect()
            }
            other => vec![(other, p.clone())],
        };
        for (v, ip) in list {
            read_env_file(v, &ip, base_dir, vars, &mut out)?;
        }
    }
    if let Some(env) = m.get("environment") {
        let p = child(path, "environment");
        for (key, value, kp) in key_values(env, &p)? {
            match value.or_else(|| vars.get(&key).cloned()) {
                Some(v) => {
                    out.insert(key, (v, kp));
                }
                None => {
                    out.remove(&key);
                }
            }
        }
    }
    Ok(out)
}

fn read_env_file(
    v: &Value,
    path: &str,
    base_dir: &Path,
    vars: &Vars,
    out: &mut Values,
) -> Result<(), ComposeError> {
    let (file, required, raw) = match v {
        Value::Object(m) => {
            let map = mapping(v, path)?;
            for key in map.keys() {
                if !["path", "required", "format"].contains(&key.as_str()) {
                    return Err(invalid(
                        child(path, key),
                        "not an env_file field; use path, required or format",
                    ));
                }
            }
            let file = m.get("path").ok_or_else(|| {
                invalid(child(path, "path"), "required, but missing; name the file")
            })?;
            let required = match m.get("required") {
                Some(r) => boolean(r, &child(path, "required"))?,
                None => true,
            };
            let raw = match m.get("format") {
                Some(f) => match string(f, &child(path, "format"))?.as_str() {
                    "raw" => true,
                    "" => false,
                    other => {
                        return Err(invalid(
                            child(path, "format"),
                            format!("{other:?}: only the default format and raw are read"),
                        ));
                    }
                },
                None => false,
            };
            (string(file, &child(path, "path"))?, required, raw)
        }
        other => (string(other, path)?, true, false),
    };
    let full = base_dir.join(&file);
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(()),
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "; create it, or mark it optional with required: false"
            } else {
                ""
            };
            return Err(invalid(path, format!("{file}: {}{hint}", io_message(&e))));
        }
    };
    let entries = if raw {
        raw_entries(&text)
    } else {
        let lookup = |name: &str| vars.get(name).cloned();
        dotenv::parse(&text, &lookup).map_err(|m| invalid(path, format!("{file}: {m}")))?
    };
    for (key, value) in entries {
        match value.or_else(|| vars.get(&key).cloned()) {
            Some(v) => {
                out.insert(key, (v, format!("{path} ({file})")));
            }
            None => {
                out.remove(&key);
            }
        }
    }
    Ok(())
}

/// `format: raw`: `KEY=VALUE` lines taken as they are, without quotes or interpolation.
fn raw_entries(text: &str) -> Vec<dotenv::Entry> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.to_string())),
            None => (l.trim().to_string(), None),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Env files checked in under `tests/data/compose/env-files`.
    fn dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compose/env-files")
    }

    fn env_of(
        service: serde_json::Value,
        vars: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, ComposeError> {
        let vars: Vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let m = service.as_object().cloned().unwrap_or_default();
        let values = environment(&m, "services.web", &dir(), &vars)?;
        Ok(values.into_iter().map(|(k, (v, _))| (k, v)).collect())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn environment_maps_and_lists_take_values_from_the_variables_when_bare() {
        let vars = [("FROM_SHELL", "s")];
        let cases = [
            (
                json!({"environment": {"A": "1", "B": 2, "C": true, "FROM_SHELL": null, "UNSET": null}}),
                pairs(&[("A", "1"), ("B", "2"), ("C", "true"), ("FROM_SHELL", "s")]),
            ),
            (
                json!({"environment": ["A=1", "B=", "C=x=y", "FROM_SHELL", "UNSET"]}),
                pairs(&[("A", "1"), ("B", ""), ("C", "x=y"), ("FROM_SHELL", "s")]),
            ),
            (json!({"environment": null}), pairs(&[])),
        ];
        for (service, expected) in cases {
            assert_eq!(env_of(service, &vars).unwrap(), expected);
        }
    }

    #[test]
    fn env_files_are_read_in_order_and_environment_wins() {
        let service = json!({
            "env_file": ["a.env", {"path": "b.env"}, {"path": "missing.env", "required": false}, {"path": "raw.env", "format": "raw"}],
            "environment": {"A": "from-environment"}
        });
        let got = env_of(service, &[("BARE", "shell")]).unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("A", "from-environment"),
                ("B", "from-b"),
                ("BARE", "shell"),
                ("C", "lit $X"),
                ("R", "\"$x\"")
            ])
        );
    }

    #[test]
    fn a_missing_required_env_file_is_an_error_naming_it() {
        let err = env_of(json!({"env_file": "nope.env"}), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "services.web.env_file: nope.env: file not found; create it, or mark it optional with required: false"
        );
        let err = env_of(json!({"env_file": [{"required": true}]}), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "services.web.env_file[0].path: required, but missing; name the file"
        );
        let err = env_of(json!({"environment": "A=1"}), &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("services.web.environment: expected a mapping or a list"),
            "{err}"
        );
    }
}
