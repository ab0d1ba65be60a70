//! Task definition of a service (Fargate, awsvpc). A new revision is registered **only** when what
//! we register changed: the latest revision carries a hash of our desired definition as a tag, so
//! fields AWS adds never look like drift. The secrets' ARNs are compared too: ECS takes a Secrets
//! Manager secret only by its full ARN ("the full ARN of the Secrets Manager secret", ECS API
//! Reference, `Secret.valueFrom`), and a re-created secret has a new one. A revision whose rollout
//! failed is marked with a tag so it is never deployed again. `diff` is pure; the rest calls ECS
//! through `Aws::call`.

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, HealthCheck, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, PortMapping, Secret as EcsSecret, TaskDefinitionField, TransportProtocol,
};

use std::collections::BTreeMap;

use super::{
    Action, Change, FieldChange, Kind,
    cache::{ObserveCache, key},
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredTaskDefinition, Owner, tag},
};

/// The latest ACTIVE revision of the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinition {
    pub arn: String,
    pub revision: i32,
    pub image: String,
    pub spec_hash: Option<String>,
    /// Env var name → `valueFrom` (the secret ARN) as registered; empty when observed from tags.
    pub secret_arns: BTreeMap<String, String>,
    /// `secrets_hash` of `secret_arns`, from the revision's tag.
    pub secrets_hash: Option<String>,
    /// Why its rollout failed, when it is marked (`byoc.dev/rollout-failed`).
    pub rollout_failed: Option<String>,
    /// The ECS deployment that rolled it out (`byoc.dev/deployment`).
    pub deployment: Option<String>,
    pub tags: Tags,
}

