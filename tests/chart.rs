//! The Helm chart in `charts/byoc-operator`: it lints and renders with Helm 3 and 4, what it
//! renders parses into the Kubernetes types, the controller runs hardened with exactly the RBAC it
//! uses, values outside the schema are refused, its CRDs are the generated ones, and what it
//! renders applies to the API stand-in (`apply`).
//! Shells out to `helm` (see `support::helm`); never skips when helm is missing.

mod support;

#[path = "chart/apply.rs"]
mod apply;

use std::collections::BTreeSet;

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        core::v1::{Container, Service, ServiceAccount},
        networking::v1::NetworkPolicy,
        policy::v1::PodDisruptionBudget,
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::util::intstr::IntOrString,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use support::{
    helm::{NAMESPACE, RELEASE, chart_dir, rendered_documents, run_helm, template},
    manifests::repo_root,
};

/// The values files under `ci/`, relative to the chart.
fn ci_values_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(chart_dir().join("ci"))
        .unwrap()
        .map(|e| format!("ci/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|f| f.ends_with("-values.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "expected the namespaced and hardened values files in ci/");
    files
}

fn typed<T: DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| {
        panic!("{} {}: {e}", doc["kind"], doc["metadata"]["name"]);
    })
}

fn all_of<T: DeserializeOwned>(docs: &[Value], kind: &str) -> Vec<T> {
    docs.iter().filter(|d| d["kind"] == kind).map(typed).collect()
}

fn one_of<T: DeserializeOwned>(docs: &[Value], kind: &str) -> T {
    let mut found = all_of::<T>(docs, kind);
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found.remove(0)
}

fn controller(docs: &[Value]) -> Container {
    let deployment: Deployment = one_of(docs, "Deployment");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers.len(), 1, "the controller pod has one container");
    pod.containers.into_iter().next().unwrap()
}

fn args(docs: &[Value]) -> Vec<String> {
    controller(docs).args.unwrap_or_default()
}

/// Each rule flattened to one line per API group and resource: `group/resource verbs [names]`.
fn grants(rules: &[PolicyRule]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let mut verbs = rule.verbs.clone();
        verbs.sort();
        let names = rule.resource_names.clone().unwrap_or_default();
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                let group = if group.is_empty() { "core" } else { group };
                let mut line = format!("{group}/{resource} {}", verbs.join(","));
                if !names.is_empty() {
                    line.push_str(&format!(" [{}]", names.join(",")));
                }
                out.insert(line);
            }
        }
    }
    out
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

fn cluster_role_grants(docs: &[Value]) -> BTreeSet<String> {
    grants(&one_of::<ClusterRole>(docs, "ClusterRole").rules.unwrap_or_default())
}

/// What a Role grants, by the namespace it is in.
fn role_grants(docs: &[Value]) -> Vec<(String, String, BTreeSet<String>)> {
    all_of::<Role>(docs, "Role")
        .into_iter()
        .map(|r| {
            let namespace = r.metadata.namespace.unwrap_or_default();
            (namespace, r.metadata.name.unwrap_or_default(), grants(&r.rules.unwrap_or_default()))
        })
        .collect()
}

const CLUSTER_SCOPED_GRANTS: [&str; 3] = [
    "byoc.dev/cloudaccounts get,list,patch,watch",
    "byoc.dev/cloudaccounts/status patch",
    "core/namespaces get,list,watch",
];

const NAMESPACED_GRANTS: [&str; 5] = [
    "byoc.dev/cloudservices get,list,patch,watch",
    "byoc.dev/cloudservices/status patch",
    "byoc.dev/cloudservices/finalizers update",
    "core/events create,patch",
    "events.k8s.io/events create,patch",
];

const SECRETS_GRANT: &str = "core/secrets get,list,watch";

