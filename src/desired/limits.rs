//! AWS size and count limits a service must fit before any AWS call is made: its tags (how many,
//! how long, which characters), the ECR repository name made from its namespace and name, and the
//! size of the task definition it registers. Pure: plain values in, an `Invalid` naming the field
//! and the fix out.

use std::{collections::BTreeMap, sync::LazyLock};

use regex::Regex;
use serde_json::{Value, json};

use super::{
    DesiredTaskDefinition, naming,
    validate::{Invalid, invalid},
};
use crate::api::{AWS_MAX_TAGS, OPERATOR_TAGS, TAG_KEY_MAX, TAG_VALUE_MAX, USER_TAGS_MAX};

/// Characters every service we tag takes in keys and values: ECS, ELBv2 and CloudWatch Logs give
/// the pattern `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html>,
/// <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_TagLogGroup.html>);
/// ECR and Secrets Manager name the same set ("letters, spaces, and numbers representable in
/// UTF-8, plus the following special characters: + - = . _ : / @").
static TAG_CHARACTERS: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, compiled by the tests below.
    Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("valid tag character pattern")
});

/// ECR's repository name rule, from CreateRepository `repositoryName`: "Length Constraints:
/// Minimum length of 2. Maximum length of 256. Pattern:
/// (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
/// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html>.
/// Kubernetes names allow `--`; this rule does not.
static ECR_PATH_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, compiled by the tests below.
    Regex::new(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$").expect("valid ECR segment pattern")
});
pub const ECR_REPOSITORY_NAME_MAX: usize = 256;

/// ECS's limit on the size of a task definition: the "Task definition size" quota (64 KiB, not
/// adjustable) <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html>;
/// RegisterTaskDefinition answers "Actual length: '66420'. Max allowed length is '65536' bytes."
/// (awsdocs/amazon-ecs-developer-guide#149).
pub const TASK_DEFINITION_MAX_BYTES: usize = 65_536;

/// One tag map (`field` is its path, e.g. `spec.tags`): at most `USER_TAGS_MAX` entries, keys of 1
/// to 128 and values of at most 256 characters from AWS's tag character set, and neither our
/// `byoc.dev/` prefix nor AWS's reserved `aws:` (in any case; on values too: ECS `Tag` says "Do
/// not use aws:, AWS:, or any upper or lowercase combination of such as a prefix for either keys
/// or values").
pub fn check_tags(field: &str, tags: &BTreeMap<String, String>) -> Result<(), Invalid> {
    if tags.len() > USER_TAGS_MAX {
        return Err(invalid(
            field,
            format!(
                "{} tags is too many: AWS allows {AWS_MAX_TAGS} per resource and the operator adds up to {OPERATOR_TAGS} of its own, so use at most {USER_TAGS_MAX}",
                tags.len()
            ),
        ));
    }
    for (key, value) in tags {
        let at = format!("{field}[{key}]");
        let key_chars = key.chars().count();
        if !(1..=TAG_KEY_MAX).contains(&key_chars) {
            return Err(invalid(
                at,
                format!("the key has {key_chars} characters; AWS takes 1 to {TAG_KEY_MAX}"),
            ));
        }
        if value.chars().count() > TAG_VALUE_MAX {
            return Err(invalid(
                at,
                format!(
                    "the value has {} characters; AWS takes at most {TAG_VALUE_MAX}",
                    value.chars().count()
                ),
            ));
        }
        if key.starts_with("byoc.dev/") {
            return Err(invalid(at, "keys starting with byoc.dev/ are the operator's own"));
        }
        if has_aws_prefix(key) || has_aws_prefix(value) {
            return Err(invalid(
                at,
                "keys and values starting with aws: (in any case) are reserved for AWS",
            ));
        }
        if !TAG_CHARACTERS.is_match(key) || !TAG_CHARACTERS.is_match(value) {
            return Err(invalid(
                at,
                "use only letters, digits, spaces and + - = . _ : / @ (the characters AWS takes in tags)",
            ));
        }
    }
    Ok(())
}

