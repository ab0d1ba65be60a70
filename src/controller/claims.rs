//! First-come host/path claims on shared load balancers, decided from the cluster's CloudServices
//! (by creation timestamp, then namespace/name). Pure.

use std::sync::Arc;

use kube::ResourceExt;

use crate::{
    api::CloudService,
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

fn seniority(s: &CloudService) -> (Option<jiff::Timestamp>, String) {
    (
        s.metadata.creation_timestamp.as_ref().map(|t| t.0),
        format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()),
    )
}

/// The `namespace/name` of an older service (not being deleted) on the same load balancer whose
/// route overlaps `service`'s, if any.
pub fn senior_conflict(service: &CloudService, all: &[Arc<CloudService>]) -> Option<String> {
    let (account, lb, mine) = claim(service)?;
    let me = seniority(service);
    let seniors: Vec<Claim> = all
        .iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none() && seniority(o) < me)
        .filter_map(|o| claim(o))
        .filter(|(a, l, _)| *a == account && *l == lb)
        .map(|(_, _, c)| c)
        .collect();
    conflicting_owner(&mine, &seniors).map(|c| c.owner.clone())
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
}
