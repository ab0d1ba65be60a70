//! One-shot mode: the pipeline driven from manifest files instead of a cluster, the way a deploy
//! CLI works (`byoc plan | apply | delete -f FILE|DIR`). A service is identified by
//! namespace/name and a stable id derived from them in place of the UID, so runs manage the
//! same resources. Everything is validated before the first AWS call.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use crate::manifests::{Manifests, load, parse_into};

mod build;
mod delete;
mod wait;

pub use delete::{build_bucket, delete, delete_and_wait, teardown};
pub use wait::{Draining, Removal, wait};

use crate::{
    api::{CloudAccount, CloudService, CloudServiceStatus},
    aws::{Aws, Category},
    desired::{self, DesiredStack, Owner, SecretData},
    resources::{
        self, ObserveCache, Plan, account,
        priorities::{Claim, conflicting_owner},
    },
    status,
};

/// One service ready for AWS.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub label: String,
    pub account: String,
    pub stack: DesiredStack,
    pub generation: Option<i64>,
    /// For a service built from source: what its build needs.
    pub validated: Option<Box<desired::Validated>>,
    /// Its local build context, packed.
    pub context: Option<crate::build::context::PackedContext>,
    /// Held by `spec.suspend` or the `byoc.dev/plan-only` annotation: `apply` changes nothing.
    pub hold: Hold,
}

/// Why `apply` leaves a service alone, as the controller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Applied as usual.
    No,
    /// `spec.suspend: true`: not touched at all.
    Suspended,
    /// `byoc.dev/plan-only: "true"`: planned (reads only), the plan in its status.
    PlanOnly,
}

impl Hold {
    fn of(service: &CloudService) -> Hold {
        if crate::api::is_plan_only(kube::ResourceExt::annotations(service)) {
            Hold::PlanOnly
        } else if service.spec.suspend {
            Hold::Suspended
        } else {
            Hold::No
        }
    }
}

/// The stable owner of a service in one-shot mode.
pub fn owner(service: &CloudService, cluster_id: &str) -> Owner {
    let namespace = service.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = service.metadata.name.clone().unwrap_or_default();
    let uid = service.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "oneshot-{:016x}",
            desired::naming::fnv1a(format!("{cluster_id}/{namespace}/{name}").as_bytes())
        )
    });
    Owner { namespace, name, uid, cluster_id: cluster_id.into() }
}

