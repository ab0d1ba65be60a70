//! `ports` and `expose` → `spec.ports`: one named TCP port per distinct container port, and the
//! service's public port (the first one published on the host) for `spec.ingress`. Notes for
//! what a load balancer cannot do as Docker's port publishing does. Pure; no IO.

use serde_json::Value;

use super::{
    Note, Notes,
    error::{ComposeError, invalid},
    names::matches,
    value::{Mapping, child, item, list, scalar, sorted_keys, string},
};
use crate::api::{ContainerPort, patterns};

/// The ports of a service.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PortPlan {
    pub ports: Vec<ContainerPort>,
    /// The name of the port published on the load balancer.
    pub public: Option<String>,
}

/// One parsed `ports` or `expose` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    target: Target,
    /// The host side as written (`"8080"`, a range), when there is one.
    published: Option<String>,
    host_ip: Option<String>,
    protocol: String,
    name: Option<String>,
    path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Port(u16),
    Range(String),
}

/// Reads `ports` and `expose` of the service at `path`. `private` says whether unpublished
/// ports are served privately (for the notes' wording).
pub(crate) fn plan(
    ports: Option<&Value>,
    expose: Option<&Value>,
    path: &str,
    private: bool,
    notes: &mut Vec<Note>,
) -> Result<PortPlan, ComposeError> {
    let elsewhere =
        if private { "served privately only" } else { "not reachable from outside the task" };
    let mut entries: Vec<(Entry, u16)> = Vec::new();
    for (key, exposed) in [("ports", false), ("expose", true)] {
        let v = if exposed { expose } else { ports };
        let Some(v) = v.filter(|v| !v.is_null()) else {
            continue;
        };
        let p = child(path, key);
        for (i, x) in list(v, &p)?.iter().enumerate() {
            let ip = item(&p, i);
            let e = match x {
                Value::Object(m) if !exposed => long(m, &ip, notes)?,
                _ => short(&scalar(x, &ip)?, &ip, exposed)?,
            };
            if let Some(port) = keep(e.clone(), exposed, elsewhere, notes) {
                entries.push(port);
            }
        }
    }
    let mut plan = PortPlan::default();
    let mut order: Vec<u16> = Vec::new();
    for (_, c) in &entries {
        if !order.contains(c) {
            order.push(*c);
        }
    }
    if order.len() > 10 {
        return Err(invalid(
            child(path, "ports"),
            format!("{} distinct container ports; a service takes at most 10", order.len()),
        ));
    }
    let mut names: Vec<(u16, String)> = Vec::new();
    // Explicit names first, so a default never takes a name written elsewhere.
    for (e, c) in &entries {
        let Some(n) = &e.name else { continue };
        if names.iter().any(|(x, _)| x == c) {
            continue;
        }
        if n.len() <= 15 && matches(patterns::PORT_NAME, n) && !names.iter().any(|(_, x)| x == n) {
            names.push((*c, n.clone()));
        } else {
            notes.changed(
                child(&e.path, "name"),
                format!("{n:?} is not a valid port name (lower-case letters, digits and -, at most 15 characters) or is taken; a default name is used"),
            );
        }
    }
    for (i, c) in order.iter().enumerate() {
        if names.iter().any(|(x, _)| x == c) {
            continue;
        }
        let mut candidates = Vec::new();
        if i == 0 {
            candidates.push("http".to_string());
        }
        candidates.extend([format!("http-{c}"), format!("tcp-{c}"), format!("p-{c}")]);
        let taken = |n: &String| names.iter().any(|(_, x)| x == n);
        let name = candidates.into_iter().find(|n| !taken(n)).unwrap_or_else(|| format!("x-{c}"));
        names.push((*c, name));
    }
    let name_of =
        |c: u16| names.iter().find(|(x, _)| *x == c).map(|(_, n)| n.clone()).unwrap_or_default();
    for c in &order {
        plan.ports.push(ContainerPort { name: name_of(*c), container_port: i32::from(*c) });
    }
    for (e, c) in entries.iter().filter(|(e, _)| e.published.is_some()) {
        let host = e.published.as_deref().unwrap_or_default();
        match &plan.public {
            None => {
                plan.public = Some(name_of(*c));
                notes.changed(
                    &e.path,
                    format!("published on the load balancer's listeners, not on host port {host}"),
                );
            }
            Some(public) if *public == name_of(*c) => notes.changed(
                &e.path,
                format!("container port {c} is already published on the load balancer; host port {host} is not used"),
            ),
            Some(_) => notes.changed(
                &e.path,
                format!("{elsewhere}: one port per service is published on the load balancer"),
            ),
        }
    }
    Ok(plan)
}