#[test]
fn chart_crds_are_byte_identical_to_the_generated_crds() {
    let names = |dir: &std::path::Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let generated = repo_root().join("crds");
    let shipped = chart_dir().join("crds");
    let resync = "resync with: scripts/sync-chart-crds (cp crds/*.yaml charts/byoc-operator/crds/)";
    assert_eq!(
        names(&generated),
        names(&shipped),
        "the chart's CRD files differ from crds/; {resync}"
    );
    for name in names(&generated) {
        let a = std::fs::read(generated.join(&name)).unwrap();
        let b = std::fs::read(shipped.join(&name)).unwrap();
        assert!(a == b, "charts/byoc-operator/crds/{name} differs from crds/{name}; {resync}");
    }
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let text = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    let chart: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion must be the version in Cargo.toml"
    );
}

#[test]
fn helm_lint_passes_with_the_default_values_and_every_ci_values_file() {
    let chart = chart_dir().display().to_string();
    run_helm(&["lint", "--strict", &chart]).unwrap_or_else(|e| panic!("default values: {e}"));
    for file in ci_values_files() {
        let path = chart_dir().join(&file).display().to_string();
        run_helm(&["lint", "--strict", &chart, "--values", &path])
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn every_rendered_document_parses_into_its_kubernetes_type() {
    let mut renders = vec![(String::from("default values"), rendered_documents(&[], &[]))];
    for file in ci_values_files() {
        let docs = rendered_documents(&[&file], &[]);
        renders.push((file, docs));
    }
    for (name, docs) in renders {
        assert!(docs.len() >= 6, "{name}: only {} documents rendered", docs.len());
        for doc in &docs {
            let kind = doc["kind"].as_str().unwrap_or_else(|| panic!("{name}: no kind in {doc}"));
            assert!(doc["apiVersion"].is_string(), "{name}: {kind} has no apiVersion");
            assert!(doc["metadata"]["name"].is_string(), "{name}: {kind} has no name");
            match kind {
                "CustomResourceDefinition" => drop(typed::<CustomResourceDefinition>(doc)),
                "ServiceAccount" => drop(typed::<ServiceAccount>(doc)),
                "ClusterRole" => drop(typed::<ClusterRole>(doc)),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(doc)),
                "Role" => drop(typed::<Role>(doc)),
                "RoleBinding" => drop(typed::<RoleBinding>(doc)),
                "Deployment" => drop(typed::<Deployment>(doc)),
                "Service" => drop(typed::<Service>(doc)),
                "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(doc)),
                "NetworkPolicy" => drop(typed::<NetworkPolicy>(doc)),
                "ServiceMonitor" => {
                    assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
                    assert!(
                        doc["spec"]["endpoints"].is_array(),
                        "{name}: ServiceMonitor endpoints"
                    );
                }
                other => panic!("{name}: unexpected kind {other}"),
            }
        }
    }
}

#[test]
fn the_default_install_renders_the_controller_and_nothing_optional() {
    let docs = rendered_documents(&[], &[]);
    let mut kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
    );
}

#[test]
fn the_controller_runs_hardened_by_default() {
    let docs = rendered_documents(&[], &[]);
    let deployment: Deployment = one_of(&docs, "Deployment");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let pod_context = pod.security_context.clone().unwrap();
    assert_eq!(pod_context.run_as_non_root, Some(true));
    assert_eq!(pod_context.run_as_user, Some(65532));
    assert_eq!(pod_context.seccomp_profile.unwrap().type_, "RuntimeDefault");
    assert_ne!(pod.host_network, Some(true));
    assert_ne!(pod.host_pid, Some(true));

    let container = controller(&docs);
    let context = container.security_context.unwrap();
    assert_eq!(context.run_as_non_root, Some(true));
    assert_eq!(context.run_as_user, Some(65532));
    assert_eq!(context.read_only_root_filesystem, Some(true));
    assert_eq!(context.allow_privilege_escalation, Some(false));
    assert_ne!(context.privileged, Some(true));
    let capabilities = context.capabilities.unwrap();
    assert_eq!(capabilities.drop, Some(vec!["ALL".to_string()]));
    assert!(capabilities.add.unwrap_or_default().is_empty(), "no capability is added");
    assert_eq!(context.seccomp_profile.unwrap().type_, "RuntimeDefault");
    assert!(container.resources.unwrap().limits.unwrap().contains_key("memory"));
}

