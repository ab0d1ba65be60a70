//! Reconcile of one CloudService: dereference (account, namespace, secrets) → validate → desired →
//! observe → plan → act → status, or, when the object is being deleted, tear the stack down and
//! release the finalizer once AWS is confirmed clean. Cleanup never re-validates, so a broken spec
//! can always be deleted.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use k8s_openapi::{
    api::core::v1::{Namespace, Secret},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, ResourceExt,
    runtime::{controller::Action, events::EventType},
};

use super::{
    Context, Error, account_state, claims, events, preview,
    service_writes::{ensure_finalizer, release_finalizer, transition_event, write_status},
};
use crate::{
    api::{CloudAccount, CloudService, CloudServiceStatus, FINALIZER, RolloutState, reason},
    desired::{self, Invalid, Owner, SecretData},
    resources::{self, Kind},
    status,
};

/// Annotation that lets a service be deleted without touching AWS (e.g. its account is gone).
pub const SKIP_CLEANUP: &str = "byoc.dev/skip-cleanup";

pub async fn reconcile(service: Arc<CloudService>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.caches_ready().await;
    let _in_flight = ctx.metrics.start();
    let started = Instant::now();
    let key = super::object_key(service.as_ref());
    let span = tracing::info_span!("reconcile", kind = "CloudService", namespace = %service.namespace().unwrap_or_default(), name = %service.name_any(), generation = service.metadata.generation, cause = cause(&service));
    let result = tracing::Instrument::instrument(run(&service, &ctx), span).await;
    let outcome = match &result {
        Ok(Outcome::Done(_)) => "success",
        Ok(Outcome::Waiting(_)) => "waiting",
        Ok(Outcome::Stalled(_)) => "stalled",
        Err(_) => "error",
    };
    ctx.metrics.reconciled("CloudService", outcome, started.elapsed());
    if result.is_ok() {
        ctx.reset_backoff(&key);
    }
    result.map(|o| match o {
        Outcome::Done(a) | Outcome::Waiting(a) | Outcome::Stalled(a) => a,
    })
}

/// Why this reconcile may change AWS, for its log lines: `cleanup` (being deleted), `create`
/// (never applied), `spec change` (a generation not applied yet) or `drift check` (a resync of an
/// applied generation: any AWS change it makes corrects drift).
fn cause(service: &CloudService) -> &'static str {
    let status = service.status.as_ref();
    if service.metadata.deletion_timestamp.is_some() {
        "cleanup"
    } else if status.and_then(|s| s.rollout.as_ref()).is_none() {
        "create"
    } else if status.and_then(|s| s.observed_generation) != service.metadata.generation {
        "spec change"
    } else {
        "drift check"
    }
}

/// Whether the service carries `byoc.dev/plan-only: "true"`.
pub fn is_plan_only(service: &CloudService) -> bool {
    crate::api::is_plan_only(service.annotations())
}

pub(super) enum Outcome {
    Done(Action),
    Waiting(Action),
    Stalled(Action),
}

fn owner(service: &CloudService, ctx: &Context) -> Owner {
    Owner {
        namespace: service.namespace().unwrap_or_default(),
        name: service.name_any(),
        uid: service.uid().unwrap_or_default(),
        cluster_id: ctx.settings.cluster_id.clone(),
    }
}

fn account(ctx: &Context, service: &CloudService) -> Option<Arc<CloudAccount>> {
    ctx.accounts.state().into_iter().find(|a| a.name_any() == service.spec.account_ref.name)
}

