//! End-to-end harness: a Kubernetes API (the project's stand-in, or the real cluster named by
//! `BYOC_E2E_KUBECONFIG`), moto, and the operator run the way users run it — the `byoc controller`
//! binary as a subprocess with a kubeconfig. Helpers apply YAML, wait for conditions, and
//! inventory AWS by our tags.
//!
//! Isolation on a shared real cluster: every test gets throw-away namespaces, a CloudAccount
//! labelled for its own operator (`--account-selector`), and its own installation id.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use byoc::api::{CloudAccount, CloudService};
use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::Value;

use super::{apiserver::ApiServer, manifests::repo_root, moto::World};

/// The Kubernetes side of a test.
pub struct Kube {
    pub client: Client,
    pub kubeconfig: PathBuf,
    /// Present when running on the stand-in (fault hooks available).
    pub stand_in: Option<ApiServer>,
    pub namespaces: Vec<String>,
}

impl Kube {
    /// The stand-in, or the real cluster of `BYOC_E2E_KUBECONFIG` with our CRDs installed; then
    /// `namespaces` fresh namespaces (names derived from `prefix`).
    pub async fn start(prefix: &str, count: usize) -> Kube {
        let (client, kubeconfig, stand_in) = match std::env::var("BYOC_E2E_KUBECONFIG") {
            Ok(path) => {
                let config = kube::Config::from_custom_kubeconfig(
                    Kubeconfig::read_from(&path).unwrap(),
                    &KubeConfigOptions::default(),
                )
                .await
                .unwrap();
                let client = Client::try_from(config).unwrap();
                install_crds(&client).await;
                (client, PathBuf::from(path), None)
            }
            Err(_) => {
                let server = ApiServer::start(&repo_root().join("crds")).await;
                (server.client(), server.kubeconfig_path(), Some(server))
            }
        };
        let mut namespaces = Vec::new();
        for i in 0..count {
            let name = format!("{prefix}-{}-{i}", std::process::id() % 100_000);
            let ns: Namespace = serde_json::from_value(
                serde_json::json!({"metadata": {"name": name, "labels": {"byoc.dev/e2e": prefix}}}),
            )
            .unwrap();
            Api::<Namespace>::all(client.clone())
                .patch(&name, &PatchParams::apply("byoc-e2e").force(), &Patch::Apply(&ns))
                .await
                .unwrap();
            namespaces.push(name);
        }
        Kube { client, kubeconfig, stand_in, namespaces }
    }

    /// Server-side applies every document of `yaml` (CloudAccount, CloudService, Secret).
    pub async fn apply(&self, yaml: &str) {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            let ns = doc["metadata"]["namespace"].as_str().map(str::to_string);
            let params = PatchParams::apply("byoc-e2e").force();
            let result = match doc["kind"].as_str().unwrap() {
                "CloudAccount" => Api::<CloudAccount>::all(self.client.clone())
                    .patch(&name, &params, &Patch::Apply(&doc))
                    .await
                    .map(|_| ()),
                "CloudService" => {
                    Api::<CloudService>::namespaced(self.client.clone(), &ns.unwrap())
                        .patch(&name, &params, &Patch::Apply(&doc))
                        .await
                        .map(|_| ())
                }
                "Secret" => Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
                    self.client.clone(),
                    &ns.unwrap(),
                )
                .patch(&name, &params, &Patch::Apply(&doc))
                .await
                .map(|_| ()),
                other => panic!("e2e apply: unexpected kind {other}"),
            };
            result.unwrap_or_else(|e| panic!("applying {name}: {e}"));
        }
    }

    pub fn services(&self, ns: &str) -> Api<CloudService> {
        Api::namespaced(self.client.clone(), ns)
    }

    pub fn accounts(&self) -> Api<CloudAccount> {
        Api::all(self.client.clone())
    }

    /// Deletes the test's services (while its operator still runs, so their finalizers and AWS
    /// resources go), then its namespaces and accounts: a real cluster keeps nothing behind.
    pub async fn cleanup(&self, accounts: &[&str]) {
        for ns in &self.namespaces {
            let api = self.services(ns);
            let names: Vec<String> = api
                .list(&Default::default())
                .await
                .map(|l| l.items.into_iter().filter_map(|s| s.metadata.name).collect())
                .unwrap_or_default();
            for name in &names {
                let _ = api.delete(name, &DeleteParams::default()).await;
            }
            wait_for(
                &format!("the services of {ns} to be deleted"),
                Duration::from_secs(60),
                || async { api.list(&Default::default()).await.ok().map(|l| l.items.len()) },
                |n| *n == 0,
            )
            .await;
        }
        for ns in &self.namespaces {
            let _ = Api::<Namespace>::all(self.client.clone())
                .delete(ns, &DeleteParams::default())
                .await;
        }
        for a in accounts {
            let _ = self.accounts().delete(a, &DeleteParams::default()).await;
        }
        let api = self.accounts();
        for a in accounts {
            wait_for(
                &format!("CloudAccount {a} to be deleted"),
                Duration::from_secs(60),
                || async { Some(api.get_opt(a).await.ok().flatten().is_none()) },
                |gone| *gone,
            )
            .await;
        }
    }
}

