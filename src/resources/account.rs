//! Account-level resources shared by the services of a CloudAccount: the ECS cluster (created when
//! absent, used but never changed when it exists without our tags) and, per load balancer of the
//! pool, the ALB and its listeners (HTTPS plus an HTTP redirect when a certificate is given; see
//! `listener`), unless the pool entry names an `existing` listener. `observe` only reads; `ensure`
//! creates what is missing, including a redirect listener an earlier `ensure` failed to create.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::ClusterField;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, LoadBalancerTypeEnum};

use super::{
    Action, Change, Kind, ObserveCache, Plan, Presence,
    listener::{
        HTTP_PORT, create_listener, create_redirect_listener, listener_port, missing_listener_ports,
    },
    namespace,
    tags::{self, Tags},
};
use crate::{
    api::{CloudAccountSpec, LoadBalancer, Scheme},
    aws::{Aws, AwsError},
    desired::{naming, tag},
};

/// What services of the account need from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    pub cluster_arn: Option<String>,
    /// The Service Connect namespace's ARN (`spec.serviceConnect`), once it exists.
    pub namespace_arn: Option<String>,
    /// Per pool entry name.
    pub load_balancers: BTreeMap<String, LoadBalancerState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancerState {
    pub arn: Option<String>,
    pub dns_name: Option<String>,
    pub listener_arn: Option<String>,
    /// The Route 53 zone of the load balancer's DNS name (an alias record's target zone).
    pub canonical_zone_id: Option<String>,
}

impl AccountState {
    /// The ARNs of every listener of the account's load balancers.
    pub fn listener_arns(&self) -> Vec<String> {
        self.load_balancers.values().filter_map(|l| l.listener_arn.clone()).collect()
    }
}

/// Tags of account-level resources.
pub fn account_tags(account: &str, spec: &CloudAccountSpec, cluster_id: &str) -> Tags {
    let mut t = spec.tags.clone();
    t.insert(tag::MANAGED_BY.into(), naming::MANAGED_BY.into());
    t.insert(tag::CLUSTER_ID.into(), cluster_id.into());
    t.insert(tag::ACCOUNT.into(), account.into());
    t
}

/// Whether account-level tags say the resource is this installation's, for this account.
pub fn owned_by(tags: &Tags, account: &str, cluster_id: &str) -> bool {
    naming::is_managed(tags)
        && tags.get(tag::CLUSTER_ID).is_some_and(|c| c == cluster_id)
        && tags.get(tag::ACCOUNT).is_some_and(|a| a == account)
}

/// The ALB name for a pool entry (≤ 32 characters).
pub fn load_balancer_name(account: &str, lb: &LoadBalancer) -> String {
    naming::account_resource_name(account, &lb.name, 32)
}

/// Reads the account's resources; the plan lists what `ensure` would create.
pub async fn observe(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
) -> Result<(AccountState, Plan), AwsError> {
    let observed = observe_all(aws, account, spec, cluster_id).await?;
    Ok((observed.state, observed.plan))
}

/// What `observe` reads, plus the pool entries whose HTTP→HTTPS redirect listener is missing.
struct Observed {
    state: AccountState,
    plan: Plan,
    missing_redirects: Vec<String>,
}

async fn observe_all(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
) -> Result<Observed, AwsError> {
    let mut state = AccountState::default();
    let mut plan = Plan::default();
    let mut missing_redirects = Vec::new();
    state.cluster_arn = observe_cluster(aws, &spec.cluster.name).await?;
    if state.cluster_arn.is_none() {
        plan.push(Some(Change::new(Kind::Cluster, &spec.cluster.name, Action::Create)));
    }
    if let Some(sc) = &spec.service_connect {
        match namespace::observe(aws, &sc.namespace, |t| owned_by(t, account, cluster_id)).await? {
            Presence::Missing => {
                plan.push(Some(Change::new(Kind::Namespace, &sc.namespace, Action::Create)));
            }
            Presence::Ours(n) => state.namespace_arn = Some(n.arn),
            // Someone else's namespace is used as it is, never changed.
            Presence::Foreign(arn) => state.namespace_arn = Some(arn),
        }
    }
    for lb in &spec.load_balancers {
        let (lb_state, ports) = observe_load_balancer(aws, account, lb, cluster_id).await?;
        if let Some(existing) = &lb.existing {
            state.load_balancers.insert(
                lb.name.clone(),
                LoadBalancerState { listener_arn: Some(existing.listener_arn.clone()), ..lb_state },
            );
            continue;
        }
        let name = load_balancer_name(account, lb);
        if lb_state.arn.is_none() {
            plan.push(Some(Change::new(Kind::LoadBalancer, &name, Action::Create)));
        }
        for port in missing_listener_ports(lb, &ports) {
            plan.push(Some(Change::new(Kind::Listener, format!("{name} {port}"), Action::Create)));
            if port == HTTP_PORT && lb.certificate_arn.is_some() {
                missing_redirects.push(lb.name.clone());
            }
        }
        state.load_balancers.insert(lb.name.clone(), lb_state);
    }
    Ok(Observed { state, plan, missing_redirects })
}

