//! ACM (AWS Certificate Manager) through the layer: DNS validation as real ACM does it. moto names
//! the validation record at once, uses one constant record for every domain of every certificate,
//! issues every certificate 60 s after the request without looking at DNS, and deletes a
//! certificate a load balancer still uses. Requests go to moto; the layer rewrites what ACM shows
//! and refuses what it refuses.
//!
//! - The validation record comes later. RequestCertificate
//!   (<https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html>): "After
//!   successful completion of the RequestCertificate action, there is a delay of several seconds
//!   before you can retrieve information about the new certificate." Until
//!   `Config::acm_record_delay` has passed, DescribeCertificate shows each
//!   `DomainValidationOptions` entry without its `ResourceRecord` (what tools poll for:
//!   hashicorp/terraform-provider-aws#9598, aws-controllers-k8s/acm-controller#2).
//! - One record per domain. DNS validation
//!   (<https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html>): "Each record,
//!   created specifically for your domain and your account, contains a name and a value", and
//!   "you can request additional ACM certificates for your fully qualified domain name (FQDN) for
//!   as long as the CNAME record remains in place" — a domain and its wildcard share one record
//!   (aws/aws-cdk#2632). The layer derives `_<hash>.<domain>.` →
//!   `_<hash>.<letters>.acm-validations.aws.` from the domain (`validation_record`).
//! - Issued once the record is in DNS. The certificate stays PENDING_VALIDATION until every
//!   validation CNAME (name and value as DescribeCertificate shows them) is in one of moto's
//!   Route 53 hosted zones, then becomes ISSUED `Config::acm_validation` later (the domains'
//!   `ValidationStatus` turns SUCCESS, and `IssuedAt`, which "exists only when the certificate
//!   type is AMAZON_ISSUED", appears: on real AWS "you might need to wait up to several hours for
//!   your DNS provider to propagate and for ACM to validate your domains"
//!   (<https://aws.amazon.com/premiumsupport/knowledge-center/acm-certificate-pending-validation/>).
//!   An issued certificate stays issued. ListCertificates shows the same status and filters by it
//!   (`CertificateStatuses`).
//! - In use means not deletable. DeleteCertificate
//!   (<https://docs.aws.amazon.com/acm/latest/APIReference/API_DeleteCertificate.html>): "You
//!   cannot delete an ACM certificate that is being used by another AWS service. To delete a
//!   certificate that is in use, you must first remove the certificate association";
//!   `ResourceInUseException` "The certificate is in use by another Amazon Web Services service in
//!   the caller's account. Remove the association and try again.", worded "Certificate <arn> in
//!   account <id> is in use." (dfds/infrastructure-modules#5, convox/praxis#209). A certificate
//!   on a listener (its default, or added with AddListenerCertificates, see `listener_certs`) is
//!   in use, and DescribeCertificate's `InUseBy` names its load balancers
//!   (<https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html>).
//!
//! Certificates the layer did not see requested (made directly on moto) count from their
//! `CreatedAt`, which moto gives in whole seconds.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    Shared, listener_certs, route53,
    wire::{self, Reply, Req},
};

#[derive(Debug, Default)]
pub struct Model {
    certificates: HashMap<String, Certificate>,
    /// Validation record name (normalized) → since when it has been in a hosted zone, as far
    /// as the layer knows (a change through it, or a look).
    records: HashMap<String, Instant>,
    /// Certificate ARN → the listeners that hold it, as seen through the layer.
    listeners: HashMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, Copy)]
struct Certificate {
    requested: Instant,
    issued: Option<Instant>,
}

impl Model {
    /// A validation-looking CNAME was written (`present`) or deleted.
    pub fn saw_record(&mut self, name: &str, present: bool, now: Instant) {
        let name = route53::normalize(name);
        if present {
            self.records.entry(name).or_insert(now);
        } else {
            self.records.remove(&name);
        }
    }

    pub fn hold(&mut self, certificate: &str, listener: &str) {
        self.listeners.entry(certificate.into()).or_default().insert(listener.into());
    }

    pub fn release(&mut self, certificate: &str, listener: &str) {
        if let Some(listeners) = self.listeners.get_mut(certificate) {
            listeners.remove(listener);
        }
    }

    /// Listeners that start with `prefix` (a listener, or a load balancer's listeners) are gone.
    pub fn forget_listeners(&mut self, prefix: &str) {
        for listeners in self.listeners.values_mut() {
            listeners.retain(|l| !l.starts_with(prefix));
        }
    }

