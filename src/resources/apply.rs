//! Carrying out a service's plan: creates and updates in dependency order (repository, log group,
//! secrets, target group, rule, task definition, service), what the stack left behind removed,
//! and the rollout read from the service as ECS describes it after the changes. IO through each
//! kind's `act`; the decisions come from `engine::plan`'s pure pieces.

use std::collections::BTreeMap;

use super::{
    Action, Change, Kind, Plan, Presence,
    account::AccountState,
    cache::ObserveCache,
    engine::{EngineError, Observed, deployable, failed_revision, known, plan, request_label},
    log_group, repository, rollout,
    rule::{self, ListenerRule},
    scaling, secret,
    service::{self, EcsService, Target},
    stale::{self, Stale},
    target_group, task_definition,
};
use crate::{
    api::{ResourceError, ResourceState, ResourceStatus, Rollout},
    aws::{Aws, AwsError},
    desired::DesiredStack,
};

/// The outcome of `apply`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub plan: Plan,
    pub resources: Vec<ResourceStatus>,
    pub rollout: Rollout,
    pub url: Option<String>,
    /// `name:port` of each port served privately (Service Connect).
    pub private_addresses: Vec<String>,
    /// The autoscaler's bounds and choice, when `spec.autoscaling` is set.
    pub autoscaling: Option<crate::api::AutoscalingStatus>,
}

fn ready(kind: Kind, id: impl Into<String>) -> ResourceStatus {
    ResourceStatus {
        kind: kind.as_str().into(),
        id: id.into(),
        state: ResourceState::Ready,
        last_error: None,
    }
}

/// Carries out the plan in dependency order: repository, log group, secrets, target group, rule,
/// task definition, service. Returns what exists afterwards and the rollout state. What it
/// changed, or failed to, is read directly from AWS until a later snapshot shows it.
pub async fn apply(
    aws: &Aws,
    stack: &DesiredStack,
    o: &Observed,
    account: &AccountState,
    cache: &ObserveCache,
) -> Result<Applied, EngineError> {
    let result = apply_plan(aws, stack, o, account, cache).await;
    if result.as_ref().map_or(true, |a| !a.plan.is_empty()) {
        // Rules on other listeners that it removed are forgotten by `stale::remove`.
        let own: Vec<String> = o.listener_arn.iter().cloned().collect();
        cache.touch_stack(stack, &own);
    }
    result
}