/// Validates every service; returns them all, or every problem found (no AWS call either way).
pub fn prepare(m: &Manifests, cluster_id: &str) -> Result<Vec<Prepared>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    if m.services.is_empty() {
        errors.push("no CloudService found in the files".to_string());
    }
    for (i, service) in m.services.iter().enumerate() {
        let owner = owner(service, cluster_id);
        let label = format!("CloudService {}", owner.key());
        if service.metadata.name.as_deref().unwrap_or_default().is_empty() {
            errors.push(format!("{label}: metadata.name: required"));
            continue;
        }
        let secrets: SecretData = m
            .secrets
            .iter()
            .filter(|((ns, _), _)| *ns == owner.namespace)
            .map(|((_, name), data)| (name.clone(), data.clone()))
            .collect();
        let account = m.accounts.get(&service.spec.account_ref.name);
        match desired::validate(service, account, None, &secrets) {
            Ok(_) if let Some(holder) = claimed_earlier(service, &owner, &out) => errors.push(format!(
                "{label}: spec.ingress: the host and path are already claimed by {holder}, listed before it in the files (first come, first served); choose another host or path"
            )),
            Ok(v) if let Some((pair, holder)) = served_earlier(&v, &owner, &out) => errors.push(format!(
                "{label}: spec.private: {pair} is already served by {holder}, listed before it in the files (first come, first served); choose another spec.private.name"
            )),
            Ok(v) => match build::pack(service, &m.service_dir(i)) {
                Ok(context) => out.push(Prepared {
                    label,
                    account: service.spec.account_ref.name.clone(),
                    stack: desired::desired_stack(&v, &owner),
                    generation: service.metadata.generation,
                    validated: service.spec.build.as_ref().map(|_| Box::new(v)),
                    context,
                    hold: Hold::of(service),
                }),
                Err(e) => errors.push(format!("{label}: {e}")),
            },
            Err(e) => errors.push(format!("{label}: {e}")),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The label of a service listed earlier whose route on the same load balancer overlaps
/// `service`'s: applying both would fail half-way, so the later one is refused up front.
fn claimed_earlier(service: &CloudService, owner: &Owner, earlier: &[Prepared]) -> Option<String> {
    let ingress = service.spec.ingress.as_ref()?;
    let mine =
        Claim { owner: owner.key(), hosts: ingress.hosts.clone(), paths: ingress.paths.clone() };
    let others: Vec<(&str, Claim)> = earlier
        .iter()
        .filter(|p| p.account == service.spec.account_ref.name)
        .filter_map(|p| {
            let i =
                p.stack.ingress.as_ref().filter(|i| i.load_balancer == ingress.load_balancer)?;
            let claim = Claim {
                owner: p.stack.owner.key(),
                hosts: i.hosts.clone(),
                paths: i.paths.clone(),
            };
            Some((p.label.as_str(), claim))
        })
        .collect();
    let holder = conflicting_owner(&mine, others.iter().map(|(_, c)| c))?;
    others.iter().find(|(_, c)| c.owner == holder.owner).map(|(label, _)| label.to_string())
}

/// The first private `name:port` of a validated service that a service listed earlier in the same
/// account serves already, with that service's label.
fn served_earlier(
    v: &desired::Validated,
    owner: &Owner,
    earlier: &[Prepared],
) -> Option<(String, String)> {
    let namespace = v.account.spec.service_connect.as_ref()?;
    let mine = desired::connect::desired_service_connect(&v.spec, owner, &namespace.namespace);
    earlier.iter().filter(|p| p.account == v.spec.account_ref.name).find_map(|p| {
        let theirs = p.stack.service.service_connect.as_ref()?.addresses();
        let pair = mine.addresses().into_iter().find(|a| theirs.contains(a))?;
        Some((pair, p.label.clone()))
    })
}

/// AWS clients per account name.
pub type Sessions = BTreeMap<String, Aws>;

fn session<'a>(sessions: &'a Sessions, account: &str) -> Result<&'a Aws, String> {
    sessions.get(account).ok_or_else(|| format!("no AWS session for account {account}"))
}

/// The plan for every service (and the account resources they need). Reads only.
pub async fn plan(
    m: &Manifests,
    prepared: &[Prepared],
    sessions: &Sessions,
) -> Result<Vec<(String, Plan)>, String> {
    let mut out = Vec::new();
    for (name, acct) in accounts_used(m, prepared) {
        let aws = session(sessions, name)?;
        let cluster_id = prepared
            .iter()
            .find(|p| p.account == *name)
            .map(|p| p.stack.owner.cluster_id.as_str())
            .unwrap_or_default();
        let (state, account_plan) = account::observe(aws, name, &acct.spec, cluster_id)
            .await
            .map_err(|e| format!("CloudAccount {name}: {e}"))?;
        out.push((format!("CloudAccount {name}"), account_plan));
        let cache = round_cache();
        check_target_group_quota(aws, name, &state, prepared, &cache).await?;
        for p in prepared.iter().filter(|p| p.account == *name) {
            out.push((p.label.clone(), plan_one(aws, p, &state, &cache).await?));
        }
    }
    Ok(out)
}

/// The plan of one service (its build first), with reads only.
async fn plan_one(
    aws: &Aws,
    p: &Prepared,
    state: &account::AccountState,
    cache: &ObserveCache,
) -> Result<Plan, String> {
    let (stack, built) = build::plan(aws, p).await.map_err(|e| format!("{}: {e}", p.label))?;
    let observed = resources::observe(aws, &stack, state, cache, None)
        .await
        .map_err(|e| format!("{}: {e}", p.label))?;
    let mut plan = resources::plan(&stack, &observed).map_err(|e| format!("{}: {e}", p.label))?;
    plan.changes.splice(0..0, built);
    Ok(plan)
}

