//! `byoc delete`: every service of the files in reverse dependency order (honouring
//! `deletionPolicy`), then what the files' accounts own and no service uses any more; with
//! `--wait`, until ECS has drained the services and a fresh read finds nothing of them left.
//! Calls AWS.

use std::collections::BTreeMap;

use super::{Manifests, ROUND, Removal, Sessions, owner, retry_transient, session, wait};
use crate::{
    api::{CloudAccount, CloudService},
    resources::{self, ObserveCache, Plan, Teardown, account, account_teardown},
};

/// What deleting a service needs; from names only, so an invalid spec can still be deleted.
pub fn teardown(
    service: &CloudService,
    acct: &CloudAccount,
    listeners: Vec<String>,
    cluster_id: &str,
) -> Teardown {
    Teardown {
        owner: owner(service, cluster_id),
        cluster: acct.spec.cluster.name.clone(),
        retain: service.spec.deletion_policy.unwrap_or(acct.spec.defaults.deletion_policy)
            == crate::api::DeletionPolicy::Retain,
        listeners,
        build_bucket: None,
    }
}

/// The name of a CloudAccount's build bucket, given the AWS account id.
pub fn build_bucket(
    account: &str,
    acct: &CloudAccount,
    aws_account_id: &str,
    cluster_id: &str,
) -> String {
    resources::build_bucket::name(aws_account_id, &acct.spec.aws.region, account, cluster_id)
}

/// Deletes (or with `dry_run`, plans deleting) every service in the files, then what the files'
/// accounts own and no service uses any more (load balancers, ECS cluster).
pub async fn delete(
    m: &Manifests,
    sessions: &Sessions,
    cluster_id: &str,
    dry_run: bool,
) -> Result<Vec<(String, Plan)>, String> {
    let mut plans = delete_services(m, sessions, cluster_id, dry_run, &mut |_, _| {}).await?;
    plans.extend(delete_accounts(m, sessions, cluster_id, dry_run).await?);
    Ok(plans)
}

/// `delete`, telling `progress` how the removal of each service goes. With `wait`, the accounts'
/// own resources go only once ECS has drained every deleted service (waiting that long at most),
/// so that what those services held (cluster, Service Connect namespace) goes too; then every
/// service is read again from scratch, and any resource still there fails the command.
pub async fn delete_and_wait(
    m: &Manifests,
    sessions: &Sessions,
    cluster_id: &str,
    wait: Option<std::time::Duration>,
    mut progress: impl FnMut(&str, &Removal),
) -> Result<Vec<(String, Plan)>, String> {
    let mut plans = delete_services(m, sessions, cluster_id, false, &mut progress).await?;
    if let Some(timeout) = wait {
        let mut draining = Vec::new();
        for service in &m.services {
            let (account, acct) = service_account(m, service, cluster_id)?;
            let t = teardown(service, acct, Vec::new(), cluster_id);
            if !t.retain {
                draining.push(wait::Draining {
                    label: format!("CloudService {}", t.owner.key()),
                    account: account.clone(),
                    cluster: t.cluster.clone(),
                    service: t.owner.ecs_name(),
                });
            }
        }
        wait::drained(&draining, sessions, timeout, &mut progress).await?;
    }
    plans.extend(delete_accounts(m, sessions, cluster_id, false).await?);
    if wait.is_some() {
        check_deleted(m, sessions, cluster_id, &mut progress).await?;
    }
    Ok(plans)
}

/// Reads every deleted (not retained) service again, with a cache of its own: `Gone` when
/// nothing of it is left, else `Left` and an error naming what is.
async fn check_deleted(
    m: &Manifests,
    sessions: &Sessions,
    cluster_id: &str,
    progress: &mut impl FnMut(&str, &Removal),
) -> Result<(), String> {
    let cache = ObserveCache::new(ROUND);
    let mut left_behind = Vec::new();
    for (label, account, t) in teardowns(m, sessions, cluster_id).await? {
        if t.retain {
            continue;
        }
        let aws = session(sessions, &account)?;
        let plan = resources::plan_delete(aws, &t, &cache)
            .await
            .map_err(|e| format!("{label}: checking what is left: {e}"))?;
        let left: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.action == resources::Action::Delete)
            .map(|c| format!("{} {}", c.kind, c.id))
            .collect();
        if left.is_empty() {
            progress(&label, &Removal::Gone);
        } else {
            left_behind.push(format!("{label}: still in AWS after deleting: {}", left.join(", ")));
            progress(&label, &Removal::Left(left));
        }
    }
    if left_behind.is_empty() { Ok(()) } else { Err(left_behind.join("\n  ")) }
}

