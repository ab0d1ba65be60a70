//! ECS through the layer: keeps each service's deployments in time (`ecs_model`, `service`) and
//! rewrites the `service`/`services` objects of CreateService, UpdateService, DescribeServices and
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
//! - Service Connect: `connect` checks a request's `serviceConnectConfiguration` before moto sees
//!   it, makes its Cloud Map services, and each deployment shows the configuration it runs with;
//!   a changed configuration starts a deployment like the parameters above.
//! - Deleted services (DeleteService,
//!   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html>): "the
//!   service status moves from ACTIVE to DRAINING, and the service is no longer visible in the
//!   console or in the ListServices API operation. … Services in the DRAINING or INACTIVE status
//!   can still be viewed with the DescribeServices API operation." and "If you attempt to create a
//!   new service with the same name as an existing service in either ACTIVE or DRAINING status,
//!   you receive an error." That error is InvalidParameterException "Creation of service was not
//!   idempotent." (as real ECS answers it: hashicorp/terraform#20182); an ACTIVE service created
//!   again with identical parameters is returned as it is. UpdateService of a deleted service
//!   answers ServiceNotActiveException ("The specified service isn't active. You can't update a
//!   service that's inactive.", UpdateService errors).
//! - `clientToken`: "If you retry a request that completed successfully using the same client
//!   token and the same parameters, the retry succeeds without performing any further actions."
//!   and "You should not reuse the same client token for other API requests." (Ensuring
//!   idempotency, <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html>).
//!   A reused token with different parameters is refused with the same InvalidParameterException.

use std::time::Instant;

use serde_json::{Value, json};