/// From the account's snapshot (the tags of the family's latest revision) when they tell all the
/// plan needs, else from ECS directly.
pub async fn observe(
    aws: &Aws,
    family: &str,
    owner: &Owner,
    cache: &ObserveCache,
) -> Result<Option<TaskDefinition>, AwsError> {
    if let Some(snap) = cache.listed(&key::task_definition(family))
        && let Some(row) = snap.task_definitions.get(family)
        && owner.owns(&row.tags)
        && row.tags.contains_key(tag::SECRET_ARNS)
    {
        return Ok(Some(TaskDefinition {
            arn: row.arn.clone(),
            revision: row.revision,
            // Only ever shown in a plan, and plans are made from direct reads.
            image: String::new(),
            spec_hash: row.tags.get(tag::SPEC_HASH).cloned(),
            secret_arns: BTreeMap::new(),
            secrets_hash: row.tags.get(tag::SECRET_ARNS).cloned(),
            rollout_failed: row.tags.get(tag::ROLLOUT_FAILED).cloned(),
            deployment: row.tags.get(tag::DEPLOYMENT).cloned(),
            tags: row.tags.clone(),
        }));
    }
    let out = match aws
        .call(
            "ecs",
            "DescribeTaskDefinition",
            aws.ecs
                .describe_task_definition()
                .task_definition(family)
                .include(TaskDefinitionField::Tags)
                .send(),
        )
        .await
    {
        Err(e) if e.is_not_found() || e.code == "ClientException" => return Ok(None),
        other => other?,
    };
    // Some emulators still describe a deregistered latest revision; it counts as gone.
    let Some(td) = out
        .task_definition()
        .filter(|td| td.status() != Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Inactive))
    else {
        return Ok(None);
    };
    let tags = tags::from_ecs(out.tags());
    Ok(Some(TaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        revision: td.revision(),
        image: td
            .container_definitions()
            .first()
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_string(),
        spec_hash: tags.get(tag::SPEC_HASH).cloned(),
        secret_arns: td
            .container_definitions()
            .first()
            .map(|c| {
                c.secrets()
                    .iter()
                    .map(|s| (s.name().to_string(), s.value_from().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        secrets_hash: tags.get(tag::SECRET_ARNS).cloned(),
        rollout_failed: tags.get(tag::ROLLOUT_FAILED).cloned(),
        deployment: tags.get(tag::DEPLOYMENT).cloned(),
        tags,
    }))
}

/// A short hash of the secret ARNs a revision references (env var name → ARN).
pub fn secrets_hash(arns: &BTreeMap<String, String>) -> String {
    let text: String = arns.iter().map(|(env, arn)| format!("{env}={arn}\n")).collect();
    format!("{:016x}", crate::desired::naming::fnv1a(text.as_bytes()))
}

/// `secret_arns` maps each secret env var to the ARN its secret has now, or `None` when the secret
/// is about to be created (and so gets a new ARN).
pub fn diff(
    desired: &DesiredTaskDefinition,
    observed: Option<&TaskDefinition>,
    secret_arns: &BTreeMap<String, Option<String>>,
) -> Option<Change> {
    let hash = desired.spec_hash();
    // Only the container's secrets (not those a build from source reads).
    let secret_arns: BTreeMap<String, Option<String>> = secret_arns
        .iter()
        .filter(|(env, _)| desired.container.secrets.contains_key(*env))
        .map(|(env, arn)| (env.clone(), arn.clone()))
        .collect();
    let arns_match = |td: &TaskDefinition| match (&td.secrets_hash, td.secret_arns.is_empty()) {
        // Observed from its tags: compare the hashes.
        (Some(hash), true) => {
            let known: Option<BTreeMap<String, String>> =
                secret_arns.iter().map(|(env, arn)| Some((env.clone(), arn.clone()?))).collect();
            known.is_some_and(|k| secrets_hash(&k) == *hash)
        }
        _ => secret_arns
            .iter()
            .all(|(env, arn)| arn.is_some() && td.secret_arns.get(env) == arn.as_ref()),
    };
    let action = match observed {
        None => Action::Create,
        Some(td) if td.spec_hash.as_deref() == Some(hash.as_str()) && arns_match(td) => {
            return None;
        }
        Some(td) => {
            let mut fields = Vec::new();
            if td.image != desired.container.image {
                fields.push(FieldChange::new("image", &td.image, &desired.container.image));
            }
            if !arns_match(td) {
                fields.push(FieldChange::new(
                    "secrets",
                    "(old secret ARNs)",
                    "(current secret ARNs)",
                ));
            }
            fields.push(FieldChange::new(
                "revision",
                td.revision,
                format!("{} (new revision)", td.revision + 1),
            ));
            Action::Update(fields)
        }
    };
    Some(Change::new(Kind::TaskDefinition, &desired.family, action))
}

/// Registers a new revision; returns its ARN. `secret_arns` maps env var names to secret ARNs.
pub async fn register(
    aws: &Aws,
    desired: &DesiredTaskDefinition,
    secret_arns: &BTreeMap<String, String>,
    tags: &Tags,
) -> Result<String, AwsError> {
    let c = &desired.container;
    let mut tags = tags.clone();
    tags.insert(tag::SPEC_HASH.into(), desired.spec_hash());
    let referenced: BTreeMap<String, String> = c
        .secrets
        .keys()
        .filter_map(|env| Some((env.clone(), secret_arns.get(env)?.clone())))
        .collect();
    tags.insert(tag::SECRET_ARNS.into(), secrets_hash(&referenced));
    let container = ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(true)
        .set_entry_point((!c.command.is_empty()).then(|| c.command.clone()))
        .set_command((!c.args.is_empty()).then(|| c.args.clone()))
        .set_port_mappings(Some(
            c.ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    PortMapping::builder()
                        .container_port(*p)
                        .protocol(TransportProtocol::Tcp)
                        .set_name(c.port_names.get(i).cloned())
                        .build()
                })
                .collect(),
        ))
        .set_environment(Some(
            c.env.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect(),
        ))
        .set_secrets(Some(
            c.secrets
                .keys()
                .filter_map(|env| {
                    EcsSecret::builder().name(env).value_from(secret_arns.get(env)?).build().ok()
                })
                .collect(),
        ))
        .set_health_check(
            c.health_check
                .as_ref()
                .map(|h| {
                    HealthCheck::builder()
                        .command("CMD-SHELL")
                        .command(&h.command)
                        .interval(h.interval_seconds)
                        .timeout(h.timeout_seconds)
                        .retries(h.retries)
                        .start_period(h.start_period_seconds)
                        .build()
                })
                .transpose()
                .map_err(|e| AwsError::unexpected("RegisterTaskDefinition", e.to_string()))?,
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &c.log_group)
                .options("awslogs-region", &c.region)
                .options("awslogs-stream-prefix", "app")
                .build()
                .map_err(|e| AwsError::unexpected("RegisterTaskDefinition", e.to_string()))?,
        )
        .build();
    let out = aws
        .call(
            "ecs",
            "RegisterTaskDefinition",
            aws.ecs
                .register_task_definition()
                .family(&desired.family)
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu(desired.cpu_units.to_string())
                .memory(desired.memory_mib.to_string())
                .execution_role_arn(&desired.execution_role_arn)
                .set_task_role_arn(desired.task_role_arn.clone())
                .container_definitions(container)
                .set_tags(Some(tags::ecs(&tags)))
                .send(),
        )
        .await?;
    out.task_definition().and_then(|t| t.task_definition_arn()).map(str::to_string).ok_or_else(
        || AwsError::unexpected("RegisterTaskDefinition", "no task definition in the response"),
    )
}

