//! The generic pipeline for one service: observe every resource and compute the typed plan
//! (pure), including which task definition revision may be deployed. Owns ownership checks; each
//! kind's module owns its own AWS calls. Carrying the plan out lives in `apply`, deletion in
//! `teardown`.

use std::collections::BTreeMap;

use super::{
    Action, Change, FieldChange, Kind, Plan, Presence,
    account::AccountState,
    cache::{ObserveCache, key},
    log_group::{self, LogGroup},
    priorities,
    repository::{self, Repository},
    rollout,
    rule::{self, ListenerRule},
    scaling::{self, Scaling},
    secret::{self, Secret},
    service::{self, EcsService, Target},
    stale::{self, Stale},
    target_group::{self, TargetGroup},
    task_definition::{self, TaskDefinition},
};
use crate::{
    api::Rollout,
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
    #[error("{0} of the account is not ready yet")]
    AccountNotReady(String),
    /// The spec cannot work this way (found only with what AWS or the runner tells).
    #[error("{0}")]
    Invalid(String),
    /// Something outside AWS the pipeline needs did not answer (a Git host); retried.
    #[error("{0}")]
    Unreachable(String),
    #[error("{kind} {id}: {source}")]
    Aws { kind: Kind, id: String, source: AwsError },
}

impl EngineError {
    pub fn aws(kind: Kind, id: &str) -> impl FnOnce(AwsError) -> EngineError + '_ {
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
    /// The service's scalable target and our policies on it (also when autoscaling was removed).
    pub scaling: Presence<Scaling>,
    /// The ARN of the load balancer of the service's ingress, when known (the request-count
    /// policy's resource label).
    pub load_balancer_arn: Option<String>,
    /// The account's Service Connect namespace ARN, once it exists.
    pub namespace_arn: Option<String>,
    /// What the service had but no longer asks for.
    pub stale: Stale,
    /// The rollout the last status recorded (the controller's; `None` in the CLI): how a
    /// deployment that ECS rolled back and dropped is still known to have failed.
    pub previous_rollout: Option<Rollout>,
}

/// Reads every resource of the stack (no writes): from the account's snapshot (taken when
/// missing or old) when that shows nothing to do, else again directly from AWS, so every change
/// is planned from fresh reads. `previous` is the rollout the last status recorded.
pub async fn observe(
    aws: &Aws,
    stack: &DesiredStack,
    account: &AccountState,
    cache: &ObserveCache,
    previous: Option<&Rollout>,
) -> Result<Observed, EngineError> {
    // A stack we just changed (a rollout being followed) is read directly anyway: it does not
    // wait for a listing of the account.
    if !cache.recently_touched(&key::log_group(&stack.log_group.name)) {
        cache
            .ensure_snapshot(aws, &stack.cluster, &stack.owner.cluster_id)
            .await
            .map_err(EngineError::aws(Kind::EcsService, &stack.cluster))?;
    }
    // A service in motion is always described afresh; the rest of a touched stack too.
    let service_listed = cache
        .listed(&key::service(&stack.cluster, &stack.service.name))
        .is_some_and(|snap| snap.steady_service(&stack.service.name).is_some());
    let listed = service_listed || cache.listed(&key::log_group(&stack.log_group.name)).is_some();
    let mut first = observe_once(aws, stack, account, cache, listed).await?;
    first.previous_rollout = previous.cloned();
    if !listed || plan(stack, &first).is_ok_and(|p| p.is_empty()) {
        return Ok(first);
    }
    // What the listing showed is read again directly; what it showed missing is created as
    // planned (a create fails, and is retried from direct reads, if it exists by now). The own
    // listener's rules are listed afresh unless they just were.
    cache.touch(present_keys(stack, &first));
    if let Some(listener) = &first.listener_arn {
        cache.refresh_listener(listener, FRESH_RULES);
    }
    let mut observed = observe_once(aws, stack, account, cache, false).await?;
    observed.previous_rollout = previous.cloned();
    if !service_listed {
        // Already read directly a moment ago: what the rollout logic saw then stands.
        observed.service = first.service;
    }
    Ok(observed)
}

/// Rules listed this recently count as fresh for planning a change.
const FRESH_RULES: std::time::Duration = std::time::Duration::from_secs(2);

/// The keys of what `o` found (ours or someone else's), to read again directly.
fn present_keys(stack: &DesiredStack, o: &Observed) -> Vec<String> {
    let owner = &stack.owner;
    let mut keys = Vec::new();
    let mut add = |present: bool, key: String| {
        if present {
            keys.push(key);
        }
    };
    add(!matches!(o.log_group, Presence::Missing), key::log_group(&stack.log_group.name));
    add(
        o.repository.as_ref().is_some_and(|r| !matches!(r, Presence::Missing))
            || o.stale.repository.is_some(),
        key::repository(&owner.repository_name()),
    );
    add(
        o.target_group.as_ref().is_some_and(|t| !matches!(t, Presence::Missing))
            || o.stale.target_group.is_some(),
        key::target_group(&owner.target_group_name()),
    );
    add(o.task_definition.is_some(), key::task_definition(&stack.task_definition.family));
    add(!matches!(o.service, Presence::Missing), key::service(&stack.cluster, &stack.service.name));
    for (s, p) in stack.secrets.iter().zip(&o.secrets) {
        add(!matches!(p, Presence::Missing), key::secret(&s.name));
    }
    add(!o.stale.secrets.is_empty(), key::secret(&owner.secret_name("")));
    add(!matches!(o.scaling, Presence::Missing), key::scaling(&scaling::resource_id(stack)));
    keys
}