/// The entry's container port when it is served, or `None` with a note when it is dropped.
fn keep(
    mut e: Entry,
    exposed: bool,
    elsewhere: &str,
    notes: &mut Vec<Note>,
) -> Option<(Entry, u16)> {
    let port = match &e.target {
        Target::Port(p) => *p,
        Target::Range(r) => {
            notes.unsupported(
                &e.path,
                format!("the port range {r}: list each port to serve; dropped"),
            );
            return None;
        }
    };
    if !e.protocol.eq_ignore_ascii_case("tcp") {
        notes.unsupported(
            &e.path,
            format!(
                "{}: the load balancer and Service Connect carry TCP only; the port is dropped",
                e.protocol
            ),
        );
        return None;
    }
    if let Some(ip) = e.host_ip.clone() {
        let loopback = ip == "::1" || ip == "localhost" || ip.starts_with("127.");
        if loopback {
            notes.changed(&e.path, format!("bound to {ip} (this machine only) in Compose: {elsewhere}, not on the load balancer"));
            e.published = None;
        } else if ip != "0.0.0.0" && ip != "::" {
            notes.unsupported(
                child(&e.path, "host_ip"),
                format!("{ip}: the load balancer listens on its own addresses"),
            );
        }
    } else if !exposed && e.published.is_none() {
        notes.changed(&e.path, format!("no host port: Compose publishes it on a random host port, here it is {elsewhere}; write \"{port}:{port}\" to publish it on the load balancer"));
    }
    Some((e, port))
}

fn port_number(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|&n| n > 0)
}

fn is_port_or_range(text: &str) -> bool {
    match text.split_once('-') {
        Some((a, b)) => port_number(a).is_some() && port_number(b).is_some(),
        None => port_number(text).is_some(),
    }
}

/// A container port or range; `None` when it is neither.
fn target(text: &str) -> Option<Target> {
    match text.split_once('-') {
        Some((a, b)) => match (port_number(a), port_number(b)) {
            (Some(a), Some(b)) if a == b => Some(Target::Port(a)),
            (Some(a), Some(b)) if a < b => Some(Target::Range(text.to_string())),
            _ => None,
        },
        None => port_number(text).map(Target::Port),
    }
}

fn short(text: &str, path: &str, exposed: bool) -> Result<Entry, ComposeError> {
    let bad = || {
        let hint = if exposed {
            "write a container port such as \"8080\""
        } else {
            "write \"8080:80\" or the long form with target"
        };
        invalid(path, format!("{text:?} is not a port mapping; {hint}"))
    };
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((s, p)) => (s, p.to_string()),
        None => (text, "tcp".to_string()),
    };
    let (bracketed_ip, rest) = match spec.strip_prefix('[') {
        Some(r) => {
            let (ip, rest) = r.split_once("]:").ok_or_else(bad)?;
            (Some(ip.to_string()), rest)
        }
        None => (None, spec),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target_text) = match (parts.as_slice(), bracketed_ip) {
        ([t], None) => (None, None, *t),
        ([p, t], ip) => (ip, Some(*p), *t),
        ([ip, p, t], None) => (Some(ip.to_string()), Some(*p), *t),
        _ => return Err(bad()),
    };
    let published = published.filter(|p| !p.is_empty());
    if (exposed && published.is_some()) || published.is_some_and(|p| !is_port_or_range(p)) {
        return Err(bad());
    }
    Ok(Entry {
        target: target(target_text).ok_or_else(bad)?,
        published: published.map(str::to_string),
        host_ip: host_ip.filter(|i| !i.is_empty()),
        protocol,
        name: None,
        path: path.to_string(),
    })
}

fn long(m: &Mapping, path: &str, notes: &mut Vec<Note>) -> Result<Entry, ComposeError> {
    for key in sorted_keys(m) {
        let p = child(path, key);
        match key.as_str() {
            "target" | "published" | "protocol" | "host_ip" | "name" => {}
            "mode" => notes.unsupported(p, "the load balancer and Service Connect route to tasks; the publishing mode does not apply"),
            "app_protocol" => notes.unsupported(p, "the load balancer speaks HTTP to the container; the application protocol cannot be changed"),
            _ => notes.unsupported(p, "not a Compose port field byoc knows; ignored"),
        }
    }
    let tp = child(path, "target");
    let t = m
        .get("target")
        .ok_or_else(|| invalid(&tp, "required, but missing; set the container port"))?;
    let t_text = scalar(t, &tp)?;
    let target = target(&t_text)
        .ok_or_else(|| invalid(&tp, format!("{t_text:?} is not a port between 1 and 65535")))?;
    let published = match m.get("published").filter(|v| !v.is_null()) {
        Some(p) => {
            let pp = child(path, "published");
            let text = scalar(p, &pp)?;
            if !is_port_or_range(&text) {
                return Err(invalid(pp, format!("{text:?} is not a port or a port range")));
            }
            Some(text)
        }
        None => None,
    };
    let text = |key: &str| -> Result<Option<String>, ComposeError> {
        m.get(key).filter(|v| !v.is_null()).map(|v| string(v, &child(path, key))).transpose()
    };
    Ok(Entry {
        target,
        published,
        host_ip: text("host_ip")?.filter(|i| !i.is_empty()),
        protocol: text("protocol")?.unwrap_or_else(|| "tcp".into()),
        name: text("name")?,
        path: path.to_string(),
    })
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;
