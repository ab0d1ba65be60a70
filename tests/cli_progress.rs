//! What `byoc plan | apply | delete` print, through the binary against moto behind the AWS
//! behaviour layer (rollouts take time, deleted services drain): `plan -o json` is a document CI
//! can read, `apply --wait` off a terminal prints a timestamped line per change and then the
//! summary table, `-o yaml` is still the status, and `delete --wait` ends with nothing left.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use byoc::{
    api::{CloudServiceStatus, PlannedAction, READY},
    progress::output::{DeletedDocument, PlanDocument, StatusDocument},
};
use support::{awslayer, moto::World};

const SERVICES: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: web, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.27
  ports: [{ name: http, containerPort: 80 }]
  replicas: 2
  healthCheck: { path: / }
  ingress: { loadBalancer: public, hosts: [shop.example.com], paths: ["/*"], port: http }
---
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: worker, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: busybox:1.36
  command: ["sh", "-c", "sleep 3600"]
"#;

fn byoc(w: &World, args: &[&str], files: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_byoc"));
    cmd.args(args);
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

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// The account and the services, written for the binary.
fn files(w: &World, test: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("byoc-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let account = dir.join("account.yaml");
    std::fs::write(&account, &w.account_yaml).unwrap();
    let services = dir.join("services.yaml");
    let yaml = SERVICES
        .replace("ACCOUNT", &w.account)
        .replace("namespace: shop", &format!("namespace: {}", w.namespace));
    std::fs::write(&services, yaml).unwrap();
    (dir, account, services)
}

/// The progress lines of one service: `HH:MM:SS <ns>/<name>: <rest>`, without the clock.
fn progress_of<'a>(stderr: &'a str, service: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| {
            let (clock, rest) = l.split_once(' ')?;
            let timestamped = clock.len() == 8
                && clock
                    .chars()
                    .enumerate()
                    .all(|(i, c)| if i == 2 || i == 5 { c == ':' } else { c.is_ascii_digit() });
            rest.strip_prefix(service)?.strip_prefix(": ").filter(|_| timestamped)
        })
        .collect()
}

