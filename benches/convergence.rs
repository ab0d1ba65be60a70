//! How fast N new services converge, against what AWS's rate limits allow at best.
//!
//! - `cold-N` (N = 10 in quick mode; 10, 100 and 500 in full mode), against moto: the **floor** is a
//!   plain SDK loop issuing exactly the minimal creates of N stacks (log group, its retention,
//!   target group, listener rule, task definition, ECS service: the parameters the engine sends),
//!   through `byoc::aws::Aws` with the client-side rate limits of `RateLimiter::default()`; then
//!   `byoc::oneshot::apply` of N other services under the same limits. Prints ours / floor (goal
//!   ≤ 1.2: wall clock, never asserted), the rate-limit waits per bucket of both, and our calls
//!   per service by operation.
//! - `throttled-N` (N = 20 in quick mode; 100 and 500 in full mode): moto behind the AWS behaviour
//!   layer throttling at AWS's default rates ×10, our client at `RateLimiter::scaled(10.0)`:
//!   `byoc apply` of N services then their rollouts, against the floor the layer's token buckets
//!   allow for the minimal creates; the throttling errors AWS returned, and whether any reached a
//!   status. The apply must succeed with none in a status: asserted in `--quick` mode.
//! - `throttled-controller-N` (full mode, N = 100): the same for the `byoc controller` binary
//!   (`--aws-rate-scale 10`) against the API stand-in, every status watched while it converges.
//!
//! The account's own resources (cluster, load balancers, listeners) are created before the clock
//! starts, without limits: what is measured is the services.
//!
//! Run: `scripts/bench [--quick]`, or `cargo bench --bench convergence [-- --quick]`.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    process::ExitCode,
    time::{Duration, Instant},
};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType, LoadBalancer as EcsLoadBalancer,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, PortMapping, PropagateTags,
    TransportProtocol,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, HostHeaderConditionConfig, Matcher,
    PathPatternConditionConfig, ProtocolEnum, RuleCondition, TargetTypeEnum,
};
use byoc::{
    api::CloudServiceStatus,
    aws::{Aws, AwsError, CallCounter, RateLimiter},
    desired::DesiredStack,
    oneshot::{self, Manifests, Prepared},
    resources::account::{self, AccountState},
};
use common::{Args, CallStats, Check, Table, num};
use support::{
    awslayer::buckets,
    e2e::{Kube, Operator, condition, labelled_account},
    moto::{World, sdk_config_for},
};

/// AWS's default rates, times this, in the layer; our client's limits times the same.
const THROTTLE_SCALE: f64 = 10.0;

fn main() -> ExitCode {
    let args = Args::parse();
    let parts: &[&str] = if args.quick {
        &["cold-10", "throttled-20"]
    } else {
        &[
            "cold-10",
            "cold-100",
            "cold-500",
            "throttled-100",
            "throttled-500",
            "throttled-controller-100",
        ]
    };
    common::main("convergence", &args, parts, |part| {
        common::runtime().block_on(async {
            let (kind, n) = part.rsplit_once('-').expect("a part is KIND-N");
            let n: usize = n.parse().expect("a part is KIND-N");
            match kind {
                "cold" => cold(n).await,
                "throttled" => throttled_cli(n, args.quick).await,
                "throttled-controller" => throttled_controller(n).await,
                other => panic!("convergence: no part {other}"),
            }
        })
    })
}

/// The operations of the minimal stack, once each per service.
const MINIMAL_STACK: [(&str, &str); 6] = [
    ("logs", "CreateLogGroup"),
    ("logs", "PutRetentionPolicy"),
    ("elbv2", "CreateTargetGroup"),
    ("elbv2", "CreateRule"),
    ("ecs", "RegisterTaskDefinition"),
    ("ecs", "CreateService"),
];

