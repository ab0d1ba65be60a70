//! The bad input corpus (`tests/data/bad/`, described in its README): every file with the outcome
//! its header comments expect, placeholders filled in; and the context some cases need (a load
//! balancer at its target group quota).

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, HostHeaderConditionConfig, RuleCondition,
    TargetGroupTuple, TargetTypeEnum,
};
use byoc::aws::Aws;

use super::manifests::repo_root;

/// What `byoc plan` does with the case.
#[derive(Debug, Clone, PartialEq)]
pub enum Cli {
    /// Fails with every one of these texts in its error.
    Refused(Vec<String>),
    /// Cannot see the problem and plans.
    Accepted,
}

/// What the API server does with the case.
#[derive(Debug, Clone, PartialEq)]
pub enum Api {
    /// Refuses it with this HTTP status and these texts in its message.
    Refused { code: u16, texts: Vec<String> },
    /// Stores it; the controller then sets `condition`.
    Accepted,
}

/// A condition the controller sets: `type_=True` with `reason`, its message containing `text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub type_: String,
    pub reason: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Case {
    /// The file's stem, also the name of the case's CloudService.
    pub name: String,
    /// The file with its placeholders filled in.
    pub text: String,
    pub cli: Cli,
    /// `None`: `byoc delete` succeeds; else the text its error contains.
    pub cli_delete: Option<String>,
    pub api: Api,
    pub condition: Option<Condition>,
    pub setup: Option<String>,
}

/// What the placeholders become.
pub struct Placeholders<'a> {
    pub account: &'a str,
    pub namespace: &'a str,
    pub other_namespace: &'a str,
}

/// Every case of the corpus, in file name order.
pub fn cases(p: &Placeholders) -> Vec<Case> {
    let dir = repo_root().join("tests/data/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let cases: Vec<Case> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let text = text
                .replace("OTHER_NAMESPACE", p.other_namespace)
                .replace("NAMESPACE", p.namespace)
                .replace("ACCOUNT", p.account);
            let name = file.file_stem().unwrap().to_string_lossy().to_string();
            parse(name, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        })
        .collect();
    assert!(cases.len() >= 15, "the corpus is in tests/data/bad: {}", dir.display());
    cases
}

fn parse(name: String, text: String) -> Result<Case, String> {
    let directives: Vec<(&str, &str)> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').trim().split_once(": "))
        .collect();
    let all = |key: &str| -> Vec<String> {
        directives.iter().filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()).collect()
    };
    let one = |key: &str| -> Result<String, String> {
        match all(key).as_slice() {
            [v] => Ok(v.clone()),
            other => Err(format!("expected one `# {key}:` line, found {}", other.len())),
        }
    };
    let cli_lines = all("expect-cli");
    let cli = match cli_lines.as_slice() {
        [] => return Err("no `# expect-cli:` line".into()),
        [only] if only == "accepted" => Cli::Accepted,
        texts => Cli::Refused(texts.to_vec()),
    };
    let cli_delete = Some(one("expect-cli-delete")?).filter(|d| d != "ok");
    let api_line = one("expect-api")?;
    let api = if api_line == "accepted" {
        Api::Accepted
    } else {
        let (code, text) = api_line.split_once(' ').unwrap_or((&api_line, ""));
        let code = code.parse().map_err(|_| format!("`expect-api: {api_line}`: no status"))?;
        Api::Refused {
            code,
            texts: Some(text.to_string()).filter(|t| !t.is_empty()).into_iter().collect(),
        }
    };
    let condition = match all("expect-condition").first() {
        Some(line) => {
            let mut parts = line.splitn(3, ' ');
            let (type_, reason, text) = (parts.next(), parts.next(), parts.next());
            let (Some(type_), Some(reason), Some(text)) = (type_, reason, text) else {
                return Err(format!("`expect-condition: {line}`: want TYPE REASON TEXT"));
            };
            Some(Condition { type_: type_.into(), reason: reason.into(), text: text.into() })
        }
        None => None,
    };
    if (api == Api::Accepted) != condition.is_some() {
        return Err("an accepted case needs `# expect-condition:`, and only it".into());
    }
    Ok(Case { name, cli, cli_delete, api, condition, setup: all("setup").first().cloned(), text })
}

impl Case {
    /// The YAML documents of the file, as written (the last one is the case itself).
    pub fn documents(&self) -> Vec<String> {
        let mut docs = vec![String::new()];
        for line in self.text.lines() {
            if line == "---" {
                docs.push(String::new());
            } else {
                let doc = docs.last_mut().unwrap();
                doc.push_str(line);
                doc.push('\n');
            }
        }
        docs
    }
}

/// How many tags the corpus's account puts on every resource (of the 45 a user may set, account
/// and service together). Few: moto's ELBv2 takes at most 10 tags a resource (AWS takes 50), and
/// the services the corpus deploys get the operator's own five as well.
pub const ACCOUNT_TAGS: usize = 4;

/// The CloudAccount the corpus runs against: the world's (`account_yaml`) with a second load
/// balancer, `crowded`, next to `public` (same security groups), and `ACCOUNT_TAGS` tags.
pub fn corpus_account(account_yaml: &str) -> String {
    let public =
        account_yaml.find("    - name: public\n").expect("the account's public load balancer");
    let entry_end = account_yaml[public..].find("  defaults:").map(|i| public + i).unwrap();
    let entry = &account_yaml[public..entry_end];
    let crowded = entry.replace("name: public", "name: crowded");
    let tags: String =
        (0..ACCOUNT_TAGS).map(|i| format!("    corpus-tag-{i:02}: corpus\n")).collect();
    format!("{}{crowded}  tags:\n{tags}{}", &account_yaml[..entry_end], &account_yaml[entry_end..])
}

/// The VPC of the account manifest.
pub fn vpc_id(account_yaml: &str) -> String {
    let line = account_yaml.lines().find(|l| l.trim_start().starts_with("vpcId:")).unwrap();
    line.split_once(':').unwrap().1.trim().to_string()
}

/// Attaches `count` target groups that are not ours (no tags) to the listener, five to a rule as
/// weighted forwards: the load balancer then has that many target groups.
pub async fn crowd(aws: &Aws, listener_arn: &str, vpc_id: &str, prefix: &str, count: usize) {
    let mut arns = Vec::new();
    for i in 0..count {
        let created = aws
            .elb
            .create_target_group()
            .name(format!("{prefix}-{i}"))
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap();
        arns.push(created.target_groups()[0].target_group_arn().unwrap().to_string());
    }
    for (i, chunk) in arns.chunks(5).enumerate() {
        let tuples =
            chunk.iter().map(|a| TargetGroupTuple::builder().target_group_arn(a).weight(1).build());
        let forward =
            ForwardActionConfig::builder().set_target_groups(Some(tuples.collect())).build();
        aws.elb
            .create_rule()
            .listener_arn(listener_arn)
            .priority(40_000 + i as i32)
            .conditions(
                RuleCondition::builder()
                    .field("host-header")
                    .host_header_config(
                        HostHeaderConditionConfig::builder()
                            .values(format!("{prefix}-{i}.example.com"))
                            .build(),
                    )
                    .build(),
            )
            .actions(
                Action::builder().r#type(ActionTypeEnum::Forward).forward_config(forward).build(),
            )
            .send()
            .await
            .unwrap();
    }
}
