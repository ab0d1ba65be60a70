//! One Compose service → one `CloudService`: walks the service's keys with the set it maps and
//! notes every other key with its reason. Pure apart from the env files `env::environment` reads.

use serde_json::Value;

use super::{
    Note, Notes, build, deploy, env,
    error::{ComposeError, invalid},
    health, ingress,
    names::{DNS_LABEL_MAX, dns_label, matches},
    ports,
    project::{Ctx, labels},
    reasons, secrets, shell,
    value::{Mapping, child, mapping, scalar, sorted_keys, string, string_or_list},
    xbyoc,
};
use crate::api::{AccountRef, CloudService, CloudServiceSpec, EnvVar, Private, patterns};

/// The service keys this module maps; every other key gets a note.
const HANDLED: &[&str] = &[
    "build",
    "command",
    "cpus",
    "deploy",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "healthcheck",
    "image",
    "mem_limit",
    "mem_reservation",
    "platform",
    "ports",
    "profiles",
    "restart",
    "scale",
    "secrets",
    "x-byoc",
];

/// A converted service, before the project-wide checks.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    /// The name under `services`.
    pub compose_name: String,
    pub service: CloudService,
    /// It is published on the load balancer with neither a host nor a path.
    pub routeless: bool,
    /// The top-level secrets it reads.
    pub secrets_used: Vec<String>,
}

/// Converts the service `name`; `None` when it is skipped (it has profiles).
pub(crate) fn convert(
    name: &str,
    v: &Value,
    ctx: &Ctx,
    notes: &mut Vec<Note>,
) -> Result<Option<Draft>, ComposeError> {
    let path = child("services", name);
    if v.is_null() {
        return Err(invalid(path, "empty service; give it an image or a build"));
    }
    let m = mapping(v, &path)?;
    if let Some(p) = m.get("profiles") {
        let profiles = string_or_list(p, &child(&path, "profiles"))?;
        if !profiles.is_empty() {
            let which = if profiles.len() == 1 { "profile" } else { "profiles" };
            notes.unsupported(
                child(&path, "profiles"),
                format!(
                    "service skipped: it runs only with the {which} {}, and no profile is active",
                    profiles.join(", ")
                ),
            );
            return Ok(None);
        }
    }
    if m.contains_key("extends") {
        return Err(invalid(
            child(&path, "extends"),
            "extends is not supported; run `docker compose config > resolved.yaml` and convert resolved.yaml, which has it merged in",
        ));
    }
    let ext = xbyoc::service(m.get("x-byoc"), &child(&path, "x-byoc"))?;
    for key in sorted_keys(m) {
        if !HANDLED.contains(&key.as_str()) {
            notes.unsupported(child(&path, key), reasons::service(key));
        }
    }
    if let Some(r) = m.get("restart") {
        let policy = string(r, &child(&path, "restart"))?;
        if policy != "always" && policy != "unless-stopped" {
            notes.changed(child(&path, "restart"), format!("ECS replaces every task that stops, as restart: always does; {policy:?} cannot be expressed"));
        }
    }
    let k8s_name = dns_label(name);
    if k8s_name.is_empty() || k8s_name.len() > DNS_LABEL_MAX {
        return Err(invalid(
            path,
            "the service name must have letters or digits and at most 63 characters to name a CloudService; rename the service",
        ));
    }
    let (image, build) = source(m, &path, ctx, notes)?;
    let command = words(m.get("entrypoint"), &child(&path, "entrypoint"), "ENTRYPOINT", notes)?;
    let args = words(m.get("command"), &child(&path, "command"), "CMD", notes)?;
    let private_on = match &ext.private {
        Some(None) => false,
        Some(Some(_)) => true,
        None => ctx.opts.private,
    };
    let plan = ports::plan(m.get("ports"), m.get("expose"), &path, private_on, notes)?;
    let (env, secrets_used) = environment(m, &path, ctx, notes)?;
    let d = deploy::deploy(m, &path, &ext, notes)?;
    let health_check = match m.get("healthcheck") {
        Some(h) => health::health_check(h, &child(&path, "healthcheck"), &plan.ports, notes)?,
        None => None,
    };
    let ingress = ingress::ingress(m, &path, &plan, &ext, &ctx.load_balancer, notes)?;
    let routeless = ingress.as_ref().is_some_and(|i| i.hosts.is_empty() && i.paths.is_empty());
    let private = match (&ext.private, private_on && !plan.ports.is_empty()) {
        (Some(Some(_)), false) => {
            return Err(invalid(
                child(&path, "x-byoc.private"),
                "a private name needs a port to serve; add ports or expose",
            ));
        }
        (named, true) => Some(Private {
            name: Some(named.clone().flatten().unwrap_or_else(|| k8s_name.clone())),
            ports: Vec::new(),
        }),
        (_, false) => None,
    };
    if k8s_name != name {
        let reached = match private.as_ref().and_then(|p| p.name.as_deref()) {
            Some(n) => format!(": the other services reach it as {n}, not as {name}"),
            None => String::new(),
        };
        notes.changed(&path, format!("named {k8s_name} in Kubernetes (a DNS label){reached}"));
    }
    if let Some(a) = &ext.autoscaling
        && a.target_requests_per_task.is_some()
        && ingress.is_none()
    {
        return Err(invalid(
            child(&path, "x-byoc.autoscaling.targetRequestsPerTask"),
            "needs a port published on the load balancer: requests are counted there",
        ));
    }
    let replicas = match (d.replicas, &ext.autoscaling) {
        (Some(r), _) => r,
        (None, Some(a)) => a.min_replicas.max(1).min(a.max_replicas),
        (None, None) => 1,
    };
    let spec = CloudServiceSpec {
        account_ref: AccountRef { name: ctx.account.clone() },
        image,
        build,
        command,
        args,
        ports: plan.ports,
        env,
        cpu: d.cpu,
        memory: d.memory,
        replicas,
        health_check,
        ingress,
        private,
        autoscaling: ext.autoscaling.clone(),
        logs: None,
        repository: None,
        deployment: None,
        task_role_arn: None,
        deletion_policy: ext.deletion_policy,
        tags: ext.tags.clone(),
        suspend: false,
    };
    let mut service = CloudService::new(&k8s_name, spec);
    service.metadata.namespace = Some(ctx.namespace.clone());
    service.metadata.labels = Some(labels(&ctx.project, Some(name)));
    Ok(Some(Draft { compose_name: name.to_string(), service, routeless, secrets_used }))
}

