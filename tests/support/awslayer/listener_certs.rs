//! ELBv2 listener certificates through the layer: a listener takes only a certificate that
//! exists and is issued, and holds each one once. moto adds any ARN to a listener's list, and
//! appends a certificate again each time it is added. What the layer sees listeners hold feeds ACM's
//! "in use" (`acm`).
//!
//! - AddListenerCertificates
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_AddListenerCertificates.html>):
//!   "If the certificate in already in the certificate list, the call is successful but the
//!   certificate is not added again."; `CertificateNotFound` (HTTP 400): "The specified
//!   certificate does not exist." ACM certificates are checked against ACM as the layer shows it
//!   (IAM server certificates are left to moto). A certificate still pending validation is
//!   refused the same way: "Certificate '<arn>' not found" from ELBv2 for a certificate not yet
//!   issued (aws/aws-cdk#6081; hashicorp/terraform-provider-aws#10510, whose fix is to wait for
//!   the validation before adding it). Listeners created with a default certificate are not
//!   checked.
//! - A listener's default certificate (CreateListener, ModifyListener `Certificates`) and its
//!   certificate list both put a certificate in use; RemoveListenerCertificates, DeleteListener
//!   and DeleteLoadBalancer release it. Before ACM refuses a deletion the layer asks moto whether
//!   each listener still holds the certificate, so listeners changed behind its back count right.

use super::{
    Shared,
    wire::{self, ELB_NAMESPACE, Reply, Req},
};

const CERTIFICATES: &str = "Certificates.member.";

/// The certificate ARNs a request names (`Certificates.member.N.CertificateArn`), in order.
fn named(form: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, v) in form {
        if k.starts_with(CERTIFICATES) && k.ends_with(".CertificateArn") && !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// `like` as a request to another of moto's services: its credential scope, no target, the
/// content type that service reads.
pub fn as_service(like: &Req, service: &str, content_type: &'static str) -> Req {
    let mut req = like.clone();
    let authorization = req.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(value) = authorization.map(|a| wire::rescope(a, service))
        && let Ok(value) = value.parse()
    {
        req.headers.insert(http::header::AUTHORIZATION, value);
    }
    req.headers.remove("x-amz-target");
    req.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    req
}

/// `(arn, is default)` of every certificate on a listener, as moto lists them; `None` when the
/// listener does not exist.
async fn on_listener(shared: &Shared, like: &Req, listener: &str) -> Option<Vec<(String, bool)>> {
    let like = as_service(like, "elasticloadbalancing", "application/x-www-form-urlencoded");
    let params = [
        ("Action", "DescribeListenerCertificates"),
        ("Version", "2015-12-01"),
        ("ListenerArn", listener),
    ];
    let reply = shared.ask_query(&like, &params).await;
    if !reply.is_success() {
        return None;
    }
    let certificates = wire::element(reply.text(), "Certificates").unwrap_or_default();
    Some(
        wire::members(certificates)
            .into_iter()
            .filter_map(|m| {
                let arn = wire::tag_text(m, "CertificateArn")?.to_string();
                Some((arn, wire::tag_text(m, "IsDefault") == Some("true")))
            })
            .collect(),
    )
}

/// Whether `listener` holds `certificate` now (as its default or in its list).
pub async fn holds(shared: &Shared, like: &Req, listener: &str, certificate: &str) -> bool {
    on_listener(shared, like, listener)
        .await
        .is_some_and(|on| on.iter().any(|(arn, _)| arn == certificate))
}

pub async fn add(shared: &Shared, req: &Req, form: &[(String, String)]) -> Reply {
    let listener =
        form.iter().find(|(k, _)| k == "ListenerArn").map(|(_, v)| v.clone()).unwrap_or_default();
    let wanted = named(form);
    for arn in wanted.iter().filter(|a| a.contains(":acm:")) {
        if super::acm::status(shared, req, arn).await.as_deref() != Some("ISSUED") {
            let message = format!("Certificate '{arn}' not found");
            return wire::query_error(400, "Sender", "CertificateNotFound", &message);
        }
    }
    // moto answers for a listener that does not exist.
    let Some(on) = on_listener(shared, req, &listener).await else {
        return shared.forward(req).await;
    };
    let listed: Vec<&String> = on.iter().filter(|(_, default)| !default).map(|(a, _)| a).collect();
    let new: Vec<&String> = wanted.iter().filter(|a| !listed.contains(a)).collect();
    let reply = if new.is_empty() {
        let members: String = listed
            .iter()
            .map(|arn| {
                format!(
                    "<member><CertificateArn>{}</CertificateArn><IsDefault>false</IsDefault></member>",
                    wire::escape(arn)
                )
            })
            .collect();
        wire::xml_reply(
            200,
            format!(
                r#"<AddListenerCertificatesResponse xmlns="{ELB_NAMESPACE}"><AddListenerCertificatesResult><Certificates>{members}</Certificates></AddListenerCertificatesResult><ResponseMetadata><RequestId>00000000-0000-4000-a000-000000000000</RequestId></ResponseMetadata></AddListenerCertificatesResponse>"#
            ),
        )
    } else {
        // Only what is not there yet, once.
        let mut params: Vec<(String, String)> =
            form.iter().filter(|(k, _)| !k.starts_with(CERTIFICATES)).cloned().collect();
        for (i, arn) in new.iter().enumerate() {
            params.push((format!("{CERTIFICATES}{}.CertificateArn", i + 1), (*arn).clone()));
        }
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        shared.forward(&Req { body: bytes::Bytes::from(body), ..req.clone() }).await
    };
    if reply.is_success() {
        let acm = &mut shared.lock().acm;
        for arn in &wanted {
            acm.hold(arn, &listener);
        }
    }
    reply
}

pub async fn remove(shared: &Shared, req: &Req, form: &[(String, String)]) -> Reply {
    let reply = shared.forward(req).await;
    if reply.is_success() {
        let listener =
            form.iter().find(|(k, _)| k == "ListenerArn").map(|(_, v)| v.as_str()).unwrap_or("");
        let acm = &mut shared.lock().acm;
        for arn in named(form) {
            acm.release(&arn, listener);
        }
    }
    reply
}

/// A listener was created or modified with `Certificates` (its default certificate).
pub fn noted(shared: &Shared, listener: &str, form: &[(String, String)]) {
    let acm = &mut shared.lock().acm;
    for arn in named(form) {
        acm.hold(&arn, listener);
    }
}
