//! An account's resources listed in a few paged calls whose cost every service of the account
//! shares: the snapshot a round of reconciles observes from, so a resync of N services costs a
//! fraction of a read per service instead of several.
//!
//! Page sizes (AWS API references): `DescribeLogGroups` 50 per page (by the `/byoc/` name
//! prefix), `DescribeRepositories` 1,000, `DescribeTargetGroups` 400, `ListSecrets` 100 (by the
//! `byoc/` name prefix, tags included, secrets scheduled for deletion included), `ListServices`
//! 100 then `DescribeServices` 10 with tags, and the Resource Groups Tagging API's `GetResources`
//! 100 resources with all their tags, filtered by our `byoc.dev/cluster-id` tag; Application
//! Auto Scaling's ECS scalable targets 50 and scaling policies 10 per page (policies only when
//! there is a target).
//!
//! What the snapshot may decide is limited (see `cache`): it may only conclude that a service
//! needs nothing. `GetResources` is eventually consistent ("it can take time for changes to
//! appear", Resource Groups Tagging API Reference), and everything here is as old as the
//! snapshot, so any change is planned again from direct reads before it is made.

use std::collections::HashMap;

use aws_sdk_ecs::types::{Service, ServiceField};
use aws_sdk_elasticloadbalancingv2::types::TargetGroup;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use tokio::time::Instant;

use super::tags::Tags;
use crate::{
    aws::{Aws, AwsError},
    desired::tag,
};

/// Name prefix of every log group of ours (`Owner::log_group_name`).
pub const LOG_GROUP_PREFIX: &str = "/byoc/";
/// Name prefix of every secret of ours (`Owner::secret_name`).
pub const SECRET_PREFIX: &str = "byoc/";

