//! Ownership: AWS resources without our ownership tags are never modified or deleted: not when a
//! service's resource has their name (apply stops with `OwnershipConflict`), not when the service is
//! deleted, not when its account is torn down; a listener rule we do not own keeps its priority
//! beside ours and outlives the account's teardown; a load balancer with our name but not ours is
//! refused and does not block `byoc delete`. AWS is moto behind the AWS behaviour layer,
//! whose call log shows every request the operator made.

mod support;

use std::time::Duration;

use byoc::{aws::is_write, desired::Owner, oneshot, resources::account};
use kube::api::DeleteParams;
use support::{
    awslayer::Layer,
    corpus,
    e2e::{
        Kube, Operator, condition, has_condition, labelled_account, service_gone, service_where,
        wait_for,
    },
    foreign::{self, Foreign},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A service with every kind of resource: repository, secret env, route, log group, ECS service.
fn service(name: &str, host: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{ name: {name}-db, namespace: shop }}
stringData: {{ url: "postgres://{name}.internal/app" }}
---
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: {name}, namespace: shop }}
spec:
  accountRef: {{ name: ACCOUNT }}
  image: nginx:1.27
  ports: [{{ name: http, containerPort: 80 }}]
  env: [{{ name: DB, valueFrom: {{ secretKeyRef: {{ name: {name}-db, key: url }} }} }}]
  ingress: {{ loadBalancer: public, hosts: [{host}], port: http }}
  repository: {{}}
"#
    )
}

/// Writes the layer saw after the first `mark` calls.
fn writes_since(layer: &Layer, mark: usize) -> Vec<String> {
    layer.calls()[mark..]
        .iter()
        .filter(|c| is_write(&c.operation))
        .map(|c| format!("{} {}", c.service, c.operation))
        .collect()
}

async fn snapshots(aws: &byoc::aws::Aws, all: &[Foreign]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for f in all {
        out.push(foreign::snapshot(aws, f).await);
    }
    out
}

