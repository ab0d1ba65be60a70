//! DNS records of custom domains in the Route 53 hosted zones an account names: a certificate's
//! validation CNAME, and per host an alias `A` record to its load balancer with a TXT record
//! beside it (`_byoc.<host>`) that marks the alias as ours — Route 53 records take no tags (the
//! TXT registry external-dns uses). A name that has an `A` record without our TXT is someone
//! else's and is never changed. Every function is one or two Route 53 calls.
//!
//! AWS facts (Route 53 API Reference): `ChangeResourceRecordSets` applies a batch atomically;
//! `UPSERT` creates or replaces a record set; `DELETE` must name the record set exactly as it is;
//! `ListResourceRecordSets` starts at `StartRecordName`/`StartRecordType` in the zone's order.
//! An alias to an ALB names the load balancer's `CanonicalHostedZoneId`, not the zone's own.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::{
    api::DnsRecord,
    aws::{Aws, AwsError},
    desired::domains::{owner_record_name, owner_record_value},
};

/// The record set `name`/`type_` of a zone, if there is one: its values (or alias target).
pub async fn find(
    aws: &Aws,
    zone: &str,
    name: &str,
    type_: RrType,
) -> Result<Option<Vec<String>>, AwsError> {
    let out = aws
        .call(
            "route53",
            "ListResourceRecordSets",
            aws.route53
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(name)
                .start_record_type(type_.clone())
                .max_items(1)
                .send(),
        )
        .await?;
    let wanted = name.trim_end_matches('.').to_ascii_lowercase();
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|r| {
            r.r#type() == &type_
                && r.name().trim_end_matches('.').replace("\\052", "*").to_ascii_lowercase()
                    == wanted
        })
        .map(|r| match r.alias_target() {
            Some(a) => vec![a.dns_name().to_string()],
            None => r.resource_records().iter().map(|v| v.value().to_string()).collect(),
        }))
}

/// Whether the alias of `host` is ours (our TXT record beside it).
pub async fn alias_is_ours(
    aws: &Aws,
    zone: &str,
    host: &str,
    cluster_id: &str,
    account: &str,
) -> Result<bool, AwsError> {
    let found = find(aws, zone, &owner_record_name(host), RrType::Txt).await?;
    Ok(found.is_some_and(|values| values.contains(&owner_record_value(cluster_id, account))))
}

fn record_set(r: &DnsRecord, type_: RrType) -> Result<ResourceRecordSet, AwsError> {
    let value = ResourceRecord::builder()
        .value(&r.value)
        .build()
        .map_err(|e| AwsError::unexpected("ChangeResourceRecordSets", e.to_string()))?;
    ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(type_)
        .ttl(300)
        .resource_records(value)
        .build()
        .map_err(|e| AwsError::unexpected("ChangeResourceRecordSets", e.to_string()))
}

async fn change(
    aws: &Aws,
    zone: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
) -> Result<(), AwsError> {
    let changes = changes
        .into_iter()
        .map(|(action, set)| Change::builder().action(action).resource_record_set(set).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::unexpected("ChangeResourceRecordSets", e.to_string()))?;
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment("byoc-operator")
        .build()
        .map_err(|e| AwsError::unexpected("ChangeResourceRecordSets", e.to_string()))?;
    aws.call(
        "route53",
        "ChangeResourceRecordSets",
        aws.route53.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send(),
    )
    .await
    .map(|_| ())
}

/// Creates (or repeats) a certificate's validation CNAME.
pub async fn upsert_validation(aws: &Aws, zone: &str, r: &DnsRecord) -> Result<(), AwsError> {
    change(aws, zone, vec![(ChangeAction::Upsert, record_set(r, RrType::Cname)?)]).await
}

/// Deletes a validation CNAME; one already gone is success.
pub async fn delete_validation(aws: &Aws, zone: &str, r: &DnsRecord) -> Result<(), AwsError> {
    if find(aws, zone, &r.name, RrType::Cname).await?.is_none() {
        return Ok(());
    }
    change(aws, zone, vec![(ChangeAction::Delete, record_set(r, RrType::Cname)?)]).await
}

