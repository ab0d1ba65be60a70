//! Builds from source, end to end: the controller builds a Git source in the account (CodeBuild,
//! played by the AWS behaviour layer, which pushes the image as a real build does), runs the image
//! by digest, builds once per commit, stalls on a failed build with its log, and leaves nothing
//! tagged as ours; `byoc apply` packs and uploads a local context, builds it once, and deletes
//! what it made. Runs unchanged against a real cluster (`BYOC_E2E_KUBECONFIG`).

mod support;

use std::time::Duration;

use byoc::api::{BuildPhase, CloudService};
use kube::api::DeleteParams;
use support::{
    e2e::{Kube, Operator, account_yaml, has_condition, service_gone, service_where},
    gitserver::GitServer,
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);
const COMMIT_A: &str = "1111111111111111111111111111111111111111";
const COMMIT_B: &str = "2222222222222222222222222222222222222222";

fn built(w: &World, ns: &str, url: &str, args: &str) -> String {
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: api, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  build:
    git: {{ url: "{url}", revision: main }}
    path: services/api
    args: [{args}]
  ports: [{{ name: http, containerPort: 8080 }}]
  replicas: 1
"#,
        account = w.account
    )
}

/// The image the service's ECS service runs, from its task definition.
async fn running_image(w: &World, s: &CloudService) -> String {
    let rollout = s.status.as_ref().and_then(|s| s.rollout.as_ref()).expect("a rollout");
    let td = rollout.task_definition.clone().expect("a task definition");
    let described =
        w.aws.ecs.describe_task_definition().task_definition(&td).send().await.expect("described");
    described
        .task_definition()
        .and_then(|t| t.container_definitions().first())
        .and_then(|c| c.image())
        .unwrap_or_default()
        .to_string()
}

fn build_of(s: &CloudService) -> byoc::api::BuildStatus {
    s.status.as_ref().and_then(|s| s.build.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_source_is_built_once_per_commit_run_by_digest_and_a_failed_build_stalls_with_its_log()
 {
    let git = GitServer::start();
    git.set_ref("shop", "refs/heads/main", COMMIT_A);
    git.set_head("shop", "refs/heads/main");
    let w = World::with_layer("e2e-build", World::fast_layer());
    let layer = w.layer.clone().expect("a layer");
    let kube = Kube::start("build", 1).await;
    let ns = kube.namespaces[0].clone();
    let _op = Operator::start(&kube, &w, &[]);
    kube.apply(&account_yaml(&w)).await;
    let url = git.url("shop");
    kube.apply(&built(&w, &ns, &url, "{ name: MODE, value: release }")).await;

    let ready = service_where(&kube, &ns, "api", "Ready with its built image", TIMEOUT, |s| {
        has_condition(s, "Ready", Some("Ready")) && build_of(s).phase == BuildPhase::Succeeded
    })
    .await;
    let b = build_of(&ready);
    assert_eq!(b.revision.as_deref(), Some(COMMIT_A));
    assert!(b.source.ends_with(&format!("@{COMMIT_A}")), "{b:?}");
    let image = b.image.clone().expect("an image");
    assert!(image.contains("@sha256:"), "pinned by digest: {image}");
    assert!(!image.contains(":latest"), "{image}");
    assert_eq!(
        running_image(&w, &ready).await,
        image,
        "the task definition runs the build's image"
    );
    assert_eq!(layer.started_builds(), 1);

    // Resyncs of an unchanged source neither build nor register anything.
    let registered = layer.count("RegisterTaskDefinition");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(layer.started_builds(), 1, "an unchanged source never builds again");
    assert_eq!(layer.count("RegisterTaskDefinition"), registered, "nor makes a new revision");

    // A new commit on the branch builds once, and that image rolls out.
    git.set_ref("shop", "refs/heads/main", COMMIT_B);
    let moved = service_where(&kube, &ns, "api", "running the new commit", TIMEOUT, |s| {
        has_condition(s, "Ready", Some("Ready"))
            && build_of(s).revision.as_deref() == Some(COMMIT_B)
    })
    .await;
    let second = build_of(&moved).image.expect("an image");
    assert_ne!(second, image);
    assert_eq!(running_image(&w, &moved).await, second);
    assert_eq!(layer.started_builds(), 2, "one build per new commit");

    // A build that fails stalls the service with the build's log; what ran keeps running.
    kube.apply(&built(&w, &ns, &url, "{ name: MODE, value: broken }")).await;
    let stalled = service_where(&kube, &ns, "api", "Stalled/BuildFailed", TIMEOUT, |s| {
        has_condition(s, "Stalled", Some("BuildFailed"))
    })
    .await;
    let failed = build_of(&stalled);
    assert_eq!(failed.phase, BuildPhase::Failed);
    let message = failed.message.unwrap_or_default();
    assert!(message.contains("last lines of the build log"), "{message}");
    assert_eq!(running_image(&w, &stalled).await, second, "the last good image keeps running");
    let starts = layer.started_builds();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(layer.started_builds(), starts, "a failed build is not retried");

    kube.services(&ns).delete("api", &DeleteParams::default()).await.expect("deleted");
    service_gone(&kube, &ns, "api", TIMEOUT).await;
    let left: Vec<(String, String)> =
        support::inventory::by_tag(&w.aws, byoc::desired::tag::OWNER, &format!("{ns}/api")).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(git.requests() > 0);
    kube.cleanup(&[&w.account]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_and_secret_build_arguments_never_show_their_values() {
    const TOKEN: &str = "ghp-s3cr3t-t0ken-value";
    const NPM: &str = "npm-s3cr3t-value";
    let git = GitServer::start();
    git.set_ref("private", "refs/heads/main", COMMIT_A);
    git.set_head("private", "refs/heads/main");
    git.require_auth("private", "x-access-token", TOKEN);
    let w = World::with_layer("e2e-build-private", World::fast_layer());
    let layer = w.layer.clone().expect("a layer");
    let kube = Kube::start("build-private", 1).await;
    let ns = kube.namespaces[0].clone();
    let log = std::env::temp_dir().join(format!("byoc-build-private-{}.log", std::process::id()));
    let _op = Operator::start_logged(&kube, &w, &[], "info,byoc=debug", &log);
    kube.apply(&account_yaml(&w)).await;
    kube.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{ name: git, namespace: {ns} }}\nstringData: {{ username: x-access-token, password: {TOKEN} }}\n"
    ))
    .await;
    kube.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{ name: npm, namespace: {ns} }}\nstringData: {{ token: {NPM} }}\n"
    ))
    .await;
    let url = git.url("private");
    let yaml = format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: api, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  build:
    git: {{ url: "{url}", revision: main, secretRef: {{ name: git }} }}
    args: [{{ name: NPM_TOKEN, valueFrom: {{ secretKeyRef: {{ name: npm, key: token }} }} }}]
  replicas: 1
