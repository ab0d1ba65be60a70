//! The engine and the one-shot CLI against moto behind the AWS behaviour layer
//! (`tests/support/awslayer`): what real AWS does and moto alone does not. Deployments take time,
//! fail and roll back; names AWS frees slowly; target groups stay in use; requests are throttled;
//! faults. Each test shows one production behaviour the operator must get right.

mod support;

use std::time::Duration;

use byoc::{
    api::{CloudServiceStatus, RolloutState},
    oneshot,
};
use support::{
    awslayer::{Fault, FaultKind, Layer},
    e2e::condition,
    moto::World,
};

const WEB: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: web, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.26
  ports: [{ name: http, containerPort: 80 }, { name: admin, containerPort: 9090 }]
  replicas: 2
  healthCheck: { path: /healthz }
  ingress: { loadBalancer: public, hosts: [shop.example.com], paths: ["/*"], port: http }
"#;

const SECRET: &str = r#"
---
apiVersion: v1
kind: Secret
metadata: { name: db, namespace: shop }
stringData: { url: postgres://db.internal/shop }
"#;

fn with_secret_env(yaml: &str) -> String {
    format!(
        "{yaml}  env: [{{ name: DB_URL, valueFrom: {{ secretKeyRef: {{ name: db, key: url }} }} }}]\n{SECRET}"
    )
}

fn layer(w: &World) -> &Layer {
    w.layer.as_ref().expect("a world with the AWS behaviour layer")
}

/// `byoc apply --wait`: applies, then follows every rollout to its end.
async fn apply_and_wait(w: &World, yaml: &str) -> Result<Vec<CloudServiceStatus>, String> {
    let m = w.manifests(yaml);
    let prepared = oneshot::prepare(&m, &w.cluster_id).map_err(|e| e.join("; "))?;
    let mut statuses = oneshot::apply(&m, &prepared, &w.sessions()).await?;
    let waited =
        oneshot::wait(&prepared, &mut statuses, &w.sessions(), Duration::from_secs(40), |_| {})
            .await;
    waited.map(|_| statuses.into_iter().map(|(_, s)| s).collect())
}

async fn apply(w: &World, yaml: &str) -> CloudServiceStatus {
    w.apply(yaml).await.unwrap().pop().unwrap().1
}

/// The ECS service's name (the last part of its ARN in the status).
fn ecs_name(status: &CloudServiceStatus) -> String {
    let arn = &status.resources.iter().find(|r| r.kind == "EcsService").unwrap().id;
    arn.rsplit('/').next().unwrap().to_string()
}

fn stalled(status: &CloudServiceStatus) -> Option<(String, String)> {
    condition(&status.conditions, "Stalled")
        .filter(|c| c.0 == "True")
        .map(|(_, reason, message)| (reason, message))
}

async fn described(w: &World, name: &str) -> aws_sdk_ecs::types::Service {
    let out = w
        .aws
        .ecs
        .describe_services()
        .cluster(format!("byoc-{}", w.account))
        .services(name)
        .send()
        .await
        .unwrap();
    out.services()[0].clone()
}

#[tokio::test]
async fn a_broken_image_fails_rolls_back_and_is_never_deployed_again_until_the_spec_changes() {
    let w = World::with_layer("broken", World::fast_layer());
    let good = apply_and_wait(&w, WEB).await.unwrap().pop().unwrap();
    assert_eq!(good.rollout.as_ref().unwrap().state, RolloutState::Completed);
    let name = ecs_name(&good);
    let broken = WEB.replace("nginx:1.26", "nginx:broken");

    let error = apply_and_wait(&w, &broken).await.unwrap_err();
    assert!(error.contains("rollout failed"), "{error}");
    // ECS rolls back to revision 1, then drops the failed deployment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let service = described(&w, &name).await;
    assert!(service.task_definition().unwrap().ends_with(":1"), "ECS rolled back");
    assert_eq!(service.deployments().len(), 1, "the failed deployment is gone");

    for resync in 0..3 {
        let status = apply(&w, &broken).await;
        let (reason, message) = stalled(&status).expect("stalled");
        assert_eq!(reason, "RolloutFailed", "resync {resync}");
        assert!(message.contains(":2") && message.contains("circuit breaker"), "{message}");
        assert!(message.contains("not deployed again"), "{message}");
        assert!(status.rollout.as_ref().unwrap().rolled_back);
    }
    assert_eq!(layer(&w).deployments_created(&name), 2, "the create and the one broken update");
    assert_eq!(layer(&w).count("RegisterTaskDefinition"), 2);
    assert!(described(&w, &name).await.task_definition().unwrap().ends_with(":1"));

    // A spec change is deployed again.
    let fixed = apply_and_wait(&w, &WEB.replace("nginx:1.26", "nginx:1.27")).await.unwrap();
    let rollout = fixed[0].rollout.clone().unwrap();
    assert_eq!(rollout.state, RolloutState::Completed);
    assert!(rollout.task_definition.unwrap().ends_with(":3"));
    assert_eq!(layer(&w).deployments_created(&name), 3);
}

#[tokio::test]
async fn a_rollback_ecs_finished_unobserved_is_recognised_from_the_revision_tag_and_ecs_events() {
    let w = World::with_layer("unobserved", World::fast_layer());
    let name = ecs_name(&apply_and_wait(&w, WEB).await.unwrap()[0]);
    let broken = WEB.replace("nginx:1.26", "nginx:broken");
    // No --wait and no status: nobody sees the deployment fail.
    apply(&w, &broken).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(described(&w, &name).await.deployments().len(), 1, "rollback completed");

    let status = apply(&w, &broken).await;
    let (reason, message) = stalled(&status).expect("stalled");
    assert_eq!(reason, "RolloutFailed");
    assert!(message.contains("rolled back"), "{message}");
    apply(&w, &broken).await;
    assert_eq!(layer(&w).deployments_created(&name), 2, "no redeploy of the failed revision");
}

#[tokio::test]
async fn without_the_circuit_breaker_a_crash_loop_shows_failed_tasks_then_misses_its_deadline() {
    let w = World::with_layer("no-breaker", World::fast_layer());
    let spec = WEB.replace("nginx:1.26", "nginx:broken").replace(
        "  replicas: 2\n",
        "  replicas: 2\n  deployment: { circuitBreaker: { enable: false, rollback: false }, progressDeadlineSeconds: 10 }\n",
    );
    let first = apply(&w, &spec).await;
    let name = ecs_name(&first);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let crashing = apply(&w, &spec).await;
    let rollout = crashing.rollout.clone().unwrap();
    assert_eq!(rollout.state, RolloutState::InProgress);
    assert!(rollout.failed_tasks >= 2, "{rollout:?}");
    let ready = condition(&crashing.conditions, "Reconciling").unwrap();
    assert!(ready.2.contains("failed to start"), "{ready:?}");

    tokio::time::sleep(Duration::from_secs(8)).await;
    let late = apply(&w, &spec).await;
    let (reason, message) = stalled(&late).expect("stalled after the deadline");
    assert_eq!(reason, "RolloutFailed");
    assert!(message.contains("progressDeadlineSeconds (10s)"), "{message}");
    assert!(late.rollout.unwrap().failed_tasks > rollout.failed_tasks);
    assert_eq!(layer(&w).deployments_created(&name), 1, "ECS keeps trying; we never redeploy");
}

#[tokio::test]
async fn a_secret_dropped_and_added_back_waits_for_aws_to_free_its_name_and_reaches_the_task_definition()
 {
    let w = World::with_layer("secret-back", World::fast_layer());
    let with = with_secret_env(WEB);
    apply(&w, &with).await;
    let first = secret_arn_in_task_definition(&w).await.unwrap();
    apply(&w, WEB).await;
    assert_eq!(secret_arn_in_task_definition(&w).await, None, "dropped");

    // Added back at once: AWS still holds the name; the create is retried until it is free.
    let back = apply(&w, &with).await;
    assert!(stalled(&back).is_none(), "{back:?}");
    let refused = layer(&w)
        .calls()
        .iter()
        .filter(|c| c.operation == "CreateSecret" && c.outcome.contains("InvalidRequestException"))
        .count();
    assert!(refused >= 1, "the name was still held by the deletion");
    let second = secret_arn_in_task_definition(&w).await.unwrap();
    assert_ne!(first, second, "a re-created secret has a new ARN, and the task definition uses it");
}

async fn secret_arn_in_task_definition(w: &World) -> Option<String> {
    let family =
        w.inventory().await.into_iter().find(|(k, _)| k == "TaskDefinition").map(|(_, arn)| {
            arn.rsplit('/').next().unwrap().split(':').next().unwrap().to_string()
        })?;
    let td = w.aws.ecs.describe_task_definition().task_definition(family).send().await.ok()?;
    let container = td.task_definition()?.container_definitions().first()?.clone();
    container.secrets().first().map(|s| s.value_from().to_string())
}

#[tokio::test]
async fn a_secret_of_ours_scheduled_for_deletion_is_restored_not_re_created() {
    let w = World::with_layer("secret-restore", World::fast_layer());
    let with = with_secret_env(WEB);
    apply(&w, &with).await;
    let arn = secret_arn_in_task_definition(&w).await.unwrap();
    w.aws.secrets.delete_secret().secret_id(&arn).recovery_window_in_days(7).send().await.unwrap();
    let registered = layer(&w).count("RegisterTaskDefinition");

    let plan = w.plan(&with).await;
    assert!(plan[1].1.to_string().contains("scheduled for deletion → restored"), "{}", plan[1].1);
    let status = apply(&w, &with).await;
    assert!(stalled(&status).is_none(), "{status:?}");
    assert_eq!(layer(&w).count("RestoreSecret"), 1);
    let described = w.aws.secrets.describe_secret().secret_id(&arn).send().await.unwrap();
    assert!(described.deleted_date().is_none(), "restored");
    assert_eq!(layer(&w).count("RegisterTaskDefinition"), registered, "same ARN, same revision");
}

#[tokio::test]
async fn changing_the_container_port_keeps_the_route_up_and_moves_the_targets() {
    let w = World::with_layer("port", World::fast_layer());
    let first = apply_and_wait(&w, WEB).await.unwrap().pop().unwrap();
    let tg = first.resources.iter().find(|r| r.kind == "TargetGroup").unwrap().id.clone();
    let before: Vec<usize> = ["CreateRule", "DeleteRule", "CreateTargetGroup", "DeleteTargetGroup"]
        .iter()
        .map(|op| layer(&w).count(op))
        .collect();

    let moved = WEB.replace("containerPort: 80 }", "containerPort: 8080 }");
    let status = apply_and_wait(&w, &moved).await.unwrap().pop().unwrap();
    assert_eq!(status.rollout.unwrap().state, RolloutState::Completed);
    let after: Vec<usize> = ["CreateRule", "DeleteRule", "CreateTargetGroup", "DeleteTargetGroup"]
        .iter()
        .map(|op| layer(&w).count(op))
        .collect();
    assert_eq!(after, before, "no rule or target group was deleted or re-created");
    assert_eq!(status.resources.iter().find(|r| r.kind == "TargetGroup").unwrap().id, tg);
    let service = described(&w, &ecs_name(&first)).await;
    assert_eq!(service.load_balancers()[0].container_port(), Some(8080));
    assert_eq!(service.load_balancers()[0].target_group_arn(), Some(tg.as_str()));
}

#[tokio::test]
async fn target_groups_get_a_short_deregistration_delay_and_the_named_health_check_port() {
    let w = World::with_layer("tg-settings", World::fast_layer());
    let spec = WEB
        .replace("healthCheck: { path: /healthz }", "healthCheck: { path: /healthz, port: admin }");
    let status = apply(&w, &spec).await;
    let tg = status.resources.iter().find(|r| r.kind == "TargetGroup").unwrap().id.clone();
    let attributes =
        w.aws.elb.describe_target_group_attributes().target_group_arn(&tg).send().await.unwrap();
    let delay = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value());
    assert_eq!(delay, Some("30"));
    let groups = w.aws.elb.describe_target_groups().target_group_arns(&tg).send().await.unwrap();
    assert_eq!(groups.target_groups()[0].health_check_port(), Some("9090"));

    // Both are changed in place, and a no-op round reads them from our tag, not from AWS.
    let changed = spec
        .replace("port: http }", "port: http, deregistrationDelaySeconds: 5 }")
        .replace("port: admin }", "port: http }");
    apply(&w, &changed).await;
    let attributes =
        w.aws.elb.describe_target_group_attributes().target_group_arn(&tg).send().await.unwrap();
    assert!(attributes.attributes().iter().any(|a| a.value() == Some("5")));
    let groups = w.aws.elb.describe_target_groups().target_group_arns(&tg).send().await.unwrap();
    assert_eq!(groups.target_groups()[0].health_check_port(), Some("traffic-port"));
    let plan = w.plan(&changed).await;
    assert!(plan.iter().all(|(_, p)| p.is_empty()), "{plan:?}");
}