fn alias_set(
    host: &str,
    load_balancer_dns: &str,
    load_balancer_zone: &str,
) -> Result<ResourceRecordSet, AwsError> {
    let target = AliasTarget::builder()
        .hosted_zone_id(load_balancer_zone)
        .dns_name(load_balancer_dns)
        .evaluate_target_health(true)
        .build()
        .map_err(|e| AwsError::unexpected("ChangeResourceRecordSets", e.to_string()))?;
    ResourceRecordSet::builder()
        .name(format!("{}.", host.trim_end_matches('.')))
        .r#type(RrType::A)
        .alias_target(target)
        .build()
        .map_err(|e| AwsError::unexpected("ChangeResourceRecordSets", e.to_string()))
}

fn owner_set(host: &str, cluster_id: &str, account: &str) -> Result<ResourceRecordSet, AwsError> {
    let r = DnsRecord {
        name: owner_record_name(host),
        type_: "TXT".into(),
        value: owner_record_value(cluster_id, account),
    };
    record_set(&r, RrType::Txt)
}

/// Points `host` at the load balancer, with our owner record, in one atomic batch.
pub async fn upsert_alias(
    aws: &Aws,
    zone: &str,
    host: &str,
    load_balancer: (&str, &str),
    owner: (&str, &str),
) -> Result<(), AwsError> {
    let (dns, lb_zone) = load_balancer;
    let (cluster_id, account) = owner;
    change(
        aws,
        zone,
        vec![
            (ChangeAction::Upsert, owner_set(host, cluster_id, account)?),
            (ChangeAction::Upsert, alias_set(host, dns, lb_zone)?),
        ],
    )
    .await
}

/// Removes our alias of `host` and its owner record, in one atomic batch (a `DELETE` names the
/// record set as it is: the alias target is read first).
pub async fn delete_alias(
    aws: &Aws,
    zone: &str,
    host: &str,
    owner: (&str, &str),
) -> Result<(), AwsError> {
    let (cluster_id, account) = owner;
    let mut changes = Vec::new();
    let out = aws
        .call(
            "route53",
            "ListResourceRecordSets",
            aws.route53
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(host)
                .start_record_type(RrType::A)
                .max_items(1)
                .send(),
        )
        .await?;
    let wanted = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(existing) = out.resource_record_sets().iter().find(|r| {
        r.r#type() == &RrType::A
            && r.name().trim_end_matches('.').replace("\\052", "*").to_ascii_lowercase() == wanted
    }) {
        changes.push((ChangeAction::Delete, existing.clone()));
    }
    if find(aws, zone, &owner_record_name(host), RrType::Txt).await?.is_some() {
        changes.push((ChangeAction::Delete, owner_set(host, cluster_id, account)?));
    }
    if changes.is_empty() {
        return Ok(());
    }
    change(aws, zone, changes).await
}

/// The hosts whose alias in `zone` carries our owner record (a scan of the whole zone, 300
/// records per page: only when nothing recorded which hosts were ours).
pub async fn owned_hosts(
    aws: &Aws,
    zone: &str,
    cluster_id: &str,
    account: &str,
) -> Result<Vec<String>, AwsError> {
    let value = owner_record_value(cluster_id, account);
    let mut hosts = Vec::new();
    let (mut name, mut type_): (Option<String>, Option<RrType>) = (None, None);
    loop {
        let out = aws
            .call(
                "route53",
                "ListResourceRecordSets",
                aws.route53
                    .list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .set_start_record_name(name)
                    .set_start_record_type(type_)
                    .max_items(300)
                    .send(),
            )
            .await?;
        for r in out.resource_record_sets() {
            if r.r#type() == &RrType::Txt
                && let Some(host) = crate::desired::domains::host_of_owner_record(r.name())
                && r.resource_records().iter().any(|v| v.value() == value)
            {
                hosts.push(host);
            }
        }
        if !out.is_truncated() {
            return Ok(hosts);
        }
        name = out.next_record_name().map(str::to_string);
        type_ = out.next_record_type().cloned();
        if name.is_none() {
            return Ok(hosts);
        }
    }
}
