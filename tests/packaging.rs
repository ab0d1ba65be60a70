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

/// The builder stage's name and working directory, the `RUN` that builds the binary, and every
/// instruction with the stage it belongs to.
struct DockerBuild {
    stage: String,
    workdir: String,
    run: String,
    instructions: Vec<(String, String, String)>,
}

/// How the image builds the binary: `cargo build` through cargo-auditable, which embeds the list
/// of crates in the binary for the image's SBOM.
const CARGO_BUILD: &str = "cargo auditable build";

fn docker_build() -> DockerBuild {
    let mut build = None;
    let mut instructions = Vec::new();
    let (mut stage, mut workdir) = (String::new(), String::from("/"));
    for (keyword, args) in dockerfile_instructions() {
        match keyword.as_str() {
            "FROM" => {
                stage = args.split_whitespace().last().unwrap().to_string();
                workdir = String::from("/");
            }
            "WORKDIR" => workdir = args.clone(),
            "RUN" if args.contains(CARGO_BUILD) => {
                build = Some((stage.clone(), workdir.clone(), args.clone()))
            }
            _ => {}
        }
        instructions.push((stage.clone(), keyword, args));
    }
    let (stage, workdir, run) =
        build.unwrap_or_else(|| panic!("a stage runs {CARGO_BUILD}, so the SBOM lists the crates"));
    DockerBuild { stage, workdir, run, instructions }
}

/// The word after `flag` in a shell command, without quotes.
fn argument_of<'a>(command: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = command.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next().map(|w| w.trim_matches('"'))
}

#[test]
fn the_dockerfile_copies_the_binary_that_cargo_build_release_produces() {
    let bin = binary_name();
    let build = docker_build();
    for (_, keyword, args) in &build.instructions {
        if keyword == "ENV" || keyword == "ARG" {
            assert!(
                !args.contains("CARGO_TARGET_DIR") && !args.contains("CARGO_BUILD_TARGET"),
                "the Dockerfile moves cargo's output directory: {args}"
            );
        }
    }
    let cargo = &build.run[build.run.find(CARGO_BUILD).unwrap()..];
    let cargo = cargo.split("&&").next().unwrap();
    assert!(cargo.contains("--release") && cargo.contains("--locked"), "{cargo}");
    assert_eq!(argument_of(cargo, "--bin"), Some(bin.as_str()), "{cargo}");
    // With --target, cargo writes target/<triple>/release/<bin>; the same RUN copies it out of
    // the target directory (a cache mount, gone once the RUN ends).
    let triple = argument_of(cargo, "--target")
        .unwrap_or_else(|| panic!("the build names its target: {cargo}"));
    let built = format!("target/{triple}/release/{bin}");
    let copy = build.run.split("&&").map(str::trim).find(|c| c.starts_with("cp ")).expect("cp");
    let words: Vec<&str> = copy.split_whitespace().map(|w| w.trim_matches('"')).collect();
    assert_eq!(words.len(), 3, "cp SOURCE DEST: {copy}");
    assert_eq!(words[1], built, "the RUN copies what cargo built ({}): {copy}", build.workdir);
    let out = words[2];
    assert!(out.starts_with('/') && !out.starts_with("/src/target"), "{out}");

    let copied = build
        .instructions
        .iter()
        .find(|(_, k, a)| k == "COPY" && a.starts_with("--from="))
        .map(|(_, _, a)| a.clone())
        .expect("the runtime stage copies the binary from the builder");
    let parts: Vec<&str> = copied.split_whitespace().collect();
    assert_eq!(parts, [format!("--from={}", build.stage).as_str(), out, &format!("/{bin}")]);

    let instructions: Vec<(String, String)> =
        build.instructions.iter().map(|(_, k, a)| (k.clone(), a.clone())).collect();
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
fn the_builder_cross_compiles_each_platform_with_its_toolchain_and_linker() {
    let build = docker_build();
    let from = build
        .instructions
        .iter()
        .find(|(stage, k, _)| k == "FROM" && *stage == build.stage)
        .map(|(_, _, a)| a.clone())
        .unwrap();
    assert!(
        from.starts_with("--platform=$BUILDPLATFORM "),
        "the builder runs natively and cross-compiles, never under emulation: FROM {from}"
    );
    // Debian bookworm like the distroless cc-debian12 runtime: no newer glibc than it has.
    assert!(from.contains("-bookworm "), "{from}");
    let setup = build
        .instructions
        .iter()
        .find(|(stage, k, a)| *stage == build.stage && k == "RUN" && a.contains("TARGETARCH"))
        .map(|(_, _, a)| a.clone())
        .expect("a RUN maps TARGETARCH to a Rust target");
    let env: Vec<&str> = build
        .instructions
        .iter()
        .filter(|(stage, k, _)| *stage == build.stage && k == "ENV")
        .flat_map(|(_, _, a)| a.split_whitespace())
        .collect();
    let cases = [
        ("amd64", "x86_64-unknown-linux-gnu", "x86_64-linux-gnu", "gcc-x86-64-linux-gnu"),
        ("arm64", "aarch64-unknown-linux-gnu", "aarch64-linux-gnu", "gcc-aarch64-linux-gnu"),
    ];
    for (arch, triple, gnu, package) in cases {
        let arm = setup
            .split(";;")
            .find(|arm| arm.contains(&format!(" {arch})")))
            .unwrap_or_else(|| panic!("no case for TARGETARCH={arch}: {setup}"));
        assert!(arm.contains(&format!("target={triple}")), "{arch} builds {triple}: {arm}");
        assert!(arm.contains(package), "{arch} installs the cross compiler {package}: {arm}");
        let upper = triple.to_uppercase().replace('-', "_");
        let lower = triple.replace('-', "_");
        for setting in [
            format!("CARGO_TARGET_{upper}_LINKER={gnu}-gcc"),
            format!("CC_{lower}={gnu}-gcc"),
            format!("AR_{lower}={gnu}-ar"),
        ] {
            assert!(env.contains(&setting.as_str()), "{triple} needs ENV {setting}: {env:?}");
        }
    }
    assert!(setup.contains("rustup target add"), "{setup}");
}

#[test]
fn the_builder_uses_the_rust_version_cargo_toml_requires() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let line = manifest.lines().find(|l| l.starts_with("rust-version")).expect("rust-version");
    let required = line.split('"').nth(1).unwrap();
    let build = docker_build();
    let from = build.instructions.iter().find(|(s, k, _)| k == "FROM" && *s == build.stage);
    let image = from.unwrap().2.split_whitespace().find(|w| w.starts_with("rust:")).unwrap();
    assert_eq!(
        image,
        format!("rust:{required}-bookworm"),
        "the image builds with the Rust that Cargo.toml's rust-version names"
    );
}

#[test]
fn the_dockerignore_keeps_the_build_inputs_and_drops_the_target_directory() {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> =
        ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(patterns.contains(&"/target"), "{patterns:?}");
    for input in ["Cargo.toml", "Cargo.lock", "build.rs", "/build.rs", "src", "/src", "*"] {
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
