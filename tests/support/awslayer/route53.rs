//! Route 53 through the layer: a change batch is validated as a whole, change by change, before
//! any of it is made, and a DELETE must name a record set exactly as it is. moto answers every
//! change INSYNC, accepts a DELETE of any record set its change journal ever saw (so deleting
//! twice, or with other values, succeeds), and applies a batch one change at a time. Requests go
//! to moto unchanged unless the layer refuses them; the zones and record sets are moto's.
//!
//! - ChangeResourceRecordSets
//!   (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>):
//!   "To delete a resource record set, you must specify all the same values that you specified
//!   when you created it."; "Change batches are considered transactional changes. Route 53
//!   validates the changes in the request and then either makes all or none of the changes in
//!   the change batch request."; you "cannot delete the same resource record set more than once in
//!   a single change batch". The refusal is `InvalidChangeBatch` (HTTP 400) worded as Route 53
//!   words it: "Tried to delete resource record set [name='k.example.net.', type='A'] but it was
//!   not found" (the response body quoted in boto/boto#2887), "… but the values provided do not
//!   match the current values" (kubernetes-sigs/external-dns#732), and for a CREATE of a set that
//!   exists "Tried to create resource record set [name='…', type='…'] but it already exists"
//!   (moto's own wording, which it only applies to a CREATE repeated verbatim).
//! - For ACM (`acm`): whether a CNAME with a given value is in one of the hosted zones, read from
//!   moto's ListHostedZones and ListResourceRecordSets.

use std::collections::HashMap;

use super::{
    Shared,
    wire::{self, Reply, Req},
};

const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A record set, in a comparable form: names lowercase with the root dot, `\052` read as `*`,
/// values sorted; an alias has no TTL.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    pub name: String,
    pub kind: String,
    set_identifier: Option<String>,
    ttl: Option<String>,
    pub values: Vec<String>,
    alias: Option<(String, String, String)>,
    routing: Vec<(&'static str, String)>,
}

/// A DNS name as Route 53 compares it.
pub fn normalize(name: &str) -> String {
    let name = unescape(name).replace("\\052", "*").to_ascii_lowercase();
    format!("{}.", name.trim_end_matches('.'))
}

/// XML text as it reads (entities resolved).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find(';') else { break };
        let entity = &rest[at + 1..at + end];
        let resolved = match entity {
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match resolved {
            Some(c) => out.push(c),
            None => out.push_str(&rest[at..=at + end]),
        }
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}

impl RecordSet {
    /// From the inside of a `<ResourceRecordSet>` element (a request's or moto's).
    pub fn parse(xml: &str) -> RecordSet {
        let text = |tag: &str| wire::tag_text(xml, tag).map(|t| unescape(t.trim()));
        let alias = wire::element(xml, "AliasTarget").map(|a| {
            let field = |tag: &str| wire::tag_text(a, tag).map(unescape).unwrap_or_default();
            (field("HostedZoneId"), normalize(&field("DNSName")), field("EvaluateTargetHealth"))
        });
        let mut values: Vec<String> = wire::element(xml, "ResourceRecords")
            .map(|r| wire::tag_texts(r, "Value").into_iter().map(unescape).collect())
            .unwrap_or_default();
        values.sort();
        let routing = ["Weight", "Region", "Failover", "HealthCheckId", "MultiValueAnswer"]
            .into_iter()
            .filter_map(|tag| Some((tag, text(tag)?)))
            .collect();
        RecordSet {
            name: normalize(&text("Name").unwrap_or_default()),
            kind: text("Type").unwrap_or_default(),
            set_identifier: text("SetIdentifier"),
            ttl: if alias.is_some() { None } else { text("TTL") },
            values,
            alias,
            routing,
        }
    }

    fn key(&self) -> (String, String, Option<String>) {
        (self.name.clone(), self.kind.clone(), self.set_identifier.clone())
    }
}