/// A cache for one command over an account's services: the account is listed once (on the
/// first service's observe) for all of them.
fn round_cache() -> ObserveCache {
    ObserveCache::new(ROUND)
}

/// Refuses services that would add a target group to a load balancer already at its quota, as
/// the controller does from the account's status, counting from the account's snapshot (taken
/// here for the whole command).
async fn check_target_group_quota(
    aws: &Aws,
    account: &str,
    state: &account::AccountState,
    prepared: &[Prepared],
    cache: &ObserveCache,
) -> Result<(), String> {
    if let Some(p) = prepared.iter().find(|p| p.account == account) {
        cache
            .ensure_snapshot(aws, &p.stack.cluster, &p.stack.owner.cluster_id)
            .await
            .map_err(|e| format!("CloudAccount {account}: {e}"))?;
    }
    let snapshot = cache.snapshot();
    let mut errors = Vec::new();
    for (lb_name, lb) in &state.load_balancers {
        let joining: Vec<(&Prepared, &str)> = prepared
            .iter()
            .filter(|p| p.account == account)
            .filter_map(|p| {
                let ingress = p.stack.ingress.as_ref().filter(|i| i.load_balancer == *lb_name)?;
                Some((p, ingress.target_group_name.as_str()))
            })
            .collect();
        if joining.is_empty() {
            continue;
        }
        let attached = match (&snapshot, &lb.arn) {
            (Some(snap), Some(arn)) => snap
                .target_groups
                .values()
                .filter(|tg| tg.load_balancer_arns().contains(arn))
                .filter_map(|tg| tg.target_group_name().map(str::to_string))
                .collect(),
            _ => account::attached_target_groups(aws, lb)
                .await
                .map_err(|e| format!("CloudAccount {account}: {e}"))?,
        };
        let mut count = attached.len() as i32;
        for (p, target_group) in joining {
            if attached.iter().any(|t| t == target_group) {
                continue;
            }
            match account::target_group_quota_refusal(account, lb_name, count) {
                Some(message) => errors.push(format!("{}: {message}", p.label)),
                None => count += 1,
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("\n  ")) }
}

/// How long observations stay valid within one command.
const ROUND: std::time::Duration = std::time::Duration::from_secs(600);

fn accounts_used<'a>(
    m: &'a Manifests,
    prepared: &[Prepared],
) -> Vec<(&'a String, &'a CloudAccount)> {
    m.accounts.iter().filter(|(name, _)| prepared.iter().any(|p| p.account == **name)).collect()
}