async fn run(service: &CloudService, ctx: &Context) -> Result<Outcome, Error> {
    if service.metadata.deletion_timestamp.is_some() {
        return cleanup(service, ctx).await;
    }
    let account = account(ctx, service);
    if account.is_none() && preview::handled_elsewhere(service, ctx).await? {
        return Ok(Outcome::Done(Action::await_change()));
    }
    let generation = service.metadata.generation;
    let stored = service.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let plan_only = is_plan_only(service);
    if service.spec.suspend && !plan_only {
        // Suspended: no AWS call at all; a change of the spec or annotations wakes it.
        let next = status::suspended(&stored, generation, &now);
        preview::hold_event(ctx, service, &stored, &next).await;
        write_status(ctx, service, &stored, next).await?;
        return Ok(Outcome::Done(Action::await_change()));
    }
    // A preview keeps its plan until the next one replaces it; a resumed service drops what the
    // hold left in its status, at once.
    let previous = if plan_only { stored.clone() } else { status::resumed(&stored) };
    if previous != stored {
        preview::hold_event(ctx, service, &stored, &previous).await;
        write_status(ctx, service, &stored, previous.clone()).await?;
    }
    let validated = match dereference_and_validate(service, account.as_deref(), ctx).await? {
        Ok(v) => v,
        Err(invalid) => {
            let next = status::invalid(generation, &invalid, &previous, &now);
            transition_event(ctx, service, &previous, &next).await;
            write_status(ctx, service, &previous, next).await?;
            // An invalid spec waits for a change. A missing account or a namespace the account
            // does not allow can change without this object changing: look again soon (no AWS
            // call is involved).
            return Ok(Outcome::Stalled(if invalid.reason == reason::INVALID_SPEC {
                Action::await_change()
            } else {
                Action::requeue(ctx.stalled_retry())
            }));
        }
    };
    let owner = owner(service, ctx);
    if let Some(holder) = claims::senior_conflict(service, &ctx.all_services()) {
        let message = format!(
            "spec.ingress: the host and path are already claimed by CloudService {holder} (first come, first served); choose another host or path"
        );
        let next =
            status::failed(generation, reason::HOST_CONFLICT, true, &message, &previous, &now);
        if !plan_only {
            withdraw_route(ctx, service, account.as_deref()).await?;
        }
        transition_event(ctx, service, &previous, &next).await;
        write_status(ctx, service, &previous, next).await?;
        // The senior service may go away at any time.
        return Ok(Outcome::Stalled(Action::requeue(ctx.stalled_retry())));
    }
    if let Some((pair, holder)) = claims::senior_private_conflict(service, &ctx.all_services()) {
        let message = format!(
            "spec.private: {pair} is already served by CloudService {holder} in this account (first come, first served); choose another spec.private.name"
        );
        let next = status::failed(
            generation,
            reason::PRIVATE_NAME_CONFLICT,
            true,
            &message,
            &previous,
            &now,
        );
        transition_event(ctx, service, &previous, &next).await;
        write_status(ctx, service, &previous, next).await?;
        return Ok(Outcome::Stalled(Action::requeue(ctx.stalled_retry())));
    }
    // Validation succeeds only when the account exists; nothing to do otherwise.
    let Some(account) = account else {
        return Ok(Outcome::Stalled(Action::requeue(ctx.settings.resync)));
    };
    // A preview in an account that is itself a preview sees the account as AWS has it (reads).
    let state = match account_state(&account) {
        None if plan_only && crate::api::is_plan_only(account.annotations()) => {
            match preview::observe_account(ctx, &account).await {
                Ok(state) => Some(state),
                Err(e) => return failed(ctx, service, &previous, e, generation, &now).await,
            }
        }
        state => state,
    };
    let Some(state) = state else {
        let message = format!(
            "waiting for CloudAccount {} to be ready (ECS cluster and load balancers)",
            account.name_any()
        );
        let next =
            status::failed(generation, reason::ACCOUNT_NOT_READY, false, &message, &previous, &now);
        write_status(ctx, service, &previous, next).await?;
        return Ok(Outcome::Waiting(Action::requeue(ctx.settings.waiting)));
    };
    if let Some(message) = claims::full_load_balancer(service, &account, &previous) {
        let next =
            status::failed(generation, reason::QUOTA_EXCEEDED, true, &message, &previous, &now);
        transition_event(ctx, service, &previous, &next).await;
        write_status(ctx, service, &previous, next).await?;
        return Ok(Outcome::Stalled(Action::requeue(ctx.settings.resync)));
    }
    if plan_only {
        return preview::run(ctx, service, &validated, &owner, &account, &state, &previous, &now)
            .await;
    }
    ensure_finalizer(ctx, service).await?;
    let stack = desired::desired_stack(&validated, &owner);
    let (aws, cache) = ctx.session(&account.name_any(), &account.spec.aws).await;
    let lock = stack
        .ingress
        .as_ref()
        .and_then(|i| state.load_balancers.get(&i.load_balancer))
        .and_then(|l| l.listener_arn.clone())
        .map(|arn| ctx.listener_lock(&arn));
    let _guard = match &lock {
        Some(l) => Some(l.lock().await),
        None => None,
    };
    if previous.observed_generation != generation {
        // A changed spec is planned from direct reads at once, without waiting for a listing of
        // the whole account.
        cache.touch_stack(&stack, &state.listener_arns());
    }
    // A service built from source runs the image its build pushed, by digest.
    let (stack, built) = if validated.spec.build.is_some() {
        match super::build::step(
            ctx,
            &validated,
            &owner,
            stack,
            &state,
            previous.build.as_ref(),
            (&aws, &cache),
        )
        .await
        {
            Ok(super::build::Step::Run(stack, built)) => (*stack, Some(built)),
            Ok(super::build::Step::Hold(built)) => {
                return hold_for_build(ctx, service, &previous, built, generation, &now).await;
            }
            Err(e) => return failed(ctx, service, &previous, e, generation, &now).await,
        }
    } else {
        (stack, None)
    };
    let result =
        match resources::observe(&aws, &stack, &state, &cache, previous.rollout.as_ref()).await {
            Ok(observed) => resources::apply(&aws, &stack, &observed, &state, &cache).await,
            Err(e) => Err(e),
        };
    match result {
        Ok(applied) => {
            let mut next = status::applied(generation, &applied, &previous.conditions, &now);
            let account_status = account.status.clone().unwrap_or_default();
            let lb_dns = service.spec.ingress.as_ref().and_then(|i| {
                account_status.load_balancers.iter().find(|l| l.name == i.load_balancer)
            });
            next = status::with_domains(
                next,
                &service.spec,
                &account.spec,
                &account_status.domains,
                lb_dns.and_then(|l| l.dns_name.as_deref()),
            );
            let building =
                built.as_ref().is_some_and(|b| b.phase != crate::api::BuildPhase::Succeeded);
            if let Some(built) = built {
                next = status::with_build(next, built, generation, &now);
            }
            // Marking a revision whose rollout failed is bookkeeping, not drift: the RolloutFailed
            // transition event tells that story.
            let changed = applied.plan.changes.iter().any(|c| !resources::is_failure_mark(c));
            if !applied.plan.is_empty() && changed {
                // Drift: this generation was applied before (a rollout was recorded for it), yet
                // AWS needed changes. A status written while the service waited (for its account,
                // say) does not count: the first create is no drift.
                let drift = previous.observed_generation == generation
                    && generation.is_some()
                    && previous.rollout.is_some();
                let created =
                    applied.plan.changes.iter().any(|c| {
                        c.kind == Kind::EcsService && c.action == resources::Action::Create
                    });
                let reason = if drift {
                    "DriftCorrected"
                } else if created {
                    "Created"
                } else {
                    "Updated"
                };
                events::publish(
                    ctx,
                    service,
                    if drift { EventType::Warning } else { EventType::Normal },
                    reason,
                    events::summary(&applied.plan),
                )
                .await;
            }
            transition_event(ctx, service, &previous, &next).await;
            let state = applied.rollout.state;
            let stalled_build =
                next.build.as_ref().is_some_and(|b| b.phase == crate::api::BuildPhase::Failed);
            write_status(ctx, service, &previous, next).await?;
            Ok(if stalled_build {
                Outcome::Stalled(Action::requeue(ctx.settings.resync))
            } else if state == RolloutState::InProgress || building {
                Outcome::Waiting(Action::requeue(ctx.settings.waiting))
            } else if state == RolloutState::Failed {
                // Nothing is deployed again, but a rollout past its deadline may still complete,
                // and a failed deployment may still be rolling back: look again before the resync.
                Outcome::Stalled(Action::requeue(ctx.stalled_retry()))
            } else {
                Outcome::Done(Action::requeue(ctx.settings.resync))
            })
        }
        Err(e) => failed(ctx, service, &previous, e, generation, &now).await,
    }
}

