//! Target group of a service with ingress (`ip` targets, HTTP health check): observe by name (from
//! the account's snapshot when it can tell), diff health settings, deregistration delay and tags, create, modify or replace. `diff` is pure;
//! `observe` and `act` call ELBv2 through `Aws::call`.
//!
//! A container port change never replaces the group: ECS registers each `ip` target with the
//! service's `containerPort`, so the group's own port is only a default ("Target groups for your
//! Application Load Balancers", target type `ip`; ECS `LoadBalancer.containerPort`), and the
//! health check follows the target with `traffic-port`. Only a VPC change replaces it. The
//! deregistration delay (AWS's default is 300 s, "Deregistration delay" in the same guide) is set
//! with `ModifyTargetGroupAttributes` and remembered in a tag, so it is not read back every round.

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};

use super::{
    Action, Change, FieldChange, Kind, Presence,
    cache::{ObserveCache, key},
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredIngress, Owner, tag},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    pub arn: String,
    pub port: i32,
    pub vpc_id: String,
    pub health_path: String,
    pub health_port: String,
    pub interval: i32,
    pub timeout: i32,
    pub healthy: i32,
    pub unhealthy: i32,
    pub matcher: String,
    /// The deregistration delay we set, from our tag.
    pub deregistration_delay: Option<i32>,
    /// Load balancers it is attached to (through a listener rule).
    pub load_balancers: Vec<String>,
    pub tags: Tags,
}

