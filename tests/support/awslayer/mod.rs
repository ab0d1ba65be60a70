//! The AWS behaviour layer: an HTTP proxy in front of moto that plays what real AWS does and moto
//! does not, each behaviour following the AWS page its module cites. moto answers at once and
//! never fails; through the layer, ECS deployments take time, fail, trip the circuit breaker and
//! roll back, and deleted services drain (`ecs`, `ecs_model`, `service`, `deployment`); ECS
//! Service Connect runs with each deployment and keeps its Cloud Map services (`connect`,
//! `connect_model`), and Cloud Map refuses what it refuses and filters what it lists
//! (`cloudmap`); CodeBuild builds run through their phases in time, fail, time out and stop,
//! write their log lines into CloudWatch Logs and push their image into ECR (`codebuild`,
//! `codebuild_model`, `build`, `build_effects`, `build_log`, `build_image`); deleted secret names
//! stay taken for a while (`secrets`); target groups stay "in use" after their rule goes and are
//! created idempotently (`elb`); requests are throttled at AWS's default rates (`throttle`); and
//! faults can be injected on demand (`faults`). Everything else is forwarded to moto unchanged
//! (`proxy`, `wire`). The layer models one account in one Region.
//!
//! ACM names a certificate's DNS validation record after a while, one per domain, issues the
//! certificate once that record is in a Route 53 hosted zone, and refuses to delete it while a
//! listener holds it (`acm`); Route 53 validates a change batch whole and refuses to delete a
//! record set that is not there as named (`route53`); listeners take only certificates that
//! exist and are issued, each once (`listener_certs`).
//!
//! The layer runs on its own thread with its own Tokio runtime, so it serves sync tests and any
//! `#[tokio::test]` alike. It stops when the last `Layer` clone is dropped, or on `stop`.
//!
//! ```ignore
//! let layer = Layer::start(&support::moto::endpoint(), Config::default());
//! let ecs = aws_sdk_ecs::Client::new(&layer.sdk_config());
//! ```

mod acm;
mod autoscaling;
mod build;
mod build_effects;
mod build_image;
mod build_log;
mod cloudmap;
mod codebuild;
mod codebuild_model;
mod connect;
mod connect_model;
mod deployment;
mod ecs;
mod ecs_model;
mod elb;
mod faults;
mod listener_certs;
mod proxy;
mod route53;
mod secrets;
mod service;
mod throttle;
mod wire;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant, SystemTime},
};

// Each test binary uses a part of the API.
#[allow(unused_imports)]
pub use codebuild_model::BuildSummary;
#[allow(unused_imports)]
pub use faults::{Fault, FaultKind};
#[allow(unused_imports)]
pub use throttle::{Rate, buckets};

/// What the layer plays, and how fast.
#[derive(Clone, Debug)]
pub struct Config {
    /// A task goes from PENDING to RUNNING after this.
    pub task_start: Duration,
    /// Once the new deployment's tasks all run, the old deployment drains this long, then
    /// disappears and the new one is COMPLETED.
    pub drain: Duration,
    /// Substrings: tasks of a task definition whose container image contains one of them never
    /// become healthy.
    pub failing_images: Vec<String>,
    /// After DeleteService: DRAINING this long, then INACTIVE.
    pub service_draining: Duration,
    /// After a force delete, CreateSecret with that name fails this long.
    pub secret_name_reuse: Duration,
    /// DeleteTargetGroup answers ResourceInUse this long after the last rule forwarding to the
    /// group was deleted or modified away.
    pub target_group_in_use: Duration,
    /// `None`: no throttling; `Some(f)`: AWS's default rates and bursts multiplied by `f`.
    pub throttle_scale: Option<f64>,
    /// A CodeBuild build runs from SUBMITTED to COMPLETED in this long, unless it stops early.
    pub build_duration: Duration,
    /// Substrings: a build fails in its BUILD phase when one of its environment variables' values
    /// or its source location contains one of them.
    pub failing_builds: Vec<String>,
    /// A successful build's image appears in ECR this long after the build reports SUCCEEDED.
    pub image_push_lag: Duration,
    /// How long one of a build's `timeoutInMinutes` minutes lasts.
    pub build_minute: Duration,
    /// After RequestCertificate, DescribeCertificate names no validation record (no
    /// `ResourceRecord`) for this long.
    pub acm_record_delay: Duration,
    /// A certificate is ISSUED this long after all its validation records are in a hosted zone.
    pub acm_validation: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            task_start: Duration::from_secs(2),
            drain: Duration::from_secs(1),
            failing_images: vec!["broken".into()],
            service_draining: Duration::from_secs(2),
            secret_name_reuse: Duration::from_secs(3),
            target_group_in_use: Duration::from_secs(2),
            throttle_scale: None,
            build_duration: Duration::from_secs(2),
            failing_builds: vec!["broken".into()],
            image_push_lag: Duration::ZERO,
            build_minute: Duration::from_secs(60),
            acm_record_delay: Duration::from_secs(2),
            acm_validation: Duration::from_secs(1),
        }
    }
}