/// Writes the status for an engine error: `Stalled` when it needs a change, else an error the
/// controller retries with backoff.
pub(super) async fn failed(
    ctx: &Context,
    service: &CloudService,
    previous: &CloudServiceStatus,
    e: resources::EngineError,
    generation: Option<i64>,
    now: &Time,
) -> Result<Outcome, Error> {
    let (why, stalled) = status::classify(&e);
    let mut next = status::failed(generation, why, stalled, &e.to_string(), previous, now);
    if let resources::EngineError::Aws { kind, id, source } = &e {
        next.resources.retain(|r| !(r.kind == kind.as_str() && r.id == *id));
        next.resources.push(resources::failed(*kind, id, source));
    }
    transition_event(ctx, service, previous, &next).await;
    write_status(ctx, service, previous, next).await?;
    if stalled {
        Ok(Outcome::Stalled(Action::requeue(ctx.settings.resync)))
    } else {
        Err(Error::Engine(e))
    }
}

/// The first image is still being built (or its build failed): only the build's status.
async fn hold_for_build(
    ctx: &Context,
    service: &CloudService,
    previous: &CloudServiceStatus,
    built: crate::api::BuildStatus,
    generation: Option<i64>,
    now: &Time,
) -> Result<Outcome, Error> {
    let failed = built.phase == crate::api::BuildPhase::Failed;
    let next = status::with_build(previous.clone(), built, generation, now);
    transition_event(ctx, service, previous, &next).await;
    write_status(ctx, service, previous, next).await?;
    Ok(if failed {
        Outcome::Stalled(Action::requeue(ctx.settings.resync))
    } else {
        Outcome::Waiting(Action::requeue(ctx.settings.waiting))
    })
}

