//! The generic pipeline for one service: observe every resource, compute the typed plan (pure),
//! and act in dependency order. Owns ordering and ownership checks; each kind's module owns its
//! own AWS calls. Deletion lives in `teardown`.

use std::collections::BTreeMap;

use super::{
    Action, Change, FieldChange, Kind, Plan, Presence,
    account::AccountState,
    cache::ObserveCache,
    log_group::{self, LogGroup},
    priorities,
    repository::{self, Repository},
    rollout,
    rule::{self, ListenerRule},
    secret::{self, Secret},
    service::{self, EcsService, Target},
    stale::{self, Stale},
    target_group::{self, TargetGroup},
    task_definition::{self, TaskDefinition},
};
use crate::{
    api::{ResourceError, ResourceState, ResourceStatus, Rollout},
    aws::{Aws, AwsError, Category},
    desired::DesiredStack,
};

/// Why the pipeline stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "{kind} {name} exists without our ownership tags; it is left untouched: rename or remove it, or delete this service"
    )]
    OwnershipConflict { kind: Kind, name: String },
    #[error(
        "spec.ingress: the route {route} on load balancer {load_balancer} is already claimed by CloudService {owner}; choose another host or path"
    )]
    HostConflict { load_balancer: String, route: String, owner: String },
    #[error("load balancer {0} of the account is not ready yet")]
    AccountNotReady(String),
    #[error("{kind} {id}: {source}")]
    Aws { kind: Kind, id: String, source: AwsError },
}

impl EngineError {
    pub(super) fn aws(kind: Kind, id: &str) -> impl FnOnce(AwsError) -> EngineError + '_ {
        move |source| EngineError::Aws { kind, id: id.to_string(), source }
    }

    /// The AWS error category, if this is an AWS error.
    pub fn category(&self) -> Option<Category> {
        match self {
            EngineError::Aws { source, .. } => Some(source.category),
            _ => None,
        }
    }
}

/// Everything observed about one service's resources.
#[derive(Debug, Clone)]
pub struct Observed {
    pub repository: Option<Presence<Repository>>,
    pub log_group: Presence<LogGroup>,
    pub secrets: Vec<Presence<Secret>>,
    pub target_group: Option<Presence<TargetGroup>>,
    pub listener_arn: Option<String>,
    pub rules: Vec<ListenerRule>,
    pub task_definition: Option<TaskDefinition>,
    pub service: Presence<EcsService>,
    /// What the service had but no longer asks for.
    pub stale: Stale,
    /// The rollout the last status recorded (the controller's; `None` in the CLI): how a
    /// deployment that ECS rolled back and dropped is still known to have failed.
    pub previous_rollout: Option<Rollout>,
}

/// Reads every resource of the stack (no writes).
pub async fn observe(
    aws: &Aws,
    stack: &DesiredStack,
    account: &AccountState,
    cache: &ObserveCache,
) -> Result<Observed, EngineError> {
    let owner = &stack.owner;
    let repository = match &stack.repository {
        Some(r) => Some(
            repository::observe(aws, &r.name, owner)
                .await
                .map_err(EngineError::aws(Kind::Repository, &r.name))?,
        ),
        None => None,
    };
    let log_group = log_group::observe(aws, &stack.log_group.name, owner)
        .await
        .map_err(EngineError::aws(Kind::LogGroup, &stack.log_group.name))?;
    let mut secrets = Vec::new();
    for s in &stack.secrets {
        secrets.push(
            secret::observe(aws, &s.name, owner)
                .await
                .map_err(EngineError::aws(Kind::Secret, &s.name))?,
        );
    }
    let (mut target_group, mut listener_arn, mut rules) = (None, None, Vec::new());
    if let Some(ing) = &stack.ingress {
        target_group = Some(
            target_group::observe(aws, &ing.target_group_name, owner)
                .await
                .map_err(EngineError::aws(Kind::TargetGroup, &ing.target_group_name))?,
        );
        listener_arn =
            account.load_balancers.get(&ing.load_balancer).and_then(|l| l.listener_arn.clone());
        if let Some(arn) = &listener_arn {
            rules = cached_rules(aws, cache, arn, &owner.cluster_id).await?;
        }
    }
    let family = &stack.task_definition.family;
    let task_definition = task_definition::observe(aws, family)
        .await
        .map_err(EngineError::aws(Kind::TaskDefinition, family))?;
    let service = service::observe(aws, &stack.cluster, &stack.service.name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::EcsService, &stack.service.name))?;
    let stale = stale::observe(aws, stack, account, cache).await?;
    Ok(Observed {
        repository,
        log_group,
        secrets,
        target_group,
        listener_arn,
        rules,
        task_definition,
        service,
        stale,
        previous_rollout: None,
    })
}

