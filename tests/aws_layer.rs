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
        ("codebuild", "StartBuild", vec![], "no published rate"),
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

// CodeBuild: builds in time, their logs, their image.

use aws_sdk_codebuild::types::{
    ArtifactsType, Build, CloudWatchLogsConfig, ComputeType, EnvironmentType, EnvironmentVariable,
    EnvironmentVariableType, LogsConfig, LogsConfigStatusType, ProjectArtifacts,
    ProjectEnvironment, ProjectSource, SortOrderType, SourceType, StatusType, Tag,
};

/// The operator's buildspec, near enough: log in, build and push with buildx.
const BUILDSPEC: &str = r#"version: 0.2
phases:
  pre_build:
    commands:
      - aws ecr get-login-password | docker login --username AWS --password-stdin "${BYOC_IMAGE%%/*}"
  build:
    commands:
      - docker buildx create --use --name byoc
      - docker buildx build --platform "$BYOC_PLATFORM" -f "$BYOC_DOCKERFILE" -t "$BYOC_IMAGE:$BYOC_IMAGE_TAG" --push .
"#;

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/// Builds 1 s long: each phase is observable at a 40 ms poll.
fn builds_fast() -> Config {
    Config { build_duration: MS(1000), ..fast() }
}

/// A NO_SOURCE project through the layer (and an ECR repository for its image).
struct Project {
    codebuild: aws_sdk_codebuild::Client,
    ecr: aws_sdk_ecr::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    name: String,
    repository: String,
}

fn plain(name: &str, value: &str) -> EnvironmentVariable {
    EnvironmentVariable::builder()
        .name(name)
        .value(value)
        .r#type(EnvironmentVariableType::Plaintext)
        .build()
        .unwrap()
}

impl Project {
    async fn new(layer: &Layer) -> Project {
        let project = Project::without_repository(layer).await;
        project.ecr.create_repository().repository_name(&project.repository).send().await.unwrap();
        project
    }

    async fn without_repository(layer: &Layer) -> Project {
        let config = layer.sdk_config();
        let name = unique("web");
        let project = Project {
            codebuild: aws_sdk_codebuild::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            repository: format!("byoc/shop/{name}"),
            name,
        };
        let source =
            ProjectSource::builder().r#type(SourceType::NoSource).buildspec(BUILDSPEC).build();
        let artifacts = ProjectArtifacts::builder().r#type(ArtifactsType::NoArtifacts).build();
        let environment = ProjectEnvironment::builder()
            .r#type(EnvironmentType::LinuxContainer)
            .image("aws/codebuild/amazonlinux-x86_64-standard:5.0")
            .compute_type(ComputeType::BuildGeneral1Small)
            .privileged_mode(true)
            .build();
        let logs = CloudWatchLogsConfig::builder()
            .status(LogsConfigStatusType::Enabled)
            .group_name(format!("/byoc/builds/{}", project.name))
            .stream_name("web")
            .build()
            .unwrap();
        project
            .codebuild
            .create_project()
            .name(&project.name)
            .source(source.unwrap())
            .artifacts(artifacts.unwrap())
            .environment(environment.unwrap())
            .service_role("arn:aws:iam::123456789012:role/byoc-build")
            .timeout_in_minutes(30)
            .logs_config(LogsConfig::builder().cloud_watch_logs(logs).build())
            .tags(Tag::builder().key("byoc.dev/service").value("shop/web").build())
            .send()
            .await
            .unwrap();
        project
    }

    fn image(&self) -> String {
        format!("{REGISTRY}/{}", self.repository)
    }

    /// The variables the operator always passes, for `tag`.
    fn variables(&self, tag: &str) -> Vec<EnvironmentVariable> {
        vec![
            plain("BYOC_IMAGE", &self.image()),
            plain("BYOC_IMAGE_TAG", tag),
            plain("BYOC_PLATFORM", "linux/amd64"),
            plain("BYOC_DOCKERFILE", "Dockerfile"),
        ]
    }

