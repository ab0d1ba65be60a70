//! A service's autoscaling: the Application Auto Scaling scalable target on its ECS desired count
//! and the target-tracking policies `byoc-cpu`, `byoc-memory`, `byoc-requests`. Observed from the
//! account's snapshot (`list`) or with `DescribeScalableTargets` + `DescribeScalingPolicies`;
//! `diff` is pure; `act` registers, puts and deletes.
//!
//! Ownership: a scalable target is the autoscaling *of* one ECS service (its resource id is the
//! service), so it belongs to whoever owns the service: only our services' targets are observed
//! or changed, and the service's spec alone decides whether it scales. We tag the target when we
//! register it (`RegisterScalableTarget` `Tags`: cost allocation, IAM conditions, inventories), but
//! never need to read those tags back. Policies cannot be tagged: ours are the `byoc-` ones;
//! others' policies on the target are never changed or deleted one by one. AWS facts (Application Auto Scaling API Reference): `PutScalingPolicy` on an
//! existing policy name updates it in place; `DeregisterScalableTarget` deletes the target's
//! policies and their CloudWatch alarms; the target outlives the ECS service, so teardown
//! deregisters it first (before scaling to zero, or the autoscaler would scale back up).

use std::collections::HashMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use super::{
    Action, Change, FieldChange, Kind, Presence,
    cache::{ObserveCache, key},
    tags::Tags,
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredScaling, Metric, scaling::POLICY_PREFIX},
};

/// A scalable target as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub arn: String,
    pub min: i32,
    pub max: i32,
}

/// A target-tracking policy as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRow {
    pub name: String,
    pub metric: String,
    pub resource_label: Option<String>,
    pub target: f64,
    pub scale_in_cooldown: Option<i32>,
    pub scale_out_cooldown: Option<i32>,
}

/// What Application Auto Scaling holds for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub target: TargetRow,
    /// Only ours (`byoc-`).
    pub policies: Vec<PolicyRow>,
}

/// Every ECS scalable target and policy of the account (for the snapshot), by resource id:
/// `DescribeScalableTargets` 50 and `DescribeScalingPolicies` 10 per page.
pub async fn list(
    aws: &Aws,
) -> Result<(HashMap<String, TargetRow>, HashMap<String, Vec<PolicyRow>>), AwsError> {
    let mut targets = HashMap::new();
    let mut token = None;
    loop {
        let out = aws
            .call(
                "autoscaling",
                "DescribeScalableTargets",
                aws.autoscaling
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::Ecs)
                    .max_results(50)
                    .set_next_token(token)
                    .send(),
            )
            .await?;
        let before = targets.len();
        for t in out.scalable_targets() {
            targets.insert(t.resource_id().to_string(), target_row(t));
        }
        // A page that adds nothing ends the listing, whatever its token says (some emulators
        // hand the same page out again).
        token = out.next_token().map(str::to_string).filter(|_| targets.len() > before);
        if token.is_none() {
            break;
        }
    }
    let mut policies: HashMap<String, Vec<PolicyRow>> = HashMap::new();
    if targets.is_empty() {
        return Ok((targets, policies));
    }
    let (mut token, mut seen) = (None, std::collections::HashSet::new());
    loop {
        let out = aws
            .call(
                "autoscaling",
                "DescribeScalingPolicies",
                aws.autoscaling
                    .describe_scaling_policies()
                    .service_namespace(ServiceNamespace::Ecs)
                    .max_results(10)
                    .set_next_token(token)
                    .send(),
            )
            .await?;
        let before = seen.len();
        for p in out.scaling_policies() {
            if !seen.insert(p.policy_arn().to_string()) {
                continue;
            }
            if let Some(row) = policy_row(p) {
                policies.entry(p.resource_id().to_string()).or_default().push(row);
            }
        }
        token = out.next_token().map(str::to_string).filter(|_| seen.len() > before);
        if token.is_none() {
            return Ok((targets, policies));
        }
    }
}

fn target_row(t: &aws_sdk_applicationautoscaling::types::ScalableTarget) -> TargetRow {
    TargetRow {
        arn: t.scalable_target_arn().unwrap_or_default().to_string(),
        min: t.min_capacity(),
        max: t.max_capacity(),
    }
}

/// Our target-tracking policies only.
fn policy_row(p: &aws_sdk_applicationautoscaling::types::ScalingPolicy) -> Option<PolicyRow> {
    if !p.policy_name().starts_with(POLICY_PREFIX) {
        return None;
    }
    let cfg = p.target_tracking_scaling_policy_configuration();
    let metric = cfg.and_then(|c| c.predefined_metric_specification());
    Some(PolicyRow {
        name: p.policy_name().to_string(),
        metric: metric.map(|m| m.predefined_metric_type().as_str().to_string()).unwrap_or_default(),
        resource_label: metric.and_then(|m| m.resource_label()).map(str::to_string),
        target: cfg.map_or(0.0, |c| c.target_value()),
        scale_in_cooldown: cfg.and_then(|c| c.scale_in_cooldown()),
        scale_out_cooldown: cfg.and_then(|c| c.scale_out_cooldown()),
    })
}

