//! Logs, metrics and the health endpoints: tracing set-up (`json` or `text`), a small Prometheus
//! registry with bounded labels, and an HTTP server for `/healthz`, `/readyz` and `/metrics`.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::aws::CallCounter;

/// Initialises tracing. `format` is `json` or `text`; `RUST_LOG` filters (default `info`).
pub fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // `try_init` fails only when a subscriber is already set (tests); that one stays.
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Logs for the one-shot commands: warnings and errors on stderr (`RUST_LOG` for more), so a
/// retried transient AWS error is visible without burying the command's own output.
pub fn init_cli_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// Upper bounds of the reconcile duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Process-wide metrics. Labels are bounded: kinds, outcomes, AWS services and operations.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    in_flight: AtomicI64,
    pub aws_calls: CallCounter,
    ready: AtomicBool,
    leader: AtomicBool,
}

/// Decrements the in-flight gauge when a reconcile ends, however it ends.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Marks a reconcile as started.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished reconcile of `kind` with `outcome` (`success`, `error`, `waiting`, …).
    pub fn reconciled(&self, kind: &'static str, outcome: &'static str, took: Duration) {
        *self
            .reconciles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((kind, outcome))
            .or_default() += 1;
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let h = durations.entry(kind).or_default();
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP byoc_reconcile_total Reconciles by kind and outcome.\n# TYPE byoc_reconcile_total counter"
        );
        for ((kind, outcome), n) in self.reconciles.lock().unwrap_or_else(|e| e.into_inner()).iter()
        {
            let _ =
                writeln!(out, "byoc_reconcile_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP byoc_reconcile_duration_seconds Reconcile duration by kind.\n# TYPE byoc_reconcile_duration_seconds histogram"
        );
        for (kind, h) in self.durations.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "byoc_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "byoc_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ =
                writeln!(out, "byoc_reconcile_duration_seconds_sum{{kind=\"{kind}\"}} {}", h.sum);
            let _ = writeln!(
                out,
                "byoc_reconcile_duration_seconds_count{{kind=\"{kind}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP byoc_reconcile_in_flight Reconciles running now (the work queue being drained).\n# TYPE byoc_reconcile_in_flight gauge"
        );
        let _ =
            writeln!(out, "byoc_reconcile_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP byoc_aws_api_calls_total AWS API calls by service, operation and outcome.\n# TYPE byoc_aws_api_calls_total counter"
        );
        for (k, n) in self.aws_calls.snapshot() {
            let _ = writeln!(
                out,
                "byoc_aws_api_calls_total{{service=\"{}\",operation=\"{}\",outcome=\"{}\"}} {n}",
                k.service, k.operation, k.outcome
            );
        }
        let _ = writeln!(
            out,
            "# HELP byoc_leader Whether this replica holds the leader lease.\n# TYPE byoc_leader gauge"
        );
        let _ = writeln!(out, "byoc_leader {}", u8::from(self.leader.load(Ordering::Relaxed)));
        out
    }
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

fn route(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/healthz" => respond(StatusCode::OK, "ok\n".into()),
        "/readyz" if metrics.is_ready() => respond(StatusCode::OK, "ready\n".into()),
        "/readyz" => respond(StatusCode::SERVICE_UNAVAILABLE, "not ready\n".into()),
        "/metrics" => respond(StatusCode::OK, metrics.render()),
        _ => respond(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// Serves the health and metrics endpoints until the process ends. Returns the bound address.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let response = route(&metrics, &req);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(local)
}
