//! What a service had but its spec no longer asks for: rules on listeners it left (all of them
//! without ingress), its target group without ingress, its repository without `repository`, the
//! secrets of env vars it dropped. Found by name and ownership tags, so nothing leaks when a spec
//! shrinks. `changes` is pure; `observe` reads; `remove` deletes, after the ECS service stopped
//! using them. Routing (rules, target group) always goes; repository and secrets follow
//! `deletionPolicy`.

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};

use super::{
    Action, Change, EngineError, Kind, Presence,
    account::AccountState,
    cache::{ObserveCache, key},
    engine::cached_rules,
    repository, rule, secret, tags, target_group,
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredStack, Owner},
};

/// Leftovers of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stale {
    /// `(listener ARN, rule ARN)`.
    pub rules: Vec<(String, String)>,
    pub target_group: Option<String>,
    pub repository: Option<String>,
    pub secrets: Vec<String>,
}

pub async fn observe(
    aws: &Aws,
    stack: &DesiredStack,
    account: &AccountState,
    cache: &ObserveCache,
    from_listing: bool,
) -> Result<Stale, EngineError> {
    let owner = &stack.owner;
    let mut stale = Stale::default();
    let keep_listener = stack
        .ingress
        .as_ref()
        .and_then(|i| account.load_balancers.get(&i.load_balancer))
        .and_then(|l| l.listener_arn.clone());
    for listener in account.listener_arns() {
        if Some(&listener) == keep_listener.as_ref() {
            continue;
        }
        let rules = cached_rules(aws, cache, &listener, &owner.cluster_id, from_listing).await?;
        stale.rules.extend(
            rule::owned(&rules, owner).into_iter().map(|r| (listener.clone(), r.arn.clone())),
        );
    }
    if stack.ingress.is_none() {
        let name = owner.target_group_name();
        if let Presence::Ours(tg) = target_group::observe(aws, &name, owner, cache)
            .await
            .map_err(EngineError::aws(Kind::TargetGroup, &name))?
        {
            stale.target_group = Some(tg.arn);
        }
    }
    if stack.repository.is_none() {
        let name = owner.repository_name();
        if let Presence::Ours(_) = repository::observe(aws, &name, owner, cache)
            .await
            .map_err(EngineError::aws(Kind::Repository, &name))?
        {
            stale.repository = Some(name);
        }
    }
    let wanted: Vec<&str> = stack.secrets.iter().map(|s| s.name.as_str()).collect();
    stale.secrets = owned_secrets(aws, owner, cache)
        .await?
        .into_iter()
        .filter(|n| !wanted.contains(&n.as_str()))
        .collect();
    Ok(stale)
}

/// Names of the secrets of `owner` (by name prefix and ownership tags), from the account's
/// snapshot when it has them.
pub async fn owned_secrets(
    aws: &Aws,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Vec<String>, EngineError> {
    let prefix = owner.secret_name("");
    if let Some(snap) = cache.listed(&key::secret(&prefix)) {
        return Ok(snap
            .secrets
            .iter()
            .filter(|(name, s)| {
                name.starts_with(&prefix) && !s.scheduled_for_deletion && owner.owns(&s.tags)
            })
            .map(|(name, _)| name.clone())
            .collect());
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let filter = Filter::builder().key(FilterNameStringType::Name).values(&prefix).build();
        let out = aws
            .call(
                "secretsmanager",
                "ListSecrets",
                aws.secrets.list_secrets().filters(filter).set_next_token(token).send(),
            )
            .await
            .map_err(EngineError::aws(Kind::Secret, &prefix))?;
        for s in out.secret_list() {
            let name = s.name().unwrap_or_default();
            if name.starts_with(&prefix)
                && s.deleted_date().is_none()
                && owner.owns(&tags::from_secrets(s.tags()))
            {
                names.push(name.to_string());
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// The deletions (or retentions) the leftovers mean (pure).
pub fn changes(stack: &DesiredStack, stale: &Stale) -> Vec<Change> {
    let data = if stack.retain { Action::Retain } else { Action::Delete };
    let mut out: Vec<Change> = stale
        .rules
        .iter()
        .map(|(_, arn)| Change::new(Kind::ListenerRule, arn, Action::Delete))
        .collect();
    out.extend(
        stale.target_group.iter().map(|arn| Change::new(Kind::TargetGroup, arn, Action::Delete)),
    );
    out.extend(stale.secrets.iter().map(|n| Change::new(Kind::Secret, n, data.clone())));
    out.extend(stale.repository.iter().map(|n| Change::new(Kind::Repository, n, data.clone())));
    out
}

/// Deletes the leftovers: rules, then the target group, then (unless retained) secrets and the
/// repository.
pub async fn remove(
    aws: &Aws,
    stack: &DesiredStack,
    stale: &Stale,
    cache: &ObserveCache,
) -> Result<(), EngineError> {
    for (listener, arn) in &stale.rules {
        cache.invalidate_listener(listener);
        rule::delete_rule(aws, arn).await.map_err(EngineError::aws(Kind::ListenerRule, arn))?;
    }
    if let Some(arn) = &stale.target_group {
        target_group::delete(aws, arn).await.map_err(EngineError::aws(Kind::TargetGroup, arn))?;
    }
    if stack.retain {
        return Ok(());
    }
    for name in &stale.secrets {
        secret::delete(aws, name).await.map_err(EngineError::aws(Kind::Secret, name))?;
    }
    if let Some(name) = &stale.repository {
        repository::delete(aws, name).await.map_err(|e: AwsError| EngineError::Aws {
            kind: Kind::Repository,
            id: name.clone(),
            source: e,
        })?;
    }
    Ok(())
}
