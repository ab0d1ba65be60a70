//! Deletion of one service's stack, found by name and ownership tags alone (never from the spec, so
//! a broken spec can always be deleted), in reverse dependency order; and withdrawing a route.

use super::{
    Action, Change, EngineError, Kind, Plan, Presence, build, build_bucket, cache::ObserveCache,
    engine::cached_rules, log_group, repository, rule, scaling, secret, service, stale,
    target_group, task_definition,
};
use crate::{aws::Aws, desired::Owner};

/// What deletion needs to know; derived from names alone so a broken spec never blocks it.
#[derive(Debug, Clone)]
pub struct Teardown {
    pub owner: Owner,
    pub cluster: String,
    pub retain: bool,
    /// Every listener of the account: rules are found by tag on each.
    pub listeners: Vec<String>,
    /// The account's build bucket, when known: the service's uploaded contexts go with it.
    pub build_bucket: Option<String>,
}

/// The plan for deleting (pure on what `delete` observes; `plan_delete` reads, never writes).
pub async fn plan_delete(
    aws: &Aws,
    t: &Teardown,
    cache: &ObserveCache,
) -> Result<Plan, EngineError> {
    let mut plan = Plan::default();
    teardown(aws, t, false, cache, &mut plan).await.map(|_| plan)
}

/// Deletes everything the owner has, in reverse dependency order: rules, scalable target, service (scaled to zero,
/// then deleted), target group, task definitions, secrets, log group, repository. Deleting twice
/// is a no-op; with `retain` nothing is deleted.
pub async fn delete(aws: &Aws, t: &Teardown, cache: &ObserveCache) -> Result<Plan, EngineError> {
    let mut plan = Plan::default();
    teardown(aws, t, true, cache, &mut plan).await.map(|_| plan)
}

/// `delete`, recording each change into `plan` as it is made, so an attempt that fails half way
/// still tells what it did.
pub async fn delete_recording(
    aws: &Aws,
    t: &Teardown,
    cache: &ObserveCache,
    plan: &mut Plan,
) -> Result<(), EngineError> {
    teardown(aws, t, true, cache, plan).await
}

async fn teardown(
    aws: &Aws,
    t: &Teardown,
    act: bool,
    cache: &ObserveCache,
    plan: &mut Plan,
) -> Result<(), EngineError> {
    let owner = &t.owner;
    // Deletion never trusts a listing: everything is read directly.
    cache.touch_owner(owner, &t.cluster, &t.listeners);
    let gone = |kind, id: &str| {
        Change::new(kind, id, if t.retain { Action::Retain } else { Action::Delete })
    };
    let record = |plan: &mut Plan, change: Change| {
        if act {
            change.log();
        }
        plan.push(Some(change));
    };
    for listener in &t.listeners {
        let rules = cached_rules(aws, cache, listener, &owner.cluster_id, false).await?;
        for r in rule::owned(&rules, owner) {
            record(plan, gone(Kind::ListenerRule, &r.arn));
            if act && !t.retain {
                cache.invalidate_listener(listener);
                rule::delete_rule(aws, &r.arn)
                    .await
                    .map_err(EngineError::aws(Kind::ListenerRule, &r.arn))?;
            }
        }
    }
    let name = owner.ecs_name();
    let service = service::observe(aws, &t.cluster, &name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::EcsService, &name))?;
    // The autoscaler goes first: it would scale the service back up while it is scaled to zero,
    // and its target outlives the service.
    let resource_id = crate::desired::scaling::resource_id(&t.cluster, &name);
    if !matches!(service, Presence::Foreign(_))
        && let Presence::Ours(s) = scaling::observe(aws, &resource_id, cache)
            .await
            .map_err(EngineError::aws(Kind::ScalableTarget, &resource_id))?
    {
        record(plan, gone(Kind::ScalableTarget, &s.target.arn));
        if act && !t.retain {
            cache.touch([super::cache::key::scaling(&resource_id)]);
            scaling::deregister(aws, &resource_id)
                .await
                .map_err(EngineError::aws(Kind::ScalableTarget, &resource_id))?;
        }
    }
    if let Presence::Ours(svc) = service
        && svc.status != "DRAINING"
    {
        record(plan, gone(Kind::EcsService, &name));
        if act && !t.retain {
            cache.invalidate_service(&t.cluster, &name);
            service::delete(aws, &t.cluster, &name)
                .await
                .map_err(EngineError::aws(Kind::EcsService, &name))?;
        }
    }
    let tg_name = owner.target_group_name();
    if let Presence::Ours(tg) = target_group::observe(aws, &tg_name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::TargetGroup, &tg_name))?
    {
        record(plan, gone(Kind::TargetGroup, &tg_name));
        if act && !t.retain {
            target_group::delete(aws, &tg.arn)
                .await
                .map_err(EngineError::aws(Kind::TargetGroup, &tg.arn))?;
        }
    }
    let latest = task_definition::observe(aws, &name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::TaskDefinition, &name))?;
    // The latest revision answers cheaply; only when someone else registered it are the family's
    // other revisions read, so ours behind it are not left behind.
    let ours = match latest {
        Some(td) if owner.owns(&td.tags) => true,
        Some(_) => !task_definition::owned_revisions(aws, &name, owner)
            .await
            .map_err(EngineError::aws(Kind::TaskDefinition, &name))?
            .is_empty(),
        None => false,
    };
    if ours {
        record(plan, gone(Kind::TaskDefinition, &name));
        if act && !t.retain {
            task_definition::deregister_all(aws, &name, owner)
                .await
                .map_err(EngineError::aws(Kind::TaskDefinition, &name))?;
        }
    }
    for secret_name in stale::owned_secrets(aws, owner, cache).await? {
        record(plan, gone(Kind::Secret, &secret_name));
        if act && !t.retain {
            secret::delete(aws, &secret_name)
                .await
                .map_err(EngineError::aws(Kind::Secret, &secret_name))?;
        }
    }
    teardown_build(aws, t, act, plan).await?;
    let lg = owner.log_group_name();
    if let Presence::Ours(_) = log_group::observe(aws, &lg, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::LogGroup, &lg))?
    {
        record(plan, gone(Kind::LogGroup, &lg));
        if act && !t.retain {
            log_group::delete(aws, &lg).await.map_err(EngineError::aws(Kind::LogGroup, &lg))?;
        }
    }
    let repo = owner.repository_name();
    if let Presence::Ours(_) = repository::observe(aws, &repo, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::Repository, &repo))?
    {
        record(plan, gone(Kind::Repository, &repo));
        if act && !t.retain {
            repository::delete(aws, &repo)
                .await
                .map_err(EngineError::aws(Kind::Repository, &repo))?;
        }
    }
    Ok(())
}

