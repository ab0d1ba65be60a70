//! What the layer knows of ECS Service Connect: the configuration each ECS deployment runs with,
//! the one each service's next deployment gets, and the Cloud Map services ECS created for the
//! services' discovery names; how a `serviceConnectConfiguration` reads from a request, what a
//! deployment shows of it, what other services already use in a namespace, and which Cloud Map
//! services ECS has removed by now. Pure: callers hand in the clock and hold the layer's lock.
//! The sources are in `connect`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::{State, deployment::Deployment, service::Status};

/// An ECS service: cluster name and service name.
pub type Key = (String, String);

/// A Cloud Map namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: String,
    pub arn: String,
    pub name: String,
}

/// One port a service serves in its namespace, ECS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub port_name: String,
    pub discovery: String,
    pub dns: String,
    pub port: i64,
}

/// An accepted configuration (`enabled: true`, namespace found).
#[derive(Debug, Clone, PartialEq)]
pub struct Connect {
    pub namespace: Namespace,
    pub served: Vec<Served>,
    /// `serviceConnectConfiguration` as a deployment shows it.
    pub shown: Value,
}

/// What a CreateService or UpdateService asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    /// No `serviceConnectConfiguration`: an update keeps what the service has.
    Unchanged,
    /// None, or `enabled: false`.
    Off,
    On(Connect),
}

/// `serviceConnectConfiguration` of a request, its shape checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    Nothing,
    /// `enabled: false`.
    Off,
    On(Requested),
}

/// A requested configuration, its namespace not yet looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    /// The namespace as given: a name or an ARN.
    pub namespace: String,
    pub services: Vec<Wanted>,
    sent: Value,
}

/// One `services[]` entry as requested.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub port_name: String,
    discovery: Option<String>,
    dns: Option<String>,
    port: i64,
}

/// A Cloud Map service ECS created, and for which ECS service.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub id: String,
    pub arn: String,
    pub owner: Key,
}

/// A Cloud Map service by namespace id and discovery name, as ECS registered it.
pub type Registration = ((String, String), Registered);

#[derive(Debug, Default)]
pub struct Model {
    /// Per ECS service: what its next deployment runs with (absent: no Service Connect).
    current: HashMap<Key, Connect>,
    /// Per deployment id.
    deployments: HashMap<String, Connect>,
    /// The Cloud Map services ECS created, by namespace id and discovery name.
    registered: BTreeMap<(String, String), Registered>,
}

/// `serviceConnectConfiguration` of a request, or the refusal's message when its shape is not
/// what ECS accepts.
pub fn sent(body: &Value) -> Result<Sent, String> {
    let config = match body.get("serviceConnectConfiguration") {
        None | Some(Value::Null) => return Ok(Sent::Nothing),
        Some(config) => config,
    };
    if config["enabled"].as_bool() != Some(true) {
        return Ok(Sent::Off);
    }
    let mut services = Vec::new();
    for s in config["services"].as_array().into_iter().flatten() {
        let port_name = s["portName"].as_str().unwrap_or_default().to_string();
        let aliases = s["clientAliases"].as_array().cloned().unwrap_or_default();
        if aliases.len() != 1 {
            return Err("clientAliases must have 1 element.".into());
        }
        let Some(port) = aliases[0]["port"].as_i64() else {
            return Err(format!("clientAliases of portName({port_name}) must have a port."));
        };
        let discovery = s["discoveryName"].as_str().map(str::to_string);
        if let Some(d) = discovery.as_deref().filter(|d| !valid(d, 64, false)) {
            return Err(format!(
                "discoveryName({d}) must be up to 64 lowercase letters, numbers, underscores and hyphens, not starting with a hyphen."
            ));
        }
        let dns = aliases[0]["dnsName"].as_str().map(str::to_string);
        if let Some(d) = dns.as_deref().filter(|d| !valid(d, 127, true)) {
            return Err(format!(
                "dnsName({d}) must be up to 127 lowercase letters, numbers, underscores, hyphens and periods, not starting with a hyphen."
            ));
        }
        services.push(Wanted { port_name, discovery, dns, port });
    }
    let namespace = config["namespace"].as_str().unwrap_or_default().to_string();
    Ok(Sent::On(Requested { namespace, services, sent: config.clone() }))
}

/// ECS's name rules: lowercase letters, numbers, `_`, `-` (and `.` for DNS names), not starting
/// with a hyphen, up to `max` characters.
fn valid(name: &str, max: usize, dots: bool) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name.starts_with('-')
        && name.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '_'
                || c == '-'
                || (dots && c == '.')
        })
}

impl Requested {
    /// The configuration in `namespace`, with ECS's defaults: the discovery name is the port
    /// name, the DNS name `<discoveryName>.<namespace name>`.
    pub fn accept(self, namespace: Namespace) -> Connect {
        let served = self
            .services
            .into_iter()
            .map(|w| {
                let discovery = w.discovery.unwrap_or_else(|| w.port_name.clone());
                let dns = w.dns.unwrap_or_else(|| format!("{discovery}.{}", namespace.name));
                Served { port_name: w.port_name, discovery, dns, port: w.port }
            })
            .collect();
        let mut shown = self.sent;
        shown["namespace"] = json!(namespace.arn);
        Connect { namespace, served, shown }
    }
}