    fn holders(&self, certificate: &str) -> Vec<String> {
        self.listeners.get(certificate).map(|l| l.iter().cloned().collect()).unwrap_or_default()
    }
}

/// FNV-1a from a seed, then mixed (splitmix64's finalizer) so that nearby seeds differ widely.
fn hash(seed: u64, text: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The validation CNAME of a domain (a wildcard shares its base domain's): `(name, value)`.
pub fn validation_record(domain: &str) -> (String, String) {
    let base = domain.trim_end_matches('.').trim_start_matches("*.").to_ascii_lowercase();
    let h = |seed| hash(seed, &base);
    let letters: String =
        (0..10).map(|i| char::from(b'a' + ((h(5) >> (i * 6)) % 26) as u8)).collect();
    (
        format!("_{:016x}{:016x}.{base}.", h(1), h(2)),
        format!("_{:016x}{:016x}.{letters}.acm-validations.aws.", h(3), h(4)),
    )
}

/// The instant of a time moto gives in seconds since the epoch.
fn instant_of(shared: &Shared, epoch: f64) -> Instant {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(epoch.max(0.0));
    match at.duration_since(shared.started_wall) {
        Ok(after) => shared.started + after,
        Err(before) => shared.started.checked_sub(before.duration()).unwrap_or(shared.started),
    }
}

/// The load balancer ARN of a listener ARN.
pub fn load_balancer_of(listener: &str) -> String {
    let lb = listener.replacen(":listener/", ":loadbalancer/", 1);
    lb.rsplit_once('/').map_or(lb.clone(), |(head, _)| head.to_string())
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    match req.operation.as_str() {
        "RequestCertificate" => {
            let requested = Instant::now();
            let reply = shared.forward(req).await;
            if let (true, Some(arn)) = (reply.is_success(), reply.json()["CertificateArn"].as_str())
            {
                let fresh = Certificate { requested, issued: None };
                shared.lock().acm.certificates.entry(arn.to_string()).or_insert(fresh);
            }
            reply
        }
        "DescribeCertificate" => {
            let reply = shared.forward(req).await;
            if !reply.is_success() {
                return reply;
            }
            let mut out = reply.json();
            present(shared, req, &mut out["Certificate"], &mut None, true).await;
            reply.with_json(&out)
        }
        "ListCertificates" => {
            // moto filters by its own status; the layer's is the one that counts.
            let wanted: Option<Vec<String>> = body["CertificateStatuses"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .filter(|a: &Vec<String>| !a.is_empty());
            let mut asked = body.clone();
            if let Some(fields) = asked.as_object_mut() {
                fields.remove("CertificateStatuses");
            }
            let unfiltered = Req { body: Bytes::from(asked.to_string()), ..req.clone() };
            let reply = shared.forward(&unfiltered).await;
            if !reply.is_success() {
                return reply;
            }
            let mut out = reply.json();
            let mut zones = None;
            let mut kept = Vec::new();
            for mut summary in out["CertificateSummaryList"].as_array().cloned().unwrap_or_default()
            {
                present(shared, req, &mut summary, &mut zones, false).await;
                let status = summary["Status"].as_str().unwrap_or_default();
                if wanted.as_ref().is_none_or(|w| w.iter().any(|s| s == status)) {
                    kept.push(summary);
                }
            }
            out["CertificateSummaryList"] = Value::Array(kept);
            reply.with_json(&out)
        }
        "DeleteCertificate" => {
            let arn = body["CertificateArn"].as_str().unwrap_or_default().to_string();
            let holders = shared.lock().acm.holders(&arn);
            let mut in_use = false;
            for listener in holders {
                if listener_certs::holds(shared, req, &listener, &arn).await {
                    in_use = true;
                } else {
                    shared.lock().acm.release(&arn, &listener);
                }
            }
            if in_use {
                let account = arn.split(':').nth(4).unwrap_or_default();
                let message = format!("Certificate {arn} in account {account} is in use.");
                return wire::json_error(400, "ResourceInUseException", &message);
            }
            let reply = shared.forward(req).await;
            if reply.is_success() {
                let acm = &mut shared.lock().acm;
                acm.certificates.remove(&arn);
                acm.listeners.remove(&arn);
            }
            reply
        }
        _ => shared.forward(req).await,
    }
}

/// The status ACM shows for a certificate now; `None` when there is no such certificate.
pub async fn status(shared: &Shared, like: &Req, arn: &str) -> Option<String> {
    let like = listener_certs::as_service(like, "acm", "application/x-amz-json-1.1");
    let body = json!({ "CertificateArn": arn });
    let reply = shared.ask_json(&like, "CertificateManager.DescribeCertificate", body).await;
    if !reply.is_success() {
        return None;
    }
    let mut out = reply.json();
    present(shared, &like, &mut out["Certificate"], &mut None, true).await;
    out["Certificate"]["Status"].as_str().map(str::to_string)
}

/// Rewrites moto's view of one certificate (a DescribeCertificate `Certificate`, or a
/// ListCertificates summary) into ACM's: the validation records, the status, who uses it.
/// Looks at DNS for a certificate still pending whose records are named (`zones`: the hosted
/// zones, read once per request).
async fn present(
    shared: &Shared,
    req: &Req,
    cert: &mut Value,
    zones: &mut Option<Vec<(String, String)>>,
    detail: bool,
) {
    let Some(arn) = cert["CertificateArn"].as_str().map(str::to_string) else { return };
    let now = Instant::now();
    let created = cert["CreatedAt"].as_f64().map(|c| instant_of(shared, c));
    let (known, record_delay, validation) = {
        let mut state = shared.lock();
        let fresh = Certificate { requested: created.unwrap_or(now), issued: None };
        let known = *state.acm.certificates.entry(arn.clone()).or_insert(fresh);
        (known, state.config.acm_record_delay, state.config.acm_validation)
    };
    // Certificates ACM validates: Amazon-issued ones, pending or issued (moto's status says
    // which after its 60 s only). Imported, private, expired or failed ones are left as moto has
    // them.
    let validated = cert["Type"] == "AMAZON_ISSUED"
        && matches!(cert["Status"].as_str(), Some("PENDING_VALIDATION" | "ISSUED"));
    let named_at = known.requested + record_delay;
    let named = now >= named_at;
    let mut records: Vec<(String, String)> = cert["DomainValidationOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["DomainName"].as_str())
        .map(validation_record)
        .collect();
    records.sort();
    records.dedup();
    let mut issued = known.issued;
    if validated && issued.is_none() && named && !records.is_empty() {
        if zones.is_none() {
            *zones = Some(route53::zones(shared, req).await);
        }
        let zones = zones.as_deref().unwrap_or_default();
        let mut since = Some(named_at);
        for (name, value) in &records {
            let found = route53::cname_present(shared, req, zones, name, value).await;
            let mut state = shared.lock();
            state.acm.saw_record(name, found, now);
            since = match (since, state.acm.records.get(&route53::normalize(name))) {
                (Some(s), Some(at)) if found => Some(s.max(*at)),
                _ => None,
            };
        }
        if let Some(since) = since.filter(|s| now >= *s + validation) {
            issued = Some(since + validation);
            if let Some(c) = shared.lock().acm.certificates.get_mut(&arn) {
                c.issued = issued;
            }
        }
    }
    if validated {
        cert["Status"] = json!(if issued.is_some() { "ISSUED" } else { "PENDING_VALIDATION" });
        match (issued, cert.as_object_mut()) {
            (Some(at), _) => cert["IssuedAt"] = json!(shared.epoch(at)),
            (None, Some(fields)) => {
                fields.remove("IssuedAt");
            }
            (None, None) => {}
        }
    }
    for option in cert["DomainValidationOptions"].as_array_mut().into_iter().flatten() {
        let (name, value) = validation_record(option["DomainName"].as_str().unwrap_or_default());
        if validated {
            let status = if issued.is_some() { "SUCCESS" } else { "PENDING_VALIDATION" };
            option["ValidationStatus"] = json!(status);
        }
        if named || !validated {
            option["ResourceRecord"] = json!({ "Name": name, "Type": "CNAME", "Value": value });
        } else if let Some(fields) = option.as_object_mut() {
            fields.remove("ResourceRecord");
        }
    }
    let holders = shared.lock().acm.holders(&arn);
    let mut by: BTreeSet<String> = holders.iter().map(|l| load_balancer_of(l)).collect();
    if detail {
        by.extend(
            cert["InUseBy"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .map(str::to_string),
        );
        cert["InUseBy"] = json!(by);
    } else {
        let used = cert["InUse"].as_bool().unwrap_or(false) || !by.is_empty();
        cert["InUse"] = json!(used);
    }
}
