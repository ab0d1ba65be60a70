//! Admission of custom resources: pruning, defaults, OpenAPI schema and CEL validation, with
//! kube-apiserver's 422 messages and causes.

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::common::{api_error, raw, server, widget, widgets};

const WIDGETS: &str = "/apis/fixtures.byoc.dev/v1alpha1/namespaces/default/widgets";

async fn create_raw(
    server: &crate::support::apiserver::ApiServer,
    query: &str,
    spec: Value,
) -> (u16, http::HeaderMap, Value) {
    let body = json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": spec});
    raw(server, "POST", &format!("{WIDGETS}{query}"), "application/json", Some(body)).await
}

#[tokio::test]
async fn schema_violations_are_rejected_with_422_and_one_cause_per_field() {
    let server = server().await;
    let cases = [
        (
            json!({"image": "nginx", "replicas": "three"}),
            "spec.replicas",
            "FieldValueTypeInvalid",
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            "type",
        ),
        (
            json!({"image": "nginx", "replicas": 11}),
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            "maximum",
        ),
        (
            json!({"image": "nginx", "replicas": -1}),
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            "minimum",
        ),
        (
            json!({"image": "nginx", "protocol": "udp"}),
            "spec.protocol",
            "FieldValueNotSupported",
            "Unsupported value: \"udp\": supported values: \"http\", \"https\"",
            "enum",
        ),
        (
            json!({"image": "NGINX!"}),
            "spec.image",
            "FieldValueInvalid",
            "Invalid value: \"NGINX!\": spec.image in body should match '^[a-z0-9./:-]+$'",
            "pattern",
        ),
        (json!({}), "spec.image", "FieldValueRequired", "Required value", "required"),
        (
            json!({"image": "nginx", "ports": [{"port": 1}, {"port": 2}, {"port": 3}, {"port": 4}]}),
            "spec.ports",
            "FieldValueTooMany",
            "Too many: 4: must have at most 3 items",
            "maxItems",
        ),
        (
            json!({"image": "nginx", "ports": [{"port": 1, "name": "a-very-long-port-name"}]}),
            "spec.ports[0].name",
            "FieldValueTooLong",
            "Too long: may not be more than 15 bytes",
            "maxLength",
        ),
        (
            json!({"image": "nginx", "port": true}),
            "spec.port",
            "FieldValueTypeInvalid",
            "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
            "int-or-string",
        ),
    ];
    for (spec, field, reason, message, why) in cases {
        let (code, _, body) = create_raw(&server, "", spec).await;
        assert_eq!(code, 422, "{why}: {body}");
        assert_eq!(body["reason"], "Invalid", "{why}");
        let causes = body["details"]["causes"].as_array().expect("causes");
        let cause = causes
            .iter()
            .find(|c| c["field"] == field)
            .unwrap_or_else(|| panic!("{why}: no cause for {field} in {body}"));
        assert_eq!(cause["reason"], reason, "{why}");
        assert_eq!(cause["message"], message, "{why}");
        assert_eq!(body["details"]["kind"], "Widget", "{why}");
    }
}

#[tokio::test]
async fn the_invalid_message_names_the_kind_group_object_and_field() {
    let server = server().await;
    let (_, _, body) = create_raw(&server, "", json!({"image": "nginx", "replicas": 11})).await;
    assert_eq!(
        body["message"],
        "Widget.fixtures.byoc.dev \"bad\" is invalid: spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
    );
    let (_, _, body) = create_raw(&server, "", json!({"replicas": 11})).await;
    assert_eq!(
        body["message"],
        "Widget.fixtures.byoc.dev \"bad\" is invalid: [spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10, spec.image: Required value]"
    );
}

#[tokio::test]
async fn defaults_are_applied_on_create() {
    let server = server().await;
    let created = widgets(&server, "default")
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    assert_eq!(created.data["spec"]["replicas"], 1);
    assert_eq!(created.data["spec"]["protocol"], "http");
    assert_eq!(created.data["spec"]["region"], "eu-west-1");
}

