//! A value from a Kubernetes Secret goes to AWS Secrets Manager and nowhere else: not into the
//! operator's logs at debug level, Events, the CloudService or CloudAccount status, the registered
//! task definitions, nor `byoc apply`'s output at debug level. Each place is searched for the value
//! as it is and base64-encoded (as the Kubernetes API carries Secret data), before and after the
//! value changes once.

mod support;

use std::{
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use byoc::{aws::Aws, desired::Owner};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use support::{
    e2e::{Kube, Operator, has_condition, labelled_account, service_where},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A value no other text would contain.
fn distinctive(tag: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("s3cr3t-{tag}-{nanos:x}")
}

/// The forms a leaked value could take.
fn forms(value: &str) -> [String; 2] {
    [value.to_string(), base64::engine::general_purpose::STANDARD.encode(value)]
}

/// `(place, form)` for every place in `texts` holding a form of one of `values`.
fn leaks(values: &[&str], texts: &[(&str, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, text) in texts {
        for value in values {
            for form in forms(value) {
                if text.contains(&form) {
                    found.push(format!("{place} holds {form}"));
                }
            }
        }
    }
    found
}

fn secret_yaml(ns: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{ name: db, namespace: {ns} }}\nstringData: {{ url: \"{value}\" }}\n"
    )
}

fn service_yaml(account: &str, ns: &str) -> String {
    format!(
        r#"apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: api, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.27
  ports: [{{ name: http, containerPort: 80 }}]
  env:
    - {{ name: DB, valueFrom: {{ secretKeyRef: {{ name: db, key: url }} }} }}
    - {{ name: MODE, value: production }}
  ingress: {{ loadBalancer: public, hosts: [leak.example.com], port: http }}
"#
    )
}

/// Every revision of the task definition family, described with its tags.
async fn task_definitions(aws: &Aws, family: &str) -> String {
    let listed = aws.ecs.list_task_definitions().family_prefix(family).send().await.unwrap();
    let mut text = String::new();
    for arn in listed.task_definition_arns() {
        let d = aws
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        text.push_str(&format!("{:?} {:?}\n", d.task_definition(), d.tags()));
    }
    assert!(!text.is_empty(), "no task definition registered for {family}");
    text
}

async fn stored_value(aws: &Aws, name: &str) -> Option<String> {
    let out = aws.secrets.get_secret_value().secret_id(name).send().await.ok()?;
    out.secret_string().map(str::to_string)
}

#[tokio::test]
async fn a_secret_value_reaches_secrets_manager_and_no_log_event_status_or_task_definition() {
    let w = World::with_layer("e2e-leaks", World::fast_layer());
    let kube = Kube::start("leaks", 1).await;
    let ns = kube.namespaces[0].clone();
    let log = std::env::temp_dir().join(format!("byoc-leaks-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let _op = Operator::start_logged(&kube, &w, &[], "debug", &log);
    kube.apply(&labelled_account(&w, &w.account_yaml)).await;
    let (first, second) = (distinctive("first"), distinctive("second"));

    kube.apply(&secret_yaml(&ns, &first)).await;
    kube.apply(&service_yaml(&w.account, &ns)).await;
    service_where(&kube, &ns, "api", "Ready", TIMEOUT, |s| has_condition(s, "Ready", None)).await;
    kube.apply(&secret_yaml(&ns, &second)).await;
    service_where(&kube, &ns, "api", "Ready with revision 2", TIMEOUT, |s| {
        has_condition(s, "Ready", None)
            && s.status
                .as_ref()
                .and_then(|st| st.rollout.as_ref()?.task_definition.clone())
                .is_some_and(|td| td.ends_with(":2"))
    })
    .await;

    let owner = Owner {
        namespace: ns.clone(),
        name: "api".into(),
        uid: String::new(),
        cluster_id: String::new(),
    };
    assert_eq!(
        stored_value(&w.aws, &owner.secret_name("DB")).await,
        Some(second.clone()),
        "where it belongs"
    );
    let events =
        Api::<Event>::namespaced(kube.client.clone(), &ns).list(&Default::default()).await.unwrap();
    assert!(!events.items.is_empty(), "the service's transitions were reported as events");
    let service = kube.services(&ns).get("api").await.unwrap();
    let revision =
        service.status.as_ref().and_then(|s| s.rollout.as_ref()?.task_definition.clone());
    let family =
        revision.unwrap().rsplit('/').next().unwrap().split(':').next().unwrap().to_string();
    let account = kube.accounts().get(&w.account).await.unwrap();
    let logs = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).to_string();
    assert!(logs.contains("DEBUG"), "the operator logged at debug level: {logs}");
    // Every AWS change is one info line naming the object, the AWS kind and id, and the change.
    let changes: Vec<&str> = logs.lines().filter(|l| l.contains("AWS change")).collect();
    for (kind, change) in [
        ("LogGroup", "create LogGroup"),
        ("Secret", "create Secret"),
        ("TaskDefinition", "create TaskDefinition"),
        ("EcsService", "create EcsService"),
        ("Secret", "update Secret"),
    ] {
        assert!(
            changes.iter().any(|l| l.contains(" INFO ")
                && l.contains("name=api")
                && l.contains(&format!("kind={kind}"))
                && l.contains(change)
                && !l.contains('\u{1b}')),
            "an info line for {change}: {changes:#?}"
        );
    }
    let places = [
        ("the operator's log", logs),
        ("the namespace's events", serde_json::to_string(&events).unwrap()),
        ("the CloudService", serde_json::to_string(&service).unwrap()),
        ("the CloudAccount", serde_json::to_string(&account).unwrap()),
        ("the task definitions", task_definitions(&w.aws, &family).await),
    ];
    let found = leaks(&[&first, &second], &places);
    assert!(found.is_empty(), "secret values leaked: {found:?}");
    kube.cleanup(&[&w.account]).await;
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn byoc_apply_at_debug_level_never_prints_a_secret_value() {
    let w = World::with_layer("cli-leaks", World::fast_layer());
    let dir = std::env::temp_dir().join(format!("byoc-cli-leaks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let account = dir.join("account.yaml");
    std::fs::write(&account, &w.account_yaml).unwrap();
    let (first, second) = (distinctive("first"), distinctive("second"));
    let owner = Owner {
        namespace: w.namespace.clone(),
        name: "api".into(),
        uid: String::new(),
        cluster_id: String::new(),
    };
    let mut places = Vec::new();
    for (run, value) in [("create", &first), ("update", &second)] {
        let file = dir.join(format!("{run}.yaml"));
        std::fs::write(
            &file,
            format!(
                "{}---\n{}",
                secret_yaml(&w.namespace, value),
                service_yaml(&w.account, &w.namespace)
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_byoc"))
            .arg("apply")
            .arg("-f")
            .arg(&account)
            .arg("-f")
            .arg(&file)
            .args(["--cluster-id", &w.cluster_id, "--endpoint-url", &w.endpoint])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "byoc apply ({run}) failed: {output}");
        assert!(output.contains("DEBUG"), "byoc apply logged at debug level: {output}");
        assert_eq!(
            stored_value(&w.aws, &owner.secret_name("DB")).await.as_ref(),
            Some(value),
            "{run}"
        );
        places.push((run, output));
    }
    let found = leaks(&[&first, &second], &places);
    assert!(found.is_empty(), "secret values leaked: {found:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