/// The resource types whose tags `GetResources` reads in one pass (`service[:resourceType]`; the
/// whole service for CloudWatch Logs and ECR, where log groups and repositories are all we tag).
const TAGGED_TYPES: [&str; 5] = [
    "logs",
    "ecr",
    "elasticloadbalancing:targetgroup",
    "elasticloadbalancing:listener-rule",
    "ecs:task-definition",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupRow {
    pub arn: String,
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRow {
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    pub immutable: bool,
    /// Creation time (epoch seconds): a repository re-created under the same name (and so the
    /// same ARN) is another repository.
    pub created: i64,
}

impl From<&aws_sdk_ecr::types::Repository> for RepositoryRow {
    fn from(r: &aws_sdk_ecr::types::Repository) -> Self {
        RepositoryRow {
            arn: r.repository_arn().unwrap_or_default().to_string(),
            uri: r.repository_uri().unwrap_or_default().to_string(),
            scan_on_push: r.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
            immutable: r.image_tag_mutability()
                == Some(&aws_sdk_ecr::types::ImageTagMutability::Immutable),
            created: r.created_at().map_or(0, |t| t.secs()),
        }
    }
}

impl RepositoryRow {
    /// The key of what is kept about this repository (its ARN outlives a re-creation).
    pub fn details_key(&self) -> String {
        format!("{}@{}", self.arn, self.created)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub arn: String,
    pub scheduled_for_deletion: bool,
    pub tags: Tags,
}

/// The latest revision of one of our task definition families, as its tags describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionRow {
    pub arn: String,
    pub revision: i32,
    pub tags: Tags,
}

/// One listing of an account.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// When the listing started: anything we changed before then is in it.
    pub started: Option<Instant>,
    pub log_groups: HashMap<String, LogGroupRow>,
    pub repositories: HashMap<String, RepositoryRow>,
    pub target_groups: HashMap<String, TargetGroup>,
    pub secrets: HashMap<String, SecretRow>,
    /// ECS services of the cluster (ACTIVE or DRAINING) by name, without their event log.
    pub services: HashMap<String, Service>,
    /// Tags of our log groups, repositories, target groups, listener rules and task definitions,
    /// by ARN (log group ARNs without the `:*` suffix).
    pub tags: HashMap<String, Tags>,
    /// Our task definition families' latest revisions, by family.
    pub task_definitions: HashMap<String, TaskDefinitionRow>,
    /// ECS scalable targets (Application Auto Scaling), by resource id.
    pub scalable_targets: HashMap<String, super::scaling::TargetRow>,
    /// Our target-tracking policies, by their target's resource id.
    pub scaling_policies: HashMap<String, Vec<super::scaling::PolicyRow>>,
}

impl Snapshot {
    /// Lists the account: about `N/100 + N/10` calls for N services, whatever N.
    pub async fn take(aws: &Aws, cluster: &str, cluster_id: &str) -> Result<Snapshot, AwsError> {
        let mut s = Snapshot { started: Some(Instant::now()), ..Default::default() };
        s.list_log_groups(aws).await?;
        s.list_repositories(aws).await?;
        s.list_target_groups(aws).await?;
        s.list_secrets(aws).await?;
        s.list_services(aws, cluster).await?;
        s.list_tags(aws, cluster_id).await?;
        (s.scalable_targets, s.scaling_policies) = super::scaling::list(aws).await?;
        Ok(s)
    }

    async fn list_log_groups(&mut self, aws: &Aws) -> Result<(), AwsError> {
        let mut token = None;
        loop {
            let out = aws
                .call(
                    "logs",
                    "DescribeLogGroups",
                    aws.logs
                        .describe_log_groups()
                        .log_group_name_prefix(LOG_GROUP_PREFIX)
                        .set_next_token(token)
                        .send(),
                )
                .await?;
            for g in out.log_groups() {
                let (Some(name), Some(arn)) = (g.log_group_name(), log_group_arn(g)) else {
                    continue;
                };
                self.log_groups.insert(
                    name.to_string(),
                    LogGroupRow { arn, retention_days: g.retention_in_days() },
                );
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    async fn list_repositories(&mut self, aws: &Aws) -> Result<(), AwsError> {
        let mut token = None;
        loop {
            let out = aws
                .call(
                    "ecr",
                    "DescribeRepositories",
                    aws.ecr.describe_repositories().max_results(1000).set_next_token(token).send(),
                )
                .await?;
            for r in out.repositories() {
                let Some(name) = r.repository_name() else { continue };
                self.repositories.insert(name.to_string(), RepositoryRow::from(r));
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    async fn list_target_groups(&mut self, aws: &Aws) -> Result<(), AwsError> {
        let mut marker = None;
        loop {
            let out = aws
                .call(
                    "elbv2",
                    "DescribeTargetGroups",
                    aws.elb.describe_target_groups().page_size(400).set_marker(marker).send(),
                )
                .await?;
            for tg in out.target_groups() {
                if let Some(name) = tg.target_group_name() {
                    self.target_groups.insert(name.to_string(), tg.clone());
                }
            }
            marker = out.next_marker().map(str::to_string);
            if marker.is_none() {
                return Ok(());
            }
        }
    }

    async fn list_secrets(&mut self, aws: &Aws) -> Result<(), AwsError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let mut token = None;
        loop {
            let filter =
                Filter::builder().key(FilterNameStringType::Name).values(SECRET_PREFIX).build();
            let out = aws
                .call(
                    "secretsmanager",
                    "ListSecrets",
                    aws.secrets
                        .list_secrets()
                        .filters(filter)
                        .include_planned_deletion(true)
                        .max_results(100)
                        .set_next_token(token)
                        .send(),
                )
                .await?;
            for s in out.secret_list() {
                let Some(name) = s.name().filter(|n| n.starts_with(SECRET_PREFIX)) else {
                    continue;
                };
                self.secrets.insert(
                    name.to_string(),
                    SecretRow {
                        arn: s.arn().unwrap_or_default().to_string(),
                        scheduled_for_deletion: s.deleted_date().is_some(),
                        tags: super::tags::from_secrets(s.tags()),
                    },
                );
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    async fn list_services(&mut self, aws: &Aws, cluster: &str) -> Result<(), AwsError> {
        let mut token = None;
        loop {
            let listed = match aws
                .call(
                    "ecs",
                    "ListServices",
                    aws.ecs
                        .list_services()
                        .cluster(cluster)
                        .max_results(100)
                        .set_next_token(token)
                        .send(),
                )
                .await
            {
                // No cluster yet: no services.
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?,
            };
            for chunk in listed.service_arns().chunks(10) {
                let out = aws
                    .call(
                        "ecs",
                        "DescribeServices",
                        aws.ecs
                            .describe_services()
                            .cluster(cluster)
                            .set_services(Some(chunk.to_vec()))
                            .include(ServiceField::Tags)
                            .send(),
                    )
                    .await?;
                for svc in out.services() {
                    let Some(name) =
                        svc.service_name().filter(|_| svc.status() != Some("INACTIVE"))
                    else {
                        continue;
                    };
                    // Up to 100 events per service: the snapshot serves only steady services,
                    // which need none of them.
                    let mut svc = svc.clone();
                    svc.events = None;
                    self.services.insert(name.to_string(), svc);
                }
            }
            token = listed.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    async fn list_tags(&mut self, aws: &Aws, cluster_id: &str) -> Result<(), AwsError> {
        let mut token: Option<String> = None;
        loop {
            let filter = TagFilter::builder().key(tag::CLUSTER_ID).values(cluster_id).build();
            let out = aws
                .call(
                    "tagging",
                    "GetResources",
                    aws.tagging
                        .get_resources()
                        .tag_filters(filter)
                        .set_resource_type_filters(Some(
                            TAGGED_TYPES.iter().map(|t| t.to_string()).collect(),
                        ))
                        .resources_per_page(100)
                        // Our resources carry about seven tags: 500 (the most) keeps pages
                        // near 100 resources wherever a tag limit applies.
                        .tags_per_page(500)
                        .set_pagination_token(token)
                        .send(),
                )
                .await?;
            for mapping in out.resource_tag_mapping_list() {
                let Some(arn) = mapping.resource_arn() else { continue };
                let tags: Tags = mapping
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                let arn = arn.trim_end_matches(":*").to_string();
                if let Some((family, revision)) = task_definition_family(&arn) {
                    let newer = self
                        .task_definitions
                        .get(family)
                        .is_none_or(|known| known.revision < revision);
                    if newer {
                        self.task_definitions.insert(
                            family.to_string(),
                            TaskDefinitionRow { arn: arn.clone(), revision, tags: tags.clone() },
                        );
                    }
                }
                self.tags.insert(arn, tags);
            }
            token = out.pagination_token().filter(|t| !t.is_empty()).map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// An ECS service that is not changing: one deployment, completed, every task running. Only
    /// such a service is observed from the snapshot; one in motion is described afresh.
    pub fn steady_service(&self, name: &str) -> Option<Option<&Service>> {
        match self.services.get(name) {
            None => Some(None),
            Some(s) => {
                let deployments = s.deployments();
                let steady = s.status() == Some("ACTIVE")
                    && deployments.len() == 1
                    && deployments[0].rollout_state().is_none_or(|r| r.as_str() == "COMPLETED")
                    && s.running_count() == s.desired_count()
                    && s.pending_count() == 0;
                steady.then_some(Some(s))
            }
        }
    }
}

/// A log group's ARN without the `:*` suffix that `arn` carries.
pub fn log_group_arn(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> Option<String> {
    g.log_group_arn()
        .map(str::to_string)
        .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
}

/// `family` and revision of a task definition ARN (`…:task-definition/family:revision`).
fn task_definition_family(arn: &str) -> Option<(&str, i32)> {
    let rest = arn.split_once(":task-definition/")?.1;
    let (family, revision) = rest.rsplit_once(':')?;
    Some((family, revision.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definition_arns_name_their_family_and_revision() {
        assert_eq!(
            task_definition_family(
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-web-1a2b3c:7"
            ),
            Some(("shop-web-1a2b3c", 7))
        );
        assert_eq!(task_definition_family("arn:aws:ecs:eu-west-1:1:service/c/s"), None);
        assert_eq!(task_definition_family("arn:aws:ecs:r:1:task-definition/f:x"), None);
    }
}