use super::{
    Shared, connect,
    connect_model::Asked,
    ecs_model::{Known, breaker, deployed, hash_json, learn_images},
    service::{Service, Status},
    wire::{self, Reply, Req},
};

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    match req.operation.as_str() {
        "CreateService" => create_service(shared, req).await,
        "UpdateService" => update_service(shared, req).await,
        "DeleteService" => delete_service(shared, req).await,
        "DescribeServices" => describe_services(shared, req).await,
        "ListServices" => list_services(shared, req).await,
        "ListTaskDefinitions" => {
            let mut reply = shared.forward(req).await;
            if reply.is_success() {
                let mut answer = reply.json();
                paginate(&mut answer, "taskDefinitionArns", &req.json(), 100);
                reply = reply.with_json(&answer);
            }
            reply
        }
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

/// Makes sure the images of `arn` are known, asking moto if need be.
async fn know_images(shared: &Shared, like: &Req, arn: &str) {
    if arn.is_empty() || shared.lock().ecs.images.contains_key(arn) {
        return;
    }
    let target = "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition";
    let reply = shared.ask_json(like, target, json!({ "taskDefinition": arn })).await;
    learn_images(&mut shared.lock().ecs, &reply.json());
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
        state.advance(&key, now);
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
    let _connecting = connect::lock(shared, &body).await;
    let td = body["taskDefinition"].as_str();
    let asked = match connect::admit(shared, req, &key, &body, td).await {
        Ok(asked) => asked,
        Err(refused) => return refused,
    };
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let registered = connect::provision(shared, req, &key, &asked).await;
    let mut snapshot = reply.json()["service"].clone();
    for key in KEPT {
        if let Some(value) = body.get(key) {
            snapshot[key] = value.clone();
        }
    }
    let td = snapshot["taskDefinition"].as_str().unwrap_or_default().to_string();
    know_images(shared, req, &td).await;
    let now = Instant::now();
    let mut state = shared.lock();
    let desired = body["desiredCount"].as_i64().unwrap_or(0);
    let breaker = body.get("deploymentConfiguration").and_then(breaker).unwrap_or_default();
    state.insert(&key, now, |ctx| Known {
        service: Service::create(&key.1, &td, desired, breaker, ctx),
        snapshot,
        params,
        deploys: deployed(&body),
    });
    let first = state.ecs.services.get(&key).and_then(|k| Some(k.service.primary()?.id.clone()));
    let asked = if asked == Asked::Unchanged { Asked::Off } else { asked };
    state.connect_started(&key, first, asked, registered);
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
    let running = {
        let mut state = shared.lock();
        let timing = state.timing();
        let now = Instant::now();
        state.advance(&key, now);
        let known = state.ecs.services.get(&key);
        if known.is_some_and(|k| k.service.status(now, &timing) != Status::Active) {
            return wire::json_error(400, "ServiceNotActiveException", "Service was not ACTIVE.");
        }
        known.map(|k| k.service.task_definition())
    };
    let _connecting = connect::lock(shared, &body).await;
    let td = body["taskDefinition"].as_str().or(running.as_deref());
    let asked = match connect::admit(shared, req, &key, &body, td).await {
        Ok(asked) => asked,
        Err(refused) => return refused,
    };
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let registered = connect::provision(shared, req, &key, &asked).await;
    let snapshot = reply.json()["service"].clone();
    let td = snapshot["taskDefinition"].as_str().unwrap_or_default().to_string();
    know_images(shared, req, &td).await;
    let now = Instant::now();
    let mut state = shared.lock();
    state.adopt(&key, &snapshot, now);
    let started = state.with_service(&key, now, |known, ctx| {
        refresh(known, &snapshot, &body);
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
            Some(known.service.start_deployment(&td, ctx))
        } else {
            if let Some(desired) = desired {
                known.service.scale(desired, ctx);
            }
            None
        }
    });
    let started = started.flatten();
    if started.is_some() {
        *state.ecs.created.entry(key.1.clone()).or_default() += 1;
    }
    state.connect_started(&key, started, asked, registered);
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
    let mut snapshot = reply.json()["service"].clone();
    // moto answers INACTIVE at once; until now the service was ACTIVE.
    snapshot["status"] = json!("ACTIVE");
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
        let _ = state.with_service(&key, now, |known, _| refresh(known, &snapshot, &Value::Null));
        seen.push(key.1.clone());
        services.push(state.render(&key, now, shared).unwrap_or(snapshot));
    }
    // Services moto has forgotten but ECS still shows (DRAINING, then INACTIVE).
    let mut failures = Vec::new();
    for failure in answer["failures"].as_array().cloned().unwrap_or_default() {
        let key = (cluster.clone(), service_name(&failure["arn"]));
        state.advance(&key, now);
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

/// ListServices without the services the model knows are deleted (DRAINING or INACTIVE).
async fn list_services(shared: &Shared, req: &Req) -> Reply {
    let cluster = cluster_name(&req.json()["cluster"]);
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let mut answer = reply.json();
    let state = shared.lock();
    if let Some(arns) = answer["serviceArns"].as_array_mut() {
        arns.retain(|arn| {
            let key = (cluster.clone(), service_name(arn));
            state.ecs.services.get(&key).is_none_or(|known| known.service.deleted.is_none())
        });
    }
    drop(state);
    paginate(&mut answer, "serviceArns", &req.json(), 10);
    reply.with_json(&answer)
}

/// What ECS keeps and reports of a service and moto drops.
const KEPT: [&str; 2] = ["healthCheckGracePeriodSeconds", "deploymentConfiguration"];

/// Takes moto's latest view of a service, keeping what moto drops and ECS keeps, with the values
/// `request` (a CreateService or UpdateService body, or null) just set.
fn refresh(known: &mut Known, snapshot: &Value, request: &Value) {
    let kept: Vec<(&str, Value)> = KEPT
        .iter()
        .filter_map(|k| Some((*k, request.get(k).or(known.snapshot.get(k))?.clone())))
        .collect();
    known.snapshot = snapshot.clone();
    for (key, value) in kept {
        known.snapshot[key] = value;
    }
}

/// Pages a list answer as ECS does: `maxResults` items a page (default `default`, at most 100),
/// and a `nextToken` while more remain ("ListServices": default 10; "ListTaskDefinitions":
/// default 100; ECS API Reference). moto answers everything in one page.
fn paginate(answer: &mut Value, field: &str, request: &Value, default: usize) {
    let all = answer[field].as_array().cloned().unwrap_or_default();
    let size = request["maxResults"].as_u64().map_or(default, |n| (n as usize).clamp(1, 100));
    let start = request["nextToken"]
        .as_str()
        .and_then(|t| t.strip_prefix("layer-page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0usize);
    let page: Vec<Value> = all.iter().skip(start).take(size).cloned().collect();
    if let Some(obj) = answer.as_object_mut() {
        obj.insert(field.into(), Value::Array(page));
        if start + size < all.len() {
            obj.insert("nextToken".into(), json!(format!("layer-page-{}", start + size)));
        } else {
            obj.remove("nextToken");
        }
    }
}
