//! `/metrics` of the `byoc controller` binary, scraped while it runs CloudServices against a
//! Kubernetes API (the stand-in, or the real cluster of `BYOC_E2E_KUBECONFIG`) and moto behind the
//! AWS behaviour layer. Every scrape is read by Prometheus' own parsers (the Python client's
//! OpenMetrics and text-format parsers, from the `.venv` that `scripts/lib/get-moto` fills), and
//! the assertions are on what they return: the metric families of the contract with their types,
//! a ready, a stalled and a suspended service's gauges, AWS calls counted exactly as the AWS side
//! saw them, rate-limit waits, and series gone with their services.

mod support;

use std::{
    collections::BTreeMap,
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use kube::api::DeleteParams;
use serde::Deserialize;
use support::{
    apiserver::Fault,
    e2e::{Kube, Operator, account_yaml, has_condition, service_gone, service_where, wait_for},
    moto::World,
};

const TIMEOUT: Duration = Duration::from_secs(90);
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// What Prometheus 3 sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Every family of the metrics contract, as the parsers name them, with its type.
const CONTRACT: [(&str, &str); 13] = [
    ("byoc_reconcile", "counter"),
    ("byoc_reconcile_duration_seconds", "histogram"),
    ("byoc_reconcile_in_flight", "gauge"),
    ("byoc_aws_api_calls", "counter"),
    ("byoc_leader", "gauge"),
    ("byoc_service_ready", "gauge"),
    ("byoc_service_stalled", "gauge"),
    ("byoc_service_suspended", "gauge"),
    ("byoc_aws_throttled", "counter"),
    ("byoc_aws_rate_limit_waits", "counter"),
    ("byoc_aws_rate_limit_wait_seconds", "counter"),
    ("byoc_watch_errors", "counter"),
    ("byoc_build_info", "gauge"),
];

/// Parses the exposition on stdin with the parser of the Python client named by argv[1] and
/// prints its metric families as JSON; the parser's error (and a non-zero exit) otherwise.
const PARSE: &str = r#"
import json, sys
if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
families = [
    {"name": f.name, "type": f.type, "unit": f.unit,
     "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
    for f in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
"#;

#[derive(Debug, Clone, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    type_: String,
    samples: Vec<Sample>,
}

#[derive(Debug, Clone, Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One scrape as the parsers read it.
#[derive(Debug, Clone)]
struct Scrape {
    families: Vec<Family>,
}

impl Scrape {
    fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Samples named `sample` whose labels include every pair of `labels`.
    fn samples(&self, sample: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| s.name == sample)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v)))
            .collect()
    }

    /// The value of the one sample `sample` with `labels`; `None` when there is none.
    fn value(&self, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.samples(sample, labels);
        assert!(found.len() <= 1, "{sample}{labels:?} is not one series: {found:?}");
        found.first().map(|s| s.value)
    }

    /// The sum of the samples `sample` with `labels`.
    fn sum(&self, sample: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(sample, labels).iter().map(|s| s.value).sum()
    }

    /// `byoc_aws_api_calls_total` of write operations, summed per operation.
    fn aws_writes(&self) -> BTreeMap<String, u64> {
        let mut writes = BTreeMap::new();
        for s in self.samples("byoc_aws_api_calls_total", &[]) {
            let operation = s.labels["operation"].clone();
            if byoc::aws::is_write(&operation) {
                *writes.entry(operation).or_default() += s.value as u64;
            }
        }
        writes
    }
}

/// The Python that has Prometheus' client: next to `BYOC_MOTO_SERVER` (what `get-moto` prints),
/// else the repository's `.venv`.
fn python() -> PathBuf {
    let beside_moto = std::env::var("BYOC_MOTO_SERVER")
        .ok()
        .and_then(|m| Some(PathBuf::from(m).parent()?.join("python")))
        .filter(|p| p.exists());
    beside_moto.unwrap_or_else(|| support::manifests::repo_root().join(".venv/bin/python"))
}

/// `body` through the Python client's parser `parser` (`openmetrics` or `text`); panics with the
/// parser's own error when it refuses the exposition.
fn parse(parser: &str, body: &str) -> Scrape {
    let python = python();
    let mut child = Command::new(&python)
        .args(["-c", PARSE, parser])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running {} (run scripts/lib/get-moto to install it): {e}", python.display())
        });
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' {parser} parser refused /metrics: {}\n--- exposition ---\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    Scrape { families: serde_json::from_slice(&out.stdout).unwrap() }
}