/// Applies every service; returns the status each would have in the cluster.
pub async fn apply(
    m: &Manifests,
    prepared: &[Prepared],
    sessions: &Sessions,
) -> Result<Vec<(String, CloudServiceStatus)>, String> {
    let now = Time(jiff::Timestamp::now());
    let mut out = Vec::new();
    for (name, acct) in accounts_used(m, prepared) {
        let aws = session(sessions, name)?;
        let state = account::ensure(aws, name, &acct.spec, &prepared[0].stack.owner.cluster_id)
            .await
            .map_err(|e| format!("CloudAccount {name}: {e}"))?;
        let cache = round_cache();
        check_target_group_quota(aws, name, &state, prepared, &cache).await?;
        for p in prepared.iter().filter(|p| p.account == *name) {
            match p.hold {
                Hold::No => {}
                Hold::Suspended => {
                    let status =
                        status::suspended(&CloudServiceStatus::default(), p.generation, &now);
                    out.push((p.label.clone(), status));
                    continue;
                }
                Hold::PlanOnly => {
                    let plan = plan_one(aws, p, &state, &cache).await?;
                    let previous = CloudServiceStatus::default();
                    let status =
                        status::planned(p.generation, &p.label, &plan, false, &previous, &now);
                    out.push((p.label.clone(), status));
                    continue;
                }
            }
            let (stack, built) = match build::run(aws, p, (name, acct), &state, &cache).await? {
                Some((Some(stack), built)) => (stack, Some(built)),
                Some((None, failed)) => {
                    let status = CloudServiceStatus::default();
                    out.push((
                        p.label.clone(),
                        status::with_build(status, failed, p.generation, &now),
                    ));
                    continue;
                }
                None => (p.stack.clone(), None),
            };
            let applied = apply_one(aws, p, &stack, &state, &cache)
                .await
                .map_err(|e| format!("{}: {e}", p.label))?;
            let mut status = status::applied(p.generation, &applied, &[], &now);
            if let Some(built) = built {
                status = status::with_build(status, built, p.generation, &now);
            }
            out.push((p.label.clone(), status));
        }
        // The hosts the services route now get their certificates and records.
        if acct.spec.domains.is_some() {
            let tags = account::account_tags(name, &acct.spec, &prepared[0].stack.owner.cluster_id);
            let owner = crate::resources::domains::Owner {
                account: name,
                cluster_id: &prepared[0].stack.owner.cluster_id,
                tags: &tags,
            };
            let (domains, _) = crate::resources::domains::reconcile(
                aws,
                &acct.spec,
                &state,
                &owner,
                &round_cache(),
                None,
                true,
            )
            .await
            .map_err(|e| format!("CloudAccount {name}: custom domains: {e}"))?;
            for (label, status) in out.iter_mut() {
                let Some(p) = prepared.iter().find(|p| p.account == *name && p.label == *label)
                else {
                    continue;
                };
                let Some(service) = m.services.iter().find(|s| {
                    s.metadata.name.as_deref() == Some(p.stack.owner.name.as_str())
                        && s.metadata.namespace.as_deref().unwrap_or("default")
                            == p.stack.owner.namespace
                }) else {
                    continue;
                };
                let lb_dns = service
                    .spec
                    .ingress
                    .as_ref()
                    .and_then(|i| state.load_balancers.get(&i.load_balancer))
                    .and_then(|l| l.dns_name.as_deref());
                *status = status::with_domains(
                    std::mem::take(status),
                    &service.spec,
                    &acct.spec,
                    &domains,
                    lb_dns,
                );
            }
        }
    }
    Ok(out)
}

/// How long `apply` keeps retrying a service whose AWS calls failed transiently (throttling, a
/// secret name still held by its deletion, a target group still in use right after its rule was
/// deleted) before it gives up, as the controller's backoff would.
const TRANSIENT_RETRY: std::time::Duration = std::time::Duration::from_secs(90);

/// Observes and applies one service, again with backoff while AWS answers transiently.
async fn apply_one(
    aws: &Aws,
    p: &Prepared,
    stack: &DesiredStack,
    state: &account::AccountState,
    cache: &ObserveCache,
) -> Result<resources::Applied, resources::EngineError> {
    retry_transient(&p.label, || async {
        let observed = resources::observe(aws, stack, state, cache, None).await?;
        resources::apply(aws, stack, &observed, state, cache).await
    })
    .await
}

/// Runs `attempt` until it succeeds, fails for good, or `TRANSIENT_RETRY` has passed, backing off
/// from half a second to ten seconds while AWS answers transiently.
async fn retry_transient<T, F, Fut>(
    label: &str,
    mut attempt: F,
) -> Result<T, resources::EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, resources::EngineError>>,
{
    let deadline = tokio::time::Instant::now() + TRANSIENT_RETRY;
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        match attempt().await {
            Err(e)
                if matches!(e.category(), Some(Category::Transient | Category::Throttled))
                    && tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::warn!(object = %label, error = %e, retry_in = ?delay, "transient AWS error; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
            other => return other,
        }
    }
}
