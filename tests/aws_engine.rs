//! The engine against the AWS emulator (moto): real SDK, real wire protocol. One moto per run;
//! every test has its own network, account and installation id.

mod support;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use byoc::{
    api::RolloutState,
    aws::{AwsError, Category, Phase, is_write},
    oneshot,
    resources::{Action, Kind},
};
use support::moto::World;

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
  repository: { keepLastImages: 10 }
"#;

fn service_stack(inventory: &[(String, String)]) -> Vec<&str> {
    inventory
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !["EcsCluster", "LoadBalancer"].contains(k))
        .collect()
}

#[tokio::test]
async fn applying_a_new_service_creates_its_whole_stack_and_reports_it() {
    let w = World::new("create");
    let statuses = w.apply(WEB).await.unwrap();
    let status = &statuses[0].1;
    assert_eq!(status.url.as_deref(), Some("http://shop.example.com/"));
    let kinds: Vec<&str> = status.resources.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "EcrRepository",
            "LogGroup",
            "TargetGroup",
            "ListenerRule",
            "TaskDefinition",
            "EcsService"
        ]
    );
    let inventory = w.inventory().await;
    assert_eq!(
        service_stack(&inventory),
        [
            "EcrRepository",
            "EcsService",
            "ListenerRule",
            "LogGroup",
            "TargetGroup",
            "TaskDefinition"
        ],
        "{inventory:?}"
    );
    assert!(
        inventory.iter().any(|(k, _)| k == "EcsCluster")
            && inventory.iter().any(|(k, _)| k == "LoadBalancer")
    );
}

#[tokio::test]
async fn reapplying_an_unchanged_service_makes_zero_aws_writes() {
    let w = World::new("idempotent");
    w.apply(WEB).await.unwrap();
    let before = w.calls.writes();
    let plan = w.plan(WEB).await;
    assert!(plan.iter().all(|(_, p)| p.is_empty()), "{plan:?}");
    w.apply(WEB).await.unwrap();
    assert_eq!(w.calls.writes(), before, "writes on a no-op apply: {:?}", w.calls.write_summary());
}

#[tokio::test]
async fn changing_the_image_registers_exactly_one_new_revision_and_updates_the_service() {
    let w = World::new("image");
    w.apply(WEB).await.unwrap();
    let registered = w.calls.count("RegisterTaskDefinition");
    let updated = w.calls.count("UpdateService");
    let changed = WEB.replace("nginx:1.26", "nginx:1.27");
    let plan = w.plan(&changed).await;
    let td = plan[1].1.of(Kind::TaskDefinition).next().unwrap();
    assert!(
        matches!(&td.action, Action::Update(f) if f.iter().any(|c| c.field == "image" && c.from == "nginx:1.26" && c.to == "nginx:1.27")),
        "{td:?}"
    );
    let status = &w.apply(&changed).await.unwrap()[0].1;
    assert_eq!(w.calls.count("RegisterTaskDefinition"), registered + 1);
    assert_eq!(w.calls.count("UpdateService"), updated + 1);
    assert!(status.rollout.as_ref().unwrap().task_definition.as_deref().unwrap().ends_with(":2"));
    w.apply(&changed).await.unwrap();
    assert_eq!(
        w.calls.count("RegisterTaskDefinition"),
        registered + 1,
        "no revision without a change"
    );
}

#[tokio::test]
async fn scaling_changes_only_the_desired_count() {
    let w = World::new("scale");
    w.apply(WEB).await.unwrap();
    let plan = w.plan(&WEB.replace("replicas: 2", "replicas: 5")).await;
    let changes: Vec<_> = plan[1].1.changes.iter().collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        matches!(&changes[0].action, Action::Update(f) if f.len() == 1 && f[0].field == "desiredCount" && f[0].to == "5")
    );
    let registered = w.calls.count("RegisterTaskDefinition");
    let status = &w.apply(&WEB.replace("replicas: 2", "replicas: 5")).await.unwrap()[0].1;
    assert_eq!(status.rollout.as_ref().unwrap().desired, 5);
    assert_eq!(w.calls.count("RegisterTaskDefinition"), registered);
}

