//! Resolve a Git `revision` (branch, tag or commit) to the exact commit it names, like
//! `git ls-remote` but without a git binary, so an unchanged source never rebuilds and a new
//! commit builds once.
//!
//! One `GET <url>/info/refs?service=git-upload-pack` fetches the ref advertisement of Git's
//! "smart HTTP" protocol, a sequence of pkt-lines:
//! - smart HTTP and its `# service=` header: <https://git-scm.com/docs/http-protocol>
//! - the v0/v1 reference advertisement (`<oid> <ref>\0<capabilities>`, peeled `^{}` tags):
//!   <https://git-scm.com/docs/gitprotocol-pack>
//! - pkt-line framing (4 hex digits of length, `0000` flush):
//!   <https://git-scm.com/docs/gitprotocol-common>
//!
//! Protocol v2 is never requested (no `Git-Protocol` header), so every server answers v0/v1.
//! Only `https://` and `http://` URLs are supported; a private repository takes HTTP basic
//! credentials (a token) from a Secret, never from the URL. No error message or `Debug` output
//! contains a password.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// Git hosts (GitHub among them) speak the smart protocol only to a `git/` user agent.
const USER_AGENT: &str = "git/2.0 (byoc-operator)";
const ADVERTISEMENT_TYPE: &str = "application/x-git-upload-pack-advertisement";
const MAX_REDIRECTS: usize = 5;
/// Monorepos advertise many refs; more than this is no sane answer.
const MAX_BODY: usize = 64 << 20;
const SSH_HINT: &str = "only https:// and http:// URLs are supported: use the repository's \
                        https URL, with a token in spec.build.git.secretRef if it is private";
const AUTH_HINT: &str = "authentication required or refused: set spec.build.git.secretRef to \
                         a Secret with username and password (a token)";
const NOT_FOUND_HINT: &str = "repository not found (HTTP 404): check spec.build.git.url; a \
                              private repository may answer 404 without spec.build.git.secretRef";

/// HTTP basic credentials for a private repository: a Kubernetes Secret's `username` and
/// `password` (for most hosts a token). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The HTTP basic user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials {{ username: {:?}, password: \"<redacted>\" }}", self.username)
    }
}

/// The commit a revision resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
    pub commit: String,
    /// What matched: `HEAD`, a full ref name such as `refs/heads/main`, or the commit itself.
    pub reference: String,
}

/// Why a revision could not be resolved. Each message says what to do. `url` fields hold the
/// repository URL without credentials, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// `spec.build.git.url` is not an `http(s)://` URL without credentials.
    #[error("spec.build.git.url `{url}` is not supported: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// HTTP 401 or 403, with or without `credentials_sent`.
    #[error("{url}: {AUTH_HINT} (HTTP {status}){}", refused_hint(*.credentials_sent))]
    Unauthorized { url: String, status: u16, credentials_sent: bool },
    /// HTTP 404.
    #[error("{url}: {NOT_FOUND_HINT}")]
    RepositoryNotFound { url: String },
    /// No branch or tag has this name; `available` lists up to 5 that exist, closest first.
    #[error("{}", not_found_message(.revision, .available))]
    RevisionNotFound { revision: String, available: Vec<String> },
    /// An abbreviated commit id, which the ref advertisement cannot resolve.
    #[error(
        "revision `{0}` looks like an abbreviated commit id, which cannot be resolved without \
         cloning: give the full commit id (40 hex digits) or a branch or tag name"
    )]
    AbbreviatedCommit(String),
    /// No complete answer within the timeout.
    #[error("{url}: no answer within {after:?}: the Git server is slow or unreachable")]
    Timeout { url: String, after: Duration },
    /// DNS, TCP or an interrupted response.
    #[error("{url}: cannot reach the Git server: {reason}")]
    Connect { url: String, reason: String },
    /// TLS setup or handshake failed (for example an untrusted certificate).
    #[error("TLS error: {0}")]
    Tls(String),
    /// Any other unexpected HTTP status.
    #[error("{url}: the Git server answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// An unusable answer: no ref advertisement, an `ERR` pkt-line, or a bad redirect.
    #[error("{0}")]
    Protocol(String),
}

impl GitError {
    /// Whether retrying later may succeed: timeouts, connection errors, HTTP 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Connect { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Prefixes a message from [`parse_advertisement`] with the URL it came from.
    fn at(self, url: &str) -> Self {
        match self {
            Self::Protocol(m) => Self::Protocol(format!("{url}: {m}")),
            other => other,
        }
    }
}

