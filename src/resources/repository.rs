//! ECR repository of a service: observe by name (from the account's snapshot when it can tell),
//! diff scanning, tag mutability, lifecycle policy and tags, create or update. `diff` is pure;
//! `observe` and `act` call ECR through `Aws::call`.

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};

use super::{
    Action, Change, FieldChange, Kind, Presence,
    cache::{ObserveCache, key},
    snapshot::RepositoryRow,
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredRepository, Owner},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    pub immutable: bool,
    /// The lifecycle policy, parsed, if any.
    pub lifecycle: Option<serde_json::Value>,
    pub tags: Tags,
}

/// From the account's snapshot when it can tell (tags and lifecycle policy, which have no
/// batched read, kept per repository for a while), else from ECR directly.
pub async fn observe(
    aws: &Aws,
    name: &str,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Presence<Repository>, AwsError> {
    let (row, listed) = match cache.listed(&key::repository(name)) {
        Some(snap) => match snap.repositories.get(name) {
            Some(row) => (row.clone(), true),
            None => return Ok(Presence::Missing),
        },
        None => match describe(aws, name).await? {
            Some(row) => (row, false),
            None => return Ok(Presence::Missing),
        },
    };
    // Read directly, the details are read again (and kept); from the snapshot, kept ones serve.
    let details = row.details_key();
    let known = |found: Option<Tags>| found.filter(|_| listed);
    let tags = match known(cache.tags(&row.arn).or_else(|| cache.tags(&details))) {
        Some(tags) => tags,
        None => {
            let tags = list_tags(aws, &row.arn).await?;
            cache.put_tags(&details, tags.clone());
            tags
        }
    };
    if !owner.owns(&tags) {
        return Ok(Presence::Foreign(name.to_string()));
    }
    let lifecycle = match cache.lifecycle(&details).filter(|_| listed) {
        Some(policy) => policy,
        None => {
            let policy = lifecycle_policy(aws, name).await?;
            cache.put_lifecycle(&details, policy.clone());
            policy
        }
    };
    Ok(Presence::Ours(Repository {
        arn: row.arn,
        uri: row.uri,
        scan_on_push: row.scan_on_push,
        immutable: row.immutable,
        lifecycle,
        tags,
    }))
}

async fn describe(aws: &Aws, name: &str) -> Result<Option<RepositoryRow>, AwsError> {
    match aws
        .call(
            "ecr",
            "DescribeRepositories",
            aws.ecr.describe_repositories().repository_names(name).send(),
        )
        .await
    {
        Ok(out) => Ok(out.repositories().first().map(RepositoryRow::from)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn list_tags(aws: &Aws, arn: &str) -> Result<Tags, AwsError> {
    let listed = aws
        .call(
            "ecr",
            "ListTagsForResource",
            aws.ecr.list_tags_for_resource().resource_arn(arn).send(),
        )
        .await?;
    Ok(tags::from_ecr(listed.tags()))
}

/// The repository's lifecycle policy, parsed; `None` when it has none.
async fn lifecycle_policy(aws: &Aws, name: &str) -> Result<Option<serde_json::Value>, AwsError> {
    match aws
        .call(
            "ecr",
            "GetLifecyclePolicy",
            aws.ecr.get_lifecycle_policy().repository_name(name).send(),
        )
        .await
    {
        Ok(p) => Ok(p.lifecycle_policy_text().and_then(|t| serde_json::from_str(t).ok())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn lifecycle(desired: &DesiredRepository) -> serde_json::Value {
    // Our own JSON literal always parses.
    serde_json::from_str(&desired.lifecycle_policy()).unwrap_or_default()
}

pub fn diff(
    desired: &DesiredRepository,
    tags: &Tags,
    observed: &Presence<Repository>,
) -> Option<Change> {
    let action = match observed {
        Presence::Missing => Action::Create,
        Presence::Foreign(_) => return None,
        Presence::Ours(repo) => {
            let mut fields = Vec::new();
            if repo.scan_on_push != desired.scan_on_push {
                fields.push(FieldChange::new(
                    "scanOnPush",
                    repo.scan_on_push,
                    desired.scan_on_push,
                ));
            }
            if repo.immutable != desired.immutable {
                fields.push(FieldChange::new(
                    "tagMutability",
                    mutability(repo.immutable),
                    mutability(desired.immutable),
                ));
            }
            if repo.lifecycle.as_ref() != Some(&lifecycle(desired)) {
                let from = repo
                    .lifecycle
                    .as_ref()
                    .map_or("none".to_string(), |_| "other policy".to_string());
                fields.push(FieldChange::new(
                    "lifecyclePolicy",
                    from,
                    format!("keep last {} images", desired.keep_last_images),
                ));
            }
            if !tags::missing(tags, &repo.tags).is_empty() {
                fields.push(FieldChange::new("tags", "outdated", "current"));
            }
            if fields.is_empty() {
                return None;
            }
            Action::Update(fields)
        }
    };
    Some(Change::new(Kind::Repository, &desired.name, action))
}

fn mutability(immutable: bool) -> &'static str {
    if immutable { "Immutable" } else { "Mutable" }
}

fn aws_mutability(immutable: bool) -> ImageTagMutability {
    if immutable { ImageTagMutability::Immutable } else { ImageTagMutability::Mutable }
}

pub async fn act(
    aws: &Aws,
    desired: &DesiredRepository,
    tags: &Tags,
    observed: &Presence<Repository>,
) -> Result<(), AwsError> {
    let scanning = ImageScanningConfiguration::builder().scan_on_push(desired.scan_on_push).build();
    match observed {
        Presence::Foreign(_) => return Ok(()),
        Presence::Missing => {
            aws.call(
                "ecr",
                "CreateRepository",
                aws.ecr
                    .create_repository()
                    .repository_name(&desired.name)
                    .image_scanning_configuration(scanning)
                    .image_tag_mutability(aws_mutability(desired.immutable))
                    .set_tags(Some(tags::ecr(tags)))
                    .send(),
            )
            .await?;
            put_lifecycle(aws, desired).await?;
        }
        Presence::Ours(repo) => {
            if repo.scan_on_push != desired.scan_on_push {
                aws.call(
                    "ecr",
                    "PutImageScanningConfiguration",
                    aws.ecr
                        .put_image_scanning_configuration()
                        .repository_name(&desired.name)
                        .image_scanning_configuration(scanning)
                        .send(),
                )
                .await?;
            }
            if repo.immutable != desired.immutable {
                aws.call(
                    "ecr",
                    "PutImageTagMutability",
                    aws.ecr
                        .put_image_tag_mutability()
                        .repository_name(&desired.name)
                        .image_tag_mutability(aws_mutability(desired.immutable))
                        .send(),
                )
                .await?;
            }
            if repo.lifecycle.as_ref() != Some(&lifecycle(desired)) {
                put_lifecycle(aws, desired).await?;
            }
            let missing = tags::missing(tags, &repo.tags);
            if !missing.is_empty() {
                aws.call(
                    "ecr",
                    "TagResource",
                    aws.ecr
                        .tag_resource()
                        .resource_arn(&repo.arn)
                        .set_tags(Some(tags::ecr(&missing)))
                        .send(),
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn put_lifecycle(aws: &Aws, desired: &DesiredRepository) -> Result<(), AwsError> {
    aws.call(
        "ecr",
        "PutLifecyclePolicy",
        aws.ecr
            .put_lifecycle_policy()
            .repository_name(&desired.name)
            .lifecycle_policy_text(desired.lifecycle_policy())
            .send(),
    )
    .await
    .map(|_| ())
}

/// Deletes the repository and its images.
pub async fn delete(aws: &Aws, name: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "ecr",
            "DeleteRepository",
            aws.ecr.delete_repository().repository_name(name).force(true).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
