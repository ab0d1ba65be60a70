//! Server-side apply: creation, managedFields, conflicts, force, removal of abandoned fields,
//! and status apply merging list-map conditions by `type`.

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::common::{api_error, raw, server, widget, widgets};

fn applied(spec: Value) -> Patch<Value> {
    Patch::Apply(
        json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "web"}, "spec": spec}),
    )
}

fn managers(object: &DynamicObject) -> Vec<(String, String)> {
    object
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone().unwrap_or_default(), m.operation.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn apply_creates_the_object_and_records_the_manager_with_its_fields() {
    let server = server().await;
    let api = widgets(&server, "default");
    let created = api
        .patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx"})))
        .await
        .expect("apply");
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.data["spec"]["replicas"], 1, "defaults apply to applied objects too");
    assert_eq!(managers(&created), [("alice".to_string(), "Apply".to_string())]);
    let entry = &created.metadata.managed_fields.as_ref().unwrap()[0];
    assert_eq!(entry.fields_type.as_deref(), Some("FieldsV1"));
    let fields = serde_json::to_value(entry.fields_v1.as_ref().unwrap()).unwrap();
    assert_eq!(fields, json!({"f:spec": {"f:image": {}}}));
}

#[tokio::test]
async fn apply_without_a_field_manager_is_rejected_with_422() {
    let server = server().await;
    let body = json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "web"}, "spec": {"image": "nginx"}});
    let (code, _, status) = raw(
        &server,
        "PATCH",
        "/apis/fixtures.byoc.dev/v1alpha1/namespaces/default/widgets/web",
        "application/apply-patch+yaml",
        Some(body),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

#[tokio::test]
async fn server_side_apply_conflicts_between_field_managers_without_force() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx"})))
        .await
        .expect("alice");
    let status = api_error(
        api.patch("web", &PatchParams::apply("bob"), &applied(json!({"image": "httpd"}))).await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.image"
    );
    let cause = &status.details.unwrap().causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldManagerConflict", ".spec.image")
    );
    let same = api
        .patch("web", &PatchParams::apply("bob"), &applied(json!({"image": "nginx"})))
        .await
        .expect("same value shares ownership");
    assert_eq!(managers(&same).len(), 2);
}

#[tokio::test]
async fn forced_apply_takes_ownership_from_the_other_manager() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.patch(
        "web",
        &PatchParams::apply("alice"),
        &applied(json!({"image": "nginx", "replicas": 2})),
    )
    .await
    .expect("alice");
    let forced = api
        .patch("web", &PatchParams::apply("bob").force(), &applied(json!({"image": "httpd"})))
        .await
        .expect("forced");
    assert_eq!(forced.data["spec"]["image"], "httpd");
    let fields: Vec<(String, Value)> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), serde_json::to_value(m.fields_v1.unwrap()).unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("alice".to_string(), json!({"f:spec": {"f:replicas": {}}})),
            ("bob".to_string(), json!({"f:spec": {"f:image": {}}})),
        ]
    );
}

#[tokio::test]
async fn a_plain_update_takes_ownership_of_the_fields_it_changes() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx"})))
        .await
        .expect("alice");
    let params = PatchParams { field_manager: Some("editor".into()), ..PatchParams::default() };
    api.patch("web", &params, &Patch::Merge(json!({"spec": {"image": "httpd"}})))
        .await
        .expect("edit");
    let status = api_error(
        api.patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx:2"}))).await,
    );
    assert!(status.message.starts_with("Apply failed with 1 conflict: conflict with \"editor\" using fixtures.byoc.dev/v1alpha1 at "), "{}", status.message);
}

#[tokio::test]
async fn apply_removes_fields_the_manager_no_longer_applies() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.patch(
        "web",
        &PatchParams::apply("alice"),
        &applied(json!({"image": "nginx", "tags": {"a": "1", "b": "2"}})),
    )
    .await
    .expect("first");
    let second = api
        .patch(
            "web",
            &PatchParams::apply("alice"),
            &applied(json!({"image": "nginx", "tags": {"a": "1"}})),
        )
        .await
        .expect("second");
    assert_eq!(second.data["spec"]["tags"], json!({"a": "1"}));
}

#[tokio::test]
async fn a_repeated_identical_apply_changes_nothing() {
    let server = server().await;
    let api = widgets(&server, "default");
    let first = api
        .patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx"})))
        .await
        .expect("first");
    let second = api
        .patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx"})))
        .await
        .expect("second");
    assert_eq!(first.metadata.resource_version, second.metadata.resource_version);
}

