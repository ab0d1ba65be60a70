//! The AWS behaviour layer's ACM, Route 53 and listener certificates (tests/support/awslayer/acm.rs,
//! route53.rs, listener_certs.rs): real SDK clients through the layer, one behaviour of real AWS
//! that moto alone does not have per test. Every deadline leaves a margin over the layer's
//! timings.

mod support;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, DomainStatus, ValidationMethod};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use byoc::aws::AwsError;
use support::{awslayer::Config, moto::World};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Validation records appear 500 ms after the request; validation takes 300 ms.
fn config() -> Config {
    Config { acm_record_delay: MS(500), acm_validation: MS(300), ..World::fast_layer() }
}

fn world(test: &str) -> World {
    World::with_layer(test, config())
}

/// A domain no other test uses.
fn domain(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}.layer.test", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Requests a DNS-validated certificate for `domain` and `*.domain`.
async fn request(w: &World, domain: &str) -> String {
    let out = w
        .aws
        .acm
        .request_certificate()
        .domain_name(domain)
        .subject_alternative_names(domain)
        .subject_alternative_names(format!("*.{domain}"))
        .validation_method(ValidationMethod::Dns)
        .send()
        .await
        .unwrap();
    out.certificate_arn().unwrap().to_string()
}

async fn describe(w: &World, arn: &str) -> CertificateDetail {
    let out = w.aws.acm.describe_certificate().certificate_arn(arn).send().await.unwrap();
    out.certificate().unwrap().clone()
}

/// `(name, value)` of each domain's validation record.
fn records(c: &CertificateDetail) -> Vec<(String, String)> {
    c.domain_validation_options()
        .iter()
        .filter_map(|o| o.resource_record())
        .map(|r| (r.name().to_string(), r.value().to_string()))
        .collect()
}

/// A hosted zone for `name`; its id.
async fn zone(w: &World, name: &str) -> String {
    let out =
        w.aws.route53.create_hosted_zone().name(name).caller_reference(name).send().await.unwrap();
    out.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_string()
}

fn record_set(name: &str, kind: RrType, ttl: i64, value: &str) -> ResourceRecordSet {
    let value = ResourceRecord::builder().value(value).build().unwrap();
    ResourceRecordSet::builder()
        .name(name)
        .r#type(kind)
        .ttl(ttl)
        .resource_records(value)
        .build()
        .unwrap()
}

async fn change(
    w: &World,
    zone: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
) -> Result<(), AwsError> {
    let changes = changes
        .into_iter()
        .map(|(a, s)| Change::builder().action(a).resource_record_set(s).build().unwrap())
        .collect();
    let batch = ChangeBatch::builder().set_changes(Some(changes)).build().unwrap();
    w.aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("ChangeResourceRecordSets", e))
}

