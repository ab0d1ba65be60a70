//! The bad input corpus (`tests/data/bad/`) through the Kubernetes API, with the `byoc controller`
//! binary running (on the stand-in, or on the real cluster of `BYOC_E2E_KUBECONFIG`; AWS is moto
//! behind the AWS behaviour layer, whose call log shows every AWS request). What the schema can
//! refuse is refused with the field named; what needs context is stored and the controller sets
//! `Stalled` with the reason and the field; AWS then holds nothing of those services, no AWS write
//! happened, and deleting each object works.

mod support;

use std::time::Duration;

use byoc::{
    api::CloudAccount,
    aws::is_write,
    desired::{naming::fnv1a, tag},
};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::json;
use support::{
    corpus::{self, Api as Expected, Case, Placeholders},
    e2e::{
        Kube, Operator, condition, has_condition, labelled_account, service_gone, service_where,
        wait_for,
    },
    inventory,
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The label of the namespace the test's account does not allow.
const FORBIDDEN: &str = "byoc.dev/corpus-forbidden";

/// The test's CloudAccount: the corpus's (a second load balancer `crowded`, its tags) with
/// `allowedNamespaces` refusing namespaces labelled `FORBIDDEN`.
fn account_yaml(w: &World) -> String {
    let allowed = format!(
        "  allowedNamespaces:\n    matchExpressions: [{{ key: {FORBIDDEN}, operator: DoesNotExist }}]\n  defaults:"
    );
    labelled_account(w, &corpus::corpus_account(&w.account_yaml)).replacen(
        "  defaults:",
        &allowed,
        1,
    )
}

/// Waits for the account's status to satisfy `check`.
async fn account_where(
    kube: &Kube,
    w: &World,
    what: &str,
    check: impl Fn(&CloudAccount) -> bool,
) -> CloudAccount {
    let api = kube.accounts();
    wait_for(what, TIMEOUT, || async { api.get_opt(&w.account).await.ok().flatten() }, check).await
}

/// The context the cases need: the account (its `crowded` load balancer holding 100 target
/// groups that are not ours) and the namespace it does not allow.
async fn setup(kube: &Kube, w: &World, forbidden: &str) {
    Api::<Namespace>::all(kube.client.clone())
        .patch(
            forbidden,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {FORBIDDEN: "true"}}})),
        )
        .await
        .unwrap();
    kube.apply(&account_yaml(w)).await;
    let crowded = |a: &CloudAccount| {
        a.status
            .as_ref()
            .and_then(|s| s.load_balancers.iter().find(|l| l.name == "crowded"))
            .cloned()
    };
    let account = account_where(kube, w, "the crowded load balancer's listener", |a| {
        crowded(a).is_some_and(|l| l.listener_arn.is_some())
    })
    .await;
    let listener = crowded(&account).unwrap().listener_arn.unwrap();
    let prefix = format!("x{:08x}", fnv1a(w.cluster_id.as_bytes()) as u32);
    corpus::crowd(&w.aws, &listener, &corpus::vpc_id(&w.account_yaml), &prefix, 100).await;
    account_where(kube, w, "the account to count 100 target groups on crowded", |a| {
        crowded(a).is_some_and(|l| l.target_groups == 100)
    })
    .await;
}

/// The namespace a case runs in.
fn namespace<'a>(case: &Case, kube: &'a Kube) -> &'a str {
    match case.setup.as_deref() {
        Some("namespace-not-allowed") => &kube.namespaces[1],
        _ => &kube.namespaces[0],
    }
}

