//! The corpus: realistic Compose projects under `corpus/<case>/`, each converted with fixed
//! options and compared with its golden `expected.yaml` (or `expected-error.txt`);
//! `BYOC_UPDATE_GOLDEN=1` rewrites them. Every CloudService produced is checked as the API server
//! and `byoc` would check it. Reads the corpus; writes only the golden files when asked.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{Converted, Options, SecretFrom, convert, render};
use crate::api::{CloudService, fargate, patterns};

/// The corpus of Compose projects, checked in under `tests/data/compose/corpus`: relative to the
/// package root, where tests run, so the golden files name no machine's paths.
fn corpus_dir() -> PathBuf {
    PathBuf::from("tests/data/compose/corpus")
}

fn corpus_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    cases.sort();
    cases
}

/// The fixed options, with the case's `test-environment.txt` as the process environment.
fn options(case: &Path, secret_values: bool) -> Options {
    let environment = std::fs::read_to_string(case.join("test-environment.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Options {
        account: "demo".into(),
        namespace: "shop".into(),
        project: None,
        load_balancer: "public".into(),
        git: None,
        environment,
        secret_values,
        private: true,
    }
}

fn converted(case: &Path) -> Result<Converted, super::ComposeError> {
    convert(&case.join("compose.yaml"), &options(case, false))
}

#[test]
fn every_corpus_case_converts_to_its_golden_file() {
    let update = std::env::var_os("BYOC_UPDATE_GOLDEN").is_some();
    let cases = corpus_cases();
    assert!(cases.len() >= 8, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let (file, actual, stale) = match converted(&case) {
            Ok(c) => ("expected.yaml", render(&c), "expected-error.txt"),
            Err(e) => ("expected-error.txt", format!("{e}\n"), "expected.yaml"),
        };
        let golden = case.join(file);
        if update {
            std::fs::write(&golden, &actual).expect("write golden file");
            let _ = std::fs::remove_file(case.join(stale));
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}: differs\n--- expected\n{expected}\n--- actual\n{actual}",
                golden.display()
            )),
            Err(_) => {
                failures.push(format!("{}: missing; actual output:\n{actual}", golden.display()))
            }
        }
        assert!(!case.join(stale).exists(), "{}: stale golden file", case.join(stale).display());
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with BYOC_UPDATE_GOLDEN=1 to accept)",
        failures.join("\n\n")
    );
}

#[test]
fn every_converted_service_round_trips_and_passes_the_api_checks() {
    let mut checked = 0;
    for case in corpus_cases() {
        let Ok(c) = converted(&case) else { continue };
        for s in &c.services {
            check_service(s);
            checked += 1;
        }
        // What kubectl would read back from the rendered file: only known fields, same objects.
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&render(&c)).expect("rendered YAML parses");
        let services: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "CloudService").collect();
        assert_eq!(services.len(), c.services.len());
        for (doc, s) in services.into_iter().zip(&c.services) {
            let unknown = crate::api::unknown_fields::unknown_fields("CloudService", doc);
            assert!(unknown.is_empty(), "{}: {unknown:?}", case.display());
            let back: CloudService = serde_json::from_value(doc.clone()).expect("deserializes");
            assert_eq!(back.spec, s.spec);
            assert_eq!(back.metadata, s.metadata);
        }
    }
    assert!(checked >= 15, "only {checked} services checked");
}

fn is(pattern: &str, value: &str) -> bool {
    regex::Regex::new(pattern).expect("pattern").is_match(value)
}

