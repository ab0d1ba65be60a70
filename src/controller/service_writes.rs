//! The Kubernetes writes of a CloudService's reconcile: our finalizer added and released
//! (guarded by resourceVersion), the status written with server-side apply only when it changed,
//! and an Event when `Ready` or its reason flips. IO against the API server only; every write
//! uses the field manager `byoc-operator` and passes a failpoint before and after.

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::EventType,
};
use serde_json::json;

use super::{Context, Error, events};
use crate::api::{self, CloudService, CloudServiceStatus, FINALIZER, READY, reason};

pub(super) async fn ensure_finalizer(ctx: &Context, service: &CloudService) -> Result<(), Error> {
    if service.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = service.finalizers().to_vec();
    finalizers.push(FINALIZER.into());
    crate::failpoint!("service.finalizer.add.before");
    patch_finalizers(ctx, service, finalizers).await?;
    crate::failpoint!("service.finalizer.add.after");
    Ok(())
}

/// Lets the object go: removes our finalizer, and the service's gauges with it.
pub(super) async fn release_finalizer(ctx: &Context, service: &CloudService) -> Result<(), Error> {
    let remaining = service.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    crate::failpoint!("service.finalizer.remove.before");
    patch_finalizers(ctx, service, remaining).await?;
    ctx.metrics.forget_service(&service.namespace().unwrap_or_default(), &service.name_any());
    crate::failpoint!("service.finalizer.remove.after");
    Ok(())
}

/// Sets the finalizer list, guarded by the object's resourceVersion (optimistic concurrency).
async fn patch_finalizers(
    ctx: &Context,
    service: &CloudService,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    let api = Api::<CloudService>::namespaced(
        ctx.client.clone(),
        &service.namespace().unwrap_or_default(),
    );
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": service.resource_version()}});
    api.patch(&service.name_any(), &super::merge_params(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Writes the status with server-side apply, only when it changed. The service's gauges follow
/// `next` either way (a restarted controller finds most statuses unchanged).
pub(super) async fn write_status(
    ctx: &Context,
    service: &CloudService,
    previous: &CloudServiceStatus,
    next: CloudServiceStatus,
) -> Result<(), Error> {
    let namespace = service.namespace().unwrap_or_default();
    ctx.metrics.observe_service(&namespace, &service.name_any(), &next, service.spec.suspend);
    if *previous == next && service.status.is_some() {
        return Ok(());
    }
    let api = Api::<CloudService>::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({"apiVersion": format!("{}/{}", api::GROUP, api::VERSION), "kind": "CloudService", "status": next});
    crate::failpoint!("service.status.before");
    api.patch_status(
        &service.name_any(),
        &PatchParams::apply(api::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    crate::failpoint!("service.status.after");
    Ok(())
}

/// Events when Ready or the failure reason flips.
pub(super) async fn transition_event(
    ctx: &Context,
    service: &CloudService,
    previous: &CloudServiceStatus,
    next: &CloudServiceStatus,
) {
    let ready = |s: &CloudServiceStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == READY)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let (before, after) = (ready(previous), ready(next));
    if before.as_ref().map(|b| (&b.0, &b.1)) == after.as_ref().map(|a| (&a.0, &a.1)) {
        return;
    }
    let Some((status, why, message)) = after else { return };
    tracing::info!(condition = READY, status = %status, reason = %why, message = %message, "condition changed");
    match (status.as_str(), why.as_str()) {
        (_, reason::PLAN_ONLY) => {
            events::publish(ctx, service, EventType::Normal, "Planned", message).await
        }
        ("True", _) => {
            events::publish(ctx, service, EventType::Normal, "RolloutCompleted", message).await
        }
        (_, reason::ROLLING_OUT) => {
            events::publish(ctx, service, EventType::Normal, "RollingOut", message).await
        }
        (_, why) => events::publish(ctx, service, EventType::Warning, why, message).await,
    }
}
