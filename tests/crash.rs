//! Crash at every step of the controller: the `byoc controller` binary, built with its test-only
//! failpoints (`src/failpoint.rs`), against the Kubernetes API stand-in (or the cluster of
//! `BYOC_E2E_KUBECONFIG`) and moto behind the AWS behaviour layer.
//!
//! Each path of a CloudService (create; image, env from a Secret, the Secret's value, its AWS
//! secret restored, host and path, health check, container port, another load balancer, replicas,
//! repository settings; delete) and of a CloudAccount's own
//! resources (create, delete) is recorded once on a probe, then taken by another object while the
//! controller dies at every recorded point in turn (`support::crash`). After each death AWS holds
//! no duplicate; once a controller without failpoints finishes the path, AWS by our tags holds
//! exactly what the probe's run left; after deletion, nothing, and the object is gone (no
//! finalizer left behind). `docs/reliability.md` reports the points and the results; a test here
//! keeps its list of points complete.

mod support;

use std::{
    collections::BTreeSet,
    process::Command,
    time::{Duration, Instant},
};

use byoc::api::{CloudAccount, CloudService};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::{
    awslayer::{Fault, FaultKind},
    crash::{ARGS, Counts, Recorder, counts, crash_through, missed, report},
    e2e::{Kube, Operator, account_yaml, condition, wait_for},
    manifests::repo_root,
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The paths of a service, in the order the test takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Path {
    Create,
    Image,
    SecretEnv,
    SecretValue,
    /// Someone deletes the service's AWS secret with a recovery window: it is restored.
    SecretRestored,
    Route,
    HealthCheck,
    Port,
    MoveLoadBalancer,
    Replicas,
    Repository,
    Delete,
}

const PATHS: [Path; 12] = [
    Path::Create,
    Path::Image,
    Path::SecretEnv,
    Path::SecretValue,
    Path::SecretRestored,
    Path::Route,
    Path::HealthCheck,
    Path::Port,
    Path::MoveLoadBalancer,
    Path::Replicas,
    Path::Repository,
    Path::Delete,
];

/// The service `name` as it is once `path` was taken.
fn service_yaml(w: &World, ns: &str, name: &str, path: Path) -> String {
    let after = |p: Path| path >= p;
    let image = if after(Path::Image) { "nginx:1.27" } else { "nginx:1.26" };
    let env = if after(Path::SecretEnv) {
        format!(
            "\n  env: [{{ name: DB, valueFrom: {{ secretKeyRef: {{ name: {name}-db, key: url }} }} }}]"
        )
    } else {
        String::new()
    };
    let (host, route) = if after(Path::Route) {
        (format!("{name}.b.example.com"), "/api/*")
    } else {
        (format!("{name}.a.example.com"), "/*")
    };
    let health = if after(Path::HealthCheck) { "/ready, intervalSeconds: 15" } else { "/healthz" };
    let port = if after(Path::Port) { 8080 } else { 80 };
    let lb = if after(Path::MoveLoadBalancer) { "secure" } else { "public" };
    let replicas = if after(Path::Replicas) { 2 } else { 1 };
    let repository = if after(Path::Repository) {
        "{ keepLastImages: 10, scanOnPush: false, tagMutability: Immutable }"
    } else {
        "{ keepLastImages: 5 }"
    };
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: {name}, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: {image}
  ports: [{{ name: http, containerPort: {port} }}]
  replicas: {replicas}{env}
  healthCheck: {{ path: {health} }}
  ingress: {{ loadBalancer: {lb}, hosts: [{host}], paths: ["{route}"], port: http }}
  repository: {repository}
"#,
        account = w.account
    )
}

fn secret_yaml(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{ name: {name}-db, namespace: {ns} }}\nstringData: {{ url: \"{value}\" }}\n"
    )
}

/// The AWS secret of the service's env var `DB`.
fn aws_secret(ns: &str, name: &str) -> String {
    format!("byoc/{ns}/{name}/DB")
}

