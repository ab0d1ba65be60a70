//! CRD upgrade safety: every object the CRDs of a release accept (a snapshot per release under
//! `tests/data/crds-released/<version>/`, copied from `crds/` when the release is made) stays valid
//! under the current ones, for the same apiVersion. Two checks: a structural comparison of the old
//! and new `openAPIV3Schema` (no field removed, no type changed, no enum value removed, no new
//! required field without a default, no bound tightened, no pattern or CEL rule added or changed
//! unless reviewed in the allow-lists below, no served or storage version dropped), and a corpus
//! of real manifests (`examples/`, `tests/fixtures/`, `tests/data/`) that the released CRDs
//! accept, sent to the stand-in API server with the current CRDs. The policy is in docs/operations.md, section "CRD upgrades".
//! Reads files and talks to in-process API servers only.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{apiserver::ApiServer, manifests::repo_root};

/// Where the CRDs of each release are kept, one directory per version.
const RELEASES: &str = "tests/data/crds-released";

/// A change reviewed by hand: every object the released CRDs accept is still accepted.
#[derive(Clone, Copy)]
struct Allowed {
    /// `Kind version path`, e.g. `CloudService v1alpha1 spec.image`; it holds for every release.
    at: &'static str,
    /// The new pattern, or the new CEL rule (whitespace as in the CRD does not matter).
    text: &'static str,
    /// Why no object valid before is refused now.
    reason: &'static str,
}

/// Patterns changed or added on fields that exist in the released CRDs.
const PATTERN_CHANGES: &[Allowed] = &[];

/// CEL rules (transition rules with `oldSelf` too) added to fields that exist in the released
/// CRDs.
const NEW_RULES: &[Allowed] = &[];

/// What a CRD change may break, with where.
#[derive(Debug, Clone, PartialEq)]
struct Violation {
    at: String,
    problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// The reviewed exceptions the checker honours.
struct Allowances<'a> {
    patterns: &'a [Allowed],
    rules: &'a [Allowed],
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Allowances<'_> {
    fn allows(list: &[Allowed], at: &str, text: &str) -> bool {
        list.iter().any(|a| a.at == at && normalize(a.text) == normalize(text))
    }
}

