//! Running the Helm chart in `charts/byoc-operator`: finds a `helm` binary (the `HELM` variable, or
//! `scripts/lib/get-helm`, which takes the one on PATH or installs a pinned one into `.bin/`),
//! renders the chart and parses what it renders. Does IO: runs helm as a child process.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;

use super::manifests::repo_root;

/// The release name every render uses.
pub const RELEASE: &str = "byoc";
/// The namespace every render installs into.
pub const NAMESPACE: &str = "byoc-system";

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/byoc-operator")
}

/// A `helm` that runs. Panics with what to do when there is none: the chart tests never skip.
pub fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(find_helm)
}

fn find_helm() -> PathBuf {
    if let Some(path) = std::env::var_os("HELM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let runs = Command::new(&path).arg("version").output().is_ok_and(|o| o.status.success());
        assert!(runs, "HELM={} does not run `helm version`", path.display());
        return path;
    }
    let script = repo_root().join("scripts/lib/get-helm");
    let output = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last().filter(|_| output.status.success()) {
        Some(path) => PathBuf::from(path.trim()),
        None => panic!(
            "the chart tests need helm 3 or 4: none is on PATH and {} could not install one:\n{}\n\
             Install helm (https://helm.sh/docs/intro/install/) or set HELM=/path/to/helm",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Runs helm with `args`; Ok(stdout) when it succeeds, Err(stdout and stderr) when it fails.
pub fn run_helm(args: &[&str]) -> Result<String, String> {
    let output = Command::new(helm())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", helm().display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)))
    }
}

/// `helm template` of the chart with the CRDs, with values files (relative to the chart) and
/// `--set` assignments; the YAML stream it prints, or helm's error.
pub fn template(values_files: &[&str], set: &[&str]) -> Result<String, String> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        RELEASE,
        chart.to_str().expect("the repository path is UTF-8"),
        "--namespace",
        NAMESPACE,
        "--include-crds",
    ];
    let files: Vec<String> =
        values_files.iter().map(|f| chart.join(f).display().to_string()).collect();
    for file in &files {
        args.extend(["--values", file]);
    }
    for assignment in set {
        args.extend(["--set", assignment]);
    }
    run_helm(&args)
}

/// Every document the chart renders (CRDs included), parsed; panics when rendering or parsing
/// fails. This is what a test applies to an API server.
pub fn rendered_documents(values_files: &[&str], set: &[&str]) -> Vec<Value> {
    let yaml = template(values_files, set)
        .unwrap_or_else(|e| panic!("helm template {values_files:?} {set:?} failed:\n{e}"));
    parse_documents(&yaml)
}

/// Parses a YAML stream into its non-empty documents.
pub fn parse_documents(yaml: &str) -> Vec<Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(yaml)
        .unwrap_or_else(|e| panic!("the rendered chart is not valid YAML: {e}\n{yaml}"));
    documents.into_iter().filter(|d| !d.is_null()).collect()
}