/// One request the layer saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// `ecs`, `elbv2`, `secretsmanager`, `ecr`, `logs`, `ec2`, …
    pub service: String,
    pub operation: String,
    /// The HTTP status returned; 0 when the connection was closed without a response.
    pub status: u16,
    /// `ok`, `throttled`, `fault`, or `error:<Code>`.
    pub outcome: String,
    /// Time since the layer started.
    pub at: Duration,
}

/// A running layer. Clones share it.
#[derive(Clone)]
pub struct Layer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    endpoint: String,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(());
        }
    }
}

/// State shared by the proxy's connections.
pub(crate) struct Shared {
    pub upstream: proxy::Upstream,
    pub started: Instant,
    pub started_wall: SystemTime,
    /// Held while CodeBuild's effects are brought up to date (so each happens once and in order)
    /// and through a StartBuild or UpdateProject.
    pub settling: tokio::sync::Mutex<()>,
    /// Held through a Cloud Map namespace write, and through an ECS CreateService or
    /// UpdateService with Service Connect from its checks until what it made is recorded.
    pub cloud_map: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

pub(crate) struct State {
    pub config: Config,
    pub faults: faults::Faults,
    pub throttle: throttle::Throttle,
    pub rng: faults::Rng,
    pub calls: Vec<Call>,
    pub reached: HashMap<String, usize>,
    pub throttled: usize,
    pub ecs: ecs_model::Model,
    pub elb: elb::Model,
    pub secrets: secrets::Model,
    pub codebuild: codebuild_model::Model,
    pub autoscaling: autoscaling::Model,
    pub connect: connect_model::Model,
    pub cloudmap: cloudmap::Model,
    pub acm: acm::Model,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wall-clock time of an instant.
    pub fn wall(&self, at: Instant) -> SystemTime {
        match at.checked_duration_since(self.started) {
            Some(after) => self.started_wall + after,
            None => self.started_wall - self.started.duration_since(at),
        }
    }

    /// Seconds since the epoch of an instant, as AWS's JSON timestamps carry them.
    pub fn epoch(&self, at: Instant) -> f64 {
        let wall = self.wall(at);
        let secs = wall.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        (secs * 1000.0).round() / 1000.0
    }
}

impl Layer {
    /// Starts a layer in front of `upstream` (moto's URL) on a free port of 127.0.0.1.
    pub fn start(upstream: &str, config: Config) -> Layer {
        Layer::start_on(upstream, config, 0)
    }

