//! End-to-end: previews and suspension. A CloudService annotated `byoc.dev/plan-only: "true"` gets
//! its plan against live AWS in `status.plan` with no AWS write; `spec.suspend: true` leaves a
//! service and its AWS resources alone (no writes, drift kept) until it is resumed, and deleting a
//! suspended service still deletes its AWS resources. AWS writes are counted from the operator's
//! own `/metrics`, so the tests run unchanged against a real cluster (`BYOC_E2E_KUBECONFIG`).

mod support;

use std::time::Duration;

use byoc::api::{CloudService, FINALIZER, PlannedAction};
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;
use support::{
    e2e::{Kube, Operator, account_yaml, condition, service_gone, service_where, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(60);

async fn start(prefix: &str) -> (World, Kube, Operator) {
    let w = World::with_layer(&format!("e2e-{prefix}"), World::fast_layer());
    let kube = Kube::start(prefix, 1).await;
    let op = Operator::start(&kube, &w, &[]);
    kube.apply(&account_yaml(&w)).await;
    // The account's own resources are created before anything is counted.
    wait_for(
        "the account to be Ready",
        TIMEOUT,
        || async { kube.accounts().get_opt(&w.account).await.ok().flatten() },
        |a| {
            a.status
                .as_ref()
                .and_then(|s| condition(&s.conditions, "Ready"))
                .is_some_and(|c| c.0 == "True")
        },
    )
    .await;
    (w, kube, op)
}

/// A service with ingress; `plan_only` adds the annotation, `extra` more spec lines.
fn web(w: &World, ns: &str, name: &str, plan_only: bool, extra: &str) -> String {
    let annotations = if plan_only { r#"annotations: { byoc.dev/plan-only: "true" }"# } else { "" };
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata:
  name: {name}
  namespace: {ns}
  {annotations}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.26
  ports: [{{ name: http, containerPort: 80 }}]
  healthCheck: {{ path: /healthz }}
  ingress: {{ loadBalancer: public, hosts: [{name}.preview.example.com], paths: ["/*"], port: http }}
{extra}
"#,
        account = w.account
    )
}

/// AWS writes the operator made so far, from its `/metrics`.
async fn writes(op: &Operator) -> u64 {
    let metrics = op.get("/metrics").await.expect("/metrics").1;
    metrics
        .lines()
        .filter(|l| l.starts_with("byoc_aws_api_calls_total{"))
        .filter(|l| {
            let op = l.split("operation=\"").nth(1).unwrap_or_default();
            !["Describe", "List", "Get", "BatchGet", "Head"].iter().any(|p| op.starts_with(p))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// CloudService reconciles finished so far, from `/metrics`.
async fn reconciles(op: &Operator) -> u64 {
    let metrics = op.get("/metrics").await.expect("/metrics").1;
    metrics
        .lines()
        .filter(|l| l.starts_with("byoc_reconcile_total{") && l.contains("kind=\"CloudService\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits for `n` more CloudService reconciles than `from`.
async fn more_reconciles(op: &Operator, from: u64, n: u64) {
    wait_for(
        &format!("{n} more reconciles"),
        TIMEOUT,
        || async { Some(reconciles(op).await) },
        |now| *now >= from + n,
    )
    .await;
}

/// The service's resources in AWS (the account's own left out).
async fn service_resources(w: &World) -> Vec<(String, String)> {
    w.inventory()
        .await
        .into_iter()
        .filter(|(k, _)| !["EcsCluster", "LoadBalancer"].contains(&k.as_str()))
        .collect()
}

fn ready_for_generation(s: &CloudService) -> bool {
    let status = s.status.clone().unwrap_or_default();
    status.observed_generation == s.metadata.generation
        && condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
}

fn planned(s: &CloudService) -> bool {
    s.status
        .as_ref()
        .and_then(|st| st.plan.as_ref())
        .is_some_and(|p| p.observed_generation == s.metadata.generation)
}

async fn desired_count(w: &World, service: &str) -> i32 {
    let cluster = format!("byoc-{}", w.account);
    let d = w.aws.ecs.describe_services().cluster(&cluster).services(service).send().await.unwrap();
    d.services()[0].desired_count()
}

#[tokio::test]
async fn a_plan_only_service_publishes_its_plan_with_no_aws_write_until_the_annotation_goes() {
    let (w, kube, op) = start("preview").await;
    let ns = kube.namespaces[0].clone();
    let before = writes(&op).await;

    // A new service: the plan creates its whole stack, and nothing is created.
    kube.apply(&web(&w, &ns, "web", true, "")).await;
    let s = service_where(&kube, &ns, "web", "a plan", TIMEOUT, planned).await;
    let status = s.status.clone().unwrap();
    let plan = status.plan.clone().unwrap();
    assert!(plan.pending, "{plan:?}");
    for kind in ["LogGroup", "TargetGroup", "ListenerRule", "TaskDefinition", "EcsService"] {
        assert!(
            plan.changes.iter().any(|c| c.kind == kind && c.action == PlannedAction::Create),
            "{kind} created in {plan:?}"
        );
    }
    assert!(plan.text.starts_with(&format!("CloudService {ns}/web\n")), "{}", plan.text);
    assert!(plan.text.contains("+ create  EcsService"), "{}", plan.text);
    let ready = condition(&status.conditions, "Ready").unwrap();
    assert_eq!((ready.0.as_str(), ready.1.as_str()), ("False", "PlanOnly"), "{ready:?}");
    assert!(ready.2.contains("change(s) pending"), "{ready:?}");
    for other in ["Reconciling", "Stalled"] {
        assert_eq!(condition(&status.conditions, other).unwrap().0, "False", "{other}");
    }
    assert!(!s.metadata.finalizers.unwrap_or_default().contains(&FINALIZER.to_string()));
    // Resyncs recompute the plan, still with no write.
    more_reconciles(&op, reconciles(&op).await, 2).await;
    assert_eq!(writes(&op).await, before, "AWS writes while plan-only");
    assert_eq!(service_resources(&w).await, Vec::<(String, String)>::new());

    // A younger service may take the same host: a preview holds no route.
    let other = web(&w, &ns, "web", false, "").replace("name: web\n", "name: other\n");
    kube.apply(&other).await;
    service_where(&kube, &ns, "other", "Ready", TIMEOUT, ready_for_generation).await;
    kube.services(&ns).delete("other", &Default::default()).await.unwrap();
    service_gone(&kube, &ns, "other", TIMEOUT).await;

    // Without the annotation the spec is applied and the plan leaves the status.
    kube.apply(&web(&w, &ns, "web", false, "")).await;
    let s = service_where(&kube, &ns, "web", "Ready", TIMEOUT, ready_for_generation).await;
    assert_eq!(s.status.unwrap().plan, None);
    let ecs = service_resources(&w).await.into_iter().find(|(k, _)| k == "EcsService").unwrap().1;
    assert_eq!(desired_count(&w, &ecs).await, 1);

    // A change previewed: the plan updates the desired count; AWS keeps the old one.
    let before = writes(&op).await;
    kube.apply(&web(&w, &ns, "web", true, "  replicas: 2")).await;
    let s = service_where(&kube, &ns, "web", "a plan of the change", TIMEOUT, planned).await;
    let plan = s.status.unwrap().plan.unwrap();
    let change = plan.changes.iter().find(|c| c.kind == "EcsService").expect("an ECS change");
    assert_eq!(change.action, PlannedAction::Update, "{plan:?}");
    assert!(
        change.fields.iter().any(|f| f.field == "desiredCount" && f.from == "1" && f.to == "2"),
        "{change:?}"
    );
    more_reconciles(&op, reconciles(&op).await, 2).await;
    assert_eq!(writes(&op).await, before, "AWS writes while plan-only");
    assert_eq!(desired_count(&w, &ecs).await, 1);

    // Applied once the annotation goes.
    kube.apply(&web(&w, &ns, "web", false, "  replicas: 2")).await;
    service_where(&kube, &ns, "web", "Ready with 2 tasks", TIMEOUT, |s| {
        ready_for_generation(s)
            && s.status.as_ref().and_then(|st| st.rollout.as_ref()).is_some_and(|r| r.desired == 2)
    })
    .await;
    assert_eq!(desired_count(&w, &ecs).await, 2);
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_suspended_service_is_left_alone_until_resumed_and_deleting_it_still_cleans_aws() {
    let (w, kube, op) = start("suspend").await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&web(&w, &ns, "web", false, "")).await;
    service_where(&kube, &ns, "web", "Ready", TIMEOUT, ready_for_generation).await;
    let ecs = service_resources(&w).await.into_iter().find(|(k, _)| k == "EcsService").unwrap().1;

    kube.apply(&web(&w, &ns, "web", false, "  suspend: true")).await;
    let suspended = |s: &CloudService| {
        s.status.iter().flat_map(|st| &st.conditions).any(|c| {
            c.type_ == "Suspended"
                && c.status == "True"
                && c.reason == "Suspended"
                && c.observed_generation == s.metadata.generation
        })
    };
    service_where(&kube, &ns, "web", "Suspended", TIMEOUT, suspended).await;

    // A spec change and drift in AWS, both left alone.
    let before = writes(&op).await;
    let cluster = format!("byoc-{}", w.account);
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&ecs)
        .desired_count(3)
        .send()
        .await
        .unwrap();
    kube.apply(&web(&w, &ns, "web", false, "  suspend: true\n  replicas: 2")).await;
    let s = service_where(&kube, &ns, "web", "Suspended at the new generation", TIMEOUT, suspended)
        .await;
    // The status keeps the last observation: Ready for the generation applied before.
    let status = s.status.unwrap();
    assert_ne!(status.observed_generation, s.metadata.generation);
    assert_eq!(condition(&status.conditions, "Ready").unwrap().0, "True");
    // Three resync intervals (3 s each in these tests) in which a resync would correct drift.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(writes(&op).await, before, "AWS writes while suspended");
    assert_eq!(desired_count(&w, &ecs).await, 3, "drift corrected while suspended");

    // Resumed: the spec applies (2 tasks), the Suspended condition goes, with an event.
    kube.apply(&web(&w, &ns, "web", false, "  replicas: 2")).await;
    let s = service_where(&kube, &ns, "web", "resumed and Ready", TIMEOUT, |s| {
        ready_for_generation(s)
            && s.status.as_ref().and_then(|st| st.rollout.as_ref()).is_some_and(|r| r.desired == 2)
    })
    .await;
    assert!(condition(&s.status.unwrap().conditions, "Suspended").is_none());
    assert_eq!(desired_count(&w, &ecs).await, 2);
    let events = Api::<Event>::namespaced(kube.client.clone(), &ns);
    wait_for(
        "Suspended and Resumed events",
        TIMEOUT,
        || async { events.list(&Default::default()).await.ok() },
        |list| {
            ["Suspended", "Resumed"]
                .iter()
                .all(|r| list.items.iter().any(|e| e.reason.as_deref() == Some(*r)))
        },
    )
    .await;

    // Suspended again, then deleted: the AWS resources go all the same.
    let patch = json!({"spec": {"suspend": true}});
    kube.services(&ns).patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    service_where(&kube, &ns, "web", "Suspended", TIMEOUT, suspended).await;
    kube.services(&ns).delete("web", &Default::default()).await.unwrap();
    service_gone(&kube, &ns, "web", TIMEOUT).await;
    assert_eq!(service_resources(&w).await, Vec::<(String, String)>::new());
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_preview_of_a_new_account_and_its_service_makes_no_aws_write_at_all() {
    let w = World::with_layer("e2e-preview-account", World::fast_layer());
    let kube = Kube::start("preview-account", 1).await;
    let op = Operator::start(&kube, &w, &[]);
    let ns = kube.namespaces[0].clone();
    let plan_only = |yaml: String| {
        yaml.replacen(
            &format!("  name: {}\n", w.account),
            &format!("  name: {}\n  annotations:\n    byoc.dev/plan-only: \"true\"\n", w.account),
            1,
        )
    };
    kube.apply(&plan_only(account_yaml(&w))).await;
    kube.apply(&web(&w, &ns, "web", true, "")).await;

    let account = wait_for(
        "the account's plan",
        TIMEOUT,
        || async { kube.accounts().get_opt(&w.account).await.ok().flatten() },
        |a| a.status.as_ref().is_some_and(|s| s.plan.is_some()),
    )
    .await;
    let status = account.status.unwrap();
    let plan = status.plan.unwrap();
    for kind in ["EcsCluster", "LoadBalancer", "Listener"] {
        assert!(
            plan.changes.iter().any(|c| c.kind == kind && c.action == PlannedAction::Create),
            "{kind} created in {plan:?}"
        );
    }
    assert_eq!(condition(&status.conditions, "Ready").unwrap().1, "PlanOnly");
    let s = service_where(&kube, &ns, "web", "a plan", TIMEOUT, planned).await;
    let plan = s.status.unwrap().plan.unwrap();
    assert!(
        plan.changes.iter().any(|c| c.kind == "EcsService" && c.action == PlannedAction::Create),
        "{plan:?}"
    );
    more_reconciles(&op, reconciles(&op).await, 2).await;
    assert_eq!(writes(&op).await, 0, "AWS writes of a preview");
    assert_eq!(w.inventory().await, Vec::<(String, String)>::new());

    // The account applied; the service stays a preview, now planned against the real account.
    kube.apply(&account_yaml(&w)).await;
    wait_for(
        "the account to be Ready",
        TIMEOUT,
        || async { kube.accounts().get_opt(&w.account).await.ok().flatten() },
        |a| {
            a.status.as_ref().is_some_and(|s| {
                s.plan.is_none() && condition(&s.conditions, "Ready").is_some_and(|c| c.0 == "True")
            })
        },
    )
    .await;
    let s = service_where(&kube, &ns, "web", "a plan against the account", TIMEOUT, |s| {
        planned(s) && condition(&s.status.clone().unwrap().conditions, "Ready").is_some()
    })
    .await;
    assert!(s.status.unwrap().plan.unwrap().pending);
    assert!(service_resources(&w).await.is_empty());
    kube.cleanup(&[&w.account]).await;
}
