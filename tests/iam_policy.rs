//! `deploy/iam-policy.json` grants exactly the AWS actions the code calls — every
//! `Aws::call("<service>", "<Operation>", …)` under `src/` — plus a short, explained list of extras,
//! and every grant carries the ownership condition its service supports. What cannot be conditioned
//! is explained in `deploy/README.md`, one line per action. Reads files only; no AWS, no cluster.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use byoc::desired::{Owner, naming, tag};
use regex::Regex;
use serde_json::Value;

/// Actions the policy grants although no `Aws::call` names them, each with the reason.
const EXTRA_ACTIONS: &[(&str, &str)] = &[
    (
        "iam:PassRole",
        "RegisterTaskDefinition hands the account's execution role and the service's task role to ECS",
    ),
    (
        "ecs:TagResource",
        "CreateCluster, CreateService and RegisterTaskDefinition send tags, authorized as ecs:TagResource",
    ),
    (
        "elasticloadbalancing:AddTags",
        "CreateLoadBalancer, CreateListener, CreateRule and CreateTargetGroup send tags, authorized as AddTags",
    ),
    ("ecr:TagResource", "CreateRepository sends tags, authorized as ecr:TagResource"),
    ("logs:TagResource", "CreateLogGroup sends tags, authorized as logs:TagResource"),
    (
        "logs:TagLogGroup",
        "the service authorization reference still lists this legacy action as a dependency of CreateLogGroup with tags",
    ),
    (
        "secretsmanager:TagResource",
        "CreateSecret sends tags, authorized as secretsmanager:TagResource",
    ),
    (
        "application-autoscaling:TagResource",
        "RegisterScalableTarget with Tags is also authorized as application-autoscaling:TagResource",
    ),
    (
        "cloudwatch:PutMetricAlarm",
        "PutScalingPolicy creates the target-tracking alarms in the caller's name",
    ),
    (
        "cloudwatch:DescribeAlarms",
        "PutScalingPolicy reads the alarms it manages in the caller's name",
    ),
    (
        "cloudwatch:DeleteAlarms",
        "DeleteScalingPolicy and DeregisterScalableTarget delete the policy alarms in the caller's name",
    ),
    (
        "acm:AddTagsToCertificate",
        "RequestCertificate with Tags is also authorized as acm:AddTagsToCertificate",
    ),
    (
        "servicediscovery:TagResource",
        "CreateHttpNamespace with Tags is also authorized as servicediscovery:TagResource",
    ),
    (
        "iam:CreateServiceLinkedRole",
        "the first RegisterScalableTarget for ECS creates Application Auto Scaling's service-linked role",
    ),
];

/// Operation prefixes that change or remove an existing resource.
const MODIFYING_PREFIXES: &[&str] = &["Delete", "Modify", "Update", "Put", "Set", "Deregister"];

/// Operation prefixes that create a resource.
const CREATING_PREFIXES: &[&str] = &["Create", "Register"];

/// The IAM service prefix for the service name `Aws::call` uses.
fn iam_prefix(service: &str) -> Option<&'static str> {
    match service {
        "ecs" => Some("ecs"),
        "ecr" => Some("ecr"),
        "elbv2" => Some("elasticloadbalancing"),
        "logs" => Some("logs"),
        "secretsmanager" => Some("secretsmanager"),
        "tagging" => Some("tag"),
        "codebuild" => Some("codebuild"),
        "autoscaling" => Some("application-autoscaling"),
        "servicediscovery" => Some("servicediscovery"),
        "acm" => Some("acm"),
        "route53" => Some("route53"),
        "s3" => Some("s3"),
        _ => None,
    }
}