fn refused_hint(credentials_sent: bool) -> &'static str {
    if credentials_sent {
        "; the credentials were refused: check the token and its access to the repository"
    } else {
        "; some hosts (GitHub) also answer this way for a repository that does not exist"
    }
}

fn not_found_message(revision: &str, available: &[String]) -> String {
    if available.is_empty() {
        return format!("revision `{revision}` not found: the repository has no branches or tags");
    }
    let names = available.join(", ");
    format!(
        "revision `{revision}` not found: no such branch or tag; existing ones include: {names}. \
         Use one of them or a full commit id"
    )
}

/// Resolves `revision` in the repository at `url` to a commit.
///
/// A full commit id resolves to itself without any network call. An empty revision or `HEAD`
/// is the default branch; `refs/...` must match exactly; anything else is tried as
/// `refs/heads/<revision>`, then `refs/tags/<revision>` (annotated tags resolve to their
/// commit). `credentials` go out as HTTP basic auth, never to another host after a redirect.
/// The whole exchange, redirects included, must finish within `timeout`.
pub async fn resolve(
    url: &str,
    revision: &str,
    credentials: Option<&Credentials>,
    timeout: Duration,
) -> Result<Resolved, GitError> {
    let (refs_uri, url) = refs_url(url)?;
    if is_full_oid(revision.trim()) {
        return pick(&[], revision);
    }
    let fetch = fetch_refs(refs_uri, &url, credentials.map(basic_auth).transpose()?);
    match tokio::time::timeout(timeout, fetch).await {
        Ok(refs) => pick(&refs?, revision),
        Err(_) => Err(GitError::Timeout { url, after: timeout }),
    }
}

/// Parses a v0/v1 ref advertisement (the body of `info/refs?service=git-upload-pack`) into
/// `(object id, ref name)` pairs in server order, `HEAD` and peeled `refs/tags/<t>^{}` entries
/// included. The `# service=` header and `version 1` lines are optional; protocol v2 answers
/// (never requested) are refused as malformed.
pub fn parse_advertisement(body: &[u8]) -> Result<Vec<(String, String)>, GitError> {
    let mut rest = body;
    let mut pkt = next_pkt(&mut rest)?;
    if let Some(Pkt::Data(line)) = pkt
        && line.starts_with(b"# service=")
    {
        if next_pkt(&mut rest)? != Some(Pkt::Flush) {
            return Err(malformed("no flush-pkt after the service line"));
        }
        pkt = next_pkt(&mut rest)?;
    }
    if pkt == Some(Pkt::Data(b"version 1")) {
        pkt = next_pkt(&mut rest)?;
    }
    let mut refs = Vec::new();
    loop {
        match pkt {
            None => return Err(malformed("the response ends before its final flush-pkt")),
            Some(Pkt::Flush) => return Ok(refs),
            Some(Pkt::Data(line)) => refs.extend(parse_ref_line(line)?),
        }
        pkt = next_pkt(&mut rest)?;
    }
}

/// Picks the commit `revision` names among advertised `refs` (see [`resolve`] for the rules).
/// Errors: [`GitError::AbbreviatedCommit`] for a short hex id that is no branch or tag name,
/// else [`GitError::RevisionNotFound`].
pub fn pick(refs: &[(String, String)], revision: &str) -> Result<Resolved, GitError> {
    let revision = revision.trim();
    if is_full_oid(revision) {
        let commit = revision.to_ascii_lowercase();
        return Ok(Resolved { reference: commit.clone(), commit });
    }
    let candidates = match revision {
        "" | "HEAD" => vec!["HEAD".to_string()],
        r if r.starts_with("refs/") => vec![r.to_string()],
        r => vec![format!("refs/heads/{r}"), format!("refs/tags/{r}")],
    };
    for reference in candidates {
        if let Some(commit) = lookup(refs, &reference) {
            return Ok(Resolved { commit, reference });
        }
    }
    if (7..64).contains(&revision.len()) && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GitError::AbbreviatedCommit(revision.into()));
    }
    let revision = if revision.is_empty() { "HEAD" } else { revision };
    Err(GitError::RevisionNotFound {
        revision: revision.into(),
        available: suggest(refs, revision),
    })
}

/// The oid of `name`, preferring its peeled `^{}` entry (the commit of an annotated tag).
fn lookup(refs: &[(String, String)], name: &str) -> Option<String> {
    let find = |wanted: &str| refs.iter().find(|(_, n)| n == wanted).map(|(oid, _)| oid.clone());
    find(&format!("{name}^{{}}")).or_else(|| find(name))
}

