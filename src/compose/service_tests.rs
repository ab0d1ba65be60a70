//! Whole conversions of small Compose files, one mapping rule per case.

use std::{collections::BTreeMap, path::Path};

use crate::api::{CloudService, Platform};
use crate::compose::{ComposeError, Converted, NoteKind, Options, project};

fn options() -> Options {
    Options {
        account: "demo".into(),
        namespace: "shop".into(),
        load_balancer: "public".into(),
        ..Options::default()
    }
}

fn run_with(yaml: &str, opts: &Options) -> Result<Converted, ComposeError> {
    let base = std::env::temp_dir().join("byoc-compose-service-tests-empty");
    let vars = project::variables(&base, &opts.environment)?;
    project::convert_text(yaml, Path::new("compose.yaml"), &base, "proj", &vars, opts)
}

fn run(yaml: &str) -> Converted {
    run_with(yaml, &options()).unwrap_or_else(|e| panic!("{e}"))
}

fn error(yaml: &str) -> String {
    run_with(yaml, &options()).map(|_| ()).unwrap_err().to_string()
}

fn only(c: &Converted) -> &CloudService {
    assert_eq!(c.services.len(), 1);
    &c.services[0]
}

fn note<'a>(c: &'a Converted, path: &str) -> Option<(NoteKind, &'a str)> {
    c.notes.iter().find(|n| n.path == path).map(|n| (n.kind, n.reason.as_str()))
}

#[test]
fn a_build_wins_over_an_image_with_a_note() {
    let c =
        run("services:\n  web:\n    image: acme/web:1\n    build: .\n    platform: linux/arm64\n");
    let s = only(&c);
    assert_eq!(s.spec.image, None);
    let build = s.spec.build.as_ref().unwrap();
    assert_eq!((build.context.as_deref(), build.platform), (Some("."), Platform::Arm64));
    let (kind, reason) = note(&c, "services.web.image").unwrap();
    assert_eq!(kind, NoteKind::Changed);
    assert!(reason.starts_with("acme/web:1 is not used"), "{reason}");
}

#[test]
fn names_become_dns_labels_and_other_services_are_told_the_new_name() {
    let c = run("services:\n  Order_API:\n    image: acme/orders:1\n    expose: [8080]\n");
    let s = only(&c);
    assert_eq!(s.metadata.name.as_deref(), Some("order-api"));
    assert_eq!(s.spec.private.as_ref().and_then(|p| p.name.as_deref()), Some("order-api"));
    let labels: &BTreeMap<String, String> = s.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["byoc.dev/compose-service"], "Order_API");
    assert_eq!(labels["byoc.dev/compose-project"], "proj");
    assert_eq!(
        note(&c, "services.Order_API").map(|n| n.1),
        Some(
            "named order-api in Kubernetes (a DNS label): the other services reach it as order-api, not as Order_API"
        )
    );
}

#[test]
fn command_and_entrypoint_strings_are_split_as_a_shell_would() {
    let c = run(
        "services:\n  w:\n    image: python:3\n    entrypoint: /bin/sh -c\n    command: \"echo 'a b' \\\"c\\\"\"\n",
    );
    let s = only(&c);
    assert_eq!(s.spec.command, ["/bin/sh", "-c"]);
    assert_eq!(s.spec.args, ["echo", "a b", "c"]);
}

#[test]
fn service_rules_that_cannot_hold_are_errors_naming_the_field() {
    let cases = [
        (
            "services:\n  w:\n    image: x\n    domainname: localhost\n    ports: ['80:80']\n",
            "services.w.domainname: \"localhost\" is not a host name",
        ),
        (
            "services:\n  w:\n    image: x\n    x-byoc: {hosts: [a.example.com]}\n",
            "services.w.x-byoc: hosts, paths and loadBalancer need a published port",
        ),
        (
            "services:\n  w:\n    image: x\n    x-byoc: {autoscaling: {minReplicas: 1, maxReplicas: 2, targetRequestsPerTask: 10}}\n",
            "services.w.x-byoc.autoscaling.targetRequestsPerTask: needs a port published",
        ),
        (
            "services:\n  w:\n    image: x\n    x-byoc: {private: {name: w.internal}}\n",
            "services.w.x-byoc.private: a private name needs a port",
        ),
        (
            "services:\n  w:\n    image: x\n    environment: {'1BAD': x}\n",
            "services.w.environment.1BAD: \"1BAD\" is not an environment variable name",
        ),
        (
            "services:\n  w:\n    image: x\n    secrets: [nope]\n",
            "services.w.secrets[0]: secret \"nope\" is not defined under the top-level secrets",
        ),
        (
            "services:\n  w:\n    image: x\n    environment: {PW: x}\n    secrets: [{source: pw, target: PW}]\nsecrets:\n  pw: {file: pw.txt}\n",
            "services.w.secrets[0]: provides the environment variable PW, which services.w.environment.PW sets too",
        ),
        (
            "services:\n  w:\n    image: x\n    command: \"echo 'unterminated\"\n",
            "services.w.command: unterminated single quote; quote it as a shell would",
        ),
        (
            "secrets:\n  pw: {file: a, environment: B}\nservices:\n  w: {image: x}\n",
            "secrets.pw: give exactly one of file, environment and external: true",
        ),
        (
            "services:\n  w:\n    image: x\n    ports: ['80:80']\n    x-byoc: {hosts: [a.b.com, b.b.com, c.b.com], paths: ['/a', '/b', '/c']}\n",
            "services.w.x-byoc: at most five hosts and paths",
        ),
    ];
    for (yaml, expected) in cases {
        let err = error(yaml);
        assert!(err.starts_with(expected), "{yaml}\n{err}");
    }
}

