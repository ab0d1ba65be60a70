//! ELBv2 through the layer: a target group stays "in use" for a while after the last rule that
//! forwarded to it is deleted or changed, and CreateTargetGroup is idempotent for identical
//! settings. moto already refuses DeleteTargetGroup while a rule forwards to the group (with
//! AWS's `ResourceInUse`), but frees it the instant the rule goes, and it answers
//! `DuplicateTargetGroupName` to an identical second create. Requests go to moto unchanged.
//!
//! - DeleteTargetGroup
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeleteTargetGroup.html>):
//!   "You can delete a target group if it is not referenced by any actions."; error
//!   `ResourceInUse`: "A specified resource is in use." Real AWS keeps answering it for a short
//!   while after DeleteRule, the eventual consistency every tool retries through
//!   (hashicorp/terraform-provider-aws#1315: "Target group '…' is currently in use by a listener
//!   or a rule" right after the rule was removed). The layer tracks rule → target groups from
//!   CreateRule and ModifyRule requests and DescribeRules answers, and listener default actions
//!   from CreateListener and ModifyListener; DeleteListener and DeleteLoadBalancer take theirs
//!   along.
//! - CreateTargetGroup
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html>):
//!   "This operation is idempotent, which means that it completes at most one time. If you
//!   attempt to create multiple target groups with the same settings, each call succeeds.";
//!   `DuplicateTargetGroupName`: "A target group with the specified name already exists."
//!
//! Listener certificates (AddListenerCertificates, RemoveListenerCertificates, and the
//! certificates listeners are created with) are played in `listener_certs`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use super::{
    Shared,
    wire::{self, ELB_NAMESPACE, Reply, Req},
};

#[derive(Debug, Default)]
pub struct Model {
    /// Listener rule ARN (or listener ARN, for a listener's default actions) → its listener and
    /// the target groups it forwards to.
    rules: HashMap<String, (String, Vec<String>)>,
    /// Target group ARN → when the last rule forwarding to it stopped doing so.
    released: HashMap<String, Instant>,
    /// Target group name → the settings it was created with.
    created: HashMap<String, Vec<(String, String)>>,
}

impl Model {
    fn forwards_to(&self, target_group: &str) -> bool {
        self.rules.values().any(|(_, tgs)| tgs.iter().any(|t| t == target_group))
    }

    /// Records what `rule` forwards to now; target groups it no longer reaches are released.
    fn set_rule(&mut self, rule: &str, listener: String, target_groups: Vec<String>, now: Instant) {
        for tg in &target_groups {
            self.released.remove(tg);
        }
        let old = self.rules.insert(rule.to_string(), (listener, target_groups));
        self.release(old.map(|(_, tgs)| tgs).unwrap_or_default(), now);
    }

    fn remove_rule(&mut self, rule: &str, now: Instant) {
        if let Some((_, tgs)) = self.rules.remove(rule) {
            self.release(tgs, now);
        }
    }

    fn release(&mut self, target_groups: Vec<String>, now: Instant) {
        for tg in target_groups {
            if !self.forwards_to(&tg) {
                self.released.insert(tg, now);
            }
        }
    }

    /// Whether DeleteTargetGroup must still answer ResourceInUse for `target_group`.
    fn still_in_use(&self, target_group: &str, window: Duration) -> bool {
        self.released.get(target_group).is_some_and(|at| at.elapsed() < window)
    }
}

/// Every target group ARN the actions under `prefix` (`Actions.member.`, `DefaultActions.member.`)
/// of a request forward to.
fn forwarded(form: &[(String, String)], prefix: &str) -> Vec<String> {
    let mut tgs: Vec<String> = form
        .iter()
        .filter(|(k, _)| k.starts_with(prefix) && k.ends_with("TargetGroupArn"))
        .map(|(_, v)| v.clone())
        .collect();
    tgs.sort();
    tgs.dedup();
    tgs
}