/// The scalable target and our policies on it of a service of ours.
pub async fn observe(
    aws: &Aws,
    resource_id: &str,
    cache: &ObserveCache,
) -> Result<Presence<Scaling>, AwsError> {
    let (target, policies) = match cache.listed(&key::scaling(resource_id)) {
        Some(snap) => match snap.scalable_targets.get(resource_id) {
            None => return Ok(Presence::Missing),
            Some(t) => {
                (t.clone(), snap.scaling_policies.get(resource_id).cloned().unwrap_or_default())
            }
        },
        None => match describe(aws, resource_id).await? {
            None => return Ok(Presence::Missing),
            Some(found) => found,
        },
    };
    Ok(Presence::Ours(Scaling { target, policies }))
}

async fn describe(
    aws: &Aws,
    resource_id: &str,
) -> Result<Option<(TargetRow, Vec<PolicyRow>)>, AwsError> {
    let out = aws
        .call(
            "autoscaling",
            "DescribeScalableTargets",
            aws.autoscaling
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_ids(resource_id)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .send(),
        )
        .await?;
    let Some(target) = out.scalable_targets().iter().find(|t| t.resource_id() == resource_id)
    else {
        return Ok(None);
    };
    let out = aws
        .call(
            "autoscaling",
            "DescribeScalingPolicies",
            aws.autoscaling
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(resource_id)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .max_results(10)
                .send(),
        )
        .await?;
    // Only this target's: some emulators match the resource id as a substring.
    let policies = out
        .scaling_policies()
        .iter()
        .filter(|p| p.resource_id() == resource_id)
        .filter_map(policy_row)
        .collect();
    Ok(Some((target_row(target), policies)))
}

/// What the request policy's resource label should be, given the ARNs the pipeline knows
/// (`None` before the target group exists).
pub type RequestLabel<'a> = Option<&'a str>;

/// The scalable target's resource id of a stack's ECS service.
pub fn resource_id(stack: &crate::desired::DesiredStack) -> String {
    crate::desired::scaling::resource_id(&stack.cluster, &stack.service.name)
}

/// The changes that bring the observed scaling to `desired` (pure). Without `desired`, our
/// policies and the target go (autoscaling was removed: the desired count is the spec's again).
pub fn diff(
    desired: Option<&DesiredScaling>,
    label: RequestLabel<'_>,
    observed: &Presence<Scaling>,
) -> Vec<Change> {
    let mut out = Vec::new();
    match (desired, observed) {
        (_, Presence::Foreign(_)) | (None, Presence::Missing) => {}
        (None, Presence::Ours(s)) => {
            out.extend(
                s.policies
                    .iter()
                    .map(|p| Change::new(Kind::ScalingPolicy, &p.name, Action::Delete)),
            );
            out.push(Change::new(Kind::ScalableTarget, &s.target.arn, Action::Delete));
        }
        (Some(d), Presence::Missing) => {
            out.push(Change::new(Kind::ScalableTarget, &d.resource_id, Action::Create));
            out.extend(
                d.policies
                    .iter()
                    .map(|p| Change::new(Kind::ScalingPolicy, &p.name, Action::Create)),
            );
        }
        (Some(d), Presence::Ours(s)) => {
            let mut fields = Vec::new();
            if s.target.min != d.min {
                fields.push(FieldChange::new("minCapacity", s.target.min, d.min));
            }
            if s.target.max != d.max {
                fields.push(FieldChange::new("maxCapacity", s.target.max, d.max));
            }
            if !fields.is_empty() {
                out.push(Change::new(Kind::ScalableTarget, &d.resource_id, Action::Update(fields)));
            }
            for p in &d.policies {
                let want_label = match p.metric {
                    Metric::Requests => Some(label.unwrap_or("(new target group)")),
                    _ => None,
                };
                match s.policies.iter().find(|o| o.name == p.name) {
                    None => out.push(Change::new(Kind::ScalingPolicy, &p.name, Action::Create)),
                    Some(o) => {
                        let mut fields = Vec::new();
                        if o.metric != p.metric.predefined() {
                            fields.push(FieldChange::new(
                                "metric",
                                &o.metric,
                                p.metric.predefined(),
                            ));
                        }
                        if o.resource_label.as_deref() != want_label {
                            fields.push(FieldChange::new(
                                "resourceLabel",
                                o.resource_label.as_deref().unwrap_or("none"),
                                want_label.unwrap_or("none"),
                            ));
                        }
                        if o.target != f64::from(p.target) {
                            fields.push(FieldChange::new("targetValue", o.target, p.target));
                        }
                        if o.scale_in_cooldown != Some(p.scale_in_cooldown) {
                            fields.push(FieldChange::new(
                                "scaleInCooldown",
                                o.scale_in_cooldown.map_or("unset".into(), |v| v.to_string()),
                                p.scale_in_cooldown,
                            ));
                        }
                        if o.scale_out_cooldown != Some(p.scale_out_cooldown) {
                            fields.push(FieldChange::new(
                                "scaleOutCooldown",
                                o.scale_out_cooldown.map_or("unset".into(), |v| v.to_string()),
                                p.scale_out_cooldown,
                            ));
                        }
                        if !fields.is_empty() {
                            out.push(Change::new(
                                Kind::ScalingPolicy,
                                &p.name,
                                Action::Update(fields),
                            ));
                        }
                    }
                }
            }
            out.extend(
                s.policies
                    .iter()
                    .filter(|o| !d.policies.iter().any(|p| p.name == o.name))
                    .map(|o| Change::new(Kind::ScalingPolicy, &o.name, Action::Delete)),
            );
        }
    }
    out
}

