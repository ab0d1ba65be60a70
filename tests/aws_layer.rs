//! The AWS behaviour layer itself (tests/support/awslayer): real SDK clients talk to moto through
//! the layer, and each test shows one behaviour of real AWS that moto alone does not have. Short
//! durations keep the suite fast; every deadline leaves a margin over the layer's timings.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, Service,
};
use byoc::aws::{AwsError, Category};
use support::awslayer::{Config, Fault, FaultKind, Layer, buckets};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Timings short enough for tests, with room for a slow machine: tasks start in 400 ms, old
/// deployments drain for 400 ms, a deleted service drains for 600 ms.
fn fast() -> Config {
    Config {
        task_start: MS(400),
        drain: MS(400),
        service_draining: MS(600),
        secret_name_reuse: MS(500),
        target_group_in_use: MS(500),
        ..Config::default()
    }
}

fn layer(config: Config) -> Layer {
    Layer::start(&support::moto::endpoint(), config)
}

/// An ECS cluster through the layer, with a helper per call the tests make.
struct Ecs {
    client: aws_sdk_ecs::Client,
    cluster: String,
}

impl Ecs {
    async fn new(layer: &Layer) -> Ecs {
        let client = aws_sdk_ecs::Client::new(&layer.sdk_config());
        let cluster = unique("layer");
        client.create_cluster().cluster_name(&cluster).send().await.unwrap();
        Ecs { client, cluster }
    }

    async fn register(&self, image: &str) -> String {
        let container = ContainerDefinition::builder().name("web").image(image).memory(512).build();
        let out = self
            .client
            .register_task_definition()
            .family(unique("web"))
            .container_definitions(container)
            .send()
            .await
            .unwrap();
        out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
    }

    async fn create(&self, name: &str, td: &str, desired: i32, breaker: Option<(bool, bool)>) {
        let mut request = self
            .client
            .create_service()
            .cluster(&self.cluster)
            .service_name(name)
            .task_definition(td)
            .desired_count(desired)
            .launch_type(aws_sdk_ecs::types::LaunchType::Fargate);
        if let Some((enable, rollback)) = breaker {
            let breaker = DeploymentCircuitBreaker::builder().enable(enable).rollback(rollback);
            let config = DeploymentConfiguration::builder()
                .deployment_circuit_breaker(breaker.build())
                .build();
            request = request.deployment_configuration(config);
        }
        request.send().await.unwrap();
    }

    async fn update(&self, name: &str, td: &str) -> Service {
        let out = self
            .client
            .update_service()
            .cluster(&self.cluster)
            .service(name)
            .task_definition(td)
            .send()
            .await
            .unwrap();
        out.service().unwrap().clone()
    }

    async fn describe(&self, name: &str) -> Service {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(name)
            .send()
            .await
            .unwrap();
        assert!(out.failures().is_empty(), "{:?}", out.failures());
        out.services()[0].clone()
    }
}

/// `(status, taskDefinition, rolloutState, running, pending, failed)` per deployment.
fn deployments(service: &Service) -> Vec<(String, String, String, i32, i32, i32)> {
    service
        .deployments()
        .iter()
        .map(|d| {
            (
                d.status().unwrap_or_default().to_string(),
                d.task_definition().unwrap_or_default().to_string(),
                d.rollout_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                d.running_count(),
                d.pending_count(),
                d.failed_tasks(),
            )
        })
        .collect()
}

fn events(service: &Service) -> Vec<String> {
    service.events().iter().map(|e| e.message().unwrap_or_default().to_string()).collect()
}

async fn sleep_until(start: Instant, after: Duration) {
    tokio::time::sleep_until((start + after).into()).await;
}

