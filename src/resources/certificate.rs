//! Managed certificates of custom domains: one ACM certificate per host name family (the family
//! and `*.family`, DNS-validated), tagged as the account's, found again by tag; attached by SNI to
//! the HTTPS listeners that serve the family. Every function is one or a few AWS calls.
//!
//! AWS facts (ACM API Reference): `RequestCertificate` takes an `IdempotencyToken` ("requests with
//! the same token within one hour issue only one certificate"); its validation record
//! (`DomainValidationOptions[].ResourceRecord`) appears some seconds after the request, the same
//! CNAME for a domain and its wildcard; a certificate attached to a load balancer cannot be
//! deleted (`ResourceInUseException`). ELBv2: `AddListenerCertificates` adds one certificate to
//! a listener's SNI list, and adding one that is there already changes nothing;
//! `DescribeListenerCertificates` lists the default certificate too (`IsDefault`).

use std::collections::BTreeSet;

use aws_sdk_acm::types::{CertificateStatus, Tag, ValidationMethod};
use aws_sdk_elasticloadbalancingv2::types::Certificate as ListenerCertificate;

use super::tags::Tags;
use crate::{
    api::{CertificateState, DnsRecord},
    aws::{Aws, AwsError, Category},
};

/// Tag on a managed certificate: the family it covers.
pub const FAMILY_TAG: &str = "byoc.dev/domain";

/// A certificate of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedCertificate {
    pub arn: String,
    pub family: String,
}

/// The account's certificates: ours (by the account's ownership tags and the family tag) and the
/// domain names the others cover (their DNS validation records are the same as ours for the same
/// domain, so those are never deleted). Tags are read once per certificate and kept: an ARN is
/// never reused.
pub async fn list(
    aws: &Aws,
    owned: impl Fn(&Tags) -> bool,
    cache: &super::ObserveCache,
) -> Result<(Vec<ManagedCertificate>, BTreeSet<String>), AwsError> {
    let mut out = Vec::new();
    let mut others = BTreeSet::new();
    let mut token = None;
    loop {
        let page = aws
            .call(
                "acm",
                "ListCertificates",
                aws.acm.list_certificates().max_items(1000).set_next_token(token).send(),
            )
            .await?;
        for summary in page.certificate_summary_list() {
            let Some(arn) = summary.certificate_arn() else { continue };
            let tags = match cache.tags(arn) {
                Some(t) => t,
                None => {
                    let t = tags_of(aws, arn).await?;
                    cache.put_tags(arn, t.clone());
                    t
                }
            };
            match tags.get(FAMILY_TAG).filter(|_| owned(&tags)) {
                Some(family) => {
                    out.push(ManagedCertificate { arn: arn.to_string(), family: family.clone() })
                }
                None => {
                    others.extend(summary.domain_name().map(str::to_string));
                    others.extend(summary.subject_alternative_name_summaries().iter().cloned());
                }
            }
        }
        token = page.next_token().map(str::to_string).filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok((out, others));
        }
    }
}

async fn tags_of(aws: &Aws, arn: &str) -> Result<Tags, AwsError> {
    match aws
        .call(
            "acm",
            "ListTagsForCertificate",
            aws.acm.list_tags_for_certificate().certificate_arn(arn).send(),
        )
        .await
    {
        Ok(out) => Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
            .collect()),
        // Deleted since it was listed.
        Err(e) if e.is_not_found() => Ok(Tags::new()),
        Err(e) => Err(e),
    }
}

/// Requests the family's certificate; the token makes a retried request issue no second one.
pub async fn request(
    aws: &Aws,
    family: &str,
    token: &str,
    tags: &Tags,
) -> Result<String, AwsError> {
    let mut tags = tags.clone();
    tags.insert(FAMILY_TAG.into(), family.to_string());
    let out = aws
        .call(
            "acm",
            "RequestCertificate",
            aws.acm
                .request_certificate()
                .domain_name(family)
                .subject_alternative_names(family)
                .subject_alternative_names(format!("*.{family}"))
                .validation_method(ValidationMethod::Dns)
                .idempotency_token(token)
                .set_tags(Some(
                    tags.iter()
                        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                        .collect(),
                ))
                .send(),
        )
        .await?;
    out.certificate_arn()
        .map(str::to_string)
        .ok_or_else(|| AwsError::unexpected("RequestCertificate", "no certificate ARN"))
}

