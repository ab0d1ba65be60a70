//! Admission to what services of an account share: first-come host/path claims on load balancers
//! and private `name:port` claims in the Service Connect namespace, decided from the cluster's
//! CloudServices (by creation timestamp, then namespace/name), and the ALB's target group limit.
//! Pure.

use std::sync::Arc;

use kube::ResourceExt;

use crate::{
    api::{CloudAccount, CloudService, CloudServiceStatus},
    resources::priorities::{Claim, conflicting_owner},
};

fn claim(s: &CloudService) -> Option<(String, String, Claim)> {
    let ing = s.spec.ingress.as_ref()?;
    let owner = format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any());
    Some((
        s.spec.account_ref.name.clone(),
        ing.load_balancer.clone(),
        Claim { owner, hosts: ing.hosts.clone(), paths: ing.paths.clone() },
    ))
}

/// Whether `s` may hold routes and private names: not being deleted, and not a preview that was
/// never applied (`byoc.dev/plan-only` without our finalizer holds nothing in AWS).
fn holds_claims(s: &CloudService) -> bool {
    let applied = s.finalizers().iter().any(|f| f == crate::api::FINALIZER);
    s.metadata.deletion_timestamp.is_none() && (applied || !super::service::is_plan_only(s))
}

fn seniority(s: &CloudService) -> (Option<jiff::Timestamp>, String) {
    (
        s.metadata.creation_timestamp.as_ref().map(|t| t.0),
        format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()),
    )
}

/// The `namespace/name` of an older service (holding claims) on the same load balancer whose
/// route overlaps `service`'s, if any.
pub fn senior_conflict(service: &CloudService, all: &[Arc<CloudService>]) -> Option<String> {
    let (account, lb, mine) = claim(service)?;
    let me = seniority(service);
    let seniors: Vec<Claim> = all
        .iter()
        .filter(|o| holds_claims(o) && seniority(o) < me)
        .filter_map(|o| claim(o))
        .filter(|(a, l, _)| *a == account && *l == lb)
        .map(|(_, _, c)| c)
        .collect();
    conflicting_owner(&mine, &seniors).map(|c| c.owner.clone())
}

/// The `name:port` pairs `s` serves privately (Service Connect wants each unique in the
/// namespace), with its account.
pub fn private_claims(s: &CloudService) -> Option<(String, Vec<String>)> {
    let private = s.spec.private.as_ref()?;
    let name = private
        .name
        .clone()
        .unwrap_or_else(|| format!("{}.{}", s.name_any(), s.namespace().unwrap_or_default()));
    let pairs = s
        .spec
        .ports
        .iter()
        .filter(|p| private.ports.is_empty() || private.ports.contains(&p.name))
        .map(|p| format!("{name}:{}", p.container_port))
        .collect();
    Some((s.spec.account_ref.name.clone(), pairs))
}

/// The first `name:port` of `service` an older service of the same account (not being deleted)
/// already serves, with that service's `namespace/name`. Older services holding claims only.
pub fn senior_private_conflict(
    service: &CloudService,
    all: &[Arc<CloudService>],
) -> Option<(String, String)> {
    let (account, mine) = private_claims(service)?;
    let me = seniority(service);
    all.iter()
        .filter(|o| holds_claims(o) && seniority(o) < me)
        .filter_map(|o| Some((seniority(o).1, private_claims(o)?)))
        .filter(|(_, (a, _))| *a == account)
        .find_map(|(holder, (_, theirs))| {
            mine.iter().find(|pair| theirs.contains(pair)).map(|pair| (pair.clone(), holder))
        })
}