/// One observation; `from_listing`: whether rule ownership may be inferred (see `cached_rules`).
async fn observe_once(
    aws: &Aws,
    stack: &DesiredStack,
    account: &AccountState,
    cache: &ObserveCache,
    from_listing: bool,
) -> Result<Observed, EngineError> {
    let owner = &stack.owner;
    let repository = match &stack.repository {
        Some(r) => Some(
            repository::observe(aws, &r.name, owner, cache)
                .await
                .map_err(EngineError::aws(Kind::Repository, &r.name))?,
        ),
        None => None,
    };
    let log_group = log_group::observe(aws, &stack.log_group.name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::LogGroup, &stack.log_group.name))?;
    let mut secrets = Vec::new();
    for s in &stack.secrets {
        secrets.push(
            secret::observe(aws, &s.name, owner, cache)
                .await
                .map_err(EngineError::aws(Kind::Secret, &s.name))?,
        );
    }
    let (mut target_group, mut listener_arn, mut rules) = (None, None, Vec::new());
    let mut load_balancer_arn = None;
    if let Some(ing) = &stack.ingress {
        target_group = Some(
            target_group::observe(aws, &ing.target_group_name, owner, cache)
                .await
                .map_err(EngineError::aws(Kind::TargetGroup, &ing.target_group_name))?,
        );
        let lb = account.load_balancers.get(&ing.load_balancer);
        listener_arn = lb.and_then(|l| l.listener_arn.clone());
        load_balancer_arn = lb.and_then(|l| l.arn.clone());
        if let Some(arn) = &listener_arn {
            rules = cached_rules(aws, cache, arn, &owner.cluster_id, from_listing).await?;
        }
    }
    let family = &stack.task_definition.family;
    let task_definition = task_definition::observe(aws, family, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::TaskDefinition, family))?;
    let service = service::observe(aws, &stack.cluster, &stack.service.name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::EcsService, &stack.service.name))?;
    let resource_id = scaling::resource_id(stack);
    let scaling = scaling::observe(aws, &resource_id, cache)
        .await
        .map_err(EngineError::aws(Kind::ScalableTarget, &resource_id))?;
    let stale = stale::observe(aws, stack, account, cache, from_listing).await?;
    Ok(Observed {
        repository,
        log_group,
        secrets,
        target_group,
        listener_arn,
        rules,
        task_definition,
        service,
        scaling,
        load_balancer_arn,
        namespace_arn: account.namespace_arn.clone(),
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
        namespace_arn: o.namespace_arn.as_deref(),
    };
    plan.push(service::diff(&target, tags, &o.service));
    let label = request_label(stack, o, tg_arn.as_deref());
    plan.changes.extend(scaling::diff(stack.autoscaling.as_ref(), label.as_deref(), &o.scaling));
    plan.changes.extend(stale::changes(stack, &o.stale));
    Ok(plan)
}

/// The request-count policy's resource label, once the target group exists.
pub(super) fn request_label(
    stack: &DesiredStack,
    o: &Observed,
    target_group_arn: Option<&str>,
) -> Option<String> {
    stack.ingress.as_ref()?;
    crate::desired::scaling::request_label(o.load_balancer_arn.as_deref()?, target_group_arn?)
}

/// Whether the revision the spec asks for (`td_arn`) failed its rollout, and so is not deployed
/// again until the spec changes.
pub(super) fn failed_revision(o: &Observed, td_arn: &str) -> Option<rollout::FailedRevision> {
    let td = o.task_definition.as_ref().filter(|td| td.arn == td_arn)?;
    rollout::failed_revision(
        &td.arn,
        td.rollout_failed.as_deref(),
        o.service.ours().map(|s| &s.raw),
        known(o, td_arn),
    )
}

/// What is known of earlier rollouts of `td_arn`: the last status, the revision's tag.
pub(super) fn known<'a>(o: &'a Observed, td_arn: &str) -> rollout::Known<'a> {
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
pub(super) fn deployable(o: &Observed, td_arn: &str, failed: bool) -> String {
    match (&o.service, failed) {
        (Presence::Ours(svc), true) => svc.raw.task_definition().unwrap_or(td_arn).to_string(),
        _ => td_arn.to_string(),
    }
}

/// A listener's rules, from the round's cache or from AWS (then cached); `infer` as in
/// `rule::observe_listener`.
pub(super) async fn cached_rules(
    aws: &Aws,
    cache: &ObserveCache,
    listener: &str,
    cluster_id: &str,
    infer: bool,
) -> Result<Vec<ListenerRule>, EngineError> {
    if let Some(rules) = cache.rules(listener, !infer) {
        return Ok(rules);
    }
    let (rules, exact) = rule::observe_listener(aws, listener, cluster_id, cache, infer)
        .await
        .map_err(EngineError::aws(Kind::ListenerRule, listener))?;
    cache.put_rules(listener, rules.clone(), exact);
    Ok(rules)
}