/// The IAM action an API operation is authorized as, where the names differ (S3:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html>).
fn iam_action(prefix: &str, operation: &str) -> String {
    let action = match (prefix, operation) {
        ("s3", "HeadObject") => "GetObject",
        ("s3", "ListObjectsV2") => "ListBucket",
        ("s3", "DeleteObjects") => "DeleteObject",
        ("s3", "PutBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "PutBucketLifecycleConfiguration") => "PutLifecycleConfiguration",
        ("s3", "PutPublicAccessBlock") => "PutBucketPublicAccessBlock",
        (_, op) => op,
    };
    format!("{prefix}:{action}")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every `call("<service>", "<Operation>"` in `source`, wherever rustfmt broke the lines.
fn calls_in(source: &str) -> Vec<(String, String)> {
    let call = Regex::new(r#"\bcall\(\s*"([A-Za-z0-9-]+)"\s*,\s*"([A-Za-z0-9]+)""#).unwrap();
    call.captures_iter(source).map(|c| (c[1].to_string(), c[2].to_string())).collect()
}

/// Every (service, operation) the code calls, with the files that call it.
fn code_calls() -> BTreeMap<(String, String), BTreeSet<String>> {
    let root = repo_root();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut calls: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        for call in calls_in(&read(&file)) {
            calls.entry(call).or_default().insert(shown.clone());
        }
    }
    calls
}

/// The IAM actions the code needs, with the files that call each.
fn code_actions() -> BTreeMap<String, BTreeSet<String>> {
    let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((service, operation), files) in code_calls() {
        let prefix = iam_prefix(&service).unwrap_or_else(|| {
            panic!("unknown service {service:?} (called in {files:?}): add its IAM prefix to iam_prefix")
        });
        actions.entry(iam_action(prefix, &operation)).or_default().extend(files);
    }
    actions
}

struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: Option<Value>,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec![],
    }
}

fn statements() -> Vec<Statement> {
    let path = repo_root().join("deploy/iam-policy.json");
    let policy: Value = serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    assert_eq!(policy["Version"], "2012-10-17", "the policy language version");
    policy["Statement"]
        .as_array()
        .expect("Statement is a list")
        .iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow", "statement {} must only allow", s["Sid"]);
            Statement {
                sid: s["Sid"].as_str().expect("every statement has a Sid").to_string(),
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
                condition: s.get("Condition").cloned(),
            }
        })
        .collect()
}

fn policy_actions() -> BTreeSet<String> {
    statements().into_iter().flat_map(|s| s.actions).collect()
}

fn operation(action: &str) -> &str {
    action.split_once(':').map_or(action, |(_, op)| op)
}

fn starts_with_any(operation: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| operation.starts_with(p))
}

impl Statement {
    /// Whether the condition pins `key` to exactly `value` with `StringEquals`.
    fn requires(&self, key: &str, value: &str) -> bool {
        self.condition
            .as_ref()
            .and_then(|c| c.get("StringEquals"))
            .and_then(|c| c.get(key))
            .is_some_and(|v| strings(v) == [value])
    }

    fn requires_our_tag_in_request(&self) -> bool {
        self.requires(&format!("aws:RequestTag/{}", tag::MANAGED_BY), naming::MANAGED_BY)
    }

    fn requires_our_tag_on_resource(&self) -> bool {
        self.requires(&format!("aws:ResourceTag/{}", tag::MANAGED_BY), naming::MANAGED_BY)
    }
}

/// `- \`service:Action\` — reason` lines of deploy/README.md: action → reason.
fn documented_exceptions() -> BTreeMap<String, String> {
    let line = Regex::new(r"(?m)^- `([a-z0-9-]+:[A-Za-z0-9]+)` — (.+)$").unwrap();
    let mut documented = BTreeMap::new();
    for c in line.captures_iter(&read(&repo_root().join("deploy/README.md"))) {
        let previous = documented.insert(c[1].to_string(), c[2].trim().to_string());
        assert!(previous.is_none(), "deploy/README.md explains {} twice", &c[1]);
    }
    documented
}

fn assert_documented(action: &str, sid: &str, why: &str) {
    let documented = documented_exceptions();
    let reason = documented.get(action).unwrap_or_else(|| {
        panic!(
            "{action} (statement {sid}) is granted {why}: condition it, or add a line \
             \"- `{action}` — <reason>\" to deploy/README.md"
        )
    });
    assert!(reason.split_whitespace().count() >= 4, "the reason for {action} explains too little");
}

/// An IAM ARN pattern (`*` any run, `?` one character) as an anchored regex.
fn arn_pattern(pattern: &str) -> Regex {
    let body: String = pattern
        .chars()
        .map(|c| match c {
            '*' => ".*".to_string(),
            '?' => ".".to_string(),
            c => regex::escape(&c.to_string()),
        })
        .collect();
    Regex::new(&format!("^{body}$")).unwrap()
}