#[tokio::test]
async fn a_service_deleted_and_created_again_waits_for_the_old_one_to_drain() {
    let w = World::with_layer("recreate", World::fast_layer());
    let name = ecs_name(&apply(&w, WEB).await);
    w.delete(WEB).await;
    // ECS keeps the old service DRAINING for a while; the create is retried until it is gone,
    // with a client token of its own.
    let status = apply(&w, WEB).await;
    assert!(stalled(&status).is_none(), "{status:?}");
    assert_eq!(layer(&w).count("CreateService"), 2);
    assert_eq!(described(&w, &name).await.status(), Some("ACTIVE"));
    assert_eq!(layer(&w).deployments_created(&name), 2);
}

#[tokio::test]
async fn services_converge_under_throttling_and_transient_faults() {
    let w = World::with_layer("throttled", World::fast_layer());
    let services: String = ["a", "b", "c"]
        .iter()
        .map(|n| {
            WEB.replace("name: web", &format!("name: {n}"))
                .replace("shop.example.com", &format!("{n}.example.com"))
                + "---\n"
        })
        .collect();
    // AWS's default rates at a fifth: ELBv2 2 requests/s for the whole account.
    layer(&w).set_throttle_scale(Some(0.2));
    layer(&w).inject(Fault {
        operation: Some("CreateTargetGroup".into()),
        kind: FaultKind::ServerError,
        times: Some(2),
        probability: 1.0,
    });
    layer(&w).inject(Fault {
        operation: Some("RegisterTaskDefinition".into()),
        kind: FaultKind::Reset,
        times: Some(1),
        probability: 1.0,
    });
    let statuses = w.apply(&services).await.unwrap();
    assert_eq!(statuses.len(), 3);
    for (label, status) in &statuses {
        assert!(stalled(status).is_none(), "{label}: {status:?}");
    }
    let inventory = w.inventory().await;
    for kind in ["EcsService", "TargetGroup", "ListenerRule", "TaskDefinition"] {
        assert_eq!(inventory.iter().filter(|(k, _)| k == kind).count(), 3, "{kind}: {inventory:?}");
    }
}