async fn install_crds(client: &Client) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for (_, crd) in byoc::api::crd::crds() {
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply("byoc-e2e").force(), &Patch::Apply(&crd))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Polls `get` until `check` holds, or fails after `timeout` with the last value seen.
pub async fn wait_for<T: std::fmt::Debug, F, Fut>(
    what: &str,
    timeout: Duration,
    mut get: F,
    check: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Some(v) = get().await {
            if check(&v) {
                return v;
            }
            last = Some(v);
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The condition `type_` of a status' conditions, as `(status, reason, message)`.
pub fn condition(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<(String, String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// A `byoc controller` subprocess.
pub struct Operator {
    child: Child,
    pub health: String,
}

impl Operator {
    /// Starts the operator for `kube`'s namespaces and the account label `selector` of `world`.
    /// Its logs go to the test's stderr when `BYOC_E2E_LOG` (the `RUST_LOG` filter) is set.
    pub fn start(kube: &Kube, world: &World, extra: &[&str]) -> Operator {
        Operator::start_with_env(kube, world, extra, &[])
    }

    /// Starts the operator as `start` does, with extra environment variables (e.g. a failpoint,
    /// `BYOC_FAILPOINT`; the process then runs with core dumps off, since it may abort).
    pub fn start_with_env(
        kube: &Kube,
        world: &World,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let mut cmd = Operator::command(kube, world, extra, env);
        cmd.env("RUST_LOG", std::env::var("BYOC_E2E_LOG").unwrap_or_else(|_| "warn".into()));
        if std::env::var("BYOC_E2E_LOG").is_err() {
            cmd.stderr(Stdio::null());
        }
        Operator::spawn(cmd)
    }

    /// Like `start`, with the `RUST_LOG` filter `filter` and everything the process writes
    /// (stdout and stderr) appended to the file `log`, for a test to read.
    pub fn start_logged(
        kube: &Kube,
        world: &World,
        extra: &[&str],
        filter: &str,
        log: &std::path::Path,
    ) -> Operator {
        let mut cmd = Operator::command(kube, world, extra, &[]);
        let file =
            std::fs::OpenOptions::new().create(true).append(true).open(log).expect("the log file");
        cmd.env("RUST_LOG", filter).stdout(file.try_clone().expect("the log file")).stderr(file);
        Operator::spawn(cmd)
    }

    /// Spawns `cmd`; the health address is the one its arguments give.
    fn spawn(mut cmd: Command) -> Operator {
        let health = cmd
            .get_args()
            .map(|a| a.to_string_lossy().to_string())
            .skip_while(|a| a != "--health-addr")
            .nth(1)
            .unwrap_or_default();
        let child = cmd.spawn().expect("starting byoc controller");
        Operator { child, health: format!("http://{health}") }
    }

    /// The `byoc controller` command line and environment, logs not yet directed.
    fn command(kube: &Kube, world: &World, extra: &[&str], env: &[(&str, &str)]) -> Command {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = if env.is_empty() {
            Command::new(env!("CARGO_BIN_EXE_byoc"))
        } else {
            let mut sh = Command::new("sh");
            sh.arg("-c").arg("ulimit -c 0; exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_byoc"));
            sh
        };
        let selector = format!("byoc.dev/e2e={}", world.account);
        let health = format!("127.0.0.1:{port}");
        let endpoint = world.endpoint.clone();
        let defaults = [
            ("--namespaces", kube.namespaces.join(",")),
            ("--account-selector", selector),
            ("--cluster-id", world.cluster_id.clone()),
            ("--aws-endpoint", endpoint),
            ("--health-addr", health),
            ("--resync-interval", "3s".to_string()),
            ("--waiting-interval", "1s".to_string()),
            ("--log-format", "text".to_string()),
        ];
        cmd.arg("controller");
        // `extra` may override any default flag.
        for (flag, value) in defaults.iter().filter(|(flag, _)| !extra.contains(flag)) {
            cmd.arg(flag).arg(value);
        }
        cmd.args(extra)
            .envs(env.iter().copied())
            .env("KUBECONFIG", &kube.kubeconfig)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    /// Waits up to `timeout` for the process to exit by itself; its exit status if it did.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process at once (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited in time. Async: the
    /// stand-in API server runs on the test's runtime and must keep serving meanwhile.
    pub async fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Resident memory of the process, in KiB (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
    }

    /// Peak resident memory of the process so far (`VmHWM`), in KiB (Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU time the process has used, user plus system (`utime` + `stime` of
    /// `/proc/PID/stat`, in clock ticks of `getconf CLK_TCK`; Linux).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: count after it.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let (utime, stime): (u64, u64) =
            (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
        Some(Duration::from_secs_f64((utime + stime) as f64 / clock_ticks_per_second()))
    }

    /// GET on the health server.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(&format!("{}{path}", self.health)).await
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `getconf CLK_TCK`: the unit of `/proc/PID/stat`'s CPU times (100 on Linux when unknown).
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Minimal HTTP/1.1 GET (plain text endpoints of the operator).
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await.ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

/// The world's CloudAccount manifest (or `yaml`, a variant of it), labelled for the operator
/// `Operator::start` runs for that world.
pub fn labelled_account(w: &World, yaml: &str) -> String {
    yaml.replacen(
        &format!("metadata:\n  name: {}\n", w.account),
        &format!("metadata:\n  name: {}\n  labels:\n    byoc.dev/e2e: {}\n", w.account, w.account),
        1,
    )
}

/// The world's own CloudAccount, labelled for the operator `Operator::start` runs for that world.
pub fn account_yaml(w: &World) -> String {
    labelled_account(w, &w.account_yaml)
}

/// Waits until the CloudService `ns/name` exists and satisfies `check`.
pub async fn service_where(
    kube: &Kube,
    ns: &str,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&CloudService) -> bool,
) -> CloudService {
    let api = kube.services(ns);
    wait_for(
        &format!("{ns}/{name}: {what}"),
        timeout,
        || async { api.get_opt(name).await.ok().flatten() },
        check,
    )
    .await
}

/// Whether the service's condition `type_` is `True` (with `reason`, when given) for its current
/// generation.
pub fn has_condition(s: &CloudService, type_: &str, reason: Option<&str>) -> bool {
    let status = s.status.clone().unwrap_or_default();
    status.observed_generation == s.metadata.generation
        && condition(&status.conditions, type_)
            .is_some_and(|c| c.0 == "True" && reason.is_none_or(|r| c.1 == r))
}

/// Waits until the CloudService `ns/name` no longer exists (its finalizer, if any, released).
pub async fn service_gone(kube: &Kube, ns: &str, name: &str, timeout: Duration) {
    let api = kube.services(ns);
    wait_for(
        &format!("{ns}/{name} to be gone"),
        timeout,
        || async { api.get_opt(name).await.ok().map(|s| s.is_none()) },
        |gone| *gone,
    )
    .await;
}

impl Kube {
    /// Creates the object of one YAML document as `kubectl create -f` does: parsed on the client
    /// and POSTed as JSON with `fieldValidation=Strict` (in the document's namespace, else `ns`).
    /// A document that does not parse is POSTed as it is (`application/yaml`) to the
    /// CloudServices of `ns`. `Err((status, message))` when the API server refuses it.
    pub async fn create_document(&self, ns: &str, text: &str) -> Result<(), (u16, String)> {
        let parsed: Option<Value> = serde_saphyr::from_str(text).ok();
        let kind = parsed.as_ref().and_then(|d| d["kind"].as_str()).unwrap_or("CloudService");
        let ns = parsed.as_ref().and_then(|d| d["metadata"]["namespace"].as_str()).unwrap_or(ns);
        let collection = match kind {
            "CloudService" => format!("/apis/byoc.dev/v1alpha1/namespaces/{ns}/cloudservices"),
            "CloudAccount" => "/apis/byoc.dev/v1alpha1/cloudaccounts".to_string(),
            "Secret" => format!("/api/v1/namespaces/{ns}/secrets"),
            other => panic!("create_document: unexpected kind {other}"),
        };
        let (content_type, body) = match &parsed {
            Some(doc) => ("application/json", serde_json::to_vec(doc).unwrap()),
            None => ("application/yaml", text.as_bytes().to_vec()),
        };
        let request = http::Request::post(format!(
            "{collection}?fieldValidation=Strict&fieldManager=byoc-e2e"
        ))
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap();
        match self.client.request_text(request).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) => Err((status.code, status.message)),
            Err(other) => Err((0, other.to_string())),
        }
    }
}