fn owner() -> Owner {
    Owner {
        namespace: "team-a".into(),
        name: "web".into(),
        uid: "7f3c1a52-0000-4000-8000-000000000001".into(),
        cluster_id: "prod-eu".into(),
    }
}

#[test]
fn the_scan_finds_calls_whose_arguments_rustfmt_split_over_lines() {
    let source = "aws.call(\"elbv2\", \"DeleteRule\", x)\n\
                  aws\n    .call(\n        \"ecs\",\n        \"CreateService\",\n        y,\n    )";
    assert_eq!(
        calls_in(source),
        [("elbv2".to_string(), "DeleteRule".to_string()), ("ecs".into(), "CreateService".into())]
    );
    let calls = code_calls();
    assert!(
        calls.contains_key(&("elbv2".to_string(), "CreateRule".to_string())),
        "src/resources/rule.rs calls CreateRule across several lines; the scan must see it"
    );
}

#[test]
fn every_service_the_code_calls_has_an_iam_prefix() {
    for ((service, _), files) in code_calls() {
        assert!(
            iam_prefix(&service).is_some(),
            "{files:?} call the unknown service {service:?}: add its IAM prefix to iam_prefix \
             and its actions to deploy/iam-policy.json"
        );
    }
}

#[test]
fn the_policy_grants_exactly_the_actions_the_code_calls_plus_the_explained_extras() {
    let code = code_actions();
    let mut needed: BTreeSet<String> = code.keys().cloned().collect();
    needed.extend(EXTRA_ACTIONS.iter().map(|(action, _)| action.to_string()));
    let granted = policy_actions();
    let missing: Vec<String> = needed
        .difference(&granted)
        .map(|a| match code.get(a) {
            Some(files) => {
                format!("{a} (called in {})", files.iter().cloned().collect::<Vec<_>>().join(", "))
            }
            None => format!("{a} (an extra in this test)"),
        })
        .collect();
    let unused: Vec<&String> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "deploy/iam-policy.json is out of step with the code.\n  not granted: {missing:#?}\n  \
         granted but never called (remove it, or add it to EXTRA_ACTIONS with a reason): {unused:#?}"
    );
}

#[test]
fn each_extra_action_is_listed_once_with_its_reason() {
    let mut seen = BTreeSet::new();
    for (action, reason) in EXTRA_ACTIONS {
        assert!(seen.insert(action), "{action} is listed twice in EXTRA_ACTIONS");
        assert!(reason.split_whitespace().count() >= 4, "say why {action} is needed");
    }
}

#[test]
fn statement_ids_are_unique() {
    let mut seen = BTreeSet::new();
    for s in statements() {
        assert!(seen.insert(s.sid.clone()), "Sid {} is used twice", s.sid);
    }
}

#[test]
fn every_create_statement_requires_our_ownership_tag_in_the_request() {
    for s in statements() {
        let creates: Vec<&String> =
            s.actions.iter().filter(|a| starts_with_any(operation(a), CREATING_PREFIXES)).collect();
        if s.requires_our_tag_in_request() {
            continue;
        }
        // A service that takes no tags on create (S3's CreateBucket) must say why in the README.
        for action in creates {
            assert_documented(
                action,
                &s.sid,
                &format!(
                    "without requiring aws:RequestTag/{} = {}",
                    tag::MANAGED_BY,
                    naming::MANAGED_BY
                ),
            );
        }
    }
}

#[test]
fn every_tagging_grant_is_tied_to_our_ownership_tag() {
    for s in statements() {
        let tagging: Vec<&String> = s
            .actions
            .iter()
            .filter(|a| matches!(operation(a), "TagResource" | "AddTags" | "TagLogGroup"))
            .collect();
        assert!(
            tagging.is_empty()
                || s.requires_our_tag_in_request()
                || s.requires_our_tag_on_resource(),
            "statement {} grants {tagging:?} without our ownership tag in the request or on the resource",
            s.sid
        );
    }
}

#[test]
fn every_modifying_grant_is_limited_to_our_resources_or_explained() {
    for s in statements().into_iter().filter(|s| !s.requires_our_tag_on_resource()) {
        for action in s.actions.iter().filter(|a| starts_with_any(operation(a), MODIFYING_PREFIXES))
        {
            assert_documented(
                action,
                &s.sid,
                &format!("without aws:ResourceTag/{} = {}", tag::MANAGED_BY, naming::MANAGED_BY),
            );
        }
    }
}

