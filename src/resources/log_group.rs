//! CloudWatch log group of a service: observe by name (from the account's snapshot when it can
//! tell), diff retention and tags, create or update. `diff` is pure; `observe` and `act` call
//! CloudWatch Logs through `Aws::call`.

use super::{
    Action, Change, FieldChange, Kind, Presence,
    cache::{ObserveCache, key},
    snapshot::log_group_arn,
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredLogGroup, Owner},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroup {
    pub arn: String,
    pub retention_days: Option<i32>,
    pub tags: Tags,
}

/// From the account's snapshot when it can tell, else from CloudWatch Logs directly.
pub async fn observe(
    aws: &Aws,
    name: &str,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Presence<LogGroup>, AwsError> {
    if let Some(snap) = cache.listed(&key::log_group(name)) {
        let Some(row) = snap.log_groups.get(name) else { return Ok(Presence::Missing) };
        // Not among the tagged resources: someone else's, or too new to be listed there.
        if let Some(tags) = cache.tags(&row.arn) {
            return Ok(presence(name, row.arn.clone(), row.retention_days, tags, owner));
        }
    }
    let out = aws
        .call(
            "logs",
            "DescribeLogGroups",
            aws.logs.describe_log_groups().log_group_name_prefix(name).send(),
        )
        .await?;
    let Some(group) = out.log_groups().iter().find(|g| g.log_group_name() == Some(name)) else {
        return Ok(Presence::Missing);
    };
    let arn = log_group_arn(group)
        .ok_or_else(|| AwsError::unexpected("DescribeLogGroups", "log group without ARN"))?;
    let listed = aws
        .call(
            "logs",
            "ListTagsForResource",
            aws.logs.list_tags_for_resource().resource_arn(&arn).send(),
        )
        .await?;
    let tags: Tags = listed.tags().cloned().unwrap_or_default().into_iter().collect();
    Ok(presence(name, arn, group.retention_in_days(), tags, owner))
}

fn presence(
    name: &str,
    arn: String,
    retention_days: Option<i32>,
    tags: Tags,
    owner: &Owner,
) -> Presence<LogGroup> {
    if !owner.owns(&tags) {
        return Presence::Foreign(name.to_string());
    }
    Presence::Ours(LogGroup { arn, retention_days, tags })
}

pub fn diff(
    desired: &DesiredLogGroup,
    tags: &Tags,
    observed: &Presence<LogGroup>,
) -> Option<Change> {
    let action = match observed {
        Presence::Missing => Action::Create,
        Presence::Foreign(_) => return None,
        Presence::Ours(group) => {
            let mut fields = Vec::new();
            if group.retention_days != Some(desired.retention_days) {
                let from =
                    group.retention_days.map_or("never expire".to_string(), |d| d.to_string());
                fields.push(FieldChange::new("retentionDays", from, desired.retention_days));
            }
            if !tags::missing(tags, &group.tags).is_empty() {
                fields.push(FieldChange::new("tags", "outdated", "current"));
            }
            if fields.is_empty() {
                return None;
            }
            Action::Update(fields)
        }
    };
    Some(Change::new(Kind::LogGroup, &desired.name, action))
}

pub async fn act(
    aws: &Aws,
    desired: &DesiredLogGroup,
    tags: &Tags,
    observed: &Presence<LogGroup>,
) -> Result<(), AwsError> {
    match observed {
        Presence::Missing => {
            aws.call(
                "logs",
                "CreateLogGroup",
                aws.logs
                    .create_log_group()
                    .log_group_name(&desired.name)
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send(),
            )
            .await?;
            put_retention(aws, desired).await
        }
        Presence::Ours(group) => {
            if group.retention_days != Some(desired.retention_days) {
                put_retention(aws, desired).await?;
            }
            let missing = tags::missing(tags, &group.tags);
            if !missing.is_empty() {
                aws.call(
                    "logs",
                    "TagResource",
                    aws.logs
                        .tag_resource()
                        .resource_arn(&group.arn)
                        .set_tags(Some(missing.into_iter().collect()))
                        .send(),
                )
                .await?;
            }
            Ok(())
        }
        Presence::Foreign(_) => Ok(()),
    }
}

async fn put_retention(aws: &Aws, desired: &DesiredLogGroup) -> Result<(), AwsError> {
    aws.call(
        "logs",
        "PutRetentionPolicy",
        aws.logs
            .put_retention_policy()
            .log_group_name(&desired.name)
            .retention_in_days(desired.retention_days)
            .send(),
    )
    .await
    .map(|_| ())
}

pub async fn delete(aws: &Aws, name: &str) -> Result<(), AwsError> {
    match aws
        .call("logs", "DeleteLogGroup", aws.logs.delete_log_group().log_group_name(name).send())
        .await
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