/// Every incompatibility of `new` with `old` (two CRDs as JSON).
fn check_crd(old: &Value, new: &Value, allowed: &Allowances) -> Vec<Violation> {
    let mut found = Vec::new();
    let kind = old["spec"]["names"]["kind"].as_str().unwrap_or("?").to_string();
    let mut report = |at: &str, problem: String| {
        found.push(Violation { at: at.to_string(), problem });
    };
    for key in ["group", "scope"] {
        if old["spec"][key] != new["spec"][key] {
            report(
                &kind,
                format!("spec.{key} changed from {} to {}", old["spec"][key], new["spec"][key]),
            );
        }
    }
    for key in ["kind", "plural", "singular"] {
        let (a, b) = (&old["spec"]["names"][key], &new["spec"]["names"][key]);
        if a != b {
            report(&kind, format!("names.{key} changed from {a} to {b}"));
        }
    }
    for key in ["shortNames", "categories"] {
        for name in strings(&old["spec"]["names"][key]) {
            if !strings(&new["spec"]["names"][key]).contains(&name) {
                report(&kind, format!("names.{key} lost {name:?}, which users type"));
            }
        }
    }
    let empty = Vec::new();
    let new_versions = new["spec"]["versions"].as_array().unwrap_or(&empty);
    let mut schema_pairs = Vec::new();
    for old_version in old["spec"]["versions"].as_array().unwrap_or(&empty) {
        let name = old_version["name"].as_str().unwrap_or("?");
        let at = format!("{kind} {name}");
        let Some(new_version) = new_versions.iter().find(|v| v["name"] == name) else {
            report(&at, "version removed: objects stored in it could no longer be read".into());
            continue;
        };
        if old_version["served"] == true && new_version["served"] != true {
            report(&at, "no longer served: clients using it would fail".into());
        }
        if old_version["storage"] == true && new_version["served"] != true {
            report(&at, "was the storage version and is no longer served".into());
        }
        if old_version["subresources"]["status"].is_object()
            && !new_version["subresources"]["status"].is_object()
        {
            report(&at, "status subresource removed".into());
        }
        schema_pairs.push((at, old_version.clone(), new_version.clone()));
    }
    for (at, old_version, new_version) in schema_pairs {
        let old_schema = &old_version["schema"]["openAPIV3Schema"];
        let new_schema = &new_version["schema"]["openAPIV3Schema"];
        found.extend(check_schema(&at, "", old_schema, new_schema, allowed));
    }
    found
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// Every incompatibility of the schema node `new` with `old` at `path` (`spec.ports[].name`),
/// and below it. Fields new in `new` are not descended into: no stored object has them.
fn check_schema(
    version: &str,
    path: &str,
    old: &Value,
    new: &Value,
    allowed: &Allowances,
) -> Vec<Violation> {
    let mut found = Vec::new();
    let at = if path.is_empty() { version.to_string() } else { format!("{version} {path}") };
    let mut report = |problem: String| found.push(Violation { at: at.clone(), problem });

    let type_of = |v: &Value| {
        if v["x-kubernetes-int-or-string"] == true {
            "integer or string".to_string()
        } else {
            v["type"].as_str().unwrap_or("any").to_string()
        }
    };
    let (old_type, new_type) = (type_of(old), type_of(new));
    let widened = (new_type == "integer or string"
        && matches!(old_type.as_str(), "integer" | "string"))
        || (new_type == "number" && old_type == "integer")
        || new_type == "any";
    if old_type != new_type && !widened {
        report(format!("type changed from {old_type} to {new_type}"));
    }
    match (old["format"].as_str(), new["format"].as_str()) {
        (_, None) => {}
        (Some(a), Some(b)) if a == b || (a == "int32" && b == "int64") => {}
        (a, Some(b)) => report(format!("format changed from {} to {b}", a.unwrap_or("none"))),
    }
    if old["nullable"] == true && new["nullable"] != true {
        report("no longer nullable".into());
    }
    if old["x-kubernetes-preserve-unknown-fields"] == true
        && new["x-kubernetes-preserve-unknown-fields"] != true
    {
        report(
            "x-kubernetes-preserve-unknown-fields dropped: unknown fields would be pruned".into(),
        );
    }
    match (old["enum"].as_array(), new["enum"].as_array()) {
        (_, None) => {}
        (None, Some(_)) => report("enum added: values allowed before may be refused".into()),
        (Some(old_values), Some(new_values)) => {
            for value in old_values.iter().filter(|v| !new_values.contains(v)) {
                report(format!("enum value {value} removed"));
            }
        }
    }
    for key in ["minLength", "minItems", "minProperties", "minimum"] {
        match (old[key].as_f64(), new[key].as_f64()) {
            (_, None) => {}
            (None, Some(b)) => report(format!("{key} {b} added")),
            (Some(a), Some(b)) if b > a => report(format!("{key} raised from {a} to {b}")),
            _ => {}
        }
    }
    for key in ["maxLength", "maxItems", "maxProperties", "maximum"] {
        match (old[key].as_f64(), new[key].as_f64()) {
            (_, None) => {}
            (None, Some(b)) => report(format!("{key} {b} added")),
            (Some(a), Some(b)) if b < a => report(format!("{key} lowered from {a} to {b}")),
            _ => {}
        }
    }
    for key in ["exclusiveMinimum", "exclusiveMaximum", "uniqueItems"] {
        if old[key] != true && new[key] == true {
            report(format!("{key} added"));
        }
    }
    match (old["multipleOf"].as_f64(), new["multipleOf"].as_f64()) {
        (_, None) => {}
        (Some(a), Some(b)) if (a / b).fract() == 0.0 => {}
        (a, Some(b)) => report(format!("multipleOf changed from {a:?} to {b}")),
    }
    if old["x-kubernetes-list-type"] != new["x-kubernetes-list-type"]
        && new["x-kubernetes-list-type"].as_str().is_some_and(|t| t != "atomic")
    {
        report(format!(
            "x-kubernetes-list-type changed from {} to {}: items may now have to be unique",
            old["x-kubernetes-list-type"], new["x-kubernetes-list-type"]
        ));
    }
    if new["x-kubernetes-list-type"] == "map"
        && old["x-kubernetes-list-map-keys"] != new["x-kubernetes-list-map-keys"]
    {
        report(format!(
            "x-kubernetes-list-map-keys changed from {} to {}",
            old["x-kubernetes-list-map-keys"], new["x-kubernetes-list-map-keys"]
        ));
    }
    if let Some(pattern) = new["pattern"].as_str()
        && old["pattern"].as_str() != Some(pattern)
        && !Allowances::allows(allowed.patterns, &at, pattern)
    {
        report(format!(
            "pattern changed from {} to {pattern:?}: values matching the old one may be refused; \
             review it and add it to PATTERN_CHANGES with the reason",
            old["pattern"]
        ));
    }
    let old_rules: Vec<String> = rules(old);
    for rule in rules(new) {
        if !old_rules.contains(&rule) && !Allowances::allows(allowed.rules, &at, &rule) {
            report(format!(
                "new CEL rule {rule:?}: objects valid before may be refused; review it and add it \
                 to NEW_RULES with the reason"
            ));
        }
    }
    if !old["default"].is_null() && old["default"] != new["default"] {
        report(format!(
            "default changed from {} to {}: stored objects that omit the field change meaning",
            old["default"], new["default"]
        ));
    }

    let old_required = strings(&old["required"]);
    for name in strings(&new["required"]) {
        let has_default = !new["properties"][&name]["default"].is_null();
        if !old_required.contains(&name) && !has_default {
            report(format!("new required field {name:?} without a default"));
        }
    }
    if let Some(old_properties) = old["properties"].as_object() {
        for (name, old_child) in old_properties {
            let child_path = join(path, name);
            match new["properties"].get(name) {
                Some(new_child) => {
                    found.extend(check_schema(version, &child_path, old_child, new_child, allowed))
                }
                None if new["x-kubernetes-preserve-unknown-fields"] == true => {}
                None => found.push(Violation {
                    at: format!("{version} {child_path}"),
                    problem: "field removed".into(),
                }),
            }
        }
    }
    for (key, marker) in [("items", "[]"), ("additionalProperties", "{}")] {
        let (old_inner, new_inner) = (&old[key], &new[key]);
        if !old_inner.is_object() {
            continue;
        }
        let inner_path = format!("{path}{marker}");
        if new_inner.is_object() {
            found.extend(check_schema(version, &inner_path, old_inner, new_inner, allowed));
        } else if new_inner != &Value::Bool(true) {
            found.push(Violation {
                at: format!("{version} {inner_path}"),
                problem: format!("{key} removed"),
            });
        }
    }
    found
}

fn rules(node: &Value) -> Vec<String> {
    node["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["rule"].as_str())
        .map(normalize)
        .collect()
}

/// Every release's snapshot directory, by version; at least the first release's.
fn releases() -> Vec<(String, PathBuf)> {
    let dir = repo_root().join(RELEASES);
    let mut releases: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    releases.sort();
    assert!(
        releases.iter().any(|(v, _)| v == "0.1.0"),
        "{} must hold the CRDs of every release, 0.1.0 on",
        dir.display()
    );
    releases
}

/// Every incompatibility of the current CRDs with those of each release.
fn violations(allowed: &Allowances) -> Vec<Violation> {
    let current = current_crds();
    let mut found = Vec::new();
    for (version, dir) in releases() {
        for (kind, old) in crds_in(&dir) {
            let at_release =
                |v: Violation| Violation { at: format!("{} (release {version})", v.at), ..v };
            match current.iter().find(|(k, _)| *k == kind) {
                Some((_, new)) => {
                    found.extend(check_crd(&old, new, allowed).into_iter().map(at_release))
                }
                None => {
                    found.push(at_release(Violation { at: kind, problem: "CRD removed".into() }))
                }
            }
        }
    }
    found
}

/// The CRDs in the YAML files of `dir`, by kind.
fn crds_in(dir: &Path) -> Vec<(String, Value)> {
    let mut crds: Vec<(String, Value)> = support::manifests::documents(dir)
        .into_iter()
        .map(|(_, crd)| crd)
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(|crd| (crd["spec"]["names"]["kind"].as_str().unwrap_or("?").to_string(), crd))
        .collect();
    crds.sort_by(|a, b| a.0.cmp(&b.0));
    crds
}

fn current_crds() -> Vec<(String, Value)> {
    byoc::api::crd::crds()
        .into_iter()
        .map(|(_, crd)| {
            let crd = serde_json::to_value(crd).unwrap();
            (crd["spec"]["names"]["kind"].as_str().unwrap_or("?").to_string(), crd)
        })
        .collect()
}

#[test]
fn every_release_snapshot_holds_both_crds() {
    for (version, dir) in releases() {
        let kinds: Vec<String> = crds_in(&dir).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            ["CloudAccount", "CloudService"],
            "{} must hold the CRDs of release {version}: copy crds/*.yaml there",
            dir.display()
        );
    }
}

#[test]
fn current_crds_accept_everything_the_released_crds_accept() {
    let allowed = Allowances { patterns: PATTERN_CHANGES, rules: NEW_RULES };
    let list: Vec<String> = violations(&allowed).iter().map(ToString::to_string).collect();
    assert!(
        list.is_empty(),
        "the CRDs changed incompatibly with a release (v1alpha1 fields may only be added or \
         widened; anything else needs a new API version with conversion, see docs/operations.md, \
         section \"CRD upgrades\"):\n{}",
        list.join("\n")
    );
}

#[test]
fn every_allowance_is_still_needed() {
    // An allowance that no longer excuses a change is stale: it would silently allow a later one.
    let without = |list: &[Allowed], i: usize| -> Vec<Allowed> {
        list.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| *a).collect()
    };
    let all = violations(&Allowances { patterns: PATTERN_CHANGES, rules: NEW_RULES }).len();
    for (i, allowed) in PATTERN_CHANGES.iter().enumerate() {
        let fewer = without(PATTERN_CHANGES, i);
        let found = violations(&Allowances { patterns: &fewer, rules: NEW_RULES }).len();
        assert!(!allowed.reason.is_empty(), "PATTERN_CHANGES: {} needs its reason", allowed.at);
        assert!(
            found > all,
            "PATTERN_CHANGES: {} ({}) excuses no change: remove it",
            allowed.at,
            allowed.reason
        );
    }
    for (i, allowed) in NEW_RULES.iter().enumerate() {
        let fewer = without(NEW_RULES, i);
        let found = violations(&Allowances { patterns: PATTERN_CHANGES, rules: &fewer }).len();
        assert!(!allowed.reason.is_empty(), "NEW_RULES: {} needs its reason", allowed.at);
        assert!(
            found > all,
            "NEW_RULES: {} ({}) excuses no change: remove it",
            allowed.at,
            allowed.reason
        );
    }
}

