//! Resources that are not ours (no ownership tags), made directly with the AWS SDK, and a snapshot
//! of each that a test compares before and after the operator ran: "never modified or deleted".

use aws_sdk_ecr::types::ImageTagMutability;
use aws_sdk_ecs::types::{ContainerDefinition, LaunchType};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, ProtocolEnum, RuleCondition, TargetTypeEnum,
};
use byoc::aws::Aws;

/// A kind of resource and its name (for a listener rule: its ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    Repository(String),
    LogGroup(String),
    Secret(String),
    TargetGroup(String),
    /// An ECS service on a cluster: `(cluster, name)`.
    EcsService(String, String),
    Cluster(String),
    ListenerRule(String),
}

/// Creates `f` without tags. Each gets settings other than the operator's own (retention 7 days,
/// port 8080, health check `/foreign`, an immutable repository, …), so a change would show.
pub async fn create(aws: &Aws, f: &Foreign, vpc_id: &str) {
    match f {
        Foreign::Repository(name) => {
            aws.ecr
                .create_repository()
                .repository_name(name)
                .image_tag_mutability(ImageTagMutability::Immutable)
                .send()
                .await
                .unwrap();
        }
        Foreign::LogGroup(name) => {
            aws.logs.create_log_group().log_group_name(name).send().await.unwrap();
            aws.logs
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(7)
                .send()
                .await
                .unwrap();
        }
        Foreign::Secret(name) => {
            aws.secrets
                .create_secret()
                .name(name)
                .secret_string("foreign-value")
                .send()
                .await
                .unwrap();
        }
        Foreign::TargetGroup(name) => {
            target_group(aws, name, vpc_id).await;
        }
        Foreign::EcsService(cluster, name) => {
            let family = format!("foreign-{}", name.replace('/', "-"));
            let td = aws
                .ecs
                .register_task_definition()
                .family(&family)
                .cpu("256")
                .memory("512")
                .container_definitions(
                    ContainerDefinition::builder().name("app").image("busybox:1").build(),
                )
                .send()
                .await
                .unwrap();
            let arn = td.task_definition().unwrap().task_definition_arn().unwrap().to_string();
            aws.ecs
                .create_service()
                .cluster(cluster)
                .service_name(name)
                .task_definition(arn)
                .desired_count(1)
                .launch_type(LaunchType::Fargate)
                .send()
                .await
                .unwrap();
        }
        Foreign::Cluster(name) => {
            aws.ecs.create_cluster().cluster_name(name).send().await.unwrap();
        }
        Foreign::ListenerRule(_) => panic!("use `listener_rule` to create a rule"),
    }
}

/// A target group (HTTP 8080, health check `/foreign`) without tags; its ARN.
pub async fn target_group(aws: &Aws, name: &str, vpc_id: &str) -> String {
    let out = aws
        .elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/foreign")
        .send()
        .await
        .unwrap();
    out.target_groups()[0].target_group_arn().unwrap().to_string()
}

/// A rule without tags on `listener` (host `host`, forwarding to a new target group `tg_name`).
pub async fn listener_rule(
    aws: &Aws,
    listener: &str,
    priority: i32,
    host: &str,
    tg_name: &str,
    vpc_id: &str,
) -> Foreign {
    let tg = target_group(aws, tg_name, vpc_id).await;
    let out = aws
        .elb
        .create_rule()
        .listener_arn(listener)
        .priority(priority)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
                .build(),
        )
        .actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg).build())
        .send()
        .await
        .unwrap();
    Foreign::ListenerRule(out.rules()[0].rule_arn().unwrap().to_string())
}

/// Everything a change to `f` would show in (its settings and tags), or `None` when it is gone.
pub async fn snapshot(aws: &Aws, f: &Foreign) -> Option<String> {
    match f {
        Foreign::Repository(name) => {
            let out = aws.ecr.describe_repositories().repository_names(name).send().await.ok()?;
            let repo = out.repositories().first()?;
            let tags = aws
                .ecr
                .list_tags_for_resource()
                .resource_arn(repo.repository_arn()?)
                .send()
                .await
                .ok()?;
            let policy = aws.ecr.get_lifecycle_policy().repository_name(name).send().await.ok();
            Some(format!(
                "{repo:?} {:?} {:?}",
                tags.tags(),
                policy.map(|p| p.lifecycle_policy_text)
            ))
        }
        Foreign::LogGroup(name) => {
            let out =
                aws.logs.describe_log_groups().log_group_name_prefix(name).send().await.ok()?;
            let group = out.log_groups().iter().find(|g| g.log_group_name() == Some(name))?;
            let arn = group.arn()?.trim_end_matches(":*").to_string();
            let tags = aws.logs.list_tags_for_resource().resource_arn(arn).send().await.ok()?;
            Some(format!("{:?} {:?}", group.retention_in_days(), tags.tags()))
        }
        Foreign::Secret(name) => {
            let described = aws.secrets.describe_secret().secret_id(name).send().await.ok()?;
            if described.deleted_date().is_some() {
                return None;
            }
            let value = aws.secrets.get_secret_value().secret_id(name).send().await.ok()?;
            Some(format!(
                "{:?} {:?} {:?}",
                value.secret_string(),
                described.tags(),
                described.version_ids_to_stages()
            ))
        }
        Foreign::TargetGroup(name) => {
            let out = aws.elb.describe_target_groups().names(name).send().await.ok()?;
            let tg = out.target_groups().first()?;
            let arn = tg.target_group_arn()?;
            let tags = aws.elb.describe_tags().resource_arns(arn).send().await.ok()?;
            let attributes = aws
                .elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
                .ok()?;
            Some(format!("{tg:?} {:?} {:?}", tags.tag_descriptions(), attributes.attributes()))
        }
        Foreign::EcsService(cluster, name) => {
            let out = aws
                .ecs
                .describe_services()
                .cluster(cluster)
                .services(name)
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .send()
                .await
                .ok()?;
            let s = out.services().iter().find(|s| s.status() == Some("ACTIVE"))?;
            Some(format!(
                "{:?} {:?} {:?} {:?}",
                s.task_definition(),
                s.desired_count(),
                s.tags(),
                s.deployment_configuration()
            ))
        }
        Foreign::Cluster(name) => {
            let out = aws
                .ecs
                .describe_clusters()
                .clusters(name)
                .include(aws_sdk_ecs::types::ClusterField::Tags)
                .send()
                .await
                .ok()?;
            let c = out.clusters().iter().find(|c| c.status() == Some("ACTIVE"))?;
            Some(format!("{:?} {:?}", c.cluster_arn(), c.tags()))
        }
        Foreign::ListenerRule(arn) => {
            let out = aws.elb.describe_rules().rule_arns(arn).send().await.ok()?;
            let rule = out.rules().first()?;
            let tags = aws.elb.describe_tags().resource_arns(arn).send().await.ok()?;
            Some(format!("{rule:?} {:?}", tags.tag_descriptions()))
        }
    }
}