#[test]
fn compose_fields_that_map_differently_get_notes() {
    let c = run(
        "services:\n  w:\n    image: x\n    restart: \"no\"\n    domainname: w.example.com\n    entrypoint: []\n",
    );
    assert_eq!(note(&c, "services.w.restart").map(|n| n.0), Some(NoteKind::Changed));
    assert_eq!(
        note(&c, "services.w.domainname").map(|n| n.1),
        Some(
            "domainname needs a published port (ports: \"8080:8080\"); there is nothing to route to"
        )
    );
    assert!(note(&c, "services.w.entrypoint").is_some());
    let s = only(&c);
    assert!(s.spec.ingress.is_none() && s.spec.private.is_none());
}

#[test]
fn private_names_follow_the_option_and_x_byoc() {
    let yaml = "services:\n  a: {image: x, expose: [80]}\n  b: {image: x, expose: [80], x-byoc: {private: {name: b.shop}}}\n  c: {image: x, expose: [80], x-byoc: {private: false}}\n";
    let names = |c: &Converted| -> Vec<Option<String>> {
        c.services.iter().map(|s| s.spec.private.as_ref().and_then(|p| p.name.clone())).collect()
    };
    assert_eq!(names(&run(yaml)), [Some("a".into()), Some("b.shop".into()), None]);
    let off = run_with(yaml, &Options { private: false, ..options() }).unwrap();
    assert_eq!(names(&off), [None, Some("b.shop".into()), None]);
}

#[test]
fn the_caller_s_options_win_over_the_top_level_x_byoc_and_fill_in_when_empty() {
    let yaml = "x-byoc: {account: prod, namespace: store, loadBalancer: internet}\nservices:\n  w: {image: x, ports: ['80:80']}\n";
    let s = run(yaml).services.remove(0);
    assert_eq!(
        (s.spec.account_ref.name.as_str(), s.metadata.namespace.as_deref()),
        ("demo", Some("shop"))
    );
    let empty = Options::default();
    let s = run_with(yaml, &empty).unwrap().services.remove(0);
    assert_eq!(
        (s.spec.account_ref.name.as_str(), s.metadata.namespace.as_deref()),
        ("prod", Some("store"))
    );
    assert_eq!(s.spec.ingress.map(|i| i.load_balancer).as_deref(), Some("internet"));
    let err = run_with("services:\n  w: {image: x}\n", &empty).map(|_| ()).unwrap_err();
    assert!(
        err.to_string().starts_with("x-byoc.account: no CloudAccount given; pass --account NAME"),
        "{err}"
    );
    let defaults = run_with(
        "services:\n  w: {image: x}\n",
        &Options { account: "a".into(), ..Options::default() },
    )
    .unwrap();
    assert_eq!(defaults.services[0].metadata.namespace.as_deref(), Some("default"));
}

#[test]
fn the_project_name_comes_from_the_option_the_environment_the_file_or_the_directory() {
    let yaml = "name: From_File\nservices:\n  w: {image: x}\n";
    assert_eq!(run(yaml).project, "from-file");
    assert_eq!(run("services:\n  w: {image: x}\n").project, "proj");
    let env = Options {
        environment: BTreeMap::from([("COMPOSE_PROJECT_NAME".into(), "env".into())]),
        ..options()
    };
    assert_eq!(run_with(yaml, &env).unwrap().project, "env");
    let given = Options { project: Some("Given".into()), ..env };
    assert_eq!(run_with(yaml, &given).unwrap().project, "given");
}