/// Up to 5 distinct branch and tag names: an exact match (ignoring case) first, then names
/// containing or contained in `revision`, then the others in server order.
fn suggest(refs: &[(String, String)], revision: &str) -> Vec<String> {
    let wanted = revision.to_ascii_lowercase();
    let mut names: Vec<&str> = Vec::new();
    for (_, name) in refs {
        let short = name.strip_prefix("refs/heads/").or_else(|| name.strip_prefix("refs/tags/"));
        if let Some(short) = short.filter(|s| !s.ends_with("^{}") && !names.contains(s)) {
            names.push(short);
        }
    }
    names.sort_by_key(|n| {
        let n = n.to_ascii_lowercase();
        (n != wanted, !n.contains(&wanted) && !wanted.contains(&n))
    });
    names.into_iter().take(5).map(String::from).collect()
}

fn is_full_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn malformed(reason: impl fmt::Display) -> GitError {
    GitError::Protocol(format!("malformed Git ref advertisement: {reason}"))
}

/// One pkt-line: a flush-pkt (`0000`) or a data line without its trailing LF.
#[derive(Debug, PartialEq, Eq)]
enum Pkt<'a> {
    Flush,
    Data(&'a [u8]),
}

/// Reads the next pkt-line from `rest`; `None` at the end of the input.
fn next_pkt<'a>(rest: &mut &'a [u8]) -> Result<Option<Pkt<'a>>, GitError> {
    if rest.is_empty() {
        return Ok(None);
    }
    let header = rest.get(..4).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
    let header = header.ok_or_else(|| malformed("a pkt-line does not start with 4 hex digits"))?;
    let len = header.iter().fold(0, |len, &b| len * 16 + (b as char).to_digit(16).unwrap_or(0));
    let len = len as usize;
    if len == 0 {
        *rest = &rest[4..];
        return Ok(Some(Pkt::Flush));
    }
    if len < 4 {
        return Err(malformed(format!("unexpected special pkt-line {len:04x}")));
    }
    let data = rest.get(4..len).ok_or_else(|| malformed("a pkt-line is truncated"))?;
    *rest = &rest[len..];
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    match data.strip_prefix(b"ERR ") {
        Some(message) => {
            let message = String::from_utf8_lossy(message);
            Err(GitError::Protocol(format!("the Git server reported an error: {message}")))
        }
        None => Ok(Some(Pkt::Data(data))),
    }
}

/// Parses `<oid> <ref>[\0<capabilities>]`; `None` for lines that name no ref.
fn parse_ref_line(line: &[u8]) -> Result<Option<(String, String)>, GitError> {
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    match line.split_once(' ') {
        Some((_, "capabilities^{}")) => Ok(None), // an empty repository
        Some((oid, name)) if is_full_oid(oid) && !name.is_empty() => {
            Ok(Some((oid.to_ascii_lowercase(), name.to_string())))
        }
        _ => Err(malformed(format!("bad ref line {line:?}"))),
    }
}

/// Checks a repository URL; returns its `info/refs?service=git-upload-pack` URI and the URL
/// to show in messages.
fn refs_url(url: &str) -> Result<(Uri, String), GitError> {
    let url = url.trim();
    let shown = redact(url);
    let invalid = |reason: &str| GitError::InvalidUrl { url: shown.clone(), reason: reason.into() };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid(SSH_HINT))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(invalid(SSH_HINT));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid("a repository URL has no query (`?`) or fragment (`#`)"));
    }
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if host.contains('@') {
        return Err(invalid(
            "credentials do not belong in the URL, which is not secret: put them in a Secret \
             and set spec.build.git.secretRef",
        ));
    }
    if host.is_empty() {
        return Err(invalid("the URL has no host"));
    }
    let path = path.trim_end_matches('/');
    let refs = format!("{scheme}://{host}{path}/info/refs?service=git-upload-pack");
    let refs = refs.parse().map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
    Ok((refs, shown))
}

/// `url` without `user:pass@`, query or fragment, fit for messages.
fn redact(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if !scheme.is_empty() || userinfo.contains(':') => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}{}", &rest[userinfo.len() + 1..])
        }
        _ => url.to_string(),
    }
}

fn basic_auth(credentials: &Credentials) -> Result<HeaderValue, GitError> {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    // Base64 is ASCII, so this cannot fail; the message names no credential.
    let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
        .map_err(|_| GitError::Protocol("the credentials do not form an HTTP header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// An HTTP/1 client for `https://` (rustls, the platform's CA certificates) and `http://`.
fn client() -> Result<HttpClient, GitError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let builder =
        hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider);
    let builder = builder.map_err(|e| GitError::Tls(format!("no usable CA certificates: {e}")))?;
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector))
}

