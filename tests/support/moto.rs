//! One moto server per test run (or `BYOC_TEST_AWS_ENDPOINT`), and per-test isolation: each test
//! gets its own network, account name and installation id, so tests never see each other.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use byoc::{
    aws::{Aws, CallCounter, RateLimiter},
    oneshot::{self, Manifests, Sessions},
};

use super::{
    awslayer::{self, Layer},
    manifests::repo_root,
};

static ENDPOINT: OnceLock<String> = OnceLock::new();
static WRAPPER: OnceLock<std::sync::Mutex<std::process::Child>> = OnceLock::new();

/// The moto server command: `BYOC_MOTO_SERVER`, the project's `.venv`, or `moto_server` on PATH.
fn moto_command() -> PathBuf {
    if let Ok(cmd) = std::env::var("BYOC_MOTO_SERVER") {
        return cmd.into();
    }
    let venv = repo_root().join(".venv/bin/moto_server");
    if venv.exists() { venv } else { "moto_server".into() }
}

/// Python with boto3 (moto's own), for creating the network prerequisites.
fn python() -> PathBuf {
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() { venv } else { "python3".into() }
}

/// The endpoint of the shared emulator, starting it on first use.
pub fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| {
            if let Ok(url) = std::env::var("BYOC_TEST_AWS_ENDPOINT") {
                return url;
            }
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let moto = moto_command();
            // The wrapper stops moto when this test process exits, however it exits.
            let script = format!(
                "MOTO_ECS_SERVICE_RUNNING=1 '{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; kill $m 2>/dev/null",
                moto.display(),
                std::process::id()
            );
            let child = Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting moto (run scripts/test, which installs it)");
            // Kept for the life of the process; the wrapper ends with it.
            let _ = WRAPPER.set(std::sync::Mutex::new(child));
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "moto did not start on {url} ({}); run scripts/test, which installs it", moto.display());
                std::thread::sleep(Duration::from_millis(100));
            }
            url
        })
        .clone()
}

/// SDK configuration for the emulator.
pub fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_for(&endpoint())
}

/// SDK configuration for an emulator endpoint (moto, or the AWS behaviour layer in front of it).
pub fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            Credentials::new("testing", "testing", None, None, "byoc-tests"),
        ))
        .timeout_config(byoc::aws::timeouts())
        .build()
}

/// A fresh, isolated world: an account (with its own VPC, subnets, security groups) and an
/// installation id unique to the test.
pub struct World {
    pub account: String,
    /// The namespace `shop` of test manifests becomes this, so names never collide across tests.
    pub namespace: String,
    pub account_yaml: String,
    pub cluster_id: String,
    pub calls: CallCounter,
    pub aws: Aws,
    /// Where the operator's AWS calls go: moto, or the AWS behaviour layer in front of it.
    pub endpoint: String,
    /// The AWS behaviour layer, when the world has one.
    pub layer: Option<Layer>,
}

impl World {
    pub fn new(test: &str) -> World {
        World::create(test, false, None)
    }

    /// A world whose load balancer pool also has `secure`, an HTTPS load balancer.
    pub fn with_https(test: &str) -> World {
        World::create(test, true, None)
    }

    /// A world whose AWS is moto behind the AWS behaviour layer: ECS deployments take time, fail
    /// and roll back, deleted names stay taken for a while, throttling and faults on demand.
    pub fn with_layer(test: &str, config: awslayer::Config) -> World {
        World::create(test, false, Some(config))
    }

    /// A world with the HTTPS load balancer `secure` in its pool, behind the AWS behaviour layer.
    pub fn with_https_layer(test: &str, config: awslayer::Config) -> World {
        World::create(test, true, Some(config))
    }

    /// The layer's timings for tests: fast, but every state is observable.
    pub fn fast_layer() -> awslayer::Config {
        awslayer::Config {
            task_start: Duration::from_millis(600),
            drain: Duration::from_millis(300),
            service_draining: Duration::from_millis(800),
            secret_name_reuse: Duration::from_millis(1500),
            target_group_in_use: Duration::from_millis(800),
            acm_record_delay: Duration::from_millis(400),
            acm_validation: Duration::from_millis(400),
            ..awslayer::Config::default()
        }
    }

    fn create(test: &str, https: bool, layer: Option<awslayer::Config>) -> World {
        let unique = format!(
            "{}-{:x}",
            test.replace('_', "-").chars().take(20).collect::<String>(),
            std::process::id() as u64 * 1000
                + COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let out = Command::new(python())
            .arg(repo_root().join("scripts/lib/prereqs.py"))
            .arg(endpoint())
            .arg(&unique)
            .args(https.then_some("--https"))
            .output()
            .expect("running scripts/lib/prereqs.py");
        assert!(
            out.status.success(),
            "prereqs.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let layer = layer.map(|config| Layer::start(&endpoint(), config));
        let aws_endpoint = layer.as_ref().map_or_else(endpoint, Layer::endpoint);
        let calls = CallCounter::default();
        let aws = Aws::new(&sdk_config_for(&aws_endpoint), calls.clone(), RateLimiter::unlimited());
        // The network was made directly on moto; everything else goes through the layer.
        let account_yaml = String::from_utf8(out.stdout).unwrap().replace(
            &format!("endpointUrl: {}", endpoint()),
            &format!("endpointUrl: {aws_endpoint}"),
        );
        World {
            namespace: format!("ns-{unique}"),
            account: unique.clone(),
            account_yaml,
            cluster_id: format!("test-{unique}"),
            calls,
            aws,
            endpoint: aws_endpoint,
            layer,
        }
    }

    /// Manifests: this world's account plus `yaml` (services, secrets), with `ACCOUNT` replaced by
    /// the account name.
    pub fn manifests(&self, yaml: &str) -> Manifests {
        let mut m = Manifests::default();
        oneshot::parse_into(&mut m, &self.account_yaml).unwrap();
        let yaml = yaml
            .replace("ACCOUNT", &self.account)
            .replace("namespace: shop", &format!("namespace: {}", self.namespace));
        oneshot::parse_into(&mut m, &yaml).unwrap();
        m
    }

    pub fn sessions(&self) -> Sessions {
        Sessions::from([(self.account.clone(), self.aws.clone())])
    }

    pub fn sessions_with(&self, aws: Aws) -> Sessions {
        Sessions::from([(self.account.clone(), aws)])
    }

    pub async fn apply(
        &self,
        yaml: &str,
    ) -> Result<Vec<(String, byoc::api::CloudServiceStatus)>, String> {
        let m = self.manifests(yaml);
        let prepared = oneshot::prepare(&m, &self.cluster_id).map_err(|e| e.join("; "))?;
        oneshot::apply(&m, &prepared, &self.sessions()).await
    }

    pub async fn plan(&self, yaml: &str) -> Vec<(String, byoc::resources::Plan)> {
        let m = self.manifests(yaml);
        let prepared = oneshot::prepare(&m, &self.cluster_id).unwrap();
        oneshot::plan(&m, &prepared, &self.sessions()).await.unwrap()
    }

    pub async fn delete(&self, yaml: &str) -> Vec<(String, byoc::resources::Plan)> {
        oneshot::delete(&self.manifests(yaml), &self.sessions(), &self.cluster_id, false)
            .await
            .unwrap()
    }

    /// Everything in the emulator tagged with this world's installation id.
    pub async fn inventory(&self) -> Vec<(String, String)> {
        super::inventory::by_cluster_id(&self.aws, &self.cluster_id).await
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