#[test]
fn the_service_account_token_is_mounted_only_into_the_controller_pod() {
    let docs = rendered_documents(&[], &[]);
    let account: ServiceAccount = one_of(&docs, "ServiceAccount");
    assert_eq!(account.automount_service_account_token, Some(false));
    let deployment: Deployment = one_of(&docs, "Deployment");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.automount_service_account_token, Some(true));
    assert_eq!(pod.service_account_name, account.metadata.name);
}

#[test]
fn the_service_account_carries_the_aws_role_annotation_for_irsa() {
    let arn = "arn:aws:iam::123456789012:role/byoc";
    let docs = rendered_documents(
        &[],
        &[&format!("serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={arn}")],
    );
    let account: ServiceAccount = one_of(&docs, "ServiceAccount");
    let annotations = account.metadata.annotations.unwrap();
    assert_eq!(annotations.get("eks.amazonaws.com/role-arn").map(String::as_str), Some(arn));
}

#[test]
fn the_controller_is_started_with_the_values_as_flags() {
    let docs = rendered_documents(&[], &[]);
    assert_eq!(
        args(&docs),
        [
            "controller",
            "--health-addr=0.0.0.0:8080",
            "--concurrency=4",
            "--log-format=json",
            "--resync-interval=10m",
            "--secret-env=true",
        ]
    );
    let docs = rendered_documents(
        &[],
        &[
            "concurrency=9",
            "logFormat=text",
            "resyncInterval=1h",
            "healthPort=9090",
            "watchNamespaces={a,b}",
            "extraArgs={--some-flag=1}",
        ],
    );
    assert_eq!(
        args(&docs),
        [
            "controller",
            "--health-addr=0.0.0.0:9090",
            "--concurrency=9",
            "--log-format=text",
            "--resync-interval=1h",
            "--secret-env=true",
            "--namespaces=a,b",
            "--some-flag=1",
        ]
    );
}

#[test]
fn the_pod_namespace_comes_from_the_downward_api_and_extra_env_follows() {
    let docs =
        rendered_documents(&[], &["extraEnv[0].name=AWS_REGION", "extraEnv[0].value=eu-west-1"]);
    let env = controller(&docs).env.unwrap();
    let pod_namespace = env.iter().find(|e| e.name == "POD_NAMESPACE").expect("POD_NAMESPACE");
    let field = pod_namespace.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field.field_path, "metadata.namespace");
    let region = env.iter().find(|e| e.name == "AWS_REGION").expect("AWS_REGION from extraEnv");
    assert_eq!(region.value.as_deref(), Some("eu-west-1"));
}

#[test]
fn leader_election_is_on_with_more_than_one_replica_or_when_forced() {
    let cases = [
        ("one replica runs alone", vec!["replicas=1"], false),
        ("two replicas elect a leader", vec!["replicas=2"], true),
        ("forced on for one replica", vec!["replicas=1", "leaderElection.enabled=true"], true),
        (
            "the force switch cannot turn it off for three",
            vec!["replicas=3", "leaderElection.enabled=false"],
            true,
        ),
    ];
    for (reason, values, on) in cases {
        let docs = rendered_documents(&[], &values);
        let args = args(&docs);
        let deployment: Deployment = one_of(&docs, "Deployment");
        let strategy = deployment.spec.unwrap().strategy.unwrap().type_.unwrap();
        let lease_roles: Vec<_> = role_grants(&docs)
            .into_iter()
            .filter(|(_, _, grants)| grants.iter().any(|g| g.contains("leases")))
            .collect();
        if on {
            assert!(args.contains(&"--leader-election".to_string()), "{reason}: {args:?}");
            assert!(args.contains(&"--lease-name=byoc-operator".to_string()), "{reason}: {args:?}");
            assert_eq!(strategy, "RollingUpdate", "{reason}");
            assert_eq!(lease_roles.len(), 1, "{reason}: one Role for the Lease");
            let (namespace, _, grants) = &lease_roles[0];
            assert_eq!(namespace, NAMESPACE, "{reason}: the Lease is in the release namespace");
            assert_eq!(
                *grants,
                set(&[
                    "coordination.k8s.io/leases create",
                    "coordination.k8s.io/leases get,update [byoc-operator]",
                ]),
                "{reason}"
            );
        } else {
            assert!(!args.iter().any(|a| a.starts_with("--lease")), "{reason}: {args:?}");
            assert!(!args.contains(&"--leader-election".to_string()), "{reason}: {args:?}");
            assert_eq!(strategy, "Recreate", "{reason}: two controllers never overlap");
            assert!(lease_roles.is_empty(), "{reason}: no Lease access without leader election");
        }
    }
}

