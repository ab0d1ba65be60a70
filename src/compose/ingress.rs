//! `spec.ingress`: the public port with its hosts (`domainname`, `x-byoc.hosts`), paths
//! (`x-byoc.paths`) and load balancer, and the project-wide rule for published services with
//! neither host nor path (one may take `/*`; two would claim the same route). Pure; no IO.

use super::{
    Note, Notes,
    error::{ComposeError, invalid},
    names::matches,
    ports::PortPlan,
    service::Draft,
    value::{Mapping, child, string},
    xbyoc::ServiceExt,
};
use crate::api::{Ingress, patterns};

/// `domainname`, `x-byoc.hosts`/`paths`/`loadBalancer` and the public port → `spec.ingress`.
pub(crate) fn ingress(
    m: &Mapping,
    path: &str,
    plan: &PortPlan,
    ext: &ServiceExt,
    load_balancer: &str,
    notes: &mut Vec<Note>,
) -> Result<Option<Ingress>, ComposeError> {
    let mut hosts = Vec::new();
    if let Some(d) = m.get("domainname").filter(|d| !d.is_null()) {
        let dp = child(path, "domainname");
        let host = string(d, &dp)?.trim().to_ascii_lowercase();
        if host.len() > 128 || !matches(patterns::HOST, &host) {
            return Err(invalid(
                dp,
                format!(
                    "{host:?} is not a host name the load balancer can route: lower case, at least one dot and only letters after the last one, such as shop.example.com"
                ),
            ));
        }
        if plan.public.is_some() {
            hosts.push(host);
        } else {
            notes.unsupported(dp, "domainname needs a published port (ports: \"8080:8080\"); there is nothing to route to");
        }
    }
    for h in &ext.hosts {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    let Some(port) = plan.public.clone() else {
        if !ext.hosts.is_empty() || !ext.paths.is_empty() || ext.load_balancer.is_some() {
            return Err(invalid(
                child(path, "x-byoc"),
                "hosts, paths and loadBalancer need a published port; add one under ports, e.g. \"8080:8080\"",
            ));
        }
        return Ok(None);
    };
    if hosts.len() + ext.paths.len() > 5 {
        return Err(invalid(
            child(path, "x-byoc"),
            "at most five hosts and paths in total (domainname counts as one): a load balancer rule takes five",
        ));
    }
    let load_balancer = ext.load_balancer.clone().unwrap_or_else(|| load_balancer.to_string());
    Ok(Some(Ingress {
        load_balancer,
        hosts,
        paths: ext.paths.clone(),
        port,
        deregistration_delay_seconds: 30,
    }))
}

/// A published service with neither host nor path takes every path (`/*`) when it is the only
/// one; two or more would claim the same route.
pub(crate) fn route_hostless(
    drafts: &mut [Draft],
    notes: &mut Vec<Note>,
) -> Result<(), ComposeError> {
    let hostless: Vec<String> =
        drafts.iter().filter(|d| d.routeless).map(|d| d.compose_name.clone()).collect();
    if hostless.len() > 1 {
        return Err(invalid(
            "services",
            format!(
                "{} publish ports with neither a host nor a path, so they would claim the same load balancer route; set domainname (or x-byoc.hosts / x-byoc.paths) on each",
                hostless.iter().map(|n| format!("services.{n}")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for d in drafts.iter_mut().filter(|d| d.routeless) {
        if let Some(i) = d.service.spec.ingress.as_mut() {
            i.paths = vec!["/*".to_string()];
        }
        notes.changed(
            child("services", &d.compose_name),
            "no domainname: served on every host of the load balancer at /*; set domainname (or x-byoc.hosts / x-byoc.paths) to give it its own route",
        );
    }
    Ok(())
}
