//! Holding a CloudService: the preview (`byoc.dev/plan-only`, the plan against live AWS with
//! reads only, into `status.plan`), the events of `spec.suspend`, and services this installation
//! leaves to another (their account outside its `--account-selector`). IO against AWS (reads) and
//! the API server.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    runtime::{controller::Action, events::EventType},
};

use super::{
    Context, Error, events,
    service::{Outcome, failed},
    service_writes::{transition_event, write_status},
};
use crate::{
    api::{CloudAccount, CloudService, CloudServiceStatus, SUSPENDED},
    desired::{self, Owner},
    resources::{self, EngineError, Kind, account::AccountState},
    status,
};

/// Whether the service's account exists but this installation does not handle it (outside its
/// `--account-selector`: another shard's). Such a service is not ours: no status, no finalizer.
/// The account watch brings the service back if its account moves into this shard. Asked only
/// for a service whose account is not in this installation's cache.
pub(super) async fn handled_elsewhere(
    service: &CloudService,
    ctx: &Context,
) -> Result<bool, Error> {
    let accounts = Api::<CloudAccount>::all(ctx.client.clone());
    Ok(accounts.get_opt(&service.spec.account_ref.name).await?.is_some())
}

/// The state of an account that is itself a preview, as AWS has it (reads only).
pub(super) async fn observe_account(
    ctx: &Context,
    account: &CloudAccount,
) -> Result<AccountState, EngineError> {
    let (aws, _) = ctx.session(&account.name_any(), &account.spec.aws).await;
    resources::account::observe(&aws, &account.name_any(), &account.spec, &ctx.settings.cluster_id)
        .await
        .map(|(state, _)| state)
        .map_err(EngineError::aws(Kind::Cluster, &account.spec.cluster.name))
}

/// A preview (`byoc.dev/plan-only`): the plan against live AWS, with reads only, into
/// `status.plan`. Looked at again every resync, so the plan follows changes made in AWS.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run(
    ctx: &Context,
    service: &CloudService,
    validated: &desired::Validated,
    owner: &Owner,
    account: &CloudAccount,
    state: &AccountState,
    previous: &CloudServiceStatus,
    now: &Time,
) -> Result<Outcome, Error> {
    let generation = service.metadata.generation;
    let stack = desired::desired_stack(validated, owner);
    let (aws, cache) = ctx.session(&account.name_any(), &account.spec.aws).await;
    if previous.plan.as_ref().and_then(|p| p.observed_generation) != generation {
        cache.touch_stack(&stack, &state.listener_arns());
    }
    let planned = async {
        let (stack, built) = if validated.spec.build.is_some() {
            super::build::plan(ctx, validated, owner, stack, &aws).await?
        } else {
            (stack, Vec::new())
        };
        let observed =
            resources::observe(&aws, &stack, state, &cache, previous.rollout.as_ref()).await?;
        let mut plan = resources::plan(&stack, &observed)?;
        plan.changes.splice(0..0, built);
        Ok::<_, resources::EngineError>(plan)
    }
    .await;
    match planned {
        Ok(plan) => {
            let label = format!("CloudService {}", owner.key());
            let next =
                status::planned(generation, &label, &plan, service.spec.suspend, previous, now);
            hold_event(ctx, service, previous, &next).await;
            transition_event(ctx, service, previous, &next).await;
            write_status(ctx, service, previous, next).await?;
            Ok(Outcome::Done(Action::requeue(ctx.settings.resync)))
        }
        Err(e) => failed(ctx, service, previous, e, generation, now).await,
    }
}

/// An event and a log line when the service is suspended or resumed.
pub(super) async fn hold_event(
    ctx: &Context,
    service: &CloudService,
    previous: &CloudServiceStatus,
    next: &CloudServiceStatus,
) {
    let suspended = |s: &CloudServiceStatus| {
        s.conditions.iter().any(|c| c.type_ == SUSPENDED && c.status == "True")
    };
    match (suspended(previous), suspended(next)) {
        (false, true) => {
            tracing::info!(condition = SUSPENDED, status = "True", "condition changed");
            events::publish(
                ctx,
                service,
                EventType::Normal,
                "Suspended",
                status::SUSPENDED_MESSAGE.into(),
            )
            .await;
        }
        (true, false) => {
            tracing::info!(condition = SUSPENDED, status = "False", "condition changed");
            events::publish(
                ctx,
                service,
                EventType::Normal,
                "Resumed",
                "spec.suspend is false: reconciling again".into(),
            )
            .await;
        }
        _ => {}
    }
}