    fn start(
        &self,
        variables: Vec<EnvironmentVariable>,
    ) -> aws_sdk_codebuild::operation::start_build::builders::StartBuildFluentBuilder {
        self.codebuild
            .start_build()
            .project_name(&self.name)
            .source_type_override(SourceType::NoSource)
            .buildspec_override(BUILDSPEC)
            .set_environment_variables_override(Some(variables))
    }

    async fn get(&self, id: &str) -> Build {
        let out = self.codebuild.batch_get_builds().ids(id).send().await.unwrap();
        assert!(out.builds_not_found().is_empty(), "{out:?}");
        out.builds()[0].clone()
    }

    /// Polls until the build is complete; returns it and the phases seen current on the way.
    async fn finish(&self, id: &str) -> (Build, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let build = self.get(id).await;
            let phase = build.current_phase().unwrap_or_default().to_string();
            if seen.last() != Some(&phase) {
                seen.push(phase);
            }
            if build.build_complete() {
                return (build, seen);
            }
            assert!(Instant::now() < deadline, "build {id} never completed: {build:?}");
            tokio::time::sleep(MS(40)).await;
        }
    }

    async fn digest(&self, tag: &str) -> Option<String> {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build();
        let out =
            self.ecr.describe_images().repository_name(&self.repository).image_ids(id).send().await;
        let out = out.ok()?;
        out.image_details().first().and_then(|d| d.image_digest().map(str::to_string))
    }

    async fn log(&self, build: &Build) -> Vec<String> {
        let logs = build.logs().unwrap();
        let out = self
            .logs
            .get_log_events()
            .log_group_name(logs.group_name().unwrap())
            .log_stream_name(logs.stream_name().unwrap())
            .start_from_head(true)
            .send()
            .await
            .unwrap();
        out.events().iter().map(|e| e.message().unwrap_or_default().to_string()).collect()
    }
}

/// `(phaseType, phaseStatus, first context's statusCode)` per phase.
fn phases(build: &Build) -> Vec<(String, String, Option<String>)> {
    build
        .phases()
        .iter()
        .map(|p| {
            (
                p.phase_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                p.phase_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                p.contexts().first().map(|c| c.status_code().unwrap_or_default().to_string()),
            )
        })
        .collect()
}

fn phase(name: &str, status: &str, context: Option<&str>) -> (String, String, Option<String>) {
    (name.into(), status.into(), context.map(str::to_string))
}

#[tokio::test]
async fn a_build_runs_through_its_phases_in_order_succeeds_and_then_its_image_is_in_ecr() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let mut variables = project.variables("abc123");
    variables.push(plain("BYOC_GIT_COMMIT", "abc123"));
    let started = project.start(variables).idempotency_token("t-1").send().await.unwrap();
    let started = started.build_value().unwrap();
    assert_eq!(started.build_status(), Some(&StatusType::InProgress));
    assert_eq!((started.current_phase(), started.build_number()), (Some("SUBMITTED"), Some(1)));
    assert!(!started.build_complete());
    let id = started.id().unwrap().to_string();
    let uuid = id.strip_prefix(&format!("{}:", project.name)).unwrap();
    assert_eq!(uuid.len(), 36, "{id}");
    assert_eq!(
        started.logs().unwrap().deep_link(),
        Some(
            "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=null;stream=null"
        ),
        "no stream before PROVISIONING"
    );

    let (build, seen) = project.finish(&id).await;
    let order = [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ];
    let positions: Vec<usize> =
        seen.iter().map(|p| order.iter().position(|o| o == p).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "phases out of order: {seen:?}");
    assert!(seen.len() >= 8, "most phases were seen current: {seen:?}");
    assert_eq!(build.build_status(), Some(&StatusType::Succeeded));
    assert!(build.end_time().is_some());
    let all = phases(&build);
    assert_eq!(all.len(), 11);
    assert_eq!(all[0], phase("SUBMITTED", "SUCCEEDED", None));
    assert_eq!(all[6], phase("BUILD", "SUCCEEDED", Some("")));
    assert_eq!(all[10], phase("COMPLETED", "", None));
    let logs = build.logs().unwrap();
    let stream = format!("web/{uuid}");
    assert_eq!(logs.group_name(), Some(format!("/byoc/builds/{}", project.name).as_str()));
    assert_eq!(logs.stream_name(), Some(stream.as_str()));
    assert!(logs.cloud_watch_logs_arn().unwrap().ends_with(&format!(":log-stream:{stream}")));
    let environment = build.environment().unwrap();
    assert!(environment.privileged_mode().unwrap());
    let echoed: Vec<(&str, &str)> =
        environment.environment_variables().iter().map(|v| (v.name(), v.value())).collect();
    assert!(echoed.contains(&("BYOC_IMAGE_TAG", "abc123")), "{echoed:?}");
    assert_eq!(build.source().unwrap().location(), None, "NO_SOURCE has no location");

    let digest = project.digest("abc123").await.expect("the image is in ECR");
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let summary = &layer.builds(&project.name)[0];
    assert_eq!((summary.status.as_str(), summary.commit.as_deref()), ("SUCCEEDED", Some("abc123")));
    assert_eq!(summary.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(layer.started_builds(), 1);
    let log = project.log(&build).await;
    let container =
        regex::Regex::new(r"^\[Container\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} ").unwrap();
    assert!(
        log.iter().any(|l| container.is_match(l) && l.ends_with("Entering phase BUILD")),
        "{log:#?}"
    );
    let pushed = format!("#7 pushing manifest for {}:abc123", project.image());
    assert!(log.contains(&pushed), "{log:#?}");
    assert!(log.iter().any(|l| l.ends_with("Phase complete: POST_BUILD State: SUCCEEDED")));
    assert!(
        layer
            .calls()
            .iter()
            .any(|c| (c.service.as_str(), c.operation.as_str()) == ("codebuild", "StartBuild"))
    );
}