#[tokio::test]
async fn a_new_service_starts_in_progress_with_no_task_running_then_completes_once_its_tasks_run() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let td = ecs.register("nginx:1.26").await;
    let start = Instant::now();
    ecs.create("web", &td, 2, None).await;

    let service = ecs.describe("web").await;
    assert_eq!(
        deployments(&service),
        [("PRIMARY".into(), td.clone(), "IN_PROGRESS".into(), 0, 2, 0)]
    );
    assert_eq!((service.running_count(), service.pending_count()), (0, 2));
    let id = service.deployments()[0].id().unwrap();
    assert!(id.starts_with("ecs-svc/") && id.len() == 8 + 19, "{id}");

    sleep_until(start, MS(650)).await;
    let service = ecs.describe("web").await;
    assert_eq!(deployments(&service), [("PRIMARY".into(), td, "COMPLETED".into(), 2, 0, 0)]);
    assert_eq!(service.running_count(), 2);
    assert!(events(&service).contains(&"(service web) has reached a steady state.".to_string()));
    assert_eq!(layer.deployments_created("web"), 1);
}

#[tokio::test]
async fn an_image_update_keeps_the_old_deployment_until_the_new_one_runs_then_drains_it() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let (old, new) = (ecs.register("nginx:1.26").await, ecs.register("nginx:1.27").await);
    ecs.create("web", &old, 2, None).await;
    tokio::time::sleep(MS(500)).await;

    let start = Instant::now();
    let updated = ecs.update("web", &new).await;
    assert_eq!(
        deployments(&updated),
        [
            ("PRIMARY".into(), new.clone(), "IN_PROGRESS".into(), 0, 2, 0),
            ("ACTIVE".into(), old.clone(), "COMPLETED".into(), 2, 0, 0),
        ]
    );
    assert_eq!(updated.task_definition(), Some(new.as_str()));

    sleep_until(start, MS(600)).await;
    let running = ecs.describe("web").await;
    assert_eq!(deployments(&running).len(), 2, "the old deployment drains: {running:?}");
    assert_eq!(deployments(&running)[0].2, "IN_PROGRESS");
    assert_eq!(deployments(&running)[0].3, 2);

    sleep_until(start, MS(1100)).await;
    let done = ecs.describe("web").await;
    assert_eq!(deployments(&done), [("PRIMARY".into(), new, "COMPLETED".into(), 2, 0, 0)]);
    assert_eq!(layer.deployments_created("web"), 2);
}

#[tokio::test]
async fn a_desired_count_only_update_scales_the_current_deployment_and_starts_none() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let td = ecs.register("nginx:1.26").await;
    ecs.create("web", &td, 2, None).await;
    tokio::time::sleep(MS(500)).await;
    let id = ecs.describe("web").await.deployments()[0].id().unwrap().to_string();

    let out = ecs
        .client
        .update_service()
        .cluster(&ecs.cluster)
        .service("web")
        .desired_count(5)
        .send()
        .await
        .unwrap();
    let scaled = out.service().unwrap();
    assert_eq!(scaled.deployments().len(), 1);
    assert_eq!(scaled.deployments()[0].id(), Some(id.as_str()));
    assert_eq!((scaled.desired_count(), scaled.running_count(), scaled.pending_count()), (5, 2, 3));

    tokio::time::sleep(MS(550)).await;
    let service = ecs.describe("web").await;
    assert_eq!((service.running_count(), service.pending_count()), (5, 0));
    assert_eq!(layer.deployments_created("web"), 1);
}

#[tokio::test]
async fn update_service_starts_a_deployment_when_forced_but_not_for_the_same_task_definition() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let td = ecs.register("nginx:1.26").await;
    ecs.create("web", &td, 1, None).await;
    tokio::time::sleep(MS(500)).await;

    let same = ecs.update("web", &td).await;
    assert_eq!(deployments(&same), [("PRIMARY".into(), td.clone(), "COMPLETED".into(), 1, 0, 0)]);
    assert_eq!(layer.deployments_created("web"), 1);

    let forced = ecs
        .client
        .update_service()
        .cluster(&ecs.cluster)
        .service("web")
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    let forced = forced.service().unwrap();
    assert_eq!(forced.deployments().len(), 2);
    assert_eq!(deployments(forced)[0].2, "IN_PROGRESS");
    assert_eq!(layer.deployments_created("web"), 2);
}

