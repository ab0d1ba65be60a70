//! What the layer knows of ECS: each service in time (`service`) keyed by cluster and service name,
//! the container images of each task definition (to tell which deployments fail), the client
//! tokens CreateService was called with, and the model's view written onto moto's JSON in ECS's
//! `Service` shape (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html>).
//! Pure: callers hand in the clock and hold the layer's lock.

use std::{
    collections::{BTreeMap, HashMap},
    hash::{Hash, Hasher},
    time::Instant,
};

use serde_json::{Value, json};

use super::{
    Shared, State,
    deployment::{Rollout, Timing},
    service::{Breaker, Ctx, Service},
};

/// What the layer knows of ECS.
#[derive(Debug, Default)]
pub struct Model {
    pub(super) services: HashMap<(String, String), Known>,
    /// Container images per task definition ARN.
    pub(super) images: HashMap<String, Vec<String>>,
    /// CreateService client tokens per cluster: the hash of the request they came with.
    pub(super) tokens: HashMap<(String, String), u64>,
    pub(super) created: HashMap<String, usize>,
}

/// A service as the model tracks it.
#[derive(Debug)]
pub(super) struct Known {
    pub(super) service: Service,
    /// moto's last view of the service, the base the model's fields are written onto.
    pub(super) snapshot: Value,
    /// The CreateService parameters' hash.
    pub(super) params: u64,
    /// What ECS deploys besides the task definition, as last requested.
    pub(super) deploys: BTreeMap<&'static str, Value>,
}

/// Request fields whose change starts a new deployment.
const DEPLOYED: [&str; 7] = [
    "networkConfiguration",
    "loadBalancers",
    "serviceRegistries",
    "platformVersion",
    "capacityProviderStrategy",
    "placementConstraints",
    "serviceConnectConfiguration",
];

impl Model {
    pub fn deployments_created(&self, service_name: &str) -> usize {
        self.created.get(service_name).copied().unwrap_or(0)
    }
}

/// A hash of a JSON value that ignores key order.
pub(super) fn hash_json(value: &Value) -> u64 {
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

pub(super) fn learn_images(model: &mut Model, body: &Value) {
    let td = &body["taskDefinition"];
    if let Some(arn) = td["taskDefinitionArn"].as_str() {
        let images = td["containerDefinitions"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["image"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        model.images.insert(arn.to_string(), images);
    }
}

impl State {
    pub(super) fn timing(&self) -> Timing {
        Timing {
            task_start: self.config.task_start,
            drain: self.config.drain,
            service_draining: self.config.service_draining,
        }
    }

    /// Runs `f` on a service of the model with a context at `now`, after advancing it.
    pub(super) fn with_service<T>(
        &mut self,
        key: &(String, String),
        now: Instant,
        f: impl FnOnce(&mut Known, &mut Ctx) -> T,
    ) -> Option<T> {
        let (timing, failing_images) = (self.timing(), &self.config.failing_images);
        let images = &self.ecs.images;
        let failing = |td: &str| fails(images, failing_images, td);
        let known = self.ecs.services.get_mut(key)?;
        let mut ctx = Ctx { now, timing, rng: &mut self.rng, failing: &failing };
        known.service.advance(&mut ctx);
        Some(f(known, &mut ctx))
    }

    /// Applies every transition of a service due by `now`.
    pub(super) fn advance(&mut self, key: &(String, String), now: Instant) {
        self.with_service(key, now, |_, _| ());
    }

    /// Puts a service into the model (replacing any), made with a context at `now`.
    pub(super) fn insert(
        &mut self,
        key: &(String, String),
        now: Instant,
        make: impl FnOnce(&mut Ctx) -> Known,
    ) {
        let (timing, failing_images) = (self.timing(), &self.config.failing_images);
        let images = &self.ecs.images;
        let failing = |td: &str| fails(images, failing_images, td);
        let known = make(&mut Ctx { now, timing, rng: &mut self.rng, failing: &failing });
        self.ecs.services.insert(key.clone(), known);
    }

    /// The model's view of a service as ECS's JSON, written onto moto's.
    pub(super) fn render(
        &self,
        key: &(String, String),
        now: Instant,
        shared: &Shared,
    ) -> Option<Value> {
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
                if let Some(dep) = dep.as_object_mut() {
                    if let Some(network) = &network {
                        dep.insert("networkConfiguration".into(), network.clone());
                    }
                    self.connect.decorate(d, dep);
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
        // Service Connect shows on the deployments only.
        obj.remove("serviceConnectConfiguration");
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
    pub(super) fn adopt(&mut self, key: &(String, String), snapshot: &Value, now: Instant) {
        if self.ecs.services.contains_key(key) {
            return;
        }
        let td = snapshot["taskDefinition"].as_str().unwrap_or_default();
        let desired = snapshot["desiredCount"].as_i64().unwrap_or(0);
        self.insert(key, now, |ctx| {
            let mut service = Service::settled(&key.1, td, desired, ctx);
            if snapshot["status"].as_str().is_some_and(|status| status != "ACTIVE") {
                // Deleted behind the layer's back: drained already.
                let timing = ctx.timing;
                service.delete(now.checked_sub(timing.service_draining).unwrap_or(now), &timing);
            }
            Known { service, snapshot: snapshot.clone(), params: 0, deploys: deployed(snapshot) }
        });
    }
}

/// Whether tasks of task definition `td` fail to start: one of its images contains one of the
/// failing substrings.
fn fails(images: &HashMap<String, Vec<String>>, failing: &[String], td: &str) -> bool {
    images.get(td).is_some_and(|images| {
        images
            .iter()
            .any(|image| failing.iter().any(|f| !f.is_empty() && image.contains(f.as_str())))
    })
}

pub(super) fn breaker(config: &Value) -> Option<Breaker> {
    let b = config.get("deploymentCircuitBreaker")?;
    Some(Breaker {
        enable: b["enable"].as_bool().unwrap_or(false),
        rollback: b["rollback"].as_bool().unwrap_or(false),
    })
}

/// The request fields that, when changed, start a new deployment.
pub(super) fn deployed(body: &Value) -> BTreeMap<&'static str, Value> {
    DEPLOYED.iter().filter_map(|k| body.get(*k).map(|v| (*k, v.clone()))).collect()
}