#[tokio::test]
async fn schema_errors_are_refused_and_context_errors_stall_naming_the_field_with_aws_untouched() {
    let w = World::with_layer("e2e-bad-input", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let kube = Kube::start("badinput", 2).await;
    let (ns, other) = (kube.namespaces[0].clone(), kube.namespaces[1].clone());
    let _op = Operator::start(&kube, &w, &[]);
    setup(&kube, &w, &other).await;
    let in_ns = corpus::cases(&Placeholders {
        account: &w.account,
        namespace: &ns,
        other_namespace: &other,
    });
    let in_other = corpus::cases(&Placeholders {
        account: &w.account,
        namespace: &other,
        other_namespace: &ns,
    });
    let cases: Vec<Case> = in_ns
        .into_iter()
        .zip(in_other)
        .map(|(a, b)| if namespace(&a, &kube) == other { b } else { a })
        .collect();

    // What the cases lean on (Secrets, a service holding a host) exists, its services Ready.
    for case in &cases {
        let docs = case.documents();
        for doc in &docs[..docs.len() - 1] {
            kube.create_document(namespace(case, &kube), doc).await.unwrap();
            let parsed: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
            if parsed["kind"] == "CloudService" {
                let name = parsed["metadata"]["name"].as_str().unwrap();
                service_where(&kube, &ns, name, "Ready", TIMEOUT, |s| {
                    has_condition(s, "Ready", None)
                })
                .await;
            }
        }
    }
    let mark = layer.calls().len();

    let mut failures = Vec::new();
    for case in &cases {
        let ns = namespace(case, &kube);
        let created = kube.create_document(ns, case.documents().last().unwrap()).await;
        match (&case.api, created) {
            (Expected::Accepted, Ok(())) => {}
            (Expected::Refused { code, texts }, Err((status, message))) => {
                if status != *code {
                    failures
                        .push(format!("{}: HTTP {status}, expected {code}: {message}", case.name));
                }
                for text in texts.iter().filter(|t| !message.contains(t.as_str())) {
                    failures.push(format!(
                        "{}: the refusal does not say {text:?}: {message}",
                        case.name
                    ));
                }
                if kube.services(ns).get_opt(&case.name).await.unwrap().is_some() {
                    failures.push(format!("{}: stored although refused", case.name));
                }
            }
            (expected, got) => {
                failures.push(format!("{}: {got:?}, expected {expected:?}", case.name))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let accepted: Vec<&Case> = cases.iter().filter(|c| c.api == Expected::Accepted).collect();
    for case in &accepted {
        let ns = namespace(case, &kube);
        let expected = case.condition.as_ref().unwrap();
        let what = format!("{} {}", expected.type_, expected.reason);
        let s = service_where(&kube, ns, &case.name, &what, TIMEOUT, |s| {
            has_condition(s, &expected.type_, Some(&expected.reason))
        })
        .await;
        let (_, _, message) = condition(&s.status.unwrap().conditions, &expected.type_).unwrap();
        if !message.contains(&expected.text) {
            failures.push(format!(
                "{}: the condition does not say {:?}: {message}",
                case.name, expected.text
            ));
        }
        let owned = inventory::by_tag(&w.aws, tag::OWNER, &format!("{ns}/{}", case.name)).await;
        if !owned.is_empty() {
            failures.push(format!("{}: AWS holds {owned:?}", case.name));
        }
    }
    // Deleting each works at once: no finalizer was added, as nothing was created.
    for case in &accepted {
        let ns = namespace(case, &kube);
        kube.services(ns).delete(&case.name, &DeleteParams::default()).await.unwrap();
        service_gone(&kube, ns, &case.name, TIMEOUT).await;
    }
    let writes: Vec<_> =
        layer.calls()[mark..].iter().filter(|c| is_write(&c.operation)).cloned().collect();
    assert!(writes.is_empty(), "AWS writes for invalid services: {writes:?}");
    // The Secret of another namespace was never read (the stand-in logs every request).
    if let Some(server) = &kube.stand_in {
        let read: Vec<_> = server
            .request_log()
            .into_iter()
            .filter(|r| {
                r.method == "GET"
                    && r.path.starts_with(&format!("/api/v1/namespaces/{other}/secrets/"))
            })
            .collect();
        assert!(read.is_empty(), "a Secret of {other} was read for a service of {ns}: {read:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    kube.cleanup(&[&w.account]).await;
}
