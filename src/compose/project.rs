//! The project level: the variables (`.env` beneath the caller's environment), the YAML parse,
//! interpolation, the top-level keys, the project name and `x-byoc` defaults, each service, and
//! the checks that need every service (one route per hostless published service, names that
//! collide). Reads `.env` and what `service` and `secrets` read; the rest is pure.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::{
    Converted, Note, Notes, Options, dotenv,
    error::{ComposeError, invalid, read_error},
    ingress,
    interpolate::{Vars, interpolate_tree},
    names::{DNS_LABEL_MAX, dns_label, is_label_value, matches},
    reasons,
    secrets::{self, Definitions},
    service::{self, Draft},
    value::{child, mapping, sorted_keys, string},
    xbyoc,
};
use crate::api::patterns;

/// What every service of the project shares.
pub(crate) struct Ctx<'a> {
    pub opts: &'a Options,
    pub vars: &'a Vars,
    pub base_dir: &'a Path,
    pub project: String,
    pub account: String,
    pub namespace: String,
    pub load_balancer: String,
    pub secrets: Definitions,
}

/// The labels of every object of the project (and of one service).
pub(crate) fn labels(project: &str, service: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/part-of".to_string(), project.to_string()),
        ("byoc.dev/compose-project".to_string(), project.to_string()),
    ]);
    if let Some(s) = service {
        let value = if is_label_value(s) { s.to_string() } else { dns_label(s) };
        labels.insert("byoc.dev/compose-service".to_string(), value);
    }
    labels
}

/// The variables for interpolation: the project's `.env` (if any) beneath `environment`.
pub(crate) fn variables(
    base_dir: &Path,
    environment: &BTreeMap<String, String>,
) -> Result<Vars, ComposeError> {
    let file = base_dir.join(".env");
    let mut vars = Vars::new();
    if file.is_file() {
        let text = std::fs::read_to_string(&file).map_err(|e| read_error(&file, &e))?;
        let lookup = |name: &str| environment.get(name).cloned();
        let entries = dotenv::parse(&text, &lookup)
            .map_err(|message| ComposeError::Syntax { path: file.clone(), message })?;
        for (k, v) in entries {
            if let Some(v) = v {
                vars.insert(k, v);
            }
        }
    }
    vars.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(vars)
}

/// Parses the compose file's text (a mapping, anchors and merge keys resolved).
pub(crate) fn parse(text: &str, file: &Path) -> Result<Value, ComposeError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    };
    let syntax = |message: String| ComposeError::Syntax { path: file.to_path_buf(), message };
    let v: Value = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let message = e.to_string();
        let message = message.split(", set DuplicateKeyPolicy").next().unwrap_or(&message);
        syntax(format!("invalid YAML: {}", message.trim_start_matches("error: ")))
    })?;
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Err(syntax("the file is empty; a Compose file needs services:".into())),
        other => Err(syntax(format!(
            "expected a mapping with services:, found {}",
            super::value::describe(&other)
        ))),
    }
}