#[tokio::test]
async fn a_failing_image_trips_the_circuit_breaker_at_its_threshold_and_rolls_back() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let (good, bad) = (ecs.register("nginx:1.26").await, ecs.register("shop:broken").await);
    ecs.create("web", &good, 2, Some((true, true))).await;
    tokio::time::sleep(MS(500)).await;

    let start = Instant::now();
    ecs.update("web", &bad).await;
    // 2 tasks fail every 400 ms; the threshold for 2 desired tasks is 3 (0.5 × 2, at least 3).
    sleep_until(start, MS(600)).await;
    let failing = ecs.describe("web").await;
    assert_eq!(
        deployments(&failing)[0],
        ("PRIMARY".into(), bad.clone(), "IN_PROGRESS".into(), 0, 2, 2)
    );

    sleep_until(start, MS(1150)).await;
    let tripped = ecs.describe("web").await;
    let all = deployments(&tripped);
    assert_eq!(all[0].0, "PRIMARY", "the rollback deployment: {all:?}");
    assert_eq!((all[0].1.as_str(), all[0].2.as_str()), (good.as_str(), "IN_PROGRESS"));
    assert!(all.contains(&("ACTIVE".into(), bad.clone(), "FAILED".into(), 0, 0, 4)), "{all:?}");
    assert_eq!(tripped.task_definition(), Some(good.as_str()));
    let failed = tripped.deployments().iter().find(|d| d.task_definition() == Some(&bad)).unwrap();
    assert_eq!(
        failed.rollout_state_reason(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    let rollback = &tripped.deployments()[0];
    assert!(
        rollback
            .rollout_state_reason()
            .unwrap()
            .starts_with("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/")
    );
    let said = events(&tripped);
    assert!(
        said.iter().any(|e| e.ends_with("deployment failed: tasks failed to start.")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|e| e.starts_with("(service web) rolling back to deployment ecs-svc/"))
    );
    // The operator reads this state as a failed rollout that ECS rolled back.
    let seen = byoc::resources::rollout::rollout(&tripped, &bad, Default::default(), None);
    assert_eq!(seen.state, byoc::api::RolloutState::Failed);
    assert!(seen.rolled_back);

    sleep_until(start, MS(1950)).await;
    let rolled_back = ecs.describe("web").await;
    assert_eq!(
        deployments(&rolled_back),
        [("PRIMARY".into(), good.clone(), "COMPLETED".into(), 2, 0, 0)]
    );
    assert_eq!(rolled_back.task_definition(), Some(good.as_str()));
    assert_eq!(layer.deployments_created("web"), 2, "ECS's own rollback is not counted");
}

#[tokio::test]
async fn without_rollback_a_tripped_deployment_stays_primary_and_failed() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let (good, bad) = (ecs.register("nginx:1.26").await, ecs.register("shop:broken").await);
    ecs.create("web", &good, 2, Some((true, false))).await;
    tokio::time::sleep(MS(500)).await;
    ecs.update("web", &bad).await;
    tokio::time::sleep(MS(1300)).await;

    let service = ecs.describe("web").await;
    let all = deployments(&service);
    assert_eq!(all[0], ("PRIMARY".into(), bad.clone(), "FAILED".into(), 0, 0, 4));
    assert_eq!(
        all[1],
        ("ACTIVE".into(), good, "COMPLETED".into(), 2, 0, 0),
        "old tasks keep running"
    );
    assert_eq!(service.task_definition(), Some(bad.as_str()));
}

#[tokio::test]
async fn with_the_breaker_off_a_failing_deployment_stays_in_progress_with_failures_climbing() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let bad = ecs.register("shop:broken").await;
    let start = Instant::now();
    ecs.create("web", &bad, 2, None).await;

    sleep_until(start, MS(1400)).await;
    let service = ecs.describe("web").await;
    assert_eq!(deployments(&service), [("PRIMARY".into(), bad, "IN_PROGRESS".into(), 0, 2, 6)]);
}

#[tokio::test]
async fn failing_images_can_be_changed_while_the_layer_runs() {
    let layer = layer(fast());
    layer.set_failing_images(vec!["nginx:1.27".into()]);
    let ecs = Ecs::new(&layer).await;
    let td = ecs.register("nginx:1.27").await;
    ecs.create("web", &td, 1, None).await;
    tokio::time::sleep(MS(550)).await;
    assert_eq!(deployments(&ecs.describe("web").await)[0].5, 1);
}

