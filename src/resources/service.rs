//! The ECS service: observe from the account's snapshot while it is steady (one completed
//! deployment, every task running), else with `DescribeServices`; diff desired
//! count, task definition, network, load balancer and deployment settings, create (with a
//! `clientToken`, and only after we saw it missing: some emulators replace on a repeated create)
//! or update; scale to zero and delete. `diff` is pure; the rest calls ECS through `Aws::call`.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, Service,
    ServiceConnectClientAlias, ServiceConnectConfiguration, ServiceConnectService, ServiceField,
};

use super::{
    Action, Change, FieldChange, Kind, Presence,
    cache::{ObserveCache, key},
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredEcsService, Owner, connect, tag},
};

/// The ECS service as observed (ACTIVE or DRAINING).
#[derive(Debug, Clone, PartialEq)]
pub struct EcsService {
    pub arn: String,
    pub status: String,
    pub raw: Service,
    pub tags: Tags,
}

pub async fn observe(
    aws: &Aws,
    cluster: &str,
    name: &str,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Presence<EcsService>, AwsError> {
    if let Some(snap) = cache.listed(&key::service(cluster, name))
        && let Some(found) = snap.steady_service(name)
    {
        return Ok(presence(found, name, owner));
    }
    let out = match aws
        .call(
            "ecs",
            "DescribeServices",
            aws.ecs
                .describe_services()
                .cluster(cluster)
                .services(name)
                .include(ServiceField::Tags)
                .send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => return Ok(Presence::Missing),
        other => other?,
    };
    let found = out.services().iter().find(|s| s.status() != Some("INACTIVE"));
    Ok(presence(found, name, owner))
}

/// Ownership and state of a described service (ACTIVE or DRAINING; INACTIVE counts as missing).
fn presence(found: Option<&Service>, name: &str, owner: &Owner) -> Presence<EcsService> {
    let Some(svc) = found.filter(|s| s.status() != Some("INACTIVE")) else {
        return Presence::Missing;
    };
    let tags = tags::from_ecs(svc.tags());
    if !owner.owns(&tags) {
        return Presence::Foreign(name.to_string());
    }
    Presence::Ours(EcsService {
        arn: svc.service_arn().unwrap_or_default().to_string(),
        status: svc.status().unwrap_or_default().to_string(),
        raw: svc.clone(),
        tags,
    })
}

/// What the service should look like, given the ARNs produced earlier in the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Target<'a> {
    pub desired: &'a DesiredEcsService,
    pub task_definition: &'a str,
    pub target_group: Option<&'a str>,
    pub container_port: Option<i32>,
    /// The Service Connect namespace's ARN, when the account has one.
    pub namespace_arn: Option<&'a str>,
}

impl Target<'_> {
    /// The value of `byoc.dev/service-connect` the service should carry.
    fn service_connect_digest(&self) -> String {
        self.desired.service_connect.as_ref().map_or(connect::OFF.into(), |c| c.digest())
    }
}

/// What differs between the service and the target, one entry per UpdateService parameter.
#[derive(Debug, Default)]
struct Differences {
    fields: Vec<FieldChange>,
    desired_count: bool,
    task_definition: bool,
    network: bool,
    load_balancers: bool,
    deployment: bool,
    grace_period: bool,
    service_connect: bool,
}

