//! The account's Service Connect namespace: an AWS Cloud Map HTTP namespace named by
//! `CloudAccount.spec.serviceConnect.namespace`. Created and owned when absent (tagged like the
//! account's other resources), used but never changed or deleted when it exists without our tags.
//! `observe` lists namespaces by name and reads tags; `ensure` creates; `delete` removes ours.
//!
//! AWS facts (AWS Cloud Map API Reference): `CreateHttpNamespace` is asynchronous — it returns an
//! `OperationId` whose `GetOperation` turns `SUCCESS` with the namespace id as its target — and
//! takes a `CreatorRequestId` that makes a retried request create nothing more; `ListNamespaces`
//! filters by `NAME` (`EQ`), pages of up to 100; `DeleteNamespace` fails with `ResourceInUse`
//! while the namespace still has services (ECS creates and removes the Service Connect services
//! itself, after the ECS service has drained).

use aws_sdk_servicediscovery::types::{
    FilterCondition, NamespaceFilter, NamespaceFilterName, OperationStatus, OperationTargetType,
    Tag,
};

use super::{Presence, tags::Tags};
use crate::aws::{Aws, AwsError, Category};

/// A namespace as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: String,
    pub arn: String,
}

/// The namespace named `name`, and whose it is (`owned`: account-level ownership of our tags).
pub async fn observe(
    aws: &Aws,
    name: &str,
    owned: impl Fn(&Tags) -> bool,
) -> Result<Presence<Namespace>, AwsError> {
    let Some(found) = find(aws, name).await? else { return Ok(Presence::Missing) };
    let out = aws
        .call(
            "servicediscovery",
            "ListTagsForResource",
            aws.cloudmap.list_tags_for_resource().resource_arn(&found.arn).send(),
        )
        .await?;
    let tags: Tags =
        out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    Ok(if owned(&tags) { Presence::Ours(found) } else { Presence::Foreign(found.arn) })
}

async fn find(aws: &Aws, name: &str) -> Result<Option<Namespace>, AwsError> {
    let filter = NamespaceFilter::builder()
        .name(NamespaceFilterName::Name)
        .values(name)
        .condition(FilterCondition::Eq)
        .build()
        .map_err(|e| AwsError::unexpected("ListNamespaces", e.to_string()))?;
    let mut token = None;
    loop {
        let out = aws
            .call(
                "servicediscovery",
                "ListNamespaces",
                aws.cloudmap
                    .list_namespaces()
                    .filters(filter.clone())
                    .max_results(100)
                    .set_next_token(token.clone())
                    .send(),
            )
            .await?;
        // The filter is applied here too: some emulators ignore it.
        if let Some(n) = out.namespaces().iter().find(|n| n.name() == Some(name)) {
            return Ok(Some(Namespace {
                id: n.id().unwrap_or_default().to_string(),
                arn: n.arn().unwrap_or_default().to_string(),
            }));
        }
        // Cloud Map filters each page after taking it: an empty page may still have a next one.
        let next = out.next_token().map(str::to_string);
        if next.is_none() || next == token {
            return Ok(None);
        }
        token = next;
    }
}

/// Creates the namespace and waits briefly for it; `None` when it is not ready yet (a later
/// reconcile finds it by name; the request id makes a retry create nothing more).
pub async fn create(
    aws: &Aws,
    name: &str,
    request_id: &str,
    tags: &Tags,
) -> Result<Option<Namespace>, AwsError> {
    let created = aws
        .call(
            "servicediscovery",
            "CreateHttpNamespace",
            aws.cloudmap
                .create_http_namespace()
                .name(name)
                .creator_request_id(request_id)
                .description("ECS Service Connect namespace of byoc-operator")
                .set_tags(Some(
                    tags.iter()
                        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                        .collect(),
                ))
                .send(),
        )
        .await;
    let out = match created {
        // Created by an earlier attempt whose answer was lost (or by someone else: `observe`
        // then tells whose it is by its tags).
        Err(e) if e.code == "NamespaceAlreadyExists" => return find(aws, name).await,
        other => other?,
    };
    let Some(operation) = out.operation_id() else { return find(aws, name).await };
    for attempt in 0..10u64 {
        let out = aws
            .call(
                "servicediscovery",
                "GetOperation",
                aws.cloudmap.get_operation().operation_id(operation).send(),
            )
            .await?;
        let Some(op) = out.operation() else { break };
        match op.status() {
            Some(OperationStatus::Success) => {
                let id = op.targets().and_then(|t| t.get(&OperationTargetType::Namespace));
                return match id {
                    Some(_) => find(aws, name).await,
                    None => Ok(None),
                };
            }
            Some(OperationStatus::Fail) => {
                return Err(AwsError {
                    operation: "CreateHttpNamespace",
                    code: op.error_code().unwrap_or("OperationFailed").to_string(),
                    message: op.error_message().unwrap_or_default().to_string(),
                    category: Category::Invalid,
                });
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1))).await,
        }
    }
    Ok(None)
}

/// Deletes our namespace; a namespace that still has services (ECS removes its Service Connect
/// services only after the last ECS service drained) is a transient error, retried. Missing is
/// success.
pub async fn delete(aws: &Aws, id: &str) -> Result<(), AwsError> {
    match aws
        .call("servicediscovery", "DeleteNamespace", aws.cloudmap.delete_namespace().id(id).send())
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) if e.code == "ResourceInUse" => Err(AwsError {
            category: Category::Transient,
            message: format!(
                "{}; ECS removes the Service Connect services of deleted services once they drained",
                e.message
            ),
            ..e
        }),
        other => other.map(|_| ()),
    }
}

/// A `CreatorRequestId` for the namespace of one account of one installation: the same on every
/// retry, so a create whose answer was lost creates nothing more.
pub fn request_id(account: &str, cluster_id: &str, name: &str) -> String {
    let seed = format!("{cluster_id}/{account}/{name}");
    format!("byoc-{:016x}", crate::desired::naming::fnv1a(seed.as_bytes()))
}