// The checker itself, on small hand-made schemas.

/// A change made to a schema, in a table of cases.
type Edit = Box<dyn Fn(&mut Value)>;

fn crd(schema: Value) -> Value {
    serde_json::json!({
        "spec": {
            "group": "byoc.dev", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": schema}}}
            }]
        }
    })
}

fn spec(properties: Value, required: &[&str]) -> Value {
    serde_json::json!({"type": "object", "properties": properties, "required": required})
}

fn problems(old: Value, new: Value) -> Vec<String> {
    let none = Allowances { patterns: &[], rules: &[] };
    check_crd(&crd(old), &crd(new), &none).iter().map(ToString::to_string).collect()
}

#[test]
fn the_checker_names_each_incompatible_change_with_its_path() {
    let name = serde_json::json!({"type": "string", "maxLength": 63, "pattern": "^[a-z]+$"});
    let base = spec(
        serde_json::json!({
            "name": name,
            "mode": {"type": "string", "enum": ["Fast", "Safe"]},
            "ports": {"type": "array", "maxItems": 8, "items": {"type": "object",
                "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}}},
            "tags": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 256}},
            "size": {"type": "integer", "default": 2}
        }),
        &["name"],
    );
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "a removed field",
            Box::new(|s| {
                s["properties"].as_object_mut().unwrap().remove("mode");
            }),
            "Widget v1alpha1 spec.mode: field removed",
        ),
        (
            "a narrowed enum",
            Box::new(|s| s["properties"]["mode"]["enum"] = serde_json::json!(["Fast"])),
            "Widget v1alpha1 spec.mode: enum value \"Safe\" removed",
        ),
        (
            "a lowered maxLength",
            Box::new(|s| s["properties"]["name"]["maxLength"] = serde_json::json!(32)),
            "Widget v1alpha1 spec.name: maxLength lowered from 63 to 32",
        ),
        (
            "a new required field without a default",
            Box::new(|s| {
                s["properties"]["owner"] = serde_json::json!({"type": "string"});
                s["required"] = serde_json::json!(["name", "owner"]);
            }),
            "Widget v1alpha1 spec: new required field \"owner\" without a default",
        ),
        (
            "a changed type",
            Box::new(|s| s["properties"]["size"]["type"] = serde_json::json!("string")),
            "Widget v1alpha1 spec.size: type changed from integer to string",
        ),
        (
            "a raised minimum inside list items",
            Box::new(|s| {
                s["properties"]["ports"]["items"]["properties"]["port"]["minimum"] =
                    serde_json::json!(1024)
            }),
            "Widget v1alpha1 spec.ports[].port: minimum raised from 1 to 1024",
        ),
        (
            "a lowered maximum",
            Box::new(|s| {
                s["properties"]["ports"]["items"]["properties"]["port"]["maximum"] =
                    serde_json::json!(9000)
            }),
            "Widget v1alpha1 spec.ports[].port: maximum lowered from 65535 to 9000",
        ),
        (
            "a lowered maxItems",
            Box::new(|s| s["properties"]["ports"]["maxItems"] = serde_json::json!(4)),
            "Widget v1alpha1 spec.ports: maxItems lowered from 8 to 4",
        ),
        (
            "a lowered maxLength of map values",
            Box::new(|s| {
                s["properties"]["tags"]["additionalProperties"]["maxLength"] = serde_json::json!(10)
            }),
            "Widget v1alpha1 spec.tags{}: maxLength lowered from 256 to 10",
        ),
        (
            "a new maxProperties",
            Box::new(|s| s["properties"]["tags"]["maxProperties"] = serde_json::json!(45)),
            "Widget v1alpha1 spec.tags: maxProperties 45 added",
        ),
        (
            "a changed pattern",
            Box::new(|s| s["properties"]["name"]["pattern"] = serde_json::json!("^[a-z0-9]+$")),
            "Widget v1alpha1 spec.name: pattern changed from \"^[a-z]+$\" to \"^[a-z0-9]+$\"",
        ),
        (
            "a new CEL rule on an existing field",
            Box::new(|s| {
                s["x-kubernetes-validations"] =
                    serde_json::json!([{"rule": "self.size > 1", "message": "bigger"}])
            }),
            "Widget v1alpha1 spec: new CEL rule \"self.size > 1\"",
        ),
        (
            "a new transition rule",
            Box::new(|s| {
                s["properties"]["name"]["x-kubernetes-validations"] =
                    serde_json::json!([{"rule": "self == oldSelf"}])
            }),
            "Widget v1alpha1 spec.name: new CEL rule \"self == oldSelf\"",
        ),
        (
            "a changed default",
            Box::new(|s| s["properties"]["size"]["default"] = serde_json::json!(3)),
            "Widget v1alpha1 spec.size: default changed from 2 to 3",
        ),
        (
            "a list that became a set",
            Box::new(|s| {
                s["properties"]["ports"]["x-kubernetes-list-type"] = serde_json::json!("set")
            }),
            "Widget v1alpha1 spec.ports: x-kubernetes-list-type changed from null to \"set\"",
        ),
    ];
    for (reason, change, expected) in cases {
        let mut changed = base.clone();
        change(&mut changed);
        let found = problems(base.clone(), changed);
        assert!(
            found.len() == 1 && found[0].starts_with(expected),
            "{reason}: expected one violation starting with {expected:?}, got {found:#?}"
        );
    }
}