/// A new service cannot join a load balancer that already has the 100 target groups an ALB allows
/// (not raisable); the way past it is another load balancer of the pool.
pub fn full_load_balancer(
    service: &CloudService,
    account: &CloudAccount,
    previous: &CloudServiceStatus,
) -> Option<String> {
    let ingress = service.spec.ingress.as_ref()?;
    let has_target_group =
        previous.resources.iter().any(|r| r.kind == crate::resources::Kind::TargetGroup.as_str());
    let lb =
        account.status.as_ref()?.load_balancers.iter().find(|l| l.name == ingress.load_balancer)?;
    if has_target_group {
        return None;
    }
    crate::resources::account::target_group_quota_refusal(
        &account.name_any(),
        &lb.name,
        lb.target_groups,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ns: &str, name: &str, created: &str, host: &str) -> Arc<CloudService> {
        Arc::new(serde_json::from_value(serde_json::json!({
            "apiVersion": "byoc.dev/v1alpha1", "kind": "CloudService",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": {"accountRef": {"name": "a"}, "image": "nginx", "ports": [{"name": "http", "containerPort": 80}],
                     "ingress": {"loadBalancer": "public", "hosts": [host], "port": "http"}}
        })).unwrap())
    }

    #[test]
    fn the_older_service_keeps_a_contested_host_and_the_newer_one_is_told_who_holds_it() {
        let old = svc("team-a", "web", "2026-01-01T00:00:00Z", "shop.example.com");
        let new = svc("team-b", "web", "2026-02-01T00:00:00Z", "shop.example.com");
        let other = svc("team-c", "web", "2025-01-01T00:00:00Z", "other.example.com");
        let all = vec![old.clone(), new.clone(), other];
        assert_eq!(senior_conflict(&old, &all), None);
        assert_eq!(senior_conflict(&new, &all).as_deref(), Some("team-a/web"));
    }

    #[test]
    fn the_older_service_keeps_a_private_name_and_port_and_another_port_is_free() {
        let private = |ns: &str, created: &str, name: &str, port: i32| -> Arc<CloudService> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "apiVersion": "byoc.dev/v1alpha1", "kind": "CloudService",
                    "metadata": {"name": "api", "namespace": ns, "creationTimestamp": created},
                    "spec": {"accountRef": {"name": "a"}, "image": "nginx",
                             "ports": [{"name": "http", "containerPort": port}],
                             "private": {"name": name}}
                }))
                .unwrap(),
            )
        };
        let old = private("team-a", "2026-01-01T00:00:00Z", "api", 8080);
        let same = private("team-b", "2026-02-01T00:00:00Z", "api", 8080);
        let other_port = private("team-c", "2026-02-01T00:00:00Z", "api", 9090);
        let all = vec![old.clone(), same.clone(), other_port.clone()];
        assert_eq!(senior_private_conflict(&old, &all), None);
        assert_eq!(
            senior_private_conflict(&same, &all),
            Some(("api:8080".to_string(), "team-a/api".to_string()))
        );
        assert_eq!(senior_private_conflict(&other_port, &all), None);
    }

    #[test]
    fn a_new_service_is_refused_a_load_balancer_with_100_target_groups_but_a_member_stays() {
        let account: CloudAccount = serde_json::from_value(serde_json::json!({
            "apiVersion": "byoc.dev/v1alpha1", "kind": "CloudAccount", "metadata": {"name": "a"},
            "spec": {"aws": {"region": "eu-west-1"}, "network": {"vpcId": "vpc-12345678", "subnetIds": ["subnet-12345678"], "securityGroupIds": ["sg-12345678"]},
                     "cluster": {"name": "c"}, "executionRoleArn": "arn:aws:iam::123456789012:role/x"},
            "status": {"loadBalancers": [{"name": "public", "rules": 100, "targetGroups": 100}]}
        }))
        .unwrap();
        let newcomer = svc("team", "web", "2026-01-01T00:00:00Z", "shop.example.com");
        let message =
            full_load_balancer(&newcomer, &account, &CloudServiceStatus::default()).unwrap();
        assert!(
            message.contains("spec.ingress.loadBalancer") && message.contains("100/100"),
            "{message}"
        );
        let member = CloudServiceStatus {
            resources: vec![crate::api::ResourceStatus {
                kind: "TargetGroup".into(),
                id: "tg".into(),
                state: crate::api::ResourceState::Ready,
                last_error: None,
            }],
            ..Default::default()
        };
        assert_eq!(full_load_balancer(&newcomer, &account, &member), None);
    }
}