#[tokio::test]
async fn images_differ_per_tag_and_platform_and_an_arm_build_says_so() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let amd = project.start(project.variables("v1")).send().await.unwrap();
    let mut arm_variables = project.variables("v1-arm64");
    arm_variables[2] = plain("BYOC_PLATFORM", "linux/arm64");
    let arm = project
        .start(arm_variables)
        .environment_type_override(aws_sdk_codebuild::types::EnvironmentType::ArmContainer)
        .image_override("aws/codebuild/amazonlinux-aarch64-standard:3.0")
        .send()
        .await
        .unwrap();
    let arm = project.finish(arm.build_value().unwrap().id().unwrap()).await.0;
    project.finish(amd.build_value().unwrap().id().unwrap()).await;
    assert_eq!(arm.environment().unwrap().r#type(), &EnvironmentType::ArmContainer);
    assert_eq!(arm.build_number(), Some(2));
    let (one, two) =
        (project.digest("v1").await.unwrap(), project.digest("v1-arm64").await.unwrap());
    assert_ne!(one, two);
}

#[tokio::test]
async fn with_a_push_lag_a_succeeded_build_has_no_image_in_ecr_until_the_lag_has_passed() {
    let layer = layer(Config { image_push_lag: MS(800), ..builds_fast() });
    let project = Project::new(&layer).await;
    let started = project.start(project.variables("v2")).send().await.unwrap();
    let (build, _) = project.finish(started.build_value().unwrap().id().unwrap()).await;
    assert_eq!(build.build_status(), Some(&StatusType::Succeeded));
    let done = Instant::now();
    assert_eq!(project.digest("v2").await, None, "SUCCEEDED, but no image yet");
    assert_eq!(layer.builds(&project.name)[0].digest, None);

    sleep_until(done, MS(900)).await;
    assert!(project.digest("v2").await.is_some());
}