#[tokio::test]
async fn a_grace_period_change_is_applied_alone_without_a_new_deployment() {
    let w = World::with_layer("grace", World::fast_layer());
    let name = ecs_name(&apply(&w, WEB).await);
    let longer = WEB.replace("{ path: /healthz }", "{ path: /healthz, gracePeriodSeconds: 90 }");
    let plan = w.plan(&longer).await;
    let text = plan[1].1.to_string();
    assert!(text.contains("healthCheckGracePeriodSeconds: 60 → 90"), "{text}");
    assert_eq!(plan[1].1.changes.len(), 1, "{text}");
    apply(&w, &longer).await;
    assert_eq!(described(&w, &name).await.health_check_grace_period_seconds(), Some(90));
    assert_eq!(layer(&w).deployments_created(&name), 1, "no new deployment for a grace period");
    assert!(w.plan(&longer).await.iter().all(|(_, p)| p.is_empty()));
}

#[tokio::test]
async fn a_family_with_more_revisions_than_one_page_is_deregistered_entirely() {
    let w = World::with_layer("many-revisions", World::fast_layer());
    apply(&w, WEB).await;
    let arn = w.inventory().await.into_iter().find(|(k, _)| k == "TaskDefinition").unwrap().1;
    let first = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(&arn)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let td = first.task_definition().unwrap();
    // 120 revisions of ours: ListTaskDefinitions answers at most 100 a page.
    for _ in 0..119 {
        w.aws
            .ecs
            .register_task_definition()
            .family(td.family().unwrap())
            .set_container_definitions(Some(td.container_definitions().to_vec()))
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_network_mode(td.network_mode().cloned())
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_tags(Some(first.tags().to_vec()))
            .send()
            .await
            .unwrap();
    }
    w.delete(WEB).await;
    let mut active = 0;
    let mut token = None;
    loop {
        let page = w
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(td.family().unwrap())
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        active += page.task_definition_arns().len();
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(active, 0, "every revision of ours is deregistered");
    assert!(layer(&w).count("ListTaskDefinitions") >= 2, "more than one page was read");
}
