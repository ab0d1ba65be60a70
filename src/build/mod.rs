//! Build sources on this side of AWS: a local directory packed reproducibly and named by its
//! content digest (`context`), and a Git revision resolved to its commit (`git`). The AWS side
//! (the CodeBuild project and builds, the build bucket) lives in `crate::resources::build*`.

pub mod context;
pub mod git;

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::desired::naming::fnv1a;

/// URL, revision and a hash of the credentials.
type Key = (String, String, u64);

/// Commits resolved by URL, revision and credentials, reused for `ttl`: every service on a
/// branch sees a new commit within that time, and a repository is asked at most once per `ttl`.
pub struct Commits {
    ttl: Duration,
    resolved: Mutex<HashMap<Key, (Instant, git::Resolved)>>,
}

/// How long one request to a Git host may take.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(20);

impl Commits {
    pub fn new(ttl: Duration) -> Self {
        Commits { ttl, resolved: Mutex::default() }
    }

    /// The commit `revision` names now (from the cache when resolved within `ttl`).
    pub async fn resolve(
        &self,
        url: &str,
        revision: &str,
        credentials: Option<&git::Credentials>,
    ) -> Result<git::Resolved, git::GitError> {
        let secret = credentials
            .map(|c| fnv1a(format!("{}:{}", c.username, c.password).as_bytes()))
            .unwrap_or(0);
        let key = (url.to_string(), revision.to_string(), secret);
        if let Some((at, resolved)) =
            self.resolved.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(resolved.clone());
        }
        let resolved = git::resolve(url, revision, credentials, GIT_TIMEOUT).await?;
        self.resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (Instant::now(), resolved.clone()));
        Ok(resolved)
    }
}