#[tokio::test]
async fn a_failing_build_fails_in_build_with_its_context_and_its_log_says_why() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let mut variables = project.variables("v3");
    variables.push(plain("BUILD_ARG_MODE", "broken"));
    let started = project.start(variables).send().await.unwrap();
    let (build, _) = project.finish(started.build_value().unwrap().id().unwrap()).await;

    assert_eq!(build.build_status(), Some(&StatusType::Failed));
    let all = phases(&build);
    assert_eq!(all[6], phase("BUILD", "FAILED", Some("COMMAND_EXECUTION_ERROR")));
    assert_eq!(
        all[7..],
        [
            phase("POST_BUILD", "SUCCEEDED", Some("")),
            phase("UPLOAD_ARTIFACTS", "SUCCEEDED", Some("")),
            phase("FINALIZING", "SUCCEEDED", Some("")),
            phase("COMPLETED", "", None),
        ],
        "UPLOAD_ARTIFACTS is always attempted"
    );
    let docker = BUILDSPEC.lines().find(|l| l.contains("buildx build")).unwrap();
    let docker = docker.trim().trim_start_matches("- ");
    let message = build.phases()[6].contexts()[0].message().unwrap();
    assert_eq!(message, format!("Error while executing command: {docker}. Reason: exit status 1"));

    let log = project.log(&build).await;
    let solve = "ERROR: failed to solve: process \"/bin/sh -c make\" did not complete successfully: exit code: 2";
    let at = log.iter().position(|l| l == solve).expect("docker's error is in the log");
    assert!(
        log[at + 1].ends_with(&format!("Command did not exit successfully {docker} exit status 1"))
    );
    assert!(log[at + 2].ends_with("Phase complete: BUILD State: FAILED"));
    assert!(log[at + 3].ends_with(&format!(
        "Phase context status code: COMMAND_EXECUTION_ERROR Message: {message}"
    )));
    assert_eq!(project.digest("v3").await, None, "a failed build pushes nothing");
}

#[tokio::test]
async fn a_build_whose_repository_is_missing_fails_in_build_as_docker_push_does() {
    let layer = layer(builds_fast());
    let project = Project::without_repository(&layer).await;
    let started = project.start(project.variables("v4")).send().await.unwrap();
    let (build, _) = project.finish(started.build_value().unwrap().id().unwrap()).await;

    assert_eq!(build.build_status(), Some(&StatusType::Failed));
    assert_eq!(phases(&build)[6], phase("BUILD", "FAILED", Some("COMMAND_EXECUTION_ERROR")));
    let refusal = format!(
        "name unknown: The repository with name '{}' does not exist in the registry with id '123456789012'",
        project.repository
    );
    let log = project.log(&build).await;
    let pushed =
        format!("ERROR: failed to solve: failed to push {}:v4: {refusal}", project.image());
    assert!(log.contains(&pushed), "{log:#?}");
}

#[tokio::test]
async fn stop_build_stops_a_running_build_at_once_and_it_stays_stopped_with_nothing_pushed() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let started = project.start(project.variables("v5")).send().await.unwrap();
    let id = started.build_value().unwrap().id().unwrap().to_string();
    tokio::time::sleep(MS(450)).await;

    let stopped = project.codebuild.stop_build().id(&id).send().await.unwrap();
    let stopped = stopped.build_value().unwrap();
    assert_eq!(stopped.build_status(), Some(&StatusType::Stopped));
    assert_eq!(stopped.current_phase(), Some("COMPLETED"));
    assert!(stopped.build_complete());
    let all = phases(stopped);
    assert_eq!(all.last().unwrap(), &phase("COMPLETED", "", None));
    assert_eq!(all[all.len() - 2].1, "STOPPED");

    tokio::time::sleep(MS(900)).await;
    let later = project.get(&id).await;
    assert_eq!(later.build_status(), Some(&StatusType::Stopped));
    assert_eq!(later.phases().len(), stopped.phases().len());
    assert_eq!(project.digest("v5").await, None);
    let again = project.codebuild.stop_build().id(&id).send().await.unwrap();
    assert_eq!(
        again.build_value().unwrap().end_time(),
        stopped.end_time(),
        "a completed build is returned as it is"
    );
}

#[tokio::test]
async fn an_idempotency_token_returns_the_same_build_for_the_same_request_and_refuses_other_parameters()
 {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let first =
        project.start(project.variables("v6")).idempotency_token("deploy-v6").send().await.unwrap();
    let again =
        project.start(project.variables("v6")).idempotency_token("deploy-v6").send().await.unwrap();
    assert_eq!(first.build_value().unwrap().id(), again.build_value().unwrap().id());
    assert_eq!((layer.started_builds(), layer.count("StartBuild")), (1, 1));

    let other = project.start(project.variables("v7")).idempotency_token("deploy-v6").send().await;
    let err = AwsError::from_sdk("StartBuild", other.unwrap_err());
    assert_eq!(err.code, "InvalidInputException");
    assert_eq!(layer.started_builds(), 1);
}