/// GETs the advertisement at `uri`, following up to [`MAX_REDIRECTS`] redirects, and parses it.
async fn fetch_refs(
    mut uri: Uri,
    url: &str,
    mut auth: Option<HeaderValue>,
) -> Result<Vec<(String, String)>, GitError> {
    let client = client()?;
    for _ in 0..=MAX_REDIRECTS {
        let response = client.request(request(&uri, auth.clone())).await;
        let response = response.map_err(|e| transport_error(url, &e))?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            let next = redirect_target(&uri, response.headers().get(header::LOCATION), url)?;
            if (next.scheme(), next.authority()) != (uri.scheme(), uri.authority()) {
                auth = None; // never send credentials to another host
            }
            uri = next;
            continue;
        }
        let credentials_sent = auth.is_some();
        match status {
            200..=299 => {}
            401 | 403 => {
                return Err(GitError::Unauthorized { url: url.into(), status, credentials_sent });
            }
            404 => return Err(GitError::RepositoryNotFound { url: url.into() }),
            _ => return Err(GitError::Status { url: url.into(), status }),
        }
        check_content_type(response.headers().get(header::CONTENT_TYPE), url)?;
        let body = read_body(response, url).await?;
        return parse_advertisement(&body).map_err(|e| e.at(url));
    }
    Err(GitError::Protocol(format!("{url}: more than {MAX_REDIRECTS} redirects")))
}

fn request(uri: &Uri, auth: Option<HeaderValue>) -> Request<Empty<Bytes>> {
    let mut request = Request::new(Empty::new());
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(auth) = auth {
        headers.insert(header::AUTHORIZATION, auth);
    }
    request
}

/// The absolute URI a redirect points to; refuses non-http(s) targets and https → http.
fn redirect_target(
    current: &Uri,
    location: Option<&HeaderValue>,
    url: &str,
) -> Result<Uri, GitError> {
    let refuse = |reason: &str| GitError::Protocol(format!("{url}: {reason}"));
    let location = location.and_then(|l| l.to_str().ok());
    let location = location.ok_or_else(|| refuse("a redirect without a valid Location header"))?;
    let scheme = current.scheme_str().unwrap_or("https");
    let authority = current.authority().map_or("", |a| a.as_str());
    let absolute = match location {
        l if l.starts_with("//") => format!("{scheme}:{l}"),
        l if l.starts_with('/') => format!("{scheme}://{authority}{l}"),
        l => l.to_string(),
    };
    let next: Uri = absolute.parse().map_err(|_| refuse("a redirect to an invalid URL"))?;
    match next.scheme_str() {
        Some("https") => Ok(next),
        Some("http") if scheme == "http" => Ok(next),
        Some("http") => Err(refuse("refusing to follow a redirect from https to http")),
        _ => Err(refuse("a redirect to something other than an http(s) URL")),
    }
}

fn check_content_type(content_type: Option<&HeaderValue>, url: &str) -> Result<(), GitError> {
    let content_type = content_type.and_then(|c| c.to_str().ok()).unwrap_or("none");
    if content_type.split(';').next().unwrap_or_default().trim() == ADVERTISEMENT_TYPE {
        return Ok(());
    }
    Err(GitError::Protocol(format!(
        "{url}: not a Git repository served over smart HTTP (Content-Type `{content_type}`, \
         expected `{ADVERTISEMENT_TYPE}`): check spec.build.git.url"
    )))
}

async fn read_body(response: Response<Incoming>, url: &str) -> Result<Bytes, GitError> {
    match Limited::new(response.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(GitError::Protocol(format!(
            "{url}: the ref advertisement exceeds {MAX_BODY} bytes"
        ))),
        Err(e) => Err(transport_error(url, &*e)),
    }
}