/// The record sets of a zone named `name`, as `(type, values)`.
async fn sets_named(w: &World, zone: &str, name: &str) -> Vec<(String, Vec<String>)> {
    let out = w.aws.route53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    out.resource_record_sets()
        .iter()
        .filter(|s| s.name().trim_end_matches('.') == name.trim_end_matches('.'))
        .map(|s| {
            let values = s.resource_records().iter().map(|r| r.value().to_string()).collect();
            (s.r#type().as_str().to_string(), values)
        })
        .collect()
}

/// A certificate for a fresh domain, its zone, and its validation CNAME in the zone: issued
/// once the layer has validated it.
async fn issued(w: &World) -> String {
    let d = domain("issued");
    let z = zone(w, &d).await;
    let arn = request(w, &d).await;
    tokio::time::sleep(MS(600)).await;
    let (name, value) = records(&describe(w, &arn).await).remove(0);
    change(w, &z, vec![(ChangeAction::Upsert, record_set(&name, RrType::Cname, 300, &value))])
        .await
        .unwrap();
    tokio::time::sleep(MS(450)).await;
    assert_eq!(describe(w, &arn).await.status(), Some(&CertificateStatus::Issued));
    arn
}

#[tokio::test]
async fn a_new_certificate_names_its_validation_record_only_after_several_seconds() {
    // Two seconds, as by default: a request (moto makes an RSA key) ends well within them.
    let w =
        World::with_layer("acm-record-later", Config { acm_record_delay: MS(2000), ..config() });
    let start = Instant::now();
    let arn = request(&w, &domain("later")).await;
    let fresh = describe(&w, &arn).await;
    assert_eq!(fresh.status(), Some(&CertificateStatus::PendingValidation));
    assert_eq!(fresh.domain_validation_options().len(), 2, "both names are listed");
    assert!(records(&fresh).is_empty(), "no ResourceRecord yet: {fresh:?}");

    tokio::time::sleep_until((start + MS(2150)).into()).await;
    let named = describe(&w, &arn).await;
    assert_eq!(records(&named).len(), 2, "{named:?}");
    assert_eq!(named.status(), Some(&CertificateStatus::PendingValidation));
}

#[tokio::test]
async fn each_domain_has_its_own_validation_record_which_its_wildcard_and_later_certificates_share()
{
    let w = world("acm-record-per-domain");
    let (one, two) = (domain("one"), domain("two"));
    let (a, b, again) = (request(&w, &one).await, request(&w, &two).await, request(&w, &one).await);
    tokio::time::sleep(MS(600)).await;
    let (a, b, again) = (
        records(&describe(&w, &a).await),
        records(&describe(&w, &b).await),
        records(&describe(&w, &again).await),
    );
    assert_eq!(a[0], a[1], "the apex and its wildcard share one record");
    assert!(a[0].0.starts_with('_') && a[0].0.ends_with(&format!(".{one}.")), "{a:?}");
    assert!(a[0].1.ends_with(".acm-validations.aws."), "{a:?}");
    assert_ne!(a[0].0, b[0].0.replace(&two, &one), "another domain has another token");
    assert_ne!(a[0].1, b[0].1);
    assert_eq!(a, again, "a later certificate for the domain shows the same record");
}

#[tokio::test]
async fn a_certificate_stays_pending_until_its_validation_cname_is_in_a_hosted_zone_then_is_issued()
{
    let w = world("acm-validate");
    let d = domain("validate");
    let z = zone(&w, &d).await;
    let arn = request(&w, &d).await;
    tokio::time::sleep(MS(1200)).await;
    let pending = describe(&w, &arn).await;
    assert_eq!(pending.status(), Some(&CertificateStatus::PendingValidation), "no record in DNS");
    assert!(pending.issued_at().is_none());

    let (name, value) = records(&pending).remove(0);
    change(&w, &z, vec![(ChangeAction::Upsert, record_set(&name, RrType::Cname, 300, &value))])
        .await
        .unwrap();
    let found = Instant::now();
    let validating = describe(&w, &arn).await;
    assert_eq!(validating.status(), Some(&CertificateStatus::PendingValidation), "not at once");

    tokio::time::sleep_until((found + MS(450)).into()).await;
    let done = describe(&w, &arn).await;
    assert_eq!(done.status(), Some(&CertificateStatus::Issued));
    assert!(done.issued_at().is_some());
    let statuses: Vec<_> =
        done.domain_validation_options().iter().map(|o| o.validation_status().cloned()).collect();
    assert_eq!(statuses, [Some(DomainStatus::Success), Some(DomainStatus::Success)]);
}

#[tokio::test]
async fn a_validation_cname_with_another_value_validates_nothing() {
    let w = world("acm-wrong-value");
    let d = domain("wrong");
    let z = zone(&w, &d).await;
    let arn = request(&w, &d).await;
    tokio::time::sleep(MS(600)).await;
    let (name, _) = records(&describe(&w, &arn).await).remove(0);
    let wrong = record_set(&name, RrType::Cname, 300, "_0.wrong.acm-validations.aws.");
    change(&w, &z, vec![(ChangeAction::Upsert, wrong)]).await.unwrap();
    tokio::time::sleep(MS(700)).await;
    assert_eq!(describe(&w, &arn).await.status(), Some(&CertificateStatus::PendingValidation));
}

/// `(arn, status)` of the certificates ListCertificates shows with `statuses` as its filter.
async fn listed(
    w: &World,
    statuses: Vec<CertificateStatus>,
) -> Vec<(String, Option<CertificateStatus>)> {
    let filter = (!statuses.is_empty()).then_some(statuses);
    let out = w.aws.acm.list_certificates().set_certificate_statuses(filter).send().await.unwrap();
    let summaries = out.certificate_summary_list().iter();
    summaries.map(|s| (s.certificate_arn().unwrap().to_string(), s.status().cloned())).collect()
}

#[tokio::test]
async fn list_certificates_shows_and_filters_by_the_status_describe_certificate_shows() {
    let w = world("acm-list");
    let done = issued(&w).await;
    let pending = request(&w, &domain("listed")).await;
    let all = listed(&w, vec![]).await;
    assert!(all.contains(&(done.clone(), Some(CertificateStatus::Issued))), "{all:?}");
    assert!(all.contains(&(pending.clone(), Some(CertificateStatus::PendingValidation))));
    let only_issued = listed(&w, vec![CertificateStatus::Issued]).await;
    assert!(only_issued.iter().any(|(a, _)| *a == done));
    assert!(!only_issued.iter().any(|(a, _)| *a == pending));
    let only_pending = listed(&w, vec![CertificateStatus::PendingValidation]).await;
    assert!(only_pending.iter().any(|(a, _)| *a == pending));
    assert!(!only_pending.iter().any(|(a, _)| *a == done));
}

/// A load balancer with an HTTPS listener whose default certificate is `default`; the
/// listener's ARN.
async fn https_listener(w: &World, default: &str) -> (String, String) {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum,
    };
    let field = |key: &str| {
        let line = w.account_yaml.lines().find(|l| l.trim_start().starts_with(key)).unwrap();
        line.split_once(':').unwrap().1.trim().to_string()
    };
    let subnets: Vec<String> = field("subnetIds:")
        .trim_matches(['[', ']'])
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let lb = w
        .aws
        .elb
        .create_load_balancer()
        .name(format!("acm{}", w.account.replace('-', "")).chars().take(32).collect::<String>())
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let lb = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let fixed = FixedResponseActionConfig::builder().status_code("404").build();
    let action = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(fixed)
        .build();
    let listener = w
        .aws
        .elb
        .create_listener()
        .load_balancer_arn(&lb)
        .port(443)
        .protocol(ProtocolEnum::Https)
        .certificates(Certificate::builder().certificate_arn(default).build())
        .default_actions(action)
        .send()
        .await
        .unwrap();
    (lb, listener.listeners()[0].listener_arn().unwrap().to_string())
}

