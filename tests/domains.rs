//! Custom domains through the one-shot engine, against moto behind the AWS behaviour layer
//! (ACM validates through DNS, Route 53 refuses what it refuses, listeners take issued
//! certificates once): an account names a Route 53 hosted zone, a service on the HTTPS load
//! balancer `secure` routes two hosts in it, and the operator requests the family's certificate,
//! writes its validation record and the hosts' aliases, attaches it once issued, and removes it
//! all when the service goes.

mod support;

use std::time::{Duration, Instant};

use byoc::{
    api::{CertificateState, CloudServiceStatus},
    resources::{ObserveCache, account, domains},
};
use support::moto::World;

const WEB: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: web, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.26
  ports: [{ name: http, containerPort: 80 }]
  replicas: 1
  healthCheck: { path: /healthz }
  ingress: { loadBalancer: secure, hosts: [shop.ZONE, api.ZONE], paths: ["/*"], port: http }
"#;

/// A world with the HTTPS load balancer `secure`, behind the layer, whose account names a new
/// hosted zone; the zone's name and id. `yaml` has `ZONE` for the zone's name.
async fn world(test: &str) -> (World, String, String) {
    let mut w = World::with_https_layer(test, World::fast_layer());
    let zone = format!("{}.byoc.test", w.account);
    let created = w
        .aws
        .route53
        .create_hosted_zone()
        .name(&zone)
        .caller_reference(&w.account)
        .send()
        .await
        .unwrap();
    let id = created.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_string();
    w.account_yaml.push_str(&format!(
        "  domains:\n    hostedZones:\n      - name: {zone}\n        id: {id}\n"
    ));
    (w, zone, id)
}

async fn apply(w: &World, yaml: &str) -> CloudServiceStatus {
    w.apply(yaml).await.unwrap().remove(0).1
}

