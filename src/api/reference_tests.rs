use super::rules::*;
use super::*;

fn schema(value: serde_json::Value) -> JSONSchemaProps {
    serde_json::from_value(value).unwrap()
}

#[test]
fn types_read_like_go_types() {
    let cases = [
        (serde_json::json!({"type": "string"}), "string", "a plain string"),
        (serde_json::json!({"type": "integer", "format": "int32"}), "integer (int32)", "format"),
        (
            serde_json::json!({"type": "array", "items": {"type": "string"}}),
            "[]string",
            "list of strings",
        ),
        (
            serde_json::json!({"type": "array", "items": {"type": "array", "items": {"type": "integer", "format": "int64"}}}),
            "[][]integer (int64)",
            "nested lists keep the item format",
        ),
        (
            serde_json::json!({"type": "object", "additionalProperties": {"type": "string"}}),
            "map[string]string",
            "map",
        ),
        (
            serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            "object",
            "object with fields",
        ),
        (
            serde_json::json!({"x-kubernetes-int-or-string": true}),
            "integer or string",
            "int-or-string",
        ),
        (
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            "object (any fields)",
            "free-form object",
        ),
    ];
    for (value, expected, reason) in cases {
        assert_eq!(type_name(&schema(value)), expected, "{reason}");
    }
}

#[test]
fn validation_names_every_bound_rule_and_item_constraint() {
    let node = schema(serde_json::json!({
        "type": "array",
        "maxItems": 5,
        "minItems": 1,
        "items": {"type": "string", "pattern": "^sg-[0-9a-f]+$", "maxLength": 20},
        "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "immutable"},
            {"rule": "size(self) > 0 ||\n  oldSelf.size() == 0", "message": "keep one", "reason": "FieldValueForbidden"}
        ]
    }));
    let lines = validation(&node);
    assert_eq!(
        lines,
        vec![
            "1 to 5 items".to_string(),
            "immutable once set: \"immutable\" (CEL rule `self == oldSelf`)".into(),
            "on update: \"keep one\" (CEL transition rule `size(self) > 0 || oldSelf.size() == 0`, reason `FieldValueForbidden`)".into(),
            "each item: matches the pattern `^sg-[0-9a-f]+$`".into(),
            "each item: at most 20 characters".into(),
        ]
    );
}

#[test]
fn numbers_enums_and_lengths_read_naturally() {
    let node = schema(serde_json::json!({
        "type": "integer", "minimum": 1.0, "maximum": 365.0, "enum": [1, 30, 365]
    }));
    assert_eq!(validation(&node), vec!["one of `1`, `30`, `365`", "value ≥ 1 and ≤ 365"]);
    assert_eq!(bounds(Some(1), Some(1), "character").unwrap(), "exactly 1 character");
    assert_eq!(bounds(None, Some(45), "entry").unwrap(), "at most 45 entries");
    assert_eq!(number(0.5), "0.5");
}

#[test]
fn code_spans_and_prose_survive_markdown() {
    assert_eq!(code("a`b"), "``a`b``", "a backtick inside needs a longer fence");
    assert_eq!(code("`x`"), "`` `x` ``", "a backtick at an edge needs padding");
    assert_eq!(
        escape_html("byoc/<ns> in `byoc/<ns>`"),
        "byoc/&lt;ns&gt; in `byoc/<ns>`",
        "angle brackets are escaped only outside code"
    );
    assert_eq!(cell("a |\n b"), "a \\| b");
}

#[test]
fn anchors_are_the_kind_and_the_path_without_markers() {
    assert_eq!(
        field_anchor("cloudservice", "spec.ports[].containerPort"),
        "cloudservice-spec-ports-containerport"
    );
    assert_eq!(field_anchor("cloudaccount", "spec.tags{}.x"), "cloudaccount-spec-tags-x");
}

#[test]
fn required_is_stated_relative_to_the_enclosing_object() {
    assert_eq!(Required::from(true, None).text(false), "yes");
    assert_eq!(
        Required::from(true, Some("spec.autoscaling")).text(false),
        "yes, when `spec.autoscaling` is set"
    );
    assert_eq!(
        Required::from(true, Some("spec.ports[]")).text(true),
        "yes, in every item of `spec.ports` (defaulted when omitted)"
    );
    assert_eq!(Required::from(false, Some("spec")).text(false), "no");
}

#[test]
fn cel_rules_without_a_message_show_the_rule_and_where_it_reports() {
    let node = schema(serde_json::json!({
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "has(self.a)", "fieldPath": ".a", "messageExpression": "'need a'"}
        ]
    }));
    assert_eq!(
        validation(&node),
        vec!["CEL rule `has(self.a)`, message computed by `'need a'`, reported on `.a`"]
    );
}