/// Builds from source: running builds are stopped (a build for a deleted service is of no use,
/// even when its resources are retained), then the CodeBuild project and the uploaded contexts
/// go, unless retained.
async fn teardown_build(
    aws: &Aws,
    t: &Teardown,
    act: bool,
    plan: &mut Plan,
) -> Result<(), EngineError> {
    let project = t.owner.build_project_name();
    let presence = build::project(aws, &project, &t.owner)
        .await
        .map_err(EngineError::aws(Kind::BuildProject, &project))?;
    if let Presence::Ours(()) = presence {
        for id in
            build::running(aws, &project).await.map_err(EngineError::aws(Kind::Build, &project))?
        {
            let change = Change::new(Kind::Build, &id, Action::Delete);
            if act {
                change.log();
                build::stop(aws, &id).await.map_err(EngineError::aws(Kind::Build, &id))?;
            }
            plan.push(Some(change));
        }
        let change = Change::new(Kind::BuildProject, &project, gone_action(t.retain));
        if act {
            change.log();
            if !t.retain {
                build::delete_project(aws, &project)
                    .await
                    .map_err(EngineError::aws(Kind::BuildProject, &project))?;
            }
        }
        plan.push(Some(change));
    }
    if let Some(bucket) = &t.build_bucket {
        let prefix = build_bucket::key(&project, "");
        let prefix = prefix.trim_end_matches(".tar.gz");
        let keys = build_bucket::objects(aws, bucket, prefix)
            .await
            .map_err(EngineError::aws(Kind::BuildUpload, prefix))?;
        if !keys.is_empty() {
            let change = Change::new(
                Kind::BuildUpload,
                format!("s3://{bucket}/{prefix} ({} uploads)", keys.len()),
                gone_action(t.retain),
            );
            if act {
                change.log();
                if !t.retain {
                    build_bucket::delete_objects(aws, bucket, &keys)
                        .await
                        .map_err(EngineError::aws(Kind::BuildUpload, prefix))?;
                }
            }
            plan.push(Some(change));
        }
    }
    Ok(())
}

fn gone_action(retain: bool) -> Action {
    if retain { Action::Retain } else { Action::Delete }
}

/// Deletes every rule of `owner` on `listener`; returns how many there were.
pub async fn withdraw_rules(
    aws: &Aws,
    cache: &ObserveCache,
    listener: &str,
    owner: &Owner,
) -> Result<usize, EngineError> {
    cache.invalidate_listener(listener);
    let rules = cached_rules(aws, cache, listener, &owner.cluster_id, false).await?;
    let mine = rule::owned(&rules, owner);
    if !mine.is_empty() {
        cache.invalidate_listener(listener);
    }
    for r in &mine {
        rule::delete_rule(aws, &r.arn)
            .await
            .map_err(EngineError::aws(Kind::ListenerRule, &r.arn))?;
    }
    Ok(mine.len())
}