/// A world whose pool holds `pool` load balancers; its manifests for the services `prefix-I`
/// spread over the load balancers `lbs` (a subset of the pool).
fn manifests(w: &World, pool: &[String], prefix: &str, n: usize, lbs: &[String]) -> Manifests {
    let mut m = Manifests::default();
    oneshot::parse_into(&mut m, &common::pool_account(w, pool)).expect("the account parses");
    oneshot::parse_into(&mut m, &common::services_yaml(prefix, n, &w.namespace, &w.account, lbs))
        .expect("the services parse");
    m
}

/// Creates the account's cluster, load balancers and listeners (no limits, not measured).
async fn ensure_account(w: &World, m: &Manifests) -> AccountState {
    let spec = &m.accounts[&w.account].spec;
    account::ensure(&w.aws, &w.account, spec, &w.cluster_id).await.expect("the account's resources")
}

/// Exactly the creates of one stack, with the parameters the engine sends; nothing read first.
async fn create_minimal_stack(
    aws: &Aws,
    s: &DesiredStack,
    listener: &str,
    priority: i32,
) -> Result<(), AwsError> {
    let log = &s.log_group;
    aws.call(
        "logs",
        "CreateLogGroup",
        aws.logs
            .create_log_group()
            .log_group_name(&log.name)
            .set_tags(Some(s.tags.clone().into_iter().collect()))
            .send(),
    )
    .await?;
    aws.call(
        "logs",
        "PutRetentionPolicy",
        aws.logs
            .put_retention_policy()
            .log_group_name(&log.name)
            .retention_in_days(log.retention_days)
            .send(),
    )
    .await?;
    let ing = s.ingress.as_ref().expect("services with ingress");
    let h = &ing.health;
    let elb_tags: Vec<_> = s
        .tags
        .iter()
        .map(|(k, v)| aws_sdk_elasticloadbalancingv2::types::Tag::builder().key(k).value(v).build())
        .collect();
    let tg = aws
        .call(
            "elbv2",
            "CreateTargetGroup",
            aws.elb
                .create_target_group()
                .name(&ing.target_group_name)
                .protocol(ProtocolEnum::Http)
                .port(ing.container_port)
                .vpc_id(&ing.vpc_id)
                .target_type(TargetTypeEnum::Ip)
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_path(&h.path)
                .health_check_port(
                    ing.health_check_port.map_or("traffic-port".into(), |p| p.to_string()),
                )
                .health_check_interval_seconds(h.interval_seconds)
                .health_check_timeout_seconds(h.timeout_seconds)
                .healthy_threshold_count(h.healthy_threshold)
                .unhealthy_threshold_count(h.unhealthy_threshold)
                .matcher(Matcher::builder().http_code(&h.success_codes).build())
                .set_tags(Some(elb_tags.clone()))
                .send(),
        )
        .await?;
    let tg_arn = tg
        .target_groups()
        .first()
        .and_then(|t| t.target_group_arn())
        .expect("CreateTargetGroup returns the group")
        .to_string();
    let mut conditions = vec![
        RuleCondition::builder()
            .field("host-header")
            .host_header_config(
                HostHeaderConditionConfig::builder().set_values(Some(ing.hosts.clone())).build(),
            )
            .build(),
    ];
    if !ing.paths.is_empty() {
        conditions.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(ing.paths.clone()))
                        .build(),
                )
                .build(),
        );
    }
    aws.call(
        "elbv2",
        "CreateRule",
        aws.elb
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .set_conditions(Some(conditions))
            .actions(
                ElbAction::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&tg_arn)
                    .build(),
            )
            .set_tags(Some(elb_tags))
            .send(),
    )
    .await?;
    let td = &s.task_definition;
    let c = &td.container;
    let ecs_tags: Vec<_> = s
        .tags
        .iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect();
    let container = ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(true)
        .set_port_mappings(Some(
            c.ports
                .iter()
                .map(|p| {
                    PortMapping::builder()
                        .container_port(*p)
                        .protocol(TransportProtocol::Tcp)
                        .build()
                })
                .collect(),
        ))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &c.log_group)
                .options("awslogs-region", &c.region)
                .options("awslogs-stream-prefix", "app")
                .build()
                .expect("a log configuration"),
        )
        .build();
    let registered = aws
        .call(
            "ecs",
            "RegisterTaskDefinition",
            aws.ecs
                .register_task_definition()
                .family(&td.family)
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu(td.cpu_units.to_string())
                .memory(td.memory_mib.to_string())
                .execution_role_arn(&td.execution_role_arn)
                .container_definitions(container)
                .set_tags(Some(ecs_tags.clone()))
                .send(),
        )
        .await?;
    let td_arn = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("RegisterTaskDefinition returns the revision")
        .to_string();
    let d = &s.service;
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(d.subnets.clone()))
        .set_security_groups(Some(d.security_groups.clone()))
        .assign_public_ip(if d.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .expect("a network configuration");
    aws.call(
        "ecs",
        "CreateService",
        aws.ecs
            .create_service()
            .cluster(&s.cluster)
            .service_name(&d.name)
            .task_definition(&td_arn)
            .desired_count(d.desired_count)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder().awsvpc_configuration(vpc).build(),
            )
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .minimum_healthy_percent(d.minimum_healthy_percent)
                    .maximum_percent(d.maximum_percent)
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(d.circuit_breaker)
                            .rollback(d.rollback)
                            .build(),
                    )
                    .build(),
            )
            .load_balancers(
                EcsLoadBalancer::builder()
                    .target_group_arn(&tg_arn)
                    .container_name(&c.name)
                    .container_port(ing.container_port)
                    .build(),
            )
            .set_health_check_grace_period_seconds(d.health_check_grace_seconds)
            .client_token(format!("floor-{}", d.name))
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .set_tags(Some(ecs_tags))
            .send(),
    )
    .await?;
    Ok(())
}