#[tokio::test]
async fn changing_routing_modifies_the_rule_in_place() {
    let w = World::new("routing");
    w.apply(WEB).await.unwrap();
    let rules_before: Vec<_> =
        w.inventory().await.into_iter().filter(|(k, _)| k == "ListenerRule").collect();
    let rerouted = WEB.replace(r#"paths: ["/*"]"#, r#"paths: ["/shop/*"]"#);
    w.apply(&rerouted).await.unwrap();
    let rules_after: Vec<_> =
        w.inventory().await.into_iter().filter(|(k, _)| k == "ListenerRule").collect();
    assert_eq!(rules_before, rules_after, "same rule ARN");
    assert_eq!(w.calls.count("ModifyRule"), 1);
    assert_eq!(w.calls.count("CreateRule"), 1);
    assert!(w.plan(&rerouted).await.iter().all(|(_, p)| p.is_empty()));
}

#[tokio::test]
async fn many_services_on_one_listener_get_unique_priorities_most_specific_first() {
    let w = World::new("priorities");
    let mut yaml = String::new();
    for i in 0..8 {
        yaml.push_str(&format!(
            "---\napiVersion: byoc.dev/v1alpha1\nkind: CloudService\nmetadata: {{ name: s{i}, namespace: team }}\nspec:\n  accountRef: {{ name: ACCOUNT }}\n  image: nginx\n  ports: [{{ name: http, containerPort: 80 }}]\n  ingress: {{ loadBalancer: public, hosts: [shop.example.com], paths: [\"/{}*\"], port: http }}\n",
            "a/".repeat(i)
        ));
    }
    // Apply one by one, least specific first, so every new rule must move in front of the others.
    for i in 0..8 {
        let one: String =
            yaml.split("---\n").filter(|d| d.contains(&format!("name: s{i},"))).collect();
        w.apply(&one).await.unwrap();
    }
    let m = w.manifests(&yaml);
    let prepared = oneshot::prepare(&m, &w.cluster_id).unwrap();
    let plans = oneshot::plan(&m, &prepared, &w.sessions()).await.unwrap();
    assert!(plans.iter().all(|(_, p)| p.is_empty()), "priorities settled: {plans:#?}");
    let listener = w.aws.elb.describe_load_balancers().send().await.unwrap();
    let lb = listener
        .load_balancers()
        .iter()
        .find(|l| l.load_balancer_name().unwrap().contains(&w.account[..10]))
        .unwrap();
    let listeners = w
        .aws
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let rules = w
        .aws
        .elb
        .describe_rules()
        .listener_arn(listeners.listeners()[0].listener_arn().unwrap())
        .send()
        .await
        .unwrap();
    let mut by_priority: Vec<(u32, usize)> = rules
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| {
            let path = r.conditions().iter().find(|c| c.field() == Some("path-pattern")).unwrap();
            let values = path
                .path_pattern_config()
                .map(|p| p.values().to_vec())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| path.values().to_vec());
            (r.priority().unwrap().parse().unwrap(), values[0].len())
        })
        .collect();
    by_priority.sort();
    assert_eq!(by_priority.len(), 8);
    let lengths: Vec<usize> = by_priority.iter().map(|(_, len)| *len).collect();
    let mut expected = lengths.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(lengths, expected, "longest path has the lowest priority: {by_priority:?}");
}