impl Model {
    /// The configuration a deployment runs with; ECS's own rollback deployments run with the
    /// one of the deployment they roll back to.
    pub fn config_of(&self, d: &Deployment) -> Option<&Connect> {
        self.deployments
            .get(&d.id)
            .or_else(|| d.rollback_to.as_ref().and_then(|to| self.deployments.get(to)))
    }

    /// Writes a deployment's `serviceConnectConfiguration` and `serviceConnectResources`.
    pub fn decorate(&self, d: &Deployment, dep: &mut Map<String, Value>) {
        let Some(c) = self.config_of(d) else { return };
        dep.insert("serviceConnectConfiguration".into(), c.shown.clone());
        let resources: Vec<Value> = c
            .served
            .iter()
            .filter_map(|s| {
                let r = self.registered.get(&(c.namespace.id.clone(), s.discovery.clone()))?;
                Some(json!({ "discoveryName": s.discovery, "discoveryArn": r.arn }))
            })
            .collect();
        if !resources.is_empty() {
            dep.insert("serviceConnectResources".into(), Value::Array(resources));
        }
    }

    /// Whether ECS already registered `discovery` in the namespace.
    pub fn is_registered(&self, namespace_id: &str, discovery: &str) -> bool {
        self.registered.contains_key(&(namespace_id.to_string(), discovery.to_string()))
    }
}

impl State {
    /// Records what a CreateService or UpdateService asked for and the Cloud Map services it
    /// registered; `started`: the deployment it started, which runs with the service's
    /// configuration from now on.
    pub(super) fn connect_started(
        &mut self,
        key: &Key,
        started: Option<String>,
        asked: Asked,
        registered: Vec<Registration>,
    ) {
        let model = &mut self.connect;
        match asked {
            Asked::Unchanged => {}
            Asked::Off => {
                model.current.remove(key);
            }
            Asked::On(c) => {
                model.current.insert(key.clone(), c);
            }
        }
        if let (Some(id), Some(c)) = (started, model.current.get(key)) {
            model.deployments.insert(id, c.clone());
        }
        model.registered.extend(registered);
    }

    /// Why `connect` cannot be used by `key`: a discovery name, or a client alias's name and
    /// port, another ECS service (ACTIVE or DRAINING) already uses in the namespace.
    pub(super) fn connect_conflict(
        &mut self,
        key: &Key,
        connect: &Connect,
        now: std::time::Instant,
    ) -> Option<String> {
        let others: Vec<Key> = self.ecs.services.keys().filter(|k| *k != key).cloned().collect();
        let timing = self.timing();
        for other in others {
            self.advance(&other, now);
            let Some(known) = self.ecs.services.get(&other) else { continue };
            if known.service.status(now, &timing) == Status::Inactive {
                continue;
            }
            let used = known.service.deployments.iter().filter_map(|d| self.connect.config_of(d));
            for theirs in used.filter(|c| c.namespace.id == connect.namespace.id) {
                for s in &connect.served {
                    if theirs.served.iter().any(|t| t.discovery == s.discovery) {
                        return Some(format!(
                            "SC service is already used by {}",
                            connect.namespace.arn
                        ));
                    }
                    if theirs.served.iter().any(|t| (&t.dns, t.port) == (&s.dns, s.port)) {
                        return Some(format!(
                            "The client alias {}:{} is already used in {}",
                            s.dns, s.port, connect.namespace.arn
                        ));
                    }
                }
            }
        }
        None
    }

    /// The Cloud Map services ECS has removed by `now`, taken out of the model: those of ECS
    /// services gone INACTIVE, and those no deployment of their service uses any more.
    pub(super) fn connect_due(&mut self, now: std::time::Instant) -> Vec<Registered> {
        let owners: BTreeSet<Key> =
            self.connect.registered.values().map(|r| r.owner.clone()).collect();
        for owner in &owners {
            self.advance(owner, now);
        }
        let timing = self.timing();
        let (ecs, model) = (&self.ecs, &self.connect);
        let due: Vec<(String, String)> = model
            .registered
            .iter()
            .filter(|((namespace, discovery), r)| match ecs.services.get(&r.owner) {
                None => true,
                Some(known) if known.service.status(now, &timing) == Status::Inactive => true,
                Some(known) => !known.service.deployments.iter().any(|d| {
                    model.config_of(d).is_some_and(|c| {
                        c.namespace.id == *namespace
                            && c.served.iter().any(|s| s.discovery == *discovery)
                    })
                }),
            })
            .map(|(k, _)| k.clone())
            .collect();
        due.iter().filter_map(|k| self.connect.registered.remove(k)).collect()
    }
}
