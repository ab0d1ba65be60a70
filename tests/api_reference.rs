//! The documentation that must follow the code: `docs/api-reference.md` is exactly what
//! `byoc::api::reference` generates from the CRDs (`BYOC_UPDATE_GOLDEN=1` rewrites it), every field
//! of the CRD schemas has its section there (found by a walk of the schemas independent of the
//! generator's), and `docs/operations.md` explains every condition reason the operator sets.
//! Reads and, when asked, writes files only.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    byoc::api::crd::crds().into_iter().map(|(_, crd)| crd).collect()
}

fn generated() -> String {
    byoc::api::reference::markdown(&crds())
}

#[test]
fn api_reference_is_what_the_crds_generate() {
    let path = repo_root().join("docs/api-reference.md");
    let generated = generated();
    if std::env::var_os("BYOC_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &generated).expect("writing docs/api-reference.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    let first = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    panic!(
        "docs/api-reference.md is out of date with the CRDs (first difference at line {}: committed {:?}, generated {:?}); regenerate it with: {}",
        first + 1,
        committed.lines().nth(first).unwrap_or("<end of file>"),
        generated.lines().nth(first).unwrap_or("<end of file>"),
        byoc::api::reference::REGENERATE
    );
}

/// Every field below `node` with its path: `a.b`, `a[].b` through list items, `a{}.b` through
/// map values.
fn fields(prefix: &str, node: &Value, out: &mut Vec<(String, Value)>) {
    let Some(properties) = node.get("properties").and_then(Value::as_object) else { return };
    for (name, child) in properties {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        out.push((path.clone(), child.clone()));
        let (mut container, mut inner) = (path, child);
        loop {
            if let Some(items) = inner.get("items") {
                container.push_str("[]");
                inner = items;
            } else if let Some(values) = inner.get("additionalProperties").filter(|v| v.is_object())
            {
                container.push_str("{}");
                inner = values;
            } else {
                break;
            }
        }
        fields(&container, inner, out);
    }
}

/// The text of the reference between the heading of `kind` and the next kind's.
fn kind_section<'a>(reference: &'a str, kind: &str) -> &'a str {
    let start = reference
        .find(&format!("\n## {kind}\n"))
        .unwrap_or_else(|| panic!("the reference has no section \"## {kind}\""));
    let rest = &reference[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// The block of the field `path` in a kind's section: from its heading to the next heading.
fn field_block<'a>(section: &'a str, path: &str) -> Option<&'a str> {
    let heading = section
        .match_indices(&format!("# `{path}`\n"))
        .find(|(i, _)| section[..*i].ends_with('#'))?
        .0;
    let rest = &section[heading..];
    let body = rest.find('\n').map_or(rest.len(), |i| i + 1);
    let end = rest[body..].find("\n<a id=").map_or(rest.len(), |i| body + i);
    Some(&rest[..end])
}

#[test]
fn every_field_of_the_crd_schemas_has_its_section_in_the_reference() {
    let reference = generated();
    let mut checked = 0;
    for crd in crds() {
        let crd = serde_json::to_value(&crd).unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let section = kind_section(&reference, &kind);
        let mut all = Vec::new();
        fields("", &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], &mut all);
        assert!(all.len() > 20, "{kind}: the schema walk found only {} fields", all.len());
        let mut missing = Vec::new();
        for (path, schema) in &all {
            let Some(block) = field_block(section, path) else {
                missing.push(format!("{kind} {path}: no section"));
                continue;
            };
            let block = block.replace("&lt;", "<").replace("&gt;", ">");
            let mut expect = |what: &str, text: &str| {
                if !block.contains(text) {
                    missing.push(format!("{kind} {path}: its {what} {text:?}"));
                }
            };
            if let Some(description) = schema["description"].as_str() {
                expect("description", description.trim().lines().next().unwrap_or(""));
            }
            if let Some(pattern) = schema["pattern"].as_str() {
                expect("pattern", pattern);
            }
            for value in schema["enum"].as_array().into_iter().flatten() {
                let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                expect("enum value", &format!("`{value}`"));
            }
            for rule in schema["x-kubernetes-validations"].as_array().into_iter().flatten() {
                if let Some(message) = rule["message"].as_str() {
                    expect("CEL rule message", message);
                }
            }
            for bound in ["maxLength", "maxItems", "maxProperties"] {
                if let Some(n) = schema[bound].as_i64() {
                    expect(bound, &n.to_string());
                }
            }
            if let Some(format) = schema["format"].as_str() {
                expect("format", format);
            }
            checked += 1;
        }
        assert!(missing.is_empty(), "the reference misses:\n{}", missing.join("\n"));
    }
    assert!(checked > 100, "only {checked} fields checked");
}

