//! `byoc compose`: the example application's committed manifests are what `convert` prints, and
//! `compose up` / `down` run a three-service Compose project (one service built from a local
//! context) through the one-shot engine against the AWS emulator: private names, autoscaling,
//! the Secret from a file, and nothing of ours left after `down`.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use support::moto::World;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn byoc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_byoc"))
        .args(args)
        .current_dir(cwd)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn the_example_applications_manifests_are_what_convert_prints() {
    let out = byoc(
        &[
            "compose",
            "convert",
            "-f",
            "examples/shop/compose.yaml",
            "--account",
            "demo",
            "-n",
            "shop",
            "--git-url",
            "https://github.com/example/byoc-operator.git",
            "--git-revision",
            "main",
        ],
        &repo_root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let committed =
        std::fs::read_to_string(repo_root().join("examples/shop/cloudservices.yaml")).unwrap();
    assert!(
        text(&out.stdout) == committed,
        "examples/shop/cloudservices.yaml is out of date; regenerate it with: byoc compose convert -f examples/shop/compose.yaml --account demo -n shop --git-url https://github.com/example/byoc-operator.git --git-revision main > examples/shop/cloudservices.yaml"
    );
}

#[test]
fn strict_refuses_a_project_with_unsupported_fields_naming_them() {
    let out = byoc(
        &[
            "compose",
            "convert",
            "-f",
            "tests/data/compose/corpus/node-postgres/compose.yaml",
            "--account",
            "demo",
            "--strict",
        ],
        &repo_root(),
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("--strict") && err.contains("volumes"), "{err}");
}

#[test]
fn convert_without_an_account_says_how_to_give_one() {
    let out = byoc(&["compose", "convert", "-f", "examples/shop/compose.yaml"], &repo_root());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("--account"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_up_runs_the_application_and_down_leaves_nothing() {
    let w = World::with_layer("compose-up", World::fast_layer());
    let dir = std::env::temp_dir().join(format!("byoc-compose-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let account = dir.join("account.yaml");
    let with_namespace = w.account_yaml.replacen(
        "spec:\n",
        &format!("spec:\n  serviceConnect: {{ namespace: {}.internal }}\n", w.account),
        1,
    );
    std::fs::write(&account, with_namespace).unwrap();
    let compose = repo_root().join("examples/shop/compose.yaml");
    let (compose, account) = (compose.to_str().unwrap(), account.to_str().unwrap());
    let common = [
        "-f",
        compose,
        "--account-file",
        account,
        "-n",
        &w.namespace,
        "--cluster-id",
        &w.cluster_id,
        "--endpoint-url",
        &w.endpoint,
    ];
    let run = |command: &[&str]| {
        let mut args = vec!["compose"];
        args.extend(command);
        args.extend(common);
        byoc(&args, &dir)
    };

    let plan = run(&["plan"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));
    let up = run(&["up", "-o", "yaml"]);
    let (stdout, stderr) = (text(&up.stdout), text(&up.stderr));
    assert!(up.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("privateAddresses:\n- api:8080"), "{stdout}");
    assert!(stdout.contains("autoscaling:") && stdout.contains("maxReplicas: 10"), "{stdout}");
    assert!(stdout.contains("phase: Succeeded"), "the web image is built: {stdout}");
    assert!(stderr.contains("note: services.api.secrets[0]: changed"), "{stderr}");
    let again = run(&["plan"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));

    let down = run(&["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let left = w.inventory().await;
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
