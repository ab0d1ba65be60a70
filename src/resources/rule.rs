//! Listener rules on a shared listener: one `DescribeRules` per listener (plus batched
//! `DescribeTags`) serves every service on it. Rules have no name and no idempotent create, so
//! they are found by their ownership tags, never only via status; a duplicate left by a crash is
//! removed. `diff` is pure; the rest calls ELBv2 through `Aws::call`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, HostHeaderConditionConfig, PathPatternConditionConfig,
    RuleCondition, RulePriorityPair,
};

use super::{
    Action, Change, FieldChange, Kind,
    cache::ObserveCache,
    priorities::{self, Claim},
    tags::{self, Tags},
};
use crate::{
    aws::{Aws, AwsError},
    desired::{DesiredIngress, Owner, tag},
};

/// One rule on a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerRule {
    pub arn: String,
    pub priority: u32,
    /// `namespace/name` when the rule is ours (this installation), else `None`.
    pub owner: Option<String>,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    pub target_groups: Vec<String>,
    pub tags: Tags,
}

/// Every non-default rule of a listener. With `infer`, a rule whose tags were never read takes
/// the ownership of the target group it forwards to, as the account's snapshot tells it (a
/// rule of ours is tagged like its target group), and is otherwise taken as someone else's:
/// good enough to conclude that nothing needs doing, never to plan a change (changes are
/// planned from a listing without `infer`).
pub async fn observe_listener(
    aws: &Aws,
    listener_arn: &str,
    cluster_id: &str,
    cache: &ObserveCache,
    infer: bool,
) -> Result<(Vec<ListenerRule>, bool), AwsError> {
    let mut raw = Vec::new();
    let mut marker = None;
    loop {
        let out = aws
            .call(
                "elbv2",
                "DescribeRules",
                aws.elb
                    .describe_rules()
                    .listener_arn(listener_arn)
                    .set_marker(marker)
                    .page_size(400)
                    .send(),
            )
            .await?;
        raw.extend(out.rules().iter().filter(|r| r.is_default() != Some(true)).cloned());
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    // A rule's ARN is never reused and its tags are set when it is created: tags seen before
    // (or in the account's snapshot) are not read again.
    let mut tags_by_arn: BTreeMap<String, Tags> = BTreeMap::new();
    let mut unknown = Vec::new();
    // Whether every rule's tags were read (not inferred, not left unknown).
    let mut exact = true;
    for r in &raw {
        let Some(arn) = r.rule_arn() else { continue };
        match cache.tags(arn) {
            Some(tags) => {
                tags_by_arn.insert(arn.to_string(), tags);
            }
            None if infer => {
                exact = false;
                let forwarded = r.actions().iter().find_map(|a| a.target_group_arn());
                if let Some(tags) = forwarded.and_then(|tg| cache.tags(tg)) {
                    tags_by_arn.insert(arn.to_string(), tags);
                }
            }
            None => unknown.push(arn.to_string()),
        }
    }
    for batch in unknown.chunks(20) {
        let out = aws
            .call(
                "elbv2",
                "DescribeTags",
                aws.elb.describe_tags().set_resource_arns(Some(batch.to_vec())).send(),
            )
            .await?;
        for d in out.tag_descriptions() {
            let (arn, tags) = (d.resource_arn().unwrap_or_default(), tags::from_elb(d.tags()));
            cache.put_tags(arn, tags.clone());
            tags_by_arn.insert(arn.to_string(), tags);
        }
    }
    let rules = raw
        .iter()
        .filter_map(|r| {
            let arn = r.rule_arn()?.to_string();
            let tags = tags_by_arn.remove(&arn).unwrap_or_default();
            let ours = crate::desired::naming::is_managed(&tags)
                && tags.get(tag::CLUSTER_ID).is_some_and(|c| c == cluster_id);
            let mut hosts = Vec::new();
            let mut paths = Vec::new();
            for c in r.conditions() {
                let values: Vec<String> = match c.field() {
                    Some("host-header") => c
                        .host_header_config()
                        .map(|h| h.values().to_vec())
                        .filter(|v| !v.is_empty())
                        .unwrap_or_else(|| c.values().to_vec()),
                    Some("path-pattern") => c
                        .path_pattern_config()
                        .map(|p| p.values().to_vec())
                        .filter(|v| !v.is_empty())
                        .unwrap_or_else(|| c.values().to_vec()),
                    _ => continue,
                };
                if c.field() == Some("host-header") {
                    hosts.extend(values)
                } else {
                    paths.extend(values)
                }
            }
            Some(ListenerRule {
                priority: r.priority()?.parse().ok()?,
                owner: if ours { tags.get(tag::OWNER).cloned() } else { None },
                target_groups: r
                    .actions()
                    .iter()
                    .filter_map(|a| a.target_group_arn().map(str::to_string))
                    .collect(),
                hosts,
                paths,
                tags,
                arn,
            })
        })
        .collect();
    Ok((rules, exact))
}

/// This owner's rules on the listener (normally zero or one).
pub fn owned<'a>(rules: &'a [ListenerRule], owner: &Owner) -> Vec<&'a ListenerRule> {
    rules.iter().filter(|r| r.owner.as_deref() == Some(owner.key().as_str())).collect()
}