type ImageOrBuild = (Option<String>, Option<crate::api::Build>);

fn source(
    m: &Mapping,
    path: &str,
    ctx: &Ctx,
    notes: &mut Vec<Note>,
) -> Result<ImageOrBuild, ComposeError> {
    let platform_path = child(path, "platform");
    let platform = m
        .get("platform")
        .filter(|p| !p.is_null())
        .map(|p| string(p, &platform_path))
        .transpose()?;
    let image_path = child(path, "image");
    let image =
        m.get("image").filter(|i| !i.is_null()).map(|i| string(i, &image_path)).transpose()?;
    match (image, m.get("build")) {
        (image, Some(b)) => {
            let platform = platform.as_deref().map(|p| (p, platform_path.as_str()));
            let built = build::build(
                b,
                &child(path, "build"),
                platform,
                ctx.base_dir,
                ctx.opts.git.as_ref(),
                ctx.vars,
                notes,
            )?;
            if let Some(i) = image {
                notes.changed(
                    image_path,
                    format!(
                        "{i} is not used: the build pushes to the service's own ECR repository"
                    ),
                );
            }
            Ok((None, Some(built)))
        }
        (Some(image), None) => {
            if image.len() > 512 || !matches(patterns::IMAGE, &image) {
                return Err(invalid(
                    image_path,
                    format!(
                        "{image:?} is not an image reference such as nginx:1.27 or ghcr.io/org/app:v1"
                    ),
                ));
            }
            if let Some(p) = platform {
                build::parse_platform(&p, &platform_path)?;
                notes.unsupported(platform_path, format!("{p}: the tasks run on linux/amd64; an image is not pinned to a platform here"));
            }
            Ok((Some(image), None))
        }
        (None, None) => Err(invalid(
            path,
            "needs an image or a build; set image: to a container image, or build: to its source",
        )),
    }
}

