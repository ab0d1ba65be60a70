//! End-to-end: the `byoc controller` binary against a Kubernetes API (the stand-in, or the real
//! cluster of `BYOC_E2E_KUBECONFIG`) and moto behind the AWS behaviour layer (ECS deployments that
//! take time, fail and roll back). Every test runs unchanged on both.

mod support;

use std::time::Duration;

use byoc::api::{CloudService, FINALIZER, RolloutState};
use k8s_openapi::api::{core::v1::Namespace, events::v1::Event};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::json;
use support::{
    awslayer,
    e2e::{Kube, Operator, account_yaml, condition, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The whole stack of one service with ingress, plus the account's own resources.
const STACK: [&str; 7] = [
    "EcsService",
    "ListenerRule",
    "TargetGroup",
    "TaskDefinition",
    "LogGroup",
    "EcsCluster",
    "LoadBalancer",
];

/// A fresh world, API and operator (with `args`), and the world's CloudAccount applied.
async fn start(prefix: &str, namespaces: usize, args: &[&str]) -> (World, Kube, Operator) {
    start_on(World::fast_layer(), prefix, namespaces, args).await
}

async fn start_on(
    layer: awslayer::Config,
    prefix: &str,
    namespaces: usize,
    args: &[&str],
) -> (World, Kube, Operator) {
    let w = World::with_layer(&format!("e2e-{prefix}"), layer);
    let kube = Kube::start(prefix, namespaces).await;
    let op = Operator::start(&kube, &w, args);
    kube.apply(&account_yaml(&w)).await;
    (w, kube, op)
}

fn web(w: &World, ns: &str, name: &str, host: &str) -> String {
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: {name}, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.26
  ports: [{{ name: http, containerPort: 80 }}]
  replicas: 1
  healthCheck: {{ path: /healthz }}
  ingress: {{ loadBalancer: public, hosts: [{host}], paths: ["/*"], port: http }}
"#,
        account = w.account
    )
}

/// Waits until the service satisfies `check`.
async fn service_where(
    kube: &Kube,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&CloudService) -> bool,
) -> CloudService {
    let api = kube.services(ns);
    wait_for(
        &format!("{ns}/{name}: {what}"),
        TIMEOUT,
        || async { api.get_opt(name).await.ok().flatten() },
        check,
    )
    .await
}

async fn ready(kube: &Kube, ns: &str, name: &str) -> CloudService {
    service_where(kube, ns, name, "Ready", |s| {
        let status = s.status.clone().unwrap_or_default();
        condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
            && status.observed_generation == s.metadata.generation
    })
    .await
}

/// Waits for `Stalled=True` with `reason`; returns the message.
async fn stalled(kube: &Kube, ns: &str, name: &str, reason: &str) -> String {
    let s = service_where(kube, ns, name, &format!("Stalled {reason}"), |s| {
        condition(&s.status.clone().unwrap_or_default().conditions, "Stalled")
            .is_some_and(|c| c.0 == "True" && c.1 == reason)
    })
    .await;
    condition(&s.status.unwrap().conditions, "Stalled").unwrap().2
}

async fn gone(kube: &Kube, ns: &str, name: &str) {
    let api = kube.services(ns);
    wait_for(
        &format!("{ns}/{name} to be gone"),
        TIMEOUT,
        || async { Some(api.get_opt(name).await.unwrap()) },
        |s: &Option<CloudService>| s.is_none(),
    )
    .await;
}

fn rollout_desired(s: &CloudService) -> Option<i32> {
    s.status.as_ref()?.rollout.as_ref().map(|r| r.desired)
}

async fn assert_one_of_each(w: &World) {
    let inventory = w.inventory().await;
    for kind in STACK {
        assert_eq!(
            inventory.iter().filter(|(k, _)| k == kind).count(),
            1,
            "{kind} in {inventory:?}"
        );
    }
}

