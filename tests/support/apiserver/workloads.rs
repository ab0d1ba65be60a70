//! What kube-apiserver's apps/v1 Deployment and policy/v1 PodDisruptionBudget strategies do on
//! write: defaults, a fresh status on create, the annotation-driven generation bump, and the
//! validation a chart bug could trip (selector vs template labels, missing containers, a
//! Recreate strategy with rolling-update knobs, a changed selector, both budget limits).
//! Pure: takes and returns `serde_json::Value`s and `Cause`s.

use serde_json::{Map, Value, json};

use super::meta;
use super::selectors::LabelSelector;
use super::status::{
    Cause, forbidden_cause, invalid_cause, not_supported_cause, render_value, required_cause,
};

fn spec_mut(object: &mut Value) -> &mut Map<String, Value> {
    meta::metadata_mut(object);
    let map = object.as_object_mut().expect("metadata_mut made the object a map");
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        *spec = json!({});
    }
    spec.as_object_mut().expect("spec was just made a map")
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.entry(key).or_insert(value);
}

/// `SetDefaults_Deployment` plus the scalar pod-template defaults; on create, an empty
/// status; on update, a generation bump when only the annotations changed (as the real
/// strategy does — spec changes are bumped by the generic write path).
pub fn prepare_deployment(object: &mut Value, old: Option<&Value>) {
    let spec = spec_mut(object);
    default(spec, "replicas", json!(1));
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(strategy) = strategy.as_object_mut() {
        default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(rolling) = rolling.as_object_mut() {
                default(rolling, "maxUnavailable", json!("25%"));
                default(rolling, "maxSurge", json!("25%"));
            }
        }
    }
    if let Some(pod) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        default_pod_spec(pod);
    }
    match old {
        None => object["status"] = json!({}),
        Some(old) => {
            let annotations =
                |o: &Value| meta::metadata(o).and_then(|m| m.get("annotations")).cloned();
            if annotations(object) != annotations(old) {
                let bumped = json!(meta::generation(old) + 1);
                meta::metadata_mut(object).insert("generation".into(), bumped);
            }
        }
    }
}

fn default_pod_spec(pod: &mut Value) {
    let Some(pod) = pod.as_object_mut() else {
        return;
    };
    default(pod, "restartPolicy", json!("Always"));
    default(pod, "dnsPolicy", json!("ClusterFirst"));
    default(pod, "schedulerName", json!("default-scheduler"));
    default(pod, "terminationGracePeriodSeconds", json!(30));
    let containers = pod.get_mut("containers").and_then(Value::as_array_mut);
    for container in containers.into_iter().flatten().filter_map(Value::as_object_mut) {
        default(container, "terminationMessagePath", json!("/dev/termination-log"));
        default(container, "terminationMessagePolicy", json!("File"));
        let image = container.get("image").and_then(Value::as_str).unwrap_or_default();
        let last = image.rsplit('/').next().unwrap_or_default();
        let floating = !image.contains('@') && (!last.contains(':') || last.ends_with(":latest"));
        let policy = if floating { "Always" } else { "IfNotPresent" };
        default(container, "imagePullPolicy", json!(policy));
    }
}

/// `ValidateDeployment` (and `ValidateDeploymentUpdate` when `old` is given), in part.
pub fn validate_deployment(object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = object.get("spec").cloned().unwrap_or_default();
    if let Some(replicas) = spec.get("replicas").and_then(Value::as_i64).filter(|r| *r < 0) {
        causes.push(invalid_cause(
            "spec.replicas",
            &json!(replicas),
            "must be greater than or equal to 0",
        ));
    }
    let template = spec.get("template").cloned().unwrap_or_default();
    match spec.get("selector").filter(|s| !s.is_null()) {
        None => causes.push(required_cause("spec.selector", "")),
        Some(selector) if is_empty_selector(selector) => causes.push(go_invalid(
            "spec.selector",
            &go_label_selector(selector),
            "empty selector is invalid for deployment",
        )),
        Some(selector) => match LabelSelector::parse(&selector_string(selector)) {
            Err(_) => causes.push(go_invalid(
                "spec.selector",
                &go_label_selector(selector),
                "invalid label selector",
            )),
            Ok(parsed) if !parsed.matches(&template) => causes.push(go_invalid(
                "spec.template.metadata.labels",
                &go_string_map(template.pointer("/metadata/labels")),
                "`selector` does not match template `labels`",
            )),
            Ok(_) => {}
        },
    }
    causes.extend(validate_pod_template(&template));
    causes.extend(validate_strategy(spec.get("strategy")));
    if let Some(old) = old {
        let old_selector = old.pointer("/spec/selector");
        if let Some(selector) = spec.get("selector").filter(|s| Some(*s) != old_selector) {
            causes.push(go_invalid(
                "spec.selector",
                &go_label_selector(selector),
                "field is immutable",
            ));
        }
    }
    causes
}

