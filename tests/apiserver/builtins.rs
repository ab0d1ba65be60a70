//! The built-in kinds the Helm chart renders — ServiceAccounts, Services, Deployments, RBAC,
//! PodDisruptionBudgets and NetworkPolicies — served like kube-apiserver serves them: discovery,
//! short names, defaults, generation and status, and the 422s a chart bug would meet (RBAC's are
//! in `rbac`).

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

use crate::common::{apply_raw, causes, merge_patch_raw, post, raw, server};
use crate::kubectl::succeed;

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const SERVICES: &str = "/api/v1/namespaces/default/services";
const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

fn deployment(name: &str, selector: Value, template_labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    })
}

#[tokio::test]
async fn discovery_serves_the_chart_kinds_with_their_scope_short_names_and_subresources() {
    let server = server().await;
    let cases = [
        ("/api/v1", "serviceaccounts", "ServiceAccount", true, json!(["sa"]), false),
        ("/api/v1", "services", "Service", true, json!(["svc"]), true),
        ("/apis/apps/v1", "deployments", "Deployment", true, json!(["deploy"]), true),
        (RBAC, "roles", "Role", true, Value::Null, false),
        (RBAC, "rolebindings", "RoleBinding", true, Value::Null, false),
        (RBAC, "clusterroles", "ClusterRole", false, Value::Null, false),
        (RBAC, "clusterrolebindings", "ClusterRoleBinding", false, Value::Null, false),
        (
            "/apis/policy/v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            json!(["pdb"]),
            true,
        ),
        (
            "/apis/networking.k8s.io/v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            json!(["netpol"]),
            false,
        ),
    ];
    for (path, plural, kind, namespaced, short_names, has_status) in cases {
        let (code, _, list) = raw(&server, "GET", path, "application/json", None).await;
        assert_eq!(code, 200, "{path}");
        let resources = list["resources"].as_array().unwrap();
        let entry =
            resources.iter().find(|r| r["name"] == plural).unwrap_or_else(|| panic!("{plural}"));
        assert_eq!(entry["kind"], kind, "{plural}");
        assert_eq!(entry["namespaced"], namespaced, "{plural}");
        assert_eq!(entry["singularName"], kind.to_lowercase(), "{plural}");
        assert_eq!(
            entry.get("shortNames").cloned().unwrap_or(Value::Null),
            short_names,
            "{plural}"
        );
        for verb in ["create", "get", "list", "watch", "patch", "update", "delete"] {
            assert!(entry["verbs"].as_array().unwrap().contains(&json!(verb)), "{plural} {verb}");
        }
        let status = format!("{plural}/status");
        assert_eq!(resources.iter().any(|r| r["name"] == status), has_status, "{status}");
    }
    let discovery = Discovery::new(server.client()).run().await.expect("discovery");
    for (group, kind, scope) in [
        ("apps", "Deployment", Scope::Namespaced),
        ("rbac.authorization.k8s.io", "ClusterRole", Scope::Cluster),
        ("policy", "PodDisruptionBudget", Scope::Namespaced),
    ] {
        let (_, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(group, "v1", kind))
            .unwrap_or_else(|| panic!("kube discovery resolves {group}/{kind}"));
        assert_eq!(caps.scope, scope, "{kind}");
    }
}

#[tokio::test]
async fn kubectl_finds_the_chart_kinds_by_their_short_names() {
    let server = server().await;
    post(
        &server,
        "/api/v1/namespaces/default/serviceaccounts",
        json!({"metadata": {"name": "op"}}),
    )
    .await;
    post(&server, DEPLOYMENTS, deployment("op", json!({"app": "op"}), json!({"app": "op"}))).await;
    let service = json!({"metadata": {"name": "op"}, "spec": {"ports": [{"port": 80}]}});
    assert_eq!(post(&server, SERVICES, service).await.0, 201);
    let out = succeed(&server, &["get", "sa,svc,deploy,pdb,netpol", "-o", "name"]).await;
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    assert_eq!(names, ["deployment.apps/op", "service/op", "serviceaccount/op"]);
}

