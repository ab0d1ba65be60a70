//! Autoscaling (`spec.autoscaling`) against the AWS emulator: the scalable target and its
//! target-tracking policies are ours, re-applying never resets the count the autoscaler chose,
//! changes update policies in place, and removing autoscaling (or the service) leaves nothing.

mod support;

use byoc::resources::{Action, Kind};
use support::moto::World;

const WEB: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: web, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.26
  ports: [{ name: http, containerPort: 80 }]
  replicas: 1
  ingress: { loadBalancer: public, hosts: [shop.example.com], port: http }
  autoscaling:
    minReplicas: 2
    maxReplicas: 8
    targetCpuPercent: 60
    targetRequestsPerTask: 1000
"#;

/// The ECS service's desired count, as the autoscaler would set it.
async fn set_desired_count(w: &World, count: i32) {
    let cluster = cluster_and_service(w).await;
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster.0)
        .service(&cluster.1)
        .desired_count(count)
        .send()
        .await
        .unwrap();
}

async fn cluster_and_service(w: &World) -> (String, String) {
    let clusters = w.aws.ecs.list_clusters().send().await.unwrap();
    for c in clusters.cluster_arns() {
        let services = w.aws.ecs.list_services().cluster(c).send().await.unwrap();
        if let Some(s) = services.service_arns().iter().find(|s| s.contains(&w.namespace)) {
            return (c.clone(), s.rsplit('/').next().unwrap().to_string());
        }
    }
    panic!("no service of {} found", w.namespace);
}

