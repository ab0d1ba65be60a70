//! RBAC objects the Helm chart renders — Roles, ClusterRoles and their bindings — validated like
//! kube-apiserver validates them: rules need verbs, API groups and resources; bindings need a
//! `roleRef` of the right kind that never changes, and well-formed subjects.

use serde_json::{Value, json};

use crate::common::{apply_raw, causes, post, server};

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

fn binding(kind: &str, name: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
           "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "default"}]})
}

#[tokio::test]
async fn a_binding_without_a_role_ref_is_rejected_with_422_and_one_cause_per_field() {
    let server = server().await;
    let (code, status) = post(
        &server,
        &format!("{RBAC}/namespaces/default/rolebindings"),
        binding("RoleBinding", "rb"),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "RoleBinding.rbac.authorization.k8s.io \"rb\" is invalid: [roleRef.kind: Unsupported value: \"\": supported values: \"Role\", \"ClusterRole\", roleRef.name: Required value]"
    );
    let mut cluster = binding("ClusterRoleBinding", "crb");
    cluster["roleRef"] = json!({"kind": "Role", "name": "r"});
    cluster["subjects"][0].as_object_mut().unwrap().remove("namespace");
    let (code, status) = post(&server, &format!("{RBAC}/clusterrolebindings"), cluster).await;
    assert_eq!(code, 422);
    let fields: Vec<String> = causes(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["roleRef.kind", "subjects[0].namespace"], "{status}");
}

#[tokio::test]
async fn a_bindings_role_ref_is_defaulted_and_can_never_change() {
    let server = server().await;
    let path = format!("{RBAC}/clusterrolebindings");
    let mut body = binding("ClusterRoleBinding", "system:op");
    body["roleRef"] = json!({"kind": "ClusterRole", "name": "view"});
    let (code, created) = apply_raw(&server, &format!("{path}/system:op"), body.clone()).await;
    assert_eq!(code, 201, "RBAC names may contain colons: {created}");
    assert_eq!(created["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(created["metadata"].get("generation").is_none(), "RBAC objects keep no generation");
    body["roleRef"]["name"] = json!("edit");
    let (code, status) = apply_raw(&server, &format!("{path}/system:op"), body).await;
    assert_eq!(code, 422);
    let (field, message) = causes(&status).remove(0);
    assert_eq!(field, "roleRef");
    assert!(message.ends_with("Name:\"edit\"}: cannot change roleRef"), "{message}");
}

#[tokio::test]
async fn a_role_rule_without_verbs_api_groups_or_resources_is_rejected() {
    let server = server().await;
    let role = json!({"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"resources": ["pods"]},
        {"apiGroups": [""], "verbs": ["get"]},
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
    ]});
    let (code, status) = post(&server, &format!("{RBAC}/namespaces/default/roles"), role).await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&status),
        [
            ("rules[1].verbs", "Required value: verbs must contain at least one value"),
            (
                "rules[1].apiGroups",
                "Required value: resource rules must supply at least one api group"
            ),
            (
                "rules[2].resources",
                "Required value: resource rules must supply at least one resource"
            ),
            (
                "rules[3].nonResourceURLs",
                "Invalid value: [\"/metrics\"]: namespaced rules cannot apply to non-resource URLs"
            ),
        ]
        .map(|(f, m)| (f.to_string(), m.to_string()))
    );
    let cluster_role = json!({"metadata": {"name": "metrics-reader"},
                              "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
    assert_eq!(post(&server, &format!("{RBAC}/clusterroles"), cluster_role).await.0, 201);
}