#[test]
fn every_grant_without_a_condition_is_explained() {
    for s in statements().into_iter().filter(|s| s.condition.is_none()) {
        for action in &s.actions {
            assert_documented(action, &s.sid, "without any condition");
        }
    }
}

#[test]
fn the_readme_explains_only_actions_the_policy_grants() {
    let granted = policy_actions();
    for action in documented_exceptions().keys() {
        assert!(
            granted.contains(action),
            "deploy/README.md explains {action}, which the policy no longer grants"
        );
    }
}

#[test]
fn pass_role_is_only_granted_towards_ecs_tasks_or_codebuild_and_never_on_every_role() {
    let pass_role: Vec<Statement> = statements()
        .into_iter()
        .filter(|s| s.actions.iter().any(|a| a == "iam:PassRole"))
        .collect();
    assert!(!pass_role.is_empty(), "RegisterTaskDefinition needs iam:PassRole");
    for s in pass_role {
        assert!(
            s.requires("iam:PassedToService", "ecs-tasks.amazonaws.com")
                || s.requires("iam:PassedToService", "codebuild.amazonaws.com"),
            "statement {} must pin iam:PassedToService to ecs-tasks.amazonaws.com or codebuild.amazonaws.com",
            s.sid
        );
        assert!(!s.resources.iter().any(|r| r == "*"), "statement {} passes every role", s.sid);
    }
}

#[test]
fn the_name_patterns_in_the_policy_cover_the_names_the_operator_generates() {
    let o = owner();
    let lb = naming::account_resource_name("demo", "public", 32);
    let arns = [
        (
            "ecr:CreateRepository",
            format!("arn:aws:ecr:eu-west-1:123456789012:repository/{}", o.repository_name()),
        ),
        (
            "ecr:DescribeRepositories",
            format!("arn:aws:ecr:eu-west-1:123456789012:repository/{}", o.repository_name()),
        ),
        (
            "logs:CreateLogGroup",
            format!("arn:aws:logs:eu-west-1:123456789012:log-group:{}:*", o.log_group_name()),
        ),
        (
            "logs:PutRetentionPolicy",
            format!("arn:aws:logs:eu-west-1:123456789012:log-group:{}", o.log_group_name()),
        ),
        (
            "secretsmanager:CreateSecret",
            format!(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:{}-AbCdEf",
                o.secret_name("DB_PASSWORD")
            ),
        ),
        (
            "elasticloadbalancing:CreateLoadBalancer",
            format!(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/{lb}/50dc6c495c0c9188"
            ),
        ),
        (
            "elasticloadbalancing:CreateListener",
            format!(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/{lb}/50dc6c495c0c9188"
            ),
        ),
        (
            "elasticloadbalancing:CreateTargetGroup",
            format!(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{}/73e2d6bc24d8a067",
                o.target_group_name()
            ),
        ),
        (
            "ecs:CreateService",
            format!("arn:aws:ecs:eu-west-1:123456789012:service/shared/{}", o.ecs_name()),
        ),
        (
            "ecs:RegisterTaskDefinition",
            format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{}:3", o.ecs_name()),
        ),
        (
            "codebuild:CreateProject",
            format!("arn:aws:codebuild:eu-west-1:123456789012:project/{}", o.build_project_name()),
        ),
        (
            "codebuild:StartBuild",
            format!("arn:aws:codebuild:eu-west-1:123456789012:project/{}", o.build_project_name()),
        ),
        (
            "s3:PutObject",
            format!(
                "arn:aws:s3:::{}/{}",
                byoc::resources::build_bucket::name("123456789012", "eu-west-1", "demo", "c1"),
                byoc::resources::build_bucket::key(&o.build_project_name(), "sha256:00ff")
            ),
        ),
        (
            "s3:CreateBucket",
            format!(
                "arn:aws:s3:::{}",
                byoc::resources::build_bucket::name("123456789012", "eu-west-1", "demo", "c1")
            ),
        ),
    ];
    let statements = statements();
    for (action, arn) in arns {
        let covered = statements
            .iter()
            .filter(|s| s.actions.iter().any(|a| a == action))
            .any(|s| s.resources.iter().any(|pattern| arn_pattern(pattern).is_match(&arn)));
        assert!(
            covered,
            "no statement grants {action} on {arn}: the naming and the policy's resources disagree"
        );
    }
}