#[test]
fn the_checker_accepts_additions_and_widenings() {
    let base = spec(
        serde_json::json!({
            "name": {"type": "string", "maxLength": 63},
            "mode": {"type": "string", "enum": ["Fast"]},
            "count": {"type": "integer", "format": "int32", "maximum": 10}
        }),
        &["name"],
    );
    let cases: Vec<(&str, Edit)> = vec![
        (
            "an added optional field, with its own rules",
            Box::new(|s| {
                s["properties"]["suspend"] = serde_json::json!({"type": "boolean",
                    "x-kubernetes-validations": [{"rule": "self == oldSelf"}]})
            }),
        ),
        (
            "an added required field with a default",
            Box::new(|s| {
                s["properties"]["size"] = serde_json::json!({"type": "integer", "default": 1});
                s["required"] = serde_json::json!(["name", "size"]);
            }),
        ),
        (
            "a widened enum",
            Box::new(|s| s["properties"]["mode"]["enum"] = serde_json::json!(["Fast", "Safe"])),
        ),
        (
            "a raised maxLength",
            Box::new(|s| s["properties"]["name"]["maxLength"] = serde_json::json!(253)),
        ),
        (
            "a dropped maximum",
            Box::new(|s| {
                s["properties"]["count"].as_object_mut().unwrap().remove("maximum");
            }),
        ),
        (
            "int32 to int64",
            Box::new(|s| s["properties"]["count"]["format"] = serde_json::json!("int64")),
        ),
        ("a field no longer required", Box::new(|s| s["required"] = serde_json::json!([]))),
        (
            "a new description",
            Box::new(|s| s["properties"]["name"]["description"] = serde_json::json!("The name.")),
        ),
    ];
    for (reason, change) in cases {
        let mut changed = base.clone();
        change(&mut changed);
        assert_eq!(problems(base.clone(), changed), Vec::<String>::new(), "{reason}");
    }
}