async fn observe_cluster(aws: &Aws, name: &str) -> Result<Option<String>, AwsError> {
    let out = aws
        .call(
            "ecs",
            "DescribeClusters",
            aws.ecs.describe_clusters().clusters(name).include(ClusterField::Tags).send(),
        )
        .await?;
    Ok(out
        .clusters()
        .iter()
        .find(|c| c.status() == Some("ACTIVE"))
        .and_then(|c| c.cluster_arn())
        .map(str::to_string))
}

/// The load balancer of a pool entry and the ports of its listeners (none for an `existing` one:
/// nothing is created on a load balancer we do not own).
async fn observe_load_balancer(
    aws: &Aws,
    account: &str,
    lb: &LoadBalancer,
    cluster_id: &str,
) -> Result<(LoadBalancerState, Vec<i32>), AwsError> {
    if let Some(existing) = &lb.existing {
        let out = aws
            .call(
                "elbv2",
                "DescribeListeners",
                aws.elb.describe_listeners().listener_arns(&existing.listener_arn).send(),
            )
            .await?;
        let lb_arn =
            out.listeners().first().and_then(|l| l.load_balancer_arn()).map(str::to_string);
        let state = LoadBalancerState {
            arn: lb_arn,
            dns_name: None,
            listener_arn: Some(existing.listener_arn.clone()),
            canonical_zone_id: None,
        };
        return Ok((state, Vec::new()));
    }
    let name = load_balancer_name(account, lb);
    let out = match aws
        .call(
            "elbv2",
            "DescribeLoadBalancers",
            aws.elb.describe_load_balancers().names(&name).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => return Ok((LoadBalancerState::default(), Vec::new())),
        other => other?,
    };
    let Some(found) = out.load_balancers().first() else {
        return Ok((LoadBalancerState::default(), Vec::new()));
    };
    let arn = found.load_balancer_arn().unwrap_or_default().to_string();
    let described = aws
        .call("elbv2", "DescribeTags", aws.elb.describe_tags().resource_arns(&arn).send())
        .await?;
    let lb_tags =
        described.tag_descriptions().first().map(|d| tags::from_elb(d.tags())).unwrap_or_default();
    if !owned_by(&lb_tags, account, cluster_id) {
        return Err(AwsError {
            operation: "DescribeLoadBalancers",
            code: OWNERSHIP_CONFLICT.into(),
            message: format!(
                "load balancer {name} exists without our ownership tags; it is left untouched: remove it, or use it through loadBalancers[].existing.listenerArn"
            ),
            category: crate::aws::Category::Invalid,
        });
    }
    let listeners = aws
        .call(
            "elbv2",
            "DescribeListeners",
            aws.elb.describe_listeners().load_balancer_arn(&arn).send(),
        )
        .await?;
    let listener_arn = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(listener_port(lb)))
        .and_then(|l| l.listener_arn())
        .map(str::to_string);
    let ports = listeners.listeners().iter().filter_map(|l| l.port()).collect();
    let state = LoadBalancerState {
        arn: Some(arn),
        dns_name: found.dns_name().map(str::to_string),
        listener_arn,
        canonical_zone_id: found.canonical_hosted_zone_id().map(str::to_string),
    };
    Ok((state, ports))
}

/// The listeners the account's services may have rules on, for deleting those: the listener of
/// each of our load balancers and each `existing` one. A same-named load balancer that is not ours
/// is skipped rather than refused (nothing was ever put on it), so it never blocks a deletion.
pub async fn teardown_listeners(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
) -> Result<Vec<String>, AwsError> {
    let mut listeners = Vec::new();
    for lb in &spec.load_balancers {
        match observe_load_balancer(aws, account, lb, cluster_id).await {
            Ok((state, _)) => listeners.extend(state.listener_arn),
            Err(e) if e.code == OWNERSHIP_CONFLICT => {}
            Err(e) => return Err(e),
        }
    }
    Ok(listeners)
}

/// The error code `observe` gives for a load balancer with our name but not our tags.
const OWNERSHIP_CONFLICT: &str = "OwnershipConflict";