#[tokio::test]
async fn a_deleted_service_drains_then_is_inactive_and_its_name_stays_taken_while_draining() {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let td = ecs.register("nginx:1.26").await;
    ecs.create("web", &td, 0, None).await;

    let start = Instant::now();
    let deleted =
        ecs.client.delete_service().cluster(&ecs.cluster).service("web").send().await.unwrap();
    assert_eq!(deleted.service().unwrap().status(), Some("DRAINING"));
    assert_eq!(ecs.describe("web").await.status(), Some("DRAINING"));
    let listed = ecs.client.list_services().cluster(&ecs.cluster).send().await.unwrap();
    assert!(listed.service_arns().is_empty(), "a deleted service is no longer listed: {listed:?}");
    let again = ecs
        .client
        .create_service()
        .cluster(&ecs.cluster)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .send()
        .await;
    let err = AwsError::from_sdk("CreateService", again.unwrap_err());
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("InvalidParameterException", "Creation of service was not idempotent.")
    );

    sleep_until(start, MS(900)).await;
    assert_eq!(ecs.describe("web").await.status(), Some("INACTIVE"));
    ecs.create("web", &td, 1, None).await;
    assert_eq!(ecs.describe("web").await.status(), Some("ACTIVE"));
}

#[tokio::test]
async fn a_client_token_reused_with_the_same_request_returns_the_service_and_with_another_is_refused()
 {
    let layer = layer(fast());
    let ecs = Ecs::new(&layer).await;
    let (one, two) = (ecs.register("nginx:1.26").await, ecs.register("nginx:1.27").await);
    let create = |td: &str| {
        ecs.client
            .create_service()
            .cluster(&ecs.cluster)
            .service_name("web")
            .task_definition(td)
            .desired_count(1)
            .client_token("token-web-1")
            .send()
    };
    let first = create(&one).await.unwrap();
    let retried = create(&one).await.unwrap();
    assert_eq!(
        first.service().unwrap().deployments()[0].id(),
        retried.service().unwrap().deployments()[0].id()
    );
    assert_eq!(layer.count("CreateService"), 1, "the retry performs nothing");

    let err = AwsError::from_sdk("CreateService", create(&two).await.unwrap_err());
    assert_eq!(err.code, "InvalidParameterException");
    assert_eq!(layer.deployments_created("web"), 1);
}

