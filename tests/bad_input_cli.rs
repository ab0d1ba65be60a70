//! The bad input corpus (`tests/data/bad/`) through the `byoc` binary, against moto behind the AWS
//! behaviour layer, whose call log shows what reached AWS: `byoc plan` refuses every case with an
//! error naming the field and what to do, without a panic, before any AWS call when the files
//! alone show the problem and without a write in any case; `byoc delete` still works.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use byoc::{aws::is_write, desired::naming::fnv1a, oneshot, resources::account};
use support::{
    awslayer::Call,
    corpus::{self, Case, Cli, Placeholders},
    moto::World,
};

/// A directory of its own for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byoc-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn byoc(command: &str, w: &World, files: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_byoc"));
    cmd.arg(command);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    cmd.args(["--cluster-id", &w.cluster_id, "--endpoint-url", &w.endpoint])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// The corpus with this world's account, and the corpus's account manifest (its `crowded` load
/// balancer, its tags) written next to the cases.
fn corpus(w: &World, dir: &Path) -> (PathBuf, Vec<(Case, PathBuf)>) {
    let account = dir.join("account.yaml");
    std::fs::write(&account, corpus::corpus_account(&w.account_yaml)).unwrap();
    let placeholders =
        Placeholders { account: &w.account, namespace: "corpus", other_namespace: "corpus-other" };
    let cases = corpus::cases(&placeholders)
        .into_iter()
        .map(|case| {
            let file = dir.join(format!("{}.yaml", case.name));
            std::fs::write(&file, &case.text).unwrap();
            (case, file)
        })
        .collect();
    (account, cases)
}

/// What is wrong with one run's output and calls, if anything. `accepted` are the exit codes of
/// a run that goes through; `may_read`: whether it may call AWS at all.
fn judge(out: &Output, calls: &[Call], cli: &Cli, accepted: &[i32], may_read: bool) -> Vec<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let mut problems = Vec::new();
    if code == Some(101) || stderr.contains("panicked") {
        problems.push(format!("panicked: {stderr}"));
    }
    match cli {
        Cli::Refused(texts) => {
            if code != Some(1) {
                problems.push(format!("exit code {code:?}, expected 1"));
            }
            for text in texts.iter().filter(|t| !stderr.contains(t.as_str())) {
                problems.push(format!("the error does not say {text:?}: {stderr}"));
            }
        }
        Cli::Accepted => {
            if !code.is_some_and(|c| accepted.contains(&c)) {
                let stdout = String::from_utf8_lossy(&out.stdout);
                problems
                    .push(format!("exit code {code:?}, expected {accepted:?}: {stdout}{stderr}"));
            }
        }
    }
    if !may_read && !calls.is_empty() {
        problems.push(format!("AWS calls before the files were valid: {calls:?}"));
    }
    let writes: Vec<&Call> = calls.iter().filter(|c| is_write(&c.operation)).collect();
    if !writes.is_empty() {
        problems.push(format!("AWS writes: {writes:?}"));
    }
    problems
}

#[tokio::test]
async fn byoc_plan_refuses_every_bad_input_naming_the_field_and_never_writes_to_aws() {
    let w = World::with_layer("bad-cli-plan", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let dir = scratch("bad-cli-plan");
    let (account_file, cases) = corpus(&w, &dir);
    // The account's own resources exist, and its `crowded` load balancer holds 100 target
    // groups that are not ours.
    let m = oneshot::load(&account_file).unwrap();
    let spec = &m.accounts[&w.account].spec;
    let state = account::ensure(&w.aws, &w.account, spec, &w.cluster_id).await.unwrap();
    let listener = state.load_balancers["crowded"].listener_arn.clone().unwrap();
    let prefix = format!("x{:08x}", fnv1a(w.cluster_id.as_bytes()) as u32);
    let vpc = corpus::vpc_id(&w.account_yaml);
    corpus::crowd(&w.aws, &listener, &vpc, &prefix, 100).await;

    let mut failures = Vec::new();
    for (case, file) in &cases {
        let before = layer.calls().len();
        let out = byoc("plan", &w, &[&account_file, file]);
        let calls = layer.calls()[before..].to_vec();
        // The files alone show the problem unless the case needs context from AWS.
        let may_read = case.setup.is_some();
        for problem in judge(&out, &calls, &case.cli, &[0, 2], may_read) {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn byoc_delete_still_works_for_every_bad_input_it_can_read() {
    let w = World::with_layer("bad-cli-delete", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let dir = scratch("bad-cli-delete");
    let (account_file, cases) = corpus(&w, &dir);
    let mut failures = Vec::new();
    for (case, file) in &cases {
        let before = layer.calls().len();
        let out = byoc("delete", &w, &[&account_file, file]);
        let calls = layer.calls()[before..].to_vec();
        let expected = match &case.cli_delete {
            None => Cli::Accepted,
            Some(text) => Cli::Refused(vec![text.clone()]),
        };
        for problem in judge(&out, &calls, &expected, &[0], true) {
            failures.push(format!("{}: {problem}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