fn foreign<T>(kind: Kind, p: &Presence<T>) -> Result<(), EngineError> {
    match p {
        Presence::Foreign(name) => Err(EngineError::OwnershipConflict { kind, name: name.clone() }),
        _ => Ok(()),
    }
}

/// Fails on resources we may not touch and on routes another service holds.
fn check_conflicts(stack: &DesiredStack, o: &Observed) -> Result<(), EngineError> {
    if let Some(r) = &o.repository {
        foreign(Kind::Repository, r)?;
    }
    foreign(Kind::LogGroup, &o.log_group)?;
    for s in &o.secrets {
        foreign(Kind::Secret, s)?;
    }
    if let Some(tg) = &o.target_group {
        foreign(Kind::TargetGroup, tg)?;
    }
    foreign(Kind::EcsService, &o.service)?;
    if let Some(ing) = &stack.ingress {
        let mine = priorities::Claim {
            owner: stack.owner.key(),
            hosts: ing.hosts.clone(),
            paths: ing.paths.clone(),
        };
        let others = rule::claims(&o.rules, &stack.owner, None);
        if let Some(holder) = priorities::conflicting_owner(&mine, &others) {
            return Err(EngineError::HostConflict {
                load_balancer: ing.load_balancer.clone(),
                route: format!("{}{}", ing.hosts.join(","), ing.paths.join(",")),
                owner: holder.owner.clone(),
            });
        }
    }
    Ok(())
}

/// The plan for the stack (pure).
pub fn plan(stack: &DesiredStack, o: &Observed) -> Result<Plan, EngineError> {
    check_conflicts(stack, o)?;
    let tags = &stack.tags;
    let mut plan = Plan::default();
    if let (Some(r), Some(obs)) = (&stack.repository, &o.repository) {
        plan.push(repository::diff(r, tags, obs));
    }
    plan.push(log_group::diff(&stack.log_group, tags, &o.log_group));
    for (s, obs) in stack.secrets.iter().zip(&o.secrets) {
        plan.push(secret::diff(s, tags, obs));
    }
    let mut tg_arn = None;
    if let (Some(ing), Some(obs)) = (&stack.ingress, &o.target_group) {
        let change = target_group::diff(ing, tags, obs);
        tg_arn = obs
            .ours()
            .filter(|_| !matches!(change, Some(Change { action: Action::Replace(_), .. })))
            .map(|t| t.arn.clone());
        plan.push(change);
        if o.listener_arn.is_none() {
            plan.push(Some(Change::new(Kind::ListenerRule, &ing.load_balancer, Action::Create)));
        } else {
            plan.push(rule::diff(ing, tg_arn.as_deref(), &o.rules, &stack.owner));
        }
    }
    let known_arns: BTreeMap<String, Option<String>> = stack
        .secrets
        .iter()
        .zip(&o.secrets)
        .map(|(s, obs)| (s.env_name.clone(), obs.ours().map(|x| x.arn.clone())))
        .collect();
    let td_change =
        task_definition::diff(&stack.task_definition, o.task_definition.as_ref(), &known_arns);
    let td_arn = match (&td_change, &o.task_definition) {
        (None, Some(td)) => td.arn.clone(),
        _ => format!("{}:(new revision)", stack.task_definition.family),
    };
    plan.push(td_change);
    let failed = failed_revision(o, td_arn.as_str());
    if let Some(f) = failed.as_ref().filter(|f| !f.recorded) {
        plan.push(Some(Change::new(
            Kind::TaskDefinition,
            rollout::revision(&td_arn),
            Action::Update(vec![FieldChange::new(
                super::plan::ROLLOUT_FAILED_FIELD,
                "no",
                format!("yes, not deployed again until the spec changes ({})", f.message),
            )]),
        )));
    }
    let deploy = deployable(o, &td_arn, failed.is_some());
    if failed.is_some() && matches!(o.service, Presence::Missing) {
        plan.changes.extend(stale::changes(stack, &o.stale));
        return Ok(plan);
    }
    let target = Target {
        desired: &stack.service,
        task_definition: &deploy,
        target_group: stack
            .ingress
            .as_ref()
            .map(|_| tg_arn.as_deref().unwrap_or("(new target group)")),
        container_port: stack.ingress.as_ref().map(|i| i.container_port),
    };
    plan.push(service::diff(&target, tags, &o.service));
    plan.changes.extend(stale::changes(stack, &o.stale));
    Ok(plan)
}