/// Carries out `diff`'s changes. `label` is the request policy's resource label (the target
/// group exists by now).
pub async fn act(
    aws: &Aws,
    resource_id: &str,
    desired: Option<&DesiredScaling>,
    label: RequestLabel<'_>,
    observed: &Presence<Scaling>,
    tags: &Tags,
    cache: &ObserveCache,
) -> Result<(), AwsError> {
    let changes = diff(desired, label, observed);
    if changes.is_empty() {
        return Ok(());
    }
    cache.touch([key::scaling(resource_id)]);
    for change in &changes {
        match (change.kind, &change.action, desired) {
            (Kind::ScalableTarget, Action::Delete, _) => {
                deregister(aws, resource_id).await?;
                // Deregistering took the policies with it.
                return Ok(());
            }
            (Kind::ScalableTarget, action, Some(d)) => {
                // Tags go with the create only; an update of our target keeps them.
                let tags = (*action == Action::Create).then_some(tags);
                register(aws, d, tags).await?
            }
            (Kind::ScalingPolicy, Action::Delete, _) => {
                delete_policy(aws, resource_id, &change.id).await?;
            }
            (Kind::ScalingPolicy, _, Some(d)) => {
                if let Some(p) = d.policies.iter().find(|p| p.name == change.id) {
                    let label = (p.metric == Metric::Requests).then_some(label).flatten();
                    put_policy(aws, d, p, label).await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

async fn register(aws: &Aws, d: &DesiredScaling, tags: Option<&Tags>) -> Result<(), AwsError> {
    aws.call(
        "autoscaling",
        "RegisterScalableTarget",
        aws.autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&d.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(d.min)
            .max_capacity(d.max)
            .set_tags(tags.map(|t| t.clone().into_iter().collect()))
            .send(),
    )
    .await
    .map(|_| ())
}

async fn put_policy(
    aws: &Aws,
    d: &DesiredScaling,
    p: &crate::desired::DesiredPolicy,
    label: Option<&str>,
) -> Result<(), AwsError> {
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(p.metric.predefined()))
        .set_resource_label(label.map(str::to_string))
        .build()
        .map_err(|e| AwsError::unexpected("PutScalingPolicy", e.to_string()))?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(f64::from(p.target))
        .predefined_metric_specification(metric)
        .scale_in_cooldown(p.scale_in_cooldown)
        .scale_out_cooldown(p.scale_out_cooldown)
        .build()
        .map_err(|e| AwsError::unexpected("PutScalingPolicy", e.to_string()))?;
    aws.call(
        "autoscaling",
        "PutScalingPolicy",
        aws.autoscaling
            .put_scaling_policy()
            .policy_name(&p.name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&d.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send(),
    )
    .await
    .map(|_| ())
}

async fn delete_policy(aws: &Aws, resource_id: &str, name: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "autoscaling",
            "DeleteScalingPolicy",
            aws.autoscaling
                .delete_scaling_policy()
                .policy_name(name)
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(resource_id)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Deregisters the service's scalable target (its policies and their alarms go with it). Missing
/// is success.
pub async fn deregister(aws: &Aws, resource_id: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "autoscaling",
            "DeregisterScalableTarget",
            aws.autoscaling
                .deregister_scalable_target()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_id(resource_id)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// What the status shows: the bounds, the policies in force and the service's counts.
pub fn status(
    d: &DesiredScaling,
    desired_count: i32,
    running: i32,
) -> crate::api::AutoscalingStatus {
    crate::api::AutoscalingStatus {
        min_replicas: d.min,
        max_replicas: d.max,
        desired_replicas: desired_count,
        running_replicas: running,
        policies: d.policies.iter().map(|p| p.metric.short().to_string()).collect(),
    }
}