/// Classifies a client error as TLS or connection trouble, with its whole cause chain.
fn transport_error(url: &str, error: &(dyn StdError + 'static)) -> GitError {
    let (mut reasons, mut tls, mut next) = (Vec::<String>::new(), false, Some(error));
    while let Some(e) = next {
        tls |= is_tls(e);
        let text = e.to_string();
        if !reasons.iter().any(|r| r.contains(&text)) {
            reasons.push(text);
        }
        next = e.source();
    }
    let reason = reasons.join(": ");
    if tls {
        GitError::Tls(format!("{url}: {reason}"))
    } else {
        GitError::Connect { url: url.into(), reason }
    }
}

/// Whether `error` is or wraps (through `io::Error`s, as hyper-rustls does) a rustls error.
fn is_tls(error: &(dyn StdError + 'static)) -> bool {
    let io = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
    error.is::<rustls::Error>() || io.is_some_and(|inner| is_tls(inner))
}
#[cfg(test)]
mod tests {
    use super::*;

    /// `git http-backend` (git 2.47) for main, dev, lightweight tag v1.0.0, annotated v2.0.0.
    const GIT_BACKEND: &[u8] = b"001e# service=git-upload-pack\n0000\
        010b1bfa3a70c2d09da416b54818ba7396e14cd72890 HEAD\0multi_ack thin-pack side-band \
        side-band-64k ofs-delta shallow deepen-since deepen-not deepen-relative no-progress \
        include-tag multi_ack_detailed no-done symref=HEAD:refs/heads/main object-format=sha1 \
        agent=git/2.47.3\n\
        003c3edf5c043a424d87fe27d2be6bc3ac6758035605 refs/heads/dev\n\
        003d1bfa3a70c2d09da416b54818ba7396e14cd72890 refs/heads/main\n\
        003e3edf5c043a424d87fe27d2be6bc3ac6758035605 refs/tags/v1.0.0\n\
        003e82b4b50b511254a004da49bcdef05952252fe511 refs/tags/v2.0.0\n\
        00411bfa3a70c2d09da416b54818ba7396e14cd72890 refs/tags/v2.0.0^{}\n\
        0000";

    /// GitHub-like: pull request refs, an annotated tag with its peeled entry.
    const GITHUB: &[u8] = b"001e# service=git-upload-pack\n0000\
        01556ff9e3a2fdc1b1b2a1e7a1ab5c7d8a1b2e3f4a5b HEAD\0multi_ack thin-pack side-band \
        side-band-64k ofs-delta shallow deepen-since deepen-not deepen-relative no-progress \
        include-tag multi_ack_detailed allow-tip-sha1-in-want allow-reachable-sha1-in-want \
        no-done symref=HEAD:refs/heads/master filter object-format=sha1 \
        agent=git/github-395dce4f6ecf\n\
        003f6ff9e3a2fdc1b1b2a1e7a1ab5c7d8a1b2e3f4a5b refs/heads/master\n\
        00409fceb02d0ae598e95dc970b74767f19372d61af8 refs/heads/release\n\
        003e9fceb02d0ae598e95dc970b74767f19372d61af8 refs/pull/1/head\n\
        003f6ff9e3a2fdc1b1b2a1e7a1ab5c7d8a1b2e3f4a5b refs/pull/1/merge\n\
        003c5a1f8c6b0e3e7f6d5c4b3a29180706f5e4d3c2b1 refs/tags/v0.1\n\
        003f9fceb02d0ae598e95dc970b74767f19372d61af8 refs/tags/v0.1^{}\n\
        003c6ff9e3a2fdc1b1b2a1e7a1ab5c7d8a1b2e3f4a5b refs/tags/v0.2\n\
        0000";

    const A: &str = "1bfa3a70c2d09da416b54818ba7396e14cd72890";
    const B: &str = "3edf5c043a424d87fe27d2be6bc3ac6758035605";
    const C: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";
    const T: &str = "82b4b50b511254a004da49bcdef05952252fe511";
    const SHA256: &str = "10d9641a3681b06bc76dd54107de59d11813535589a88e9b3166d3d53a20bcb1";

    fn pairs(refs: &[(&str, &str)]) -> Vec<(String, String)> {
        refs.iter().map(|(oid, name)| (oid.to_string(), name.to_string())).collect()
    }

    fn pkt(line: &str) -> String {
        format!("{:04x}{line}", line.len() + 4)
    }

    fn parse_err(body: &[u8]) -> String {
        parse_advertisement(body).expect_err("malformed").to_string()
    }

    #[test]
    fn parses_git_http_backend_output() {
        let expected = pairs(&[
            (A, "HEAD"),
            (B, "refs/heads/dev"),
            (A, "refs/heads/main"),
            (B, "refs/tags/v1.0.0"),
            (T, "refs/tags/v2.0.0"),
            (A, "refs/tags/v2.0.0^{}"),
        ]);
        assert_eq!(parse_advertisement(GIT_BACKEND), Ok(expected.clone()));
        // Without the `# service=` header (as `git upload-pack --stateless-rpc` prints it).
        assert_eq!(parse_advertisement(&GIT_BACKEND[34..]), Ok(expected.clone()));
        // With a `version 1` line after the header.
        let v1 = [&GIT_BACKEND[..34], b"000eversion 1\n", &GIT_BACKEND[34..]].concat();
        assert_eq!(parse_advertisement(&v1), Ok(expected));
    }

    #[test]
    fn parses_a_github_like_advertisement() {
        let refs = parse_advertisement(GITHUB).unwrap();
        assert_eq!(refs.len(), 8);
        assert_eq!(refs[0], ("6ff9e3a2fdc1b1b2a1e7a1ab5c7d8a1b2e3f4a5b".into(), "HEAD".into()));
        assert_eq!(refs[3], (C.into(), "refs/pull/1/head".into()));
        let tag = pick(&refs, "v0.1").unwrap();
        assert_eq!(tag, Resolved { commit: C.into(), reference: "refs/tags/v0.1".into() });
        assert_eq!(pick(&refs, "release").unwrap().commit, C);
    }

    #[test]
    fn parses_sha256_empty_and_uppercase_advertisements() {
        let body = format!("{}{}0000", pkt(&format!("{SHA256} HEAD\0caps\n")), pkt("x"));
        assert!(parse_err(body.as_bytes()).contains("bad ref line \"x\""));
        let body = format!("{}0000", pkt(&format!("{SHA256} HEAD\0object-format=sha256\n")));
        assert_eq!(parse_advertisement(body.as_bytes()), Ok(pairs(&[(SHA256, "HEAD")])));
        let empty =
            format!("{}0000", pkt(&format!("{} capabilities^{{}}\0agent=git\n", "0".repeat(40))));
        assert_eq!(parse_advertisement(empty.as_bytes()), Ok(vec![]));
        let upper = format!("{}0000", pkt(&format!("{} refs/heads/main", A.to_uppercase())));
        assert_eq!(parse_advertisement(upper.as_bytes()), Ok(pairs(&[(A, "refs/heads/main")])));
    }

    #[test]
    fn rejects_malformed_advertisements() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "ends before"),
            (b"<html>Sign in</html>", "4 hex digits"),
            (b"+01a1bfa3a70c2d09da416b54818ba7396e14cd72890 HEAD\n", "4 hex digits"),
            (b"00ff1bfa3a70c2d09da416b54818ba7396e14cd72890 HEAD\n0000", "truncated"),
            (b"0002", "special pkt-line"),
            (b"003", "4 hex digits"),
            (b"001e# service=git-upload-pack\n000eversion 1\n", "no flush-pkt"),
            (b"000eversion 2\n0000", "bad ref line \"version 2\""),
            (b"0010not-an-oid x\n0000", "bad ref line"),
            (b"0030", "truncated"),
        ];
        for (body, expected) in cases {
            let message = parse_err(body);
            assert!(message.contains(expected), "{:?}: {message}", String::from_utf8_lossy(body));
            assert!(message.starts_with("malformed Git ref advertisement"), "{message}");
        }
        // A complete line but no final flush.
        assert!(parse_err(&GIT_BACKEND[..GIT_BACKEND.len() - 4]).contains("ends before"));
    }

    #[test]
    fn reports_server_err_lines() {
        let body = pkt("ERR access denied or repository not exported\n");
        let error = parse_advertisement(body.as_bytes()).unwrap_err();
        let expected = "the Git server reported an error: access denied or repository not exported";
        assert_eq!(error, GitError::Protocol(expected.into()));
        assert_eq!(error.at("https://h/r").to_string(), format!("https://h/r: {expected}"));
    }

    #[test]
    fn picks_revisions() {
        let refs = pairs(&[
            (A, "HEAD"),
            (A, "refs/heads/main"),
            (B, "refs/heads/dev"),
            (B, "refs/heads/both"),
            (A, "refs/tags/both"),
            (A, "refs/tags/v1"),
            (T, "refs/tags/v2"),
            (B, "refs/tags/v2^{}"),
            (C, "refs/heads/cafe123"),
            (C, "refs/pull/7/head"),
        ]);
        let upper = A.to_uppercase();
        let ok: &[(&str, &str, &str)] = &[
            (A, A, A),
            (&upper, A, A),
            (SHA256, SHA256, SHA256),
            ("", A, "HEAD"),
            ("HEAD", A, "HEAD"),
            (" main\n", A, "refs/heads/main"),
            ("main", A, "refs/heads/main"),
            ("dev", B, "refs/heads/dev"),
            ("both", B, "refs/heads/both"), // a branch wins over a tag
            ("refs/tags/both", A, "refs/tags/both"),
            ("v1", A, "refs/tags/v1"),           // lightweight tag
            ("v2", B, "refs/tags/v2"),           // annotated: the peeled commit
            ("refs/tags/v2", B, "refs/tags/v2"), // also by full name
            ("refs/tags/v2^{}", B, "refs/tags/v2^{}"),
            ("refs/pull/7/head", C, "refs/pull/7/head"),
            ("cafe123", C, "refs/heads/cafe123"), // a hex-looking branch name
        ];
        for (revision, commit, reference) in ok {
            let expected =
                Resolved { commit: commit.to_string(), reference: reference.to_string() };
            assert_eq!(pick(&refs, revision), Ok(expected), "{revision:?}");
        }
        for short in ["abc1234", &A[..39], &SHA256[..50]] {
            assert_eq!(pick(&refs, short), Err(GitError::AbbreviatedCommit(short.into())));
        }
        let not_found = |revision: &str, available: &[&str]| GitError::RevisionNotFound {
            revision: revision.into(),
            available: available.iter().map(|s| s.to_string()).collect(),
        };
        let cases: &[(&str, GitError)] = &[
            ("mian", not_found("mian", &["main", "dev", "both", "v1", "v2"])),
            ("v", not_found("v", &["dev", "v1", "v2", "main", "both"])),
            ("MAIN2", not_found("MAIN2", &["main", "dev", "both", "v1", "v2"])),
            ("abc", not_found("abc", &["main", "dev", "both", "v1", "v2"])),
            ("pull/7/head", not_found("pull/7/head", &["main", "dev", "both", "v1", "v2"])),
            ("refs/heads/nope", not_found("refs/heads/nope", &["main", "dev", "both", "v1", "v2"])),
        ];
        for (revision, expected) in cases {
            assert_eq!(&pick(&refs, revision).unwrap_err(), expected, "{revision:?}");
        }
        assert_eq!(
            pick(&refs[1..], "HEAD"),
            Err(not_found("HEAD", &["main", "dev", "both", "v1", "v2"]))
        );
        assert_eq!(pick(&[], ""), Err(not_found("HEAD", &[])));
    }

    #[test]
    fn not_found_messages_help() {
        let error = pick(&pairs(&[(A, "refs/heads/main")]), "mian").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`mian` not found") && message.contains("include: main."),
            "{message}"
        );
        let message = pick(&[], "main").unwrap_err().to_string();
        assert!(message.contains("no branches or tags"), "{message}");
        let message = pick(&[], "deadbeef").unwrap_err().to_string();
        assert!(message.contains("full commit id (40 hex digits) or a branch or tag"), "{message}");
    }

    #[test]
    fn builds_the_info_refs_url() {
        let cases = [
            ("https://github.com/org/app", "https://github.com/org/app/info/refs"),
            ("https://github.com/org/app.git", "https://github.com/org/app.git/info/refs"),
            ("https://github.com/org/app.git/", "https://github.com/org/app.git/info/refs"),
            ("  HTTPS://github.com/org/app//  ", "https://github.com/org/app/info/refs"),
            ("http://127.0.0.1:8080/a/b.git", "http://127.0.0.1:8080/a/b.git/info/refs"),
            ("https://git.example.com", "https://git.example.com/info/refs"),
        ];
        for (url, expected) in cases {
            let (refs, shown) = refs_url(url).unwrap();
            assert_eq!(refs.to_string(), format!("{expected}?service=git-upload-pack"));
            assert_eq!(shown, url.trim());
        }
    }

    #[test]
    fn refuses_unsupported_urls() {
        let cases = [
            ("git@github.com:org/app.git", "only https:// and http://"),
            ("ssh://git@github.com/org/app.git", "only https:// and http://"),
            ("git://github.com/org/app.git", "only https:// and http://"),
            ("file:///srv/app.git", "only https:// and http://"),
            ("/srv/app.git", "only https:// and http://"),
            ("https:///app.git", "no host"),
            ("https://u:t0p@/app.git", "credentials do not belong in the URL"),
            ("https://x-access-token:t0p@github.com/o/r", "credentials do not belong in the URL"),
            ("https://t0p@github.com/o/r", "put them in a Secret"),
            ("https://github.com/org/app.git?token=t0p", "no query"),
            ("https://github.com/org/app.git#main", "no query"),
            ("https://github.com/org/my app.git", "invalid"),
        ];
        for (url, expected) in cases {
            let Err(error) = refs_url(url) else { panic!("{url} accepted") };
            let message = error.to_string();
            assert!(message.starts_with("spec.build.git.url `"), "{message}");
            assert!(message.contains(expected), "{url}: {message}");
            assert!(!message.contains("t0p"), "{message}");
        }
    }

    #[test]
    fn redacts_urls() {
        let cases = [
            ("https://u:secret@github.com/o/r.git", "https://github.com/o/r.git"),
            ("https://secret@github.com/o/r.git", "https://github.com/o/r.git"),
            ("http://a@b:secret@h:81/r", "http://h:81/r"),
            ("ssh://git:secret@github.com/o/r", "ssh://github.com/o/r"),
            ("u:secret@github.com:o/r", "github.com:o/r"),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
            ("https://github.com/o/r?access_token=secret", "https://github.com/o/r"),
            ("https://github.com/o/r@secret", "https://github.com/o/r@secret"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact(url), expected, "{url}");
        }
    }

    #[test]
    fn requests_protocol_v0_as_git_with_hidden_credentials() {
        let credentials = Credentials { username: "u".into(), password: "p".into() };
        let uri: Uri = "https://h/r/info/refs?service=git-upload-pack".parse().unwrap();
        let sent = request(&uri, Some(basic_auth(&credentials).unwrap()));
        let headers = sent.headers();
        assert_eq!(sent.method(), hyper::Method::GET);
        assert_eq!(sent.uri(), &uri);
        assert_eq!(headers[header::USER_AGENT], "git/2.0 (byoc-operator)");
        assert!(!headers.contains_key("git-protocol"), "no protocol v2");
        assert_eq!(headers[header::AUTHORIZATION], "Basic dTpw");
        assert!(headers[header::AUTHORIZATION].is_sensitive());
        assert!(!format!("{sent:?}").contains("dTpw"));
        assert!(!format!("{credentials:?}").contains("\"p\""));
        assert!(!request(&uri, None).headers().contains_key(header::AUTHORIZATION));
    }

    #[test]
    fn transient_errors() {
        let url = String::from("https://h/r");
        let status = |status| GitError::Status { url: url.clone(), status };
        let timeout = GitError::Timeout { url: url.clone(), after: Duration::from_secs(1) };
        let connect = GitError::Connect { url: url.clone(), reason: "refused".into() };
        for error in [timeout, connect, status(500), status(503), status(429)] {
            assert!(error.is_transient(), "{error:?}");
        }
        let permanent = [
            status(400),
            GitError::Unauthorized { url: url.clone(), status: 403, credentials_sent: true },
            GitError::RepositoryNotFound { url: url.clone() },
            GitError::Tls("bad certificate".into()),
            GitError::Protocol("x".into()),
            GitError::AbbreviatedCommit("abc1234".into()),
        ];
        for error in permanent {
            assert!(!error.is_transient(), "{error:?}");
        }
    }

    #[test]
    fn follows_only_safe_redirects() {
        let current: Uri = "https://h:8443/o/r/info/refs?service=git-upload-pack".parse().unwrap();
        let target = |location: &str| {
            let location = HeaderValue::from_str(location).unwrap();
            redirect_target(&current, Some(&location), "https://h/o/r").map(|u| u.to_string())
        };
        let moved = "https://h:8443/o/new/info/refs?service=git-upload-pack";
        assert_eq!(target("/o/new/info/refs?service=git-upload-pack").as_deref(), Ok(moved));
        assert_eq!(target("//other/x").as_deref(), Ok("https://other/x"));
        assert_eq!(target("https://other/x").as_deref(), Ok("https://other/x"));
        let refused = [
            ("http://h/x", "from https to http"),
            ("ftp://h/x", "other than an http(s) URL"),
            ("not a url", "invalid URL"),
        ];
        for (location, expected) in refused {
            let message = target(location).unwrap_err().to_string();
            assert!(
                message.starts_with("https://h/o/r: ") && message.contains(expected),
                "{message}"
            );
        }
        let missing = redirect_target(&current, None, "https://h/o/r").unwrap_err().to_string();
        assert!(missing.contains("without a valid Location"), "{missing}");
        let plain: Uri = "http://h/o/r/info/refs".parse().unwrap();
        let location = HeaderValue::from_static("http://h/elsewhere");
        assert!(redirect_target(&plain, Some(&location), "http://h/o/r").is_ok());
    }

    #[test]
    fn accepts_only_the_advertisement_content_type() {
        let check =
            |value: &'static str| check_content_type(Some(&HeaderValue::from_static(value)), "u");
        assert_eq!(check("application/x-git-upload-pack-advertisement"), Ok(()));
        assert_eq!(check("application/x-git-upload-pack-advertisement; charset=utf-8"), Ok(()));
        let message = check("text/html; charset=utf-8").unwrap_err().to_string();
        assert!(message.contains("not a Git repository served over smart HTTP"), "{message}");
        assert!(message.contains("`text/html; charset=utf-8`"), "{message}");
        assert!(check_content_type(None, "u").unwrap_err().to_string().contains("`none`"));
    }
}