fn has_aws_prefix(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// The account's and the service's tags together go on each of the service's resources, next to
/// the operator's own: their union must leave room for those within AWS's limit.
pub fn check_merged_tag_count(
    account: &str,
    account_tags: &BTreeMap<String, String>,
    service_tags: &BTreeMap<String, String>,
) -> Result<(), Invalid> {
    let merged =
        account_tags.keys().chain(service_tags.keys()).collect::<std::collections::BTreeSet<_>>();
    if merged.len() <= USER_TAGS_MAX {
        return Ok(());
    }
    Err(invalid(
        "spec.tags",
        format!(
            "with CloudAccount {account:?}'s spec.tags this service's resources would get {} tags of yours plus up to {OPERATOR_TAGS} of the operator's, over AWS's {AWS_MAX_TAGS} per resource: remove {} from spec.tags (or from the CloudAccount's)",
            merged.len(),
            merged.len() - USER_TAGS_MAX
        ),
    ))
}

/// The ECR repository `byoc/<namespace>/<name>` must be a valid ECR name; called only when the
/// service asks for a repository (`spec.repository`).
pub fn check_repository_name(namespace: &str, name: &str) -> Result<(), Invalid> {
    let repository = naming::repository_name(namespace, name);
    let drop = "or drop spec.repository and push to an existing registry";
    if !ECR_PATH_SEGMENT.is_match(namespace) {
        return Err(invalid(
            "metadata.namespace",
            format!(
                "the ECR repository would be {repository:?}, but ECR names allow no doubled separators (such as --) and only lower-case letters, digits and single . _ -: deploy from a namespace without them, {drop}"
            ),
        ));
    }
    if !ECR_PATH_SEGMENT.is_match(name) {
        return Err(invalid(
            "metadata.name",
            format!(
                "the ECR repository would be {repository:?}, but ECR names allow no doubled separators (such as --) and only lower-case letters, digits and single . _ -: rename the CloudService, {drop}"
            ),
        ));
    }
    if repository.len() > ECR_REPOSITORY_NAME_MAX {
        return Err(invalid(
            "metadata.name",
            format!(
                "the ECR repository name byoc/<namespace>/<name> would be {} characters, over ECR's {ECR_REPOSITORY_NAME_MAX}: give the CloudService a shorter name, {drop}",
                repository.len()
            ),
        ));
    }
    Ok(())
}

/// The task definition must fit ECS's size limit. The field named is the largest of what the
/// user controls: `spec.env` (plain values and secret references), `spec.command` or `spec.args`.
pub fn check_task_definition_size(td: &DesiredTaskDefinition) -> Result<(), Invalid> {
    let registered = registered_json(td);
    let size = json_bytes(&registered);
    if size <= TASK_DEFINITION_MAX_BYTES {
        return Ok(());
    }
    let container = &registered["containerDefinitions"][0];
    let part = |key: &str| json_bytes(&container[key]);
    let parts = [
        ("spec.env", part("environment") + part("secrets")),
        ("spec.command", part("entryPoint")),
        ("spec.args", part("command")),
    ];
    let (field, _) = parts.iter().max_by_key(|(_, bytes)| *bytes).copied().unwrap_or(parts[0]);
    let fix = if field == "spec.env" {
        "put large values in a Secret and use valueFrom.secretKeyRef (only the secret's ARN goes into the task definition), or ship them in the image"
    } else {
        "shorten it, or ship the script in the image"
    };
    Err(invalid(
        field,
        format!(
            "the task definition would be about {size} bytes, over ECS's limit of {TASK_DEFINITION_MAX_BYTES} bytes (64 KiB): {fix}"
        ),
    ))
}

/// Estimated size in bytes of the task definition registered for `td`.
pub fn task_definition_bytes(td: &DesiredTaskDefinition) -> usize {
    json_bytes(&registered_json(td))
}

fn json_bytes(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        other => other.to_string().len(),
    }
}

/// The RegisterTaskDefinition request body (without tags, which are not part of the definition)
/// as `resources::task_definition::register` builds it. Secret ARNs are not known yet; each is
/// counted at its longest: partition `aws-us-gov`, a 12-digit account and Secrets Manager's
/// 6-character suffix.
fn registered_json(td: &DesiredTaskDefinition) -> Value {
    let c = &td.container;
    let secret_arn = |name: &str| {
        format!("arn:aws-us-gov:secretsmanager:{}:123456789012:secret:{name}-AbCdEf", c.region)
    };
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| json!(v));
    json!({
        "family": td.family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": td.cpu_units.to_string(),
        "memory": td.memory_mib.to_string(),
        "executionRoleArn": td.execution_role_arn,
        "taskRoleArn": td.task_role_arn,
        "containerDefinitions": [{
            "name": c.name,
            "image": c.image,
            "essential": true,
            "entryPoint": non_empty(&c.command),
            "command": non_empty(&c.args),
            "portMappings": c.ports.iter().map(|p| json!({"containerPort": p, "protocol": "tcp"})).collect::<Vec<_>>(),
            "environment": c.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "secrets": c.secrets.iter().map(|(env, name)| json!({"name": env, "valueFrom": secret_arn(name)})).collect::<Vec<_>>(),
            "healthCheck": c.health_check.as_ref().map(|h| json!({
                "command": ["CMD-SHELL", h.command],
                "interval": h.interval_seconds,
                "timeout": h.timeout_seconds,
                "retries": h.retries,
                "startPeriod": h.start_period_seconds,
            })),
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": c.log_group,
                    "awslogs-region": c.region,
                    "awslogs-stream-prefix": "app",
                },
            },
        }],
    })
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
