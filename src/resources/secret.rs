//! Secrets Manager secret holding one env var's value from a Kubernetes Secret: observe by name,
//! diff by a hash tag (the value itself is never read back or logged), create or update.
//! `diff` is pure; `observe` and `act` call Secrets Manager through `Aws::call`.
//!
//! A secret of ours that is scheduled for deletion (deleted with a recovery window, e.g. out of
//! band) keeps its name until the window ends ("DeleteSecret", Secrets Manager API Reference):
//! it is restored with `RestoreSecret` and then brought up to date, rather than re-created. A
//! name freed by a force delete may stay taken for a short while ("if you delete a secret and then
//! immediately create a secret with the same name, use appropriate back off and retry"): that
//! `CreateSecret` error is transient (`aws::categorize`) and retried with backoff.

use super::{
    Action, Change, FieldChange, Kind, Presence,
    cache::{ObserveCache, key},
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredSecret, Owner, tag},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub arn: String,
    /// Deleted with a recovery window; restored before use.
    pub scheduled_for_deletion: bool,
    pub tags: Tags,
}

/// From the account's snapshot when it can tell (`ListSecrets` includes tags), else from Secrets
/// Manager directly.
pub async fn observe(
    aws: &Aws,
    name: &str,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Presence<Secret>, AwsError> {
    if let Some(snap) = cache.listed(&key::secret(name)) {
        let Some(row) = snap.secrets.get(name) else { return Ok(Presence::Missing) };
        if !owner.owns(&row.tags) {
            return Ok(Presence::Foreign(name.to_string()));
        }
        return Ok(Presence::Ours(Secret {
            arn: row.arn.clone(),
            scheduled_for_deletion: row.scheduled_for_deletion,
            tags: row.tags.clone(),
        }));
    }
    let out = match aws
        .call(
            "secretsmanager",
            "DescribeSecret",
            aws.secrets.describe_secret().secret_id(name).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => return Ok(Presence::Missing),
        other => other?,
    };
    let tags = tags::from_secrets(out.tags());
    if !owner.owns(&tags) {
        return Ok(Presence::Foreign(name.to_string()));
    }
    Ok(Presence::Ours(Secret {
        arn: out.arn().unwrap_or_default().to_string(),
        scheduled_for_deletion: out.deleted_date().is_some(),
        tags,
    }))
}

fn with_hash(desired: &DesiredSecret, tags: &Tags) -> Tags {
    let mut tags = tags.clone();
    tags.insert(tag::SPEC_HASH.into(), desired.value_hash.clone());
    tags
}

pub fn diff(desired: &DesiredSecret, tags: &Tags, observed: &Presence<Secret>) -> Option<Change> {
    let action = match observed {
        Presence::Missing => Action::Create,
        Presence::Foreign(_) => return None,
        Presence::Ours(secret) if secret.scheduled_for_deletion => {
            Action::Update(vec![FieldChange::new("state", "scheduled for deletion", "restored")])
        }
        Presence::Ours(secret) => {
            if secret.tags.get(tag::SPEC_HASH) != Some(&desired.value_hash) {
                Action::Update(vec![FieldChange::new("value", "(old value)", "(new value)")])
            } else if !tags::missing(&with_hash(desired, tags), &secret.tags).is_empty() {
                Action::Update(vec![FieldChange::new("tags", "outdated", "current")])
            } else {
                return None;
            }
        }
    };
    Some(Change::new(Kind::Secret, &desired.name, action))
}

/// Creates or updates the secret; returns its ARN.
pub async fn act(
    aws: &Aws,
    desired: &DesiredSecret,
    tags: &Tags,
    observed: &Presence<Secret>,
) -> Result<String, AwsError> {
    let tags = with_hash(desired, tags);
    match observed {
        Presence::Missing => {
            let out = aws
                .call(
                    "secretsmanager",
                    "CreateSecret",
                    aws.secrets
                        .create_secret()
                        .name(&desired.name)
                        .secret_string(&desired.value)
                        .set_tags(Some(tags::secrets(&tags)))
                        .send(),
                )
                .await?;
            Ok(out.arn().unwrap_or_default().to_string())
        }
        Presence::Ours(secret) => {
            if secret.scheduled_for_deletion {
                aws.call(
                    "secretsmanager",
                    "RestoreSecret",
                    aws.secrets.restore_secret().secret_id(&secret.arn).send(),
                )
                .await?;
            }
            if secret.tags.get(tag::SPEC_HASH) != Some(&desired.value_hash) {
                aws.call(
                    "secretsmanager",
                    "PutSecretValue",
                    aws.secrets
                        .put_secret_value()
                        .secret_id(&secret.arn)
                        .secret_string(&desired.value)
                        .send(),
                )
                .await?;
            }
            let missing = tags::missing(&tags, &secret.tags);
            if !missing.is_empty() {
                aws.call(
                    "secretsmanager",
                    "TagResource",
                    aws.secrets
                        .tag_resource()
                        .secret_id(&secret.arn)
                        .set_tags(Some(tags::secrets(&missing)))
                        .send(),
                )
                .await?;
            }
            Ok(secret.arn.clone())
        }
        Presence::Foreign(name) => {
            Err(AwsError::unexpected("CreateSecret", format!("secret {name} is not ours")))
        }
    }
}

pub async fn delete(aws: &Aws, name: &str) -> Result<(), AwsError> {
    match aws
        .call(
            "secretsmanager",
            "DeleteSecret",
            aws.secrets.delete_secret().secret_id(name).force_delete_without_recovery(true).send(),
        )
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
