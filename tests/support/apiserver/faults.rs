//! Test hooks for misbehaving-server scenarios: answer the next N (matching) requests with an
//! error status, add latency to every request, cut every open watch, and a request log tests
//! assert on. Shared between the test and the server through `Faults` (cheap to clone).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::Method;
use tokio::sync::watch;

use super::status::ApiError;

/// The error an injected fault answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 InternalError.
    InternalError,
    /// 429 TooManyRequests with a `Retry-After` header of that many seconds.
    TooManyRequests { retry_after_seconds: u32 },
    /// 409 Conflict, as if the object had just been modified.
    Conflict,
    /// 503 ServiceUnavailable, as an API server that is down or restarting.
    Unavailable,
}

type Matcher = Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>;

struct Rule {
    remaining: usize,
    fault: Fault,
    matcher: Option<Matcher>,
}

/// One served request: method, path with query, response status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    latency: Duration,
    log: Vec<LoggedRequest>,
    bookmark_interval: Option<Duration>,
}

/// Handle on the server's fault injection and request log.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
    drop_watches: Arc<watch::Sender<u64>>,
}

/// How often watches with `allowWatchBookmarks=true` get a BOOKMARK, unless overridden.
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

impl Faults {
    pub(super) fn new() -> Self {
        let (drop_watches, _) = watch::channel(0);
        Faults {
            inner: Arc::new(Mutex::new(Inner::default())),
            drop_watches: Arc::new(drop_watches),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the log from the others: ignore poisoning.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the next `count` requests with `fault`.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        self.lock().rules.push(Rule { remaining: count, fault, matcher: None });
    }

    /// Answers the next `count` requests for which `matches(method, path_and_query)` holds.
    pub fn fail_next_matching(
        &self,
        count: usize,
        fault: Fault,
        matches: impl Fn(&Method, &str) -> bool + Send + Sync + 'static,
    ) {
        self.lock().rules.push(Rule { remaining: count, fault, matcher: Some(Arc::new(matches)) });
    }

    /// Removes every fault rule that is still in force.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Delays every request by `latency` before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Cuts every open watch connection mid-stream, as a restarting API server would.
    pub fn drop_watches(&self) {
        self.drop_watches.send_modify(|n| *n += 1);
    }

    pub fn set_bookmark_interval(&self, interval: Duration) {
        self.lock().bookmark_interval = Some(interval);
    }

    /// Every request served so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub(super) fn bookmark_interval(&self) -> Duration {
        self.lock().bookmark_interval.unwrap_or(DEFAULT_BOOKMARK_INTERVAL)
    }

    pub(super) fn watch_drops(&self) -> watch::Receiver<u64> {
        self.drop_watches.subscribe()
    }

    pub(super) fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// The injected error for this request, consuming one use of the first matching rule.
    pub(super) fn take(&self, method: &Method, path: &str) -> Option<ApiError> {
        let mut inner = self.lock();
        let rule = inner
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.matcher.as_ref().is_none_or(|m| m(method, path)))?;
        rule.remaining -= 1;
        let fault = rule.fault;
        inner.rules.retain(|r| r.remaining > 0);
        Some(match fault {
            Fault::InternalError => ApiError::internal("injected fault"),
            Fault::TooManyRequests { retry_after_seconds } => {
                ApiError::too_many_requests(retry_after_seconds)
            }
            Fault::Unavailable => ApiError::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            Fault::Conflict => ApiError::new(
                409,
                "Conflict",
                "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
            ),
        })
    }

    pub(super) fn log(&self, method: &Method, path: &str, status: u16) {
        self.lock().log.push(LoggedRequest {
            method: method.to_string(),
            path: path.to_string(),
            status,
        });
    }
}
