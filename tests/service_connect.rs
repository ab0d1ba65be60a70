//! Private service-to-service traffic (ECS Service Connect) against the AWS emulator: the
//! account's Cloud Map namespace is created once and owned, every service of the account becomes a
//! client, `spec.private` serves ports at a stable name shown in status, re-applying changes
//! nothing, and deleting leaves nothing.

mod support;

use byoc::resources::{Action, Kind};
use support::moto::World;

const API: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: api, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.26
  ports: [{ name: http, containerPort: 8080 }]
  private: {}
"#;

const WORKER: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: worker, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: busybox:1.36
"#;

/// A world whose account declares a Service Connect namespace.
fn connected(test: &str) -> World {
    let mut w = World::with_layer(test, World::fast_layer());
    let namespace = format!("{}.internal", w.account);
    w.account_yaml = w.account_yaml.replacen(
        "spec:\n",
        &format!("spec:\n  serviceConnect: {{ namespace: {namespace} }}\n"),
        1,
    );
    w
}

async fn ecs_service(w: &World, name: &str) -> aws_sdk_ecs::types::Service {
    let clusters = w.aws.ecs.list_clusters().send().await.unwrap();
    for c in clusters.cluster_arns() {
        let services = w.aws.ecs.list_services().cluster(c).send().await.unwrap();
        for arn in services.service_arns() {
            if arn.contains(&format!("{}-{name}-", w.namespace)) {
                let out = w
                    .aws
                    .ecs
                    .describe_services()
                    .cluster(c)
                    .services(arn)
                    .include(aws_sdk_ecs::types::ServiceField::Tags)
                    .send()
                    .await
                    .unwrap();
                return out.services()[0].clone();
            }
        }
    }
    panic!("no ECS service {name} in {}", w.namespace);
}

#[tokio::test]
async fn a_private_service_answers_at_its_name_and_every_service_is_a_client() {
    let w = connected("connect-private");
    let both = format!("{API}\n---\n{WORKER}");
    let statuses = w.apply(&both).await.unwrap();
    let api = &statuses.iter().find(|(l, _)| l.ends_with("/api")).unwrap().1;
    assert_eq!(api.private_addresses, [format!("api.{}:8080", w.namespace)]);
    let inventory = w.inventory().await;
    assert!(inventory.iter().any(|(k, _)| k == "CloudMapNamespace"), "{inventory:?}");
    // What ECS was told, as the deployment shows it.
    let svc = ecs_service(&w, "api").await;
    let config = svc.deployments()[0].service_connect_configuration().expect("service connect");
    assert!(config.enabled());
    assert!(config.namespace().unwrap().starts_with("arn:aws:servicediscovery:"));
    let served = &config.services()[0];
    assert_eq!(served.port_name(), "http");
    assert_eq!(
        served.client_aliases()[0].dns_name(),
        Some(format!("api.{}", w.namespace).as_str())
    );
    assert_eq!(served.client_aliases()[0].port(), 8080);
    let worker = ecs_service(&w, "worker").await;
    let config = worker.deployments()[0].service_connect_configuration().expect("a client");
    assert!(config.enabled() && config.services().is_empty());
    let writes = w.calls.writes();
    let plan = w.plan(&both).await;
    assert!(plan.iter().all(|(_, p)| p.is_empty()), "{plan:?}");
    w.apply(&both).await.unwrap();
    assert_eq!(w.calls.writes(), writes, "{:?}", w.calls.write_summary());
}

#[tokio::test]
async fn choosing_another_name_updates_the_service_in_place() {
    let w = connected("connect-rename");
    w.apply(API).await.unwrap();
    let renamed = API.replace("private: {}", "private: { name: orders }");
    let plan = w.plan(&renamed).await;
    let api = &plan.iter().find(|(label, _)| label.ends_with("/api")).unwrap().1;
    let change = api.of(Kind::EcsService).next().expect("an update");
    assert!(
        matches!(&change.action, Action::Update(f) if f.iter().any(|c| c.field == "serviceConnect" && c.to.starts_with("orders:8080"))),
        "{change:?}"
    );
    let status = &w.apply(&renamed).await.unwrap()[0].1;
    assert_eq!(status.private_addresses, ["orders:8080"]);
}

#[tokio::test]
async fn private_without_a_namespace_in_the_account_is_refused_naming_the_field() {
    let w = World::new("connect-refused");
    let err = w.apply(API).await.unwrap_err();
    assert!(err.contains("spec.private") && err.contains("serviceConnect"), "{err}");
}

#[tokio::test]
async fn deleting_every_service_and_the_account_leaves_no_namespace() {
    let w = connected("connect-delete");
    let both = format!("{API}\n---\n{WORKER}");
    w.apply(&both).await.unwrap();
    let plan = w.delete(&both).await;
    let namespace = plan.iter().flat_map(|(_, p)| p.of(Kind::Namespace)).next();
    assert!(namespace.is_some(), "{plan:?}");
    let inventory = w.inventory().await;
    assert!(inventory.is_empty(), "{inventory:?}");
}