#[tokio::test]
async fn list_builds_for_project_lists_newest_first_and_build_numbers_count_per_project() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let mut ids = Vec::new();
    for tag in ["a", "b", "c"] {
        let out = project.start(project.variables(tag)).send().await.unwrap();
        ids.push(out.build_value().unwrap().id().unwrap().to_string());
    }
    let listed = project
        .codebuild
        .list_builds_for_project()
        .project_name(&project.name)
        .send()
        .await
        .unwrap();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed.ids(), newest_first);
    let ascending = project
        .codebuild
        .list_builds_for_project()
        .project_name(&project.name)
        .sort_order(SortOrderType::Ascending)
        .send()
        .await
        .unwrap();
    assert_eq!(ascending.ids(), ids);
    let numbers: Vec<u64> = layer.builds(&project.name).iter().map(|b| b.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[tokio::test]
async fn a_no_source_project_needs_no_location_and_reads_back_as_created() {
    let layer = layer(builds_fast());
    let project = Project::without_repository(&layer).await;
    let missing = unique("nope");
    let out = project
        .codebuild
        .batch_get_projects()
        .names(&project.name)
        .names(&missing)
        .send()
        .await
        .unwrap();
    let read = &out.projects()[0];
    let source = read.source().unwrap();
    assert_eq!((source.r#type(), source.location()), (&SourceType::NoSource, None));
    assert_eq!(source.buildspec(), Some(BUILDSPEC));
    let tags: Vec<(&str, &str)> =
        read.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags, [("byoc.dev/service", "shop/web")]);
    assert_eq!(out.projects_not_found(), [missing]);
}

#[tokio::test]
async fn unknown_projects_and_builds_are_answered_as_codebuild_answers_them() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let codebuild = &project.codebuild;
    let start = codebuild.start_build().project_name(unique("gone")).send().await;
    let err = AwsError::from_sdk("StartBuild", start.unwrap_err());
    assert_eq!(err.code, "ResourceNotFoundException");
    assert!(err.message.starts_with("Project cannot be found: arn:aws:codebuild:eu-west-1:"));

    let ghost = format!("{}:00000000-0000-4000-8000-000000000000", project.name);
    let out = codebuild.batch_get_builds().ids(&ghost).send().await.unwrap();
    assert_eq!((out.builds().len(), out.builds_not_found()), (0, [ghost.clone()].as_slice()));
    let err = AwsError::from_sdk(
        "StopBuild",
        codebuild.stop_build().id(&ghost).send().await.unwrap_err(),
    );
    assert_eq!(err.code, "ResourceNotFoundException");
    let short = project.start(project.variables("x")).timeout_in_minutes_override(1).send().await;
    let err = AwsError::from_sdk("StartBuild", short.unwrap_err());
    assert_eq!(err.code, "InvalidInputException");
    assert_eq!(layer.started_builds(), 0);
}

#[tokio::test]
async fn a_build_running_past_its_timeout_times_out_and_pushes_nothing() {
    // A 2 s build whose 5 minutes last 1 s: it times out in BUILD.
    let layer = layer(Config { build_duration: MS(2000), build_minute: MS(200), ..fast() });
    let project = Project::new(&layer).await;
    let started =
        project.start(project.variables("v8")).timeout_in_minutes_override(5).send().await.unwrap();
    let (build, _) = project.finish(started.build_value().unwrap().id().unwrap()).await;

    assert_eq!(build.build_status(), Some(&StatusType::TimedOut));
    assert_eq!(build.timeout_in_minutes(), Some(5));
    let all = phases(&build);
    assert_eq!(
        all[6..],
        [
            phase("BUILD", "TIMED_OUT", Some("BUILD_TIMED_OUT")),
            phase("FINALIZING", "SUCCEEDED", Some("")),
            phase("COMPLETED", "", None),
        ]
    );
    tokio::time::sleep(MS(100)).await;
    assert_eq!(project.digest("v8").await, None);
}

#[tokio::test]
async fn secrets_manager_values_and_build_args_never_reach_the_build_log() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:npm-token-Ab12Cd";
    let mut variables = project.variables("v9");
    variables.push(
        EnvironmentVariable::builder()
            .name("BUILD_ARG_NPM_TOKEN")
            .value(secret)
            .r#type(EnvironmentVariableType::SecretsManager)
            .build()
            .unwrap(),
    );
    variables.push(plain("BUILD_ARG_GREETING", "hello-from-plaintext"));
    let started = project.start(variables).send().await.unwrap();
    let (build, _) = project.finish(started.build_value().unwrap().id().unwrap()).await;
    assert_eq!(build.build_status(), Some(&StatusType::Succeeded));

    let log = project.log(&build).await.join("\n");
    assert!(log.contains(&format!("{}:v9", project.image())), "the image is named");
    assert!(!log.contains("npm-token"), "no secret reference in the log");
    assert!(!log.contains("hello-from-plaintext"));
}

