//! How the operator is shipped and installed, outside the chart itself: the Dockerfile builds and
//! runs the binary Cargo.toml names, and the GitOps examples (Argo CD, Flux) point at paths that
//! exist, carry values the chart's schema accepts and services the CRDs accept.

mod support;

use std::path::{Path, PathBuf};

use byoc::api::CloudService;
use serde_json::Value;
use support::{
    helm::{chart_dir, rendered_documents},
    manifests::{crd_schema, documents, repo_root},
};

/// The `name` of the `[[bin]]` target in Cargo.toml.
fn binary_name() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let bin = manifest.split("[[bin]]").nth(1).expect("Cargo.toml has a [[bin]] target");
    let name_line = bin.lines().find(|l| l.trim_start().starts_with("name")).expect("bin name");
    name_line.split('"').nth(1).expect("a quoted bin name").to_string()
}

/// Dockerfile instructions as (keyword, arguments), continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        match line.trim_end().strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                let trimmed = current.trim();
                if let Some((keyword, rest)) = trimmed.split_once(char::is_whitespace) {
                    instructions.push((keyword.to_uppercase(), rest.trim().to_string()));
                }
                current.clear();
            }
        }
    }
    instructions
}

#[test]
fn the_dockerfile_copies_the_binary_that_cargo_build_release_produces() {
    let bin = binary_name();
    let instructions = dockerfile_instructions();
    let mut builder = None; // (stage name, working directory)
    let mut stage = String::new();
    let mut workdir = String::from("/");
    let mut copied = None;
    for (keyword, args) in &instructions {
        match keyword.as_str() {
            "FROM" => {
                stage = args.split_whitespace().last().unwrap().to_string();
                workdir = String::from("/");
            }
            "WORKDIR" => workdir = args.clone(),
            "ENV" | "ARG" => assert!(
                !args.contains("CARGO_TARGET_DIR") && !args.contains("CARGO_BUILD_TARGET"),
                "the Dockerfile moves cargo's output directory: {args}"
            ),
            "RUN" if args.contains("cargo build") => {
                assert!(args.contains("--release") && args.contains("--locked"), "{args}");
                assert!(!args.contains("--target"), "a --target triple moves the binary: {args}");
                builder = Some((stage.clone(), workdir.clone()));
            }
            "COPY" if args.starts_with("--from=") => copied = Some(args.clone()),
            _ => {}
        }
    }
    let (stage, workdir) = builder.expect("a stage runs cargo build --release --locked");
    let built = format!("{}/target/release/{bin}", workdir.trim_end_matches('/'));
    let copy = copied.expect("the runtime stage copies the binary from the builder");
    let parts: Vec<&str> = copy.split_whitespace().collect();
    assert_eq!(parts, [format!("--from={stage}").as_str(), &built, &format!("/{bin}")], "{copy}");

    let last_from = instructions.iter().rev().find(|(k, _)| k == "FROM").unwrap();
    assert!(last_from.1.starts_with("gcr.io/distroless/cc-debian12:nonroot"), "{last_from:?}");
    let value = |keyword: &str| {
        instructions.iter().rev().find(|(k, _)| k == keyword).map(|(_, a)| a.as_str())
    };
    assert_eq!(value("ENTRYPOINT"), Some(format!("[\"/{bin}\"]").as_str()));
    assert_eq!(value("CMD"), Some("[\"controller\"]"), "the image runs the controller");
    assert_eq!(value("USER"), Some("65532:65532"), "the chart's runAsUser");
}

#[test]
fn the_dockerignore_keeps_the_build_inputs_and_drops_the_target_directory() {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> =
        ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(patterns.contains(&"/target"), "{patterns:?}");
    for input in ["Cargo.toml", "Cargo.lock", "src", "/src", "*"] {
        assert!(!patterns.contains(&input), "{input} is a build input but .dockerignore drops it");
    }
}

/// Every YAML document under `dir`, recursively, with its file.
fn documents_under(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut docs = documents(dir);
    let mut subdirs: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    subdirs.sort();
    for sub in subdirs {
        docs.extend(documents_under(&sub));
    }
    docs
}

fn gitops() -> Vec<(PathBuf, Value)> {
    documents_under(&repo_root().join("examples/gitops"))
}

fn find<'a>(docs: &'a [(PathBuf, Value)], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in examples/gitops"))
}

/// Renders the chart with an example's values, written to a file under the target directory.
fn render_with(values: &Value, example: &str) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("{example}-values.yaml"));
    std::fs::write(&file, serde_json::to_string(values).unwrap()).unwrap();
    rendered_documents(&[file.to_str().unwrap()], &[])
}