#[tokio::test]
async fn deleting_leaves_nothing_tagged_behind_and_deleting_twice_is_a_no_op() {
    let w = World::new("delete");
    let with_secret = format!("{WEB}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{ name: db, namespace: shop }}\nstringData: {{ url: postgres://x }}\n")
        .replace("  repository:", "  env: [{ name: DB, valueFrom: { secretKeyRef: { name: db, key: url } } }]\n  repository:");
    w.apply(&with_secret).await.unwrap();
    assert!(w.inventory().await.iter().any(|(k, _)| k == "Secret"));
    let plan = &w.delete(&with_secret).await[0].1;
    let order: Vec<Kind> = plan.changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        order,
        [
            Kind::ListenerRule,
            Kind::EcsService,
            Kind::TargetGroup,
            Kind::TaskDefinition,
            Kind::Secret,
            Kind::LogGroup,
            Kind::Repository
        ]
    );
    assert!(
        w.inventory().await.is_empty(),
        "nothing tagged as ours is left: {:?}",
        w.inventory().await
    );
    let writes = w.calls.writes();
    let again = &w.delete(&with_secret).await[0].1;
    assert!(again.changes.is_empty(), "{again}");
    assert_eq!(w.calls.writes(), writes);
}

#[tokio::test]
async fn retain_policy_keeps_every_resource() {
    let w = World::new("retain");
    let retained = WEB.replace("  repository:", "  deletionPolicy: Retain\n  repository:");
    w.apply(&retained).await.unwrap();
    let before = w.inventory().await;
    let plan = &w.delete(&retained).await[0].1;
    assert!(plan.changes.iter().all(|c| c.action == Action::Retain) && !plan.changes.is_empty());
    let account = &w.delete(&retained).await[1].1;
    assert!(
        account.changes.iter().all(|c| matches!(c.action, Action::Keep(_))),
        "in use: {account}"
    );
    assert_eq!(w.inventory().await, before);
}

#[tokio::test]
async fn a_same_named_resource_without_our_tags_is_never_touched() {
    let w = World::new("ownership");
    let name = format!("/byoc/{}/web", w.namespace);
    w.aws.logs.create_log_group().log_group_name(&name).send().await.unwrap();
    let err = w.apply(WEB).await.unwrap_err();
    assert!(err.contains(&format!("LogGroup {name} exists without our ownership tags")), "{err}");
    let groups =
        w.aws.logs.describe_log_groups().log_group_name_prefix(&name).send().await.unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), None, "not modified");
    w.delete(WEB).await;
    let groups =
        w.aws.logs.describe_log_groups().log_group_name_prefix(&name).send().await.unwrap();
    assert_eq!(groups.log_groups().len(), 1, "not deleted");
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_before_any_aws_call() {
    let w = World::new("bad-input");
    let cases = [
        ("unknown account", WEB.replace("name: ACCOUNT", "name: nowhere"), "spec.accountRef.name"),
        (
            "ingress on a missing port",
            WEB.replace("port: http }", "port: grpc }"),
            "spec.ingress.port",
        ),
        (
            "invalid cpu/memory",
            WEB.replace("replicas: 2", "replicas: 2\n  cpu: \"0.25\"\n  memory: 8Gi"),
            "spec.memory",
        ),
        (
            "unknown load balancer",
            WEB.replace("loadBalancer: public", "loadBalancer: private"),
            "spec.ingress.loadBalancer",
        ),
    ];
    for (reason, yaml, field) in cases {
        let err = w.apply(&yaml).await.unwrap_err();
        assert!(err.contains(field), "{reason}: {err}");
    }
    assert_eq!(w.calls.total(), 0, "no AWS call for invalid input");
}

/// Makes the `n`-th write call "crash" right after AWS did the work.
fn crash_after_write(n: usize) -> (byoc::aws::FaultHook, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let hook: byoc::aws::FaultHook = Arc::new(move |_service, operation, phase| {
        if phase != Phase::After || !is_write(operation) {
            return None;
        }
        (counter.fetch_add(1, Ordering::SeqCst) == n).then(|| AwsError {
            operation,
            code: "Crash".into(),
            message: "simulated crash".into(),
            category: Category::Transient,
        })
    });
    (hook, seen)
}