#[tokio::test]
async fn a_deployment_is_defaulted_starts_at_generation_one_and_gets_an_empty_status() {
    let server = server().await;
    let mut body = deployment("web", json!({"app": "web"}), json!({"app": "web"}));
    body["status"] = json!({"replicas": 5});
    let (code, created) = post(&server, DEPLOYMENTS, body).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["status"], json!({}), "status is the controller's, not the creator's");
    let spec = &created["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent", "a pinned tag");
}

#[tokio::test]
async fn a_deployment_generation_moves_on_spec_and_annotation_changes_but_not_labels_or_status() {
    let server = server().await;
    post(&server, DEPLOYMENTS, deployment("web", json!({"app": "web"}), json!({"app": "web"})))
        .await;
    let path = format!("{DEPLOYMENTS}/web");
    let steps = [
        ("a label", json!({"metadata": {"labels": {"team": "a"}}}), 1),
        ("the replica count", json!({"spec": {"replicas": 3}}), 2),
        ("an annotation", json!({"metadata": {"annotations": {"note": "x"}}}), 3),
    ];
    for (reason, patch, generation) in steps {
        let (code, patched) = merge_patch_raw(&server, &path, patch).await;
        assert_eq!(code, 200, "{reason}: {patched}");
        assert_eq!(patched["metadata"]["generation"], generation, "{reason}");
    }
    let status = json!({"status": {"observedGeneration": 3, "replicas": 3}});
    let (code, patched) = merge_patch_raw(&server, &format!("{path}/status"), status).await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["status"]["replicas"], 3);
    assert_eq!(patched["metadata"]["generation"], 3, "a status write is not a spec change");
    let (_, ignored) = merge_patch_raw(&server, &path, json!({"status": {"replicas": 9}})).await;
    assert_eq!(ignored["status"]["replicas"], 3, "the main resource ignores status");
}

#[tokio::test]
async fn a_deployment_whose_selector_does_not_match_its_template_labels_is_rejected_with_422() {
    let server = server().await;
    let body = deployment("web", json!({"app": "web"}), json!({"app": "api", "tier": "x"}));
    let (code, status) = post(&server, DEPLOYMENTS, body).await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    let expected = "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"x\"}: `selector` does not match template `labels`";
    assert_eq!(status["message"], format!("Deployment.apps \"web\" is invalid: {expected}"));
    assert_eq!(status["details"]["causes"][0]["field"], "spec.template.metadata.labels");
    let expressions =
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]});
    let mut matching = deployment("web", json!({}), json!({"app": "api"}));
    matching["spec"]["selector"] = expressions;
    assert_eq!(post(&server, DEPLOYMENTS, matching).await.0, 201, "matchExpressions match too");
}

#[tokio::test]
async fn a_deployment_without_a_selector_or_containers_is_rejected_naming_each_field() {
    let server = server().await;
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare"},
                      "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}});
    let (code, status) = post(&server, DEPLOYMENTS, body).await;
    assert_eq!(code, 422);
    let fields: Vec<String> = causes(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["spec.selector", "spec.template.spec.containers"]);
    let mut recreate = deployment("web", json!({"app": "web"}), json!({"app": "web"}));
    recreate["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}});
    let (code, status) = post(&server, DEPLOYMENTS, recreate).await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&status),
        [(
            "spec.strategy.rollingUpdate".to_string(),
            "Forbidden: may not be specified when strategy `type` is 'Recreate'".to_string()
        )]
    );
}

#[tokio::test]
async fn changing_a_deployments_selector_is_rejected_as_immutable() {
    let server = server().await;
    let path = format!("{DEPLOYMENTS}/web");
    let original = deployment("web", json!({"app": "web"}), json!({"app": "web"}));
    assert_eq!(apply_raw(&server, &path, original).await.0, 201);
    let changed = deployment("web", json!({"app": "web2"}), json!({"app": "web2"}));
    let (code, status) = apply_raw(&server, &path, changed).await;
    assert_eq!(code, 422, "{status}");
    let (field, message) = causes(&status).remove(0);
    assert_eq!(field, "spec.selector");
    assert!(message.ends_with("field is immutable"), "{message}");
}