/// A progress line without its elapsed time: `RollingOut, 1/2 tasks, rollout InProgress (3s) —
/// …` → `RollingOut, 1/2 tasks, rollout InProgress — …`.
fn without_elapsed(line: &str) -> String {
    match (line.find(" ("), line.find("s)")) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{}", &line[..open], &line[close + 2..])
        }
        _ => line.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_delete_show_progress_summaries_and_machine_readable_documents() {
    // Deleted services drain for 3 s, long enough to be seen whatever else deleting waits for.
    let layer =
        awslayer::Config { service_draining: Duration::from_secs(3), ..World::fast_layer() };
    let w = World::with_layer("cli-progress", layer);
    let (dir, account, services) = files(&w, "cli-progress");
    let both = [account.as_path(), services.as_path()];
    let web = format!("{}/web", w.namespace);
    let worker = format!("{}/worker", w.namespace);

    // A plan for CI: every resource of a new service is a Create.
    let plan = byoc(&w, &["plan", "-o", "json"], &both);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));
    let document: PlanDocument = serde_json::from_slice(&plan.stdout).unwrap_or_else(|e| {
        panic!("plan -o json is not the plan document: {e}\n{}", text(&plan.stdout))
    });
    assert!(document.pending);
    let object = |name: &str| {
        document
            .objects
            .iter()
            .find(|o| o.object == format!("CloudService {name}"))
            .unwrap_or_else(|| panic!("no {name} in {document:?}"))
    };
    let planned = object(&web);
    assert!(planned.pending);
    for kind in ["LogGroup", "TargetGroup", "ListenerRule", "TaskDefinition", "EcsService"] {
        let change = planned.changes.iter().find(|c| c.kind == kind);
        assert_eq!(
            change.map(|c| c.action),
            Some(PlannedAction::Create),
            "{kind} in {:?}",
            planned.changes
        );
    }
    assert!(object(&worker).changes.iter().all(|c| c.action == PlannedAction::Create));
    assert!(!object(&worker).changes.iter().any(|c| c.kind == "ListenerRule"), "no ingress");
    let account_plan = document.objects.iter().find(|o| o.object.starts_with("CloudAccount "));
    assert!(account_plan.is_some_and(|o| o.pending), "the account's cluster and ALB are new");

    // Off a terminal, apply --wait prints one timestamped line per change, then the summary.
    let apply = byoc(&w, &["apply", "--wait", "--timeout", "2m"], &both);
    let (stdout, stderr) = (text(&apply.stdout), text(&apply.stderr));
    assert!(apply.status.success(), "{stderr}\n{stdout}");
    let lines = progress_of(&stderr, &web);
    assert!(lines.first().is_some_and(|l| l.starts_with("Applying")), "{stderr}");
    assert!(lines.iter().any(|l| l.starts_with("RollingOut, ")), "{stderr}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("Ready, 2/2 tasks, rollout Completed ("), "{stderr}");
    assert!(last.contains("http://"), "a ready row says where it answers: {stderr}");
    for pair in lines.windows(2) {
        assert_ne!(
            without_elapsed(pair[0]),
            without_elapsed(pair[1]),
            "a line without a change: {stderr}"
        );
    }
    assert!(
        progress_of(&stderr, &worker).last().is_some_and(|l| l.starts_with("Ready, 1/1 tasks")),
        "{stderr}"
    );
    assert!(!stderr.contains("\u{1b}["), "no terminal escapes off a terminal: {stderr:?}");
    let table: Vec<&str> = stdout.lines().collect();
    let header: Vec<&str> = table[0].split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "TASKS", "ELAPSED", "URL"], "{stdout}");
    let row = |name: &str| -> Vec<String> {
        let line = table
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{stdout}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    let web_row = row(&web);
    assert_eq!(&web_row[1..4], ["True", "Ready", "2/2"], "{stdout}");
    assert!(web_row[5].starts_with("http://"), "{stdout}");
    let worker_row = row(&worker);
    assert_eq!(&worker_row[1..4], ["True", "Ready", "1/1"], "{stdout}");
    assert_eq!(worker_row[5], "-", "no URL without an ingress: {stdout}");

    // Nothing left to do: pending false, exit code 0.
    let again = byoc(&w, &["plan", "-o", "json"], &both);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    let document: PlanDocument = serde_json::from_slice(&again.stdout).unwrap();
    assert!(!document.pending && document.objects.iter().all(|o| !o.pending), "{document:?}");
    let yaml_plan = byoc(&w, &["plan", "-o", "yaml"], &both);
    let from_yaml: PlanDocument = serde_saphyr::from_str(&text(&yaml_plan.stdout)).unwrap();
    assert_eq!(from_yaml, document);

    // -o yaml is the status, as before; -o json the same in one document.
    let yaml = byoc(&w, &["apply", "-o", "yaml"], &both);
    assert!(yaml.status.success(), "{}", text(&yaml.stderr));
    let out = text(&yaml.stdout);
    assert!(out.starts_with(&format!("# CloudService {web}\n---\n")), "{out}");
    let statuses: Vec<Option<CloudServiceStatus>> = serde_saphyr::from_multiple(&out).unwrap();
    let statuses: Vec<CloudServiceStatus> = statuses.into_iter().flatten().collect();
    assert_eq!(statuses.len(), 2, "{out}");
    for status in &statuses {
        assert!(byoc::api::is_true(&status.conditions, READY), "{out}");
    }
    let json = byoc(&w, &["apply", "-o", "json"], &both);
    let document: StatusDocument = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document.objects[0].object, format!("CloudService {web}"));
    assert_eq!(document.objects[0].status.rollout.as_ref().map(|r| r.running), Some(2));

    // delete --wait: the services drain, then the account's own resources go: nothing is left.
    let delete = byoc(&w, &["delete", "--wait", "--timeout", "2m"], &both);
    let (stdout, stderr) = (text(&delete.stdout), text(&delete.stderr));
    assert!(delete.status.success(), "{stderr}\n{stdout}");
    let lines = progress_of(&stderr, &web);
    assert!(lines.first().is_some_and(|l| l.starts_with("Deleting")), "{stderr}");
    assert!(lines.iter().any(|l| l.contains("draining")), "the wait is visible: {stderr}");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("Deleted") && l.contains("nothing left")),
        "{stderr}"
    );
    let result = |object: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{object} ")))
            .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
    };
    assert_eq!(result(&format!("CloudService {web}")).as_deref(), Some("Deleted"), "{stdout}");
    assert_eq!(result(&format!("CloudService {worker}")).as_deref(), Some("Deleted"), "{stdout}");
    assert_eq!(
        result(&format!("CloudAccount {}", w.account)).as_deref(),
        Some("Deleted"),
        "{stdout}"
    );
    let left = w.inventory().await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // Deleting again finds nothing, and says so in JSON.
    let again = byoc(&w, &["delete", "-o", "json"], &both);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let document: DeletedDocument = serde_json::from_slice(&again.stdout).unwrap();
    assert!(document.objects.iter().all(|o| o.changes.is_empty()), "{document:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