/// Deregisters every ACTIVE revision of the family that carries `owner`'s tags; revisions someone
/// else registered in the family are left alone.
pub async fn deregister_all(aws: &Aws, family: &str, owner: &Owner) -> Result<usize, AwsError> {
    let owned = owned_revisions(aws, family, owner).await?;
    for arn in &owned {
        match aws
            .call(
                "ecs",
                "DeregisterTaskDefinition",
                aws.ecs.deregister_task_definition().task_definition(arn).send(),
            )
            .await
        {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
    }
    Ok(owned.len())
}

/// The ARNs of the family's ACTIVE revisions that carry `owner`'s tags (one read per revision).
pub async fn owned_revisions(
    aws: &Aws,
    family: &str,
    owner: &Owner,
) -> Result<Vec<String>, AwsError> {
    let mut listed = Vec::new();
    let mut next_token = None;
    // At most 100 ARNs a page ("ListTaskDefinitions", maxResults): follow nextToken to the end.
    loop {
        let out = aws
            .call(
                "ecs",
                "ListTaskDefinitions",
                aws.ecs
                    .list_task_definitions()
                    .family_prefix(family)
                    .max_results(100)
                    .set_next_token(next_token)
                    .send(),
            )
            .await?;
        listed.extend(out.task_definition_arns().iter().cloned());
        next_token = out.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    let arns: Vec<String> = listed
        .into_iter()
        .filter(|arn| {
            arn.rsplit_once('/')
                .and_then(|(_, fr)| fr.rsplit_once(':'))
                .is_some_and(|(f, _)| f == family)
        })
        .collect();
    let mut owned = Vec::new();
    for arn in arns {
        let described = aws
            .call(
                "ecs",
                "DescribeTaskDefinition",
                aws.ecs
                    .describe_task_definition()
                    .task_definition(&arn)
                    .include(TaskDefinitionField::Tags)
                    .send(),
            )
            .await?;
        if owner.owns(&tags::from_ecs(described.tags())) {
            owned.push(arn);
        }
    }
    Ok(owned)
}

/// Marks a revision whose rollout failed, so it is not deployed again until the spec changes.
pub async fn mark_failed(aws: &Aws, arn: &str, message: &str) -> Result<(), AwsError> {
    tag_revision(aws, arn, tag::ROLLOUT_FAILED, &super::rollout::tag_value(message)).await
}

/// Records on a revision the ECS deployment that rolls it out, so the rollout can be followed
/// without the status (a lost status, the CLI).
pub async fn record_deployment(aws: &Aws, arn: &str, deployment: &str) -> Result<(), AwsError> {
    tag_revision(aws, arn, tag::DEPLOYMENT, &super::rollout::tag_value(deployment)).await
}

async fn tag_revision(aws: &Aws, arn: &str, key: &str, value: &str) -> Result<(), AwsError> {
    let tag = Tags::from([(key.to_string(), value.to_string())]);
    aws.call(
        "ecs",
        "TagResource",
        aws.ecs.tag_resource().resource_arn(arn).set_tags(Some(tags::ecs(&tag))).send(),
    )
    .await
    .map(|_| ())
}
