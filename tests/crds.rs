//! The committed CRDs are exactly what `byoc crds` generates, and they are what a real API server
//! accepts: structural, no leftover JSON-schema keywords, CEL rules that compile within budget.

mod support;

use serde_json::Value;
use support::manifests::{crd_schema, repo_root};

#[test]
fn committed_crds_match_the_generator() {
    for (file, crd) in byoc::api::crd::crds() {
        let generated = byoc::api::crd::to_yaml(&crd).unwrap();
        let path = repo_root().join("crds").join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            generated == committed,
            "{} is out of date with the Rust types; regenerate it with: cargo run -- crds --out crds",
            path.display()
        );
    }
}

/// Walks every schema node with its JSON path.
fn walk<'a>(path: String, node: &'a Value, visit: &mut dyn FnMut(&str, &'a Value)) {
    visit(&path, node);
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            walk(format!("{path}.{name}"), child, visit);
        }
    }
    if let Some(items) = node.get("items") {
        walk(format!("{path}[]"), items, visit);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(format!("{path}{{}}"), values, visit);
    }
}

#[test]
fn crd_schemas_are_structural_with_no_leftover_json_schema_keywords() {
    for kind in ["CloudAccount", "CloudService"] {
        let schema = crd_schema(kind);
        walk(kind.to_string(), &schema, &mut |path, node| {
            for banned in [
                "$ref",
                "allOf",
                "anyOf",
                "oneOf",
                "not",
                "nullable",
                "$schema",
                "definitions",
                "const",
            ] {
                assert!(
                    node.get(banned).is_none(),
                    "{path} has `{banned}`, which a structural schema does not allow"
                );
            }
            let open = node.get("x-kubernetes-int-or-string").is_some()
                || node.get("x-kubernetes-preserve-unknown-fields").is_some();
            assert!(open || node.get("type").is_some(), "{path} has no type");
        });
    }
}

#[test]
fn every_list_and_string_a_cel_rule_touches_is_bounded() {
    for kind in ["CloudAccount", "CloudService"] {
        let schema = crd_schema(kind);
        let compiled = kube_cel::compile_schema(&schema);
        assert!(
            !compiled.has_errors(),
            "{kind}: CEL rules fail to compile: {:?}",
            compiled.compilation_errors()
        );
        walk(kind.to_string(), &schema, &mut |path, node| {
            for rule in
                node.get("x-kubernetes-validations").and_then(Value::as_array).into_iter().flatten()
            {
                let rule = rule["rule"].as_str().unwrap();
                let sub = kube_cel::compile_schema(node);
                // The scope check does not know comprehension variables (`k`, `p`); cost and
                // bounds are what the API server's estimator rejects CRDs for.
                let warnings: Vec<_> = kube_cel::estimate_rule_cost(rule, &sub);
                assert!(warnings.is_empty(), "{path}: rule `{rule}`: {warnings:?}");
            }
        });
    }
}