/// The settings of a CreateTargetGroup request, in a comparable form.
fn settings(form: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| {
            !["Action", "Version", "Name"].contains(&k.as_str()) && !k.starts_with("Tags.")
        })
        .cloned()
        .collect();
    out.sort();
    out
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    let form = req.form();
    let param =
        |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    match req.operation.as_str() {
        "CreateRule" | "ModifyRule" => {
            let reply = shared.forward(req).await;
            let rule = wire::tag_text(reply.text(), "RuleArn").map(str::to_string);
            let changes_actions = form.iter().any(|(k, _)| k.starts_with("Actions.member."));
            if let (true, Some(rule), true) = (reply.is_success(), rule, changes_actions) {
                let elb = &mut shared.lock().elb;
                let listener = match elb.rules.get(&rule) {
                    Some((listener, _)) => listener.clone(),
                    None => param("ListenerArn"),
                };
                elb.set_rule(&rule, listener, forwarded(&form, "Actions.member."), Instant::now());
            }
            reply
        }
        "DeleteRule" => {
            let reply = shared.forward(req).await;
            if reply.is_success() {
                shared.lock().elb.remove_rule(&param("RuleArn"), Instant::now());
            }
            reply
        }
        "DescribeRules" => {
            let reply = shared.forward(req).await;
            if reply.is_success() {
                observe_rules(&mut shared.lock().elb, &param("ListenerArn"), reply.text());
            }
            reply
        }
        "CreateListener" | "ModifyListener" => {
            let reply = shared.forward(req).await;
            let listener = wire::tag_text(reply.text(), "ListenerArn").map(str::to_string);
            let changes_actions = form.iter().any(|(k, _)| k.starts_with("DefaultActions.member."));
            if let (true, Some(listener)) = (reply.is_success(), &listener) {
                super::listener_certs::noted(shared, listener, &form);
            }
            if let (true, Some(listener), true) = (reply.is_success(), listener, changes_actions) {
                let tgs = forwarded(&form, "DefaultActions.member.");
                shared.lock().elb.set_rule(&listener, listener.clone(), tgs, Instant::now());
            }
            reply
        }
        "DeleteListener" | "DeleteLoadBalancer" => {
            let reply = shared.forward(req).await;
            if reply.is_success() {
                // A listener's rules go with it, and a load balancer's listeners with it.
                let gone = match req.operation.as_str() {
                    "DeleteListener" => param("ListenerArn"),
                    _ => param("LoadBalancerArn").replacen(":loadbalancer/", ":listener/", 1) + "/",
                };
                shared.lock().acm.forget_listeners(&gone);
                let elb = &mut shared.lock().elb;
                let rules: Vec<String> = elb
                    .rules
                    .iter()
                    .filter(|(_, (listener, _))| *listener == gone || listener.starts_with(&gone))
                    .map(|(rule, _)| rule.clone())
                    .collect();
                for rule in rules {
                    elb.remove_rule(&rule, Instant::now());
                }
            }
            reply
        }
        "DeleteTargetGroup" => {
            let tg = param("TargetGroupArn");
            {
                let state = shared.lock();
                if state.elb.still_in_use(&tg, state.config.target_group_in_use) {
                    let message =
                        format!("Target group '{tg}' is currently in use by a listener or a rule");
                    return wire::query_error(400, "Sender", "ResourceInUse", &message);
                }
            }
            let reply = shared.forward(req).await;
            if reply.is_success() {
                shared.lock().elb.released.remove(&tg);
            }
            reply
        }
        "CreateTargetGroup" => create_target_group(shared, req, &form).await,
        "AddListenerCertificates" => super::listener_certs::add(shared, req, &form).await,
        "RemoveListenerCertificates" => super::listener_certs::remove(shared, req, &form).await,
        _ => shared.forward(req).await,
    }
}

/// Learns the rules of a listener from a DescribeRules answer; tracked rules of that listener
/// that are gone were deleted behind the layer's back, and release their target groups.
fn observe_rules(elb: &mut Model, listener: &str, xml: &str) {
    let now = Instant::now();
    let mut present = Vec::new();
    for member in wire::element(xml, "Rules").map(wire::members).unwrap_or_default() {
        let Some(rule) = wire::tag_text(member, "RuleArn") else { continue };
        let mut tgs: Vec<String> =
            wire::tag_texts(member, "TargetGroupArn").into_iter().map(str::to_string).collect();
        tgs.sort();
        tgs.dedup();
        present.push(rule.to_string());
        elb.set_rule(rule, listener.to_string(), tgs, now);
    }
    if listener.is_empty() {
        return;
    }
    let gone: Vec<String> = elb
        .rules
        .iter()
        .filter(|(rule, (l, _))| l == listener && !present.contains(rule))
        .map(|(rule, _)| rule.clone())
        .collect();
    for rule in gone {
        elb.remove_rule(&rule, now);
    }
}

async fn create_target_group(shared: &Shared, req: &Req, form: &[(String, String)]) -> Reply {
    let name = form.iter().find(|(k, _)| k == "Name").map(|(_, v)| v.clone()).unwrap_or_default();
    let wanted = settings(form);
    let reply = shared.forward(req).await;
    if reply.is_success() {
        shared.lock().elb.created.insert(name, wanted);
        return reply;
    }
    if reply.error_code().as_deref() != Some("DuplicateTargetGroupName") {
        return reply;
    }
    let remembered = shared.lock().elb.created.get(&name).cloned();
    let version =
        form.iter().find(|(k, _)| k == "Version").map_or("2015-12-01", |(_, v)| v.as_str());
    let params = [
        ("Action", "DescribeTargetGroups"),
        ("Version", version),
        ("Names.member.1", name.as_str()),
    ];
    let existing = shared.ask_query(req, &params).await;
    let Some(groups) = wire::element(existing.text(), "TargetGroups") else { return reply };
    let same = match remembered {
        Some(settings) => settings == wanted,
        None => same_basics(form, groups),
    };
    if !same {
        return reply;
    }
    let request_id = wire::tag_text(existing.text(), "RequestId").unwrap_or_default();
    wire::xml_reply(
        200,
        format!(
            r#"<CreateTargetGroupResponse xmlns="{ELB_NAMESPACE}"><CreateTargetGroupResult><TargetGroups>{groups}</TargetGroups></CreateTargetGroupResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></CreateTargetGroupResponse>"#
        ),
    )
}

/// For a group the layer did not see created: the request's protocol, port, VPC and target type
/// match the existing group's.
fn same_basics(form: &[(String, String)], groups: &str) -> bool {
    let defaults = [("TargetType", "instance")];
    ["Protocol", "Port", "VpcId", "TargetType"].iter().all(|key| {
        let asked = form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .or_else(|| defaults.iter().find(|(k, _)| k == key).map(|(_, v)| *v));
        asked.is_none_or(|asked| wire::tag_text(groups, key) == Some(asked))
    })
}