#[test]
fn the_checker_guards_versions_and_names_but_not_printer_columns() {
    let schema = spec(serde_json::json!({"name": {"type": "string"}}), &[]);
    let old = crd(schema.clone());
    let none = Allowances { patterns: &[], rules: &[] };
    let mut unserved = old.clone();
    unserved["spec"]["versions"][0]["served"] = serde_json::json!(false);
    let found = check_crd(&old, &unserved, &none);
    assert!(found.iter().any(|v| v.problem.starts_with("no longer served")), "{found:?}");
    let mut renamed = old.clone();
    renamed["spec"]["versions"][0]["name"] = serde_json::json!("v1beta1");
    let found = check_crd(&old, &renamed, &none);
    assert!(
        found.iter().any(|v| v.at == "Widget v1alpha1" && v.problem.starts_with("version removed")),
        "{found:?}"
    );
    let mut short = old.clone();
    short["spec"]["names"]["shortNames"] = serde_json::json!([]);
    assert_eq!(check_crd(&old, &short, &none).len(), 1, "a dropped short name");
    let mut columns = old.clone();
    columns["spec"]["versions"][0]["additionalPrinterColumns"] =
        serde_json::json!([{"name": "Name", "type": "string", "jsonPath": ".spec.name"}]);
    assert_eq!(check_crd(&old, &columns, &none), Vec::new(), "printer columns change freely");
}