/// The CRD's schema and CEL rules that a converted service could break.
fn check_service(s: &CloudService) {
    let json = serde_json::to_value(s).expect("serializes");
    let back: CloudService = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back.spec, s.spec);
    let name = s.metadata.name.clone().unwrap_or_default();
    let spec = &s.spec;
    assert!(is(patterns::DNS_LABEL, &name) && name.len() <= 63 && !name.contains("--"), "{name}");
    assert!(is(patterns::OBJECT_NAME, &spec.account_ref.name));
    fargate::check_size(&spec.cpu, &spec.memory).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(is(fargate::CPU_PATTERN, &spec.cpu) && is(fargate::MEMORY_PATTERN, &spec.memory));
    assert!((0..=1000).contains(&spec.replicas));
    assert_ne!(spec.image.is_some(), spec.build.is_some(), "{name}: image xor build");
    if let Some(image) = &spec.image {
        assert!(is(patterns::IMAGE, image), "{image}");
    }
    if let Some(b) = &spec.build {
        assert_ne!(b.git.is_some(), b.context.is_some(), "{name}: git xor context");
        if let Some(g) = &b.git {
            assert!(is(patterns::GIT_URL, &g.url), "{}", g.url);
        }
        for p in b.path.iter().chain([&b.dockerfile]) {
            assert!(is(patterns::RELATIVE_PATH, p) && !p.contains(".."), "{p}");
        }
        assert!(b.args.iter().all(|a| is(patterns::BUILD_ARG_NAME, &a.name)));
    }
    let mut port_names: Vec<&str> = spec.ports.iter().map(|p| p.name.as_str()).collect();
    for p in &spec.ports {
        assert!(is(patterns::PORT_NAME, &p.name) && p.name.len() <= 15, "{}", p.name);
        assert!((1..=65535).contains(&p.container_port));
    }
    let has_port = |n: &str| spec.ports.iter().any(|p| p.name == n);
    port_names.dedup();
    assert_eq!(port_names.len(), spec.ports.len(), "{name}: unique port names");
    let mut env_names: Vec<&str> = spec.env.iter().map(|e| e.name.as_str()).collect();
    for e in &spec.env {
        assert!(is(patterns::ENV_NAME, &e.name), "{}", e.name);
        assert_ne!(e.value.is_some(), e.value_from.is_some());
        if let Some(f) = &e.value_from {
            assert!(is(patterns::OBJECT_NAME, &f.secret_key_ref.name));
        }
    }
    env_names.dedup();
    assert_eq!(env_names.len(), spec.env.len(), "{name}: unique, sorted env names");
    if let Some(i) = &spec.ingress {
        assert!(has_port(&i.port) && is(patterns::DNS_LABEL, &i.load_balancer));
        assert!((1..=5).contains(&(i.hosts.len() + i.paths.len())), "{name}: hosts and paths");
        assert!(i.hosts.iter().all(|h| is(patterns::HOST, h)), "{:?}", i.hosts);
        assert!(i.paths.iter().all(|p| is(patterns::PATH_PATTERN, p)), "{:?}", i.paths);
    }
    if let Some(h) = &spec.health_check {
        assert!(is(patterns::HTTP_PATH, &h.path), "{}", h.path);
        assert!(h.port.as_deref().is_none_or(has_port));
        assert!((5..=300).contains(&h.interval_seconds) && (2..=120).contains(&h.timeout_seconds));
        assert!(h.timeout_seconds < h.interval_seconds);
        assert!(
            (2..=10).contains(&h.unhealthy_threshold)
                && (0..=7200).contains(&h.grace_period_seconds)
        );
    }
    if let Some(p) = &spec.private {
        assert!(!spec.ports.is_empty(), "{name}: private needs ports");
        assert!(p.name.as_deref().is_none_or(|n| is(patterns::PRIVATE_NAME, n)));
    }
    if let Some(a) = &spec.autoscaling {
        assert!(a.min_replicas <= a.max_replicas);
        assert!(a.target_requests_per_task.is_none() || spec.ingress.is_some());
    }
}

#[test]
fn secret_values_go_into_secret_manifests_and_nowhere_else() {
    let case = &corpus_dir().join("three-tier");
    let with = convert(&case.join("compose.yaml"), &options(case, true)).expect("converts");
    assert_eq!(with.secrets.len(), 1);
    let data: BTreeMap<String, String> = with.secrets[0].string_data.clone().unwrap_or_default();
    assert_eq!(data.get("value").map(String::as_str), Some("correct-horse-battery-staple\n"));
    assert_eq!(with.secrets[0].metadata.name.as_deref(), Some("shop-db-password"));
    assert!(render(&with).contains("# This file holds secret values: do not commit it."));
    for case in corpus_cases() {
        let Ok(c) = converted(&case) else { continue };
        assert!(c.secrets.is_empty(), "no Secret manifests without secret values");
        let out = render(&c);
        for s in &c.secret_sources {
            if let SecretFrom::File(f) = &s.from {
                let value = std::fs::read_to_string(case.join(f)).expect("secret file");
                assert!(
                    !out.contains(value.trim()),
                    "{}: a secret value in the output",
                    case.display()
                );
            }
        }
    }
}

#[test]
fn environment_secrets_need_their_variable_when_values_are_asked_for() {
    let case = &corpus_dir().join("long-syntax");
    let err = convert(&case.join("compose.yaml"), &options(case, true)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "secrets.stripe_api_key.environment: variable STRIPE_API_KEY is not set; set it, or define the secret with file"
    );
    let mut opts = options(case, true);
    opts.environment.insert("STRIPE_API_KEY".into(), "sk_test_123".into());
    let c = convert(&case.join("compose.yaml"), &opts).expect("converts");
    let names: Vec<&str> = c.secrets.iter().filter_map(|s| s.metadata.name.as_deref()).collect();
    assert_eq!(
        names,
        ["payments-ledger-key", "payments-stripe-api-key"],
        "no manifest for the external secret"
    );
}