#[tokio::test]
async fn status_apply_merges_conditions_by_type_and_leaves_spec_alone() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let status_of = |conditions: Value| {
        Patch::Apply(
            json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "web"},
                            "spec": {"image": "ignored"}, "status": {"conditions": conditions}}),
        )
    };
    api.patch_status(
        "web",
        &PatchParams::apply("controller"),
        &status_of(json!([{"type": "Ready", "status": "False"}])),
    )
    .await
    .expect("controller");
    let merged = api
        .patch_status(
            "web",
            &PatchParams::apply("prober"),
            &status_of(json!([{"type": "Reachable", "status": "True"}])),
        )
        .await
        .expect("prober");
    assert_eq!(merged.data["spec"]["image"], "nginx");
    assert_eq!(merged.metadata.generation, Some(1));
    assert_eq!(
        merged.data["status"]["conditions"],
        json!([{"type": "Ready", "status": "False"}, {"type": "Reachable", "status": "True"}])
    );
    let entry = merged
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("prober"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    assert_eq!(
        serde_json::to_value(entry.fields_v1.unwrap()).unwrap(),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Reachable\"}": {".": {}, "f:status": {}, "f:type": {}}}}})
    );
    let status = api_error(
        api.patch_status("web", &PatchParams::apply("prober"), &status_of(json!([{"type": "Ready", "status": "True"}, {"type": "Reachable", "status": "True"}])))
            .await,
    );
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"controller\" with subresource \"status\": .status.conditions[type=\"Ready\"].status"
    );
}

#[tokio::test]
async fn apply_with_a_field_the_schema_does_not_declare_is_rejected() {
    let server = server().await;
    let status = api_error(
        widgets(&server, "default")
            .patch(
                "web",
                &PatchParams::apply("alice"),
                &applied(json!({"image": "nginx", "bogus": true})),
            )
            .await,
    );
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "failed to create typed patch object (fixtures.byoc.dev/v1alpha1, Kind=Widget): .spec.bogus: field not declared in schema"
    );
}

#[tokio::test]
async fn apply_adds_finalizers_as_a_set() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.patch("web", &PatchParams::apply("alice"), &applied(json!({"image": "nginx"})))
        .await
        .expect("alice");
    let finalizer = |f: &str| {
        Patch::Apply(
            json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "web", "finalizers": [f]}}),
        )
    };
    api.patch("web", &PatchParams::apply("one"), &finalizer("byoc.dev/one")).await.expect("one");
    let both = api
        .patch("web", &PatchParams::apply("two"), &finalizer("byoc.dev/two"))
        .await
        .expect("two");
    assert_eq!(
        both.metadata.finalizers,
        Some(vec!["byoc.dev/one".to_string(), "byoc.dev/two".to_string()])
    );
}

#[tokio::test]
async fn a_condition_the_manager_no_longer_applies_is_removed_whole() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let status_of = |conditions: Value| {
        Patch::Apply(
            json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "web"},
                   "status": {"conditions": conditions}}),
        )
    };
    let ready = json!({"type": "Ready", "status": "True", "reason": "Ready"});
    let held = json!({"type": "Suspended", "status": "True", "reason": "Suspended"});
    api.patch_status("web", &PatchParams::apply("controller"), &status_of(json!([ready, held])))
        .await
        .expect("both");
    let after = api
        .patch_status("web", &PatchParams::apply("controller"), &status_of(json!([ready])))
        .await
        .expect("one");
    // The whole item goes, its key field included (not an item left with only some fields).
    assert_eq!(after.data["status"]["conditions"], json!([ready]));
    let entry = after
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("controller"))
        .unwrap();
    assert_eq!(
        serde_json::to_value(entry.fields_v1.unwrap()).unwrap(),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}}})
    );
}

#[tokio::test]
async fn a_status_field_the_manager_no_longer_applies_goes_with_its_parent() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let status = |status: Value| {
        Patch::Apply(
            json!({"apiVersion": "fixtures.byoc.dev/v1alpha1", "kind": "Widget", "metadata": {"name": "web"}, "status": status}),
        )
    };
    let ready = json!([{"type": "Ready", "status": "True"}]);
    api.patch_status(
        "web",
        &PatchParams::apply("controller"),
        &status(json!({"conditions": ready, "endpoint": {"host": "web", "port": 80}})),
    )
    .await
    .expect("with endpoint");
    let after = api
        .patch_status(
            "web",
            &PatchParams::apply("controller"),
            &status(json!({"conditions": ready})),
        )
        .await
        .expect("without");
    // Not an empty `endpoint: {}` left behind.
    assert_eq!(after.data["status"], json!({"conditions": ready}));
}