#[tokio::test]
async fn a_crash_after_any_write_never_leaves_a_duplicate_or_a_leak() {
    let w = World::new("crash");
    let m = w.manifests(WEB);
    let prepared = oneshot::prepare(&m, &w.cluster_id).unwrap();
    // Count the writes of a clean first apply in a separate world of the same shape.
    let probe = World::new("crash-probe");
    probe.apply(WEB).await.unwrap();
    let writes = probe.calls.writes() as usize;
    assert!(writes >= 8, "{:?}", probe.calls.write_summary());
    for n in 0..writes {
        let (hook, _) = crash_after_write(n);
        let crashing = w.aws.clone().with_faults(hook);
        let _ = oneshot::apply(&m, &prepared, &w.sessions_with(crashing)).await;
        let status = &oneshot::apply(&m, &prepared, &w.sessions()).await.unwrap()[0].1;
        assert_ne!(status.rollout.as_ref().unwrap().state, RolloutState::Failed);
        let inventory = w.inventory().await;
        for kind in [
            "EcsService",
            "ListenerRule",
            "TargetGroup",
            "LogGroup",
            "EcrRepository",
            "EcsCluster",
            "LoadBalancer",
        ] {
            assert_eq!(
                inventory.iter().filter(|(k, _)| k == kind).count(),
                1,
                "after a crash at write {n}: {kind} in {inventory:?}"
            );
        }
        w.delete(WEB).await;
        assert!(
            service_stack(&w.inventory().await).is_empty(),
            "crash at write {n} leaked: {:?}",
            w.inventory().await
        );
    }
}

#[tokio::test]
async fn a_health_check_command_becomes_the_container_health_check() {
    let w = World::new("container-health");
    let yaml = WEB.replace("healthCheck: { path: /healthz }", "healthCheck: { path: /healthz, command: \"curl -fsS http://localhost/healthz || exit 1\", gracePeriodSeconds: 900 }");
    let status = &w.apply(&yaml).await.unwrap()[0].1;
    let td = status.resources.iter().find(|r| r.kind == "TaskDefinition").unwrap().id.clone();
    let described = w.aws.ecs.describe_task_definition().task_definition(&td).send().await.unwrap();
    let container = &described.task_definition().unwrap().container_definitions()[0];
    let hc = container.health_check().unwrap();
    assert_eq!(hc.command(), ["CMD-SHELL", "curl -fsS http://localhost/healthz || exit 1"]);
    assert_eq!(hc.start_period(), Some(300), "clamped to ECS' maximum");
    assert_eq!(
        container.log_configuration().unwrap().options().unwrap()["awslogs-group"],
        format!("/byoc/{}/web", w.namespace)
    );
}

#[tokio::test]
async fn a_load_balancer_with_a_certificate_serves_https_and_redirects_http() {
    let w = World::with_https("https");
    let secure = WEB.replace("loadBalancer: public", "loadBalancer: secure");
    let status = &w.apply(&secure).await.unwrap()[0].1;
    assert_eq!(status.url.as_deref(), Some("https://shop.example.com/"));
    let lbs = w.aws.elb.describe_load_balancers().send().await.unwrap();
    let lb = lbs
        .load_balancers()
        .iter()
        .find(|l| {
            l.load_balancer_name().unwrap().contains("secure")
                && l.load_balancer_name().unwrap().contains(&w.account[..8])
        })
        .unwrap();
    let listeners = w
        .aws
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let mut ports: Vec<(i32, String)> = listeners
        .listeners()
        .iter()
        .map(|l| (l.port().unwrap(), l.protocol().unwrap().as_str().to_string()))
        .collect();
    ports.sort();
    assert_eq!(ports, [(80, "HTTP".to_string()), (443, "HTTPS".to_string())]);
    let http = listeners.listeners().iter().find(|l| l.port() == Some(80)).unwrap();
    let redirect = http.default_actions()[0].redirect_config().unwrap();
    assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
    let https = listeners.listeners().iter().find(|l| l.port() == Some(443)).unwrap();
    let rules = w
        .aws
        .elb
        .describe_rules()
        .listener_arn(https.listener_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        rules.rules().iter().filter(|r| r.is_default() != Some(true)).count(),
        1,
        "the route is on the HTTPS listener"
    );
}