/// From the account's snapshot when it can tell, else from ELBv2 directly.
pub async fn observe(
    aws: &Aws,
    name: &str,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Presence<TargetGroup>, AwsError> {
    if let Some(snap) = cache.listed(&key::target_group(name)) {
        let Some(tg) = snap.target_groups.get(name) else { return Ok(Presence::Missing) };
        if let Some(tags) = tg.target_group_arn().and_then(|arn| cache.tags(arn)) {
            return Ok(presence(name, tg, tags, owner));
        }
    }
    let out = match aws
        .call("elbv2", "DescribeTargetGroups", aws.elb.describe_target_groups().names(name).send())
        .await
    {
        Err(e) if e.is_not_found() => return Ok(Presence::Missing),
        other => other?,
    };
    let Some(tg) = out.target_groups().first() else { return Ok(Presence::Missing) };
    let arn = tg.target_group_arn().unwrap_or_default().to_string();
    let described = aws
        .call("elbv2", "DescribeTags", aws.elb.describe_tags().resource_arns(&arn).send())
        .await?;
    let tags =
        described.tag_descriptions().first().map(|d| tags::from_elb(d.tags())).unwrap_or_default();
    Ok(presence(name, tg, tags, owner))
}

fn presence(
    name: &str,
    tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    tags: Tags,
    owner: &Owner,
) -> Presence<TargetGroup> {
    if !owner.owns(&tags) {
        return Presence::Foreign(name.to_string());
    }
    Presence::Ours(TargetGroup {
        arn: tg.target_group_arn().unwrap_or_default().to_string(),
        port: tg.port().unwrap_or_default(),
        vpc_id: tg.vpc_id().unwrap_or_default().to_string(),
        health_path: tg.health_check_path().unwrap_or("/").to_string(),
        health_port: tg.health_check_port().unwrap_or(TRAFFIC_PORT).to_string(),
        interval: tg.health_check_interval_seconds().unwrap_or_default(),
        timeout: tg.health_check_timeout_seconds().unwrap_or_default(),
        healthy: tg.healthy_threshold_count().unwrap_or_default(),
        unhealthy: tg.unhealthy_threshold_count().unwrap_or_default(),
        matcher: tg.matcher().and_then(|m| m.http_code()).unwrap_or_default().to_string(),
        deregistration_delay: tags.get(tag::DEREGISTRATION_DELAY).and_then(|v| v.parse().ok()),
        load_balancers: tg.load_balancer_arns().to_vec(),
        tags,
    })
}

const TRAFFIC_PORT: &str = "traffic-port";

fn health_port(desired: &DesiredIngress) -> String {
    desired.health_check_port.map_or(TRAFFIC_PORT.to_string(), |p| p.to_string())
}

fn health_changes(desired: &DesiredIngress, tg: &TargetGroup) -> Vec<FieldChange> {
    let h = &desired.health;
    let mut fields = Vec::new();
    if tg.health_path != h.path {
        fields.push(FieldChange::new("healthCheck.path", &tg.health_path, &h.path));
    }
    if tg.health_port != health_port(desired) {
        fields.push(FieldChange::new("healthCheck.port", &tg.health_port, health_port(desired)));
    }
    if tg.interval != h.interval_seconds {
        fields.push(FieldChange::new(
            "healthCheck.intervalSeconds",
            tg.interval,
            h.interval_seconds,
        ));
    }
    if tg.timeout != h.timeout_seconds {
        fields.push(FieldChange::new("healthCheck.timeoutSeconds", tg.timeout, h.timeout_seconds));
    }
    if tg.healthy != h.healthy_threshold {
        fields.push(FieldChange::new(
            "healthCheck.healthyThreshold",
            tg.healthy,
            h.healthy_threshold,
        ));
    }
    if tg.unhealthy != h.unhealthy_threshold {
        fields.push(FieldChange::new(
            "healthCheck.unhealthyThreshold",
            tg.unhealthy,
            h.unhealthy_threshold,
        ));
    }
    if tg.matcher != h.success_codes {
        fields.push(FieldChange::new("healthCheck.successCodes", &tg.matcher, &h.success_codes));
    }
    fields
}

pub fn diff(
    desired: &DesiredIngress,
    tags: &Tags,
    observed: &Presence<TargetGroup>,
) -> Option<Change> {
    let action = match observed {
        Presence::Missing => Action::Create,
        Presence::Foreign(_) => return None,
        Presence::Ours(tg) if tg.vpc_id != desired.vpc_id => {
            Action::Replace(format!("VPC {} → {}", tg.vpc_id, desired.vpc_id))
        }
        Presence::Ours(tg) => {
            let mut fields = health_changes(desired, tg);
            if tg.deregistration_delay != Some(desired.deregistration_delay) {
                fields.push(FieldChange::new(
                    "deregistrationDelay",
                    tg.deregistration_delay.map_or("unset".into(), |d| format!("{d}s")),
                    format!("{}s", desired.deregistration_delay),
                ));
            }
            if !tags::missing(tags, &tg.tags).is_empty() {
                fields.push(FieldChange::new("tags", "outdated", "current"));
            }
            if fields.is_empty() {
                return None;
            }
            Action::Update(fields)
        }
    };
    Some(Change::new(Kind::TargetGroup, &desired.target_group_name, action))
}

/// Creates the target group, or brings its health check and tags up to date; returns its ARN.
/// A replace is carried out by the engine (delete after detaching, then create).
pub async fn act(
    aws: &Aws,
    desired: &DesiredIngress,
    tags: &Tags,
    observed: &Presence<TargetGroup>,
) -> Result<String, AwsError> {
    let h = &desired.health;
    match observed {
        Presence::Ours(tg) if tg.vpc_id == desired.vpc_id => {
            if !health_changes(desired, tg).is_empty() {
                aws.call(
                    "elbv2",
                    "ModifyTargetGroup",
                    aws.elb
                        .modify_target_group()
                        .target_group_arn(&tg.arn)
                        .health_check_path(&h.path)
                        .health_check_port(health_port(desired))
                        .health_check_interval_seconds(h.interval_seconds)
                        .health_check_timeout_seconds(h.timeout_seconds)
                        .healthy_threshold_count(h.healthy_threshold)
                        .unhealthy_threshold_count(h.unhealthy_threshold)
                        .matcher(Matcher::builder().http_code(&h.success_codes).build())
                        .send(),
                )
                .await?;
            }
            let mut missing = tags::missing(tags, &tg.tags);
            if tg.deregistration_delay != Some(desired.deregistration_delay) {
                set_deregistration_delay(aws, &tg.arn, desired.deregistration_delay).await?;
                missing.insert(
                    tag::DEREGISTRATION_DELAY.into(),
                    desired.deregistration_delay.to_string(),
                );
            }
            if !missing.is_empty() {
                aws.call(
                    "elbv2",
                    "AddTags",
                    aws.elb
                        .add_tags()
                        .resource_arns(&tg.arn)
                        .set_tags(Some(tags::elb(&missing)))
                        .send(),
                )
                .await?;
            }
            Ok(tg.arn.clone())
        }
        Presence::Foreign(name) => Err(AwsError::unexpected(
            "CreateTargetGroup",
            format!("target group {name} is not ours"),
        )),
        _ => {
            let out = aws
                .call(
                    "elbv2",
                    "CreateTargetGroup",
                    aws.elb
                        .create_target_group()
                        .name(&desired.target_group_name)
                        .protocol(ProtocolEnum::Http)
                        .port(desired.container_port)
                        .vpc_id(&desired.vpc_id)
                        .target_type(TargetTypeEnum::Ip)
                        .health_check_protocol(ProtocolEnum::Http)
                        .health_check_path(&h.path)
                        .health_check_port(health_port(desired))
                        .health_check_interval_seconds(h.interval_seconds)
                        .health_check_timeout_seconds(h.timeout_seconds)
                        .healthy_threshold_count(h.healthy_threshold)
                        .unhealthy_threshold_count(h.unhealthy_threshold)
                        .matcher(Matcher::builder().http_code(&h.success_codes).build())
                        .set_tags(Some(tags::elb(tags)))
                        .send(),
                )
                .await?;
            let arn = out
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .map(str::to_string)
                .ok_or_else(|| {
                    AwsError::unexpected("CreateTargetGroup", "no target group in the response")
                })?;
            // The tag that remembers the delay goes on only once the delay is set.
            set_deregistration_delay(aws, &arn, desired.deregistration_delay).await?;
            let marker = Tags::from([(
                tag::DEREGISTRATION_DELAY.to_string(),
                desired.deregistration_delay.to_string(),
            )]);
            aws.call(
                "elbv2",
                "AddTags",
                aws.elb.add_tags().resource_arns(&arn).set_tags(Some(tags::elb(&marker))).send(),
            )
            .await?;
            Ok(arn)
        }
    }
}

async fn set_deregistration_delay(aws: &Aws, arn: &str, seconds: i32) -> Result<(), AwsError> {
    aws.call(
        "elbv2",
        "ModifyTargetGroupAttributes",
        aws.elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(seconds.to_string())
                    .build(),
            )
            .send(),
    )
    .await
    .map(|_| ())
}

pub async fn delete(aws: &Aws, arn: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "elbv2",
            "DeleteTargetGroup",
            aws.elb.delete_target_group().target_group_arn(arn).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