#[test]
fn reviewed_pattern_and_rule_changes_are_allowed_only_as_written() {
    let old = spec(serde_json::json!({"name": {"type": "string", "pattern": "^[a-z]+$"}}), &[]);
    let mut new = old.clone();
    new["properties"]["name"]["pattern"] = serde_json::json!("^[a-z0-9]+$");
    new["properties"]["name"]["x-kubernetes-validations"] =
        serde_json::json!([{"rule": "size(self) <= 63 ||\n  self == oldSelf"}]);
    let patterns = [Allowed {
        at: "Widget v1alpha1 spec.name",
        text: "^[a-z0-9]+$",
        reason: "digits added to the allowed characters",
    }];
    let rules = [Allowed {
        at: "Widget v1alpha1 spec.name",
        text: "size(self) <= 63 || self == oldSelf",
        reason: "the old maxLength, with stored longer names kept",
    }];
    let allowed = Allowances { patterns: &patterns, rules: &rules };
    assert_eq!(check_crd(&crd(old.clone()), &crd(new.clone()), &allowed), Vec::new());
    let elsewhere = [Allowed { at: "Widget v1alpha1 spec.other", ..patterns[0] }];
    let allowed = Allowances { patterns: &elsewhere, rules: &rules };
    assert_eq!(check_crd(&crd(old), &crd(new), &allowed).len(), 1, "an allowance is for one path");
}