#[tokio::test]
async fn a_force_deleted_secret_name_cannot_be_reused_at_once() {
    let layer = layer(fast());
    let secrets = aws_sdk_secretsmanager::Client::new(&layer.sdk_config());
    let name = unique("db-password");
    secrets.create_secret().name(&name).secret_string("one").send().await.unwrap();
    let start = Instant::now();
    secrets
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();

    let err = secrets.create_secret().name(&name).secret_string("two").send().await.unwrap_err();
    let err = AwsError::from_sdk("CreateSecret", err);
    assert_eq!(err.code, "InvalidRequestException");
    assert_eq!(
        err.message,
        "You can't create this secret because a secret with this name is already scheduled for deletion."
    );

    sleep_until(start, MS(650)).await;
    secrets.create_secret().name(&name).secret_string("two").send().await.unwrap();
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_refuses_new_values_and_keeps_its_name_until_restored() {
    let layer = layer(fast());
    let secrets = aws_sdk_secretsmanager::Client::new(&layer.sdk_config());
    let name = unique("api-key");
    secrets.create_secret().name(&name).secret_string("one").send().await.unwrap();
    secrets.delete_secret().secret_id(&name).recovery_window_in_days(7).send().await.unwrap();

    let described = secrets.describe_secret().secret_id(&name).send().await.unwrap();
    assert!(described.deleted_date().is_some());
    let put = secrets.put_secret_value().secret_id(&name).secret_string("two").send().await;
    let err = AwsError::from_sdk("PutSecretValue", put.unwrap_err());
    assert_eq!(err.code, "InvalidRequestException");
    assert!(err.message.contains("marked for deletion"), "{}", err.message);
    let create = secrets.create_secret().name(&name).secret_string("two").send().await;
    let err = AwsError::from_sdk("CreateSecret", create.unwrap_err());
    assert_eq!(err.code, "InvalidRequestException");

    secrets.restore_secret().secret_id(&name).send().await.unwrap();
    assert!(
        secrets.describe_secret().secret_id(&name).send().await.unwrap().deleted_date().is_none()
    );
    secrets.put_secret_value().secret_id(&name).secret_string("two").send().await.unwrap();
}

/// A VPC with two subnets in moto (made by `scripts/lib/prereqs.py`, as every test world is).
fn network() -> (String, Vec<String>) {
    let world = support::moto::World::new("layer");
    let field = |key: &str| {
        let line = world.account_yaml.lines().find(|l| l.trim_start().starts_with(key)).unwrap();
        line.split_once(':').unwrap().1.trim().to_string()
    };
    let subnets = field("subnetIds:");
    let subnets =
        subnets.trim_matches(['[', ']']).split(',').map(|s| s.trim().to_string()).collect();
    (field("vpcId:"), subnets)
}

async fn target_group(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    name: &str,
    vpc: &str,
    port: i32,
) -> Result<String, AwsError> {
    let out = elb
        .create_target_group()
        .name(name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(port)
        .vpc_id(vpc)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateTargetGroup", e))?;
    Ok(out.target_groups()[0].target_group_arn().unwrap().to_string())
}

#[tokio::test]
async fn creating_a_target_group_twice_with_the_same_settings_returns_the_same_group() {
    let layer = layer(fast());
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&layer.sdk_config());
    let (vpc, _) = network();
    let name = unique("tg").replace('-', "");
    let first = target_group(&elb, &name, &vpc, 80).await.unwrap();
    assert_eq!(target_group(&elb, &name, &vpc, 80).await.unwrap(), first);
    let other = target_group(&elb, &name, &vpc, 8080).await.unwrap_err();
    assert_eq!(other.code, "DuplicateTargetGroupName");
    assert_eq!(other.category, Category::AlreadyExists);
}

fn fixed_404() -> aws_sdk_elasticloadbalancingv2::types::Action {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, FixedResponseActionConfig,
    };
    let fixed = FixedResponseActionConfig::builder().status_code("404").build();
    Action::builder().r#type(ActionTypeEnum::FixedResponse).fixed_response_config(fixed).build()
}

#[tokio::test]
async fn a_target_group_stays_in_use_for_a_while_after_its_rule_or_listener_stops_using_it() {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, RuleCondition};
    let layer = layer(fast());
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&layer.sdk_config());
    let (vpc, subnets) = network();
    let lb = elb
        .create_load_balancer()
        .name(unique("lb"))
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let lb = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .port(80)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .default_actions(fixed_404())
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let tg = target_group(&elb, &unique("tg").replace('-', ""), &vpc, 80).await.unwrap();
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg).build();
    let condition = RuleCondition::builder().field("path-pattern").values("/*").build();
    let rule = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(1)
        .conditions(condition)
        .actions(forward)
        .send()
        .await
        .unwrap();
    let rule = rule.rules()[0].rule_arn().unwrap().to_string();

    let delete = || elb.delete_target_group().target_group_arn(&tg).send();
    let err = AwsError::from_sdk("DeleteTargetGroup", delete().await.unwrap_err());
    assert_eq!(err.code, "ResourceInUse", "a rule forwards to it");

    elb.delete_rule().rule_arn(&rule).send().await.unwrap();
    let start = Instant::now();
    let err = AwsError::from_sdk("DeleteTargetGroup", delete().await.unwrap_err());
    assert_eq!(err.code, "ResourceInUse", "right after its rule went");
    assert_eq!(
        err.message,
        format!("Target group '{tg}' is currently in use by a listener or a rule")
    );

    sleep_until(start, MS(600)).await;
    delete().await.unwrap();

    // A listener's default action holds its target group the same way.
    let by_default = target_group(&elb, &unique("tg").replace('-', ""), &vpc, 80).await.unwrap();
    let forward =
        Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&by_default).build();
    elb.modify_listener().listener_arn(&listener).default_actions(forward).send().await.unwrap();
    elb.modify_listener()
        .listener_arn(&listener)
        .default_actions(fixed_404())
        .send()
        .await
        .unwrap();
    let delete = || elb.delete_target_group().target_group_arn(&by_default).send();
    let err = AwsError::from_sdk("DeleteTargetGroup", delete().await.unwrap_err());
    assert_eq!(err.code, "ResourceInUse", "right after the listener stopped forwarding to it");
    tokio::time::sleep(MS(600)).await;
    delete().await.unwrap();
}