async fn add(w: &World, listener: &str, arn: &str) -> Result<(), AwsError> {
    use aws_sdk_elasticloadbalancingv2::types::Certificate;
    w.aws
        .elb
        .add_listener_certificates()
        .listener_arn(listener)
        .certificates(Certificate::builder().certificate_arn(arn).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("AddListenerCertificates", e))
}

/// The listener's certificate list (the default one excluded).
async fn sni(w: &World, listener: &str) -> Vec<String> {
    let out =
        w.aws.elb.describe_listener_certificates().listener_arn(listener).send().await.unwrap();
    out.certificates()
        .iter()
        .filter(|c| c.is_default() != Some(true))
        .map(|c| c.certificate_arn().unwrap().to_string())
        .collect()
}

async fn delete_certificate(w: &World, arn: &str) -> Result<(), AwsError> {
    w.aws
        .acm
        .delete_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("DeleteCertificate", e))
}

#[tokio::test]
async fn a_certificate_on_a_listener_cannot_be_deleted_until_it_is_removed_from_every_listener() {
    let w = world("acm-in-use");
    let (default, attached) = (issued(&w).await, issued(&w).await);
    let (lb, listener) = https_listener(&w, &default).await;
    add(&w, &listener, &attached).await.unwrap();

    let err = delete_certificate(&w, &attached).await.unwrap_err();
    assert_eq!(err.code, "ResourceInUseException");
    let account = attached.split(':').nth(4).unwrap();
    assert_eq!(err.message, format!("Certificate {attached} in account {account} is in use."));
    assert_eq!(describe(&w, &attached).await.in_use_by(), std::slice::from_ref(&lb));
    let err = delete_certificate(&w, &default).await.unwrap_err();
    assert_eq!(err.code, "ResourceInUseException", "the default certificate is in use too");

    w.aws
        .elb
        .remove_listener_certificates()
        .listener_arn(&listener)
        .certificates(
            aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                .certificate_arn(&attached)
                .build(),
        )
        .send()
        .await
        .unwrap();
    delete_certificate(&w, &attached).await.unwrap();
    let gone = w.aws.acm.describe_certificate().certificate_arn(&attached).send().await;
    assert!(gone.is_err(), "deleted");
}