// The corpus: real manifests through the stand-in API server's schema and CEL validation.

/// Every YAML file under `dir`, recursively, sorted.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
}

/// The CloudServices and CloudAccounts of the corpus, with where each came from. Placeholders of
/// the bad input corpus (tests/data/bad/README.md) are filled in; files that are not YAML
/// (one case of that corpus) hold no manifest.
fn corpus() -> Vec<(String, Value)> {
    let mut files = Vec::new();
    for dir in ["examples", "tests/fixtures", "tests/data"] {
        yaml_files(&repo_root().join(dir), &mut files);
    }
    let mut manifests = Vec::new();
    for file in files {
        let mut text = std::fs::read_to_string(&file).unwrap();
        let relative = file.strip_prefix(repo_root()).unwrap().display().to_string();
        if relative.starts_with("tests/data/bad/") {
            text = text
                .replace("OTHER_NAMESPACE", "other")
                .replace("NAMESPACE", "default")
                .replace("ACCOUNT", "demo");
        }
        let Ok(documents) = serde_saphyr::from_multiple::<Value>(&text) else { continue };
        for (i, doc) in documents.into_iter().enumerate() {
            let ours = doc["apiVersion"].as_str().is_some_and(|v| v.starts_with("byoc.dev/"));
            if ours && matches!(doc["kind"].as_str(), Some("CloudService" | "CloudAccount")) {
                manifests.push((format!("{relative} (document {})", i + 1), doc));
            }
        }
    }
    manifests
}

/// Creates `doc` with `dryRun=All` and strict field validation, as `kubectl create` would; the
/// API server's refusal message otherwise.
async fn accepts(server: &ApiServer, doc: &Value) -> Result<(), String> {
    let mut doc = doc.clone();
    if let Some(meta) = doc["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    let version = doc["apiVersion"].as_str().unwrap_or_default().to_string();
    let collection = match doc["kind"].as_str() {
        Some("CloudService") => format!("/apis/{version}/namespaces/default/cloudservices"),
        _ => format!("/apis/{version}/cloudaccounts"),
    };
    let request = http::Request::post(format!(
        "{collection}?dryRun=All&fieldValidation=Strict&fieldManager=byoc-crd-upgrade"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(serde_json::to_vec(&doc).unwrap())
    .unwrap();
    match server.client().request_text(request).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(format!("{} {}", status.code, status.message)),
        Err(other) => Err(other.to_string()),
    }
}

#[tokio::test]
async fn every_manifest_the_released_crds_accept_the_current_crds_accept() {
    let current_dir = std::env::temp_dir().join(format!("byoc-crd-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&current_dir).unwrap();
    for (file, crd) in byoc::api::crd::crds() {
        std::fs::write(current_dir.join(file), byoc::api::crd::to_yaml(&crd).unwrap()).unwrap();
    }
    let current = ApiServer::start(&current_dir).await;
    let manifests = corpus();
    let mut broken = Vec::new();
    for (version, dir) in releases() {
        let released = ApiServer::start(&dir).await;
        let (mut accepted, mut refused) = (0, 0);
        for (origin, doc) in &manifests {
            if accepts(&released, doc).await.is_err() {
                refused += 1;
                continue;
            }
            accepted += 1;
            if let Err(message) = accepts(&current, doc).await {
                broken.push(format!("{origin} (valid in release {version}): {message}"));
            }
        }
        println!(
            "release {version}: {} manifests, {accepted} accepted, {refused} refused",
            manifests.len()
        );
        // The corpus is real: the examples pass, and the bad input corpus shows validation at work.
        assert!(
            accepted >= 15,
            "release {version}: only {accepted} of {} manifests accepted",
            manifests.len()
        );
        assert!(
            refused >= 5,
            "release {version}: only {refused} manifests refused: is validation running?"
        );
    }
    let _ = std::fs::remove_dir_all(&current_dir);
    assert!(
        broken.is_empty(),
        "manifests valid under the CRDs of a release are refused by the current CRDs:\n{}",
        broken.join("\n")
    );
}
