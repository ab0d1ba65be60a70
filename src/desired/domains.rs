//! Custom domains, pure: the host name family of a host, the hosted zone that holds it, the
//! records a host needs, and what a service's status says about its hosts given the account's
//! domain status.

use crate::api::{CertificateState, DnsRecord, DomainStatus, HostStatus, HostedZone};

/// The family a host belongs to: the host without its first label when it has three labels or
/// more (`shop.example.com` → `example.com`, `*.example.com` → `example.com`), else the host
/// itself (`example.com`). One certificate for the family and `*.family` covers every such host.
/// `None` for hosts with `?` wildcards or a `*` other than the whole first label.
pub fn family(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    if host.contains('?') || labels.iter().skip(1).any(|l| l.contains('*')) {
        return None;
    }
    if labels[0].contains('*') && labels[0] != "*" {
        return None;
    }
    match labels.len() {
        0 | 1 => None,
        2 if labels[0] == "*" => None,
        2 => Some(host),
        _ => Some(labels[1..].join(".")),
    }
}

/// The hosted zone of the longest name that `domain` is in (or is).
pub fn zone_for<'a>(domain: &str, zones: &'a [HostedZone]) -> Option<&'a HostedZone> {
    let domain = domain.trim_end_matches('.');
    zones
        .iter()
        .filter(|z| {
            let zone = z.name.trim_end_matches('.');
            domain == zone || domain.ends_with(&format!(".{zone}"))
        })
        .max_by_key(|z| z.name.len())
}

/// The alias record a host needs: `host` → the load balancer.
pub fn alias_record(host: &str, load_balancer_dns: &str) -> DnsRecord {
    DnsRecord {
        name: format!("{}.", host.trim_end_matches('.')),
        type_: "A".into(),
        value: load_balancer_dns.to_string(),
    }
}

/// The TXT record beside a host's alias that marks it as ours (Route 53 records take no tags):
/// `_byoc.<host>`, with a `*` first label spelled `_wildcard` (no host name label starts with
/// `_`, so the spelling cannot be mistaken for a host), so it never replaces a TXT record of the
/// host's own (SPF, site verification).
pub fn owner_record_name(host: &str) -> String {
    let host = host.trim_end_matches('.');
    match host.strip_prefix("*.") {
        Some(rest) => format!("_byoc._wildcard.{rest}."),
        None => format!("_byoc.{host}."),
    }
}

/// The host an owner record name stands for (`owner_record_name` backwards).
pub fn host_of_owner_record(name: &str) -> Option<String> {
    let rest = name.trim_end_matches('.').strip_prefix("_byoc.")?;
    Some(match rest.strip_prefix("_wildcard.") {
        Some(parent) => format!("*.{parent}"),
        None => rest.to_string(),
    })
}

/// The value of the owner record: which installation and account wrote the alias.
pub fn owner_record_value(cluster_id: &str, account: &str) -> String {
    format!(
        "\"heritage=byoc-operator,byoc.dev/cluster-id={cluster_id},byoc.dev/account={account}\""
    )
}