fn validate_pod_template(template: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let pod = template.get("spec").cloned().unwrap_or_default();
    let containers = pod.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    if containers.is_empty() {
        causes.push(required_cause("spec.template.spec.containers", ""));
    }
    for (i, container) in containers.iter().enumerate() {
        for field in ["name", "image"] {
            if container.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                causes.push(required_cause(
                    &format!("spec.template.spec.containers[{i}].{field}"),
                    "",
                ));
            }
        }
    }
    let restart = pod.get("restartPolicy").cloned().unwrap_or(json!("Always"));
    if restart != json!("Always") {
        causes.push(not_supported_cause(
            "spec.template.spec.restartPolicy",
            &restart,
            &[json!("Always")],
        ));
    }
    causes
}

fn validate_strategy(strategy: Option<&Value>) -> Vec<Cause> {
    let Some(strategy) = strategy else {
        return Vec::new();
    };
    let kind = strategy.get("type").cloned().unwrap_or(json!(""));
    if kind == json!("Recreate") && strategy.get("rollingUpdate").is_some_and(|r| !r.is_null()) {
        return vec![forbidden_cause(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )];
    }
    if kind != json!("Recreate") && kind != json!("RollingUpdate") {
        return vec![not_supported_cause(
            "spec.strategy.type",
            &kind,
            &[json!("Recreate"), json!("RollingUpdate")],
        )];
    }
    Vec::new()
}

/// On create, policy/v1's empty status; nothing else is defaulted.
pub fn prepare_budget(object: &mut Value, old: Option<&Value>) {
    if old.is_none() {
        object["status"] = json!({
            "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
        });
    }
}

/// `ValidatePodDisruptionBudgetSpec`, the part a values file could break.
pub fn validate_budget(object: &Value) -> Vec<Cause> {
    let spec = object.get("spec").cloned().unwrap_or_default();
    let set = |k: &str| spec.get(k).is_some_and(|v| !v.is_null());
    if set("minAvailable") && set("maxUnavailable") {
        return vec![go_invalid(
            "spec",
            "policy.PodDisruptionBudgetSpec{...}",
            "minAvailable and maxUnavailable cannot be both set",
        )];
    }
    Vec::new()
}

/// `field.Invalid` with a value already rendered the way Go's `%#v` prints it.
fn go_invalid(field: &str, rendered: &str, detail: &str) -> Cause {
    let mut cause = invalid_cause(field, &Value::Null, detail);
    cause.message = format!("Invalid value: {rendered}: {detail}");
    cause
}

fn is_empty_selector(selector: &Value) -> bool {
    let empty = |k: &str| match selector.get(k) {
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => true,
    };
    empty("matchLabels") && empty("matchExpressions")
}

/// A `metav1.LabelSelector` in the query-string form `selectors` parses.
fn selector_string(selector: &Value) -> String {
    let mut terms: Vec<String> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            terms.push(format!("{key}={}", value.as_str().unwrap_or_default()));
        }
    }
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    for expression in expressions.into_iter().flatten() {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let term = match expression.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => format!("{key} ?"),
        };
        terms.push(term);
    }
    terms.join(",")
}

/// `map[string]string{"a":"b"}`, keys sorted, as Go's `%#v` prints a label map.
fn go_string_map(map: Option<&Value>) -> String {
    match map.and_then(Value::as_object) {
        None => "map[string]string(nil)".into(),
        Some(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}:{}", render_value(&json!(k)), render_value(v)))
                .collect();
            entries.sort();
            format!("map[string]string{{{}}}", entries.join(", "))
        }
    }
}

fn go_label_selector(selector: &Value) -> String {
    let expressions = match selector.get("matchExpressions").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    let text = |k: &str| render_value(e.get(k).unwrap_or(&json!("")));
                    let values: Vec<String> = e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|v| v.iter().map(render_value).collect())
                        .unwrap_or_default();
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:[]string{{{}}}}}",
                        text("key"),
                        text("operator"),
                        values.join(", ")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{expressions}}}",
        go_string_map(selector.get("matchLabels"))
    )
}
