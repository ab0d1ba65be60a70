//! `byoc apply --wait`: follows every applied service's rollout until it completes or fails,
//! reading the ECS services ten at a time, and remembers a revision ECS failed so the next apply
//! does not deploy it again. Reads, and one tag write on a failed revision.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Prepared, Sessions, session};
use crate::{
    api::CloudServiceStatus,
    resources::{self, Plan},
    status,
};

/// Waits until the rollout of every applied service completes (or fails), calling `progress` with
/// a line whenever a rollout's state changes. One `DescribeServices` per cluster and ten services
/// per poll.
pub async fn wait(
    prepared: &[Prepared],
    statuses: &mut [(String, CloudServiceStatus)],
    sessions: &Sessions,
    timeout: std::time::Duration,
    mut progress: impl FnMut(&str),
) -> Result<(), String> {
    use crate::api::{ResourceState, RolloutState};
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let pending: Vec<usize> = statuses
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| {
                s.rollout.as_ref().is_some_and(|r| r.state == RolloutState::InProgress)
            })
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "timed out after {timeout:?} waiting for {} rollout(s)",
                pending.len()
            ));
        }
        for chunk in pending.chunks(10) {
            let Some(first) = prepared.iter().find(|p| p.label == statuses[chunk[0]].0) else {
                continue;
            };
            let aws = session(sessions, &first.account)?;
            let names: Vec<String> = chunk
                .iter()
                .filter_map(|i| {
                    prepared
                        .iter()
                        .find(|p| p.label == statuses[*i].0)
                        .map(|p| p.stack.service.name.clone())
                })
                .collect();
            let out = aws
                .call(
                    "ecs",
                    "DescribeServices",
                    aws.ecs
                        .describe_services()
                        .cluster(&first.stack.cluster)
                        .set_services(Some(names))
                        .send(),
                )
                .await
                .map_err(|e| e.to_string())?;
            for i in chunk {
                let (label, status) = &mut statuses[*i];
                let Some(p) = prepared.iter().find(|p| p.label == *label) else { continue };
                let Some(svc) = out
                    .services()
                    .iter()
                    .find(|s| s.service_name() == Some(p.stack.service.name.as_str()))
                else {
                    continue;
                };
                let td = status
                    .resources
                    .iter()
                    .find(|r| r.kind == "TaskDefinition")
                    .map(|r| r.id.clone())
                    .unwrap_or_default();
                let previous = status.rollout.clone();
                let deadline = resources::rollout::Deadline::from_now(
                    p.stack.service.progress_deadline_seconds,
                );
                let known =
                    resources::rollout::Known { previous: previous.as_ref(), deployment: None };
                let rollout = resources::rollout::rollout(svc, &td, known, Some(deadline));
                let line = format!(
                    "{label}: {:?}, {}/{} running, {} pending{}",
                    rollout.state,
                    rollout.running,
                    rollout.desired,
                    rollout.pending,
                    match rollout.failed_tasks {
                        0 => String::new(),
                        n => format!(", {n} failed"),
                    }
                );
                if last.get(label.as_str()) != Some(&line) {
                    progress(&line);
                    last.insert(label.clone(), line);
                }
                if rollout.state == RolloutState::Failed {
                    // Remember a revision ECS failed (and maybe rolled back), so the next apply
                    // does not deploy it again; a missed progress deadline is not such a failure.
                    if let Some(failed) =
                        resources::rollout::failed_revision(&td, None, Some(svc), known)
                    {
                        resources::mark_failed_revision(aws, &td, &failed.message)
                            .await
                            .map_err(|e| format!("{label}: {e}"))?;
                    }
                }
                let failed = (rollout.state == RolloutState::Failed)
                    .then(|| rollout.message.clone().unwrap_or_default());
                let mut resources = status.resources.clone();
                for r in resources.iter_mut().filter(|r| r.kind == "EcsService") {
                    r.state = if rollout.state == RolloutState::Completed {
                        ResourceState::Ready
                    } else {
                        ResourceState::Pending
                    };
                }
                let applied = resources::Applied {
                    plan: Plan::default(),
                    resources,
                    rollout,
                    url: status.url.clone(),
                    private_addresses: status.private_addresses.clone(),
                    autoscaling: status.autoscaling.clone(),
                };
                *status = status::applied(
                    p.generation,
                    &applied,
                    &status.conditions,
                    &Time(jiff::Timestamp::now()),
                );
                if let Some(message) = failed {
                    return Err(format!("{label}: the rollout failed: {message}"));
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