/// What a service's status says about its `hosts`, from the account's domain status; and
/// whether every host has an issued certificate (the service's URL is then `https`).
pub fn host_statuses(
    hosts: &[String],
    account: &[DomainStatus],
    load_balancer_dns: Option<&str>,
) -> (Vec<HostStatus>, bool) {
    let mut out = Vec::new();
    for host in hosts {
        let Some(family) = family(host) else { continue };
        let Some(d) = account.iter().find(|d| d.family == family) else {
            out.push(HostStatus {
                host: host.clone(),
                certificate: CertificateState::Requested,
                records_to_create: Vec::new(),
                message: None,
            });
            continue;
        };
        let mut records_to_create = Vec::new();
        if d.hosted_zone_id.is_none() {
            if d.state != CertificateState::Issued
                && let Some(v) = &d.validation_record
            {
                records_to_create.push(v.clone());
            }
            if let Some(dns) = load_balancer_dns {
                records_to_create.push(DnsRecord {
                    type_: "CNAME (or an alias A record)".into(),
                    ..alias_record(host, dns)
                });
            }
        }
        // The family's message, where it concerns this host (or the whole certificate).
        let message = d.message.as_ref().filter(|m| {
            d.state == CertificateState::Failed
                || m.split("; ").any(|part| part.starts_with(host.as_str()))
        });
        let message = message.map(|m| {
            m.split("; ")
                .filter(|part| {
                    d.state == CertificateState::Failed || part.starts_with(host.as_str())
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
        out.push(HostStatus {
            host: host.clone(),
            certificate: d.state,
            records_to_create,
            message,
        });
    }
    let issued = !out.is_empty() && out.iter().all(|h| h.certificate == CertificateState::Issued);
    (out, issued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_belongs_to_its_parent_domain_and_an_apex_to_itself() {
        let cases = [
            (
                "shop.example.com",
                Some("example.com"),
                "a subdomain shares its parent's certificate",
            ),
            ("*.example.com", Some("example.com"), "a wildcard host is the family's"),
            ("a.b.example.com", Some("b.example.com"), "one level below the host"),
            ("example.com", Some("example.com"), "an apex is its own family"),
            ("Shop.Example.com.", Some("example.com"), "case and the root dot do not matter"),
            ("sho?.example.com", None, "a ? wildcard has no certificate"),
            ("a.*.example.com", None, "a wildcard below the first label neither"),
            ("*.com", None, "nor a top-level wildcard"),
        ];
        for (host, want, reason) in cases {
            assert_eq!(family(host).as_deref(), want, "{host}: {reason}");
        }
    }

    #[test]
    fn an_owner_record_names_its_host_and_only_that_host() {
        for host in ["shop.example.com", "*.example.com", "wildcard-shop.example.com"] {
            let name = owner_record_name(host);
            assert!(name.starts_with("_byoc."), "{name}");
            assert_eq!(host_of_owner_record(&name).as_deref(), Some(host));
        }
        assert_eq!(host_of_owner_record("shop.example.com."), None);
    }

    #[test]
    fn the_longest_matching_zone_holds_a_domain() {
        let zones = vec![
            HostedZone { name: "example.com".into(), id: "Z1".into() },
            HostedZone { name: "shop.example.com".into(), id: "Z2".into() },
        ];
        assert_eq!(zone_for("api.shop.example.com", &zones).map(|z| z.id.as_str()), Some("Z2"));
        assert_eq!(zone_for("example.com", &zones).map(|z| z.id.as_str()), Some("Z1"));
        assert_eq!(zone_for("badexample.com", &zones), None);
    }

    #[test]
    fn without_a_zone_the_status_lists_the_records_to_create_until_issued() {
        let validation = DnsRecord {
            name: "_x.example.com.".into(),
            type_: "CNAME".into(),
            value: "_y.acm-validations.aws.".into(),
        };
        let mut d = DomainStatus {
            family: "example.com".into(),
            hosts: vec!["shop.example.com".into()],
            certificate_arn: Some("arn".into()),
            state: CertificateState::PendingValidation,
            validation_record: Some(validation.clone()),
            hosted_zone_id: None,
            message: None,
        };
        let hosts = vec!["shop.example.com".to_string()];
        let (status, issued) = host_statuses(&hosts, &[d.clone()], Some("lb.elb.amazonaws.com"));
        assert!(!issued);
        assert_eq!(status[0].records_to_create.len(), 2);
        assert_eq!(status[0].records_to_create[0], validation);
        assert_eq!(status[0].records_to_create[1].value, "lb.elb.amazonaws.com");
        d.state = CertificateState::Issued;
        let (status, issued) = host_statuses(&hosts, &[d.clone()], Some("lb.elb.amazonaws.com"));
        assert!(issued);
        assert_eq!(status[0].records_to_create.len(), 1, "the alias is still needed");
        d.hosted_zone_id = Some("Z1".into());
        let (status, _) = host_statuses(&hosts, &[d], Some("lb.elb.amazonaws.com"));
        assert!(status[0].records_to_create.is_empty(), "the operator writes them itself");
    }
}
