//! Kubernetes Events on transitions: what changed in AWS, rollouts completing or failing, errors,
//! deletion. Publishing failures are logged, never fatal.

use kube::{
    Resource,
    runtime::events::{Event, EventType},
};

use super::Context;
use crate::resources::{Action, Plan};

/// Publishes one event about `obj`.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "publishing an event failed");
    }
}

/// One line summarising a plan, e.g. `create TargetGroup web-1a2b3c; update EcsService …`.
pub fn summary(plan: &Plan) -> String {
    plan.changes
        .iter()
        .filter(|c| !matches!(c.action, Action::Retain | Action::Keep(_)))
        .map(|c| match &c.action {
            Action::Create => format!("create {} {}", c.kind, c.id),
            Action::Delete => format!("delete {} {}", c.kind, c.id),
            Action::Replace(why) => format!("replace {} {} ({why})", c.kind, c.id),
            Action::Update(fields) => format!(
                "update {} {} ({})",
                c.kind,
                c.id,
                fields.iter().map(|f| f.field).collect::<Vec<_>>().join(", ")
            ),
            Action::Retain | Action::Keep(_) => String::new(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
