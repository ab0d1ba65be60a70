//! `byoc apply --wait`: follows every applied service's rollout until it completes or fails,
//! reading the ECS services ten at a time, and remembers a revision ECS failed so the next apply
//! does not deploy it again. `byoc delete --wait`: follows every deleted ECS service while it
//! drains, until ECS has stopped its tasks. Reads, and one tag write on a failed revision.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Prepared, Sessions, session};
use crate::{
    api::CloudServiceStatus,
    resources::{self, Plan},
    status,
};

/// How often the ECS services are looked at while waiting.
const POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits until the rollout of every applied service completes or fails, calling `progress` with
/// a service's label and status each time it is looked at. One `DescribeServices` per cluster and
/// ten services per poll. A failed rollout does not stop the others being followed; the error
/// names every one that failed, or those still rolling out at the timeout.
pub async fn wait(
    prepared: &[Prepared],
    statuses: &mut [(String, CloudServiceStatus)],
    sessions: &Sessions,
    timeout: std::time::Duration,
    mut progress: impl FnMut(&(String, CloudServiceStatus)),
) -> Result<(), String> {
    use crate::api::{ResourceState, RolloutState};
    let deadline = tokio::time::Instant::now() + timeout;
    let mut failures: Vec<String> = Vec::new();
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
            return if failures.is_empty() { Ok(()) } else { Err(failures.join("\n  ")) };
        }
        if tokio::time::Instant::now() >= deadline {
            let labels: Vec<&str> = pending.iter().map(|i| statuses[*i].0.as_str()).collect();
            failures.push(format!(
                "timed out after {} waiting for {} rollout(s): {}",
                crate::progress::table::duration(timeout),
                pending.len(),
                labels.join(", ")
            ));
            return Err(failures.join("\n  "));
        }
        // Services are described ten at a time, per account and cluster.
        let mut by_cluster: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for i in pending {
            if let Some(p) = prepared.iter().find(|p| p.label == statuses[i].0) {
                by_cluster.entry((&p.account, &p.stack.cluster)).or_default().push(i);
            }
        }
        let chunks: Vec<Vec<usize>> =
            by_cluster.values().flat_map(|group| group.chunks(10).map(<[usize]>::to_vec)).collect();
        for chunk in &chunks {
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
                    failures.push(format!("{label}: the rollout failed: {message}"));
                }
                progress(&statuses[*i]);
            }
        }
        let rolling_out = statuses
            .iter()
            .any(|(_, s)| s.rollout.as_ref().is_some_and(|r| r.state == RolloutState::InProgress));
        if rolling_out {
            tokio::time::sleep(POLL).await;
        }
    }
}

/// How the deletion of one service goes, as `delete_and_wait` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Its AWS resources were deleted (this many); ECS may still drain its service.
    Deleted { deleted: usize },
    /// `deletionPolicy: Retain`: its resources (this many) stay in place.
    Retained { retained: usize },
    /// Its ECS service drains: ECS stops its tasks (`running` still run).
    Draining { running: i32 },
    /// Checked after deleting: nothing of it is left in AWS.
    Gone,
    /// Checked after deleting: still in AWS (kind and id of each).
    Left(Vec<String>),
}

/// A deleted service whose ECS service may still be draining.
#[derive(Debug, Clone)]
pub struct Draining {
    pub label: String,
    pub account: String,
    pub cluster: String,
    /// The ECS service's name.
    pub service: String,
}

/// Waits until no ECS service of `targets` is DRAINING any more (ECS has stopped its tasks and
/// the service is INACTIVE, or gone with its cluster), calling `progress` each time a draining one
/// is looked at. One `DescribeServices` per cluster and ten services per poll.
pub async fn drained(
    targets: &[Draining],
    sessions: &Sessions,
    timeout: std::time::Duration,
    progress: &mut impl FnMut(&str, &Removal),
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pending: Vec<&Draining> = targets.iter().collect();
    loop {
        let mut by_cluster: BTreeMap<(&str, &str), Vec<&Draining>> = BTreeMap::new();
        for d in &pending {
            by_cluster.entry((&d.account, &d.cluster)).or_default().push(d);
        }
        let mut still = Vec::new();
        for ((account, cluster), group) in by_cluster {
            let aws = session(sessions, account)?;
            for chunk in group.chunks(10) {
                let names: Vec<String> = chunk.iter().map(|d| d.service.clone()).collect();
                let out = match aws
                    .call(
                        "ecs",
                        "DescribeServices",
                        aws.ecs
                            .describe_services()
                            .cluster(cluster)
                            .set_services(Some(names))
                            .send(),
                    )
                    .await
                {
                    // The cluster is gone, and its services with it.
                    Err(e) if e.is_not_found() => continue,
                    other => other.map_err(|e| format!("CloudAccount {account}: {e}"))?,
                };
                for d in chunk {
                    let draining = out.services().iter().find(|s| {
                        s.service_name() == Some(d.service.as_str())
                            && s.status() == Some("DRAINING")
                    });
                    // INACTIVE, missing, or ACTIVE (not deleted: not ours): nothing to wait for.
                    if let Some(s) = draining {
                        progress(&d.label, &Removal::Draining { running: s.running_count() });
                        still.push(*d);
                    }
                }
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let labels: Vec<&str> = still.iter().map(|d| d.label.as_str()).collect();
            return Err(format!(
                "timed out after {} waiting for {} ECS service(s) to drain: {}",
                crate::progress::table::duration(timeout),
                still.len(),
                labels.join(", ")
            ));
        }
        pending = still;
        tokio::time::sleep(POLL).await;
    }
}
