//! What kube-apiserver does on writes to core/v1 Services and networking.k8s.io/v1
//! NetworkPolicies: defaults (type, protocol, targetPort, a cluster IP kept across updates,
//! policyTypes), and the validation a chart bug could trip (a port without `port`, unnamed ports
//! in a multi-port Service, unknown protocols or policy types, a malformed CIDR).
//! Pure: takes and returns `serde_json::Value`s and `Cause`s.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::meta;
use super::status::{Cause, duplicate_cause, invalid_cause, not_supported_cause, required_cause};

const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

fn spec_mut(object: &mut Value) -> &mut Map<String, Value> {
    meta::metadata_mut(object);
    let map = object.as_object_mut().expect("metadata_mut made the object a map");
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        *spec = json!({});
    }
    spec.as_object_mut().expect("spec was just made a map")
}

/// `SetDefaults_Service` and the cluster IP allocation: a new Service gets a stable address
/// derived from its namespace and name; an update that omits it keeps the old one.
pub fn prepare_service(object: &mut Value, old: Option<&Value>) {
    let address = cluster_ip_for(object);
    let spec = spec_mut(object);
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
        port.entry("protocol").or_insert(json!("TCP"));
        let number = port.get("port").cloned().unwrap_or(json!(0));
        let target = port.get("targetPort").cloned().unwrap_or(json!(0));
        if target == json!(0) || target == json!("") {
            port.insert("targetPort".into(), number);
        }
    }
    if spec.get("type") != Some(&json!("ExternalName")) {
        spec.entry("internalTrafficPolicy").or_insert(json!("Cluster"));
        let unset = spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty);
        let old_spec = old.and_then(|o| o.get("spec"));
        let kept = old_spec.and_then(|s| s.get("clusterIP")).filter(|_| unset);
        match kept {
            Some(ip) => {
                for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                    if let Some(value) = old_spec.and_then(|s| s.get(field)) {
                        spec.insert(field.into(), value.clone());
                    }
                }
                spec.insert("clusterIP".into(), ip.clone());
            }
            None if unset => {
                spec.insert("clusterIP".into(), json!(address));
            }
            None => {}
        }
        if let Some(ip) = spec.get("clusterIP").cloned() {
            spec.entry("clusterIPs").or_insert(json!([ip]));
            if ip != json!("None") {
                spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
                spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
            }
        }
    }
    if old.is_none() {
        object["status"] = json!({"loadBalancer": {}});
    }
}

/// 10.96.x.y from the object's namespace and name; tests never create enough to collide.
fn cluster_ip_for(object: &Value) -> String {
    let namespace = meta::meta_str(object, "namespace").unwrap_or_default();
    let name = meta::name(object).unwrap_or_default();
    let mut hash: u32 = 2166136261;
    for byte in format!("{namespace}/{name}").bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(16777619);
    }
    format!("10.96.{}.{}", (hash >> 8) % 256, 2 + hash % 252)
}

/// `ValidateService`, the parts a chart could get wrong.
pub fn validate_service(object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = object.get("spec").cloned().unwrap_or_default();
    let kind = spec.get("type").cloned().unwrap_or(json!("ClusterIP"));
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"].map(|t| json!(t));
    if !types.contains(&kind) {
        causes.push(not_supported_cause("spec.type", &kind, &types));
    }
    let ports = spec.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
    let headless = spec.get("clusterIP") == Some(&json!("None"));
    if ports.is_empty() && kind != json!("ExternalName") && !headless {
        causes.push(required_cause("spec.ports", ""));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match port.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            None if ports.len() > 1 => causes.push(required_cause(&format!("{path}.name"), "")),
            None => {}
            Some(name) if names.iter().any(|n| n == name) => {
                causes.push(duplicate_cause(&format!("{path}.name"), &json!(name)));
            }
            Some(name) => names.push(name.to_string()),
        }
        let number = port.get("port").cloned().unwrap_or(json!(0));
        if !is_port_number(&number) {
            causes.push(invalid_cause(&format!("{path}.port"), &number, PORT_RANGE));
        }
        causes.extend(validate_protocol(port, &path));
        if let Some(target) = port.get("targetPort").filter(|t| t.is_number())
            && !is_port_number(target)
        {
            causes.push(invalid_cause(&format!("{path}.targetPort"), target, PORT_RANGE));
        }
    }
    causes
}

fn is_port_number(value: &Value) -> bool {
    value.as_i64().is_some_and(|n| (1..=65535).contains(&n))
}

fn validate_protocol(port: &Value, path: &str) -> Option<Cause> {
    let protocol = port.get("protocol")?;
    let supported = ["SCTP", "TCP", "UDP"].map(|p| json!(p));
    (!supported.contains(protocol))
        .then(|| not_supported_cause(&format!("{path}.protocol"), protocol, &supported))
}

/// `SetDefaults_NetworkPolicySpec`: policyTypes from the rules present; ports default to TCP.
pub fn prepare_network_policy(object: &mut Value) {
    let spec = spec_mut(object);
    for direction in ["ingress", "egress"] {
        let rules = spec.get_mut(direction).and_then(Value::as_array_mut);
        for rule in rules.into_iter().flatten() {
            let ports = rule.get_mut("ports").and_then(Value::as_array_mut);
            for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
                port.entry("protocol").or_insert(json!("TCP"));
            }
        }
    }
    let unset = spec.get("policyTypes").and_then(Value::as_array).is_none_or(Vec::is_empty);
    if unset {
        let mut types = vec![json!("Ingress")];
        if spec.get("egress").is_some_and(|e| !e.is_null()) {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

/// `ValidateNetworkPolicySpec`: policy types, port protocols and ipBlock CIDRs.
pub fn validate_network_policy(object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = object.get("spec").cloned().unwrap_or_default();
    let allowed = [json!("Ingress"), json!("Egress")];
    let types = spec.get("policyTypes").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, policy_type) in types.iter().enumerate() {
        if !allowed.contains(policy_type) {
            let path = format!("spec.policyTypes[{i}]");
            causes.push(not_supported_cause(&path, policy_type, &allowed));
        }
    }
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        let rules = spec.get(direction).and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            let path = format!("spec.{direction}[{i}]");
            let ports = rule.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
            for (j, port) in ports.iter().enumerate() {
                causes.extend(validate_protocol(port, &format!("{path}.ports[{j}]")));
            }
            let list = rule.get(peers).and_then(Value::as_array).cloned().unwrap_or_default();
            for (j, peer) in list.iter().enumerate() {
                if let Some(block) = peer.get("ipBlock") {
                    let field = format!("{path}.{peers}[{j}].ipBlock.cidr");
                    causes.extend(validate_cidr(block.get("cidr"), &field));
                }
            }
        }
    }
    causes
}

fn validate_cidr(cidr: Option<&Value>, field: &str) -> Option<Cause> {
    let Some(text) = cidr.and_then(Value::as_str).filter(|c| !c.is_empty()) else {
        return Some(required_cause(field, ""));
    };
    let valid = text.split_once('/').is_some_and(|(ip, bits)| {
        let max = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => return false,
        };
        bits.parse::<u8>().is_ok_and(|b| b <= max)
    });
    (!valid).then(|| {
        invalid_cause(
            field,
            &json!(text),
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )
    })
}