async fn policies(w: &World) -> Vec<(String, String, f64, Option<String>)> {
    let (cluster, service) = cluster_and_service(w).await;
    let cluster = cluster.rsplit('/').next().unwrap().to_string();
    let out = w
        .aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(format!("service/{cluster}/{service}"))
        .send()
        .await
        .unwrap();
    let mut found: Vec<_> = out
        .scaling_policies()
        .iter()
        .map(|p| {
            let cfg = p.target_tracking_scaling_policy_configuration().unwrap();
            let metric = cfg.predefined_metric_specification().unwrap();
            (
                p.policy_name().to_string(),
                metric.predefined_metric_type().as_str().to_string(),
                cfg.target_value(),
                metric.resource_label().map(str::to_string),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test]
async fn autoscaling_registers_a_tagged_target_and_one_policy_per_target() {
    let w = World::with_layer("scaling-create", World::fast_layer());
    let status = &w.apply(WEB).await.unwrap()[0].1;
    let a = status.autoscaling.as_ref().expect("status.autoscaling");
    assert_eq!((a.min_replicas, a.max_replicas), (2, 8));
    assert_eq!(a.policies, ["cpu", "requests"]);
    // The service starts within the bounds: replicas 1 is below the minimum.
    assert_eq!(status.rollout.as_ref().unwrap().desired, 2);
    let found = policies(&w).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str(), found[0].2),
        ("byoc-cpu", "ECSServiceAverageCPUUtilization", 60.0)
    );
    assert_eq!(
        (found[1].0.as_str(), found[1].1.as_str(), found[1].2),
        ("byoc-requests", "ALBRequestCountPerTarget", 1000.0)
    );
    let label = found[1].3.as_deref().unwrap();
    assert!(label.starts_with("app/") && label.contains("/targetgroup/"), "{label}");
    let inventory = w.inventory().await;
    assert!(inventory.iter().any(|(k, _)| k == "ScalableTarget"), "{inventory:?}");
}

#[tokio::test]
async fn the_count_the_autoscaler_chose_survives_every_reapply() {
    let w = World::with_layer("scaling-keep", World::fast_layer());
    w.apply(WEB).await.unwrap();
    set_desired_count(&w, 6).await;
    let writes = w.calls.writes();
    let plan = w.plan(WEB).await;
    assert!(plan.iter().all(|(_, p)| p.is_empty()), "{plan:?}");
    let status = &w.apply(WEB).await.unwrap()[0].1;
    assert_eq!(w.calls.writes(), writes, "{:?}", w.calls.write_summary());
    assert_eq!(status.autoscaling.as_ref().unwrap().desired_replicas, 6);
    // Changing replicas does not touch the count either: it is only the starting count.
    let plan = w.plan(&WEB.replace("replicas: 1", "replicas: 3")).await;
    assert!(plan.iter().all(|(_, p)| p.is_empty()), "{plan:?}");
}

#[tokio::test]
async fn changing_a_target_updates_its_policy_and_dropping_one_deletes_it() {
    let w = World::with_layer("scaling-change", World::fast_layer());
    w.apply(WEB).await.unwrap();
    let changed = WEB
        .replace("targetCpuPercent: 60", "targetCpuPercent: 70")
        .replace("    targetRequestsPerTask: 1000\n", "    targetMemoryPercent: 80\n")
        .replace("maxReplicas: 8", "maxReplicas: 12");
    let plan = w.plan(&changed).await;
    let changes: Vec<String> = plan[1].1.changes.iter().map(|c| c.summary()).collect();
    assert!(
        plan[1].1.of(Kind::ScalableTarget).any(|c| matches!(&c.action, Action::Update(f) if f[0].field == "maxCapacity" && f[0].to == "12")),
        "{changes:?}"
    );
    assert!(
        plan[1]
            .1
            .of(Kind::ScalingPolicy)
            .any(|c| c.id == "byoc-memory" && c.action == Action::Create),
        "{changes:?}"
    );
    assert!(
        plan[1]
            .1
            .of(Kind::ScalingPolicy)
            .any(|c| c.id == "byoc-requests" && c.action == Action::Delete),
        "{changes:?}"
    );
    let status = &w.apply(&changed).await.unwrap()[0].1;
    assert_eq!(status.autoscaling.as_ref().unwrap().max_replicas, 12);
    let found: Vec<(String, f64)> =
        policies(&w).await.into_iter().map(|(n, _, t, _)| (n, t)).collect();
    assert_eq!(found, [("byoc-cpu".to_string(), 70.0), ("byoc-memory".to_string(), 80.0)]);
    let writes = w.calls.writes();
    w.apply(&changed).await.unwrap();
    assert_eq!(w.calls.writes(), writes, "{:?}", w.calls.write_summary());
}

#[tokio::test]
async fn removing_autoscaling_deregisters_the_target_and_the_spec_count_applies_again() {
    let w = World::with_layer("scaling-remove", World::fast_layer());
    w.apply(WEB).await.unwrap();
    set_desired_count(&w, 5).await;
    let without = WEB.split("  autoscaling:").next().unwrap().replace("replicas: 1", "replicas: 3");
    let status = &w.apply(&without).await.unwrap()[0].1;
    assert!(status.autoscaling.is_none());
    assert_eq!(status.rollout.as_ref().unwrap().desired, 3);
    assert!(policies(&w).await.is_empty());
    let inventory = w.inventory().await;
    assert!(!inventory.iter().any(|(k, _)| k == "ScalableTarget"), "{inventory:?}");
}

#[tokio::test]
async fn deleting_an_autoscaled_service_leaves_nothing() {
    let w = World::with_layer("scaling-delete", World::fast_layer());
    w.apply(WEB).await.unwrap();
    let plan = w.delete(WEB).await;
    assert!(plan[0].1.of(Kind::ScalableTarget).next().is_some(), "{plan:?}");
    let inventory = w.inventory().await;
    let left: Vec<_> = inventory
        .iter()
        .filter(|(k, _)| !["EcsCluster", "LoadBalancer"].contains(&k.as_str()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn turning_autoscaling_on_brings_the_running_count_into_its_bounds() {
    let w = World::with_layer("scaling-bounds", World::fast_layer());
    let plain = WEB.split("  autoscaling:").next().unwrap().replace("replicas: 1", "replicas: 12");
    w.apply(&plain).await.unwrap();
    // The autoscaler, not the operator, scales into [2, 8]: the operator sends no desired count.
    let status = &w.apply(WEB).await.unwrap()[0].1;
    let updates = w.calls.write_summary();
    assert_eq!(status.autoscaling.as_ref().unwrap().desired_replicas, 8, "{updates:?}");
}