#[test]
fn a_field_of_the_wrong_type_is_named_in_the_error() {
    let mut m = oneshot::Manifests::default();
    let err =
        oneshot::parse_into(&mut m, &WEB.replace("replicas: 2", "replicas: two")).unwrap_err();
    assert!(err.contains("CloudService web: spec.replicas: invalid type"), "{err}");
    let err = oneshot::parse_into(
        &mut m,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\n",
    )
    .unwrap_err();
    assert!(err.contains("only CloudAccount, CloudService and Secret"), "{err}");
}

#[tokio::test]
async fn dropping_ingress_repository_and_a_secret_from_the_spec_deletes_them_and_leaks_nothing() {
    let w = World::new("shrink");
    let with_secret = format!("{WEB}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{ name: db, namespace: shop }}\nstringData: {{ url: postgres://x }}\n")
        .replace("  repository:", "  env: [{ name: DB, valueFrom: { secretKeyRef: { name: db, key: url } } }]\n  repository:");
    w.apply(&with_secret).await.unwrap();
    let kinds = |inv: &[(String, String)]| -> Vec<String> {
        service_stack(inv).into_iter().map(str::to_string).collect()
    };
    assert_eq!(
        kinds(&w.inventory().await),
        [
            "EcrRepository",
            "EcsService",
            "ListenerRule",
            "LogGroup",
            "Secret",
            "TargetGroup",
            "TaskDefinition"
        ]
    );

    let shrunk = WEB
        .replace("  ingress: { loadBalancer: public, hosts: [shop.example.com], paths: [\"/*\"], port: http }\n", "")
        .replace("  repository: { keepLastImages: 10 }\n", "");
    let plan = w.plan(&shrunk).await;
    let deletions: Vec<Kind> =
        plan[1].1.changes.iter().filter(|c| c.action == Action::Delete).map(|c| c.kind).collect();
    assert_eq!(
        deletions,
        [Kind::ListenerRule, Kind::TargetGroup, Kind::Secret, Kind::Repository],
        "{}",
        plan[1].1
    );
    let status = &w.apply(&shrunk).await.unwrap()[0].1;
    assert_eq!(status.url, None);
    let inventory = w.inventory().await;
    assert_eq!(
        kinds(&inventory),
        ["EcsService", "LogGroup", "TaskDefinition", "TaskDefinition"],
        "{inventory:?}"
    );
    assert!(w.plan(&shrunk).await.iter().all(|(_, p)| p.is_empty()), "settled");
}

#[tokio::test]
async fn moving_to_another_load_balancer_removes_the_rule_from_the_old_listener() {
    let w = World::with_https("move-lb");
    w.apply(WEB).await.unwrap();
    let moved = WEB.replace("loadBalancer: public", "loadBalancer: secure");
    let status = &w.apply(&moved).await.unwrap()[0].1;
    assert_eq!(status.url.as_deref(), Some("https://shop.example.com/"));
    let rules: Vec<String> = w
        .inventory()
        .await
        .into_iter()
        .filter(|(k, _)| k == "ListenerRule")
        .map(|(_, arn)| arn)
        .collect();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(
        rules[0].contains("-secu"),
        "the remaining rule is on the secure load balancer: {rules:?}"
    );
    assert!(w.plan(&moved).await.iter().all(|(_, p)| p.is_empty()), "settled");
}