#[tokio::test]
async fn an_s3_source_must_exist_when_the_build_downloads_it() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&layer.sdk_config()).force_path_style(true).build(),
    );
    let bucket = unique("sources");
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let from_s3 = |key: &str| {
        project
            .start(project.variables(key))
            .source_type_override(SourceType::S3)
            .source_location_override(format!("{bucket}/{key}.tar.gz"))
            .send()
    };
    let missing = from_s3("missing").await.unwrap();
    let (build, _) = project.finish(missing.build_value().unwrap().id().unwrap()).await;
    assert_eq!(build.build_status(), Some(&StatusType::Failed));
    let all = phases(&build);
    assert_eq!(all[3], phase("DOWNLOAD_SOURCE", "FAILED", Some("CLIENT_ERROR")));
    assert_eq!(
        all[4..],
        [phase("FINALIZING", "SUCCEEDED", Some("")), phase("COMPLETED", "", None)]
    );

    let body = aws_sdk_s3::primitives::ByteStream::from_static(b"source");
    s3.put_object().bucket(&bucket).key("present.tar.gz").body(body).send().await.unwrap();
    let present = from_s3("present").await.unwrap();
    let (build, _) = project.finish(present.build_value().unwrap().id().unwrap()).await;
    assert_eq!(build.build_status(), Some(&StatusType::Succeeded));
    assert_eq!(
        build.source().unwrap().location(),
        Some(format!("{bucket}/present.tar.gz").as_str())
    );
}

#[tokio::test]
async fn update_project_replaces_the_named_settings_and_keeps_the_builds_numbering() {
    let layer = layer(builds_fast());
    let project = Project::new(&layer).await;
    project.start(project.variables("u1")).send().await.unwrap();
    let updated = project
        .codebuild
        .update_project()
        .name(&project.name)
        .timeout_in_minutes(45)
        .tags(Tag::builder().key("byoc.dev/service").value("shop/api").build())
        .send()
        .await
        .unwrap();
    let updated = updated.project().unwrap();
    assert_eq!(updated.timeout_in_minutes(), Some(45));
    assert_eq!(updated.source().unwrap().location(), None);

    let read = project.codebuild.batch_get_projects().names(&project.name).send().await.unwrap();
    let read = &read.projects()[0];
    assert_eq!(read.timeout_in_minutes(), Some(45));
    assert_eq!(read.source().unwrap().buildspec(), Some(BUILDSPEC), "unnamed settings stay");
    let tags: Vec<(&str, &str)> =
        read.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags, [("byoc.dev/service", "shop/api")]);
    let second = project.start(project.variables("u2")).send().await.unwrap();
    let second = second.build_value().unwrap();
    assert_eq!((second.build_number(), second.timeout_in_minutes()), (Some(2), Some(45)));

    let missing = project.codebuild.update_project().name(unique("gone")).send().await;
    let err = AwsError::from_sdk("UpdateProject", missing.unwrap_err());
    assert_eq!(err.code, "ResourceNotFoundException");
}
