//! ECS through the layer: keeps each service's deployments in time (`deployments`) and rewrites
//! the `service`/`services` objects of CreateService, UpdateService, DescribeServices and
//! DeleteService from that model; refuses what real ECS refuses and moto allows. Requests go to
//! moto as they are; the model is keyed by cluster name (requests may name the cluster by name or
//! ARN) and service name.
//!
//! Behaviours and their sources:
//! - UpdateService starts a new deployment only when it changes what ECS deploys: "For services
//!   using the rolling update (ECS) you can update the desired count, deployment configuration,
//!   network configuration, load balancers, service registries, enable ECS managed tags option,
//!   propagate tags option, task placement constraints and strategies, and task definition. When
//!   you update any of these parameters, Amazon ECS starts new tasks with the new configuration."
//!   and `forceNewDeployment`: "Determines whether to force a new deployment of the service. By
//!   default, deployments aren't forced. You can use this option to start a new deployment with no
//!   service definition changes." (UpdateService,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html>). A
//!   desiredCount-only update scales the current deployment; changes to the deployment
//!   configuration, tags or grace period alone start nothing.
//! - A service being deleted: "Creation of service was not idempotent." (InvalidParameterException)
//!   answers a CreateService of a name whose service is still DRAINING, or ACTIVE with different
//!   parameters, as real ECS does (hashicorp/terraform#20182, floci-io/floci#1095); UpdateService of
//!   a deleted service answers ServiceNotActiveException ("The specified service isn't active. You
//!   can't update a service that's inactive.", UpdateService errors).
//! - `clientToken`: "If you retry a request that completed successfully using the same client
//!   token and the same parameters, the retry succeeds without performing any further actions."
//!   and "You should not reuse the same client token for other API requests." (Ensuring
//!   idempotency, <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html>).
//!   A reused token with different parameters is refused with the same InvalidParameterException.

use std::{
    collections::{BTreeMap, HashMap},
    hash::{Hash, Hasher},
    time::Instant,
};

use serde_json::{Value, json};

use super::{
    Shared, State,
    deployments::{Breaker, Ctx, Rollout, Service, Status, Timing},
    wire::{self, Reply, Req},
};

/// What the layer knows of ECS.
#[derive(Debug, Default)]
pub struct Model {
    services: HashMap<(String, String), Known>,
    /// Container images per task definition ARN.
    images: HashMap<String, Vec<String>>,
    /// CreateService client tokens per cluster: the hash of the request they came with.
    tokens: HashMap<(String, String), u64>,
    created: HashMap<String, usize>,
}

/// A service as the model tracks it.
#[derive(Debug)]
struct Known {
    service: Service,
    /// moto's last view of the service, the base the model's fields are written onto.
    snapshot: Value,
    /// The CreateService parameters' hash.
    params: u64,
    /// What ECS deploys besides the task definition, as last requested.
    deploys: BTreeMap<&'static str, Value>,
}

/// Request fields whose change starts a new deployment.
const DEPLOYED: [&str; 6] = [
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
    "platformVersion",
    "capacityProviderStrategy",
    "placementConstraints",
];

impl Model {
    pub fn deployments_created(&self, service_name: &str) -> usize {
        self.created.get(service_name).copied().unwrap_or(0)
    }
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    match req.operation.as_str() {
        "CreateService" => create_service(shared, req).await,
        "UpdateService" => update_service(shared, req).await,
        "DeleteService" => delete_service(shared, req).await,
        "DescribeServices" => describe_services(shared, req).await,
        "RegisterTaskDefinition" | "DescribeTaskDefinition" => {
            let reply = shared.forward(req).await;
            learn_images(&mut shared.lock().ecs, &reply.json());
            reply
        }
        _ => shared.forward(req).await,
    }
}

/// The cluster's name, from a name, an ARN, or nothing (`default`).
fn cluster_name(value: &Value) -> String {
    let raw = value.as_str().unwrap_or("default");
    raw.rsplit('/').next().unwrap_or(raw).to_string()
}

/// A service's name, from a name or an ARN.
fn service_name(value: &Value) -> String {
    let raw = value.as_str().unwrap_or_default();
    raw.rsplit('/').next().unwrap_or(raw).to_string()
}