async fn apply_plan(
    aws: &Aws,
    stack: &DesiredStack,
    o: &Observed,
    account: &AccountState,
    cache: &ObserveCache,
) -> Result<Applied, EngineError> {
    let plan = plan(stack, o)?;
    for change in &plan.changes {
        change.log();
    }
    let tags = &stack.tags;
    let mut resources = Vec::new();
    if let (Some(r), Some(obs)) = (&stack.repository, &o.repository) {
        if plan.of(Kind::Repository).next().is_some() {
            repository::act(aws, r, tags, obs)
                .await
                .map_err(EngineError::aws(Kind::Repository, &r.name))?;
        }
        resources.push(ready(Kind::Repository, &r.name));
    }
    if plan.of(Kind::LogGroup).next().is_some() {
        log_group::act(aws, &stack.log_group, tags, &o.log_group)
            .await
            .map_err(EngineError::aws(Kind::LogGroup, &stack.log_group.name))?;
    }
    resources.push(ready(Kind::LogGroup, &stack.log_group.name));
    let mut secret_arns = BTreeMap::new();
    for (s, obs) in stack.secrets.iter().zip(&o.secrets) {
        let arn = match (secret::diff(s, tags, obs), obs) {
            (None, Presence::Ours(existing)) => existing.arn.clone(),
            _ => secret::act(aws, s, tags, obs)
                .await
                .map_err(EngineError::aws(Kind::Secret, &s.name))?,
        };
        resources.push(ready(Kind::Secret, &arn));
        secret_arns.insert(s.env_name.clone(), arn);
    }
    let mut tg_arn = None;
    let mut replaced_tg = None;
    if let (Some(ing), Some(obs)) = (&stack.ingress, &o.target_group) {
        let listener = o.listener_arn.as_deref().ok_or_else(|| {
            EngineError::AccountNotReady(format!("load balancer {}", ing.load_balancer))
        })?;
        let change = target_group::diff(ing, tags, obs);
        let arn = match (&change, obs) {
            (None, Presence::Ours(tg)) => tg.arn.clone(),
            (Some(Change { action: Action::Replace(_), .. }), Presence::Ours(old)) => {
                cache.invalidate_listener(listener);
                cache.invalidate_service(&stack.cluster, &stack.service.name);
                // The name is taken by the old group until it is deleted, which needs the rule
                // and the service detached first: delete the rule, detach, delete, recreate.
                for r in rule::owned(&o.rules, &stack.owner) {
                    rule::delete_rule(aws, &r.arn)
                        .await
                        .map_err(EngineError::aws(Kind::ListenerRule, &r.arn))?;
                }
                replaced_tg = Some(old.arn.clone());
                if let Presence::Ours(svc) = &o.service {
                    detach(aws, &stack.cluster, svc)
                        .await
                        .map_err(EngineError::aws(Kind::EcsService, &svc.arn))?;
                }
                target_group::delete(aws, &old.arn)
                    .await
                    .map_err(EngineError::aws(Kind::TargetGroup, &old.arn))?;
                target_group::act(aws, ing, tags, &Presence::Missing)
                    .await
                    .map_err(EngineError::aws(Kind::TargetGroup, &ing.target_group_name))?
            }
            _ => target_group::act(aws, ing, tags, obs)
                .await
                .map_err(EngineError::aws(Kind::TargetGroup, &ing.target_group_name))?,
        };
        resources.push(ready(Kind::TargetGroup, &arn));
        let rules: Vec<ListenerRule> = if replaced_tg.is_some() {
            o.rules
                .iter()
                .filter(|r| r.owner.as_deref() != Some(stack.owner.key().as_str()))
                .cloned()
                .collect()
        } else {
            o.rules.clone()
        };
        if rule::diff(ing, Some(&arn), &rules, &stack.owner).is_some() {
            cache.invalidate_listener(listener);
            let created = rule::act(aws, listener, ing, &arn, &rules, &stack.owner, tags)
                .await
                .map_err(EngineError::aws(Kind::ListenerRule, listener))?;
            // A new rule's tags are ours: the next listing need not read them.
            if let Some(rule) = created {
                cache.put_tags(&rule, tags.clone());
            }
        }
        resources.push(ready(
            Kind::ListenerRule,
            format!(
                "{} {}",
                ing.load_balancer,
                ing.hosts.iter().chain(&ing.paths).cloned().collect::<Vec<_>>().join(" ")
            ),
        ));
        tg_arn = Some(arn);
    }
    let current_arns: BTreeMap<String, Option<String>> =
        secret_arns.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let td_arn = match (
        task_definition::diff(&stack.task_definition, o.task_definition.as_ref(), &current_arns),
        &o.task_definition,
    ) {
        (None, Some(td)) => td.arn.clone(),
        _ => task_definition::register(aws, &stack.task_definition, &secret_arns, tags)
            .await
            .map_err(EngineError::aws(Kind::TaskDefinition, &stack.task_definition.family))?,
    };
    resources.push(ready(Kind::TaskDefinition, &td_arn));
    let failed = failed_revision(o, &td_arn);
    if let Some(f) = failed.as_ref().filter(|f| !f.recorded) {
        task_definition::mark_failed(aws, &td_arn, &f.message)
            .await
            .map_err(EngineError::aws(Kind::TaskDefinition, &td_arn))?;
    }
    let known = known(o, &td_arn);
    let service_raw = o.service.ours().map(|s| &s.raw);
    if let Some(f) = &failed
        && service_raw.is_none()
    {
        // Creating the service would only launch the failing revision again.
        if o.stale != Stale::default() {
            stale::remove(aws, stack, &o.stale, cache).await?;
        }
        let rollout = rollout::failed_rollout(None, &td_arn, f, known);
        let url = stack.ingress.as_ref().map(|ing| url(ing, account));
        return Ok(Applied {
            plan,
            resources,
            rollout,
            url,
            private_addresses: Vec::new(),
            autoscaling: None,
        });
    }
    let deploy = deployable(o, &td_arn, failed.is_some());
    if let Some(sc) = &stack.service.service_connect
        && o.namespace_arn.is_none()
    {
        return Err(EngineError::AccountNotReady(format!(
            "the Service Connect namespace {}",
            sc.namespace
        )));
    }
    let target = Target {
        desired: &stack.service,
        task_definition: &deploy,
        target_group: tg_arn.as_deref(),
        container_port: stack.ingress.as_ref().map(|i| i.container_port),
        namespace_arn: o.namespace_arn.as_deref(),
    };
    let service_now = match (&o.service, replaced_tg.is_some()) {
        (Presence::Ours(svc), false) if service::diff(&target, tags, &o.service).is_none() => {
            svc.raw.clone()
        }
        _ => {
            cache.invalidate_service(&stack.cluster, &stack.service.name);
            service::act(aws, &stack.cluster, &target, tags, &o.service, &stack.owner)
                .await
                .map_err(EngineError::aws(Kind::EcsService, &stack.service.name))?
        }
    };
    // The autoscaler needs the service; without `autoscaling` its target goes.
    let label = request_label(stack, o, tg_arn.as_deref());
    if stack
        .autoscaling
        .as_ref()
        .is_some_and(|a| a.policies.iter().any(|p| p.metric == crate::desired::Metric::Requests))
        && label.is_none()
    {
        return Err(EngineError::AccountNotReady(format!(
            "load balancer {}",
            stack.ingress.as_ref().map_or("", |i| i.load_balancer.as_str())
        )));
    }
    let resource_id = scaling::resource_id(stack);
    scaling::act(
        aws,
        &resource_id,
        stack.autoscaling.as_ref(),
        label.as_deref(),
        &o.scaling,
        tags,
        cache,
    )
    .await
    .map_err(EngineError::aws(Kind::ScalableTarget, &resource_id))?;
    // The service no longer uses what it left behind: remove it now.
    if o.stale != Stale::default() {
        stale::remove(aws, stack, &o.stale, cache).await?;
    }
    let rollout = match &failed {
        Some(f) => rollout::failed_rollout(Some(&service_now), &td_arn, f, known),
        None => rollout::rollout(
            &service_now,
            &td_arn,
            known,
            Some(rollout::Deadline::from_now(stack.service.progress_deadline_seconds)),
        ),
    };
    // The deployment that rolls out this revision, recorded on the revision once ECS named it.
    if failed.is_none()
        && let Some(id) = rollout.deployment_id.as_deref()
        && known.deployment != Some(id)
        && service_now.task_definition() == Some(td_arn.as_str())
    {
        task_definition::record_deployment(aws, &td_arn, id)
            .await
            .map_err(EngineError::aws(Kind::TaskDefinition, &td_arn))?;
    }
    let mut svc_status =
        ready(Kind::EcsService, service_now.service_arn().unwrap_or(&stack.service.name));
    if rollout.state != crate::api::RolloutState::Completed {
        svc_status.state = ResourceState::Pending;
    }
    resources.push(svc_status);
    if stack.autoscaling.is_some() {
        resources.push(ready(Kind::ScalableTarget, &resource_id));
    }
    let url = stack.ingress.as_ref().map(|ing| url(ing, account));
    // Registering the bounds moved the count into them at once (the autoscaler does that).
    let autoscaling = stack.autoscaling.as_ref().map(|a| {
        let desired = service_now.desired_count().clamp(a.min, a.max.max(a.min));
        scaling::status(a, desired, service_now.running_count())
    });
    let private_addresses =
        stack.service.service_connect.as_ref().map(|c| c.addresses()).unwrap_or_default();
    Ok(Applied { plan, resources, rollout, url, private_addresses, autoscaling })
}

fn url(ing: &crate::desired::DesiredIngress, account: &AccountState) -> String {
    match (
        ing.hosts.is_empty(),
        account.load_balancers.get(&ing.load_balancer).and_then(|l| l.dns_name.clone()),
    ) {
        (true, Some(dns)) => ing.url.replace("<load-balancer-dns>", &dns),
        _ => ing.url.clone(),
    }
}

async fn detach(aws: &Aws, cluster: &str, svc: &EcsService) -> Result<(), AwsError> {
    aws.call(
        "ecs",
        "UpdateService",
        aws.ecs
            .update_service()
            .cluster(cluster)
            .service(&svc.arn)
            .set_load_balancers(Some(vec![]))
            .send(),
    )
    .await
    .map(|_| ())
}

/// A resource status entry for a failed AWS call.
pub fn failed(kind: Kind, id: &str, e: &AwsError) -> ResourceStatus {
    ResourceStatus {
        kind: kind.as_str().into(),
        id: id.into(),
        state: ResourceState::Failed,
        last_error: Some(ResourceError {
            operation: e.operation.into(),
            code: e.code.clone(),
            message: e.message.clone(),
        }),
    }
}