fn invalid_change_batch(messages: &[String]) -> Reply {
    let message = match messages {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let body = format!(
        r#"<?xml version="1.0"?>
<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        wire::escape(&message),
        uuid_like()
    );
    wire::xml_reply(400, body)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("00000000-0000-4000-9000-{:012x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    if req.operation != "ChangeResourceRecordSets" {
        return shared.forward(req).await;
    }
    let zone = req.path_and_query.split('/').nth(3).unwrap_or_default().to_string();
    let text = std::str::from_utf8(&req.body).unwrap_or_default();
    let changes: Vec<(String, RecordSet)> = wire::tag_texts(text, "Change")
        .into_iter()
        .map(|c| {
            let action = wire::tag_text(c, "Action").unwrap_or_default().to_string();
            (action, RecordSet::parse(wire::element(c, "ResourceRecordSet").unwrap_or_default()))
        })
        .collect();
    // Each change against the zone as the changes before it left it.
    let mut working: HashMap<(String, String, Option<String>), Option<RecordSet>> = HashMap::new();
    let mut errors = Vec::new();
    for (action, set) in &changes {
        let key = set.key();
        if !working.contains_key(&key) {
            let Some(found) = record_sets(shared, req, &zone, &set.name, &set.kind).await else {
                // No such zone, or moto refused the read: moto answers the change itself.
                return shared.forward(req).await;
            };
            let current = found.into_iter().find(|s| s.set_identifier == set.set_identifier);
            working.insert(key.clone(), current);
        }
        let current = working.get(&key).cloned().flatten();
        let described = format!("[name='{}', type='{}']", set.name, set.kind);
        match (action.as_str(), current) {
            ("DELETE", None) => {
                errors.push(format!(
                    "Tried to delete resource record set {described} but it was not found"
                ));
            }
            ("DELETE", Some(current)) if current != *set => errors.push(format!(
                "Tried to delete resource record set {described} but the values provided do not match the current values"
            )),
            ("DELETE", Some(_)) => {
                working.insert(key, None);
            }
            ("CREATE", Some(_)) => errors.push(format!(
                "Tried to create resource record set {described} but it already exists"
            )),
            ("CREATE" | "UPSERT", _) => {
                working.insert(key, Some(set.clone()));
            }
            _ => {}
        }
    }
    if !errors.is_empty() {
        return invalid_change_batch(&errors);
    }
    let reply = shared.forward(req).await;
    if reply.is_success() {
        let now = std::time::Instant::now();
        let mut state = shared.lock();
        for (action, set) in changes.iter().filter(|(_, s)| s.kind == "CNAME") {
            state.acm.saw_record(&set.name, action != "DELETE", now);
        }
    }
    reply
}

/// The record sets `name`/`kind` of a zone, as moto lists them; `None` when moto refuses the
/// read (no such zone).
pub async fn record_sets(
    shared: &Shared,
    like: &Req,
    zone: &str,
    name: &str,
    kind: &str,
) -> Option<Vec<RecordSet>> {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", name)
        .append_pair("type", kind)
        .append_pair("maxitems", "100")
        .finish();
    let path = format!("/2013-04-01/hostedzone/{zone}/rrset?{query}");
    let reply = shared.ask_rest(like, "route53", http::Method::GET, &path).await;
    if !reply.is_success() {
        return None;
    }
    let wanted = normalize(name);
    Some(
        wire::tag_texts(reply.text(), "ResourceRecordSet")
            .into_iter()
            .map(RecordSet::parse)
            .filter(|s| s.name == wanted && s.kind == kind)
            .collect(),
    )
}

/// Every hosted zone: `(id, name)`, the name normalized.
pub async fn zones(shared: &Shared, like: &Req) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut path = "/2013-04-01/hostedzone?maxitems=100".to_string();
        if let Some(m) = &marker {
            path.push_str(&format!("&marker={m}"));
        }
        let reply = shared.ask_rest(like, "route53", http::Method::GET, &path).await;
        let text = reply.text();
        for zone in wire::tag_texts(text, "HostedZone") {
            let id = wire::tag_text(zone, "Id").unwrap_or_default();
            let name = wire::tag_text(zone, "Name").unwrap_or_default();
            out.push((id.trim_start_matches("/hostedzone/").to_string(), normalize(name)));
        }
        marker = wire::tag_text(text, "NextMarker").map(str::to_string);
        if wire::tag_text(text, "IsTruncated") != Some("true") || marker.is_none() {
            return out;
        }
    }
}

/// Whether the CNAME `name` → `value` is in one of `zones` (those whose domain holds the name).
pub async fn cname_present(
    shared: &Shared,
    like: &Req,
    zones: &[(String, String)],
    name: &str,
    value: &str,
) -> bool {
    let name = normalize(name);
    for (id, zone) in zones {
        if name != *zone && !name.ends_with(&format!(".{zone}")) {
            continue;
        }
        let sets = record_sets(shared, like, id, &name, "CNAME").await.unwrap_or_default();
        if sets.iter().any(|s| s.values.iter().any(|v| normalize(v) == normalize(value))) {
            return true;
        }
    }
    false
}