/// Claims of every service of ours on the listener, with this owner's replaced by `mine`.
pub fn claims(rules: &[ListenerRule], owner: &Owner, mine: Option<&DesiredIngress>) -> Vec<Claim> {
    let key = owner.key();
    let mut seen = BTreeSet::new();
    let mut out: Vec<Claim> = rules
        .iter()
        .filter_map(|r| Some((r.owner.as_ref()?, r)))
        .filter(|(o, _)| **o != key && seen.insert((*o).clone()))
        .map(|(o, r)| Claim { owner: o.clone(), hosts: r.hosts.clone(), paths: r.paths.clone() })
        .collect();
    if let Some(ing) = mine {
        out.push(Claim { owner: key, hosts: ing.hosts.clone(), paths: ing.paths.clone() });
    }
    out
}

/// Target priorities for our rules after this owner's change.
pub fn target_priorities(
    rules: &[ListenerRule],
    owner: &Owner,
    mine: Option<&DesiredIngress>,
) -> BTreeMap<String, u32> {
    let reserved: BTreeSet<u32> =
        rules.iter().filter(|r| r.owner.is_none()).map(|r| r.priority).collect();
    priorities::allocate(&claims(rules, owner, mine), &reserved)
}

/// The change to this owner's rule. `target_group` is the ARN it should forward to, when known.
pub fn diff(
    desired: &DesiredIngress,
    target_group: Option<&str>,
    rules: &[ListenerRule],
    owner: &Owner,
) -> Option<Change> {
    let mine = owned(rules, owner);
    let id = format!("{} {}", desired.load_balancer, describe(&desired.hosts, &desired.paths));
    let Some(rule) = mine.first() else {
        return Some(Change::new(Kind::ListenerRule, id, Action::Create));
    };
    let mut fields = Vec::new();
    if mine.len() > 1 {
        fields.push(FieldChange::new("duplicates", format!("{} rules", mine.len()), "1 rule"));
    }
    if sorted(&rule.hosts) != sorted(&desired.hosts) {
        fields.push(FieldChange::new("hosts", rule.hosts.join(","), desired.hosts.join(",")));
    }
    if sorted(&rule.paths) != sorted(&desired.paths) {
        fields.push(FieldChange::new("paths", rule.paths.join(","), desired.paths.join(",")));
    }
    if let Some(tg) = target_group
        && rule.target_groups != [tg]
    {
        fields.push(FieldChange::new("targetGroup", rule.target_groups.join(","), tg));
    }
    let target = target_priorities(rules, owner, Some(desired));
    if let Some(p) = target.get(&owner.key())
        && *p != rule.priority
    {
        fields.push(FieldChange::new("priority", rule.priority, p));
    }
    if fields.is_empty() {
        None
    } else {
        Some(Change::new(Kind::ListenerRule, id, Action::Update(fields)))
    }
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}

fn describe(hosts: &[String], paths: &[String]) -> String {
    let h = if hosts.is_empty() { "*".to_string() } else { hosts.join(",") };
    let p = if paths.is_empty() { "/*".to_string() } else { paths.join(",") };
    format!("{h}{p}")
}

fn conditions(desired: &DesiredIngress) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    if !desired.hosts.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(desired.hosts.clone()))
                        .build(),
                )
                .build(),
        );
    }
    if !desired.paths.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(desired.paths.clone()))
                        .build(),
                )
                .build(),
        );
    }
    out
}

fn forward(target_group: &str) -> ElbAction {
    ElbAction::builder().r#type(ActionTypeEnum::Forward).target_group_arn(target_group).build()
}