#[test]
fn throttle_buckets_follow_aws_documented_default_rates() {
    let cases = [
        ("ecs", "RegisterTaskDefinition", vec![(20.0, 1.0)], "task definition modify actions"),
        ("ecs", "UpdateService", vec![(50.0, 5.0)], "service modify actions"),
        ("ecs", "DescribeServices", vec![(100.0, 20.0)], "service read actions"),
        (
            "elbv2",
            "DescribeRules",
            vec![(40.0, 10.0), (40.0, 10.0)],
            "account bucket + non-mutating",
        ),
        ("elbv2", "CreateRule", vec![(40.0, 10.0), (20.0, 3.0)], "account bucket + mutating"),
        ("elbv2", "CreateLoadBalancer", vec![(40.0, 10.0), (10.0, 0.2)], "resource-intensive"),
        ("secretsmanager", "CreateSecret", vec![(50.0, 50.0)], "CreateSecret 50 per second"),
        ("logs", "PutRetentionPolicy", vec![(5.0, 5.0)], "PutRetentionPolicy 5 per second"),
        ("ecr", "CreateRepository", vec![], "no published rate"),
        ("ec2", "DescribeVpcs", vec![], "not modelled"),
    ];
    for (service, operation, rates, reason) in cases {
        let got: Vec<(f64, f64)> =
            buckets(service, operation).iter().map(|(_, r)| (r.burst, r.per_second)).collect();
        assert_eq!(got, rates, "{service} {operation}: {reason}");
    }
}

#[tokio::test]
async fn an_elb_burst_beyond_the_account_bucket_is_throttled_and_the_sdk_retries_ride_it_out() {
    let layer = layer(Config { throttle_scale: Some(1.0), ..fast() });
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&layer.sdk_config());
    let calls = (0..46).map(|_| elb.describe_load_balancers().send());
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "every call succeeds in the end");
    assert!(layer.throttled() >= 6, "40 tokens for 46 calls: {} throttled", layer.throttled());
    assert_eq!(layer.count("DescribeLoadBalancers"), 46, "throttled attempts never reach moto");
}

#[tokio::test]
async fn a_sustained_excess_surfaces_throttling_after_the_sdk_retries() {
    let layer = layer(Config { throttle_scale: Some(0.005), ..fast() });
    let config = layer.sdk_config();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    elb.describe_load_balancers().send().await.unwrap();
    ecs.list_clusters().send().await.unwrap();

    let err = AwsError::from_sdk(
        "DescribeLoadBalancers",
        elb.describe_load_balancers().send().await.unwrap_err(),
    );
    assert_eq!((err.code.as_str(), err.category), ("Throttling", Category::Throttled));
    let err = AwsError::from_sdk("ListClusters", ecs.list_clusters().send().await.unwrap_err());
    assert_eq!((err.code.as_str(), err.category), ("ThrottlingException", Category::Throttled));
    assert_eq!(layer.count("DescribeLoadBalancers"), 1);
    assert!(layer.throttled() >= 6, "3 attempts each: {}", layer.throttled());
    assert!(layer.calls().iter().any(|c| c.outcome == "throttled" && c.status == 400));

    layer.set_throttle_scale(None);
    elb.describe_load_balancers().send().await.unwrap();
}

#[tokio::test]
async fn a_burst_of_server_errors_is_retried_by_the_sdk_and_then_succeeds() {
    let layer = layer(fast());
    let ecs = aws_sdk_ecs::Client::new(&layer.sdk_config());
    layer.inject(Fault::on("ListClusters", FaultKind::ServerError).times(2));
    ecs.list_clusters().send().await.unwrap();
    let outcomes: Vec<(String, u16)> =
        layer.calls().into_iter().map(|c| (c.outcome, c.status)).collect();
    assert_eq!(outcomes, [("fault".into(), 500), ("fault".into(), 500), ("ok".into(), 200)]);
    assert_eq!(layer.count("ListClusters"), 1);
}

