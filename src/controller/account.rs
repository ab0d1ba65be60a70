//! Reconcile of one CloudAccount: ensure the ECS cluster and the shared load balancers exist, and
//! write what services need (cluster ARN, listener ARNs, DNS names) to its status. Services read
//! the account's status rather than calling AWS for it.

use std::{sync::Arc, time::Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use serde_json::json;

use super::{Context, Error, events, merge_params};
use crate::{
    api::{
        self, CloudAccount, CloudAccountStatus, FINALIZER, LoadBalancerStatus, READY, RECONCILING,
        STALLED, reason, set_condition,
    },
    aws::Category,
    resources::{
        self,
        account::{self, AccountState, LoadBalancerState},
        account_teardown,
    },
    status,
};

pub async fn reconcile(account: Arc<CloudAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.caches_ready().await;
    let _in_flight = ctx.metrics.start();
    let started = Instant::now();
    let span = tracing::info_span!("reconcile", kind = "CloudAccount", name = %account.name_any(), generation = account.metadata.generation);
    let result = tracing::Instrument::instrument(run(&account, &ctx), span).await;
    ctx.metrics.reconciled(
        "CloudAccount",
        if result.is_ok() { "success" } else { "error" },
        started.elapsed(),
    );
    if result.is_ok() {
        ctx.reset_backoff(&super::object_key(account.as_ref()));
    }
    result
}

async fn run(account: &CloudAccount, ctx: &Context) -> Result<Action, Error> {
    let name = account.name_any();
    let (aws, cache) = ctx.session(&name, &account.spec.aws).await;
    if account.metadata.deletion_timestamp.is_some() {
        return cleanup(account, ctx, &aws).await;
    }
    // A preview (`byoc.dev/plan-only`) reads only: the account's plan goes to its status.
    let plan_only = api::is_plan_only(account.annotations());
    if let Err(invalid) = crate::desired::check_plan_only(Some(account.annotations())) {
        let previous = account.status.clone().unwrap_or_default();
        let mut next = previous.clone();
        let (generation, now) = (account.metadata.generation, Time(jiff::Timestamp::now()));
        let message = format!("{}: {}", invalid.field, invalid.message);
        next.observed_generation = generation;
        status::set_failed(
            &mut next.conditions,
            reason::INVALID_SPEC,
            true,
            &message,
            generation,
            &now,
        );
        return finish(ctx, account, &previous, next, Ok(Action::await_change())).await;
    }
    if !plan_only {
        ensure_finalizer(ctx, account).await?;
    }
    let previous = account.status.clone().unwrap_or_default();
    let mut next = previous.clone();
    next.observed_generation = account.metadata.generation;
    next.plan = None;
    let now = Time(jiff::Timestamp::now());
    let generation = account.metadata.generation;
    let mut planned = None;
    let ensured = if plan_only {
        account::observe(&aws, &name, &account.spec, &ctx.settings.cluster_id).await.map(
            |(state, plan)| {
                planned = Some(plan);
                state
            },
        )
    } else {
        account::ensure(&aws, &name, &account.spec, &ctx.settings.cluster_id).await
    };
    let result = match ensured {
        Ok(state) => match usage(&aws, &state, &cache).await {
            Ok(u) if plan_only => Ok((state, u, previous.domains.clone())),
            Ok(u) => {
                domains(&aws, account, &state, &previous, ctx, &cache).await.map(|d| (state, u, d))
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let action = match result {
        Ok((state, usage, domains)) => {
            let pending = domains.iter().any(|d| d.state != api::CertificateState::Issued);
            next.domains = domains;
            next.cluster_arn = state.cluster_arn.clone();
            next.service_connect_namespace_arn = state.namespace_arn.clone();
            next.account_id = state
                .cluster_arn
                .as_deref()
                .and_then(|arn| arn.split(':').nth(4))
                .map(str::to_string);
            next.load_balancers = account
                .spec
                .load_balancers
                .iter()
                .map(|lb| {
                    let s = state.load_balancers.get(&lb.name).cloned().unwrap_or_default();
                    let old = previous.load_balancers.iter().find(|o| o.name == lb.name);
                    LoadBalancerStatus {
                        name: lb.name.clone(),
                        arn: s.arn,
                        dns_name: s.dns_name.or_else(|| old.and_then(|o| o.dns_name.clone())),
                        listener_arn: s.listener_arn,
                        rules: usage.get(&lb.name).map_or(0, |u| u.0),
                        target_groups: usage.get(&lb.name).map_or(0, |u| u.1),
                    }
                })
                .collect();
            let pools: Vec<String> = next
                .load_balancers
                .iter()
                .map(|l| {
                    format!(
                        "{}: {}/{} rules, {}/{} target groups",
                        l.name,
                        l.rules,
                        account::RULES_QUOTA,
                        l.target_groups,
                        account::TARGET_GROUPS_QUOTA
                    )
                })
                .collect();
            let message = format!(
                "ECS cluster {} ready; load balancers {}",
                account.spec.cluster.name,
                if pools.is_empty() { "none".to_string() } else { pools.join("; ") }
            );
            set_condition(
                &mut next.conditions,
                READY,
                true,
                reason::READY,
                &message,
                generation,
                &now,
            );
            set_condition(
                &mut next.conditions,
                RECONCILING,
                false,
                reason::READY,
                "",
                generation,
                &now,
            );
            set_condition(
                &mut next.conditions,
                STALLED,
                false,
                reason::READY,
                "",
                generation,
                &now,
            );
            if let Some(plan) = &planned {
                next.plan =
                    Some(status::plan_status(generation, &format!("CloudAccount {name}"), plan));
                status::set_planned(&mut next.conditions, plan, generation, &now);
                let action = Ok(Action::requeue(ctx.settings.resync));
                return finish(ctx, account, &previous, next, action).await;
            }
            // The account's own resources change rarely, and a service whose listener went
            // missing notices at its own resync: checked every second resync; a certificate
            // waiting for validation sooner.
            Ok(Action::requeue(if pending {
                ctx.settings.waiting
            } else {
                ctx.settings.resync * 2
            }))
        }
        Err(e) => {
            let stalled = matches!(
                e.category,
                Category::AccessDenied | Category::Invalid | Category::QuotaExceeded
            );
            let why = match e.category {
                Category::AccessDenied => reason::AWS_ACCESS_DENIED,
                Category::QuotaExceeded => reason::QUOTA_EXCEEDED,
                _ => reason::AWS_ERROR,
            };
            let message = e.to_string();
            status::set_failed(&mut next.conditions, why, stalled, &message, generation, &now);
            if stalled { Ok(Action::requeue(ctx.settings.resync)) } else { Err(Error::Aws(e)) }
        }
    };
    finish(ctx, account, &previous, next, action).await
}

/// Writes the status when it changed, with an event and a log line when `Ready` flips.
async fn finish(
    ctx: &Context,
    account: &CloudAccount,
    previous: &CloudAccountStatus,
    next: CloudAccountStatus,
    action: Result<Action, Error>,
) -> Result<Action, Error> {
    if next != *previous {
        let was_ready = api::is_true(&previous.conditions, READY);
        let is_ready = api::is_true(&next.conditions, READY);
        if was_ready != is_ready {
            let (t, r) = if is_ready {
                (EventType::Normal, "AccountReady")
            } else {
                (EventType::Warning, "AccountNotReady")
            };
            let note = next
                .conditions
                .iter()
                .find(|c| c.type_ == READY)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            tracing::info!(condition = READY, status = is_ready, reason = r, message = %note, "condition changed");
            events::publish(ctx, account, t, r, note).await;
        }
        write_status(ctx, account, &next).await?;
    }
    action
}

async fn ensure_finalizer(ctx: &Context, account: &CloudAccount) -> Result<(), Error> {
    if account.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = account.finalizers().to_vec();
    finalizers.push(FINALIZER.into());
    crate::failpoint!("account.finalizer.add.before");
    patch_finalizers(ctx, account, finalizers).await?;
    crate::failpoint!("account.finalizer.add.after");
    Ok(())
}

/// Sets the finalizer list, guarded by the object's resourceVersion.
async fn patch_finalizers(
    ctx: &Context,
    account: &CloudAccount,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": account.resource_version()}});
    Api::<CloudAccount>::all(ctx.client.clone())
        .patch(&account.name_any(), &merge_params(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// A deleted account keeps its finalizer while CloudServices still name it, then deletes the load
/// balancers and cluster it created (each only once nothing uses it) and lets go.
async fn cleanup(
    account: &CloudAccount,
    ctx: &Context,
    aws: &crate::aws::Aws,
) -> Result<Action, Error> {
    if !account.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = account.name_any();
    let services: Vec<String> = ctx
        .all_services()
        .iter()
        .filter(|s| s.spec.account_ref.name == name)
        .map(|s| format!("CloudService {}/{}", s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    let waiting_for = if services.is_empty() {
        let cluster_id = &ctx.settings.cluster_id;
        account_teardown::teardown(aws, &name, &account.spec, cluster_id, true)
            .await
            .map_err(Error::Aws)?;
        let left = account_teardown::teardown(aws, &name, &account.spec, cluster_id, false)
            .await
            .map_err(Error::Aws)?;
        left.changes
            .iter()
            .filter(|c| c.action == resources::Action::Delete)
            .map(|c| format!("{} {}", c.kind, c.id))
            .collect()
    } else {
        services
    };
    if waiting_for.is_empty() {
        events::publish(
            ctx,
            account,
            EventType::Normal,
            "Deleted",
            "the account's own load balancers and cluster are deleted (kept where not ours)".into(),
        )
        .await;
        let remaining = account.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
        crate::failpoint!("account.finalizer.remove.before");
        patch_finalizers(ctx, account, remaining).await?;
        crate::failpoint!("account.finalizer.remove.after");
        return Ok(Action::await_change());
    }
    let mut status = account.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let message = format!("deleting; waiting for: {}", waiting_for.join(", "));
    set_condition(
        &mut status.conditions,
        READY,
        false,
        reason::DELETING,
        &message,
        account.metadata.generation,
        &now,
    );
    set_condition(
        &mut status.conditions,
        RECONCILING,
        true,
        reason::DELETING,
        &message,
        account.metadata.generation,
        &now,
    );
    if Some(&status) != account.status.as_ref() {
        write_status(ctx, account, &status).await?;
    }
    Ok(Action::requeue(ctx.settings.waiting))
}

async fn write_status(
    ctx: &Context,
    account: &CloudAccount,
    status: &CloudAccountStatus,
) -> Result<(), Error> {
    let api = Api::<CloudAccount>::all(ctx.client.clone());
    let patch = json!({"apiVersion": format!("{}/{}", api::GROUP, api::VERSION), "kind": "CloudAccount", "status": status});
    crate::failpoint!("account.status.before");
    api.patch_status(
        &account.name_any(),
        &PatchParams::apply(api::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    crate::failpoint!("account.status.after");
    Ok(())
}

/// The account's custom domains (`spec.domains`, or what is left of them once it was removed).
async fn domains(
    aws: &crate::aws::Aws,
    account: &CloudAccount,
    state: &AccountState,
    previous: &CloudAccountStatus,
    ctx: &Context,
    cache: &crate::resources::ObserveCache,
) -> Result<Vec<api::DomainStatus>, crate::aws::AwsError> {
    if account.spec.domains.is_none() && previous.domains.is_empty() {
        return Ok(Vec::new());
    }
    let name = account.name_any();
    let tags = account::account_tags(&name, &account.spec, &ctx.settings.cluster_id);
    let owner = crate::resources::domains::Owner {
        account: &name,
        cluster_id: &ctx.settings.cluster_id,
        tags: &tags,
    };
    let (statuses, _) = crate::resources::domains::reconcile(
        aws,
        &account.spec,
        state,
        &owner,
        cache,
        Some(&previous.domains),
        true,
    )
    .await?;
    Ok(statuses)
}

/// Quota usage of every load balancer, by pool name.
async fn usage(
    aws: &crate::aws::Aws,
    state: &AccountState,
    cache: &crate::resources::ObserveCache,
) -> Result<std::collections::BTreeMap<String, (i32, i32)>, crate::aws::AwsError> {
    let mut out = std::collections::BTreeMap::new();
    for (name, lb) in &state.load_balancers {
        out.insert(name.clone(), account::usage(aws, lb, cache).await?);
    }
    Ok(out)
}

/// What services need from the account, from its status; `None` until the cluster exists.
pub fn account_state(account: &CloudAccount) -> Option<AccountState> {
    let status = account.status.as_ref()?;
    let cluster_arn = status.cluster_arn.clone()?;
    Some(AccountState {
        cluster_arn: Some(cluster_arn),
        namespace_arn: status.service_connect_namespace_arn.clone(),
        load_balancers: status
            .load_balancers
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    LoadBalancerState {
                        arn: l.arn.clone(),
                        dns_name: l.dns_name.clone(),
                        listener_arn: l.listener_arn.clone(),
                        canonical_zone_id: None,
                    },
                )
            })
            .collect(),
    })
}
