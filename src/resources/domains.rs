//! An account's custom domains (`CloudAccount.spec.domains`), shared by its services: one managed
//! certificate per host name family in use, attached to the HTTPS listeners that serve the family,
//! its validation record and an alias record per host in the hosted zones the account names; and
//! the removal of all that once no service uses it. Hosts "in use" are the host conditions of our
//! listener rules on load balancers with an HTTPS listener (`certificateArn`): AWS itself is the
//! record of what services need, for the controller and the CLI alike.
//!
//! `reconcile` observes, decides per family (pure `family_changes`) and, with `act`, carries the
//! changes out; it returns the account's domain status and the plan. Every AWS call is in
//! `certificate` and `dns`.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Action, Change, Kind, ObserveCache, Plan,
    account::{AccountState, owned_by},
    certificate::{self, ManagedCertificate},
    dns, rule,
    tags::Tags,
};
use crate::{
    api::{CertificateState, CloudAccountSpec, DomainStatus, HostedZone},
    aws::{Aws, AwsError},
    desired::domains::{alias_record, family, zone_for},
};

/// Who the account's resources belong to.
pub struct Owner<'a> {
    pub account: &'a str,
    pub cluster_id: &'a str,
    pub tags: &'a Tags,
}

/// What one family needs: its hosts and the HTTPS listeners (with their load balancer's DNS
/// name and zone) that serve them.
#[derive(Debug, Default, Clone)]
struct Need {
    hosts: BTreeSet<String>,
    listeners: BTreeSet<String>,
    /// `(dns name, canonical zone id)` of a load balancer serving the family.
    load_balancer: Option<(String, String)>,
}