/// Makes the change of `path` to the service `name`.
async fn take(kube: &Kube, w: &World, ns: &str, name: &str, path: Path) {
    match path {
        Path::Create => {
            kube.apply(&secret_yaml(ns, name, "postgres://first")).await;
            kube.apply(&service_yaml(w, ns, name, path)).await;
        }
        Path::SecretValue => kube.apply(&secret_yaml(ns, name, "postgres://second")).await,
        Path::SecretRestored => {
            let secrets = &w.aws.secrets;
            let id = aws_secret(ns, name);
            secrets.delete_secret().secret_id(id).recovery_window_in_days(7).send().await.unwrap();
            // Nothing in Kubernetes changed: an annotation wakes a running controller up.
            let touch = json!({"metadata": {"annotations": {"byoc.dev/e2e-touch": "restore"}}});
            let api = kube.services(ns);
            api.patch(name, &PatchParams::default(), &Patch::Merge(&touch)).await.unwrap();
        }
        Path::Delete => {
            kube.services(ns).delete(name, &DeleteParams::default()).await.unwrap();
        }
        _ => kube.apply(&service_yaml(w, ns, name, path)).await,
    }
}

/// Whether the service finished `path`, given what it was before (`None`: it did not exist).
async fn finished(
    kube: &Kube,
    w: &World,
    (ns, name): (&str, &str),
    path: Path,
    before: Option<&CloudService>,
) -> bool {
    let Some(now) = get(kube, ns, name).await else { return path == Path::Delete };
    let status = now.status.clone().unwrap_or_default();
    let ready = condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
        && status.observed_generation == now.metadata.generation;
    let revision = |s: Option<&CloudService>| {
        s.and_then(|s| s.status.as_ref()?.rollout.as_ref()?.task_definition.clone())
    };
    let url = status.url.clone().unwrap_or_default();
    if !ready {
        return false;
    }
    match path {
        Path::Create | Path::HealthCheck | Path::Repository => true,
        Path::Image | Path::SecretEnv | Path::SecretValue | Path::Port => {
            revision(Some(&now)).is_some() && revision(Some(&now)) != revision(before)
        }
        Path::SecretRestored => {
            let id = aws_secret(ns, name);
            let described = w.aws.secrets.describe_secret().secret_id(id).send().await.unwrap();
            described.deleted_date().is_none()
        }
        Path::Route => url.ends_with(".b.example.com/api/"),
        Path::MoveLoadBalancer => url.starts_with("https://"),
        Path::Replicas => status.rollout.is_some_and(|r| r.desired == 2 && r.running == 2),
        Path::Delete => false,
    }
}

async fn get(kube: &Kube, ns: &str, name: &str) -> Option<CloudService> {
    kube.services(ns).get_opt(name).await.unwrap()
}

async fn wait_finished(
    kube: &Kube,
    w: &World,
    (ns, name): (&str, &str),
    path: Path,
    before: Option<&CloudService>,
) {
    wait_for(
        &format!("{ns}/{name} to finish {path:?}"),
        TIMEOUT,
        || async { Some(finished(kube, w, (ns, name), path, before).await) },
        |done| *done,
    )
    .await;
}

/// Ready, for the current generation; `None` (deleted) is not.
fn account_ready(account: Option<&CloudAccount>) -> bool {
    account.is_some_and(|a| {
        let status = a.status.clone().unwrap_or_default();
        condition(&status.conditions, "Ready").is_some_and(|c| c.0 == "True")
            && status.observed_generation == a.metadata.generation
    })
}

async fn get_account(kube: &Kube, name: &str) -> Option<CloudAccount> {
    kube.accounts().get_opt(name).await.unwrap()
}

async fn wait_account(
    kube: &Kube,
    name: &str,
    what: &str,
    check: fn(Option<&CloudAccount>) -> bool,
) {
    wait_for(
        &format!("CloudAccount {name} {what}"),
        TIMEOUT,
        || async { Some(get_account(kube, name).await) },
        |a| check(a.as_ref()),
    )
    .await;
}