/// The floor: the minimal creates of every stack, one service after the other, rule priorities
/// 1, 2, … per listener.
async fn floor(aws: &Aws, prepared: &[Prepared], state: &AccountState) {
    let mut next_priority: BTreeMap<String, i32> = BTreeMap::new();
    for p in prepared {
        let ing = p.stack.ingress.as_ref().expect("services with ingress");
        let listener = state.load_balancers[&ing.load_balancer]
            .listener_arn
            .clone()
            .expect("the load balancer's listener");
        let priority = next_priority.entry(listener.clone()).or_insert(0);
        *priority += 1;
        create_minimal_stack(aws, &p.stack, &listener, *priority)
            .await
            .unwrap_or_else(|e| panic!("the floor's creates for {}: {e}", p.label));
    }
}

/// A fresh client with its own counter and limiter, to moto or the layer.
fn client(config: &aws_config::SdkConfig, limiter: RateLimiter) -> (Aws, CallCounter) {
    let calls = CallCounter::default();
    (Aws::new(config, calls.clone(), limiter), calls)
}

async fn cold(n: usize) -> Vec<String> {
    let w = World::new(&format!("cold-{n}"));
    let k = n.div_ceil(common::TARGET_GROUPS_PER_ALB);
    let (floor_lbs, our_lbs) = (common::names("floor", k), common::names("ours", k));
    let pool: Vec<String> = floor_lbs.iter().chain(&our_lbs).cloned().collect();
    let floor_m = manifests(&w, &pool, "floor", n, &floor_lbs);
    let our_m = manifests(&w, &pool, "svc", n, &our_lbs);
    let floor_prepared = oneshot::prepare(&floor_m, &w.cluster_id).expect("valid services");
    let our_prepared = oneshot::prepare(&our_m, &w.cluster_id).expect("valid services");
    let state = ensure_account(&w, &our_m).await;
    let config = sdk_config_for(&w.endpoint);

    let (aws, floor_calls) = client(&config, RateLimiter::default());
    let started = Instant::now();
    floor(&aws, &floor_prepared, &state).await;
    let floor_took = started.elapsed();
    let floor_waits = aws.limiter().waits();
    let floor_stats = CallStats::since(&floor_calls, &Default::default());

    let (aws, our_calls) = client(&config, RateLimiter::default());
    let started = Instant::now();
    oneshot::apply(&our_m, &our_prepared, &w.sessions_with(aws.clone())).await.expect("apply");
    let ours_took = started.elapsed();
    let our_waits = aws.limiter().waits();
    let ours = CallStats::since(&our_calls, &Default::default());

    let ratio = ours_took.as_secs_f64() / floor_took.as_secs_f64();
    let per = n as f64;
    let mut table = Table::new(
        &format!("Cold convergence, N={n}: ours vs the floor (moto, RateLimiter::default())"),
        &[
            "N",
            "floor (s)",
            "ours (s)",
            "ours / floor",
            "floor calls / svc",
            "our calls / svc",
            "our writes / svc",
        ],
    );
    table.row(vec![
        n.to_string(),
        common::secs(floor_took),
        common::secs(ours_took),
        num(ratio),
        num(floor_stats.total() as f64 / per),
        num(ours.total() as f64 / per),
        num(ours.writes() as f64 / per),
    ]);
    table.print();
    let mut waits = Table::new(
        &format!("Cold convergence, N={n}: client-side rate-limit waits per bucket"),
        &["run", "bucket", "calls that waited", "total wait (s)"],
    );
    for (run, list) in [("floor", &floor_waits), ("ours", &our_waits)] {
        for (bucket, count, total) in list {
            waits.row(vec![
                run.into(),
                bucket.to_string(),
                count.to_string(),
                common::secs(*total),
            ]);
        }
    }
    waits.print();
    let mut ops = Table::new(
        &format!("Cold convergence, N={n}: our calls per service by operation"),
        &["operation", "calls / svc", "floor calls / svc"],
    );
    for (op, count) in ours.top(usize::MAX) {
        let (service, operation) = op.split_once(':').expect("service:Operation");
        let floor_count = floor_stats
            .by_op
            .get(&(service.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0);
        ops.row(vec![op.clone(), num(count as f64 / per), num(floor_count as f64 / per)]);
    }
    ops.print();
    let checks = [Check::observed(
        format!("cold convergence, N={n}: ours / floor"),
        ratio,
        common::MAX_COLD_RATIO,
    )];
    common::print_checks(&format!("Cold convergence, N={n}: goals"), &checks, false)
}

/// The shortest time the layer's token buckets (AWS's rates × `scale`) allow for `ops`, and the
/// bucket that sets it.
fn bucket_floor<'a>(
    ops: impl IntoIterator<Item = (&'a str, &'a str)>,
    scale: f64,
) -> (f64, String) {
    let mut per_bucket: BTreeMap<String, (f64, f64, u64)> = BTreeMap::new();
    for (service, operation) in ops {
        for (name, rate) in buckets(service, operation) {
            let entry = per_bucket.entry(name).or_insert((
                (rate.burst * scale).max(1.0),
                rate.per_second * scale,
                0,
            ));
            entry.2 += 1;
        }
    }
    per_bucket
        .into_iter()
        .map(|(name, (burst, rate, count))| (((count as f64 - burst) / rate).max(0.0), name))
        .fold(
            (0.0, "within every burst".to_string()),
            |best, next| {
                if next.0 > best.0 { next } else { best }
            },
        )
}

