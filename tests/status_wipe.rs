//! The operator's memory is AWS itself, found by name and ownership tags, never its own status:
//! a restarted controller with nothing to do writes nothing, and one that finds every status
//! wiped finds the same AWS resources again (same ARNs) and creates nothing, deploys nothing and
//! registers no task definition. The `byoc controller` binary against the Kubernetes API stand-in
//! (or the cluster of `BYOC_E2E_KUBECONFIG`) and moto behind the AWS behaviour layer.

mod support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use byoc::api::{CloudAccount, CloudService};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::{
    crash::ARGS,
    e2e::{Kube, Operator, account_yaml, condition, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);

/// `web`: every kind of resource a service can have (repository, secret, rule, target group);
/// `worker`: no ingress.
fn services_yaml(w: &World, ns: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{ name: db, namespace: {ns} }}
stringData: {{ url: "postgres://db" }}
---
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: web, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.27
  ports: [{{ name: http, containerPort: 80 }}]
  replicas: 2
  env: [{{ name: DB, valueFrom: {{ secretKeyRef: {{ name: db, key: url }} }} }}]
  healthCheck: {{ path: /healthz }}
  ingress: {{ loadBalancer: public, hosts: [wipe.example.com], paths: ["/*"], port: http }}
  repository: {{ keepLastImages: 5 }}
---
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: worker, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: busybox:1.36
  command: ["sh", "-c", "sleep 3600"]
"#,
        account = w.account
    )
}

const SERVICES: [&str; 2] = ["web", "worker"];

fn ready_now(s: &CloudService) -> bool {
    let status = s.status.clone().unwrap_or_default();
    condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
        && status.observed_generation == s.metadata.generation
}

/// Ready, and counting web's rule (its usage counts are refreshed by the account's resync).
fn account_ready_now(a: &CloudAccount) -> bool {
    let status = a.status.clone().unwrap_or_default();
    condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
        && status.observed_generation == a.metadata.generation
        && status.load_balancers.iter().any(|l| l.rules == 1)
}

/// Every service Ready and the account Ready; their objects.
async fn all_ready(kube: &Kube, w: &World) -> (Vec<CloudService>, CloudAccount) {
    let ns = &kube.namespaces[0];
    let mut services = Vec::new();
    for name in SERVICES {
        let api = kube.services(ns);
        let what = format!("{ns}/{name} to be Ready");
        let s = wait_for(
            &what,
            TIMEOUT,
            || async { api.get_opt(name).await.ok().flatten() },
            ready_now,
        )
        .await;
        services.push(s);
    }
    let api = kube.accounts();
    let account = wait_for(
        "the account to be Ready",
        TIMEOUT,
        || async { api.get_opt(&w.account).await.ok().flatten() },
        account_ready_now,
    )
    .await;
    (services, account)
}

/// A world with the services Ready, and their controller (resyncing every 3 s, so that the
/// account's status soon counts web's rule).
async fn ready_world(prefix: &str) -> (World, Kube, Operator) {
    let w = World::with_layer(prefix, World::fast_layer());
    let kube = Kube::start(prefix, 1).await;
    let op = Operator::start(&kube, &w, &[]);
    kube.apply(&account_yaml(&w)).await;
    kube.apply(&services_yaml(&w, &kube.namespaces[0])).await;
    all_ready(&kube, &w).await;
    (w, kube, op)
}