#[test]
fn the_argo_cd_application_installs_the_chart_with_values_the_schema_accepts() {
    let docs = gitops();
    let app = find(&docs, "Application", "byoc-operator");
    let source = &app["spec"]["source"];
    let path = source["path"].as_str().unwrap();
    assert_eq!(repo_root().join(path), chart_dir());
    let rendered = render_with(&source["helm"]["valuesObject"], "argocd");
    assert!(rendered.iter().any(|d| d["kind"] == "Deployment"));
    assert!(
        app["spec"]["syncPolicy"]["syncOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "ServerSideApply=true"),
        "the CRDs are too large for client-side apply's annotation"
    );
}

#[test]
fn the_flux_helm_release_installs_the_chart_from_the_git_repository() {
    let docs = gitops();
    let release = find(&docs, "HelmRelease", "byoc-operator");
    assert_eq!(release["apiVersion"], "helm.toolkit.fluxcd.io/v2");
    let chart = &release["spec"]["chart"]["spec"];
    let path = chart["chart"].as_str().unwrap().trim_start_matches("./");
    assert_eq!(repo_root().join(path), chart_dir());
    let source = &chart["sourceRef"];
    assert_eq!(source["kind"], "GitRepository");
    find(&docs, "GitRepository", source["name"].as_str().unwrap());
    for phase in ["install", "upgrade"] {
        assert_eq!(
            release["spec"][phase]["crds"], "CreateReplace",
            "{phase} keeps the CRDs current"
        );
    }
    let rendered = render_with(&release["spec"]["values"], "flux");
    assert!(rendered.iter().any(|d| d["kind"] == "Deployment"));
}

#[test]
fn the_flux_kustomizations_sync_existing_paths_and_wait_for_health() {
    let docs = gitops();
    let kustomizations: Vec<&Value> =
        docs.iter().map(|(_, d)| d).filter(|d| d["kind"] == "Kustomization").collect();
    let flux: Vec<&&Value> = kustomizations
        .iter()
        .filter(|d| d["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1")
        .collect();
    assert!(flux.len() >= 2, "the operator and the services");
    for k in &flux {
        let name = k["metadata"]["name"].as_str().unwrap();
        let path = k["spec"]["path"].as_str().unwrap().trim_start_matches("./");
        assert!(repo_root().join(path).is_dir(), "{name}: {path} does not exist");
        assert_eq!(k["spec"]["wait"], true, "{name} waits for kstatus health");
        find(&docs, "GitRepository", k["spec"]["sourceRef"]["name"].as_str().unwrap());
        for dependency in k["spec"]["dependsOn"].as_array().into_iter().flatten() {
            find(&docs, "Kustomization", dependency["name"].as_str().unwrap());
        }
    }
    let services = find(&docs, "Kustomization", "shop-services");
    assert_eq!(services["spec"]["dependsOn"][0]["name"], "byoc-operator");
}

#[test]
fn the_synced_services_directory_lists_every_file_and_holds_valid_cloud_services() {
    let dir = repo_root().join("examples/gitops/services");
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let kustomization: Value = serde_saphyr::from_str(&text).unwrap();
    let mut listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != "kustomization.yaml")
        .collect();
    present.sort();
    assert_eq!(listed, present, "kustomization.yaml lists every manifest in the directory");

    let schema = crd_schema("CloudService");
    let mut services = 0;
    for (file, doc) in documents(&dir).iter().filter(|(_, d)| d["kind"] == "CloudService") {
        serde_json::from_value::<CloudService>(doc.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(errors) = kube_cel::Validator::new().validate(&schema, doc, None) {
            panic!("{}: {errors:?}", file.display());
        }
        services += 1;
    }
    assert!(services >= 2, "the GitOps example syncs at least two services");
}

#[test]
fn the_argo_cd_health_checks_cover_both_kinds_and_read_the_kstatus_conditions() {
    let docs = gitops();
    let config = find(&docs, "ConfigMap", "argocd-cm");
    for kind in ["CloudService", "CloudAccount"] {
        let key = format!("resource.customizations.health.byoc.dev_{kind}");
        let script = config["data"][&key].as_str().unwrap_or_else(|| panic!("no {key}"));
        for needle in ["observedGeneration", "\"Stalled\"", "\"Ready\"", "Degraded", "Healthy"] {
            assert!(script.contains(needle), "{key} does not look at {needle}");
        }
    }
}