/// The minimal creates of `n` stacks.
/// What the behaviour layer answered in a run: requests, throttling errors, and the bucket floors
/// (`seconds (bucket)`) of N minimal stacks and of the requests we actually made.
struct LayerTally {
    calls: usize,
    throttled: usize,
    floor: String,
    our_floor: String,
}

fn layer_tally(seen: &[support::awslayer::Call], n: usize) -> LayerTally {
    let (floor, floor_bucket) = bucket_floor(minimal_ops(n), THROTTLE_SCALE);
    let (our_floor, our_bucket) = bucket_floor(
        seen.iter()
            .filter(|c| c.outcome != "throttled")
            .map(|c| (c.service.as_str(), c.operation.as_str())),
        THROTTLE_SCALE,
    );
    LayerTally {
        calls: seen.len(),
        throttled: seen.iter().filter(|c| c.outcome == "throttled").count(),
        floor: format!("{} ({floor_bucket})", num(floor)),
        our_floor: format!("{} ({our_bucket})", num(our_floor)),
    }
}

fn minimal_ops(n: usize) -> impl Iterator<Item = (&'static str, &'static str)> {
    (0..n).flat_map(|_| MINIMAL_STACK)
}

/// Whether a status reports a throttling error: in a condition's reason or message, or as a
/// resource's last error.
fn mentions_throttling(status: &CloudServiceStatus) -> bool {
    status.conditions.iter().any(|c| throttling_text(&c.reason) || throttling_text(&c.message))
        || status.resources.iter().any(|r| {
            r.last_error
                .as_ref()
                .is_some_and(|e| throttling_text(&e.code) || throttling_text(&e.message))
        })
}