/// Creates whatever `observe` found missing; returns the complete state.
pub async fn ensure(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
) -> Result<AccountState, AwsError> {
    let tags = account_tags(account, spec, cluster_id);
    let Observed { mut state, missing_redirects, .. } =
        observe_all(aws, account, spec, cluster_id).await?;
    if state.cluster_arn.is_none() {
        Change::new(Kind::Cluster, &spec.cluster.name, Action::Create).log();
        let out = aws
            .call(
                "ecs",
                "CreateCluster",
                aws.ecs
                    .create_cluster()
                    .cluster_name(&spec.cluster.name)
                    .set_tags(Some(tags::ecs(&tags)))
                    .send(),
            )
            .await?;
        state.cluster_arn = out.cluster().and_then(|c| c.cluster_arn()).map(str::to_string);
    }
    if let Some(sc) = spec.service_connect.as_ref().filter(|_| state.namespace_arn.is_none()) {
        Change::new(Kind::Namespace, &sc.namespace, Action::Create).log();
        let request = namespace::request_id(account, cluster_id, &sc.namespace);
        state.namespace_arn =
            namespace::create(aws, &sc.namespace, &request, &tags).await?.map(|n| n.arn);
    }
    for lb in spec.load_balancers.iter().filter(|lb| lb.existing.is_none()) {
        let current = state.load_balancers.entry(lb.name.clone()).or_default();
        if current.arn.is_none() {
            let subnets = if lb.subnet_ids.is_empty() {
                spec.network.subnet_ids.clone()
            } else {
                lb.subnet_ids.clone()
            };
            Change::new(Kind::LoadBalancer, load_balancer_name(account, lb), Action::Create).log();
            let out = aws
                .call(
                    "elbv2",
                    "CreateLoadBalancer",
                    aws.elb
                        .create_load_balancer()
                        .name(load_balancer_name(account, lb))
                        .set_subnets(Some(subnets))
                        .set_security_groups(Some(lb.security_group_ids.clone()))
                        .scheme(match lb.scheme {
                            Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
                            Scheme::Internal => LoadBalancerSchemeEnum::Internal,
                        })
                        .r#type(LoadBalancerTypeEnum::Application)
                        .set_tags(Some(tags::elb(&tags)))
                        .send(),
                )
                .await?;
            let created = out.load_balancers().first().ok_or_else(|| {
                AwsError::unexpected("CreateLoadBalancer", "no load balancer in the response")
            })?;
            current.arn = created.load_balancer_arn().map(str::to_string);
            current.dns_name = created.dns_name().map(str::to_string);
            current.canonical_zone_id = created.canonical_hosted_zone_id().map(str::to_string);
        }
        let lb_arn = current.arn.clone().unwrap_or_default();
        if current.listener_arn.is_none() {
            Change::new(Kind::Listener, &lb.name, Action::Create).log();
            current.listener_arn = Some(create_listener(aws, &lb_arn, lb, &tags).await?);
        }
        if missing_redirects.contains(&lb.name) {
            Change::new(Kind::Listener, format!("{} (HTTP redirect)", lb.name), Action::Create)
                .log();
            create_redirect_listener(aws, &lb_arn, &tags).await?;
        }
    }
    Ok(state)
}

/// Quota of listener rules per ALB (default, raisable) and of target groups per ALB (fixed).
pub const RULES_QUOTA: i32 = 100;
pub const TARGET_GROUPS_QUOTA: i32 = 100;

/// Rules on the load balancer's listener (without the default rule) and target groups attached
/// to it: what its quotas are measured against. From what its services observed this round (the
/// listener's rules, the account's snapshot) when there is such a thing, else read.
pub async fn usage(
    aws: &Aws,
    lb: &LoadBalancerState,
    cache: &ObserveCache,
) -> Result<(i32, i32), AwsError> {
    let listed = lb.listener_arn.as_ref().and_then(|l| cache.rules(l, false));
    let snapshot = cache.snapshot();
    if let (Some(rules), Some(snap), Some(arn)) = (&listed, &snapshot, &lb.arn) {
        let attached =
            snap.target_groups.values().filter(|tg| tg.load_balancer_arns().contains(arn)).count();
        return Ok((rules.len() as i32, attached as i32));
    }
    let mut rules = 0;
    if let Some(listener) = &lb.listener_arn {
        let mut marker = None;
        loop {
            let out = aws
                .call(
                    "elbv2",
                    "DescribeRules",
                    aws.elb
                        .describe_rules()
                        .listener_arn(listener)
                        .set_marker(marker)
                        .page_size(400)
                        .send(),
                )
                .await?;
            rules += out.rules().iter().filter(|r| r.is_default() != Some(true)).count() as i32;
            marker = out.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
    }
    let target_groups = attached_target_groups(aws, lb).await?.len() as i32;
    Ok((rules, target_groups))
}

/// Names of the target groups attached to the load balancer (by its rules and default actions),
/// whoever owns them; empty while it does not exist.
pub async fn attached_target_groups(
    aws: &Aws,
    lb: &LoadBalancerState,
) -> Result<Vec<String>, AwsError> {
    let Some(arn) = &lb.arn else { return Ok(Vec::new()) };
    // Some emulators answer "not found" instead of an empty list.
    match aws
        .call(
            "elbv2",
            "DescribeTargetGroups",
            aws.elb.describe_target_groups().load_balancer_arn(arn).send(),
        )
        .await
    {
        Ok(out) => Ok(out
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_name().map(str::to_string))
            .collect()),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Why a service cannot add its target group to the load balancer `lb` of `account`, which has
/// `target_groups` attached: an ALB takes at most `TARGET_GROUPS_QUOTA` (not raisable), and the
/// way past it is another load balancer of the pool. `None` while there is room.
pub fn target_group_quota_refusal(account: &str, lb: &str, target_groups: i32) -> Option<String> {
    (target_groups >= TARGET_GROUPS_QUOTA).then(|| {
        format!(
            "spec.ingress.loadBalancer: load balancer {lb} has {target_groups}/{TARGET_GROUPS_QUOTA} target groups, the most an ALB allows; choose another load balancer of CloudAccount {account}"
        )
    })
}