/// What the service left in AWS (account-level resources stay with the account).
async fn service_leftovers(w: &World) -> Vec<(String, String)> {
    w.inventory()
        .await
        .into_iter()
        .filter(|(k, _)| !["EcsCluster", "LoadBalancer"].contains(&k.as_str()))
        .collect()
}

/// Sum of the metric lines `keep` selects.
fn sum(metrics: &str, keep: impl Fn(&str) -> bool) -> u64 {
    metrics
        .lines()
        .filter(|l| keep(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_service_becomes_ready_with_its_stack_in_aws_and_deleting_it_cleans_aws() {
    let (w, kube, op) = start("ready", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", "shop.example.com")).await;

    let svc = ready(&kube, &ns, "web").await;
    let status = svc.status.clone().unwrap();
    assert_eq!(status.url.as_deref(), Some("http://shop.example.com/"));
    assert!(svc.metadata.finalizers.clone().unwrap_or_default().contains(&FINALIZER.to_string()));
    // Every write of ours, the finalizer patch and the status included, is under our manager.
    let entries = svc.metadata.managed_fields.clone().unwrap_or_default();
    let ours: Vec<String> = entries
        .iter()
        .map(|e| (e.manager.clone(), serde_json::to_string(&e.fields_v1).unwrap()))
        .filter(|(_, fields)| fields.contains("f:finalizers") || fields.contains("f:status"))
        .map(|(manager, fields)| {
            assert_eq!(manager.as_deref(), Some("byoc-operator"), "{fields}");
            fields
        })
        .collect();
    assert!(ours.iter().any(|f| f.contains("f:finalizers")), "the finalizer write: {entries:?}");
    assert_eq!(condition(&status.conditions, "Reconciling").unwrap().0, "False");
    assert_eq!(condition(&status.conditions, "Stalled").unwrap().0, "False");
    assert_one_of_each(&w).await;
    let accounts = kube.accounts();
    let account = wait_for(
        "the account to count the rule and target group",
        TIMEOUT,
        || async { accounts.get_opt(&w.account).await.ok().flatten() },
        |a| {
            a.status.as_ref().is_some_and(|s| {
                s.load_balancers
                    .iter()
                    .any(|l| l.name == "public" && l.rules == 1 && l.target_groups == 1)
            })
        },
    )
    .await;
    let (ready, _, message) = condition(&account.status.unwrap().conditions, "Ready").unwrap();
    assert_eq!(ready, "True");
    assert!(message.contains("public: 1/100 rules, 1/100 target groups"), "{message}");

    let (code, body) = op.get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        body.contains("byoc_reconcile_total{kind=\"CloudService\",outcome=\"success\"}"),
        "{body}"
    );
    assert!(
        body.contains(
            "byoc_aws_api_calls_total{service=\"ecs\",operation=\"CreateService\",outcome=\"ok\"} 1"
        ),
        "{body}"
    );
    assert_eq!(op.get("/readyz").await.unwrap().0, 200);
    assert_eq!(op.get("/healthz").await.unwrap().0, 200);

    kube.services(&ns).delete("web", &DeleteParams::default()).await.unwrap();
    gone(&kube, &ns, "web").await;
    let left = service_leftovers(&w).await;
    assert!(left.is_empty(), "left in AWS after delete: {left:?}");
    // With no service left, deleting the account removes its load balancer and cluster.
    kube.accounts().delete(&w.account, &DeleteParams::default()).await.unwrap();
    let accounts = kube.accounts();
    wait_for(
        "the account to be gone",
        TIMEOUT,
        || async { Some(accounts.get_opt(&w.account).await.ok().flatten().is_none()) },
        |gone| *gone,
    )
    .await;
    let left = w.inventory().await;
    assert!(left.is_empty(), "nothing tagged as ours is left: {left:?}");
    kube.cleanup(&[]).await;
}

#[tokio::test]
async fn changing_the_image_rolls_out_a_new_revision_and_advances_observed_generation() {
    let (w, kube, _op) = start("image", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", "img.example.com")).await;
    let first = ready(&kube, &ns, "web").await;
    kube.apply(&web(&w, &ns, "web", "img.example.com").replace("nginx:1.26", "nginx:1.27")).await;
    let generation = first.metadata.generation.unwrap() + 1;
    let rolling = service_where(&kube, &ns, "web", "a rollout of revision 2", |s| {
        let st = s.status.clone().unwrap_or_default();
        st.observed_generation == Some(generation)
            && st
                .rollout
                .as_ref()
                .and_then(|r| r.task_definition.clone())
                .is_some_and(|t| t.ends_with(":2"))
    })
    .await;
    // Until ECS has the new tasks running, the honest state is Reconciling, not Ready.
    let st = rolling.status.unwrap();
    let rolled_out = st.rollout.as_ref().is_some_and(|r| r.state == RolloutState::Completed);
    if !rolled_out {
        let (status, reason, _) = condition(&st.conditions, "Reconciling").unwrap();
        assert_eq!((status.as_str(), reason.as_str()), ("True", "RollingOut"));
        assert_eq!(condition(&st.conditions, "Ready").unwrap().0, "False");
    }
    let done = ready(&kube, &ns, "web").await.status.unwrap();
    let rollout = done.rollout.unwrap();
    assert!(rollout.task_definition.unwrap().ends_with(":2"));
    assert_eq!((rollout.running, rollout.desired), (1, 1));
    assert_eq!(w.inventory().await.iter().filter(|(k, _)| k == "TaskDefinition").count(), 2);
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn drift_in_aws_is_corrected_by_the_periodic_resync() {
    let (w, kube, _op) = start("drift", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", "drift.example.com")).await;
    ready(&kube, &ns, "web").await;
    let rule = w.inventory().await.into_iter().find(|(k, _)| k == "ListenerRule").unwrap().1;
    w.aws.elb.delete_rule().rule_arn(&rule).send().await.unwrap();
    let service = w.inventory().await.into_iter().find(|(k, _)| k == "EcsService").unwrap().1;
    let cluster = format!("byoc-{}", w.account);
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&service)
        .desired_count(4)
        .send()
        .await
        .unwrap();
    let restored = || async {
        let rules = w.inventory().await.iter().filter(|(k, _)| k == "ListenerRule").count();
        let d =
            w.aws.ecs.describe_services().cluster(&cluster).services(&service).send().await.ok()?;
        Some((rules, d.services()[0].desired_count()))
    };
    wait_for("the rule and desired count to be restored", TIMEOUT, restored, |(rules, desired)| {
        *rules == 1 && *desired == 1
    })
    .await;
    let events = Api::<Event>::namespaced(kube.client.clone(), &ns);
    wait_for(
        "a DriftCorrected event",
        TIMEOUT,
        || async { events.list(&Default::default()).await.ok() },
        |list| {
            list.items.iter().any(|e| {
                e.reason.as_deref() == Some("DriftCorrected")
                    && e.note.as_deref().unwrap_or_default().contains("ListenerRule")
            })
        },
    )
    .await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn drift_in_log_retention_repository_and_task_definition_is_corrected_by_the_resync() {
    let (w, kube, _op) = start("drift2", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    let manifest = web(&w, &ns, "web", "drift2.example.com")
        + "  logs: { retentionDays: 14 }\n  repository: { scanOnPush: true }\n";
    kube.apply(&manifest).await;
    ready(&kube, &ns, "web").await;
    let find = |kind: &'static str| {
        let w = &w;
        async move { w.inventory().await.into_iter().find(|(k, _)| k == kind).unwrap().1 }
    };
    let (log_group, repository) = (find("LogGroup").await, find("EcrRepository").await);
    let service = find("EcsService").await;
    let cluster = format!("byoc-{}", w.account);
    let described = w.aws.ecs.describe_services().cluster(&cluster).services(&service);
    let ours = described.clone().send().await.unwrap().services()[0]
        .task_definition()
        .unwrap()
        .to_string();
    // Someone shortens the retention, turns scanning off and points the service at a revision of
    // their own.
    w.aws
        .logs
        .put_retention_policy()
        .log_group_name(&log_group)
        .retention_in_days(1)
        .send()
        .await
        .unwrap();
    w.aws
        .ecr
        .put_image_scanning_configuration()
        .repository_name(&repository)
        .image_scanning_configuration(
            aws_sdk_ecr::types::ImageScanningConfiguration::builder().scan_on_push(false).build(),
        )
        .send()
        .await
        .unwrap();
    let foreign = w
        .aws
        .ecs
        .register_task_definition()
        .family(format!("drift2-foreign-{}", w.account))
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder().name("web").image("busybox").build(),
        )
        .send()
        .await
        .unwrap();
    let foreign = foreign.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&service)
        .task_definition(&foreign)
        .send()
        .await
        .unwrap();
    let restored = || async {
        let groups = w.aws.logs.describe_log_groups().log_group_name_prefix(&log_group);
        let retention = groups.send().await.ok()?.log_groups().first()?.retention_in_days();
        let repos = w.aws.ecr.describe_repositories().repository_names(&repository);
        let scan = repos
            .send()
            .await
            .ok()?
            .repositories()
            .first()?
            .image_scanning_configuration()?
            .scan_on_push();
        let running =
            described.clone().send().await.ok()?.services().first()?.task_definition()?.to_string();
        Some((retention, scan, running))
    };
    wait_for(
        "retention, scanning and the task definition to be restored",
        TIMEOUT,
        restored,
        |(retention, scan, running)| *retention == Some(14) && *scan && *running == ours,
    )
    .await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_resync_with_nothing_to_do_makes_no_aws_writes() {
    let (w, kube, op) = start("noop", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", "noop.example.com")).await;
    ready(&kube, &ns, "web").await;
    let is_write = |l: &str| {
        l.starts_with("byoc_aws_api_calls_total")
            && !["Describe", "List", "Get"].iter().any(|p| l.contains(&format!("operation=\"{p}")))
    };
    let is_service_reconcile =
        |l: &str| l.starts_with("byoc_reconcile_total{kind=\"CloudService\"");
    let before = op.get("/metrics").await.unwrap().1;
    // The resync interval is 3 s: wait for at least two more reconciles of the service.
    let target = sum(&before, is_service_reconcile) + 2;
    let after = wait_for(
        "two resyncs",
        TIMEOUT,
        || async { op.get("/metrics").await.map(|m| m.1) },
        |m: &String| sum(m, is_service_reconcile) >= target,
    )
    .await;
    assert_eq!(
        sum(&after, is_write),
        sum(&before, is_write),
        "writes during no-op resyncs:\n{after}"
    );
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_later_service_claiming_the_same_host_is_stalled_naming_the_owner() {
    let (w, kube, _op) = start("conflict", 2, &[]).await;
    let (a, b) = (kube.namespaces[0].clone(), kube.namespaces[1].clone());
    kube.apply(&web(&w, &a, "web", "same.example.com")).await;
    ready(&kube, &a, "web").await;
    kube.apply(&web(&w, &b, "web", "same.example.com")).await;
    let message = stalled(&kube, &b, "web", "HostConflict").await;
    assert!(message.contains(&format!("{a}/web")), "{message}");
    let rules = w.inventory().await.into_iter().filter(|(k, _)| k == "ListenerRule").count();
    assert_eq!(rules, 1, "the first service's rule is undisturbed and no second rule exists");
    ready(&kube, &a, "web").await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn an_invalid_reference_is_stalled_with_the_field_named_and_can_still_be_deleted() {
    let (w, kube, _op) = start("invalid", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(
        &web(&w, &ns, "web", "bad.example.com")
            .replace("loadBalancer: public", "loadBalancer: private"),
    )
    .await;
    let message = stalled(&kube, &ns, "web", "InvalidSpec").await;
    assert!(message.contains("spec.ingress.loadBalancer"), "{message}");
    let left = service_leftovers(&w).await;
    assert!(left.is_empty(), "no AWS resource for an invalid service: {left:?}");
    // The account waits for the service that names it.
    kube.accounts().delete(&w.account, &DeleteParams::default()).await.unwrap();
    let accounts = kube.accounts();
    let deleting = wait_for(
        "the account to wait for its service",
        TIMEOUT,
        || async { accounts.get_opt(&w.account).await.ok().flatten() },
        |a| {
            a.status
                .as_ref()
                .and_then(|s| condition(&s.conditions, "Reconciling"))
                .is_some_and(|c| c.1 == "Deleting")
        },
    )
    .await;
    let (_, _, message) = condition(&deleting.status.unwrap().conditions, "Reconciling").unwrap();
    assert!(message.contains(&format!("CloudService {ns}/web")), "{message}");
    kube.services(&ns).delete("web", &DeleteParams::default()).await.unwrap();
    gone(&kube, &ns, "web").await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_controller_crash_and_restart_mid_way_leaves_no_duplicates() {
    let (w, kube, mut op) = start("restart", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", "restart.example.com")).await;
    // Crash as soon as the first AWS resource of the service exists.
    wait_for(
        "a first service resource",
        TIMEOUT,
        || async { Some(w.inventory().await) },
        |inv: &Vec<(String, String)>| {
            inv.iter().any(|(k, _)| k == "LogGroup" || k == "TargetGroup")
        },
    )
    .await;
    op.kill();
    let _op = Operator::start(&kube, &w, &[]);
    ready(&kube, &ns, "web").await;
    assert_one_of_each(&w).await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn the_controller_recovers_from_dropped_watches_and_expired_resource_versions() {
    let (w, kube, _op) = start("watch", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", "watch.example.com")).await;
    ready(&kube, &ns, "web").await;
    // On the stand-in, cut every watch and forget history so the next watch gets 410 Gone; a real
    // cluster does this on its own schedule, and the assertions hold either way.
    if let Some(server) = &kube.stand_in {
        server.compact_history();
        server.faults().drop_watches();
    }
    kube.services(&ns)
        .patch("web", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
    service_where(&kube, &ns, "web", "the scale change reconciled", |s| {
        rollout_desired(s) == Some(2)
    })
    .await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn with_two_replicas_only_the_lease_holder_reconciles_and_a_successor_takes_over() {
    let w = World::with_layer("e2e-leader", World::fast_layer());
    let kube = Kube::start("leader", 1).await;
    let ns = kube.namespaces[0].clone();
    let lease_args = ["--leader-election", "--lease-namespace", &ns, "--lease-name", "byoc-e2e"];
    let mut first = Operator::start(&kube, &w, &lease_args);
    kube.apply(&account_yaml(&w)).await;
    kube.apply(&web(&w, &ns, "web", "leader.example.com")).await;
    ready(&kube, &ns, "web").await;
    let second = Operator::start(&kube, &w, &lease_args);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, metrics) = second.get("/metrics").await.unwrap();
    assert!(metrics.contains("byoc_leader 0"), "the second replica waits: {metrics}");
    assert!(first.terminate(Duration::from_secs(20)).await, "graceful shutdown on SIGTERM");
    kube.services(&ns)
        .patch("web", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    service_where(&kube, &ns, "web", "the successor reconciles", |s| rollout_desired(s) == Some(3))
        .await;
    let (_, metrics) = second.get("/metrics").await.unwrap();
    assert!(metrics.contains("byoc_leader 1"), "{metrics}");
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_changed_secret_value_rolls_the_service_and_never_appears_in_the_task_definition() {
    let (w, kube, _op) = start("secret", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    let secret = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{ name: db, namespace: {ns} }}\nstringData: {{ url: \"{value}\" }}\n"
        )
    };
    kube.apply(&secret("postgres://first")).await;
    let env = "  replicas: 1\n  env: [{ name: DB, valueFrom: { secretKeyRef: { name: db, key: url } } }]\n";
    kube.apply(&web(&w, &ns, "api", "secret.example.com").replace("  replicas: 1\n", env)).await;
    ready(&kube, &ns, "api").await;
    kube.apply(&secret("postgres://second")).await;
    service_where(&kube, &ns, "api", "revision 2 after the secret changed", |s| {
        s.status
            .as_ref()
            .and_then(|st| st.rollout.as_ref())
            .and_then(|r| r.task_definition.clone())
            .is_some_and(|t| t.ends_with(":2"))
    })
    .await;
    let td = w
        .inventory()
        .await
        .into_iter()
        .filter(|(k, _)| k == "TaskDefinition")
        .map(|(_, arn)| arn)
        .max()
        .unwrap();
    let described = w.aws.ecs.describe_task_definition().task_definition(&td).send().await.unwrap();
    let text = format!("{:?}", described.task_definition().unwrap().container_definitions());
    assert!(!text.contains("postgres://"), "secret values never reach the task definition");
    let value = w
        .aws
        .secrets
        .get_secret_value()
        .secret_id(format!("byoc/{ns}/api/DB"))
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("postgres://second"));
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn an_account_refuses_services_from_namespaces_it_does_not_allow() {
    let (w, kube, _op) = start("allowed", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    let restricted = account_yaml(&w).replace(
        "  defaults:",
        "  allowedNamespaces:\n    matchLabels: { team: payments }\n  defaults:",
    );
    kube.apply(&restricted).await;
    kube.apply(&web(&w, &ns, "web", "allowed.example.com")).await;
    let message = stalled(&kube, &ns, "web", "NamespaceNotAllowed").await;
    assert!(message.contains(&ns), "{message}");
    // Labelling the namespace lets the service in on its next reconcile.
    let namespaces = Api::<Namespace>::all(kube.client.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"team": "payments"}}})),
        )
        .await
        .unwrap();
    ready(&kube, &ns, "web").await;
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn an_older_service_moving_onto_a_younger_ones_host_takes_the_route_over() {
    let (w, kube, _op) = start("takeover", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "old", "old.example.com")).await;
    ready(&kube, &ns, "old").await;
    kube.apply(&web(&w, &ns, "young", "shared.example.com")).await;
    ready(&kube, &ns, "young").await;
    kube.apply(&web(&w, &ns, "old", "shared.example.com")).await;
    let message = stalled(&kube, &ns, "young", "HostConflict").await;
    assert!(message.contains(&format!("{ns}/old")), "{message}");
    let old = ready(&kube, &ns, "old").await;
    assert_eq!(old.status.unwrap().url.as_deref(), Some("http://shared.example.com/"));
    let rules = w.inventory().await.into_iter().filter(|(k, _)| k == "ListenerRule").count();
    assert_eq!(rules, 1, "the younger service withdrew its rule");
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn services_applied_before_their_account_become_ready_without_waiting_for_a_resync() {
    let w = World::with_layer("e2e-order", World::fast_layer());
    let kube = Kube::start("order", 1).await;
    let ns = kube.namespaces[0].clone();
    let _op = Operator::start(&kube, &w, &["--resync-interval", "10m"]);
    for i in 0..3 {
        kube.apply(&web(&w, &ns, &format!("web-{i}"), &format!("order-{i}.example.com"))).await;
    }
    stalled(&kube, &ns, "web-0", "AccountNotReady").await;
    kube.apply(&account_yaml(&w)).await;
    for i in 0..3 {
        ready(&kube, &ns, &format!("web-{i}")).await;
    }
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_broken_image_is_stalled_with_ecs_reason_and_resyncs_never_deploy_it_again() {
    // The failed deployment stays listed while its tasks drain, as in ECS, where that takes the
    // target group's deregistration delay (here 3 s rather than 30 s).
    let layer = awslayer::Config { drain: Duration::from_secs(3), ..World::fast_layer() };
    let (w, kube, _op) = start_on(layer, "broken", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    let good = web(&w, &ns, "web", "broken.example.com");
    kube.apply(&good).await;
    let first = ready(&kube, &ns, "web").await.status.unwrap();
    let arn = first.resources.iter().find(|r| r.kind == "EcsService").unwrap().id.clone();
    let name = arn.rsplit('/').next().unwrap().to_string();
    kube.apply(&good.replace("nginx:1.26", "nginx:broken")).await;
    let message = stalled(&kube, &ns, "web", "RolloutFailed").await;
    assert!(message.contains(":2") && message.contains("circuit breaker"), "{message}");

    // The resync interval is 3 s: several resyncs later, still stalled, nothing redeployed.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let layer = w.layer.as_ref().unwrap();
    assert_eq!(layer.deployments_created(&name), 2, "the create and the one broken update");
    let now = kube.services(&ns).get("web").await.unwrap().status.unwrap();
    let (status, reason, _) = condition(&now.conditions, "Stalled").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "RolloutFailed"));
    let rollout = now.rollout.unwrap();
    assert!(rollout.rolled_back && rollout.failed_tasks >= 3, "{rollout:?}");
    assert!(rollout.deployment_id.is_some_and(|id| id.starts_with("ecs-svc/")));
    let events = Api::<Event>::namespaced(kube.client.clone(), &ns).list(&Default::default()).await;
    let reasons: Vec<String> = events.unwrap().items.into_iter().filter_map(|e| e.reason).collect();
    assert!(reasons.iter().any(|r| r == "RolloutFailed"), "{reasons:?}");
    assert!(!reasons.iter().any(|r| r == "DriftCorrected"), "a rollback is not drift: {reasons:?}");
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_service_of_an_account_another_installation_handles_is_left_untouched() {
    let (w, kube, op) = start("shard", 1, &[]).await;
    let ns = kube.namespaces[0].clone();
    // An account outside this operator's --account-selector: another shard's.
    let other = format!("{}-other", w.account);
    kube.apply(&w.account_yaml.replacen(
        &format!("name: {}\n", w.account),
        &format!("name: {other}\n"),
        1,
    ))
    .await;
    kube.apply(&web(&w, &ns, "theirs", "shard.example.com").replace(
        &format!("accountRef: {{ name: {} }}", w.account),
        &format!("accountRef: {{ name: {other} }}"),
    ))
    .await;
    kube.apply(&web(&w, &ns, "ours", "ours.example.com")).await;
    ready(&kube, &ns, "ours").await;
    let reconciles =
        |m: &str| sum(m, |l| l.starts_with("byoc_reconcile_total{") && l.contains("CloudService"));
    let before = reconciles(&op.get("/metrics").await.unwrap().1);
    wait_for(
        "two more reconciles",
        TIMEOUT,
        || async { op.get("/metrics").await.map(|m| reconciles(&m.1)) },
        |n| *n >= before + 2,
    )
    .await;
    let theirs = kube.services(&ns).get("theirs").await.unwrap();
    assert_eq!(theirs.status, None, "a status written for another installation's service");
    assert!(theirs.metadata.finalizers.unwrap_or_default().is_empty());
    kube.services(&ns).delete("theirs", &Default::default()).await.unwrap();
    gone(&kube, &ns, "theirs").await;
    kube.accounts().delete(&other, &Default::default()).await.unwrap();
    kube.cleanup(&[&w.account]).await;
}
