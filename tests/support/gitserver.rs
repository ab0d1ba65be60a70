//! A tiny Git smart-HTTP server for tests: it answers only the ref advertisement,
//! `GET /<repo>.git/info/refs?service=git-upload-pack` (or `/<repo>/info/refs?...`), with a v0
//! advertisement (<https://git-scm.com/docs/http-protocol>) from an in-memory map of
//! repositories, so a test can "push" by moving a ref.
//!
//! It runs on its own thread with a current-thread Tokio runtime, so it serves `#[test]`s and
//! `#[tokio::test]`s alike, and stops when dropped. Like GitHub it serves only clients whose
//! `User-Agent` starts with `git/` (400 otherwise). Like a server without protocol v2 it
//! ignores a `Git-Protocol` header.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// The capabilities a git 2.x server advertises, minus `symref` and `agent`.
const CAPABILITIES: &str = "multi_ack thin-pack side-band side-band-64k ofs-delta shallow \
                            no-progress include-tag multi_ack_detailed no-done object-format=sha1";

#[derive(Default)]
struct Repo {
    /// The branch `HEAD` points to.
    head: Option<String>,
    /// Ref name → (object id, peeled commit id for an annotated tag).
    refs: BTreeMap<String, (String, Option<String>)>,
    /// The `Authorization` header value required, if any.
    auth: Option<String>,
    /// Answer every request with a 301 to this repository URL.
    redirect: Option<String>,
    /// Answer every request with this status.
    status: Option<u16>,
    /// Wait this long before answering.
    delay: Option<Duration>,
}

#[derive(Default)]
struct State {
    repos: HashMap<String, Repo>,
    requests: HashMap<String, usize>,
}

