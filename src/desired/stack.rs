//! The desired AWS stack of one validated service: names, tags and the exact settings of each
//! resource. Pure: `desired_stack` takes a `Validated` service and returns plain values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Owner, Validated, naming::fnv1a};
use crate::api::{HealthCheck, Scheme, TagMutability};

/// Everything one service should have in AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredStack {
    pub owner: Owner,
    pub tags: BTreeMap<String, String>,
    pub cluster: String,
    pub repository: Option<DesiredRepository>,
    pub log_group: DesiredLogGroup,
    pub secrets: Vec<DesiredSecret>,
    pub task_definition: DesiredTaskDefinition,
    pub ingress: Option<DesiredIngress>,
    pub service: DesiredEcsService,
    pub retain: bool,
    /// The image build from source (`spec.build`), once its source is resolved (`with_build`).
    pub build: Option<super::DesiredBuild>,
    /// Application Auto Scaling of the service's desired count (`spec.autoscaling`).
    pub autoscaling: Option<super::DesiredScaling>,
}

impl DesiredStack {
    /// The stack with its image built from `build`'s source; the image stays unset until the
    /// build's digest is known (`set_image`).
    pub fn with_build(mut self, build: super::DesiredBuild) -> Self {
        self.build = Some(build);
        self
    }

    /// Runs `image` (a built image, by digest).
    pub fn set_image(&mut self, image: &str) {
        self.task_definition.container.image = image.to_string();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRepository {
    pub name: String,
    pub scan_on_push: bool,
    pub immutable: bool,
    pub keep_last_images: i32,
}

impl DesiredRepository {
    /// The lifecycle policy document keeping the last N images.
    pub fn lifecycle_policy(&self) -> String {
        serde_json::json!({
            "rules": [{
                "rulePriority": 1,
                "description": format!("keep the last {} images", self.keep_last_images),
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": self.keep_last_images},
                "action": {"type": "expire"}
            }]
        })
        .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLogGroup {
    pub name: String,
    pub retention_days: i32,
}

/// One Secrets Manager secret holding an env var's value.
#[derive(Clone, PartialEq, Eq)]
pub struct DesiredSecret {
    pub env_name: String,
    pub name: String,
    pub value: String,
    /// Hash of the value, stored as a tag, so a change is seen without reading the secret.
    pub value_hash: String,
}

impl std::fmt::Debug for DesiredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredSecret")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// The container, as we register it. Serialized form is what `spec_hash` covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub ports: Vec<i32>,
    /// The port mappings' names, in an account with Service Connect (which finds ports by name);
    /// empty otherwise, so a task definition changes only when Service Connect needs it to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_names: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Env var name → secret name; resolved to the secret's ARN when registering.
    pub secrets: BTreeMap<String, String>,
    /// Hashes of the secret values, so a changed value rolls the tasks.
    pub secret_hashes: BTreeMap<String, String>,
    pub log_group: String,
    pub region: String,
    /// ECS container health check, when the spec gives a command.
    pub health_check: Option<ContainerHealthCheck>,
}

/// An ECS container health check (`CMD-SHELL`), within ECS' limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerHealthCheck {
    pub command: String,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub retries: i32,
    pub start_period_seconds: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredTaskDefinition {
    pub family: String,
    pub cpu_units: u32,
    pub memory_mib: u32,
    pub container: Container,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
}

impl DesiredTaskDefinition {
    /// Hash of everything we register; a new revision is needed exactly when it changes.
    pub fn spec_hash(&self) -> String {
        // Serializing plain owned data cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a(json.as_bytes()))
    }
}

/// Route and target group for a service with ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredIngress {
    pub load_balancer: String,
    pub target_group_name: String,
    pub container_port: i32,
    /// The port the load balancer health-checks, when `healthCheck.port` names another port than
    /// the traffic port (`None`: the traffic port).
    pub health_check_port: Option<i32>,
    /// The target group's deregistration delay, in seconds.
    pub deregistration_delay: i32,
    pub vpc_id: String,
    pub health: HealthCheck,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredEcsService {
    pub name: String,
    /// The desired count to create the service with; with `autoscaled` it is never set again
    /// (the autoscaler owns it).
    pub desired_count: i32,
    pub autoscaled: bool,
    /// ECS Service Connect, in an account with `spec.serviceConnect`.
    pub service_connect: Option<super::DesiredServiceConnect>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub minimum_healthy_percent: i32,
    pub maximum_percent: i32,
    pub circuit_breaker: bool,
    pub rollback: bool,
    pub health_check_grace_seconds: Option<i32>,
    /// Seconds after which a rollout still in progress is reported as failed.
    pub progress_deadline_seconds: i32,
}

/// Builds the desired stack of a validated service.
pub fn desired_stack(v: &Validated, owner: &Owner) -> DesiredStack {
    let spec = &v.spec;
    let account = &v.account.spec;
    let mut tags: BTreeMap<String, String> = account.tags.clone();
    tags.extend(spec.tags.clone());
    tags.extend(owner.tags());

    let secrets: Vec<DesiredSecret> = v
        .secret_values
        .iter()
        .map(|(env_name, value)| DesiredSecret {
            env_name: env_name.clone(),
            name: owner.secret_name(env_name),
            value: value.clone(),
            value_hash: format!("{:016x}", fnv1a(value.as_bytes())),
        })
        .collect();
    // Secrets the build reads (build arguments, Git credentials) are not the container's.
    let container_secrets: Vec<&DesiredSecret> =
        secrets.iter().filter(|s| spec.env.iter().any(|e| e.name == s.env_name)).collect();
    let container = Container {
        name: "app".into(),
        image: spec.image.clone().unwrap_or_default(),
        command: spec.command.clone(),
        args: spec.args.clone(),
        ports: spec.ports.iter().map(|p| p.container_port).collect(),
        port_names: match &account.service_connect {
            Some(_) => spec.ports.iter().map(|p| p.name.clone()).collect(),
            None => Vec::new(),
        },
        env: spec
            .env
            .iter()
            .filter_map(|e| e.value.as_ref().map(|v| (e.name.clone(), v.clone())))
            .collect(),
        secrets: container_secrets.iter().map(|s| (s.env_name.clone(), s.name.clone())).collect(),
        secret_hashes: container_secrets
            .iter()
            .map(|s| (s.env_name.clone(), s.value_hash.clone()))
            .collect(),
        log_group: owner.log_group_name(),
        region: account.aws.region.clone(),
        health_check: spec.health_check.as_ref().and_then(|h| {
            Some(ContainerHealthCheck {
                command: h.command.clone()?,
                interval_seconds: h.interval_seconds.clamp(5, 300),
                timeout_seconds: h.timeout_seconds.clamp(2, 60),
                retries: h.unhealthy_threshold.clamp(1, 10),
                start_period_seconds: h.grace_period_seconds.clamp(0, 300),
            })
        }),
    };
    let ingress = spec.ingress.as_ref().map(|ing| {
        let port = spec.ports.iter().find(|p| p.name == ing.port).map_or(80, |p| p.container_port);
        let health = spec.health_check.clone().unwrap_or_else(default_health);
        let health_check_port = health
            .port
            .as_ref()
            .and_then(|name| spec.ports.iter().find(|p| p.name == *name))
            .map(|p| p.container_port)
            .filter(|p| *p != port);
        let host = ing.hosts.first().cloned();
        let path = ing
            .paths
            .first()
            .map(|p| p.trim_end_matches('*').to_string())
            .unwrap_or_else(|| "/".into());
        let lb = account.load_balancers.iter().find(|l| l.name == ing.load_balancer);
        let https = lb.is_some_and(|l| l.certificate_arn.is_some());
        let url = format!(
            "{}://{}{}",
            if https { "https" } else { "http" },
            host.unwrap_or_else(|| "<load-balancer-dns>".into()),
            path
        );
        DesiredIngress {
            load_balancer: ing.load_balancer.clone(),
            target_group_name: owner.target_group_name(),
            container_port: port,
            health_check_port,
            deregistration_delay: ing.deregistration_delay_seconds,
            vpc_id: account.network.vpc_id.clone(),
            health,
            hosts: ing.hosts.clone(),
            paths: ing.paths.clone(),
            url,
        }
    });
    let deployment = spec.deployment.clone().unwrap_or_default();
    DesiredStack {
        tags,
        cluster: account.cluster.name.clone(),
        // A built image needs the repository the build pushes to.
        repository: spec
            .repository
            .clone()
            .or_else(|| spec.build.as_ref().map(|_| crate::api::Repository::default()))
            .map(|r| DesiredRepository {
                name: owner.repository_name(),
                scan_on_push: r.scan_on_push,
                immutable: r.tag_mutability == TagMutability::Immutable,
                keep_last_images: r.keep_last_images,
            }),
        log_group: DesiredLogGroup {
            name: owner.log_group_name(),
            retention_days: v.retention_days,
        },
        secrets,
        task_definition: DesiredTaskDefinition {
            family: owner.ecs_name(),
            cpu_units: v.cpu_units,
            memory_mib: v.memory_mib,
            container,
            execution_role_arn: account.execution_role_arn.clone(),
            task_role_arn: spec.task_role_arn.clone(),
        },
        service: DesiredEcsService {
            name: owner.ecs_name(),
            desired_count: spec
                .autoscaling
                .as_ref()
                .map_or(spec.replicas, |a| spec.replicas.clamp(a.min_replicas, a.max_replicas)),
            autoscaled: spec.autoscaling.is_some(),
            service_connect: account
                .service_connect
                .as_ref()
                .map(|sc| super::connect::desired_service_connect(spec, owner, &sc.namespace)),
            subnets: account.network.subnet_ids.clone(),
            security_groups: account.network.security_group_ids.clone(),
            assign_public_ip: account.network.assign_public_ip,
            minimum_healthy_percent: deployment.minimum_healthy_percent,
            maximum_percent: deployment.maximum_percent,
            circuit_breaker: deployment.circuit_breaker.enable,
            rollback: deployment.circuit_breaker.rollback,
            health_check_grace_seconds: ingress
                .as_ref()
                .map(|_| spec.health_check.as_ref().map_or(60, |h| h.grace_period_seconds)),
            progress_deadline_seconds: deployment.progress_deadline_seconds,
        },
        ingress,
        retain: v.deletion_policy == crate::api::DeletionPolicy::Retain,
        build: None,
        autoscaling: spec
            .autoscaling
            .as_ref()
            .map(|a| super::scaling::desired_scaling(a, &account.cluster.name, &owner.ecs_name())),
        owner: owner.clone(),
    }
}

fn default_health() -> HealthCheck {
    HealthCheck {
        path: "/".into(),
        port: None,
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold: 3,
        unhealthy_threshold: 3,
        success_codes: "200-399".into(),
        grace_period_seconds: 60,
        command: None,
    }
}

/// ALB scheme string.
pub fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::InternetFacing => "internet-facing",
        Scheme::Internal => "internal",
    }
}