/// GET /metrics with `accept`: (status, content type, body).
async fn get_metrics(op: &Operator, accept: Option<&str>) -> Option<(u16, String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = op.health.strip_prefix("http://")?;
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default();
    Some((status, content_type, body.to_string()))
}

/// A scrape as Prometheus makes it: OpenMetrics, checked by the OpenMetrics parser.
async fn scrape(op: &Operator) -> Scrape {
    let (status, content_type, body) =
        get_metrics(op, Some(PROMETHEUS_ACCEPT)).await.expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, OPENMETRICS);
    parse("openmetrics", &body)
}

/// Polls OpenMetrics scrapes until `check` holds.
async fn scrape_until(op: &Operator, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    wait_for(what, TIMEOUT, || async { Some(scrape(op).await) }, check).await
}

fn service(w: &World, ns: &str, name: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: {{ name: {name}, namespace: {ns} }}
spec:
  accountRef: {{ name: {account} }}
  image: nginx:1.26
  ports: [{{ name: http, containerPort: 80 }}]
  replicas: 1
  healthCheck: {{ path: /healthz }}
{extra}"#,
        account = w.account
    )
}

#[tokio::test]
async fn metrics_parse_as_openmetrics_and_follow_services_aws_calls_and_watches() {
    let w = World::with_layer("e2e-metrics", World::fast_layer());
    let kube = Kube::start("metrics", 1).await;
    let ns = kube.namespaces[0].clone();
    // Client-side limits at a fifth of AWS's, so that the account's and service's first calls
    // queue for tokens.
    let op = Operator::start(&kube, &w, &["--aws-rate-scale", "0.2"]);
    kube.apply(&account_yaml(&w)).await;
    let ingress = "  ingress: { loadBalancer: public, hosts: [metrics.example.com], paths: [\"/*\"], port: http }\n";
    kube.apply(&service(&w, &ns, "web", ingress)).await;
    // A load balancer the account's pool does not have: InvalidSpec, no finalizer, no AWS call.
    kube.apply(&service(&w, &ns, "broken", &ingress.replace("public", "nowhere"))).await;
    kube.apply(&service(&w, &ns, "paused", "  suspend: true\n")).await;
    service_where(&kube, &ns, "web", "Ready", TIMEOUT, |s| has_condition(s, "Ready", None)).await;
    service_where(&kube, &ns, "broken", "Stalled InvalidSpec", TIMEOUT, |s| {
        has_condition(s, "Stalled", Some("InvalidSpec"))
    })
    .await;

    let ready = [("namespace", ns.as_str()), ("name", "web")];
    let broken = [("namespace", ns.as_str()), ("name", "broken")];
    let paused = [("namespace", ns.as_str()), ("name", "paused")];
    let m = scrape_until(&op, "the gauges of all three services", |m| {
        m.value("byoc_service_ready", &ready) == Some(1.0)
            && m.value("byoc_service_suspended", &paused) == Some(1.0)
            && m.value("byoc_service_stalled", &broken).is_some()
    })
    .await;
    for (name, type_) in CONTRACT {
        let family = m.family(name).unwrap_or_else(|| panic!("no family {name}: {m:#?}"));
        assert_eq!(family.type_, type_, "{name}");
    }
    // Ready, stalled with its reason (one series), suspended.
    assert_eq!(m.value("byoc_service_ready", &broken), Some(0.0));
    assert_eq!(m.value("byoc_service_ready", &paused), Some(0.0));
    assert_eq!(m.value("byoc_service_suspended", &ready), Some(0.0));
    assert_eq!(m.value("byoc_service_suspended", &broken), Some(0.0));
    let stalled = m.samples("byoc_service_stalled", &broken);
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!((stalled[0].labels["reason"].as_str(), stalled[0].value), ("InvalidSpec", 1.0));
    assert!(m.samples("byoc_service_stalled", &ready).is_empty());
    // The process: leading (no leader election), its version, reconciles counted.
    assert_eq!(m.value("byoc_leader", &[]), Some(1.0));
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(
        m.value("byoc_build_info", &version),
        Some(1.0),
        "{:?}",
        m.family("byoc_build_info")
    );
    let service_reconciles = [("kind", "CloudService"), ("outcome", "success")];
    assert!(m.value("byoc_reconcile_total", &service_reconciles) >= Some(1.0));
    assert!(
        m.value("byoc_reconcile_total", &[("kind", "CloudService"), ("outcome", "stalled")])
            >= Some(1.0)
    );
    let durations = [("kind", "CloudService")];
    assert_eq!(
        m.value("byoc_reconcile_duration_seconds_count", &durations),
        m.value(
            "byoc_reconcile_duration_seconds_bucket",
            &[("kind", "CloudService"), ("le", "+Inf")]
        )
    );
    assert!(m.value("byoc_reconcile_in_flight", &[]) >= Some(0.0));
    // Waits for client-side tokens at a fifth of AWS's rates.
    let waits = m.sum("byoc_aws_rate_limit_waits_total", &[]);
    let waited = m.sum("byoc_aws_rate_limit_wait_seconds_total", &[]);
    assert!(waits >= 1.0 && waited > 0.0, "waits {waits}, {waited}s");

    // Every AWS write the layer answered is counted once, under its operation.
    let layer = w.layer.clone().expect("the world's AWS layer");
    let layer_writes = || {
        let mut writes: BTreeMap<String, u64> = BTreeMap::new();
        for call in layer.calls().into_iter().filter(|c| byoc::aws::is_write(&c.operation)) {
            *writes.entry(call.operation).or_default() += 1;
        }
        writes
    };
    let m = scrape_until(&op, "the AWS writes the layer saw, counted", |m| {
        m.aws_writes() == layer_writes()
    })
    .await;
    assert!(m.aws_writes().get("CreateService") == Some(&1), "{:?}", m.aws_writes());
    assert_eq!(m.sum("byoc_aws_throttled_total", &[]), 0.0, "no throttling yet");

    // The same metrics in the Prometheus text format, for scrapers that do not ask for OpenMetrics.
    let (status, content_type, body) = get_metrics(&op, None).await.unwrap();
    assert_eq!((status, content_type.as_str()), (200, PROMETHEUS_TEXT));
    let text = parse("text", &body);
    for (name, type_) in CONTRACT {
        let family =
            text.family(name).unwrap_or_else(|| panic!("no family {name} in the text format"));
        assert_eq!(family.type_, type_, "{name}");
    }
    assert_eq!(text.value("byoc_service_ready", &ready), Some(1.0));

    // AWS throttling: counted per client-side bucket (after the SDK's retries).
    layer.set_throttle_scale(Some(0.000_001));
    kube.apply(&service(&w, &ns, "web", ingress).replace("replicas: 1", "replicas: 2")).await;
    let m = scrape_until(&op, "throttled calls", |m| m.sum("byoc_aws_throttled_total", &[]) >= 1.0)
        .await;
    layer.set_throttle_scale(None);
    let throttled_calls = m.sum("byoc_aws_api_calls_total", &[("outcome", "throttled")]);
    assert_eq!(m.sum("byoc_aws_throttled_total", &[]), throttled_calls);
    // Each throttled call is the last of the SDK's attempts the layer throttled.
    assert!(layer.throttled() as f64 >= throttled_calls, "{} throttled", layer.throttled());

    // Deleting a service drops its series: released finalizer (web), or none held (broken).
    let services = kube.services(&ns);
    for name in ["web", "broken"] {
        services.delete(name, &DeleteParams::default()).await.unwrap();
        service_gone(&kube, &ns, name, TIMEOUT).await;
    }
    let m = scrape_until(&op, "the deleted services' series gone", |m| {
        m.samples("byoc_service_ready", &ready).is_empty()
            && m.samples("byoc_service_ready", &broken).is_empty()
    })
    .await;
    assert!(m.samples("byoc_service_stalled", &broken).is_empty());
    assert!(m.samples("byoc_service_suspended", &ready).is_empty());
    assert_eq!(m.value("byoc_service_suspended", &paused), Some(1.0));

    // Watch errors: on the stand-in, cut every watch and refuse the first new watch of each
    // kind (a real cluster's watches fail on their own schedule, not on demand).
    if let Some(server) = &kube.stand_in {
        let before = scrape(&op).await;
        let errors = |m: &Scrape, kind: &str| m.value("byoc_watch_errors_total", &[("kind", kind)]);
        let faults = server.faults();
        for resource in ["/cloudservices?", "/cloudaccounts?", "/secrets?"] {
            faults.fail_next_matching(1, Fault::InternalError, move |_, path| {
                path.contains(resource) && path.contains("watch=true")
            });
        }
        faults.drop_watches();
        scrape_until(&op, "a watch error of each kind", |m| {
            ["CloudService", "CloudAccount", "Secret"]
                .iter()
                .all(|kind| errors(m, kind) > errors(&before, kind))
        })
        .await;
    }
    kube.cleanup(&[&w.account]).await;
}