/// AWS's throttling codes and messages (`Throttling`, `ThrottlingException`, "Rate exceeded").
fn throttling_text(text: &str) -> bool {
    let text = text.to_lowercase();
    text.contains("throttl") || text.contains("rate exceeded")
}

async fn throttled_cli(n: usize, quick: bool) -> Vec<String> {
    let w = World::with_layer(&format!("thr-{n}"), World::fast_layer());
    let layer = w.layer.clone().expect("a world with the layer");
    let lbs = common::names("lb", common::load_balancers_for(n));
    let m = manifests(&w, &lbs, "svc", n, &lbs);
    let prepared = oneshot::prepare(&m, &w.cluster_id).expect("valid services");
    ensure_account(&w, &m).await;
    layer.set_throttle_scale(Some(THROTTLE_SCALE));
    let calls_before = layer.calls().len();
    let (aws, ours) = client(&layer.sdk_config(), RateLimiter::scaled(THROTTLE_SCALE));
    let sessions = w.sessions_with(aws.clone());
    let started = Instant::now();
    let applied = oneshot::apply(&m, &prepared, &sessions).await;
    let apply_took = started.elapsed();
    let (apply_ok, surfaced, ready_took) = match applied {
        Ok(mut statuses) => {
            let waited = oneshot::wait(
                &prepared,
                &mut statuses,
                &sessions,
                Duration::from_secs(600),
                |_| {},
            )
            .await;
            let surfaced = statuses.iter().filter(|(_, s)| mentions_throttling(s)).count();
            (waited.is_ok(), surfaced, started.elapsed())
        }
        Err(e) => {
            eprintln!("throttled apply failed: {e}");
            (false, usize::from(throttling_text(&e)), started.elapsed())
        }
    };
    let tally = layer_tally(&layer.calls()[calls_before..], n);
    let stats = CallStats::since(&ours, &Default::default());
    let mut table = Table::new(
        &format!(
            "Throttled convergence, N={n}: byoc apply, AWS throttling ×{THROTTLE_SCALE} (AWS behaviour layer), client RateLimiter::scaled({THROTTLE_SCALE})"
        ),
        &[
            "N",
            "bucket floor (s)",
            "apply (s)",
            "apply + rollouts (s)",
            "throttling errors from AWS",
            "in a status",
            "apply succeeded",
            "our calls / svc",
            "bucket floor of our calls (s)",
        ],
    );
    table.row(vec![
        n.to_string(),
        tally.floor.clone(),
        common::secs(apply_took),
        common::secs(ready_took),
        tally.throttled.to_string(),
        surfaced.to_string(),
        apply_ok.to_string(),
        num(stats.total() as f64 / n as f64),
        tally.our_floor.clone(),
    ]);
    table.print();
    let mut waits = Table::new(
        &format!("Throttled convergence, N={n}: client-side rate-limit waits per bucket"),
        &["bucket", "calls that waited", "total wait (s)"],
    );
    for (bucket, count, total) in aws.limiter().waits() {
        waits.row(vec![bucket.to_string(), count.to_string(), common::secs(total)]);
    }
    waits.print();
    let checks = [
        Check::count(
            format!("throttled apply, N={n}: failed"),
            f64::from(u8::from(!apply_ok)),
            0.0,
        ),
        Check::count(
            format!("throttled apply, N={n}: throttling errors in a status"),
            surfaced as f64,
            common::MAX_SURFACED_THROTTLING as f64,
        ),
    ];
    common::print_checks(&format!("Throttled convergence, N={n}: goals"), &checks, quick)
}