/// A junior claimant gives up any rule it holds (e.g. made while the senior service was failing), so
/// the senior one can take the route. Only our own rule is touched.
async fn withdraw_route(
    ctx: &Context,
    service: &CloudService,
    account: Option<&CloudAccount>,
) -> Result<(), Error> {
    let (Some(account), Some(ingress)) = (account, service.spec.ingress.as_ref()) else {
        return Ok(());
    };
    let Some(listener) = account_state(account).and_then(|s| {
        s.load_balancers.get(&ingress.load_balancer).and_then(|l| l.listener_arn.clone())
    }) else {
        return Ok(());
    };
    let (aws, cache) = ctx.session(&account.name_any(), &account.spec.aws).await;
    let lock = ctx.listener_lock(&listener);
    let _guard = lock.lock().await;
    let removed = resources::withdraw_rules(&aws, &cache, &listener, &owner(service, ctx))
        .await
        .map_err(Error::Engine)?;
    if removed > 0 {
        events::publish(ctx, service, EventType::Warning, "RouteWithdrawn", format!("removed {removed} listener rule(s) of this service: the route belongs to an older service")).await;
    }
    Ok(())
}

/// Reads what validation needs from the cluster (namespace labels, referenced Secrets), then
/// validates. The outer error is a Kubernetes API failure, the inner one an invalid service.
async fn dereference_and_validate(
    service: &CloudService,
    account: Option<&CloudAccount>,
    ctx: &Context,
) -> Result<Result<desired::Validated, Invalid>, Error> {
    let namespace = service.namespace().unwrap_or_default();
    let labels: Option<BTreeMap<String, String>> =
        match account.and_then(|a| a.spec.allowed_namespaces.as_ref()) {
            Some(_) => {
                let ns = Api::<Namespace>::all(ctx.client.clone()).get(&namespace).await?;
                Some(ns.metadata.labels.unwrap_or_default())
            }
            None => None,
        };
    let mut secrets = SecretData::new();
    let build = service.spec.build.as_ref();
    let referenced: Vec<&str> = service
        .spec
        .env
        .iter()
        .filter_map(|e| e.value_from.as_ref())
        .chain(build.iter().flat_map(|b| b.args.iter().filter_map(|a| a.value_from.as_ref())))
        .map(|s| s.secret_key_ref.name.as_str())
        .chain(build.and_then(|b| b.git.as_ref()?.secret_ref.as_ref()).map(|r| r.name.as_str()))
        .collect();
    if !referenced.is_empty() && !ctx.settings.secret_env {
        return Ok(Err(Invalid {
            reason: reason::INVALID_SPEC,
            field: if service.spec.env.iter().any(|e| e.value_from.is_some()) {
                "spec.env".into()
            } else {
                "spec.build".into()
            },
            message: "this installation does not read Kubernetes Secrets (secretEnv is off); use plain values or ask your platform team".into(),
        }));
    }
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &namespace);
    for name in referenced {
        if secrets.contains_key(name) {
            continue;
        }
        if let Some(secret) = api.get_opt(name).await? {
            let mut data = BTreeMap::new();
            for (k, v) in secret.data.unwrap_or_default() {
                if let Ok(text) = String::from_utf8(v.0) {
                    data.insert(k, text);
                }
            }
            secrets.insert(name.to_string(), data);
        }
    }
    Ok(desired::validate(service, account, labels.as_ref(), &secrets))
}