#[tokio::test]
async fn persistent_server_errors_surface_as_each_services_server_error() {
    let layer = layer(fast());
    let config = layer.sdk_config();
    layer.inject(Fault {
        operation: None,
        kind: FaultKind::ServerError,
        times: None,
        probability: 1.0,
    });
    let ecs = aws_sdk_ecs::Client::new(&config).list_clusters().send().await.unwrap_err();
    let ecs = AwsError::from_sdk("ListClusters", ecs);
    assert_eq!((ecs.code.as_str(), ecs.category), ("ServerException", Category::Transient));
    let elb =
        aws_sdk_elasticloadbalancingv2::Client::new(&config).describe_load_balancers().send().await;
    let elb = AwsError::from_sdk("DescribeLoadBalancers", elb.unwrap_err());
    assert_eq!((elb.code.as_str(), elb.category), ("InternalFailure", Category::Transient));
    let secrets = aws_sdk_secretsmanager::Client::new(&config).list_secrets().send().await;
    let secrets = AwsError::from_sdk("ListSecrets", secrets.unwrap_err());
    assert_eq!(
        (secrets.code.as_str(), secrets.category),
        ("InternalServiceError", Category::Transient)
    );

    layer.clear_faults();
    aws_sdk_ecs::Client::new(&config).list_clusters().send().await.unwrap();
}

#[tokio::test]
async fn a_reset_connection_is_retried_and_a_persistent_one_surfaces_as_a_dispatch_failure() {
    let layer = layer(fast());
    let ecs = aws_sdk_ecs::Client::new(&layer.sdk_config());
    layer.inject(Fault::on("ListClusters", FaultKind::Reset).times(1));
    ecs.list_clusters().send().await.unwrap();

    layer.inject(Fault::on("ListClusters", FaultKind::Reset));
    let err = AwsError::from_sdk("ListClusters", ecs.list_clusters().send().await.unwrap_err());
    assert_eq!((err.code.as_str(), err.category), ("DispatchFailure", Category::Transient));
    assert_eq!(layer.count("ListClusters"), 1);
    assert!(layer.calls().iter().filter(|c| c.outcome == "fault" && c.status == 0).count() >= 4);
}

#[tokio::test]
async fn a_timeout_holds_the_request_then_drops_it_and_latency_only_delays_it() {
    let layer = layer(fast());
    let ecs = aws_sdk_ecs::Client::new(&layer.sdk_config());
    layer.inject(Fault::on("ListClusters", FaultKind::Timeout(MS(300))).times(1));
    let start = Instant::now();
    ecs.list_clusters().send().await.unwrap();
    assert!(start.elapsed() >= MS(300), "held {:?}", start.elapsed());
    assert_eq!(layer.count("ListClusters"), 1, "the held attempt never reached moto");

    layer.inject(Fault::on("ListClusters", FaultKind::Latency(MS(250))));
    let start = Instant::now();
    ecs.list_clusters().send().await.unwrap();
    assert!(start.elapsed() >= MS(250));
    assert_eq!(layer.count("ListClusters"), 2);
}

#[tokio::test]
async fn a_fault_with_a_probability_hits_about_that_share_of_requests_the_same_way_every_run() {
    let run = || async {
        let layer = layer(fast());
        // One attempt per call, so each call draws once.
        let config = aws_sdk_ecs::config::Builder::from(&layer.sdk_config())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let ecs = aws_sdk_ecs::Client::from_conf(config);
        layer.inject(Fault {
            probability: 0.3,
            ..Fault::on("ListClusters", FaultKind::ServerError)
        });
        for _ in 0..60 {
            let _ = ecs.list_clusters().send().await;
        }
        layer.calls().into_iter().map(|c| c.outcome == "fault").collect::<Vec<bool>>()
    };
    let (first, second) = (run().await, run().await);
    let hit = first.iter().filter(|f| **f).count() as f64 / first.len() as f64;
    assert!((0.15..0.45).contains(&hit), "hit share {hit}");
    assert_eq!(first, second);
}

