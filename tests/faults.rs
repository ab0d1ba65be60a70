//! Faults, end to end: the `byoc controller` binary against a Kubernetes API (the stand-in, or the
//! real cluster of `BYOC_E2E_KUBECONFIG`) and moto behind the AWS behaviour layer. AWS throttles,
//! answers 5xx and resets connections; the Kubernetes API goes away, conflicts on status writes
//! and drops watches. Every service converges once the faults stop, no transient fault is ever
//! reported as `Stalled`, the operator keeps to its client-side rate limits, and nothing is
//! created twice. The Kubernetes faults need the stand-in's fault hooks; on a real cluster those
//! steps are skipped and the assertions still hold.

mod support;

use std::time::{Duration, Instant};

use byoc::api::CloudService;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::{
    apiserver::faults::Fault as ApiFault,
    awslayer::{Call, Fault, FaultKind},
    e2e::{Kube, Operator, account_yaml, condition, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);

fn services(w: &World, ns: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|name| {
            format!(
                r#"---
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: {name}, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.26
  ports: [{{ name: http, containerPort: 80 }}]
  replicas: 1
  ingress: {{ loadBalancer: public, hosts: [{name}.faults.example.com], port: http }}
"#,
                account = w.account
            )
        })
        .collect()
}

fn is_true(s: &CloudService, kind: &str) -> bool {
    s.status.as_ref().and_then(|st| condition(&st.conditions, kind)).is_some_and(|c| c.0 == "True")
}

/// Waits until every named service is Ready at its current generation, checking all along that
/// none is ever `Stalled`.
async fn all_ready_never_stalled(kube: &Kube, ns: &str, names: &[&str]) {
    let api = kube.services(ns);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let list = api.list(&Default::default()).await;
        if let Ok(list) = list {
            for s in &list.items {
                assert!(
                    !is_true(s, "Stalled"),
                    "a transient fault stalled a service: {:?}",
                    s.status
                );
            }
            let ready = list.items.iter().filter(|s| {
                is_true(s, "Ready")
                    && s.status.as_ref().and_then(|st| st.observed_generation)
                        == s.metadata.generation
            });
            if ready.count() == names.len() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "services not Ready within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Exactly `n` of each per-service resource, and one of each account resource.
async fn assert_no_duplicates(w: &World, n: usize) {
    let inventory = w.inventory().await;
    for (kind, count) in [
        ("EcsService", n),
        ("TargetGroup", n),
        ("ListenerRule", n),
        ("TaskDefinition", n),
        ("LogGroup", n),
        ("EcsCluster", 1),
        ("LoadBalancer", 1),
    ] {
        assert_eq!(
            inventory.iter().filter(|(k, _)| k == kind).count(),
            count,
            "{kind}: {inventory:?}"
        );
    }
}

/// The most ELBv2 requests the operator sent in any one-second window.
fn peak_elb_rate(calls: &[Call]) -> usize {
    let elb: Vec<Duration> = calls.iter().filter(|c| c.service == "elbv2").map(|c| c.at).collect();
    (0..elb.len())
        .map(|i| elb[i..].iter().take_while(|t| **t < elb[i] + Duration::from_secs(1)).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn aws_throttling_server_errors_and_resets_never_stall_a_service_and_leave_no_duplicates() {
    let w = World::with_layer("faults-aws", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let kube = Kube::start("faultsaws", 1).await;
    let ns = kube.namespaces[0].clone();
    let _op = Operator::start(&kube, &w, &[]);
    kube.apply(&account_yaml(&w)).await;
    // For a window: 30 % of all calls throttled, 10 % answered 500, 5 % reset, and a timeout on
    // every third DescribeServices.
    let every = |kind, probability| Fault { operation: None, kind, times: None, probability };
    layer.inject(every(FaultKind::Throttle, 0.3));
    layer.inject(every(FaultKind::ServerError, 0.1));
    layer.inject(every(FaultKind::Reset, 0.05));
    layer.inject(Fault {
        operation: Some("DescribeServices".into()),
        kind: FaultKind::Timeout(Duration::from_secs(2)),
        times: Some(5),
        probability: 0.33,
    });
    let names = ["alpha", "beta", "gamma"];
    kube.apply(&services(&w, &ns, &names)).await;
    // During the window nothing may be reported as needing a change from the user.
    let api = kube.services(&ns);
    let window = Instant::now() + Duration::from_secs(12);
    while Instant::now() < window {
        for s in api.list(&Default::default()).await.map(|l| l.items).unwrap_or_default() {
            assert!(!is_true(&s, "Stalled"), "stalled by a transient fault: {:?}", s.status);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    layer.clear_faults();
    all_ready_never_stalled(&kube, &ns, &names).await;
    assert_no_duplicates(&w, names.len()).await;
    let calls = layer.calls();
    assert!(calls.iter().filter(|c| c.outcome == "throttled").count() > 0, "the window throttled");
    // The operator's client-side limit is 10 ELBv2 requests/s with a burst of 20; the SDK's own
    // retries of throttled and failed requests come on top, with its backoff.
    let peak = peak_elb_rate(&calls);
    println!("peak ELBv2 requests in one second: {peak}; calls: {}", calls.len());
    assert!(peak <= 40, "at most the burst plus retries in any second, got {peak}");
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn the_controller_rides_out_an_unavailable_api_server_status_conflicts_and_lost_watches() {
    let w = World::with_layer("faults-kube", World::fast_layer());
    let kube = Kube::start("faultskube", 1).await;
    let ns = kube.namespaces[0].clone();
    let _op = Operator::start(&kube, &w, &[]);
    kube.apply(&account_yaml(&w)).await;
    let names = ["web"];
    kube.apply(&services(&w, &ns, &names)).await;
    all_ready_never_stalled(&kube, &ns, &names).await;
    let created = w.layer.as_ref().unwrap().count("CreateService");

    kube.services(&ns)
        .patch("web", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
    if let Some(server) = &kube.stand_in {
        // Status writes conflict a few times, then the server goes away for 30 s, cutting every
        // watch and forgetting the history a watch would resume from.
        let faults = server.faults();
        faults.fail_next_matching(3, ApiFault::Conflict, |_, path| path.contains("/status"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        faults.fail_next(usize::MAX, ApiFault::Unavailable);
        faults.drop_watches();
        tokio::time::sleep(Duration::from_secs(30)).await;
        server.compact_history();
        faults.clear();
        let log = faults.request_log();
        assert!(log.iter().any(|r| r.status == 409 && r.path.contains("/status")), "conflicts hit");
        assert!(log.iter().filter(|r| r.status == 503).count() > 3, "the outage was felt");
    }
    let api = kube.services(&ns);
    wait_for(
        "the scale change reconciled after the faults",
        TIMEOUT,
        || async { api.get_opt("web").await.ok().flatten() },
        |s: &CloudService| {
            s.status.as_ref().and_then(|st| st.rollout.as_ref()).is_some_and(|r| r.desired == 2)
                && is_true(s, "Ready")
        },
    )
    .await;
    assert_eq!(w.layer.as_ref().unwrap().count("CreateService"), created, "nothing re-created");
    assert_no_duplicates(&w, 1).await;
    kube.cleanup(&[&w.account]).await;
}