/// The listener ports of each of the world's load balancers, sorted.
async fn listener_ports(w: &World) -> Vec<Vec<i32>> {
    let mut out = Vec::new();
    for (_, arn) in w.inventory().await.into_iter().filter(|(k, _)| k == "LoadBalancer") {
        let listeners =
            w.aws.elb.describe_listeners().load_balancer_arn(&arn).send().await.unwrap();
        let mut ports: Vec<i32> = listeners.listeners().iter().filter_map(|l| l.port()).collect();
        ports.sort();
        out.push(ports);
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_crash_at_any_point_of_a_services_life_leaves_exactly_one_of_each_resource() {
    let w = World::with_https_layer("crash-service", World::fast_layer());
    let layer = w.layer.clone().unwrap();
    let kube = Kube::start("crash-svc", 1).await;
    let ns = kube.namespaces[0].clone();
    {
        let _op = Operator::start(&kube, &w, &ARGS);
        kube.apply(&account_yaml(&w)).await;
        wait_account(&kube, &w.account, "to be Ready", account_ready).await;
    }
    let started = Instant::now();
    // The probe takes every path under a controller that logs the points it passes; the
    // account's own status writes interleave and are not the service's.
    let mut recorder = Recorder::start(&kube, &w);
    let mut recorded = Vec::new();
    let account_only = counts(&w.inventory().await);
    let mut counts_before = account_only.clone();
    for path in PATHS {
        let before = get(&kube, &ns, "probe").await;
        if path == Path::Delete {
            // A delete step that fails (until the fault is cleared) writes a "deleting" status.
            layer.inject(Fault::on("DeleteTargetGroup", FaultKind::ServerError));
        }
        take(&kube, &w, &ns, "probe", path).await;
        if path == Path::Delete {
            wait_for(
                "the probe to report it is deleting",
                TIMEOUT,
                || async { get(&kube, &ns, "probe").await },
                |s| {
                    let status = s.status.clone().unwrap_or_default();
                    condition(&status.conditions, "Reconciling").is_some_and(|c| c.1 == "Deleting")
                },
            )
            .await;
            layer.clear_faults();
        }
        wait_finished(&kube, &w, (&ns, "probe"), path, before.as_ref()).await;
        let points = recorder.points(|p| !p.starts_with("account.")).await;
        let counts_after = counts(&w.inventory().await);
        recorded.push((path, points, counts_before.clone(), counts_after.clone()));
        counts_before = counts_after;
    }
    assert_eq!(counts_before, account_only, "the probe's deletion left nothing");
    drop(recorder);
    println!("recorded every path in {:.1?}", started.elapsed());

    // `web` takes the same paths; the controller dies at every point on the way.
    let mut deaths = 0;
    for (path, points, counts_before, counts_after) in &recorded {
        let path_started = Instant::now();
        let before = get(&kube, &ns, "web").await;
        if *path == Path::Delete {
            layer.inject(Fault::on("DeleteTargetGroup", FaultKind::ServerError));
        }
        take(&kube, &w, &ns, "web", *path).await;
        let done = || finished(&kube, &w, (&ns, "web"), *path, before.as_ref());
        // The failing delete step holds the path until the "deleting" status was died around.
        let on_death = |point: &str| {
            if point == "service.status.after" {
                layer.clear_faults();
            }
        };
        let ends = (counts_before, counts_after);
        let passes = crash_through(&kube, &w, points, ends, done, on_death).await;
        {
            let _op = Operator::start(&kube, &w, &ARGS);
            wait_finished(&kube, &w, (&ns, "web"), *path, before.as_ref()).await;
        }
        let inventory = w.inventory().await;
        assert_eq!(
            &counts(&inventory),
            counts_after,
            "after crashes on the path {path:?}, AWS holds what the run without crashes left: {inventory:#?}"
        );
        print!("{}", report(&format!("{path:?}"), &passes, path_started.elapsed()));
        let missed = missed(&passes);
        assert!(missed.is_empty(), "{path:?}: no run died at {missed:?}");
        deaths += passes.iter().map(|t| t.died_in.len()).sum::<usize>();
    }
    println!("{deaths} deaths in {:.1?}", started.elapsed());
    assert!(get(&kube, &ns, "web").await.is_none(), "no finalizer left behind");
    {
        let _op = Operator::start(&kube, &w, &ARGS);
        kube.cleanup(&[&w.account]).await;
    }
    let left = w.inventory().await;
    assert!(left.is_empty(), "nothing tagged with the installation's id is left: {left:?}");
}

#[tokio::test]
async fn a_crash_at_any_point_of_an_accounts_create_and_delete_leaves_nothing_twice_and_nothing_behind()
 {
    // Two load balancers: HTTP, and HTTPS with its HTTP redirect (three listeners in all).
    let probe = World::with_https_layer("crash-acct-probe", World::fast_layer());
    let w = World::with_https_layer("crash-account", World::fast_layer());
    let kube = Kube::start("crash-acct", 1).await;
    let started = Instant::now();
    let mut recorder = Recorder::start(&kube, &probe);
    kube.apply(&account_yaml(&probe)).await;
    wait_account(&kube, &probe.account, "to be Ready", account_ready).await;
    let create = recorder.points(|_| true).await;
    let created = counts(&probe.inventory().await);
    let ports = listener_ports(&probe).await;
    assert_eq!(ports, [vec![80], vec![80, 443]]);
    kube.accounts().delete(&probe.account, &DeleteParams::default()).await.unwrap();
    wait_account(&kube, &probe.account, "to be gone", |a| a.is_none()).await;
    let delete = recorder.points(|_| true).await;
    assert!(probe.inventory().await.is_empty());
    drop(recorder);

    let nothing = Counts::new();
    kube.apply(&account_yaml(&w)).await;
    let path_started = Instant::now();
    let done = || async { account_ready(get_account(&kube, &w.account).await.as_ref()) };
    let passes = crash_through(&kube, &w, &create, (&nothing, &created), done, |_| {}).await;
    {
        let _op = Operator::start(&kube, &w, &ARGS);
        wait_account(&kube, &w.account, "to be Ready", account_ready).await;
    }
    assert_eq!(counts(&w.inventory().await), created);
    assert_eq!(listener_ports(&w).await, ports, "one listener per port");
    print!("{}", report("account create", &passes, path_started.elapsed()));
    assert!(missed(&passes).is_empty(), "account create: no run died at {:?}", missed(&passes));

    kube.accounts().delete(&w.account, &DeleteParams::default()).await.unwrap();
    let path_started = Instant::now();
    let done = || async { get_account(&kube, &w.account).await.is_none() };
    let passes = crash_through(&kube, &w, &delete, (&created, &nothing), done, |_| {}).await;
    {
        let _op = Operator::start(&kube, &w, &ARGS);
        wait_account(&kube, &w.account, "to be gone", |a| a.is_none()).await;
    }
    let left = w.inventory().await;
    assert!(left.is_empty(), "nothing tagged with the installation's id is left: {left:?}");
    print!("{}", report("account delete", &passes, path_started.elapsed()));
    assert!(missed(&passes).is_empty(), "account delete: no run died at {:?}", missed(&passes));
    println!("done in {:.1?}", started.elapsed());
    kube.cleanup(&[]).await;
}

#[test]
fn the_test_binary_has_failpoints_and_a_release_build_has_none() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_byoc")).unwrap();
    let has = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"BYOC_FAILPOINT"), "the tests' byoc binary reads BYOC_FAILPOINT");
    // What a build without dev-dependencies (`cargo build --release`, the Dockerfile's) enables,
    // against what the tests' build enables: the feature comes only from the dev-dependency.
    let features = |edges: &str| {
        let out = Command::new(env!("CARGO"))
            .args(["tree", "--offline", "--locked", "-i", "byoc-operator", "-e", edges])
            .current_dir(repo_root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let release = features("features,normal,build");
    assert!(!release.contains("\"failpoints\""), "a release build has failpoints:\n{release}");
    let tests = features("features");
    assert!(tests.contains("\"failpoints\""), "the tests' build has no failpoints:\n{tests}");
}

#[test]
fn docs_reliability_lists_every_failpoint_and_no_other() {
    let doc = std::fs::read_to_string(repo_root().join("docs/reliability.md")).unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Crash points"))
        .expect("docs/reliability.md has a section \"## Crash points\"");
    let named: BTreeSet<String> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| ["aws.", "service.", "account."].iter().any(|p| s.starts_with(p)))
        // Names, not patterns such as `service.status.*` or `aws.<Operation>.before`.
        .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .map(str::to_string)
        .collect();
    let points: BTreeSet<String> = byoc::failpoint::all().into_iter().collect();
    let missing: Vec<&String> = points.difference(&named).collect();
    assert!(missing.is_empty(), "docs/reliability.md does not list the failpoints {missing:?}");
    let unknown: Vec<&String> = named.difference(&points).collect();
    assert!(
        unknown.is_empty(),
        "docs/reliability.md lists failpoints that do not exist: {unknown:?}"
    );
}
