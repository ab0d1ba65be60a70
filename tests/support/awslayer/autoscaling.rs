//! Application Auto Scaling through the layer: what real AWS does and moto 5.2.1 does not. Requests
//! go to moto; the layer adds the rest.
//!
//! - Tags. RegisterScalableTarget `Tags`: "Assigns one or more tags to the scalable target. … You
//!   cannot use this parameter to modify tags on an existing scalable target" and
//!   ListTagsForResource / TagResource / UntagResource on the target's ARN
//!   (<https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html>,
//!   <https://docs.aws.amazon.com/autoscaling/application/APIReference/API_ListTagsForResource.html>).
//!   moto drops the tags and has no tag operations.
//! - Registering (or updating) a target brings the service's desired count into the new bounds at
//!   once: "If the current capacity is below the minimum capacity, Application Auto Scaling scales
//!   out to the minimum" (and in to the maximum), MinCapacity/MaxCapacity in the same reference.
//!   moto never touches ECS.
//! - Deregistering a target "deletes the scaling policies and the scheduled actions that are
//!   associated with it" (DeregisterScalableTarget reference); moto keeps the policies.
//! - A missing target or policy is ObjectNotFoundException ("The specified object could not be
//!   found", in the Errors of DeregisterScalableTarget and DeleteScalingPolicy); moto answers
//!   ValidationException.

use std::{collections::BTreeMap, collections::HashMap, time::Instant};

use serde_json::{Value, json};

use super::{
    Shared,
    wire::{self, Reply, Req},
};

#[derive(Debug, Default)]
pub struct Model {
    /// Tags by scalable target ARN.
    tags: HashMap<String, BTreeMap<String, String>>,
    /// Target ARN by `(resource id, dimension)`, for what moto does not say.
    arns: HashMap<(String, String), String>,
}

const TARGET_PREFIX: &str = "AnyScaleFrontendService";

fn not_found(message: &str) -> Reply {
    wire::json_error(400, "ObjectNotFoundException", message)
}

fn tag_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|o| {
            o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().into())).collect()
        })
        .unwrap_or_default()
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let key = (
        body["ResourceId"].as_str().unwrap_or_default().to_string(),
        body["ScalableDimension"].as_str().unwrap_or_default().to_string(),
    );
    match req.operation.as_str() {
        "RegisterScalableTarget" => {
            let existed = target(shared, req, &key).await.is_some();
            let reply = shared.forward(req).await;
            if !reply.is_success() {
                return reply;
            }
            let Some(found) = target(shared, req, &key).await else { return reply };
            let arn = found["ScalableTargetARN"].as_str().unwrap_or_default().to_string();
            {
                let mut state = shared.lock();
                state.autoscaling.arns.insert(key.clone(), arn.clone());
                if !existed {
                    state.autoscaling.tags.insert(arn.clone(), tag_map(&body["Tags"]));
                }
            }
            let (min, max) = (found["MinCapacity"].as_i64(), found["MaxCapacity"].as_i64());
            if body["ServiceNamespace"] == "ecs" {
                clamp_service(shared, req, &key.0, min.unwrap_or(0), max.unwrap_or(i64::MAX)).await;
            }
            wire::json_reply(&json!({ "ScalableTargetARN": arn }))
        }
        "DeregisterScalableTarget" => {
            if target(shared, req, &key).await.is_none() {
                return not_found("No scalable target registered for the given resource");
            }
            let policies = shared
                .ask_json(
                    req,
                    &format!("{TARGET_PREFIX}.DescribeScalingPolicies"),
                    json!({ "ServiceNamespace": body["ServiceNamespace"], "ResourceId": key.0 }),
                )
                .await
                .json();
            for p in policies["ScalingPolicies"].as_array().into_iter().flatten() {
                if p["ResourceId"] == key.0.as_str() {
                    let _ = shared
                        .ask_json(
                            req,
                            &format!("{TARGET_PREFIX}.DeleteScalingPolicy"),
                            json!({
                                "PolicyName": p["PolicyName"],
                                "ServiceNamespace": p["ServiceNamespace"],
                                "ResourceId": p["ResourceId"],
                                "ScalableDimension": p["ScalableDimension"],
                            }),
                        )
                        .await;
                }
            }
            let reply = shared.forward(req).await;
            if reply.is_success() {
                let mut state = shared.lock();
                if let Some(arn) = state.autoscaling.arns.remove(&key) {
                    state.autoscaling.tags.remove(&arn);
                }
            }
            reply
        }
        "DeleteScalingPolicy" => {
            let reply = shared.forward(req).await;
            if reply.error_code().as_deref() == Some("ValidationException") {
                return not_found("No scaling policy found for the given name and resource");
            }
            reply
        }
        "ListTagsForResource" => {
            let arn = body["ResourceARN"].as_str().unwrap_or_default();
            match shared.lock().autoscaling.tags.get(arn) {
                Some(tags) => wire::json_reply(&json!({ "Tags": tags })),
                None => wire::json_error(400, "ResourceNotFoundException", "No such resource"),
            }
        }
        "TagResource" => {
            let arn = body["ResourceARN"].as_str().unwrap_or_default();
            let mut state = shared.lock();
            match state.autoscaling.tags.get_mut(arn) {
                Some(tags) => {
                    tags.extend(tag_map(&body["Tags"]));
                    wire::json_reply(&json!({}))
                }
                None => wire::json_error(400, "ResourceNotFoundException", "No such resource"),
            }
        }
        "UntagResource" => {
            let arn = body["ResourceARN"].as_str().unwrap_or_default();
            let mut state = shared.lock();
            match state.autoscaling.tags.get_mut(arn) {
                Some(tags) => {
                    for k in body["TagKeys"].as_array().into_iter().flatten() {
                        tags.remove(k.as_str().unwrap_or_default());
                    }
                    wire::json_reply(&json!({}))
                }
                None => wire::json_error(400, "ResourceNotFoundException", "No such resource"),
            }
        }
        _ => shared.forward(req).await,
    }
}

/// The registered target of `key`, as moto describes it.
async fn target(shared: &Shared, req: &Req, key: &(String, String)) -> Option<Value> {
    let body = req.json();
    let out = shared
        .ask_json(
            req,
            &format!("{TARGET_PREFIX}.DescribeScalableTargets"),
            json!({ "ServiceNamespace": body["ServiceNamespace"], "ResourceIds": [key.0] }),
        )
        .await
        .json();
    out["ScalableTargets"]
        .as_array()?
        .iter()
        .find(|t| t["ResourceId"] == key.0.as_str() && t["ScalableDimension"] == key.1.as_str())
        .cloned()
}

/// Brings the ECS service `service/<cluster>/<name>` into `[min, max]`, as the autoscaler does
/// right after a registration.
async fn clamp_service(shared: &Shared, req: &Req, resource_id: &str, min: i64, max: i64) {
    let mut parts = resource_id.split('/').skip(1);
    let (Some(cluster), Some(name)) = (parts.next(), parts.next()) else { return };
    let key = (cluster.to_string(), name.to_string());
    let now = Instant::now();
    let current = shared.lock().with_service(&key, now, |known, _| known.service.desired);
    let Some(current) = current else { return };
    let wanted = current.clamp(min, max.max(min));
    if wanted == current {
        return;
    }
    let reply = shared
        .ask_service(
            req,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.UpdateService",
            json!({ "cluster": cluster, "service": name, "desiredCount": wanted }),
        )
        .await;
    if reply.is_success() {
        let _ =
            shared.lock().with_service(&key, now, |known, ctx| known.service.scale(wanted, ctx));
    }
}
