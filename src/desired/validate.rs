//! Validation of a CloudService against its CloudAccount and referenced Secrets: everything the CRD
//! schema checks (for the CLI, where no API server checks it) plus what needs context. Pure.
//!
//! Returns a `Validated` value the rest of the pipeline can trust, or the first problem with the
//! field path and what to do.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use regex::Regex;

use super::{Owner, desired_stack, limits};
use crate::api::{
    CloudAccount, CloudService, CloudServiceSpec, DeletionPolicy, RETENTION_DAYS, fargate,
    patterns, reason,
};

/// Why a service cannot be deployed as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// Stable condition reason: `InvalidSpec`, `AccountNotReady` or `NamespaceNotAllowed`.
    pub reason: &'static str,
    /// Path of the offending field, e.g. `spec.ingress.port`.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

pub(super) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid { reason: reason::INVALID_SPEC, field: field.into(), message: message.into() }
}

/// The data of the Secrets a service may reference: `secret name → key → value`.
pub type SecretData = BTreeMap<String, BTreeMap<String, String>>;

/// A service checked against its context, with defaults resolved.
#[derive(Clone)]
pub struct Validated {
    pub spec: CloudServiceSpec,
    pub account: CloudAccount,
    pub cpu_units: u32,
    pub memory_mib: u32,
    pub retention_days: i32,
    pub deletion_policy: DeletionPolicy,
    /// Values of `valueFrom.secretKeyRef` env vars, by env var name.
    pub secret_values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Validated {
    // Secret values never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validated")
            .field("spec", &self.spec)
            .field("cpu_units", &self.cpu_units)
            .field("memory_mib", &self.memory_mib)
            .field("secret_values", &self.secret_values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Validates `service` in its context. `namespace_labels` are the labels of the service's
/// namespace (`None` skips the `allowedNamespaces` check, as the CLI has no namespaces).
/// The preview annotation takes `"true"` or `"false"`: anything else (`"yes"`, `"True"`) is
/// refused rather than read as "apply".
pub fn check_plan_only(annotations: Option<&BTreeMap<String, String>>) -> Result<(), Invalid> {
    match annotations.and_then(|a| a.get(crate::api::PLAN_ONLY_ANNOTATION)) {
        None => Ok(()),
        Some(v) if v == "true" || v == "false" => Ok(()),
        Some(v) => Err(invalid(
            format!("metadata.annotations[{}]", crate::api::PLAN_ONLY_ANNOTATION),
            format!(
                "{v:?} is neither \"true\" (preview: plan only, no AWS change) nor \"false\"; set one of them, or remove the annotation to apply"
            ),
        )),
    }
}

pub fn validate(
    service: &CloudService,
    account: Option<&CloudAccount>,
    namespace_labels: Option<&BTreeMap<String, String>>,
    secrets: &SecretData,
) -> Result<Validated, Invalid> {
    let spec = &service.spec;
    check_spec(spec)?;
    check_plan_only(service.metadata.annotations.as_ref())?;
    let account = account.ok_or_else(|| Invalid {
        reason: reason::ACCOUNT_NOT_READY,
        field: "spec.accountRef.name".into(),
        message: format!(
            "CloudAccount {:?} does not exist; create it or fix the name",
            spec.account_ref.name
        ),
    })?;
    if let (Some(selector), Some(labels)) = (&account.spec.allowed_namespaces, namespace_labels)
        && !selector_matches(selector, labels)
    {
        return Err(Invalid {
            reason: reason::NAMESPACE_NOT_ALLOWED,
            field: "metadata.namespace".into(),
            message: format!(
                "CloudAccount {:?} does not allow services from namespace {:?}: deploy from a namespace its spec.allowedNamespaces selects, or ask the account's owner to allow this one",
                spec.account_ref.name,
                service.metadata.namespace.as_deref().unwrap_or_default()
            ),
        });
    }
    if let Some(ingress) = &spec.ingress
        && !account.spec.load_balancers.iter().any(|lb| lb.name == ingress.load_balancer)
    {
        let names: Vec<&str> =
            account.spec.load_balancers.iter().map(|l| l.name.as_str()).collect();
        return Err(invalid(
            "spec.ingress.loadBalancer",
            format!(
                "CloudAccount {:?} has no load balancer {:?}; use one of {names:?}",
                spec.account_ref.name, ingress.load_balancer
            ),
        ));
    }
    let account_name = &spec.account_ref.name;
    limits::check_tags("spec.tags", &account.spec.tags).map_err(|e| {
        invalid(
            "spec.accountRef.name",
            format!(
                "CloudAccount {account_name:?} has an invalid {}: {}; fix the CloudAccount",
                e.field, e.message
            ),
        )
    })?;
    limits::check_merged_tag_count(account_name, &account.spec.tags, &spec.tags)?;
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let name = service.metadata.name.as_deref().unwrap_or_default();
    if spec.repository.is_some() || spec.build.is_some() {
        limits::check_repository_name(namespace, name)?;
    }
    super::validate_build::check_account(spec, account)?;
    super::validate_app::check_account(spec, account)?;
    let mut secret_values = BTreeMap::new();
    for (i, env) in spec.env.iter().enumerate() {
        if let Some(source) = &env.value_from {
            let r = &source.secret_key_ref;
            let field = format!("spec.env[{i}].valueFrom.secretKeyRef");
            let Some(data) = secrets.get(&r.name) else {
                return Err(invalid(
                    field,
                    format!(
                        "Secret {:?} with key {:?} not found in the service's namespace {namespace:?}; create it there, or fix the name (a service reads Secrets of its own namespace only)",
                        r.name, r.key
                    ),
                ));
            };
            // Key names only: the values are secret.
            let value = data.get(&r.key).ok_or_else(|| {
                let keys: Vec<&String> = data.keys().collect();
                invalid(
                    field,
                    format!(
                        "Secret {:?} with key {:?} not found: the Secret has only the keys {keys:?}; add the key, or fix the key name",
                        r.name, r.key
                    ),
                )
            })?;
            secret_values.insert(env.name.clone(), value.clone());
        }
    }
    secret_values.extend(super::validate_build::secret_values(spec, secrets, namespace)?);
    let (cpu_units, memory_mib) =
        fargate::check_size(&spec.cpu, &spec.memory).map_err(|m| invalid("spec.memory", m))?;
    let validated = Validated {
        spec: spec.clone(),
        account: account.clone(),
        cpu_units,
        memory_mib,
        retention_days: spec
            .logs
            .as_ref()
            .and_then(|l| l.retention_days)
            .unwrap_or(account.spec.defaults.log_retention_days),
        deletion_policy: spec.deletion_policy.unwrap_or(account.spec.defaults.deletion_policy),
        secret_values,
    };
    // Names in the task definition depend on the owner's namespace and name, not its UID or
    // installation, so a provisional owner measures it exactly.
    let owner = Owner {
        namespace: namespace.into(),
        name: name.into(),
        uid: String::new(),
        cluster_id: String::new(),
    };
    limits::check_task_definition_size(&desired_stack(&validated, &owner).task_definition)?;
    Ok(validated)
}

pub(super) fn check_pattern(
    field: &str,
    value: &str,
    pattern: &str,
    what: &str,
) -> Result<(), Invalid> {
    // Patterns are constants compiled by unit tests, so this cannot fail at runtime.
    let ok = Regex::new(pattern).map(|re| re.is_match(value)).unwrap_or(false);
    if ok { Ok(()) } else { Err(invalid(field, format!("{value:?} is not {what}"))) }
}

pub(super) fn check_range(field: &str, value: i32, min: i32, max: i32) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, format!("{value} is out of range; use {min} to {max}")))
    }
}