async fn throttled_controller(n: usize) -> Vec<String> {
    let w = World::with_layer(&format!("thr-ctl-{n}"), World::fast_layer());
    let layer = w.layer.clone().expect("a world with the layer");
    let kube = Kube::start("thrctl", 1).await;
    let ns = kube.namespaces[0].clone();
    let lbs = common::names("lb", common::load_balancers_for(n));
    let account_yaml = common::pool_account(&w, &lbs);
    let m = manifests(&w, &lbs, "svc", n, &lbs);
    ensure_account(&w, &m).await;
    layer.set_throttle_scale(Some(THROTTLE_SCALE));
    let calls_before = layer.calls().len();
    let scale = THROTTLE_SCALE.to_string();
    let op = Operator::start(&kube, &w, &["--aws-rate-scale", &scale, "--resync-interval", "10m"]);
    kube.apply(&labelled_account(&w, &account_yaml)).await;
    let started = Instant::now();
    kube.apply(&common::services_yaml("svc", n, &ns, &w.account, &lbs)).await;
    let api = kube.services(&ns);
    let mut surfaced: BTreeSet<String> = BTreeSet::new();
    let ready_took = loop {
        let list = api.list(&Default::default()).await.expect("listing the services");
        for s in &list.items {
            if let Some(status) = &s.status
                && mentions_throttling(status)
            {
                surfaced.insert(s.metadata.name.clone().unwrap_or_default());
            }
        }
        let ready = list
            .items
            .iter()
            .filter(|s| {
                s.status.as_ref().is_some_and(|st| {
                    st.observed_generation == s.metadata.generation
                        && condition(&st.conditions, "Ready").is_some_and(|c| c.0 == "True")
                })
            })
            .count();
        if ready == n {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "only {ready} of {n} Ready after 30 min"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let tally = layer_tally(&layer.calls()[calls_before..], n);
    let metrics = op.get("/metrics").await.map(|(_, b)| b).unwrap_or_default();
    let mut table = Table::new(
        &format!(
            "Throttled convergence, N={n}: byoc controller, AWS throttling ×{THROTTLE_SCALE}, --aws-rate-scale {THROTTLE_SCALE}"
        ),
        &[
            "N",
            "bucket floor (s)",
            "all Ready (s)",
            "throttling errors from AWS",
            "services with one in a status",
            "AWS requests / svc",
            "bucket floor of our calls (s)",
            "reconciles",
        ],
    );
    table.row(vec![
        n.to_string(),
        tally.floor.clone(),
        common::secs(ready_took),
        tally.throttled.to_string(),
        surfaced.len().to_string(),
        num(tally.calls as f64 / n as f64),
        tally.our_floor.clone(),
        common::metric(&metrics, "byoc_reconcile_total{kind=\"CloudService\"").to_string(),
    ]);
    table.print();
    let checks = [Check::count(
        format!("throttled controller, N={n}: services with a throttling error in a status"),
        surfaced.len() as f64,
        common::MAX_SURFACED_THROTTLING as f64,
    )];
    common::print_checks(&format!("Throttled controller, N={n}: goals"), &checks, false)
}