#[tokio::test]
async fn every_request_is_recorded_with_its_service_operation_status_and_outcome() {
    let layer = layer(fast());
    let config = layer.sdk_config();
    aws_sdk_ecs::Client::new(&config).list_clusters().send().await.unwrap();
    let missing = aws_sdk_ecs::Client::new(&config)
        .describe_task_definition()
        .task_definition(unique("nope"))
        .send()
        .await;
    assert!(missing.is_err());
    aws_sdk_cloudwatchlogs::Client::new(&config).describe_log_groups().send().await.unwrap();
    aws_sdk_ecr::Client::new(&config).describe_repositories().send().await.unwrap();
    let seen: Vec<(String, String, u16, String)> =
        layer.calls().into_iter().map(|c| (c.service, c.operation, c.status, c.outcome)).collect();
    assert_eq!(
        seen,
        [
            ("ecs".into(), "ListClusters".into(), 200, "ok".into()),
            ("ecs".into(), "DescribeTaskDefinition".into(), 400, "error:ClientException".into()),
            ("logs".into(), "DescribeLogGroups".into(), 200, "ok".into()),
            ("ecr".into(), "DescribeRepositories".into(), 200, "ok".into()),
        ]
    );
    let times: Vec<Duration> = layer.calls().iter().map(|c| c.at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_layer_serves_plain_sync_code_and_stops_when_its_last_clone_is_dropped() {
    let layer = layer(fast());
    let clone = layer.clone();
    let address = layer.endpoint().trim_start_matches("http://").to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\n\
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/ecs/aws4_request, \
         SignedHeaders=host, Signature=0\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("clusterArns"), "{response}");

    drop(layer);
    assert!(TcpStream::connect(&address).is_ok(), "a clone keeps it serving");
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(&address).is_ok() {
        assert!(Instant::now() < deadline, "still serving after the last clone was dropped");
        std::thread::sleep(MS(20));
    }
}

const WEB: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: web, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.26
  ports: [{ name: http, containerPort: 80 }]
  replicas: 2
  healthCheck: { path: /healthz }
  ingress: { loadBalancer: public, hosts: [shop.example.com], paths: ["/*"], port: http }
  env: [{ name: PASSWORD, valueFrom: { secretKeyRef: { name: db, key: password } } }]
---
apiVersion: v1
kind: Secret
metadata: { name: db, namespace: shop }
stringData: { password: hunter2 }
"#;

#[tokio::test]
async fn the_operator_applies_a_whole_service_through_the_layer_and_sees_its_rollout_progress() {
    use byoc::{
        api::RolloutState,
        aws::{Aws, CallCounter, RateLimiter},
    };
    let layer = layer(fast());
    let world = support::moto::World::new("through-layer");
    let aws = Aws::new(&layer.sdk_config(), CallCounter::default(), RateLimiter::unlimited());
    let sessions = world.sessions_with(aws);
    let manifests = world.manifests(WEB);
    let prepared = byoc::oneshot::prepare(&manifests, &world.cluster_id).unwrap();

    let applied = byoc::oneshot::apply(&manifests, &prepared, &sessions).await.unwrap();
    let rollout = applied[0].1.rollout.clone().unwrap();
    assert_eq!((rollout.state, rollout.running, rollout.desired), (RolloutState::InProgress, 0, 2));

    tokio::time::sleep(MS(600)).await;
    let applied = byoc::oneshot::apply(&manifests, &prepared, &sessions).await.unwrap();
    let rollout = applied[0].1.rollout.clone().unwrap();
    assert_eq!((rollout.state, rollout.running, rollout.pending), (RolloutState::Completed, 2, 0));
    let calls = layer.calls();
    for service in ["ecs", "elbv2", "secretsmanager", "logs"] {
        assert!(calls.iter().any(|c| c.service == service), "{service} went through the layer");
    }
    assert!(calls.iter().all(|c| c.status < 500), "no server error on the way: {calls:?}");
}