/// Applies until every host's certificate is issued (the layer names the validation record
/// 400 ms after the request and issues 400 ms after the record is in the zone).
async fn apply_until_issued(w: &World, yaml: &str) -> CloudServiceStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = apply(w, yaml).await;
        let issued = status.domains.iter().all(|h| h.certificate == CertificateState::Issued);
        if issued && !status.domains.is_empty() {
            return status;
        }
        let writes = w.calls.write_summary();
        assert!(
            Instant::now() < deadline,
            "not issued in time: {:?}; writes: {writes:?}",
            status.domains
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every record set of a zone: `(name, type, values or alias target)`.
async fn records(w: &World, zone: &str) -> Vec<(String, String, Vec<String>)> {
    let out = w.aws.route53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    out.resource_record_sets()
        .iter()
        .map(|r| {
            let values = match r.alias_target() {
                Some(a) => vec![a.dns_name().to_string()],
                None => r.resource_records().iter().map(|v| v.value().to_string()).collect(),
            };
            (r.name().to_string(), r.r#type().as_str().to_string(), values)
        })
        .collect()
}

/// Our certificates (by the installation's tag): ARN and tags.
async fn certificates(w: &World) -> Vec<(String, Vec<(String, String)>)> {
    let listed = w.aws.acm.list_certificates().send().await.unwrap();
    let mut out = Vec::new();
    for c in listed.certificate_summary_list() {
        let arn = c.certificate_arn().unwrap();
        let tags = w.aws.acm.list_tags_for_certificate().certificate_arn(arn).send().await;
        let tags: Vec<(String, String)> = tags
            .map(|t| {
                t.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if tags.iter().any(|(k, v)| k == "byoc.dev/cluster-id" && *v == w.cluster_id) {
            out.push((arn.to_string(), tags));
        }
    }
    out
}

/// The account as the operator observes it: the `secure` load balancer's DNS name and HTTPS
/// listener, and the account's domain status (planned, not acted on).
async fn account_view(w: &World, yaml: &str) -> (String, String, Vec<byoc::api::DomainStatus>) {
    let m = w.manifests(yaml);
    let spec = &m.accounts[&w.account].spec;
    let (state, _) = account::observe(&w.aws, &w.account, spec, &w.cluster_id).await.unwrap();
    let secure = &state.load_balancers["secure"];
    let tags = account::account_tags(&w.account, spec, &w.cluster_id);
    let owner = domains::Owner { account: &w.account, cluster_id: &w.cluster_id, tags: &tags };
    let cache = ObserveCache::default();
    let (statuses, _) =
        domains::reconcile(&w.aws, spec, &state, &owner, &cache, None, false).await.unwrap();
    (secure.dns_name.clone().unwrap(), secure.listener_arn.clone().unwrap(), statuses)
}

async fn on_listener(w: &World, listener: &str) -> Vec<String> {
    let Ok(out) = w.aws.elb.describe_listener_certificates().listener_arn(listener).send().await
    else {
        return Vec::new();
    };
    out.certificates()
        .iter()
        .filter(|c| c.is_default() != Some(true))
        .map(|c| c.certificate_arn().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn hosts_in_a_hosted_zone_get_one_issued_certificate_their_records_and_https() {
    let (w, zone, id) = world("domains-issue").await;
    let yaml = WEB.replace("ZONE", &zone);
    let first = apply(&w, &yaml).await;
    assert!(first.url.as_deref().unwrap().starts_with("http://"), "{:?}", first.url);
    let status = apply_until_issued(&w, &yaml).await;
    assert!(status.url.as_deref().unwrap().starts_with("https://"), "{:?}", status.url);
    let hosts: Vec<&str> = status.domains.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(hosts, [format!("shop.{zone}"), format!("api.{zone}")]);
    assert!(status.domains.iter().all(|h| h.records_to_create.is_empty()));

    let ours = certificates(&w).await;
    assert_eq!(ours.len(), 1, "one certificate for the family: {ours:?}");
    let inventory = w.inventory().await;
    assert_eq!(inventory.iter().filter(|(k, _)| k == "AcmCertificate").count(), 1, "{inventory:?}");
    let (arn, tags) = &ours[0];
    assert!(tags.contains(&("byoc.dev/domain".to_string(), zone.clone())), "{tags:?}");
    let cert = w.aws.acm.describe_certificate().certificate_arn(arn).send().await.unwrap();
    let cert = cert.certificate().unwrap();
    assert_eq!(cert.domain_name(), Some(zone.as_str()));
    let mut names = cert.subject_alternative_names().to_vec();
    names.sort();
    assert_eq!(names, [format!("*.{zone}"), zone.clone()], "the family and its subdomains");
    let validation = cert.domain_validation_options()[0].resource_record().unwrap();

    let (lb_dns, listener, _) = account_view(&w, &yaml).await;
    let records = records(&w, &id).await;
    let has = |name: &str, kind: &str, value: &str| {
        records.iter().any(|(n, k, v)| {
            n.trim_end_matches('.') == name.trim_end_matches('.')
                && k == kind
                && v.iter().any(|v| v.trim_end_matches('.') == value.trim_end_matches('.'))
        })
    };
    assert!(has(validation.name(), "CNAME", validation.value()), "{records:?}");
    let owner = format!("byoc.dev/cluster-id={}", w.cluster_id);
    for host in ["shop", "api"] {
        assert!(has(&format!("{host}.{zone}"), "A", &lb_dns), "alias of {host}: {records:?}");
        let txt =
            records.iter().find(|(n, k, _)| *n == format!("_byoc.{host}.{zone}.") && k == "TXT");
        assert!(txt.is_some_and(|(_, _, v)| v[0].contains(&owner)), "owner of {host}: {txt:?}");
    }
    assert_eq!(on_listener(&w, &listener).await, std::slice::from_ref(arn));

    let before = w.calls.writes();
    let again = apply(&w, &yaml).await;
    assert_eq!(w.calls.writes(), before, "writes on a no-op apply: {:?}", w.calls.write_summary());
    assert_eq!(again.url, status.url);
}

#[tokio::test]
async fn a_host_outside_every_hosted_zone_gets_the_records_to_create_and_none_is_written() {
    let (w, _, _) = world("domains-outside").await;
    let outside = format!("{}.elsewhere.test", w.account);
    let yaml = WEB.replace("hosts: [shop.ZONE, api.ZONE]", &format!("hosts: [www.{outside}]"));
    apply(&w, &yaml).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let status = apply(&w, &yaml).await;
    let host = &status.domains[0];
    assert_eq!(host.certificate, CertificateState::PendingValidation);
    let (lb_dns, _, _) = account_view(&w, &yaml).await;
    let kinds: Vec<(&str, &str)> =
        host.records_to_create.iter().map(|r| (r.type_.as_str(), r.value.as_str())).collect();
    assert_eq!(kinds.len(), 2, "{:?}", host.records_to_create);
    assert_eq!(kinds[0].0, "CNAME");
    assert!(host.records_to_create[0].name.ends_with(&format!(".{outside}.")));
    assert!(kinds[0].1.ends_with(".acm-validations.aws."));
    assert_eq!(kinds[1].1, lb_dns, "the alias to the load balancer");
    assert_eq!(w.calls.count("ChangeResourceRecordSets"), 0, "no record is written");
    assert!(status.url.as_deref().unwrap().starts_with("http://"));
}

#[tokio::test]
async fn deleting_the_service_removes_its_certificate_and_records_and_leaves_nothing_tagged() {
    let (w, zone, id) = world("domains-delete").await;
    let yaml = WEB.replace("ZONE", &zone);
    apply_until_issued(&w, &yaml).await;
    let (_, listener, _) = account_view(&w, &yaml).await;
    let arn = certificates(&w).await.remove(0).0;

    w.delete(&yaml).await;
    // The load balancer goes too once no rule is left on it: the order tells.
    let calls = w.layer.as_ref().unwrap().calls();
    let done = |op: &str| calls.iter().position(|c| c.operation == op && c.outcome == "ok");
    let (removed, deleted) = (done("RemoveListenerCertificates"), done("DeleteCertificate"));
    assert!(removed.is_some() && removed < deleted, "off the listener, then deleted: {calls:?}");
    assert!(!on_listener(&w, &listener).await.contains(&arn), "off the listener");
    let gone = w.aws.acm.describe_certificate().certificate_arn(&arn).send().await;
    assert!(gone.is_err(), "the certificate is deleted");
    let left: Vec<_> =
        records(&w, &id).await.into_iter().filter(|(_, k, _)| k != "NS" && k != "SOA").collect();
    assert!(left.is_empty(), "no validation, alias or owner record left: {left:?}");
    let inventory = w.inventory().await;
    assert!(
        inventory.iter().all(|(k, _)| k == "EcsCluster"),
        "only the draining cluster may stay: {inventory:?}"
    );
}

#[tokio::test]
async fn deleting_one_service_keeps_what_another_service_of_the_family_still_uses() {
    let (w, zone, id) = world("domains-keep").await;
    let web = WEB.replace("hosts: [shop.ZONE, api.ZONE]", "hosts: [shop.ZONE]");
    let api = web.replace("name: web,", "name: api,").replace("shop.ZONE", "api.ZONE");
    let (web, both) = (web.replace("ZONE", &zone), format!("{web}---{api}").replace("ZONE", &zone));
    apply_until_issued(&w, &both).await;
    let (_, listener, _) = account_view(&w, &both).await;
    let arn = certificates(&w).await.remove(0).0;

    w.delete(&web).await;
    assert_eq!(
        on_listener(&w, &listener).await,
        std::slice::from_ref(&arn),
        "still on the listener"
    );
    assert!(w.aws.acm.describe_certificate().certificate_arn(&arn).send().await.is_ok());
    let names: Vec<String> =
        records(&w, &id).await.into_iter().map(|(n, k, _)| format!("{n} {k}")).collect();
    for kept in [format!("api.{zone}. A"), format!("_byoc.api.{zone}. TXT")] {
        assert!(names.contains(&kept), "{kept} is kept: {names:?}");
    }
    assert!(
        names.iter().any(|n| n.ends_with(" CNAME")),
        "the validation record is kept: {names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(&format!("shop.{zone}"))), "shop's go: {names:?}");
}

#[tokio::test]
async fn an_a_record_someone_else_made_for_a_host_is_never_changed_and_the_status_says_so() {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let (w, zone, id) = world("domains-foreign").await;
    let theirs = ResourceRecordSet::builder()
        .name(format!("shop.{zone}."))
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value("198.51.100.7").build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder().action(ChangeAction::Create).resource_record_set(theirs);
    let batch = ChangeBatch::builder().changes(change.build().unwrap()).build().unwrap();
    let r53 = w.aws.route53.change_resource_record_sets().hosted_zone_id(&id);
    r53.change_batch(batch).send().await.unwrap();

    let yaml = WEB.replace("ZONE", &zone);
    let status = apply_until_issued(&w, &yaml).await;
    let shop_status = status.domains.iter().find(|h| h.host.starts_with("shop.")).unwrap();
    assert!(
        shop_status.message.as_deref().unwrap_or_default().contains("that is not ours"),
        "the service's status names the conflict: {shop_status:?}"
    );
    let api_status = status.domains.iter().find(|h| h.host.starts_with("api.")).unwrap();
    assert_eq!(api_status.message, None, "api's records are in order");
    let records = records(&w, &id).await;
    let shop: Vec<_> = records.iter().filter(|(n, _, _)| n.starts_with("shop.")).collect();
    assert_eq!(
        shop,
        [&(format!("shop.{zone}."), "A".to_string(), vec!["198.51.100.7".to_string()])]
    );
    assert!(!records.iter().any(|(n, _, _)| n.starts_with("_byoc.shop.")), "{records:?}");
    assert!(records.iter().any(|(n, k, _)| n.starts_with("api.") && k == "A"), "api is ours");

    let (_, _, statuses) = account_view(&w, &yaml).await;
    let message = statuses[0].message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "shop.{zone} already has an A record (198.51.100.7) that is not ours"
        )),
        "{message}"
    );
}