/// The families the account's services use now, from our rules on its HTTPS listeners.
async fn needs(
    aws: &Aws,
    spec: &CloudAccountSpec,
    state: &AccountState,
    cluster_id: &str,
    cache: &ObserveCache,
) -> Result<BTreeMap<String, Need>, AwsError> {
    let mut out: BTreeMap<String, Need> = BTreeMap::new();
    for lb in spec.load_balancers.iter().filter(|l| l.certificate_arn.is_some()) {
        // A listener we do not own gets no certificate of ours.
        if lb.existing.is_some() {
            continue;
        }
        let Some(s) = state.load_balancers.get(&lb.name) else { continue };
        let Some(listener) = &s.listener_arn else { continue };
        // Ownership read from the rules' own tags (kept per rule ARN), never inferred: what is
        // not in use here gets deleted.
        let rules = match cache.rules(listener, true) {
            Some(rules) => rules,
            None => {
                let (rules, exact) =
                    rule::observe_listener(aws, listener, cluster_id, cache, false).await?;
                cache.put_rules(listener, rules.clone(), exact);
                rules
            }
        };
        for r in rules.iter().filter(|r| r.owner.is_some()) {
            for host in &r.hosts {
                let Some(f) = family(host) else { continue };
                let need = out.entry(f).or_default();
                need.hosts.insert(host.trim_end_matches('.').to_ascii_lowercase());
                need.listeners.insert(listener.clone());
                if let (Some(dns), Some(zone)) = (&s.dns_name, &s.canonical_zone_id) {
                    need.load_balancer = Some((dns.clone(), zone.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Observes, plans and (with `act`) applies the account's domains. `previous` is the status
/// recorded last time (`None` in the CLI): when it names the same hosts, no zone is scanned for
/// aliases left behind.
pub async fn reconcile(
    aws: &Aws,
    spec: &CloudAccountSpec,
    state: &AccountState,
    owner: &Owner<'_>,
    cache: &ObserveCache,
    previous: Option<&[DomainStatus]>,
    act: bool,
) -> Result<(Vec<DomainStatus>, Plan), AwsError> {
    let zones: Vec<HostedZone> =
        spec.domains.as_ref().map(|d| d.hosted_zones.clone()).unwrap_or_default();
    let needs = match &spec.domains {
        Some(_) => needs(aws, spec, state, owner.cluster_id, cache).await?,
        None => BTreeMap::new(),
    };
    let (ours, others) =
        certificate::list(aws, |t| owned_by(t, owner.account, owner.cluster_id), cache).await?;
    let mut plan = Plan::default();
    let mut statuses = Vec::new();
    // What each listener serves by SNI, read once; only when there is a certificate of ours.
    let mut attached: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !ours.is_empty() {
        let https = spec
            .load_balancers
            .iter()
            .filter(|l| l.certificate_arn.is_some() && l.existing.is_none())
            .filter_map(|l| state.load_balancers.get(&l.name)?.listener_arn.clone());
        for listener in https {
            let certs = certificate::on_listener(aws, &listener).await?;
            attached.insert(listener, certs);
        }
    }
    for (family, need) in &needs {
        let status =
            ensure_family(aws, family, need, &ours, &attached, &zones, owner, act, &mut plan)
                .await?;
        statuses.push(status);
    }
    // Certificates no service needs any more go, after leaving every listener.
    for cert in ours.iter().filter(|c| !needs.contains_key(&c.family)) {
        let shared =
            others.contains(&cert.family) || others.contains(&format!("*.{}", cert.family));
        remove_family(aws, cert, &attached, &zones, shared, act, &mut plan).await?;
    }
    // Aliases of hosts no service uses any more: known from the last status, or found in the
    // zones by our owner records when there is no status to go by.
    let wanted: BTreeSet<&String> = needs.values().flat_map(|n| n.hosts.iter()).collect();
    let known: Option<BTreeSet<String>> =
        previous.map(|p| p.iter().flat_map(|d| d.hosts.iter().cloned()).collect());
    let candidates: BTreeSet<String> = match known {
        Some(known) if known.iter().all(|h| wanted.contains(h)) => BTreeSet::new(),
        Some(known) => known,
        None if zones.is_empty() => BTreeSet::new(),
        None => {
            let mut found = BTreeSet::new();
            for z in &zones {
                found.extend(dns::owned_hosts(aws, &z.id, owner.cluster_id, owner.account).await?);
            }
            found
        }
    };
    for host in candidates.iter().filter(|h| !wanted.contains(h)) {
        let Some(zone) = zone_for(host, &zones) else { continue };
        if !dns::alias_is_ours(aws, &zone.id, host, owner.cluster_id, owner.account).await? {
            continue;
        }
        let change = Change::new(Kind::DnsRecord, format!("{host} A"), Action::Delete);
        if act {
            change.log();
            dns::delete_alias(aws, &zone.id, host, (owner.cluster_id, owner.account)).await?;
        }
        plan.push(Some(change));
    }
    Ok((statuses, plan))
}

#[allow(clippy::too_many_arguments)]
async fn ensure_family(
    aws: &Aws,
    family: &str,
    need: &Need,
    ours: &[ManagedCertificate],
    attached: &BTreeMap<String, Vec<String>>,
    zones: &[HostedZone],
    owner: &Owner<'_>,
    act: bool,
    plan: &mut Plan,
) -> Result<DomainStatus, AwsError> {
    let zone = zone_for(family, zones);
    let mut status = DomainStatus {
        family: family.to_string(),
        hosts: need.hosts.iter().cloned().collect(),
        certificate_arn: None,
        state: CertificateState::Requested,
        validation_record: None,
        hosted_zone_id: zone.map(|z| z.id.clone()),
        message: None,
    };
    let arn = match ours.iter().find(|c| c.family == family) {
        Some(c) => Some(c.arn.clone()),
        None => {
            let change =
                Change::new(Kind::Certificate, format!("{family}, *.{family}"), Action::Create);
            plan.push(Some(change.clone()));
            if act {
                change.log();
                let token = certificate::request_token(owner.cluster_id, owner.account, family);
                Some(certificate::request(aws, family, &token, owner.tags).await?)
            } else {
                None
            }
        }
    };
    if let Some(arn) = &arn {
        let (state, record, message) = certificate::describe(aws, arn).await?;
        status.state = state;
        status.message = message;
        if let (Some(zone), Some(record), CertificateState::PendingValidation) =
            (zone, &record, state)
            && dns::find(aws, &zone.id, &record.name, aws_sdk_route53::types::RrType::Cname)
                .await?
                .is_none()
        {
            let change =
                Change::new(Kind::DnsRecord, format!("{} CNAME", record.name), Action::Create);
            plan.push(Some(change.clone()));
            if act {
                change.log();
                dns::upsert_validation(aws, &zone.id, record).await?;
            }
        }
        status.validation_record = record;
        if state == CertificateState::Issued {
            for listener in &need.listeners {
                if attached.get(listener).is_some_and(|certs| certs.contains(arn)) {
                    continue;
                }
                let change = Change::new(Kind::ListenerCertificate, listener, Action::Create);
                plan.push(Some(change.clone()));
                if act {
                    change.log();
                    certificate::attach(aws, listener, arn).await?;
                }
            }
        }
        status.certificate_arn = Some(arn.clone());
    }
    for host in &need.hosts {
        ensure_alias(aws, host, need, zones, owner, act, plan, &mut status).await?;
    }
    Ok(status)
}

#[allow(clippy::too_many_arguments)]
async fn ensure_alias(
    aws: &Aws,
    host: &str,
    need: &Need,
    zones: &[HostedZone],
    owner: &Owner<'_>,
    act: bool,
    plan: &mut Plan,
    status: &mut DomainStatus,
) -> Result<(), AwsError> {
    let (Some(zone), Some((dns_name, lb_zone))) = (zone_for(host, zones), &need.load_balancer)
    else {
        return Ok(());
    };
    let want = alias_record(host, dns_name);
    let found = dns::find(aws, &zone.id, &want.name, aws_sdk_route53::types::RrType::A).await?;
    let ours = dns::alias_is_ours(aws, &zone.id, host, owner.cluster_id, owner.account).await?;
    let same = |values: &Vec<String>| {
        values
            .iter()
            .any(|v| v.trim_end_matches('.').eq_ignore_ascii_case(dns_name.trim_end_matches('.')))
    };
    match &found {
        Some(values) if !ours => {
            let message = format!(
                "{host} already has an A record ({}) that is not ours; it is left untouched: point it at {dns_name} yourself, or delete it",
                values.join(", ")
            );
            status.message = Some(match status.message.take() {
                Some(earlier) => format!("{earlier}; {message}"),
                None => message,
            });
            return Ok(());
        }
        Some(values) if same(values) => return Ok(()),
        _ => {}
    }
    let action = if found.is_some() {
        Action::Update(vec![super::FieldChange::new(
            "aliasTarget",
            found.iter().flatten().cloned().collect::<Vec<_>>().join(","),
            dns_name,
        )])
    } else {
        Action::Create
    };
    let change = Change::new(Kind::DnsRecord, format!("{host} A"), action);
    plan.push(Some(change.clone()));
    if act {
        change.log();
        dns::upsert_alias(
            aws,
            &zone.id,
            host,
            (dns_name, lb_zone),
            (owner.cluster_id, owner.account),
        )
        .await?;
    }
    Ok(())
}

async fn remove_family(
    aws: &Aws,
    cert: &ManagedCertificate,
    attached: &BTreeMap<String, Vec<String>>,
    zones: &[HostedZone],
    shared_record: bool,
    act: bool,
    plan: &mut Plan,
) -> Result<(), AwsError> {
    for (listener, certs) in attached {
        if certs.contains(&cert.arn) {
            let change = Change::new(Kind::ListenerCertificate, listener, Action::Delete);
            plan.push(Some(change.clone()));
            if act {
                change.log();
                certificate::detach(aws, listener, &cert.arn).await?;
            }
        }
    }
    let (_, record, _) = certificate::describe(aws, &cert.arn).await?;
    // Another certificate of the account for the same domain validates (and renews) with the
    // same record: it stays then.
    if let (Some(record), Some(zone), false) =
        (&record, zone_for(&cert.family, zones), shared_record)
    {
        let change = Change::new(Kind::DnsRecord, format!("{} CNAME", record.name), Action::Delete);
        plan.push(Some(change.clone()));
        if act {
            change.log();
            dns::delete_validation(aws, &zone.id, record).await?;
        }
    }
    let change = Change::new(Kind::Certificate, &cert.arn, Action::Delete);
    plan.push(Some(change.clone()));
    if act {
        change.log();
        certificate::delete(aws, &cert.arn).await?;
    }
    Ok(())
}