#[test]
fn rbac_grants_exactly_what_the_controller_uses_when_watching_all_namespaces() {
    let docs = rendered_documents(&[], &[]);
    let mut expected = set(&CLUSTER_SCOPED_GRANTS);
    expected.extend(set(&NAMESPACED_GRANTS));
    expected.insert(SECRETS_GRANT.to_string());
    assert_eq!(cluster_role_grants(&docs), expected);
    assert!(role_grants(&docs).is_empty(), "no Role with one replica in cluster-wide mode");
    let binding: ClusterRoleBinding = one_of(&docs, "ClusterRoleBinding");
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.namespace.as_deref()),
        ("ServiceAccount", Some(NAMESPACE))
    );
    assert_eq!(binding.role_ref.name, format!("{RELEASE}-byoc-operator"));
}

#[test]
fn no_access_to_secrets_is_granted_when_secret_env_is_off() {
    for (namespaced, values) in [
        (false, vec!["secretEnv=false"]),
        (true, vec!["secretEnv=false", "rbac.namespaced=true", "watchNamespaces={a,b}"]),
    ] {
        let docs = rendered_documents(&[], &values);
        let mut all = cluster_role_grants(&docs);
        for (_, _, grants) in role_grants(&docs) {
            all.extend(grants);
        }
        assert!(!all.iter().any(|g| g.contains("secrets")), "namespaced={namespaced}: {all:?}");
        assert!(args(&docs).contains(&"--secret-env=false".to_string()));
        assert!(!all.is_empty(), "namespaced={namespaced}: the controller still gets the rest");
    }
    let on = rendered_documents(&[], &["secretEnv=true"]);
    assert!(cluster_role_grants(&on).contains(SECRETS_GRANT), "secrets are readable when on");
}

#[test]
fn namespaced_mode_grants_namespaced_resources_in_a_role_per_watched_namespace() {
    let docs = rendered_documents(&["ci/namespaced-values.yaml"], &["secretEnv=true"]);
    assert_eq!(
        cluster_role_grants(&docs),
        set(&CLUSTER_SCOPED_GRANTS),
        "the ClusterRole keeps only the cluster-scoped resources"
    );
    let mut namespaced = set(&NAMESPACED_GRANTS);
    namespaced.insert(SECRETS_GRANT.to_string());
    let roles = role_grants(&docs);
    for watched in ["team-a", "team-b"] {
        let (_, name, grants) = roles
            .iter()
            .find(|(ns, _, g)| ns == watched && g.iter().any(|g| g.contains("cloudservices")))
            .unwrap_or_else(|| panic!("no Role for CloudServices in {watched}: {roles:?}"));
        assert_eq!(*grants, namespaced, "{watched}");
        let bound = all_of::<RoleBinding>(&docs, "RoleBinding").into_iter().any(|b| {
            b.metadata.namespace.as_deref() == Some(watched)
                && b.role_ref.name == *name
                && b.subjects.iter().flatten().any(|s| s.namespace.as_deref() == Some(NAMESPACE))
        });
        assert!(bound, "the Role in {watched} is bound to the controller's ServiceAccount");
    }
    let events_only = set(&["core/events create,patch", "events.k8s.io/events create,patch"]);
    assert!(
        roles.iter().any(|(ns, _, g)| ns == "default" && *g == events_only),
        "Events about CloudAccounts are recorded in default: {roles:?}"
    );
    assert!(
        roles.iter().all(|(ns, _, _)| ["team-a", "team-b", "default"].contains(&ns.as_str())),
        "no Role outside the watched namespaces: {roles:?}"
    );
    assert!(args(&docs).contains(&"--namespaces=team-a,team-b".to_string()));
}