/// Sum of the metric lines `keep` selects.
fn sum(metrics: &str, keep: impl Fn(&str) -> bool) -> u64 {
    metrics
        .lines()
        .filter(|l| keep(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The AWS write operations in the operator's `byoc_aws_api_calls_total`, with counts.
fn aws_writes(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("byoc_aws_api_calls_total"))
        .filter(|l| {
            let op = l.split("operation=\"").nth(1).and_then(|r| r.split('"').next());
            op.is_some_and(byoc::aws::is_write)
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_restarted_controller_with_nothing_to_do_writes_nothing() {
    let (w, kube, mut op) = ready_world("restart-quiet").await;
    assert!(op.terminate(Duration::from_secs(20)).await, "graceful shutdown on SIGTERM");
    // Armed with every failpoint: any write at all (AWS, finalizer, status) kills it.
    let points = byoc::failpoint::all().join(",");
    let log = std::env::temp_dir().join(format!("byoc-quiet-{}.log", w.account));
    let log_path = log.display().to_string();
    let env = [("BYOC_FAILPOINT", points.as_str()), ("BYOC_FAILPOINT_LOG", log_path.as_str())];
    let mut op = Operator::start_with_env(&kube, &w, &ARGS, &env);
    let reconciles = |m: &str, kind: &str| {
        sum(m, |l| l.starts_with(&format!("byoc_reconcile_total{{kind=\"{kind}\"")))
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = op.wait_exit(Duration::from_millis(200)).await {
            let reached = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the restarted controller wrote ({status}); points reached: {reached}");
        }
        let metrics = op.get("/metrics").await.map(|m| m.1).unwrap_or_default();
        if reconciles(&metrics, "CloudService") >= 2 && reconciles(&metrics, "CloudAccount") >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no reconcile of every object: {metrics}");
    }
    // A moment for anything that would follow the first reconciles.
    assert!(op.wait_exit(Duration::from_secs(3)).await.is_none(), "the controller died writing");
    let reached = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(reached.is_empty(), "points reached: {reached}");
    let _ = std::fs::remove_file(&log);
    let _op = Operator::start(&kube, &w, &ARGS);
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn wiping_every_status_finds_the_same_aws_resources_again_and_creates_nothing() {
    let (w, kube, mut op) = ready_world("status-wipe").await;
    let ns = kube.namespaces[0].clone();
    let (services, account) = all_ready(&kube, &w).await;
    assert!(op.terminate(Duration::from_secs(20)).await, "graceful shutdown on SIGTERM");

    let wipe = Patch::Merge(json!({"status": null}));
    for name in SERVICES {
        let wiped = kube.services(&ns).patch_status(name, &PatchParams::default(), &wipe).await;
        assert!(wiped.unwrap().status.is_none());
    }
    let wiped = kube.accounts().patch_status(&w.account, &PatchParams::default(), &wipe).await;
    assert!(wiped.unwrap().status.is_none());
    let layer = w.layer.as_ref().unwrap();
    let creates = || {
        layer
            .calls()
            .iter()
            .filter(|c| c.operation.starts_with("Create") || c.operation.starts_with("Register"))
            .count()
    };
    let ecs_name = |s: &CloudService| {
        let status = s.status.as_ref().unwrap();
        let arn = &status.resources.iter().find(|r| r.kind == "EcsService").unwrap().id;
        arn.rsplit('/').next().unwrap().to_string()
    };
    let created_before = creates();
    let registered_before = layer.count("RegisterTaskDefinition");
    let deployments_before: Vec<usize> =
        services.iter().map(|s| layer.deployments_created(&ecs_name(s))).collect();

    let op = Operator::start(&kube, &w, &ARGS);
    let (again, account_again) = all_ready(&kube, &w).await;
    for (before, after) in services.iter().zip(&again) {
        let (b, a) = (before.status.as_ref().unwrap(), after.status.as_ref().unwrap());
        let ids = |s: &byoc::api::CloudServiceStatus| -> BTreeSet<(String, String)> {
            s.resources.iter().map(|r| (r.kind.clone(), r.id.clone())).collect()
        };
        assert_eq!(ids(a), ids(b), "the same AWS resources, found again");
        let rollout = |s: &byoc::api::CloudServiceStatus| {
            s.rollout.as_ref().map(|r| (r.task_definition.clone(), r.deployment_id.clone()))
        };
        assert_eq!(rollout(a), rollout(b), "the same revision and deployment");
        assert_eq!(a.url, b.url);
    }
    let (b, a) = (account.status.unwrap(), account_again.status.unwrap());
    assert_eq!(a.cluster_arn, b.cluster_arn);
    let found = |s: &byoc::api::CloudAccountStatus| -> Vec<_> {
        let lbs = s.load_balancers.iter();
        lbs.map(|l| (l.name.clone(), l.arn.clone(), l.dns_name.clone(), l.listener_arn.clone()))
            .collect()
    };
    assert_eq!(found(&a), found(&b), "the same load balancers and listeners");

    let metrics = op.get("/metrics").await.unwrap().1;
    assert_eq!(aws_writes(&metrics), Vec::<String>::new(), "no AWS write at all");
    assert_eq!(creates(), created_before, "no create call reached AWS");
    assert_eq!(layer.count("RegisterTaskDefinition"), registered_before);
    let deployments: Vec<usize> =
        services.iter().map(|s| layer.deployments_created(&ecs_name(s))).collect();
    assert_eq!(deployments, deployments_before, "no new deployment");
    kube.cleanup(&[&w.account]).await;
}
