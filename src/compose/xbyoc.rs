//! The `x-byoc` extension: at the top level `{account, namespace, loadBalancer}` (defaults the
//! caller's options override), on a service `{hosts, paths, loadBalancer, autoscaling, cpu,
//! memory, private, deletionPolicy, tags}`. It is our own field, so an unknown key or a wrong
//! value is an error, never a note. Pure; no IO.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    error::{ComposeError, invalid},
    names::matches,
    value::{boolean, child, integer, item, list, mapping, scalar, sorted_keys, string},
};
use crate::api::{
    Autoscaling, DeletionPolicy, TAG_KEY_MAX, TAG_VALUE_MAX, USER_TAGS_MAX, fargate, patterns,
};

/// Top-level `x-byoc`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProjectExt {
    pub account: Option<String>,
    pub namespace: Option<String>,
    pub load_balancer: Option<String>,
}

/// A service's `x-byoc`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ServiceExt {
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub load_balancer: Option<String>,
    pub autoscaling: Option<Autoscaling>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    /// `None`: the default; `Some(None)`: `private: false`; `Some(Some(name))`: a name.
    pub private: Option<Option<String>>,
    pub deletion_policy: Option<DeletionPolicy>,
    pub tags: BTreeMap<String, String>,
}

fn check_keys(m: &super::value::Mapping, path: &str, known: &[&str]) -> Result<(), ComposeError> {
    for key in sorted_keys(m) {
        if !known.contains(&key.as_str()) {
            return Err(invalid(
                child(path, key),
                format!("unknown x-byoc field; use one of {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn checked(path: &str, value: String, pattern: &str, what: &str) -> Result<String, ComposeError> {
    if matches(pattern, &value) {
        Ok(value)
    } else {
        Err(invalid(path, format!("{value:?} is not {what}")))
    }
}

/// A load balancer name as the account's pool names them.
pub(crate) fn load_balancer(v: &Value, path: &str) -> Result<String, ComposeError> {
    let name = string(v, path)?;
    if name.len() > 32 {
        return Err(invalid(path, format!("{name:?} is longer than 32 characters")));
    }
    checked(path, name, patterns::DNS_LABEL, "a load balancer name (a DNS label such as public)")
}

/// Reads the top-level `x-byoc`.
pub(crate) fn project(v: Option<&Value>) -> Result<ProjectExt, ComposeError> {
    let path = "x-byoc";
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(ProjectExt::default());
    };
    let m = mapping(v, path)?;
    check_keys(m, path, &["account", "namespace", "loadBalancer"])?;
    let mut ext = ProjectExt::default();
    if let Some(a) = m.get("account") {
        let p = child(path, "account");
        ext.account =
            Some(checked(&p, string(a, &p)?, patterns::OBJECT_NAME, "a CloudAccount name")?);
    }
    if let Some(n) = m.get("namespace") {
        let p = child(path, "namespace");
        ext.namespace =
            Some(checked(&p, string(n, &p)?, patterns::DNS_LABEL, "a Kubernetes namespace")?);
    }
    if let Some(lb) = m.get("loadBalancer") {
        ext.load_balancer = Some(load_balancer(lb, &child(path, "loadBalancer"))?);
    }
    Ok(ext)
}

/// Reads a service's `x-byoc` at `path` (`services.<name>.x-byoc`).
pub(crate) fn service(v: Option<&Value>, path: &str) -> Result<ServiceExt, ComposeError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(ServiceExt::default());
    };
    let m = mapping(v, path)?;
    let known = [
        "hosts",
        "paths",
        "loadBalancer",
        "autoscaling",
        "cpu",
        "memory",
        "private",
        "deletionPolicy",
        "tags",
    ];
    check_keys(m, path, &known)?;
    let mut ext = ServiceExt::default();
    let host_what = "a host name an ALB rule takes: lower case, at least one dot and only letters after the last one, such as shop.example.com";
    if let Some(hosts) = m.get("hosts") {
        let p = child(path, "hosts");
        for (i, h) in list(hosts, &p)?.iter().enumerate() {
            let hp = item(&p, i);
            ext.hosts.push(checked(&hp, string(h, &hp)?, patterns::HOST, host_what)?);
        }
    }
    if let Some(paths) = m.get("paths") {
        let p = child(path, "paths");
        for (i, x) in list(paths, &p)?.iter().enumerate() {
            let xp = item(&p, i);
            let what = "a path pattern such as /api/*";
            ext.paths.push(checked(&xp, string(x, &xp)?, patterns::PATH_PATTERN, what)?);
        }
    }
    if let Some(lb) = m.get("loadBalancer") {
        ext.load_balancer = Some(load_balancer(lb, &child(path, "loadBalancer"))?);
    }
    if let Some(a) = m.get("autoscaling") {
        ext.autoscaling = Some(autoscaling(a, &child(path, "autoscaling"))?);
    }
    if let Some(cpu) = m.get("cpu") {
        let p = child(path, "cpu");
        let cpu = scalar(cpu, &p)?;
        if fargate::cpu_units(&cpu).is_none() {
            return Err(invalid(
                p,
                format!("{cpu:?} is not a Fargate cpu; use one of 0.25, 0.5, 1, 2, 4, 8, 16"),
            ));
        }
        ext.cpu = Some(cpu);
    }
    if let Some(memory) = m.get("memory") {
        let p = child(path, "memory");
        let memory = string(memory, &p)?;
        if fargate::memory_mib(&memory).is_none() {
            return Err(invalid(
                p,
                format!("{memory:?} is not a whole number of Mi or Gi, such as 512Mi or 2Gi"),
            ));
        }
        ext.memory = Some(memory);
    }
    if let Some(private) = m.get("private") {
        ext.private = private_ext(private, &child(path, "private"))?;
    }
    if let Some(d) = m.get("deletionPolicy") {
        let p = child(path, "deletionPolicy");
        ext.deletion_policy = Some(match string(d, &p)?.as_str() {
            "Delete" => DeletionPolicy::Delete,
            "Retain" => DeletionPolicy::Retain,
            other => return Err(invalid(p, format!("{other:?} is not Delete or Retain"))),
        });
    }
    if let Some(tags) = m.get("tags") {
        ext.tags = self::tags(tags, &child(path, "tags"))?;
    }
    Ok(ext)
}

/// `private`: `true` (the default, `None`), `false` (`Some(None)`) or `{name}`.
fn private_ext(v: &Value, path: &str) -> Result<Option<Option<String>>, ComposeError> {
    if let Value::Object(m) = v {
        check_keys(m, path, &["name"])?;
        let Some(name) = m.get("name") else {
            return Err(invalid(
                path,
                "give the private name, e.g. {name: api.shop}, or true or false",
            ));
        };
        let p = child(path, "name");
        let what = "a private name: DNS labels separated by dots, e.g. api or api.shop";
        let name = checked(&p, string(name, &p)?, patterns::PRIVATE_NAME, what)?;
        if name.len() > 253 {
            return Err(invalid(p, "use at most 253 characters"));
        }
        return Ok(Some(Some(name)));
    }
    Ok(if boolean(v, path)? { None } else { Some(None) })
}

fn autoscaling(v: &Value, path: &str) -> Result<Autoscaling, ComposeError> {
    let m = mapping(v, path)?;
    let known = [
        "minReplicas",
        "maxReplicas",
        "targetCpuPercent",
        "targetMemoryPercent",
        "targetRequestsPerTask",
        "scaleInCooldownSeconds",
        "scaleOutCooldownSeconds",
    ];
    check_keys(m, path, &known)?;
    let int = |key: &str, min: i64, max: i64| -> Result<Option<i32>, ComposeError> {
        let Some(v) = m.get(key) else { return Ok(None) };
        let p = child(path, key);
        let n = integer(v, &p)?;
        if !(min..=max).contains(&n) {
            return Err(invalid(p, format!("{n} is out of range; use {min} to {max}")));
        }
        Ok(i32::try_from(n).ok())
    };
    let required = |key: &str| invalid(child(path, key), "required, but missing; set it");
    let min_replicas = int("minReplicas", 0, 1000)?.ok_or_else(|| required("minReplicas"))?;
    let max_replicas = int("maxReplicas", 1, 1000)?.ok_or_else(|| required("maxReplicas"))?;
    if min_replicas > max_replicas {
        return Err(invalid(child(path, "minReplicas"), "must not be greater than maxReplicas"));
    }
    let a = Autoscaling {
        min_replicas,
        max_replicas,
        target_cpu_percent: int("targetCpuPercent", 1, 100)?,
        target_memory_percent: int("targetMemoryPercent", 1, 100)?,
        target_requests_per_task: int("targetRequestsPerTask", 1, 1_000_000)?,
        scale_in_cooldown_seconds: int("scaleInCooldownSeconds", 0, 3600)?.unwrap_or(300),
        scale_out_cooldown_seconds: int("scaleOutCooldownSeconds", 0, 3600)?.unwrap_or(60),
    };
    if a.target_cpu_percent.is_none()
        && a.target_memory_percent.is_none()
        && a.target_requests_per_task.is_none()
    {
        return Err(invalid(
            path,
            "needs at least one target: targetCpuPercent, targetMemoryPercent or targetRequestsPerTask",
        ));
    }
    Ok(a)
}

fn tags(v: &Value, path: &str) -> Result<BTreeMap<String, String>, ComposeError> {
    let m = mapping(v, path)?;
    if m.len() > USER_TAGS_MAX {
        return Err(invalid(path, format!("{} tags; use at most {USER_TAGS_MAX}", m.len())));
    }
    let mut out = BTreeMap::new();
    for key in sorted_keys(m) {
        let p = child(path, key);
        let value = scalar(&m[key], &p)?;
        let aws = |s: &str| s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"));
        if key.is_empty() || key.chars().count() > TAG_KEY_MAX {
            return Err(invalid(p, format!("tag keys must be 1 to {TAG_KEY_MAX} characters")));
        }
        if key.starts_with("byoc.dev/") || aws(key) || aws(&value) {
            return Err(invalid(p, "tags must not start with byoc.dev/ or aws: (reserved)"));
        }
        if value.chars().count() > TAG_VALUE_MAX {
            return Err(invalid(
                p,
                format!("tag values must be at most {TAG_VALUE_MAX} characters"),
            ));
        }
        out.insert(key.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_service_extension_is_read() {
        let v = json!({
            "hosts": ["shop.example.com"], "paths": ["/api/*"], "loadBalancer": "internal",
            "autoscaling": {"minReplicas": 2, "maxReplicas": "6", "targetCpuPercent": 60},
            "cpu": 1, "memory": "2Gi", "private": {"name": "api.shop"},
            "deletionPolicy": "Retain", "tags": {"team": "payments", "cost-center": 42}
        });
        let ext = service(Some(&v), "services.api.x-byoc").unwrap();
        assert_eq!(ext.hosts, vec!["shop.example.com"]);
        assert_eq!(ext.cpu.as_deref(), Some("1"));
        assert_eq!(ext.private, Some(Some("api.shop".to_string())));
        let a = ext.autoscaling.unwrap();
        assert_eq!((a.min_replicas, a.max_replicas, a.scale_in_cooldown_seconds), (2, 6, 300));
        assert_eq!(ext.tags["cost-center"], "42");
    }

    #[test]
    fn mistakes_in_our_own_extension_are_errors_naming_the_field() {
        let cases = [
            (json!({"host": ["a.b"]}), "services.web.x-byoc.host: unknown x-byoc field"),
            (
                json!({"hosts": ["localhost"]}),
                "services.web.x-byoc.hosts[0]: \"localhost\" is not a host name",
            ),
            (
                json!({"paths": ["api"]}),
                "services.web.x-byoc.paths[0]: \"api\" is not a path pattern",
            ),
            (json!({"cpu": "0.3"}), "services.web.x-byoc.cpu: \"0.3\" is not a Fargate cpu"),
            (
                json!({"memory": "1G"}),
                "services.web.x-byoc.memory: \"1G\" is not a whole number of Mi or Gi",
            ),
            (
                json!({"autoscaling": {"minReplicas": 1}}),
                "services.web.x-byoc.autoscaling.maxReplicas: required",
            ),
            (
                json!({"autoscaling": {"minReplicas": 1, "maxReplicas": 2}}),
                "needs at least one target",
            ),
            (
                json!({"autoscaling": {"minReplicas": 3, "maxReplicas": 2, "targetCpuPercent": 50}}),
                "must not be greater",
            ),
            (
                json!({"private": "maybe"}),
                "services.web.x-byoc.private: \"maybe\" is not true or false",
            ),
            (json!({"deletionPolicy": "Keep"}), "is not Delete or Retain"),
            (json!({"tags": {"AWS:x": "y"}}), "reserved"),
            (json!(["hosts"]), "services.web.x-byoc: expected a mapping, found a list"),
        ];
        for (v, expected) in cases {
            let err = service(Some(&v), "services.web.x-byoc").unwrap_err().to_string();
            assert!(err.contains(expected), "{v}: {err}");
        }
        let err = project(Some(&json!({"acount": "x"}))).unwrap_err().to_string();
        assert!(err.starts_with("x-byoc.acount: unknown x-byoc field"), "{err}");
    }
}