    /// Starts a layer on the given port of 127.0.0.1 (0: any free port).
    pub fn start_on(upstream: &str, config: Config, port: u16) -> Layer {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap_or_else(|e| panic!("binding the AWS layer to port {port}: {e}"));
        let address = listener.local_addr().expect("a bound listener has an address");
        listener.set_nonblocking(true).expect("setting the listener non-blocking");
        // Faults draw from a fixed seed, so a test sees the same sequence on every run; ids differ
        // per layer.
        let seed = 0x5EED_0000_u64;
        let shared = Arc::new(Shared {
            upstream: proxy::Upstream::new(upstream),
            started: Instant::now(),
            started_wall: SystemTime::now(),
            settling: tokio::sync::Mutex::new(()),
            cloud_map: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                config,
                faults: faults::Faults::new(seed),
                throttle: throttle::Throttle::default(),
                rng: faults::Rng::new(seed ^ u64::from(address.port())),
                calls: Vec::new(),
                reached: HashMap::new(),
                throttled: 0,
                ecs: ecs_model::Model::default(),
                elb: elb::Model::default(),
                secrets: secrets::Model::default(),
                codebuild: codebuild_model::Model::default(),
                autoscaling: autoscaling::Model::default(),
                connect: connect_model::Model::default(),
                cloudmap: cloudmap::Model::default(),
                acm: acm::Model::default(),
            }),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        std::thread::Builder::new()
            .name(format!("aws-layer-{}", address.port()))
            .spawn(move || proxy::serve(listener, serving, stopped))
            .expect("spawning the AWS layer thread");
        Layer {
            inner: Arc::new(Inner {
                shared,
                endpoint: format!("http://{address}"),
                stop: Mutex::new(Some(stop)),
            }),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint.clone()
    }

    /// Stops serving now (dropping the last clone does the same).
    pub fn stop(&self) {
        if let Some(stop) = self.inner.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(());
        }
    }

    /// SDK configuration for clients that talk to AWS through this layer (region eu-west-1,
    /// test credentials, the operator's timeouts, the SDK's standard retries).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_config::{BehaviorVersion, Region};
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "layer"),
            ))
            .timeout_config(byoc::aws::timeouts())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .build()
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Turns throttling off (`None`) or on at AWS's rates times `scale`; buckets start full.
    pub fn set_throttle_scale(&self, scale: Option<f64>) {
        let mut state = self.shared().lock();
        state.config.throttle_scale = scale;
        state.throttle.reset();
    }

    /// Image substrings whose tasks fail to start, for deployments started from now on.
    pub fn set_failing_images(&self, images: Vec<String>) {
        self.shared().lock().config.failing_images = images;
    }

    pub fn inject(&self, fault: Fault) {
        self.shared().lock().faults.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.shared().lock().faults.clear();
    }

    /// Deployments started by CreateService and UpdateService calls for that ECS service name
    /// (ECS's own rollback deployments not included).
    pub fn deployments_created(&self, service_name: &str) -> usize {
        self.shared().lock().ecs.deployments_created(service_name)
    }

    /// Substrings of environment variable values (or source locations) whose builds fail, for
    /// builds started from now on.
    pub fn set_failing_builds(&self, substrings: Vec<String>) {
        self.shared().lock().config.failing_builds = substrings;
    }

    /// Builds StartBuild created, in every project (an idempotent repeat creates none).
    pub fn started_builds(&self) -> usize {
        self.shared().lock().codebuild.started()
    }

    /// The builds of a CodeBuild project, oldest first, as they stand now. A build waiting for
    /// the layer to look at moto (its image push, its S3 source) reads IN_PROGRESS until the next
    /// CodeBuild, ECR or CloudWatch Logs request settles it.
    pub fn builds(&self, project: &str) -> Vec<BuildSummary> {
        self.shared().lock().codebuild.summaries(project, Instant::now())
    }

    /// Every request seen, in the order they were answered (`at` is when each arrived).
    pub fn calls(&self) -> Vec<Call> {
        self.shared().lock().calls.clone()
    }

    /// Requests of `operation` that reached moto.
    pub fn count(&self, operation: &str) -> usize {
        self.shared().lock().reached.get(operation).copied().unwrap_or(0)
    }

    /// Requests answered with a throttling error.
    pub fn throttled(&self) -> usize {
        self.shared().lock().throttled
    }
}