#[tokio::test]
async fn same_named_resources_without_our_tags_survive_apply_delete_and_account_teardown() {
    let w = World::with_layer("foreign-names", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let vpc = corpus::vpc_id(&w.account_yaml);
    // The ECS cluster of the account exists already, not ours: it is used, never changed.
    let m = w.manifests("");
    let spec = &m.accounts[&w.account].spec;
    let cluster = Foreign::Cluster(spec.cluster.name.clone());
    foreign::create(&w.aws, &cluster, &vpc).await;
    let state = account::ensure(&w.aws, &w.account, spec, &w.cluster_id).await.unwrap();
    let listener = state.load_balancers["public"].listener_arn.clone().unwrap();
    let rule = foreign::listener_rule(
        &w.aws,
        &listener,
        7,
        "foreign.example.com",
        &format!("fr-{}", std::process::id()),
        &vpc,
    )
    .await;

    // One service per kind, each finding a resource of that kind with its name that is not ours.
    let kinds = ["repo", "logs", "secret", "tg", "ecs"];
    let mut all = vec![cluster, rule];
    let mut expected = Vec::new();
    for kind in kinds {
        let m = w.manifests(&service(kind, &format!("{kind}.example.com")));
        let stack = &oneshot::prepare(&m, &w.cluster_id).unwrap()[0].stack;
        let (f, message) = match kind {
            "repo" => {
                let name = stack.repository.as_ref().unwrap().name.clone();
                (Foreign::Repository(name.clone()), format!("EcrRepository {name}"))
            }
            "logs" => (
                Foreign::LogGroup(stack.log_group.name.clone()),
                format!("LogGroup {}", stack.log_group.name),
            ),
            "secret" => (
                Foreign::Secret(stack.secrets[0].name.clone()),
                format!("Secret {}", stack.secrets[0].name),
            ),
            "tg" => {
                let name = stack.ingress.as_ref().unwrap().target_group_name.clone();
                (Foreign::TargetGroup(name.clone()), format!("TargetGroup {name}"))
            }
            _ => (
                Foreign::EcsService(stack.cluster.clone(), stack.service.name.clone()),
                format!("EcsService {}", stack.service.name),
            ),
        };
        foreign::create(&w.aws, &f, &vpc).await;
        all.push(f);
        expected.push((kind, message));
    }
    let before = snapshots(&w.aws, &all).await;
    assert!(before.iter().all(Option::is_some), "{before:?}");
    let mark = layer.calls().len();

    for (kind, message) in &expected {
        let err = w.apply(&service(kind, &format!("{kind}.example.com"))).await.unwrap_err();
        assert!(
            err.contains(&format!(
                "{message} exists without our ownership tags; it is left untouched"
            )),
            "{kind}: {err}"
        );
    }
    let every_service: String = kinds
        .iter()
        .map(|k| service(k, &format!("{k}.example.com")))
        .collect::<Vec<_>>()
        .join("---\n");
    let plans = w.delete(&every_service).await;
    for (label, plan) in &plans[..kinds.len()] {
        assert!(plan.is_empty(), "{label} had nothing of ours to delete: {plan}");
    }
    let (_, account_plan) = plans.last().unwrap();
    let kept = account_plan.to_string();
    assert!(kept.contains("not created by this installation"), "the cluster is kept: {kept}");
    assert!(kept.contains("1 listener rule(s) still route"), "the load balancer is kept: {kept}");

    assert_eq!(writes_since(&layer, mark), Vec::<String>::new(), "no write at all");
    let after = snapshots(&w.aws, &all).await;
    for ((f, b), a) in all.iter().zip(&before).zip(&after) {
        assert_eq!(a, b, "{f:?} changed");
    }
    assert!(
        w.inventory().await.iter().all(|(k, _)| k == "LoadBalancer"),
        "only our load balancer is left"
    );
}

#[tokio::test]
async fn a_listener_rule_we_do_not_own_keeps_its_priority_beside_ours_and_outlives_the_account() {
    let w = World::with_layer("foreign-rule", World::fast_layer());
    let vpc = corpus::vpc_id(&w.account_yaml);
    let m = w.manifests("");
    let spec = &m.accounts[&w.account].spec;
    let state = account::ensure(&w.aws, &w.account, spec, &w.cluster_id).await.unwrap();
    let listener = state.load_balancers["public"].listener_arn.clone().unwrap();
    // Priority 1 is the one our most specific route would take.
    let rule = foreign::listener_rule(
        &w.aws,
        &listener,
        1,
        "shop.example.com",
        &format!("fr1-{}", std::process::id()),
        &vpc,
    )
    .await;
    let before = foreign::snapshot(&w.aws, &rule).await.unwrap();

    let ours = [service("api", "api.example.com"), service("web", "web.example.com")].join("---\n");
    w.apply(&ours).await.unwrap();
    // A route more specific than the others moves our rules' priorities around it.
    let moved = ours.replace(
        "hosts: [web.example.com], port: http",
        "hosts: [web.example.com], paths: [\"/v2/*\"], port: http",
    );
    w.apply(&moved).await.unwrap();
    assert_eq!(
        foreign::snapshot(&w.aws, &rule).await.as_ref(),
        Some(&before),
        "untouched by our routes"
    );
    let rules = w.aws.elb.describe_rules().listener_arn(&listener).send().await.unwrap();
    let priorities: Vec<&str> = rules.rules().iter().filter_map(|r| r.priority()).collect();
    assert_eq!(priorities.iter().filter(|p| **p == "1").count(), 1, "{priorities:?}");

    let plans = w.delete(&moved).await;
    let kept = plans.last().unwrap().1.to_string();
    assert!(kept.contains("1 listener rule(s) still route"), "the load balancer stays: {kept}");
    assert_eq!(
        foreign::snapshot(&w.aws, &rule).await,
        Some(before),
        "the rule outlives the teardown"
    );
    let left: Vec<_> =
        w.inventory().await.into_iter().filter(|(k, _)| k == "ListenerRule").collect();
    assert!(left.is_empty(), "our rules are gone: {left:?}");
}

#[tokio::test]
async fn a_service_stalled_on_a_foreign_resource_deletes_without_touching_it() {
    let w = World::with_layer("e2e-foreign", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let kube = Kube::start("foreign", 1).await;
    let ns = kube.namespaces[0].clone();
    let _op = Operator::start(&kube, &w, &[]);
    kube.apply(&labelled_account(&w, &w.account_yaml)).await;
    let accounts = kube.accounts();
    wait_for(
        "the account to be ready",
        TIMEOUT,
        || async { accounts.get_opt(&w.account).await.ok().flatten() },
        |a| {
            a.status
                .as_ref()
                .is_some_and(|s| condition(&s.conditions, "Ready").is_some_and(|c| c.0 == "True"))
        },
    )
    .await;
    let owner = Owner {
        namespace: ns.clone(),
        name: "web".into(),
        uid: String::new(),
        cluster_id: String::new(),
    };
    let group = Foreign::LogGroup(owner.log_group_name());
    foreign::create(&w.aws, &group, "").await;
    let before = foreign::snapshot(&w.aws, &group).await;
    let mark = layer.calls().len();

    let yaml = service("web", "stalled.example.com")
        .replace("ACCOUNT", &w.account)
        .replace("namespace: shop", &format!("namespace: {ns}"));
    kube.apply(&yaml).await;
    let stalled = service_where(&kube, &ns, "web", "Stalled OwnershipConflict", TIMEOUT, |s| {
        has_condition(s, "Stalled", Some("OwnershipConflict"))
    })
    .await;
    let (_, _, message) = condition(&stalled.status.unwrap().conditions, "Stalled").unwrap();
    assert!(message.contains(&format!("LogGroup {}", owner.log_group_name())), "{message}");
    kube.services(&ns).delete("web", &DeleteParams::default()).await.unwrap();
    service_gone(&kube, &ns, "web", TIMEOUT).await;

    assert_eq!(
        writes_since(&layer, mark),
        Vec::<String>::new(),
        "no write while stalled or deleting"
    );
    assert_eq!(foreign::snapshot(&w.aws, &group).await, before, "the log group is untouched");
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test]
async fn a_load_balancer_with_our_name_but_not_ours_is_refused_and_deletion_still_works() {
    let w = World::with_layer("foreign-lb", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let m = w.manifests("");
    let spec = &m.accounts[&w.account].spec;
    let name = account::load_balancer_name(&w.account, &spec.load_balancers[0]);
    let created = w
        .aws
        .elb
        .create_load_balancer()
        .name(&name)
        .set_subnets(Some(spec.network.subnet_ids.clone()))
        .send()
        .await
        .unwrap();
    let arn = created.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let mark = layer.calls().len();

    let yaml = service("web", "web.example.com");
    let err = w.apply(&yaml).await.unwrap_err();
    assert!(
        err.contains(&format!("load balancer {name} exists without our ownership tags")),
        "{err}"
    );
    let plans = oneshot::delete(&w.manifests(&yaml), &w.sessions(), &w.cluster_id, false).await;
    let plans = plans.unwrap_or_else(|e| panic!("byoc delete fails: {e}"));
    let kept = plans.last().unwrap().1.to_string();
    assert!(kept.contains(&name) && kept.contains("not created by this installation"), "{kept}");
    let writes: Vec<String> = writes_since(&layer, mark)
        .into_iter()
        .filter(|w| w.contains("LoadBalancer") || w.contains("Listener") || w.contains("Rule"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let found = w.aws.elb.describe_load_balancers().load_balancer_arns(&arn).send().await.unwrap();
    assert_eq!(found.load_balancers().len(), 1, "the load balancer is still there");
}

#[tokio::test]
async fn a_revision_someone_else_registered_in_our_family_stays_and_ours_are_still_deregistered() {
    let w = World::with_layer("foreign-revision", World::fast_layer());
    let yaml = service("web", "web.example.com");
    w.apply(&yaml).await.unwrap();
    let family = oneshot::prepare(&w.manifests(&yaml), &w.cluster_id).unwrap()[0]
        .stack
        .task_definition
        .family
        .clone();
    // The latest revision of our family is now someone else's.
    let theirs = w
        .aws
        .ecs
        .register_task_definition()
        .family(&family)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("busybox:1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let theirs = theirs.task_definition().unwrap().task_definition_arn().unwrap().to_string();

    let plans = w.delete(&yaml).await;
    assert!(plans[0].1.to_string().contains("TaskDefinition"), "ours are deleted: {}", plans[0].1);
    let left: Vec<_> =
        w.inventory().await.into_iter().filter(|(k, _)| k == "TaskDefinition").collect();
    assert!(left.is_empty(), "our revisions are deregistered: {left:?}");
    let described =
        w.aws.ecs.describe_task_definition().task_definition(&theirs).send().await.unwrap();
    assert_eq!(
        described.task_definition().unwrap().status(),
        Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active),
        "theirs stays"
    );
    assert!(w.delete(&yaml).await[0].1.is_empty(), "nothing of ours is left to delete");
}