"#,
        account = w.account
    );
    kube.apply(&yaml).await;
    let ready = service_where(&kube, &ns, "api", "Ready with its built image", TIMEOUT, |s| {
        has_condition(s, "Ready", Some("Ready")) && build_of(s).phase == BuildPhase::Succeeded
    })
    .await;
    assert_eq!(build_of(&ready).revision.as_deref(), Some(COMMIT_A), "resolved with the token");
    assert_eq!(layer.started_builds(), 1);

    // The build got the values by their Secrets Manager names only.
    let id = build_of(&ready).build_id.expect("a build id");
    let builds = w.aws.codebuild.batch_get_builds().ids(&id).send().await.expect("described");
    let vars = builds.builds()[0].environment().expect("an environment").environment_variables();
    for name in ["BUILD_ARG_NPM_TOKEN", "BYOC_GIT_USERNAME", "BYOC_GIT_PASSWORD"] {
        let v = vars.iter().find(|v| v.name() == name).unwrap_or_else(|| panic!("{name} passed"));
        assert_eq!(v.r#type().map(|t| t.as_str()), Some("SECRETS_MANAGER"), "{name}");
        assert!(v.value().starts_with("byoc/"), "{name} by its secret's name: {}", v.value());
    }
    let everything = format!(
        "{}\n{:?}\n{}",
        serde_json::to_string(&ready.status).unwrap(),
        builds.builds(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    for secret in [TOKEN, NPM] {
        assert!(!everything.contains(secret), "a secret value leaked into status, build or log");
    }
    kube.services(&ns).delete("api", &DeleteParams::default()).await.expect("deleted");
    service_gone(&kube, &ns, "api", TIMEOUT).await;
    kube.cleanup(&[&w.account]).await;
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_for_an_outdated_spec_is_stopped_and_deleting_stops_the_running_one() {
    let git = GitServer::start();
    git.set_ref("slow", "refs/heads/main", COMMIT_A);
    git.set_head("slow", "refs/heads/main");
    let config = support::awslayer::Config {
        build_duration: Duration::from_secs(30),
        ..World::fast_layer()
    };
    let w = World::with_layer("e2e-build-outdated", config);
    let layer = w.layer.clone().expect("a layer");
    let kube = Kube::start("build-outdated", 1).await;
    let ns = kube.namespaces[0].clone();
    let _op = Operator::start(&kube, &w, &[]);
    kube.apply(&account_yaml(&w)).await;
    let url = git.url("slow");
    kube.apply(&built(&w, &ns, &url, "{ name: MODE, value: one }")).await;
    let first = service_where(&kube, &ns, "api", "building", TIMEOUT, |s| {
        has_condition(s, "Reconciling", Some("Building")) && build_of(s).build_id.is_some()
    })
    .await;
    let first_id = build_of(&first).build_id.expect("a build id");
    kube.apply(&built(&w, &ns, &url, "{ name: MODE, value: two }")).await;
    let second = service_where(&kube, &ns, "api", "building the new spec", TIMEOUT, |s| {
        build_of(s).build_id.is_some_and(|id| id != first_id)
    })
    .await;
    let second_id = build_of(&second).build_id.expect("a build id");
    let project = first_id.split(':').next().unwrap_or_default().to_string();
    let status_of =
        |id: &str| layer.builds(&project).into_iter().find(|b| b.id == id).map(|b| b.status);
    assert_eq!(status_of(&first_id).as_deref(), Some("STOPPED"), "the outdated build is stopped");
    assert_eq!(layer.started_builds(), 2);

    kube.services(&ns).delete("api", &DeleteParams::default()).await.expect("deleted");
    service_gone(&kube, &ns, "api", TIMEOUT).await;
    assert_eq!(status_of(&second_id).as_deref(), Some("STOPPED"), "deleting stops the build");
    let left =
        support::inventory::by_tag(&w.aws, byoc::desired::tag::OWNER, &format!("{ns}/api")).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    kube.cleanup(&[&w.account]).await;
}

/// Contexts `byoc apply` uploaded (its own calls).
fn uploads(w: &World) -> u64 {
    w.calls
        .snapshot()
        .iter()
        .filter(|(k, _)| k.operation == "PutObject" && k.outcome == "ok")
        .map(|(_, n)| n)
        .sum()
}

fn local(dir: &std::path::Path, args: &str) -> String {
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: site, namespace: shop }}
spec:
  accountRef: {{ name: ACCOUNT }}
  build:
    context: "{}"
    args: [{args}]
  ports: [{{ name: http, containerPort: 80 }}]
  replicas: 1
"#,
        dir.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byoc_apply_uploads_a_local_context_builds_it_once_and_delete_leaves_nothing() {
    let dir = std::env::temp_dir().join(format!("byoc-build-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("node_modules")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM nginx:1.27\nCOPY index.html /usr/share/nginx/html/\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.html"), "<h1>hello</h1>\n").unwrap();
    std::fs::write(dir.join("node_modules/big.js"), "x".repeat(10_000)).unwrap();
    std::fs::write(dir.join(".dockerignore"), "node_modules\n").unwrap();
    let w = World::with_layer("build-local", World::fast_layer());
    let layer = w.layer.clone().expect("a layer");
    let yaml = local(&dir, "{ name: MODE, value: release }");

    let statuses = w.apply(&yaml).await.expect("applied");
    let b = statuses[0].1.build.clone().expect("a build status");
    assert_eq!(b.phase, BuildPhase::Succeeded);
    assert!(b.source.starts_with("sha256:"), "named by its content digest: {b:?}");
    assert!(b.image.as_deref().unwrap_or_default().contains("@sha256:"));
    assert_eq!(layer.started_builds(), 1);
    assert_eq!(uploads(&w), 1);

    // What .dockerignore drops does not change the source; nothing builds or uploads again.
    std::fs::write(dir.join("node_modules/big.js"), "y".repeat(10_000)).unwrap();
    let plans = w.plan(&yaml).await;
    assert!(plans.iter().all(|(_, p)| p.is_empty()), "{plans:#?}");
    w.apply(&yaml).await.expect("applied again");
    assert_eq!(layer.started_builds(), 1, "an unchanged context never builds again");
    assert_eq!(uploads(&w), 1, "nor uploads again");

    // A failing build: Stalled/BuildFailed with the log, nothing deployed from it.
    let statuses = w.apply(&local(&dir, "{ name: MODE, value: broken }")).await.expect("applied");
    let status = &statuses[0].1;
    let failed = status.build.clone().expect("a build status");
    assert_eq!(failed.phase, BuildPhase::Failed);
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == "BuildFailed"),
        "{status:?}"
    );

    w.delete(&yaml).await;
    let left = w.inventory().await;
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_succeeds_before_its_image_shows_is_waited_for_never_deployed_as_latest() {
    let dir = std::env::temp_dir().join(format!("byoc-build-lag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM nginx:1.27\n").unwrap();
    let config =
        support::awslayer::Config { image_push_lag: Duration::from_secs(4), ..World::fast_layer() };
    let w = World::with_layer("build-lag", config);
    let yaml = local(&dir, "");
    let statuses = w.apply(&yaml).await.expect("applied");
    let b = statuses[0].1.build.clone().expect("a build status");
    assert_eq!(b.phase, BuildPhase::Succeeded, "{b:?}");
    let image = b.image.unwrap_or_default();
    assert!(image.contains("@sha256:") && !image.contains(":latest"), "{image}");
    w.delete(&yaml).await;
    assert!(w.inventory().await.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