/// The idempotency token of a family's request (at most 32 word characters): the same for every
/// retry by this installation for this account.
pub fn request_token(cluster_id: &str, account: &str, family: &str) -> String {
    let seed = format!("{cluster_id}/{account}/{family}");
    format!("byoc{:016x}", crate::desired::naming::fnv1a(seed.as_bytes()))
}

/// What ACM says about a certificate: its state and validation record (once named).
pub async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<(CertificateState, Option<DnsRecord>, Option<String>), AwsError> {
    let out = aws
        .call(
            "acm",
            "DescribeCertificate",
            aws.acm.describe_certificate().certificate_arn(arn).send(),
        )
        .await?;
    let Some(c) = out.certificate() else {
        return Err(AwsError::unexpected("DescribeCertificate", "no certificate"));
    };
    let record =
        c.domain_validation_options().iter().find_map(|v| v.resource_record()).map(|r| DnsRecord {
            name: r.name().to_string(),
            type_: r.r#type().as_str().to_string(),
            value: r.value().to_string(),
        });
    let state = match c.status() {
        Some(CertificateStatus::Issued) => CertificateState::Issued,
        Some(CertificateStatus::PendingValidation) if record.is_some() => {
            CertificateState::PendingValidation
        }
        Some(CertificateStatus::PendingValidation) | None => CertificateState::Requested,
        Some(_) => CertificateState::Failed,
    };
    let message = match state {
        CertificateState::Failed => Some(format!(
            "ACM certificate {arn} is {}{}; delete the hosts from the services, or fix DNS and remove the certificate so it is requested again",
            c.status().map_or("unknown", |s| s.as_str()),
            c.failure_reason().map(|r| format!(" ({})", r.as_str())).unwrap_or_default()
        )),
        _ => None,
    };
    Ok((state, record, message))
}

/// Deletes a certificate of ours; missing is success.
pub async fn delete(aws: &Aws, arn: &str) -> Result<(), AwsError> {
    match aws
        .call("acm", "DeleteCertificate", aws.acm.delete_certificate().certificate_arn(arn).send())
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) if e.code == "ResourceInUseException" => {
            Err(AwsError { category: Category::Transient, ..e })
        }
        other => other.map(|_| ()),
    }
}

/// The certificates on a listener's SNI list (the default one excluded).
pub async fn on_listener(aws: &Aws, listener: &str) -> Result<Vec<String>, AwsError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .call(
                "elbv2",
                "DescribeListenerCertificates",
                aws.elb
                    .describe_listener_certificates()
                    .listener_arn(listener)
                    .set_marker(marker)
                    .page_size(400)
                    .send(),
            )
            .await?;
        out.extend(
            page.certificates()
                .iter()
                .filter(|c| c.is_default() != Some(true))
                .filter_map(|c| c.certificate_arn().map(str::to_string)),
        );
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            out.sort();
            out.dedup();
            return Ok(out);
        }
    }
}

/// Adds a certificate to a listener's SNI list.
pub async fn attach(aws: &Aws, listener: &str, arn: &str) -> Result<(), AwsError> {
    aws.call(
        "elbv2",
        "AddListenerCertificates",
        aws.elb
            .add_listener_certificates()
            .listener_arn(listener)
            .certificates(ListenerCertificate::builder().certificate_arn(arn).build())
            .send(),
    )
    .await
    .map(|_| ())
}

/// Removes a certificate from a listener's SNI list; a listener already gone is success.
pub async fn detach(aws: &Aws, listener: &str, arn: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "elbv2",
            "RemoveListenerCertificates",
            aws.elb
                .remove_listener_certificates()
                .listener_arn(listener)
                .certificates(ListenerCertificate::builder().certificate_arn(arn).build())
                .send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