#[tokio::test]
async fn a_service_port_without_a_port_number_is_rejected_with_422() {
    let server = server().await;
    let body = json!({"metadata": {"name": "op"}, "spec": {"ports": [{"name": "http", "targetPort": "http"}]}});
    let (code, status) = post(&server, SERVICES, body).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "Service \"op\" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
    );
    let two_unnamed =
        json!({"metadata": {"name": "op"}, "spec": {"ports": [{"port": 80}, {"port": 81}]}});
    let (code, status) = post(&server, SERVICES, two_unnamed).await;
    assert_eq!(code, 422);
    let fields: Vec<String> = causes(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["spec.ports[0].name", "spec.ports[1].name"]);
    let (code, status) = post(
        &server,
        SERVICES,
        json!({"metadata": {"name": "1op"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    assert_eq!(code, 422, "Service names are DNS-1035 labels: {status}");
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
}

#[tokio::test]
async fn a_service_is_defaulted_and_keeps_its_cluster_ip_when_reapplied() {
    let server = server().await;
    let body = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "op"},
                      "spec": {"selector": {"app": "op"}, "ports": [{"name": "http", "port": 8080}]}});
    let (code, created) = apply_raw(&server, &format!("{SERVICES}/op"), body.clone()).await;
    assert_eq!(code, 201, "{created}");
    let spec = &created["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 8080);
    let ip = spec["clusterIP"].as_str().expect("a cluster IP is allocated").to_string();
    assert!(ip.starts_with("10.96."), "{ip}");
    assert_eq!(spec["clusterIPs"], json!([ip]));
    assert!(created["metadata"].get("generation").is_none(), "Services keep no generation");
    let (code, again) = apply_raw(&server, &format!("{SERVICES}/op"), body).await;
    assert_eq!(code, 200);
    assert_eq!(again["spec"]["clusterIP"], ip.as_str());
    assert_eq!(
        again["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "a no-op"
    );
}

#[tokio::test]
async fn a_network_policy_gets_its_policy_types_defaulted_and_a_bad_cidr_is_rejected() {
    let server = server().await;
    let path = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";
    let policy = |cidr: &str| {
        json!({"metadata": {"name": "np"}, "spec": {"podSelector": {},
        "egress": [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 443}]}]}})
    };
    let (code, status) = post(&server, path, policy("10.0.0.0/33")).await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&status),
        [(
            "spec.egress[0].to[0].ipBlock.cidr".to_string(),
            "Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)".to_string()
        )]
    );
    let (code, created) = post(&server, path, policy("10.0.0.0/16")).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(created["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(created["metadata"]["generation"], 1);
}

#[tokio::test]
async fn a_disruption_budget_with_both_limits_is_rejected_and_a_valid_one_is_served_typed() {
    let server = server().await;
    let path = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
    let budget = json!({"metadata": {"name": "pdb"}, "spec": {"minAvailable": 1, "maxUnavailable": 1,
                        "selector": {"matchLabels": {"app": "op"}}}});
    let (code, status) = post(&server, path, budget).await;
    assert_eq!(code, 422);
    let (field, message) = causes(&status).remove(0);
    assert_eq!(field, "spec");
    assert!(message.ends_with("minAvailable and maxUnavailable cannot be both set"), "{message}");
    let gvk = GroupVersionKind::gvk("policy", "v1", "PodDisruptionBudget");
    let budgets: Api<DynamicObject> =
        Api::default_namespaced_with(server.client(), &ApiResource::from_gvk(&gvk));
    let valid: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "op"}}}}))
    .unwrap();
    let stored =
        budgets.patch("pdb", &PatchParams::apply("test"), &Patch::Apply(&valid)).await.unwrap();
    assert_eq!(stored.data["status"]["disruptionsAllowed"], 0);
    assert_eq!(stored.metadata.generation, Some(1));
}
