//! End-to-end, a whole application: the `byoc controller` binary against a Kubernetes API (the
//! stand-in, or the real cluster of `BYOC_E2E_KUBECONFIG`) and moto behind the AWS behaviour
//! layer. A public web service that autoscales, a private API it calls by name and a worker, in an
//! account with a Service Connect namespace: Ready with the private address in status, the
//! autoscaler's count kept across resyncs, and nothing of ours left after deleting.

mod support;

use std::time::Duration;

use byoc::api::CloudService;
use kube::api::DeleteParams;
use support::{
    e2e::{Kube, Operator, account_yaml, condition, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);

fn application(w: &World, ns: &str) -> String {
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: web, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.27
  ports: [{{ name: http, containerPort: 80 }}]
  env: [{{ name: API_URL, value: "http://api.{ns}:8080" }}]
  ingress: {{ loadBalancer: public, hosts: [{ns}.example.com], port: http }}
  autoscaling: {{ minReplicas: 1, maxReplicas: 6, targetCpuPercent: 60, targetRequestsPerTask: 500 }}
---
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: api, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.27
  ports: [{{ name: http, containerPort: 8080 }}]
  private: {{}}
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

async fn ready(kube: &Kube, ns: &str, name: &str) -> CloudService {
    let api = kube.services(ns);
    wait_for(
        &format!("{ns}/{name} Ready"),
        TIMEOUT,
        || async { api.get_opt(name).await.ok().flatten() },
        |s: &CloudService| {
            let status = s.status.clone().unwrap_or_default();
            condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
                && status.observed_generation == s.metadata.generation
        },
    )
    .await
}

#[tokio::test]
async fn a_three_service_application_runs_privately_autoscales_and_leaves_nothing() {
    let w = World::with_layer("e2e-app", World::fast_layer());
    let namespace = format!("{}.internal", w.account);
    let account = account_yaml(&w).replacen(
        "spec:\n",
        &format!("spec:\n  serviceConnect: {{ namespace: {namespace} }}\n"),
        1,
    );
    let kube = Kube::start("app", 1).await;
    let op = Operator::start(&kube, &w, &[]);
    kube.apply(&account).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&application(&w, &ns)).await;

    let api = ready(&kube, &ns, "api").await;
    assert_eq!(api.status.unwrap().private_addresses, [format!("api.{ns}:8080")]);
    ready(&kube, &ns, "worker").await;
    let web = ready(&kube, &ns, "web").await;
    let scaling = web.status.clone().unwrap().autoscaling.expect("status.autoscaling");
    assert_eq!((scaling.min_replicas, scaling.max_replicas), (1, 6));
    assert_eq!(scaling.policies, ["cpu", "requests"]);
    let accounts = kube.accounts();
    let with_namespace = wait_for(
        "the account to show its namespace",
        TIMEOUT,
        || async { accounts.get_opt(&w.account).await.ok().flatten() },
        |a| a.status.as_ref().is_some_and(|s| s.service_connect_namespace_arn.is_some()),
    )
    .await;
    assert!(
        with_namespace
            .status
            .unwrap()
            .service_connect_namespace_arn
            .unwrap()
            .contains(":namespace/")
    );

    // The autoscaler scales the web service out; resyncs must leave its choice alone.
    // scripts/lib/prereqs.py names the cluster after the account.
    let cluster = format!("byoc-{}", w.account);
    let services = w.aws.ecs.list_services().cluster(&cluster).send().await.unwrap();
    let web_service =
        services.service_arns().iter().find(|a| a.contains(&format!("{ns}-web-"))).unwrap().clone();
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&web_service)
        .desired_count(4)
        .send()
        .await
        .unwrap();
    let layer = w.layer.as_ref().unwrap();
    let seen = layer.calls().len();
    let web_api = kube.services(&ns);
    wait_for(
        "the status to show the autoscaler's count",
        TIMEOUT,
        || async { web_api.get_opt("web").await.ok().flatten() },
        |s: &CloudService| {
            s.status
                .as_ref()
                .and_then(|st| st.autoscaling.as_ref())
                .is_some_and(|a| a.desired_replicas == 4)
        },
    )
    .await;
    // Two more resyncs (3 s each) with the count untouched by the operator.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let operator_updates: Vec<_> = layer.calls()[seen..]
        .iter()
        .filter(|c| c.operation == "UpdateService" || c.operation == "RegisterScalableTarget")
        .cloned()
        .collect();
    assert!(operator_updates.is_empty(), "the operator changed the count: {operator_updates:?}");
    let svc = w
        .aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(&web_service)
        .send()
        .await
        .unwrap();
    assert_eq!(svc.services()[0].desired_count(), 4);

    for name in ["web", "api", "worker"] {
        kube.services(&ns).delete(name, &DeleteParams::default()).await.unwrap();
    }
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
    drop(op);
    kube.cleanup(&[]).await;
}