/// The account of a service, which the files must hold.
fn service_account<'a>(
    m: &'a Manifests,
    service: &CloudService,
    cluster_id: &str,
) -> Result<(&'a String, &'a CloudAccount), String> {
    let name = &service.spec.account_ref.name;
    m.accounts.get_key_value(name).ok_or_else(|| {
        format!(
            "CloudService {}: spec.accountRef.name: CloudAccount {name} is not in the files; add its manifest with -f (deleting needs to know where the service runs)",
            owner(service, cluster_id).key()
        )
    })
}

/// What deleting each service of the files needs, with its label and account: every listener of
/// its account (read once per account) and, for a service built from source, its build bucket.
async fn teardowns(
    m: &Manifests,
    sessions: &Sessions,
    cluster_id: &str,
) -> Result<Vec<(String, String, Teardown)>, String> {
    let mut out = Vec::new();
    let mut listeners_by_account: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut aws_account_ids: BTreeMap<String, Option<String>> = BTreeMap::new();
    for service in &m.services {
        let (name, acct) = service_account(m, service, cluster_id)?;
        let aws = session(sessions, name)?;
        // Each account is observed once, however many of its services the files hold.
        let listeners = match listeners_by_account.get(name) {
            Some(listeners) => listeners,
            None => {
                let listeners = account::teardown_listeners(aws, name, &acct.spec, cluster_id)
                    .await
                    .map_err(|e| format!("CloudAccount {name}: {e}"))?;
                listeners_by_account.entry(name.clone()).or_insert(listeners)
            }
        };
        let mut t = teardown(service, acct, listeners.clone(), cluster_id);
        if service.spec.build.is_some() {
            // One lookup per account, however many of its services were built.
            let id = match aws_account_ids.get(name) {
                Some(id) => id.clone(),
                None => {
                    let id = resources::build_bucket::aws_account_id(aws, &acct.spec.cluster.name)
                        .await
                        .map_err(|e| format!("CloudAccount {name}: {e}"))?;
                    aws_account_ids.entry(name.clone()).or_insert(id).clone()
                }
            };
            t.build_bucket = id.map(|id| build_bucket(name, acct, &id, cluster_id));
        }
        out.push((format!("CloudService {}", t.owner.key()), name.clone(), t));
    }
    Ok(out)
}

/// Deletes (or plans deleting) every service of the files, telling `progress` of each.
async fn delete_services(
    m: &Manifests,
    sessions: &Sessions,
    cluster_id: &str,
    dry_run: bool,
    progress: &mut impl FnMut(&str, &Removal),
) -> Result<Vec<(String, Plan)>, String> {
    let mut out = Vec::new();
    let cache = ObserveCache::new(ROUND);
    for (label, account, t) in teardowns(m, sessions, cluster_id).await? {
        let aws = session(sessions, &account)?;
        let plan = if dry_run {
            resources::plan_delete(aws, &t, &cache).await
        } else {
            // Every attempt's changes: a retried attempt only sees what the earlier ones left.
            let done = std::sync::Mutex::new(Plan::default());
            let result = retry_transient(&label, || async {
                let mut attempt = Plan::default();
                let result = resources::delete_recording(aws, &t, &cache, &mut attempt).await;
                done.lock().unwrap_or_else(|e| e.into_inner()).merge(attempt);
                result
            })
            .await;
            result.map(|_| done.into_inner().unwrap_or_else(|e| e.into_inner()))
        };
        let plan = plan.map_err(|e| format!("{label}: {e}"))?;
        let count = |f: fn(&resources::Action) -> bool| {
            plan.changes.iter().filter(|c| f(&c.action)).count()
        };
        let removal = if t.retain {
            Removal::Retained { retained: count(|a| *a == resources::Action::Retain) }
        } else {
            Removal::Deleted { deleted: count(|a| *a == resources::Action::Delete) }
        };
        progress(&label, &removal);
        out.push((label, plan));
    }
    Ok(out)
}

/// Then the accounts' own resources, which stay while any service still uses them. A namespace
/// or certificate still held by services that are draining answers transiently: retried, as
/// the controller's backoff would.
async fn delete_accounts(
    m: &Manifests,
    sessions: &Sessions,
    cluster_id: &str,
    dry_run: bool,
) -> Result<Vec<(String, Plan)>, String> {
    let mut out = Vec::new();
    for (name, acct) in &m.accounts {
        let aws = session(sessions, name)?;
        let label = format!("CloudAccount {name}");
        let plan = retry_transient(&label, || async {
            account_teardown::teardown(aws, name, &acct.spec, cluster_id, !dry_run)
                .await
                .map_err(resources::EngineError::aws(resources::Kind::Cluster, name))
        })
        .await
        .map_err(|e| format!("CloudAccount {name}: {e}"))?;
        out.push((label, plan));
    }
    Ok(out)
}