/// Brings this owner's rule to `desired` (create or modify, drop duplicates), then moves our
/// rules on the listener to their allocated priorities. Returns the ARN of a rule it created.
pub async fn act(
    aws: &Aws,
    listener_arn: &str,
    desired: &DesiredIngress,
    target_group: &str,
    rules: &[ListenerRule],
    owner: &Owner,
    tags: &Tags,
) -> Result<Option<String>, AwsError> {
    let mine = owned(rules, owner);
    let by_owner = target_priorities(rules, owner, Some(desired));
    let mut created = None;
    let mut current: BTreeMap<String, u32> =
        rules.iter().filter(|r| r.owner.is_some()).map(|r| (r.arn.clone(), r.priority)).collect();
    let mut in_use: BTreeSet<u32> = rules.iter().map(|r| r.priority).collect();
    for extra in mine.iter().skip(1) {
        delete_rule(aws, &extra.arn).await?;
        current.remove(&extra.arn);
        in_use.remove(&extra.priority);
    }
    let arn =
        match mine.first() {
            Some(rule) => {
                if sorted(&rule.hosts) != sorted(&desired.hosts)
                    || sorted(&rule.paths) != sorted(&desired.paths)
                    || rule.target_groups != [target_group]
                {
                    aws.call(
                        "elbv2",
                        "ModifyRule",
                        aws.elb
                            .modify_rule()
                            .rule_arn(&rule.arn)
                            .set_conditions(Some(conditions(desired)))
                            .actions(forward(target_group))
                            .send(),
                    )
                    .await?;
                }
                rule.arn.clone()
            }
            None => {
                // Born with its ownership tags, so a crash right after this call leaves a rule we
                // find again by tag rather than a duplicate; at its target priority when that is
                // free (a route added after the others), else parked at the highest free one.
                let parking = by_owner
                    .get(&owner.key())
                    .copied()
                    .filter(|p| !in_use.contains(p))
                    .or_else(|| (1..=priorities::MAX_PRIORITY).rev().find(|p| !in_use.contains(p)))
                    .unwrap_or(priorities::MAX_PRIORITY);
                let out = aws
                    .call(
                        "elbv2",
                        "CreateRule",
                        aws.elb
                            .create_rule()
                            .listener_arn(listener_arn)
                            .priority(parking as i32)
                            .set_conditions(Some(conditions(desired)))
                            .actions(forward(target_group))
                            .set_tags(Some(tags::elb(tags)))
                            .send(),
                    )
                    .await?;
                let arn =
                    out.rules().first().and_then(|r| r.rule_arn()).map(str::to_string).ok_or_else(
                        || AwsError::unexpected("CreateRule", "no rule in the response"),
                    )?;
                created = Some(arn.clone());
                current.insert(arn.clone(), parking);
                in_use.insert(parking);
                arn
            }
        };
    let mut target: BTreeMap<String, u32> = BTreeMap::new();
    for r in rules.iter().filter(|r| r.owner.is_some() && current.contains_key(&r.arn)) {
        if let Some(p) = r.owner.as_ref().and_then(|o| by_owner.get(o))
            && r.owner.as_deref() != Some(owner.key().as_str())
        {
            target.insert(r.arn.clone(), *p);
        }
    }
    if let Some(p) = by_owner.get(&owner.key()) {
        target.insert(arn, *p);
    }
    set_priorities(aws, &current, &target, &in_use).await?;
    Ok(created)
}

async fn set_priorities(
    aws: &Aws,
    current: &BTreeMap<String, u32>,
    target: &BTreeMap<String, u32>,
    in_use: &BTreeSet<u32>,
) -> Result<(), AwsError> {
    let (phase1, phase2) = priorities::moves(current, target, in_use);
    for phase in [phase1, phase2] {
        if phase.is_empty() {
            continue;
        }
        let pairs: Vec<RulePriorityPair> = phase
            .iter()
            .map(|(arn, p)| RulePriorityPair::builder().rule_arn(arn).priority(*p as i32).build())
            .collect();
        aws.call(
            "elbv2",
            "SetRulePriorities",
            aws.elb.set_rule_priorities().set_rule_priorities(Some(pairs)).send(),
        )
        .await?;
    }
    Ok(())
}

pub async fn delete_rule(aws: &Aws, arn: &str) -> Result<(), AwsError> {
    match aws.call("elbv2", "DeleteRule", aws.elb.delete_rule().rule_arn(arn).send()).await {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