/// Whether the revision the spec asks for (`td_arn`) failed its rollout, and so is not deployed
/// again until the spec changes.
fn failed_revision(o: &Observed, td_arn: &str) -> Option<rollout::FailedRevision> {
    let td = o.task_definition.as_ref().filter(|td| td.arn == td_arn)?;
    rollout::failed_revision(
        &td.arn,
        td.rollout_failed.as_deref(),
        o.service.ours().map(|s| &s.raw),
        known(o, td_arn),
    )
}

/// What is known of earlier rollouts of `td_arn`: the last status, the revision's tag.
fn known<'a>(o: &'a Observed, td_arn: &str) -> rollout::Known<'a> {
    rollout::Known {
        previous: o.previous_rollout.as_ref(),
        deployment: o
            .task_definition
            .as_ref()
            .filter(|td| td.arn == td_arn)
            .and_then(|td| td.deployment.as_deref()),
    }
}

/// The task definition the service should run: the one the spec asks for or, when that revision
/// failed, the one the service runs now (what ECS rolled back to).
fn deployable(o: &Observed, td_arn: &str, failed: bool) -> String {
    match (&o.service, failed) {
        (Presence::Ours(svc), true) => svc.raw.task_definition().unwrap_or(td_arn).to_string(),
        _ => td_arn.to_string(),
    }
}

/// The outcome of `apply`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub plan: Plan,
    pub resources: Vec<ResourceStatus>,
    pub rollout: Rollout,
    pub url: Option<String>,
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
/// task definition, service. Returns what exists afterwards and the rollout state.
pub async fn apply(
    aws: &Aws,
    stack: &DesiredStack,
    o: &Observed,
    account: &AccountState,
    cache: &ObserveCache,
) -> Result<Applied, EngineError> {
    let plan = plan(stack, o)?;
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
        let listener = o
            .listener_arn
            .as_deref()
            .ok_or_else(|| EngineError::AccountNotReady(ing.load_balancer.clone()))?;
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
            rule::act(aws, listener, ing, &arn, &rules, &stack.owner, tags)
                .await
                .map_err(EngineError::aws(Kind::ListenerRule, listener))?;
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
        return Ok(Applied { plan, resources, rollout, url });
    }
    let deploy = deployable(o, &td_arn, failed.is_some());
    let target = Target {
        desired: &stack.service,
        task_definition: &deploy,
        target_group: tg_arn.as_deref(),
        container_port: stack.ingress.as_ref().map(|i| i.container_port),
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
    let url = stack.ingress.as_ref().map(|ing| url(ing, account));
    Ok(Applied { plan, resources, rollout, url })
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

/// A listener's rules, from the round's cache or from AWS (then cached).
pub(super) async fn cached_rules(
    aws: &Aws,
    cache: &ObserveCache,
    listener: &str,
    cluster_id: &str,
) -> Result<Vec<ListenerRule>, EngineError> {
    if let Some(rules) = cache.rules(listener) {
        return Ok(rules);
    }
    let rules = rule::observe_listener(aws, listener, cluster_id)
        .await
        .map_err(EngineError::aws(Kind::ListenerRule, listener))?;
    cache.put_rules(listener, rules.clone());
    Ok(rules)
}