/// A running test Git server; stops when dropped.
pub struct GitServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GitServer {
    /// Starts a server on `127.0.0.1` with a random port and no repositories.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, stopped) = oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gitserver-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("gitserver runtime");
                runtime.block_on(serve(listener, shared, stopped));
            })
            .expect("spawn gitserver thread");
        Self { addr, state, stop: Some(stop), thread: Some(thread) }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The clone URL of `repo`: `http://127.0.0.1:PORT/<repo>.git`.
    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}.git", self.addr)
    }

    /// Creates or moves `reference` (e.g. `refs/heads/main`) of `repo` to `oid`, creating the
    /// repository if needed. The first branch set becomes `HEAD`.
    pub fn set_ref(&self, repo: &str, reference: &str, oid: &str) {
        self.with_repo(repo, |r| {
            if r.head.is_none() && reference.starts_with("refs/heads/") {
                r.head = Some(reference.to_string());
            }
            r.refs.insert(reference.to_string(), (oid.to_string(), None));
        });
    }

    /// Creates an annotated tag `refs/tags/<tag>`: tag object `tag_oid` pointing to `commit`.
    pub fn set_annotated_tag(&self, repo: &str, tag: &str, tag_oid: &str, commit: &str) {
        let value = (tag_oid.to_string(), Some(commit.to_string()));
        self.with_repo(repo, |r| r.refs.insert(format!("refs/tags/{tag}"), value));
    }

    /// Deletes `reference` from `repo`.
    pub fn remove_ref(&self, repo: &str, reference: &str) {
        self.with_repo(repo, |r| r.refs.remove(reference));
    }

    /// Points `HEAD` of `repo` at `branch` (a full ref name such as `refs/heads/dev`).
    pub fn set_head(&self, repo: &str, branch: &str) {
        self.with_repo(repo, |r| r.head = Some(branch.to_string()));
    }

    /// Creates `repo` with no refs at all (a freshly created, empty repository).
    pub fn create_empty(&self, repo: &str) {
        self.with_repo(repo, |_| ());
    }

    /// Requires HTTP basic auth with `username` and `password` for `repo`; other requests get
    /// 401 with `WWW-Authenticate: Basic`.
    pub fn require_auth(&self, repo: &str, username: &str, password: &str) {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.with_repo(repo, |r| r.auth = Some(format!("Basic {encoded}")));
    }

    /// Answers requests for `repo` with a 301 to the repository at `target_url` (like a renamed
    /// GitHub repository).
    pub fn redirect(&self, repo: &str, target_url: &str) {
        self.with_repo(repo, |r| r.redirect = Some(target_url.trim_end_matches('/').to_string()));
    }

    /// Answers requests for `repo` with `status` (e.g. 500), or normally again with `None`.
    pub fn fail_with(&self, repo: &str, status: Option<u16>) {
        self.with_repo(repo, |r| r.status = status);
    }

    /// Delays every answer for `repo` by `delay`.
    pub fn delay(&self, repo: &str, delay: Duration) {
        self.with_repo(repo, |r| r.delay = Some(delay));
    }

    /// How many requests the server has received, for all repositories and paths.
    pub fn requests(&self) -> usize {
        self.lock().requests.values().sum()
    }

    /// How many requests named `repo` (whatever their answer).
    pub fn requests_for(&self, repo: &str) -> usize {
        self.lock().requests.get(repo).copied().unwrap_or(0)
    }

    fn with_repo<T>(&self, repo: &str, f: impl FnOnce(&mut Repo) -> T) -> T {
        f(self.lock().repos.entry(repo.to_string()).or_default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<Mutex<State>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, &request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new();
            let _ = connection.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(state: &Mutex<State>, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (delay, response) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        answer(&mut state, request)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn answer(
    state: &mut State,
    request: &Request<Incoming>,
) -> (Option<Duration>, Response<Full<Bytes>>) {
    let path = request.uri().path();
    let name = path.strip_suffix("/info/refs").unwrap_or(path).trim_start_matches('/');
    let name = name.strip_suffix(".git").unwrap_or(name).to_string();
    *state.requests.entry(name.clone()).or_default() += 1;
    if !path.ends_with("/info/refs") || request.method() != hyper::Method::GET {
        return (None, plain(StatusCode::NOT_FOUND, "not found"));
    }
    if let Some(refusal) = refuse_client(request) {
        return (None, refusal);
    }
    let Some(repo) = state.repos.get(&name) else {
        return (None, plain(StatusCode::NOT_FOUND, "Repository not found."));
    };
    (repo.delay, answer_repo(repo, request))
}

/// 400 for a client that is not git, 403 for a dumb-protocol request.
fn refuse_client(request: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let headers = request.headers();
    let agent = headers.get(header::USER_AGENT).and_then(|a| a.to_str().ok()).unwrap_or("");
    if !agent.starts_with("git/") {
        return Some(plain(StatusCode::BAD_REQUEST, "User-Agent must start with git/"));
    }
    if request.uri().query() != Some("service=git-upload-pack") {
        return Some(plain(StatusCode::FORBIDDEN, "dumb HTTP protocol not supported"));
    }
    None
}

fn answer_repo(repo: &Repo, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some(status) = repo.status {
        return plain(StatusCode::from_u16(status).expect("valid status"), "failing as asked");
    }
    if let Some(target) = &repo.redirect {
        return Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header(header::LOCATION, format!("{target}/info/refs?service=git-upload-pack"))
            .body(Full::new(Bytes::new()))
            .expect("redirect response");
    }
    let sent = request.headers().get(header::AUTHORIZATION).and_then(|a| a.to_str().ok());
    if repo.auth.is_some() && repo.auth.as_deref() != sent {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"gitserver\"")
            .body(Full::new(Bytes::from_static(b"Authentication required")))
            .expect("401 response");
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-git-upload-pack-advertisement")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Full::new(Bytes::from(advertisement(repo))))
        .expect("advertisement response")
}

/// A v0 ref advertisement as `git http-backend` sends it.
fn advertisement_of(head: Option<(&str, &str)>, refs: &[(&str, &str)]) -> Vec<u8> {
    let mut lines: Vec<String> = Vec::new();
    let capabilities = match head {
        Some((oid, branch)) => {
            lines.push(format!("{oid} HEAD"));
            format!("{CAPABILITIES} symref=HEAD:{branch} agent=git/2.47.3")
        }
        None => format!("{CAPABILITIES} agent=git/2.47.3"),
    };
    lines.extend(refs.iter().map(|(name, oid)| format!("{oid} {name}")));
    if lines.is_empty() {
        lines.push(format!("{} capabilities^{{}}", "0".repeat(40)));
    }
    lines[0] = format!("{}\0{capabilities}", lines[0]);
    let mut body = pkt_line("# service=git-upload-pack\n");
    body.extend_from_slice(b"0000");
    for line in lines {
        body.extend(pkt_line(&format!("{line}\n")));
    }
    body.extend_from_slice(b"0000");
    body
}

fn advertisement(repo: &Repo) -> Vec<u8> {
    let head = repo.head.as_deref().and_then(|h| Some((repo.refs.get(h)?.0.as_str(), h)));
    let mut refs: Vec<(String, String)> = Vec::new();
    for (name, (oid, peeled)) in &repo.refs {
        refs.push((name.clone(), oid.clone()));
        if let Some(commit) = peeled {
            refs.push((format!("{name}^{{}}"), commit.clone()));
        }
    }
    let refs: Vec<(&str, &str)> = refs.iter().map(|(n, o)| (n.as_str(), o.as_str())).collect();
    advertisement_of(head, &refs)
}

fn pkt_line(data: &str) -> Vec<u8> {
    format!("{:04x}{data}", data.len() + 4).into_bytes()
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .expect("plain response")
}