/// Converts a compose file's text; `file` names it in errors, `dir_name` is its directory's name.
pub(crate) fn convert_text(
    text: &str,
    file: &Path,
    base_dir: &Path,
    dir_name: &str,
    vars: &Vars,
    opts: &Options,
) -> Result<Converted, ComposeError> {
    let mut notes: Vec<Note> = Vec::new();
    let mut doc = parse(text, file)?;
    interpolate_tree(&mut doc, "", vars, &mut notes)?;
    let top = mapping(&doc, "")?;
    for key in sorted_keys(top) {
        match key.as_str() {
            "name" | "services" | "secrets" | "x-byoc" => {}
            "include" => {
                return Err(invalid(
                    "include",
                    "include is not supported; run `docker compose config > resolved.yaml` and convert resolved.yaml, which has the included files merged in",
                ));
            }
            _ => notes.unsupported(key.clone(), reasons::top_level(key)),
        }
    }
    let project = project_name(top, opts, vars, dir_name)?;
    let ext = xbyoc::project(top.get("x-byoc"))?;
    let pick = |given: &str, from_file: Option<String>, default: &str| {
        if given.is_empty() {
            from_file.unwrap_or_else(|| default.to_string())
        } else {
            given.to_string()
        }
    };
    let account = pick(&opts.account, ext.account, "");
    if account.is_empty() {
        return Err(invalid(
            "x-byoc.account",
            "no CloudAccount given; pass --account NAME, or set x-byoc.account at the top of the compose file",
        ));
    }
    if account.len() > 253 || !matches(patterns::OBJECT_NAME, &account) {
        return Err(invalid("x-byoc.account", format!("{account:?} is not a CloudAccount name")));
    }
    let namespace = pick(&opts.namespace, ext.namespace, "default");
    if namespace.len() > DNS_LABEL_MAX || !matches(patterns::DNS_LABEL, &namespace) {
        return Err(invalid(
            "x-byoc.namespace",
            format!("{namespace:?} is not a Kubernetes namespace (a DNS label)"),
        ));
    }
    let load_balancer = pick(&opts.load_balancer, ext.load_balancer, "public");
    if load_balancer.len() > 32 || !matches(patterns::DNS_LABEL, &load_balancer) {
        return Err(invalid(
            "x-byoc.loadBalancer",
            format!("{load_balancer:?} is not a load balancer name (a DNS label)"),
        ));
    }
    let secrets = secrets::definitions(top.get("secrets"), &project, &mut notes)?;
    let ctx = Ctx { opts, vars, base_dir, project, account, namespace, load_balancer, secrets };
    let services = match top.get("services") {
        None | Some(Value::Null) => {
            return Err(invalid(
                "services",
                "no services; a Compose file needs at least one service with an image or a build",
            ));
        }
        Some(s) => mapping(s, "services")?,
    };
    if services.is_empty() {
        return Err(invalid(
            "services",
            "no services; a Compose file needs at least one service with an image or a build",
        ));
    }
    let mut drafts: Vec<Draft> = Vec::new();
    for name in sorted_keys(services) {
        if let Some(d) = service::convert(name, &services[name], &ctx, &mut notes)? {
            drafts.push(d);
        }
    }
    check_names(&drafts)?;
    ingress::route_hostless(&mut drafts, &mut notes)?;
    let used: BTreeSet<String> =
        drafts.iter().flat_map(|d| d.secrets_used.iter().cloned()).collect();
    let meta = ObjectMeta {
        namespace: Some(ctx.namespace.clone()),
        labels: Some(labels(&ctx.project, None)),
        ..ObjectMeta::default()
    };
    let (secret_manifests, secret_sources) =
        secrets::manifests(&used, &ctx.secrets, &meta, base_dir, vars, opts.secret_values)?;
    notes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Converted {
        project: ctx.project,
        services: drafts.into_iter().map(|d| d.service).collect(),
        secrets: secret_manifests,
        notes,
        base_dir: base_dir.to_path_buf(),
        secret_sources,
    })
}

/// `--project`, else `COMPOSE_PROJECT_NAME`, else `name:`, else the directory's name, as a label.
fn project_name(
    top: &super::value::Mapping,
    opts: &Options,
    vars: &Vars,
    dir_name: &str,
) -> Result<String, ComposeError> {
    let (raw, path) = if let Some(p) = &opts.project {
        (p.clone(), "--project")
    } else if let Some(p) = vars.get("COMPOSE_PROJECT_NAME").filter(|p| !p.is_empty()) {
        (p.clone(), "COMPOSE_PROJECT_NAME")
    } else if let Some(n) = top.get("name").filter(|n| !n.is_null()) {
        (string(n, "name")?, "name")
    } else {
        (dir_name.to_string(), "name")
    };
    let project = dns_label(&raw);
    if project.is_empty() || project.len() > DNS_LABEL_MAX {
        return Err(invalid(
            path,
            format!(
                "{raw:?} does not make a project name (a DNS label of at most 63 characters); set a top-level name:"
            ),
        ));
    }
    Ok(project)
}

/// Two Compose names that become the same Kubernetes name.
fn check_names(drafts: &[Draft]) -> Result<(), ComposeError> {
    for (i, a) in drafts.iter().enumerate() {
        for b in &drafts[..i] {
            if a.service.metadata.name == b.service.metadata.name {
                return Err(invalid(
                    child("services", &a.compose_name),
                    format!(
                        "named {} in Kubernetes, as services.{} is; rename one of them",
                        a.service.metadata.name.as_deref().unwrap_or_default(),
                        b.compose_name
                    ),
                ));
            }
        }
    }
    Ok(())
}