/// The values of the constants in `pub mod reason { … }` of src/api/conditions.rs.
fn condition_reasons() -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo_root().join("src/api/conditions.rs")).unwrap();
    let start =
        source.find("pub mod reason {").expect("src/api/conditions.rs has `pub mod reason`");
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("the reason module ends")];
    let constant = regex::Regex::new(r#"pub const [A-Z_]+: &str = "([A-Za-z]+)";"#).unwrap();
    constant.captures_iter(body).map(|c| c[1].to_string()).collect()
}

#[test]
fn every_condition_reason_has_a_troubleshooting_section() {
    let reasons = condition_reasons();
    assert!(reasons.len() >= 15, "found only {reasons:?} in src/api/conditions.rs");
    let doc = std::fs::read_to_string(repo_root().join("docs/operations.md")).unwrap();
    let start = doc
        .find("\n## Troubleshooting")
        .expect("docs/operations.md has a section \"## Troubleshooting\"");
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let heading = regex::Regex::new(r"(?m)^### `([A-Za-z]+)`").unwrap();
    let documented: BTreeSet<String> =
        heading.captures_iter(section).map(|c| c[1].to_string()).collect();
    let missing: Vec<_> = reasons.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/operations.md, section Troubleshooting, has no \"### `Reason`\" section for {missing:?}: say what the reason means and what to do"
    );
    let unknown: Vec<_> = documented.difference(&reasons).collect();
    assert!(
        unknown.is_empty(),
        "docs/operations.md documents reasons that src/api/conditions.rs does not define: {unknown:?}"
    );
}

/// The guides whose complete manifests (YAML blocks with a `byoc.dev` apiVersion) must be valid.
const GUIDES: [&str; 5] = [
    "README.md",
    "docs/getting-started.md",
    "docs/concepts.md",
    "docs/operations.md",
    "docs/security.md",
];

/// The ```yaml blocks of a Markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence.starts_with("```yaml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_manifest_in_the_guides_is_valid() {
    let schemas: Vec<(String, Value)> = crds()
        .into_iter()
        .map(|crd| {
            let crd = serde_json::to_value(&crd).unwrap();
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
            (kind, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
        })
        .collect();
    let mut checked = 0;
    for guide in GUIDES {
        let text = std::fs::read_to_string(repo_root().join(guide)).unwrap();
        let mut manifests = byoc::manifests::Manifests::default();
        for block in yaml_blocks(&text).iter().filter(|b| b.contains("apiVersion: byoc.dev/")) {
            // Fields and types, as `byoc plan` and the API server read them.
            byoc::manifests::parse_into(&mut manifests, block)
                .unwrap_or_else(|e| panic!("{guide}: a manifest byoc cannot read: {e}\n{block}"));
            // The CRD's CEL rules.
            let documents: Vec<Value> = serde_saphyr::from_multiple(block).unwrap();
            for doc in documents.iter().filter(|d| !d.is_null()) {
                let kind = doc["kind"].as_str().unwrap_or_default();
                let Some((_, schema)) = schemas.iter().find(|(k, _)| k == kind) else { continue };
                if let Err(errors) = kube_cel::Validator::new().validate(schema, doc, None) {
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    panic!("{guide}: {kind} breaks the CRD's rules: {errors:?}\n{block}");
                }
                checked += 1;
            }
        }
        // In context too (Fargate sizes, ports, load balancers), where the guide defines the
        // accounts its services name.
        let complete = !manifests.services.is_empty()
            && manifests
                .services
                .iter()
                .all(|s| manifests.accounts.contains_key(&s.spec.account_ref.name));
        if complete && let Err(errors) = byoc::oneshot::prepare(&manifests, "docs") {
            panic!("{guide}: its manifests fail the operator's validation: {errors:?}");
        }
    }
    assert!(checked >= 4, "only {checked} manifests found in {GUIDES:?}");
}
