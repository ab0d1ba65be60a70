//! Custom domains with managed certificates: `CloudAccount.spec.domains` (the Route 53 hosted
//! zones the operator may write to), what the account's status says about each host name family
//! (its ACM certificate, the DNS records), and what a service's status says about its hosts.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::patterns;

/// Managed certificates for the services' hosts: each host name family (`shop.example.com` and
/// `api.example.com` are the family `example.com`) gets one DNS-validated ACM certificate for the
/// family and its subdomains, attached by SNI to the HTTPS listener of the load balancers that
/// serve it (load balancers with `certificateArn`). In a hosted zone listed here the operator
/// writes the validation record and an alias record per host itself; elsewhere the service's status
/// tells which records to create.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Domains {
    /// Route 53 hosted zones the operator may write records to (the longest matching zone is used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub hosted_zones: Vec<HostedZone>,
}

/// A public Route 53 hosted zone.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HostedZone {
    /// The zone's domain, e.g. `example.com`.
    #[schemars(length(min = 1, max = 253), regex(pattern = patterns::DOMAIN))]
    pub name: String,
    /// The zone's id, e.g. `Z0123456789ABCDEFGHIJ`.
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[A-Z0-9]+$"))]
    pub id: String,
}

/// State of a managed certificate.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateState {
    /// Requested; ACM has not named its validation record yet.
    Requested,
    /// Waiting for the validation record in DNS.
    PendingValidation,
    /// Issued and attached to the load balancers that serve the family.
    Issued,
    /// Validation failed or timed out (72 hours), or the certificate was revoked.
    Failed,
}

/// A DNS record to create (when the operator may not write the zone) or that it wrote.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    /// Fully qualified name, e.g. `_a79865eb4cd1a6ab990a45779b4e0b96.example.com.`.
    pub name: String,
    /// `CNAME`, or `A` for an alias to the load balancer.
    #[serde(rename = "type")]
    pub type_: String,
    /// The record's value (for an alias: the load balancer's DNS name).
    pub value: String,
}

/// One host name family of the account.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DomainStatus {
    /// The family, e.g. `example.com` (the certificate covers it and `*.example.com`).
    pub family: String,
    /// The services' hosts in it.
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    pub state: CertificateState,
    /// The CNAME ACM validates the family with, once ACM named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_record: Option<DnsRecord>,
    /// The hosted zone the operator writes the records to; none: create them yourself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    /// What is wrong or pending, for a person to act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A service's host on its custom domain.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    pub host: String,
    /// The state of its family's certificate.
    pub certificate: CertificateState,
    /// Records to create in DNS yourself (the account names no hosted zone for the host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records_to_create: Vec<DnsRecord>,
    /// What is wrong with the host's certificate or records, for a person to act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
