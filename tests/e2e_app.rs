//! End-to-end, a whole application from a Compose file: the `byoc controller` binary against a Kubernetes API (the
//! stand-in, or the real cluster of `BYOC_E2E_KUBECONFIG`) and moto behind the AWS behaviour
//! layer. A public web service on the team's domain that autoscales, a private API it calls by
//! name and a worker, converted from Compose, in an account with a Service Connect namespace and a
//! Route 53 zone: Ready with the private address in status, a managed certificate issued and the
//! URL https, the autoscaler's count kept across resyncs, and nothing of ours left after deleting.

mod support;

use std::time::Duration;

use byoc::api::CloudService;
use kube::api::DeleteParams;
use support::{
    e2e::{Kube, Operator, account_yaml, condition, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The application as a team runs it with `docker compose up`: a public web front end on the
/// team's domain that autoscales, a private API it calls by its Compose name, a worker.
fn compose_file(zone: &str) -> String {
    format!(
        r#"
name: shop
services:
  web:
    image: nginx:1.27
    domainname: shop.{zone}
    ports: ["443:80"]
    environment:
      API_URL: http://api:8080
    x-byoc:
      loadBalancer: secure
      autoscaling: {{ minReplicas: 1, maxReplicas: 6, targetCpuPercent: 60, targetRequestsPerTask: 500 }}
  api:
    image: nginx:1.27
    expose: ["8080"]
  worker:
    image: busybox:1.36
    command: ["sh", "-c", "while true; do wget -qO- http://api:8080/; sleep 30; done"]
    environment:
      API_URL: http://api:8080
"#
    )
}

/// The Compose project converted as `byoc compose convert` does.
fn application(w: &World, ns: &str, zone: &str) -> String {
    let dir = std::env::temp_dir().join(format!("byoc-e2e-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    std::fs::write(&file, compose_file(zone)).unwrap();
    let options = byoc::compose::Options {
        account: w.account.clone(),
        namespace: ns.to_string(),
        ..byoc::compose::Options::default()
    };
    let converted = byoc::compose::convert(&file, &options).expect("the project converts");
    let _ = std::fs::remove_dir_all(&dir);
    byoc::compose::render(&converted)
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
async fn a_three_service_compose_application_runs_privately_autoscales_on_its_domain_and_leaves_nothing()
 {
    let w = World::with_https_layer("e2e-app", World::fast_layer());
    // The team's public zone in Route 53, named by the account.
    let zone_name = format!("{}.example.org", w.account);
    let zone = w
        .aws
        .route53
        .create_hosted_zone()
        .name(&zone_name)
        .caller_reference(&w.account)
        .send()
        .await
        .unwrap();
    let zone_id = zone.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_string();
    let namespace = format!("{}.internal", w.account);
    let account = account_yaml(&w).replacen(
        "spec:\n",
        &format!(
            "spec:\n  serviceConnect: {{ namespace: {namespace} }}\n  domains:\n    hostedZones: [{{ name: {zone_name}, id: {zone_id} }}]\n"
        ),
        1,
    );
    let kube = Kube::start("app", 1).await;
    let op = Operator::start(&kube, &w, &[]);
    kube.apply(&account).await;
    let ns = kube.namespaces[0].clone();
    kube.apply(&application(&w, &ns, &zone_name)).await;

    let api = ready(&kube, &ns, "api").await;
    assert_eq!(api.status.unwrap().private_addresses, ["api:8080"]);
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
    let records =
        w.aws.route53.list_resource_record_sets().hosted_zone_id(&zone_id).send().await.unwrap();
    let left: Vec<&str> = records
        .resource_record_sets()
        .iter()
        .filter(|r| !["NS", "SOA"].contains(&r.r#type().as_str()))
        .map(|r| r.name())
        .collect();
    assert!(left.is_empty(), "records left in the zone: {left:?}");
    drop(op);
    kube.cleanup(&[]).await;
}