#[tokio::test]
async fn an_existing_listener_we_do_not_own_gets_our_rule_and_nothing_else_changes() {
    let w = World::new("existing");
    let account = w.manifests("").accounts.into_values().next().unwrap();
    let lb = w
        .aws
        .elb
        .create_load_balancer()
        .name(format!("platform-{}", &w.account[..12]))
        .set_subnets(Some(account.spec.network.subnet_ids.clone()))
        .send()
        .await
        .unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let not_found = aws_sdk_elasticloadbalancingv2::types::Action::builder()
        .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            aws_sdk_elasticloadbalancingv2::types::FixedResponseActionConfig::builder()
                .status_code("404")
                .build(),
        )
        .build();
    let listener = w
        .aws
        .elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .port(80)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .default_actions(not_found)
        .send()
        .await
        .unwrap();
    let listener_arn = listener.listeners()[0].listener_arn().unwrap().to_string();
    let account_yaml = w.account_yaml.replace(
        "    - name: public\n      scheme: InternetFacing\n",
        &format!("    - name: public\n      existing: {{ listenerArn: \"{listener_arn}\" }}\n      scheme: InternetFacing\n"),
    );
    let yaml = WEB.replace("name: ACCOUNT", &format!("name: {}", w.account));
    let mut m = oneshot::Manifests::default();
    oneshot::parse_into(&mut m, &account_yaml).unwrap();
    oneshot::parse_into(
        &mut m,
        &yaml.replace("namespace: shop", &format!("namespace: {}", w.namespace)),
    )
    .unwrap();
    let prepared = oneshot::prepare(&m, &w.cluster_id).unwrap();
    oneshot::apply(&m, &prepared, &w.sessions()).await.unwrap();
    let rules = w.aws.elb.describe_rules().listener_arn(&listener_arn).send().await.unwrap();
    assert_eq!(
        rules.rules().iter().filter(|r| r.is_default() != Some(true)).count(),
        1,
        "our rule is on the existing listener"
    );
    assert!(
        !w.inventory().await.iter().any(|(k, _)| k == "LoadBalancer"),
        "no load balancer of ours was created"
    );
    oneshot::delete(&m, &w.sessions(), &w.cluster_id, false).await.unwrap();
    let rules = w.aws.elb.describe_rules().listener_arn(&listener_arn).send().await.unwrap();
    assert_eq!(rules.rules().len(), 1, "only the listener's default rule is left");
    let still =
        w.aws.elb.describe_load_balancers().load_balancer_arns(&lb_arn).send().await.unwrap();
    assert_eq!(still.load_balancers().len(), 1, "the platform's load balancer is untouched");
}

#[tokio::test]
async fn byoc_apply_leaves_a_suspended_service_alone_and_only_plans_a_preview() {
    let w = World::new("held");
    let previewed = WEB.replace(
        "metadata: { name: web, namespace: shop }",
        "metadata: { name: web, namespace: shop, annotations: { byoc.dev/plan-only: \"true\" } }",
    );
    let statuses = w.apply(&previewed).await.unwrap();
    let plan = statuses[0].1.plan.clone().expect("a plan in the status");
    assert!(plan.pending);
    assert!(plan.changes.iter().any(|c| c.kind == "EcsService"), "{plan:?}");
    assert_eq!(
        service_stack(&w.inventory().await),
        Vec::<&str>::new(),
        "a preview creates nothing"
    );

    w.apply(WEB).await.unwrap();
    let before = w.aws.calls().writes();
    let suspended = WEB.replace("  replicas: 2", "  replicas: 3\n  suspend: true");
    let statuses = w.apply(&suspended).await.unwrap();
    assert!(
        statuses[0].1.conditions.iter().any(|c| c.type_ == "Suspended" && c.status == "True"),
        "{:?}",
        statuses[0].1
    );
    assert_eq!(w.aws.calls().writes(), before, "writes for a suspended service");
    // Deleting a suspended service still deletes it.
    w.delete(&suspended).await;
    assert_eq!(service_stack(&w.inventory().await), Vec::<&str>::new());
}