fn differences(t: &Target<'_>, svc: &Service) -> Differences {
    let d = t.desired;
    let mut out = Differences::default();
    // With autoscaling on, the autoscaler owns the count: never reset it.
    if !d.autoscaled && svc.desired_count() != d.desired_count {
        out.desired_count = true;
        out.fields.push(FieldChange::new("desiredCount", svc.desired_count(), d.desired_count));
    }
    let current_td = svc.task_definition().unwrap_or_default();
    if current_td != t.task_definition {
        out.task_definition = true;
        out.fields.push(FieldChange::new(
            "taskDefinition",
            short(current_td),
            short(t.task_definition),
        ));
    }
    let vpc = svc.network_configuration().and_then(|n| n.awsvpc_configuration());
    let mut subnets: Vec<String> = vpc.map(|v| v.subnets().to_vec()).unwrap_or_default();
    let mut groups: Vec<String> = vpc.map(|v| v.security_groups().to_vec()).unwrap_or_default();
    subnets.sort();
    groups.sort();
    let (mut want_subnets, mut want_groups) = (d.subnets.clone(), d.security_groups.clone());
    want_subnets.sort();
    want_groups.sort();
    if subnets != want_subnets {
        out.network = true;
        out.fields.push(FieldChange::new("subnets", subnets.join(","), want_subnets.join(",")));
    }
    if groups != want_groups {
        out.network = true;
        out.fields.push(FieldChange::new(
            "securityGroups",
            groups.join(","),
            want_groups.join(","),
        ));
    }
    let public = vpc.and_then(|v| v.assign_public_ip()) == Some(&AssignPublicIp::Enabled);
    if public != d.assign_public_ip {
        out.network = true;
        out.fields.push(FieldChange::new("assignPublicIp", public, d.assign_public_ip));
    }
    let lbs: Vec<String> = svc
        .load_balancers()
        .iter()
        .map(|l| {
            format!("{}:{}", l.target_group_arn().unwrap_or_default(), opt(l.container_port()))
        })
        .collect();
    let want_lbs: Vec<String> = match (t.target_group, t.container_port) {
        (Some(tg), Some(port)) => vec![format!("{tg}:{port}")],
        _ => vec![],
    };
    if lbs != want_lbs {
        out.load_balancers = true;
        out.fields.push(FieldChange::new(
            "loadBalancer",
            list_or_none(&lbs),
            list_or_none(&want_lbs),
        ));
    }
    if let Some(cfg) = svc.deployment_configuration() {
        if cfg.minimum_healthy_percent() != Some(d.minimum_healthy_percent) {
            out.deployment = true;
            out.fields.push(FieldChange::new(
                "minimumHealthyPercent",
                opt(cfg.minimum_healthy_percent()),
                d.minimum_healthy_percent,
            ));
        }
        if cfg.maximum_percent() != Some(d.maximum_percent) {
            out.deployment = true;
            out.fields.push(FieldChange::new(
                "maximumPercent",
                opt(cfg.maximum_percent()),
                d.maximum_percent,
            ));
        }
        if let Some(cb) = cfg.deployment_circuit_breaker()
            && (cb.enable() != d.circuit_breaker || cb.rollback() != d.rollback)
        {
            out.deployment = true;
            out.fields.push(FieldChange::new(
                "circuitBreaker",
                format!("enable={} rollback={}", cb.enable(), cb.rollback()),
                format!("enable={} rollback={}", d.circuit_breaker, d.rollback),
            ));
        }
    }
    // What Service Connect settings were applied is recorded on the service: ECS returns them only
    // per deployment, and not every emulator returns them at all.
    let applied = svc
        .tags()
        .iter()
        .find(|t| t.key() == Some(tag::SERVICE_CONNECT))
        .and_then(|t| t.value())
        .unwrap_or(connect::OFF);
    let wanted = t.service_connect_digest();
    if applied != wanted {
        out.service_connect = true;
        let describe = |digest: &str| match (digest, &d.service_connect) {
            (connect::OFF, _) => "off".to_string(),
            (_, Some(c)) if digest == wanted => {
                let addresses = c.addresses();
                if addresses.is_empty() {
                    format!("client of {}", c.namespace)
                } else {
                    format!("{} in {}", addresses.join(","), c.namespace)
                }
            }
            _ => format!("settings {digest}"),
        };
        out.fields.push(FieldChange::new("serviceConnect", describe(applied), describe(&wanted)));
    }
    // ECS accepts a grace period only with a load balancer. A service described without one
    // (emulators) cannot be compared.
    if let (Some(grace), Some(current)) =
        (d.health_check_grace_seconds, svc.health_check_grace_period_seconds())
        && current != grace
    {
        out.grace_period = true;
        out.fields.push(FieldChange::new("healthCheckGracePeriodSeconds", current, grace));
    }
    out
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn opt(v: Option<i32>) -> String {
    v.map_or("unset".into(), |v| v.to_string())
}

/// `target-group-name:port` entries (from `arn:…:targetgroup/NAME/ID:PORT`), or `none`.
fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|s| {
            let name = s.split('/').nth(1).unwrap_or(s);
            let port = s.rsplit(':').next().unwrap_or_default();
            format!("{name}:{port}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn diff(t: &Target<'_>, tags: &Tags, observed: &Presence<EcsService>) -> Option<Change> {
    let action = match observed {
        Presence::Missing => Action::Create,
        Presence::Foreign(_) => return None,
        Presence::Ours(svc) if svc.status == "DRAINING" => Action::Create,
        Presence::Ours(svc) => {
            let mut fields = differences(t, &svc.raw).fields;
            if !tags::missing(tags, &svc.tags).is_empty() {
                fields.push(FieldChange::new("tags", "outdated", "current"));
            }
            if fields.is_empty() {
                return None;
            }
            Action::Update(fields)
        }
    };
    Some(Change::new(Kind::EcsService, &t.desired.name, action))
}

fn network(d: &DesiredEcsService) -> Result<NetworkConfiguration, AwsError> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(d.subnets.clone()))
        .set_security_groups(Some(d.security_groups.clone()))
        .assign_public_ip(if d.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| AwsError::unexpected("CreateService", e.to_string()))?;
    Ok(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
}

fn deployment(d: &DesiredEcsService) -> Result<DeploymentConfiguration, AwsError> {
    let breaker =
        DeploymentCircuitBreaker::builder().enable(d.circuit_breaker).rollback(d.rollback).build();
    Ok(DeploymentConfiguration::builder()
        .minimum_healthy_percent(d.minimum_healthy_percent)
        .maximum_percent(d.maximum_percent)
        .deployment_circuit_breaker(breaker)
        .build())
}

/// The Service Connect configuration to send: the desired one, or `enabled: false` to turn it
/// off. The namespace must be known by then (`engine` waits for the account).
fn service_connect(t: &Target<'_>) -> Result<ServiceConnectConfiguration, AwsError> {
    let unexpected = |e: aws_sdk_ecs::error::BuildError| {
        AwsError::unexpected("UpdateService", format!("service connect: {e}"))
    };
    let Some(c) = &t.desired.service_connect else {
        return Ok(ServiceConnectConfiguration::builder().enabled(false).build());
    };
    let namespace = t.namespace_arn.ok_or_else(|| {
        AwsError::unexpected("UpdateService", "the Service Connect namespace is not known yet")
    })?;
    let mut services = Vec::new();
    for p in &c.ports {
        let alias = ServiceConnectClientAlias::builder()
            .port(p.port)
            .dns_name(&p.dns_name)
            .build()
            .map_err(unexpected)?;
        services.push(
            ServiceConnectService::builder()
                .port_name(&p.port_name)
                .discovery_name(&p.discovery_name)
                .client_aliases(alias)
                .build()
                .map_err(unexpected)?,
        );
    }
    Ok(ServiceConnectConfiguration::builder()
        .enabled(true)
        .namespace(namespace)
        .set_services((!services.is_empty()).then_some(services))
        .build())
}

fn load_balancers(t: &Target<'_>) -> Vec<LoadBalancer> {
    match (t.target_group, t.container_port) {
        (Some(tg), Some(port)) => vec![
            LoadBalancer::builder()
                .target_group_arn(tg)
                .container_name("app")
                .container_port(port)
                .build(),
        ],
        _ => vec![],
    }
}

/// Creates or updates the service; returns it as AWS describes it after the call.
pub async fn act(
    aws: &Aws,
    cluster: &str,
    t: &Target<'_>,
    tags: &Tags,
    observed: &Presence<EcsService>,
    owner: &Owner,
) -> Result<Service, AwsError> {
    let d = t.desired;
    match observed {
        Presence::Foreign(name) => {
            Err(AwsError::unexpected("CreateService", format!("service {name} is not ours")))
        }
        Presence::Ours(svc) if svc.status == "DRAINING" => Err(AwsError {
            operation: "CreateService",
            code: "ServiceDraining".into(),
            message: format!("the previous service {} is still draining; retrying", d.name),
            category: crate::aws::Category::Transient,
        }),
        Presence::Ours(svc) => {
            let mut current = svc.raw.clone();
            // Only what changed is sent: UpdateService starts a new deployment when it is given a
            // task definition, network configuration or load balancers ("UpdateService", ECS API
            // Reference), and a scale change alone must not roll every task.
            let diff = differences(t, &svc.raw);
            if !diff.fields.is_empty() {
                let out = aws
                    .call(
                        "ecs",
                        "UpdateService",
                        aws.ecs
                            .update_service()
                            .cluster(cluster)
                            .service(&d.name)
                            .set_desired_count(diff.desired_count.then_some(d.desired_count))
                            .set_task_definition(
                                diff.task_definition.then(|| t.task_definition.to_string()),
                            )
                            .set_network_configuration(
                                diff.network.then(|| network(d)).transpose()?,
                            )
                            .set_deployment_configuration(
                                diff.deployment.then(|| deployment(d)).transpose()?,
                            )
                            .set_load_balancers(diff.load_balancers.then(|| load_balancers(t)))
                            .set_health_check_grace_period_seconds(
                                d.health_check_grace_seconds.filter(|_| diff.grace_period),
                            )
                            .set_service_connect_configuration(
                                diff.service_connect.then(|| service_connect(t)).transpose()?,
                            )
                            .send(),
                    )
                    .await?;
                current = out.service().cloned().unwrap_or(current);
            }
            let mut missing = tags::missing(tags, &svc.tags);
            if diff.service_connect {
                missing.insert(tag::SERVICE_CONNECT.into(), t.service_connect_digest());
            }
            if !missing.is_empty() {
                aws.call(
                    "ecs",
                    "TagResource",
                    aws.ecs
                        .tag_resource()
                        .resource_arn(&svc.arn)
                        .set_tags(Some(tags::ecs(&missing)))
                        .send(),
                )
                .await?;
            }
            Ok(current)
        }
        Presence::Missing => {
            let token = client_token(owner, &d.name, t.task_definition);
            let mut tags = tags.clone();
            if d.service_connect.is_some() {
                tags.insert(tag::SERVICE_CONNECT.into(), t.service_connect_digest());
            }
            let out = aws
                .call(
                    "ecs",
                    "CreateService",
                    aws.ecs
                        .create_service()
                        .cluster(cluster)
                        .service_name(&d.name)
                        .task_definition(t.task_definition)
                        .desired_count(d.desired_count)
                        .launch_type(LaunchType::Fargate)
                        .network_configuration(network(d)?)
                        .deployment_configuration(deployment(d)?)
                        .set_load_balancers(Some(load_balancers(t)))
                        .set_health_check_grace_period_seconds(d.health_check_grace_seconds)
                        .set_service_connect_configuration(
                            d.service_connect.as_ref().map(|_| service_connect(t)).transpose()?,
                        )
                        .client_token(token)
                        .propagate_tags(PropagateTags::Service)
                        .enable_ecs_managed_tags(true)
                        .set_tags(Some(tags::ecs(&tags)))
                        .send(),
                )
                .await?;
            out.service()
                .cloned()
                .ok_or_else(|| AwsError::unexpected("CreateService", "no service in the response"))
        }
    }
}

/// A client token unique to this create request ("You should not reuse the same client token for
/// other API requests", ECS API Reference, "Ensuring idempotency"; at most 36 characters). The
/// SDK's own retries of the request reuse it, so a create whose response was lost succeeds on
/// retry; a later create (after the service was deleted) gets a new one.
fn client_token(owner: &Owner, name: &str, task_definition: &str) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed =
        format!("{}:{name}:{task_definition}:{now}:{}:{sequence}", owner.uid, std::process::id());
    format!("{:016x}", crate::desired::naming::fnv1a(seed.as_bytes()))
}

/// Scales the service to zero, then deletes it. Missing is success.
pub async fn delete(aws: &Aws, cluster: &str, name: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "ecs",
            "UpdateService",
            aws.ecs.update_service().cluster(cluster).service(name).desired_count(0).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() || e.code == "ServiceNotActiveException" => return Ok(()),
        other => other.map(|_| ())?,
    }
    match aws
        .call(
            "ecs",
            "DeleteService",
            aws.ecs.delete_service().cluster(cluster).service(name).force(true).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() || e.code == "ServiceNotActiveException" => Ok(()),
        other => other.map(|_| ()),
    }
}
