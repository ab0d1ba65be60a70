//! A test-only, in-process stand-in for kube-apiserver: plain HTTP on 127.0.0.1, serving the
//! built-in resources the operator, kubectl and the Helm chart touch plus every CRD found in a
//! directory, with kube-apiserver's semantics for discovery, CRUD, patch, server-side apply,
//! watch, schema and CEL validation, built-in defaults and validation, finalizers and error
//! `Status` bodies. `ApiServer::start` binds a random port and returns a handle with a kube
//! `Client`, a kubeconfig for kubectl, fault hooks and the log of served requests. State lives in
//! memory and dies with the handle.

mod admission;
mod builtins;
mod cel;
mod delete;
mod discovery;
pub mod faults;
mod fieldset;
mod http;
mod kinds;
mod merge;
mod meta;
mod network;
mod openapi;
mod patch;
mod prune;
mod rbac;
mod read;
mod registry;
mod router;
mod schema;
mod selectors;
mod ssa;
mod status;
mod store;
mod table;
mod watch;
mod workloads;
mod write;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::watch as notify;

#[allow(unused_imports)]
pub use faults::{Fault, Faults, LoggedRequest};

use self::http::{Body, Reply, Request};
use self::store::State;

/// What every connection handler shares.
pub(crate) struct Shared {
    state: Mutex<State>,
    faults: Faults,
    notify: notify::Receiver<u64>,
    address: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler never panics while holding the lock in normal operation; if a test panicked,
        // keep serving the remaining state rather than cascading the failure.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running stand-in API server. Dropping it stops accepting connections.
pub struct ApiServer {
    shared: Arc<Shared>,
    address: SocketAddr,
    dir: PathBuf,
    accept: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// Binds 127.0.0.1 on a random port and registers every CRD in the YAML files of `crd_dir`
    /// (multi-document files allowed). Panics with the reason when a file is unusable.
    pub async fn start(crd_dir: &Path) -> ApiServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0 for the stand-in API server");
        let address = listener.local_addr().expect("local address of the listener");
        let (notify_tx, notify_rx) = notify::channel(0);
        let mut state = State::new(notify_tx);
        state.seed_namespace("default");
        state.seed_namespace("kube-system");
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Faults::new(),
            notify: notify_rx,
            address: address.to_string(),
        });
        for crd in read_crds(crd_dir) {
            install_crd(&shared, crd);
        }
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        let dir = std::env::temp_dir().join(format!(
            "byoc-apiserver-{}-{}",
            std::process::id(),
            address.port()
        ));
        std::fs::create_dir_all(&dir).expect("creating the stand-in's temp dir");
        let server = ApiServer { shared, address, dir, accept };
        std::fs::write(server.kubeconfig_path(), server.kubeconfig())
            .expect("writing the stand-in's kubeconfig");
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kubeconfig (context namespace `default`, no auth) pointing at this server.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// A scratch directory removed with the server (kubectl's cache dir, for one).
    pub fn temp_dir(&self) -> &Path {
        &self.dir
    }

    fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {}\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: stand-in\n    namespace: default\ncurrent-context: stand-in\nusers:\n- name: stand-in\n  user: {{}}\n",
            self.url()
        )
    }

    /// A kube client for this server, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        let url = self.url().parse().expect("the server URL is a valid URI");
        let config = kube::Config::new(url);
        kube::Client::try_from(config).expect("building a kube client for the stand-in")
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.faults.request_log()
    }

    /// Forgets all retained watch events: watches from older versions now get 410 Expired.
    pub fn compact_history(&self) {
        self.shared.lock().compact();
    }

    /// Keeps at most `limit` watch events (default 1000).
    pub fn set_history_limit(&self, limit: usize) {
        self.shared.lock().set_history_limit(limit);
    }

    /// The latest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().resource_version
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_crds(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading CRD dir {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
        crds.extend(
            documents.into_iter().filter(|d| {
                d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
            }),
        );
    }
    crds
}

/// Creates a CRD through the same path `kubectl apply` would take.
fn install_crd(shared: &Arc<Shared>, crd: Value) {
    let body = Bytes::from(crd.to_string());
    let request = Request::new(
        ::http::Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?fieldManager=apiserver-start",
        &::http::HeaderMap::new(),
        body,
    );
    let reply = router::dispatch(shared, &request);
    if reply.status >= 300 {
        let detail = match &reply.body {
            Body::Json(v) => v.to_string(),
            _ => String::new(),
        };
        panic!("installing CRD failed with {}: {detail}", reply.status);
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type ResponseBody = BoxBody<Bytes, std::io::Error>;

async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<ResponseBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let path_and_query =
        parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let request = Request::new(parts.method.clone(), &path_and_query, &parts.headers, bytes);
    let reply = match shared.faults.take(&parts.method, &path_and_query) {
        Some(error) => error.into(),
        None => router::dispatch(&shared, &request),
    };
    shared.faults.log(&parts.method, &path_and_query, reply.status);
    Ok(to_response(reply))
}

fn to_response(reply: Reply) -> hyper::Response<ResponseBody> {
    let mut builder = hyper::Response::builder().status(reply.status);
    for warning in &reply.warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        builder = builder.header("Warning", format!("299 - \"{escaped}\""));
    }
    if let Some(seconds) = reply.retry_after_seconds {
        builder = builder.header("Retry-After", seconds.to_string());
    }
    let (content_type, body): (&str, ResponseBody) = match reply.body {
        Body::Json(value) => (
            "application/json",
            Full::new(Bytes::from(value.to_string())).map_err(|never| match never {}).boxed(),
        ),
        Body::Text(text) => (
            "text/plain; charset=utf-8",
            Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed(),
        ),
        Body::Stream(receiver) => {
            let frames = futures::stream::unfold(receiver, |mut rx| async move {
                rx.recv().await.map(|item| (item.map(Frame::data), rx))
            });
            ("application/json", StreamBody::new(frames).boxed())
        }
    };
    builder.header("Content-Type", content_type).body(body).unwrap_or_else(|_| {
        hyper::Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed())
    })
}