/// `entrypoint` or `command` as a list of words (a string is split as a shell would).
fn words(
    v: Option<&Value>,
    path: &str,
    what: &str,
    notes: &mut Vec<Note>,
) -> Result<Vec<String>, ComposeError> {
    let words = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| scalar(x, &super::value::item(path, i)))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            let text = string(other, path)?;
            shell::split(&text).map_err(|e| {
                invalid(path, format!("{e}; quote it as a shell would, or write a list"))
            })?
        }
    };
    if words.is_empty() {
        notes.changed(
            path,
            format!("an empty value cannot clear the image's {what} here; the image's own is used"),
        );
    }
    if words.len() > 64 || words.iter().any(|w| w.chars().count() > 4096) {
        return Err(invalid(
            path,
            "at most 64 arguments of at most 4096 characters each; move it into a script in the image",
        ));
    }
    Ok(words)
}

/// `env_file`, `environment` and `secrets` → `spec.env`, sorted by name, and the secrets used.
fn environment(
    m: &Mapping,
    path: &str,
    ctx: &Ctx,
    notes: &mut Vec<Note>,
) -> Result<(Vec<EnvVar>, Vec<String>), ComposeError> {
    let values = env::environment(m, path, ctx.base_dir, ctx.vars)?;
    let mut out: Vec<EnvVar> = Vec::new();
    for (name, (value, p)) in &values {
        if name.len() > 255 || !matches(patterns::ENV_NAME, name) {
            return Err(invalid(
                p,
                format!(
                    "{name:?} is not an environment variable name (letters, digits, _, - and ., not starting with a digit)"
                ),
            ));
        }
        if value.chars().count() > 32768 {
            return Err(invalid(p, format!("the value of {name} is longer than 32768 characters")));
        }
        out.push(EnvVar { name: name.clone(), value: Some(value.clone()), value_from: None });
    }
    let mut used = Vec::new();
    let mut files = Vec::new();
    if let Some(s) = m.get("secrets").filter(|s| !s.is_null()) {
        let sp = child(path, "secrets");
        for (i, (var, source, file)) in
            secrets::service_secrets(s, &sp, &ctx.secrets, notes)?.into_iter().enumerate()
        {
            if let Some((_, p)) = values.get(&var.name) {
                return Err(invalid(
                    super::value::item(&sp, i),
                    format!(
                        "provides the environment variable {}, which {p} sets too; give the secret another target",
                        var.name
                    ),
                ));
            }
            if out.iter().any(|e| e.name == var.name) {
                return Err(invalid(
                    super::value::item(&sp, i),
                    format!(
                        "another secret is provided as {} too; give one another target",
                        var.name
                    ),
                ));
            }
            files.push((file, var.name.clone()));
            out.push(var);
            if !used.contains(&source) {
                used.push(source);
            }
        }
    }
    for (name, (value, p)) in &values {
        if value.starts_with("/run/secrets/") || files.iter().any(|(f, _)| f == value) {
            let var = files.iter().find(|(f, _)| f == value).map(|(_, v)| v.as_str());
            let instead = match var {
                Some(var) => format!(
                    "the secret is in the environment variable {var}; have the application read that variable"
                ),
                None => "secrets are environment variables here".to_string(),
            };
            let target = match name.strip_suffix("_FILE") {
                Some(plain) if !plain.is_empty() && Some(plain) != var => {
                    format!(", or give the secret the target {plain}")
                }
                _ => String::new(),
            };
            notes.changed(
                p.clone(),
                format!("{name} points at {value}, which does not exist here: {instead}{target}"),
            );
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if out.len() > 100 {
        return Err(invalid(
            child(path, "environment"),
            format!("{} variables; a service takes at most 100", out.len()),
        ));
    }
    Ok((out, used))
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