fn not_idempotent() -> Reply {
    wire::json_error(400, "InvalidParameterException", "Creation of service was not idempotent.")
}

/// A hash of a JSON value that ignores key order.
fn hash_json(value: &Value) -> u64 {
    fn canonical(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, String> =
                    map.iter().map(|(k, v)| (k, canonical(v))).collect();
                let fields: Vec<String> =
                    sorted.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }
            Value::Array(items) => {
                format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(","))
            }
            other => other.to_string(),
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    canonical(value).hash(&mut hasher);
    hasher.finish()
}

fn learn_images(model: &mut Model, body: &Value) {
    let td = &body["taskDefinition"];
    if let Some(arn) = td["taskDefinitionArn"].as_str() {
        let images = td["containerDefinitions"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["image"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        model.images.insert(arn.to_string(), images);
    }
}

/// Makes sure the images of `arn` are known, asking moto if need be.
async fn know_images(shared: &Shared, like: &Req, arn: &str) {
    if arn.is_empty() || shared.lock().ecs.images.contains_key(arn) {
        return;
    }
    let target = "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition";
    let reply = shared.ask_json(like, target, json!({ "taskDefinition": arn })).await;
    learn_images(&mut shared.lock().ecs, &reply.json());
}

impl State {
    fn timing(&self) -> Timing {
        Timing {
            task_start: self.config.task_start,
            drain: self.config.drain,
            service_draining: self.config.service_draining,
        }
    }

    /// Runs `f` on a service of the model with a context at `now`, after advancing it.
    fn with_service<T>(
        &mut self,
        key: &(String, String),
        now: Instant,
        f: impl FnOnce(&mut Known, &mut Ctx) -> T,
    ) -> Option<T> {
        let timing = self.timing();
        let failing_images = self.config.failing_images.clone();
        let images = &self.ecs.images;
        let failing = |td: &str| {
            images.get(td).is_some_and(|imgs| {
                imgs.iter().any(|img| {
                    failing_images.iter().any(|f| !f.is_empty() && img.contains(f.as_str()))
                })
            })
        };
        let known = self.ecs.services.get_mut(key)?;
        let mut ctx = Ctx { now, timing, rng: &mut self.rng, failing: &failing };
        known.service.advance(&mut ctx);
        Some(f(known, &mut ctx))
    }

    /// The model's view of a service as ECS's JSON, written onto moto's.
    fn render(&self, key: &(String, String), now: Instant, shared: &Shared) -> Option<Value> {
        let known = self.ecs.services.get(key)?;
        let timing = self.timing();
        let service = &known.service;
        let mut out = known.snapshot.clone();
        let obj = out.as_object_mut()?;
        let network = obj.get("networkConfiguration").cloned();
        let deployments: Vec<Value> = service
            .deployments
            .iter()
            .map(|d| {
                let mut dep = json!({
                    "id": d.id,
                    "status": if d.primary { "PRIMARY" } else { "ACTIVE" },
                    "taskDefinition": d.task_definition,
                    "desiredCount": d.desired,
                    "pendingCount": if d.rollout == Rollout::Failed { 0 } else { d.pending(now, &timing) },
                    "runningCount": d.running(now, &timing),
                    "failedTasks": d.failed_tasks(now, &timing),
                    "createdAt": shared.epoch(d.created),
                    "updatedAt": shared.epoch(d.updated),
                    "launchType": "FARGATE",
                    "platformVersion": "1.4.0",
                    "platformFamily": "Linux",
                    "rolloutState": match d.rollout {
                        Rollout::InProgress => "IN_PROGRESS",
                        Rollout::Completed => "COMPLETED",
                        Rollout::Failed => "FAILED",
                    },
                    "rolloutStateReason": d.reason,
                });
                if let (Some(network), Some(dep)) = (&network, dep.as_object_mut()) {
                    dep.insert("networkConfiguration".into(), network.clone());
                }
                dep
            })
            .collect();
        let running: i64 = service.deployments.iter().map(|d| d.running(now, &timing)).sum();
        let pending: i64 = service
            .deployments
            .iter()
            .filter(|d| d.rollout != Rollout::Failed)
            .map(|d| d.pending(now, &timing))
            .sum();
        let events: Vec<Value> = service
            .events
            .iter()
            .map(|e| json!({ "id": e.id, "createdAt": shared.epoch(e.at), "message": e.message }))
            .collect();
        obj.insert("status".into(), json!(service.status(now, &timing).as_str()));
        obj.insert("desiredCount".into(), json!(service.desired));
        obj.insert("runningCount".into(), json!(running));
        obj.insert("pendingCount".into(), json!(pending));
        obj.insert("taskDefinition".into(), json!(service.task_definition()));
        obj.insert("deployments".into(), Value::Array(deployments));
        obj.insert("events".into(), Value::Array(events));
        let config = obj.entry("deploymentConfiguration").or_insert_with(|| json!({}));
        if let Some(config) = config.as_object_mut() {
            config.entry("maximumPercent").or_insert(json!(200));
            config.entry("minimumHealthyPercent").or_insert(json!(100));
            config.insert(
                "deploymentCircuitBreaker".into(),
                json!({ "enable": service.breaker.enable, "rollback": service.breaker.rollback }),
            );
        }
        Some(out)
    }

    /// Adds a model for a service first seen in a moto answer, as already settled.
    fn adopt(&mut self, key: &(String, String), snapshot: &Value, now: Instant) {
        if self.ecs.services.contains_key(key) {
            return;
        }
        let timing = self.timing();
        let td = snapshot["taskDefinition"].as_str().unwrap_or_default();
        let desired = snapshot["desiredCount"].as_i64().unwrap_or(0);
        let mut ctx = Ctx { now, timing, rng: &mut self.rng, failing: &|_| false };
        let service = Service::settled(&key.1, td, desired, &mut ctx);
        let known =
            Known { service, snapshot: snapshot.clone(), params: 0, deploys: deployed(snapshot) };
        self.ecs.services.insert(key.clone(), known);
    }
}

fn breaker(config: &Value) -> Option<Breaker> {
    let b = config.get("deploymentCircuitBreaker")?;
    Some(Breaker {
        enable: b["enable"].as_bool().unwrap_or(false),
        rollback: b["rollback"].as_bool().unwrap_or(false),
    })
}

/// The request fields that, when changed, start a new deployment.
fn deployed(body: &Value) -> BTreeMap<&'static str, Value> {
    DEPLOYED.iter().filter_map(|k| body.get(*k).map(|v| (*k, v.clone()))).collect()
}

/// The answer with its `service` replaced by the model's view.
fn with_service(reply: Reply, rendered: Option<Value>) -> Reply {
    let mut body = reply.json();
    if let (Some(service), Some(obj)) = (rendered, body.as_object_mut()) {
        obj.insert("service".into(), service);
    }
    reply.with_json(&body)
}

async fn create_service(shared: &Shared, req: &Req) -> Reply {
    let mut body = req.json();
    let token = body
        .as_object_mut()
        .and_then(|o| o.remove("clientToken"))
        .and_then(|t| t.as_str().map(str::to_string));
    let params = hash_json(&body);
    let cluster = cluster_name(&body["cluster"]);
    let key = (cluster.clone(), service_name(&body["serviceName"]));
    let now = Instant::now();
    {
        let mut state = shared.lock();
        let timing = state.timing();
        let _ = state.with_service(&key, now, |_, _| ());
        if let Some(token) = &token {
            match state.ecs.tokens.get(&(cluster.clone(), token.clone())) {
                Some(hash) if *hash != params => return not_idempotent(),
                Some(_) => {
                    if let Some(service) = state.render(&key, now, shared) {
                        return wire::json_reply(&json!({ "service": service }));
                    }
                }
                None => {}
            }
        }
        if let Some(known) = state.ecs.services.get(&key) {
            match known.service.status(now, &timing) {
                Status::Draining => return not_idempotent(),
                Status::Active if known.params != params => return not_idempotent(),
                Status::Active => {
                    let service = state.render(&key, now, shared);
                    return wire::json_reply(&json!({ "service": service }));
                }
                Status::Inactive => {}
            }
        }
    }
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let snapshot = reply.json()["service"].clone();
    let td = snapshot["taskDefinition"].as_str().unwrap_or_default().to_string();
    know_images(shared, req, &td).await;
    let now = Instant::now();
    let mut state = shared.lock();
    let desired = body["desiredCount"].as_i64().unwrap_or(0);
    let breaker = body.get("deploymentConfiguration").and_then(breaker).unwrap_or_default();
    state.ecs.services.remove(&key);
    state.adopt(&key, &snapshot, now);
    let _ = state.with_service(&key, now, |known, ctx| {
        known.service = Service::create(&key.1, &td, desired, breaker, ctx);
        known.params = params;
        known.deploys = deployed(&body);
    });
    if let Some(token) = token {
        state.ecs.tokens.insert((cluster, token), params);
    }
    *state.ecs.created.entry(key.1.clone()).or_default() += 1;
    let rendered = state.render(&key, now, shared);
    with_service(reply, rendered)
}

async fn update_service(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let key = (cluster_name(&body["cluster"]), service_name(&body["service"]));
    {
        let mut state = shared.lock();
        let timing = state.timing();
        let now = Instant::now();
        let _ = state.with_service(&key, now, |_, _| ());
        if state
            .ecs
            .services
            .get(&key)
            .is_some_and(|k| k.service.status(now, &timing) != Status::Active)
        {
            return wire::json_error(400, "ServiceNotActiveException", "Service was not ACTIVE.");
        }
    }
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let snapshot = reply.json()["service"].clone();
    let td = snapshot["taskDefinition"].as_str().unwrap_or_default().to_string();
    know_images(shared, req, &td).await;
    let now = Instant::now();
    let mut state = shared.lock();
    state.adopt(&key, &snapshot, now);
    let started = state.with_service(&key, now, |known, ctx| {
        known.snapshot = snapshot.clone();
        if let Some(b) = body.get("deploymentConfiguration").and_then(breaker) {
            known.service.breaker = b;
        }
        let requested = deployed(&body);
        let changed = requested.iter().any(|(k, v)| known.deploys.get(k) != Some(v));
        known.deploys.extend(requested);
        let new_td = body.get("taskDefinition").is_some() && td != known.service.task_definition();
        let forced = body["forceNewDeployment"].as_bool() == Some(true);
        let desired = body["desiredCount"].as_i64();
        if new_td || changed || forced {
            if let Some(desired) = desired {
                known.service.desired = desired;
            }
            known.service.start_deployment(&td, ctx);
            true
        } else {
            if let Some(desired) = desired {
                known.service.scale(desired, ctx);
            }
            false
        }
    });
    if started == Some(true) {
        *state.ecs.created.entry(key.1.clone()).or_default() += 1;
    }
    let rendered = state.render(&key, now, shared);
    with_service(reply, rendered)
}

async fn delete_service(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let key = (cluster_name(&body["cluster"]), service_name(&body["service"]));
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let snapshot = reply.json()["service"].clone();
    let now = Instant::now();
    let mut state = shared.lock();
    state.adopt(&key, &snapshot, now);
    let _ = state.with_service(&key, now, |known, ctx| {
        if known.service.deleted.is_none() {
            known.service.delete(now, &ctx.timing);
        }
    });
    let rendered = state.render(&key, now, shared);
    with_service(reply, rendered)
}

async fn describe_services(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let cluster = cluster_name(&body["cluster"]);
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let mut answer = reply.json();
    let now = Instant::now();
    let mut state = shared.lock();
    let mut services = Vec::new();
    let mut seen = Vec::new();
    for snapshot in answer["services"].as_array().cloned().unwrap_or_default() {
        let key = (cluster_name(&snapshot["clusterArn"]), service_name(&snapshot["serviceName"]));
        state.adopt(&key, &snapshot, now);
        let _ = state.with_service(&key, now, |known, _| known.snapshot = snapshot.clone());
        seen.push(key.1.clone());
        services.push(state.render(&key, now, shared).unwrap_or(snapshot));
    }
    // Services moto has forgotten but ECS still shows (DRAINING, then INACTIVE).
    let mut failures = Vec::new();
    for failure in answer["failures"].as_array().cloned().unwrap_or_default() {
        let key = (cluster.clone(), service_name(&failure["arn"]));
        let _ = state.with_service(&key, now, |_, _| ());
        match state.render(&key, now, shared) {
            Some(service) if !seen.contains(&key.1) => services.push(service),
            _ => failures.push(failure),
        }
    }
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("services".into(), Value::Array(services));
        obj.insert("failures".into(), Value::Array(failures));
    }
    reply.with_json(&answer)
}