#[tokio::test]
async fn a_listener_refuses_a_certificate_that_does_not_exist_or_is_not_issued_yet() {
    let w = world("acm-not-found");
    let default = issued(&w).await;
    let (_, listener) = https_listener(&w, &default).await;
    let missing =
        default.rsplit_once('/').unwrap().0.to_string() + "/00000000-0000-0000-0000-000000000000";
    let err = add(&w, &listener, &missing).await.unwrap_err();
    assert_eq!(err.code, "CertificateNotFound");
    assert_eq!(err.message, format!("Certificate '{missing}' not found"));

    let pending = request(&w, &domain("pending")).await;
    let err = add(&w, &listener, &pending).await.unwrap_err();
    assert_eq!(err.code, "CertificateNotFound", "a certificate pending validation");
    assert!(sni(&w, &listener).await.is_empty());
}

#[tokio::test]
async fn adding_a_certificate_already_on_a_listener_changes_nothing() {
    let w = world("acm-add-twice");
    let (default, extra) = (issued(&w).await, issued(&w).await);
    let (_, listener) = https_listener(&w, &default).await;
    add(&w, &listener, &extra).await.unwrap();
    add(&w, &listener, &extra).await.unwrap();
    assert_eq!(sni(&w, &listener).await, [extra]);
}

#[tokio::test]
async fn deleting_a_record_set_that_is_not_there_fails_and_rejects_the_whole_batch() {
    let w = world("r53-delete-missing");
    let d = domain("zone");
    let z = zone(&w, &d).await;
    let (www, nope, new) = (format!("www.{d}."), format!("nope.{d}."), format!("new.{d}."));
    let www_a = record_set(&www, RrType::A, 300, "192.0.2.1");
    change(&w, &z, vec![(ChangeAction::Create, www_a.clone())]).await.unwrap();

    let missing = record_set(&nope, RrType::A, 300, "192.0.2.9");
    let created = record_set(&new, RrType::A, 300, "192.0.2.2");
    let batch = vec![(ChangeAction::Create, created), (ChangeAction::Delete, missing)];
    let err = change(&w, &z, batch).await.unwrap_err();
    assert_eq!(err.code, "InvalidChangeBatch");
    assert_eq!(
        err.message,
        format!(
            "Tried to delete resource record set [name='{nope}', type='A'] but it was not found"
        )
    );
    assert!(sets_named(&w, &z, &new).await.is_empty(), "nothing of the batch was made");

    change(&w, &z, vec![(ChangeAction::Delete, www_a.clone())]).await.unwrap();
    let err = change(&w, &z, vec![(ChangeAction::Delete, www_a)]).await.unwrap_err();
    assert_eq!(err.code, "InvalidChangeBatch", "deleting twice: {err:?}");
}

#[tokio::test]
async fn a_delete_must_name_the_record_set_exactly_as_it_is() {
    let w = world("r53-delete-exact");
    let d = domain("exact");
    let z = zone(&w, &d).await;
    let txt = format!("_byoc.www.{d}.");
    let owner = record_set(&txt, RrType::Txt, 300, "\"heritage=byoc-operator\"");
    change(&w, &z, vec![(ChangeAction::Upsert, owner.clone())]).await.unwrap();

    for (other, what) in [
        (record_set(&txt, RrType::Txt, 60, "\"heritage=byoc-operator\""), "another TTL"),
        (record_set(&txt, RrType::Txt, 300, "\"heritage=someone-else\""), "another value"),
    ] {
        let err = change(&w, &z, vec![(ChangeAction::Delete, other)]).await.unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "Tried to delete resource record set [name='{txt}', type='TXT'] but the values provided do not match the current values"
            ),
            "{what}"
        );
    }
    assert_eq!(sets_named(&w, &z, &txt).await.len(), 1, "still there");
    change(&w, &z, vec![(ChangeAction::Delete, owner)]).await.unwrap();
    assert!(sets_named(&w, &z, &txt).await.is_empty());
}