/// The CRD's schema and CEL rules, for specs that did not come through an API server.
fn check_spec(spec: &CloudServiceSpec) -> Result<(), Invalid> {
    check_pattern(
        "spec.accountRef.name",
        &spec.account_ref.name,
        patterns::OBJECT_NAME,
        "a valid object name",
    )?;
    super::validate_build::check_source(spec)?;
    let mut port_names = Vec::new();
    for (i, port) in spec.ports.iter().enumerate() {
        check_pattern(
            &format!("spec.ports[{i}].name"),
            &port.name,
            patterns::PORT_NAME,
            "a port name such as http (lower case, at most 15 characters)",
        )?;
        if port.name.len() > 15 {
            return Err(invalid(format!("spec.ports[{i}].name"), "use at most 15 characters"));
        }
        check_range(&format!("spec.ports[{i}].containerPort"), port.container_port, 1, 65535)?;
        if port_names.contains(&&port.name) {
            return Err(invalid(
                format!("spec.ports[{i}].name"),
                format!("duplicate port name {:?}", port.name),
            ));
        }
        port_names.push(&port.name);
    }
    let mut env_names = Vec::new();
    for (i, env) in spec.env.iter().enumerate() {
        check_pattern(
            &format!("spec.env[{i}].name"),
            &env.name,
            patterns::ENV_NAME,
            "a valid environment variable name",
        )?;
        if env.value.is_some() == env.value_from.is_some() {
            return Err(invalid(
                format!("spec.env[{i}]"),
                "set exactly one of value and valueFrom",
            ));
        }
        if env_names.contains(&&env.name) {
            return Err(invalid(
                format!("spec.env[{i}].name"),
                format!("duplicate variable {:?}", env.name),
            ));
        }
        env_names.push(&env.name);
    }
    check_range("spec.replicas", spec.replicas, 0, 1000)?;
    let has_port = |name: &str| spec.ports.iter().any(|p| p.name == name);
    if let Some(ingress) = &spec.ingress {
        if !has_port(&ingress.port) {
            return Err(invalid(
                "spec.ingress.port",
                format!("{:?} must be the name of an entry in spec.ports", ingress.port),
            ));
        }
        let values = ingress.hosts.len() + ingress.paths.len();
        if !(1..=5).contains(&values) {
            return Err(invalid(
                "spec.ingress",
                "give at least one of hosts and paths, and at most five values in total",
            ));
        }
        for (i, host) in ingress.hosts.iter().enumerate() {
            check_pattern(
                &format!("spec.ingress.hosts[{i}]"),
                host,
                patterns::HOST,
                "a host name an ALB rule takes: lower case, at least one dot and only letters after the last one, such as shop.example.com or *.example.com",
            )?;
        }
        check_range(
            "spec.ingress.deregistrationDelaySeconds",
            ingress.deregistration_delay_seconds,
            0,
            3600,
        )?;
        for (i, path) in ingress.paths.iter().enumerate() {
            check_pattern(
                &format!("spec.ingress.paths[{i}]"),
                path,
                patterns::PATH_PATTERN,
                "a path pattern such as /api/*",
            )?;
        }
    }
    if let Some(hc) = &spec.health_check {
        check_pattern(
            "spec.healthCheck.path",
            &hc.path,
            patterns::HTTP_PATH,
            "an HTTP path such as /healthz",
        )?;
        if let Some(port) = &hc.port
            && !has_port(port)
        {
            return Err(invalid(
                "spec.healthCheck.port",
                format!("{port:?} must be the name of an entry in spec.ports"),
            ));
        }
        check_range("spec.healthCheck.intervalSeconds", hc.interval_seconds, 5, 300)?;
        check_range("spec.healthCheck.timeoutSeconds", hc.timeout_seconds, 2, 120)?;
        if hc.timeout_seconds >= hc.interval_seconds {
            return Err(invalid(
                "spec.healthCheck.timeoutSeconds",
                "must be less than intervalSeconds",
            ));
        }
        check_range("spec.healthCheck.healthyThreshold", hc.healthy_threshold, 2, 10)?;
        check_range("spec.healthCheck.unhealthyThreshold", hc.unhealthy_threshold, 2, 10)?;
        check_range("spec.healthCheck.gracePeriodSeconds", hc.grace_period_seconds, 0, 7200)?;
        check_success_codes(&hc.success_codes)?;
    }
    if let Some(days) = spec.logs.as_ref().and_then(|l| l.retention_days)
        && !RETENTION_DAYS.contains(&days)
    {
        return Err(invalid(
            "spec.logs.retentionDays",
            format!("{days} is not a CloudWatch retention; use one of {RETENTION_DAYS:?}"),
        ));
    }
    if let Some(repo) = &spec.repository {
        check_range("spec.repository.keepLastImages", repo.keep_last_images, 1, 10000)?;
    }
    if let Some(d) = &spec.deployment {
        check_range("spec.deployment.minimumHealthyPercent", d.minimum_healthy_percent, 0, 100)?;
        check_range("spec.deployment.maximumPercent", d.maximum_percent, 100, 200)?;
        check_range(
            "spec.deployment.progressDeadlineSeconds",
            d.progress_deadline_seconds,
            10,
            86400,
        )?;
        if d.maximum_percent <= d.minimum_healthy_percent {
            return Err(invalid(
                "spec.deployment.maximumPercent",
                "must be greater than minimumHealthyPercent",
            ));
        }
    }
    if let Some(arn) = &spec.task_role_arn {
        check_pattern("spec.taskRoleArn", arn, patterns::ROLE_ARN, "an IAM role ARN")?;
    }
    super::validate_app::check_spec(spec)?;
    limits::check_tags("spec.tags", &spec.tags)
}

/// `patterns::SUCCESS_CODES`, and a range from the lower code to the higher.
fn check_success_codes(codes: &str) -> Result<(), Invalid> {
    let field = "spec.healthCheck.successCodes";
    check_pattern(
        field,
        codes,
        patterns::SUCCESS_CODES,
        "HTTP codes an ALB health check takes: between 200 and 499, one code (200), a list (200,204) or one range (200-399)",
    )?;
    match codes.split_once('-') {
        Some((low, high)) if low > high => Err(invalid(
            field,
            format!("the range {codes:?} runs backwards; write it as {high}-{low}"),
        )),
        _ => Ok(()),
    }
}

/// Whether a label selector matches a set of labels (matchLabels and matchExpressions).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