#[test]
fn namespaced_mode_grants_cloud_account_events_through_the_watched_role_when_default_is_watched() {
    let docs = rendered_documents(&[], &["rbac.namespaced=true", "watchNamespaces={default,b}"]);
    let roles = role_grants(&docs);
    let in_default: Vec<_> = roles.iter().filter(|(ns, _, _)| ns == "default").collect();
    assert_eq!(in_default.len(), 1, "one Role in default, not a second one for Events: {roles:?}");
    assert!(in_default[0].2.contains("events.k8s.io/events create,patch"));
    assert!(in_default[0].2.contains("byoc.dev/cloudservices get,list,patch,watch"));
}

#[test]
fn namespaced_mode_without_namespaces_to_watch_is_refused() {
    let error = template(&[], &["rbac.namespaced=true"]).expect_err("must fail");
    assert!(error.contains("watchNamespaces"), "{error}");
}

#[test]
fn every_rbac_rule_in_the_templates_is_preceded_by_a_comment_saying_why() {
    let mut rules = 0;
    for entry in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("- apiGroups:") {
                rules += 1;
                let above = if i == 0 { "" } else { lines[i - 1].trim_start() };
                assert!(
                    above.starts_with("# "),
                    "{}:{}: the RBAC rule needs a comment above it saying why it exists",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    assert!(rules >= 11, "found only {rules} RBAC rules in the templates");
}

#[test]
fn values_that_break_the_schema_are_refused_at_render_time() {
    let cases: [(&str, &[&str], &str); 13] = [
        ("an unknown top-level key", &["replica=2"], "replica"),
        ("an unknown nested key", &["securityContext.runAsRoot=true"], "runAsRoot"),
        ("a log format the controller lacks", &["logFormat=xml"], "logFormat"),
        ("a replica count that is not a number", &["replicas=two"], "replicas"),
        ("no concurrency", &["concurrency=0"], "concurrency"),
        ("a resync interval that is not a duration", &["resyncInterval=often"], "resyncInterval"),
        ("a namespace that is not a DNS label", &["watchNamespaces={Team_A}"], "watchNamespaces"),
        ("an unknown pull policy", &["image.pullPolicy=Sometimes"], "pullPolicy"),
        ("a privileged port", &["healthPort=80"], "healthPort"),
        ("a malformed digest", &["image.digest=latest"], "digest"),
        ("a tag in the repository", &["image.repository=ghcr.io/acme/byoc:0.1.0"], "repository"),
        ("a flag without dashes", &["extraArgs={verbose}"], "extraArgs"),
        (
            "both PDB limits",
            &["podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=1"],
            "minAvailable",
        ),
    ];
    for (reason, values, field) in cases {
        match template(&[], values) {
            Ok(_) => panic!("{reason}: {values:?} was accepted"),
            Err(error) => {
                assert!(error.contains(field), "{reason}: error does not name {field}: {error}")
            }
        }
    }
}

#[test]
fn values_at_the_edges_of_the_schema_are_accepted() {
    let cases: [(&str, &[&str]); 6] = [
        ("the controller scaled to zero", &["replicas=0"]),
        ("a compound duration", &["resyncInterval=1h30m"]),
        ("text logs", &["logFormat=text"]),
        (
            "a percentage disruption budget",
            &["podDisruptionBudget.enabled=true", "podDisruptionBudget.maxUnavailable=50%"],
        ),
        ("a pinned tag", &["image.tag=v0.1.0-rc.1"]),
        (
            "an existing service account",
            &["serviceAccount.create=false", "serviceAccount.name=ops"],
        ),
    ];
    for (reason, values) in cases {
        if let Err(error) = template(&[], values) {
            panic!("{reason}: {values:?} was refused: {error}");
        }
    }
}

#[test]
fn every_object_the_values_schema_defines_is_closed() {
    fn walk(path: &str, node: &Value, closed: &mut usize) {
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            assert_eq!(
                node.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "{path} defines properties but accepts unknown ones"
            );
            *closed += 1;
            for (name, child) in props {
                walk(&format!("{path}.{name}"), child, closed);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(child) = node.get(key).filter(|c| c.is_object()) {
                walk(&format!("{path}[]"), child, closed);
            }
        }
    }
    let text = std::fs::read_to_string(chart_dir().join("values.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let mut closed = 0;
    walk("values", &schema, &mut closed);
    for (name, definition) in schema["definitions"].as_object().unwrap() {
        walk(&format!("definitions.{name}"), definition, &mut closed);
    }
    assert!(closed >= 20, "only {closed} closed objects in the schema");
}

#[test]
fn probes_and_the_metrics_service_reach_the_health_port() {
    let docs = rendered_documents(&[], &["healthPort=9443"]);
    let container = controller(&docs);
    let port = &container.ports.clone().unwrap()[0];
    assert_eq!(port.container_port, 9443);
    let port_name = port.name.clone().unwrap();
    for (probe, path) in [
        (container.liveness_probe.unwrap(), "/healthz"),
        (container.readiness_probe.unwrap(), "/readyz"),
    ] {
        let get = probe.http_get.unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::String(port_name.clone()));
    }
    let service: Service = one_of(&docs, "Service");
    let spec = service.spec.unwrap();
    let deployment: Deployment = one_of(&docs, "Deployment");
    let pod_labels = deployment.spec.unwrap().template.metadata.unwrap().labels.unwrap();
    for (key, value) in spec.selector.unwrap() {
        assert_eq!(pod_labels.get(&key), Some(&value), "the Service selects the controller pods");
    }
    assert_eq!(spec.ports.unwrap()[0].target_port, Some(IntOrString::String(port_name)));
}

#[test]
fn every_object_carries_the_standard_labels() {
    let docs = rendered_documents(&["ci/hardened-values.yaml"], &[]);
    for doc in docs.iter().filter(|d| d["kind"] != "CustomResourceDefinition") {
        let labels = &doc["metadata"]["labels"];
        for key in [
            "helm.sh/chart",
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
        ] {
            assert!(
                labels[key].is_string(),
                "{} {} lacks {key}",
                doc["kind"],
                doc["metadata"]["name"]
            );
        }
        assert_eq!(labels["app.kubernetes.io/instance"], RELEASE);
    }
}

#[test]
fn the_image_defaults_to_the_app_version_and_a_digest_pins_it() {
    let docs = rendered_documents(&[], &[]);
    let published = "ghcr.io/byoc-dev/byoc-operator";
    let expected = format!("{published}:{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(controller(&docs).image.as_deref(), Some(expected.as_str()));
    let digest = format!("sha256:{}", "a".repeat(64));
    let docs = rendered_documents(&[], &["image.tag=ignored", &format!("image.digest={digest}")]);
    assert_eq!(controller(&docs).image, Some(format!("{published}@{digest}")));
}

#[test]
fn the_hardened_ci_values_add_a_disruption_budget_a_network_policy_and_a_service_monitor() {
    let docs = rendered_documents(&["ci/hardened-values.yaml"], &[]);
    let budget: PodDisruptionBudget = one_of(&docs, "PodDisruptionBudget");
    let budget = budget.spec.unwrap();
    assert!(budget.max_unavailable.is_some() && budget.min_available.is_none());
    let deployment: Deployment = one_of(&docs, "Deployment");
    let selector = deployment.spec.unwrap().selector.match_labels;
    assert_eq!(budget.selector.unwrap().match_labels, selector);

    let monitor = docs.iter().find(|d| d["kind"] == "ServiceMonitor").expect("a ServiceMonitor");
    let service: Service = one_of(&docs, "Service");
    let service_port = service.spec.unwrap().ports.unwrap()[0].name.clone().unwrap();
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service_port.as_str());
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert!(args(&docs).contains(&"--leader-election".to_string()), "replicas: 2 elects a leader");
}

#[test]
fn the_network_policy_allows_dns_https_and_metrics_scrapes_only() {
    let docs = rendered_documents(&["ci/hardened-values.yaml"], &[]);
    let policy: NetworkPolicy = one_of(&docs, "NetworkPolicy");
    let spec = policy.spec.unwrap();
    assert_eq!(spec.policy_types, Some(vec!["Ingress".into(), "Egress".into()]));
    let ingress = spec.ingress.unwrap();
    assert_eq!(ingress.len(), 1, "one ingress rule: the metrics port");
    let ports: Vec<String> = ingress[0]
        .ports
        .iter()
        .flatten()
        .map(|p| format!("{:?}", p.port.clone().unwrap()))
        .collect();
    assert_eq!(ports, ["Int(8080)"]);
    assert!(ingress[0].from.is_some(), "the hardened values restrict who scrapes");

    let mut egress_ports = BTreeSet::new();
    for rule in spec.egress.unwrap() {
        for port in rule.ports.iter().flatten() {
            let number = format!("{:?}", port.port.clone().unwrap());
            egress_ports.insert(format!("{}/{number}", port.protocol.clone().unwrap_or_default()));
        }
    }
    assert_eq!(
        egress_ports,
        set(&["TCP/Int(443)", "TCP/Int(53)", "UDP/Int(53)", "TCP/Int(6443)", "TCP/Int(80)"]),
        "DNS, HTTPS, the API server and the Pod Identity agent; nothing else"
    );
}

#[test]
fn the_controller_accepts_the_arguments_every_values_file_renders() {
    use clap::Parser;
    let mut files: Vec<Option<String>> = vec![None];
    files.extend(ci_values_files().into_iter().map(Some));
    for file in files {
        let values: Vec<&str> = file.iter().map(String::as_str).collect();
        let docs = rendered_documents(&values, &[]);
        let mut argv = vec!["byoc".to_string()];
        argv.extend(args(&docs));
        match byoc::cli::Cli::try_parse_from(&argv) {
            Ok(cli) => assert!(
                matches!(cli.command, byoc::cli::Command::Controller(_)),
                "{file:?}: {argv:?}"
            ),
            Err(e) => {
                panic!("{file:?}: the controller refuses the chart's arguments {argv:?}:\n{e}")
            }
        }
    }
}

/// The NOTES `helm install` prints, with `--set` assignments. `helm template` leaves NOTES.txt
/// out (and Helm 3's `install --dry-run` wants a cluster), so a copy of the chart renders it into
/// a ConfigMap of its own.
fn install_notes(set: &[&str]) -> String {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("notes-{}", std::process::id()))
        .join("byoc-operator");
    let _ = std::fs::remove_dir_all(&dir);
    copy(&chart_dir(), &dir);
    let show = "templates/zz-notes.yaml";
    std::fs::write(
        dir.join(show),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  \
         notes: {{ include \"byoc-operator/templates/NOTES.txt\" . | quote }}\n",
    )
    .unwrap();
    let chart = dir.display().to_string();
    let mut args = vec!["template", RELEASE, &chart, "--namespace", NAMESPACE, "--show-only", show];
    for assignment in set {
        args.extend(["--set", assignment]);
    }
    let output = run_helm(&args).unwrap_or_else(|e| panic!("rendering NOTES.txt: {e}"));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    let config_map: Value = serde_saphyr::from_str(&output).unwrap();
    config_map["data"]["notes"].as_str().expect("the rendered NOTES").to_string()
}

/// Each `cosign verify` in the NOTES: (what it verifies, its issuer, its identity regexp).
fn cosign_verifications(notes: &str) -> Vec<(String, String, String)> {
    let joined = notes.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| line.trim().strip_prefix("cosign verify "))
        .map(|command| {
            let words: Vec<&str> = command.split_whitespace().collect();
            let flag = |name: &str| {
                let at = words.iter().position(|w| *w == name).unwrap_or_else(|| {
                    panic!("cosign verify {command} lacks {name}");
                });
                words[at + 1].trim_matches('\'').to_string()
            };
            let issuer = flag("--certificate-oidc-issuer");
            (words[0].to_string(), issuer, flag("--certificate-identity-regexp"))
        })
        .collect()
}

#[test]
fn the_notes_install_from_the_published_chart_and_verify_the_release_signatures() {
    let version = env!("CARGO_PKG_VERSION");
    let digest = format!("sha256:{}", "b".repeat(64));
    let fork = ["image.repository=ghcr.io/acme/byoc-operator", &format!("image.digest={digest}")];
    let own = ["image.repository=registry.example.com/platform/byoc-operator"];
    let cases: [(&str, &[&str], &str, Option<String>); 3] = [
        (
            "the published image",
            &[],
            "byoc-dev",
            Some(format!("ghcr.io/byoc-dev/byoc-operator:{version}")),
        ),
        (
            "a fork's release, pinned by digest",
            &fork,
            "acme",
            Some(format!("ghcr.io/acme/byoc-operator@{digest}")),
        ),
        ("an image built in-house, not signed by a release", &own, "byoc-dev", None),
    ];
    let identity = |owner: &str, workflow: &str, git_ref: &str| {
        format!("https://github.com/{owner}/byoc-operator/.github/workflows/{workflow}@{git_ref}")
    };
    for (reason, set, owner, image) in cases {
        let notes = install_notes(set);
        let chart = format!("oci://ghcr.io/{owner}/charts/byoc-operator");
        let install = format!("helm install byoc-operator {chart} --version {version}");
        assert!(
            notes.replace("\\\n", " ").contains(&install),
            "{reason}: no `{install}`:\n{notes}"
        );
        assert!(notes.contains("--server-side -f"), "{reason}: the CRDs go first on upgrade");

        let verified = cosign_verifications(&notes);
        let mut subjects: Vec<String> = verified.iter().map(|v| v.0.clone()).collect();
        let mut expected: Vec<String> = image.into_iter().collect();
        expected.push(format!("ghcr.io/{owner}/charts/byoc-operator:{version}"));
        subjects.sort();
        expected.sort();
        assert_eq!(subjects, expected, "{reason}");
        for (subject, issuer, pattern) in verified {
            assert_eq!(issuer, "https://token.actions.githubusercontent.com", "{subject}");
            let regex = regex::Regex::new(&pattern).unwrap();
            let tag = format!("refs/tags/v{version}");
            assert!(regex.is_match(&identity(owner, "release.yml", &tag)), "{subject}: {pattern}");
            for (who, stranger) in [
                ("another owner", identity("mallory", "release.yml", &tag)),
                ("another workflow", identity(owner, "ci.yml", &tag)),
                ("a branch", identity(owner, "release.yml", "refs/heads/main")),
                ("a look-alike host", format!("https://github.community/{owner}/x")),
            ] {
                assert!(!regex.is_match(&stranger), "{subject}: {pattern} accepts {who}");
            }
        }
    }
    // The identity names the workflow that signs: it exists and runs on v* tags.
    let workflow = std::fs::read_to_string(repo_root().join(".github/workflows/release.yml"))
        .expect(".github/workflows/release.yml");
    assert!(workflow.contains("tags: [\"v*\"]"), "the release workflow runs on v* tags");
    assert!(workflow.matches("cosign sign --yes").count() >= 2, "it signs the image and the chart");
}