#[tokio::test]
async fn int_or_string_fields_accept_integers_and_strings() {
    let server = server().await;
    for (name, port) in [("by-number", json!(8080)), ("by-name", json!("http"))] {
        let created = widgets(&server, "default")
            .create(
                &PostParams::default(),
                &widget(name, json!({"image": "nginx", "port": port.clone()})),
            )
            .await
            .expect("create");
        assert_eq!(created.data["spec"]["port"], port);
    }
}

#[tokio::test]
async fn preserve_unknown_fields_keeps_arbitrary_data() {
    let server = server().await;
    let created = widgets(&server, "default")
        .create(
            &PostParams::default(),
            &widget("web", json!({"image": "nginx", "extra": {"anything": {"goes": [1, 2]}}})),
        )
        .await
        .expect("create");
    assert_eq!(created.data["spec"]["extra"], json!({"anything": {"goes": [1, 2]}}));
}

#[tokio::test]
async fn unknown_fields_are_pruned_with_a_warning_by_default_and_rejected_when_strict() {
    let server = server().await;
    let (code, headers, body) =
        create_raw(&server, "", json!({"image": "nginx", "bogus": 1})).await;
    assert_eq!(code, 201);
    assert_eq!(body["spec"].get("bogus"), None);
    let warning = headers.get("warning").and_then(|w| w.to_str().ok()).unwrap_or_default();
    assert_eq!(warning, "299 - \"unknown field \\\"spec.bogus\\\"\"");
    let (code, _, body) =
        create_raw(&server, "?fieldValidation=Strict", json!({"image": "nginx", "bogus": 1})).await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "Widget in version \"v1alpha1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.bogus\""
    );
    let (code, headers, _) =
        create_raw(&server, "?fieldValidation=Ignore", json!({"image": "nginx", "bogus": 1})).await;
    assert_eq!(code, 409, "the pruned object was created by the first request");
    assert!(headers.get("warning").is_none());
}

#[tokio::test]
async fn a_failing_cel_rule_is_reported_with_its_message() {
    let server = server().await;
    let (code, _, body) =
        create_raw(&server, "", json!({"image": "nginx", "ingress": {"port": 443}})).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "Widget.fixtures.byoc.dev \"bad\" is invalid: spec: Invalid value: \"object\": port 443 needs protocol https"
    );
}

#[tokio::test]
async fn a_cel_transition_rule_with_old_self_makes_a_field_immutable() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(
        &PostParams::default(),
        &widget("web", json!({"image": "nginx", "region": "eu-west-1"})),
    )
    .await
    .expect("create");
    let patch = Patch::Merge(json!({"spec": {"region": "us-east-1"}}));
    let status = api_error(api.patch("web", &PatchParams::default(), &patch).await);
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "Widget.fixtures.byoc.dev \"web\" is invalid: spec.region: Invalid value: \"object\": region is immutable"
    );
    let unrelated = Patch::Merge(json!({"spec": {"image": "nginx:2"}}));
    api.patch("web", &PatchParams::default(), &unrelated).await.expect("other fields stay mutable");
}

#[tokio::test]
async fn duplicate_keys_in_a_list_map_are_rejected() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let condition = json!({"type": "Ready", "status": "True"});
    let patch = Patch::Merge(json!({"status": {"conditions": [condition.clone(), condition]}}));
    let status = api_error(api.patch_status("web", &PatchParams::default(), &patch).await);
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("status.conditions[1]: Duplicate value: {\"type\":\"Ready\"}"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn names_that_are_not_dns_subdomains_are_rejected() {
    let server = server().await;
    let status = api_error(
        widgets(&server, "default")
            .create(&PostParams::default(), &widget("Web_1", json!({"image": "nginx"})))
            .await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain"),
        "{}",
        status.message
    );
}