async fn cleanup(service: &CloudService, ctx: &Context) -> Result<Outcome, Error> {
    if !service.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Outcome::Done(Action::await_change()));
    }
    if service.annotations().get(SKIP_CLEANUP).is_some_and(|v| v == "true") {
        events::publish(
            ctx,
            service,
            EventType::Warning,
            "CleanupSkipped",
            format!("{SKIP_CLEANUP} is set: AWS resources were left in place"),
        )
        .await;
        release_finalizer(ctx, service).await?;
        return Ok(Outcome::Done(Action::await_change()));
    }
    let previous = service.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let generation = service.metadata.generation;
    let Some(account) = account(ctx, service) else {
        let message = format!(
            "waiting for CloudAccount {} to delete the AWS resources; recreate it, or set the annotation {SKIP_CLEANUP}: \"true\" to leave them",
            service.spec.account_ref.name
        );
        write_status(
            ctx,
            service,
            &previous,
            status::failed(generation, reason::DELETING, false, &message, &previous, &now),
        )
        .await?;
        return Ok(Outcome::Waiting(Action::requeue(ctx.settings.waiting)));
    };
    let (aws, cache) = ctx.session(&account.name_any(), &account.spec.aws).await;
    // From the status directly: a cluster still missing must not hide the listeners.
    let listeners: Vec<String> = account
        .status
        .iter()
        .flat_map(|s| s.load_balancers.iter().filter_map(|l| l.listener_arn.clone()))
        .collect();
    let teardown = crate::oneshot::teardown(service, &account, listeners, &ctx.settings.cluster_id);
    let build_bucket = account.status.as_ref().and_then(|s| s.account_id.as_deref()).map(|id| {
        crate::oneshot::build_bucket(&account.name_any(), &account, id, &ctx.settings.cluster_id)
    });
    let teardown = resources::Teardown { owner: owner(service, ctx), build_bucket, ..teardown };
    let locks: Vec<_> = teardown.listeners.iter().map(|l| ctx.listener_lock(l)).collect();
    let mut guards = Vec::new();
    for l in &locks {
        guards.push(l.lock().await);
    }
    let deleted = resources::delete(&aws, &teardown, &cache).await;
    let left = match deleted {
        Ok(_) => resources::plan_delete(&aws, &teardown, &cache).await,
        Err(e) => Err(e),
    };
    drop(guards);
    match left {
        Ok(plan) if plan.is_empty() => {
            let note = if teardown.retain {
                "AWS resources retained (deletionPolicy: Retain)"
            } else {
                "every AWS resource is deleted"
            };
            events::publish(ctx, service, EventType::Normal, "Deleted", note.into()).await;
            release_finalizer(ctx, service).await?;
            Ok(Outcome::Done(Action::await_change()))
        }
        Ok(plan) => {
            let message = format!("deleting; waiting for: {}", events::summary(&plan));
            write_status(
                ctx,
                service,
                &previous,
                status::failed(generation, reason::DELETING, false, &message, &previous, &now),
            )
            .await?;
            Ok(Outcome::Waiting(Action::requeue(ctx.settings.waiting)))
        }
        Err(e) => {
            let message = format!("deleting: {e}");
            write_status(
                ctx,
                service,
                &previous,
                status::failed(generation, reason::DELETING, false, &message, &previous, &now),
            )
            .await?;
            Err(Error::Engine(e))
        }
    }
}
