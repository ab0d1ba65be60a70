//! WATCH: a newline-delimited JSON event stream. Starts with synthetic ADDED events for the
//! current state (no `resourceVersion`, or "0"), or replays retained history after the given
//! version, or sends one `ERROR` event with a 410 Expired `Status` when that version has been
//! compacted away. Honours selectors (objects entering or leaving them become ADDED or DELETED),
//! `allowWatchBookmarks` (periodic BOOKMARKs, and the `k8s.io/initial-events-end` one for
//! `sendInitialEvents=true`), `timeoutSeconds`, metadata-only objects for a client that asks for
//! `PartialObjectMetadata`, and the test hook that cuts every watch.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::http::{Reply, Request, Target};
use super::read::{partial_metadata, selectors};
use super::selectors::Selectors;
use super::status::{ApiError, expired_watch_event};
use super::store::{EventType, State, StoredEvent};
use super::table;
use super::write::present;

struct Watch {
    target: Target,
    selectors: Selectors,
    bookmarks: bool,
    cursor: u64,
    /// `includeObject` when kubectl asked for Table rows (`kubectl get -w`).
    table: Option<String>,
    headers_sent: bool,
    /// The client asked for `PartialObjectMetadata`: objects go out as their metadata only.
    metadata_only: bool,
}

impl Watch {
    fn owns(&self, event: &StoredEvent) -> bool {
        let resource = &self.target.resource;
        event.key.group == resource.group
            && event.key.plural == resource.plural
            && self.target.namespace.as_ref().is_none_or(|ns| event.key.namespace == *ns)
    }

    /// The event this watcher sees for a stored event, after selector filtering.
    fn translate(&mut self, event: &StoredEvent) -> Option<Value> {
        if !self.owns(event) {
            return None;
        }
        let now = self.selectors.matches(&event.object);
        let before = event.previous.as_ref().is_some_and(|p| self.selectors.matches(p));
        let event_type = match (event.event_type, now, before) {
            (EventType::Modified, true, false) => EventType::Added,
            (EventType::Modified, false, true) => EventType::Deleted,
            (_, false, _) => return None,
            (event_type, true, _) => event_type,
        };
        Some(self.line(event_type.as_str(), event.object.clone()))
    }

    fn line(&mut self, event_type: &str, object: Value) -> Value {
        let object = present(&self.target.resource, object);
        let Some(include) = &self.table else {
            let object = if self.metadata_only { partial_metadata(object) } else { object };
            return json!({"type": event_type, "object": object});
        };
        let rv = object.pointer("/metadata/resourceVersion").cloned().unwrap_or_default();
        let mut rows =
            table::table(&self.target.resource, &[object], json!({"resourceVersion": rv}), include);
        if self.headers_sent {
            rows["columnDefinitions"] = json!([]);
        }
        self.headers_sent = true;
        json!({"type": event_type, "object": rows})
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = present(&self.target.resource, json!({"metadata": metadata}));
        json!({"type": "BOOKMARK", "object": object})
    }

    /// Events after the cursor, or `Err` with the 410 event when they are no longer retained.
    fn catch_up(&mut self, state: &State) -> Result<Vec<Value>, Value> {
        if self.cursor < state.window_start {
            return Err(expired_watch_event(self.cursor, state.window_start));
        }
        let lines = state
            .history
            .iter()
            .filter(|e| e.rv > self.cursor)
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|e| self.translate(e))
            .collect();
        self.cursor = state.resource_version;
        Ok(lines)
    }
}

/// Starts a watch; the reply's body streams events until timeout, disconnect or a drop.
pub fn start(shared: Arc<Shared>, target: Target, req: &Request) -> Result<Reply, ApiError> {
    let selectors = selectors(&target, req)?;
    let timeout = match req.param("timeoutSeconds") {
        Some(text) => Some(Duration::from_secs(
            text.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {text}")))?,
        )),
        None => None,
    };
    let send_initial = req.param("sendInitialEvents") == Some("true");
    let requested = match req.param("resourceVersion") {
        None | Some("0") => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text}")))?,
        ),
    };
    let mut watch = Watch {
        target,
        selectors,
        bookmarks: req.flag("allowWatchBookmarks"),
        cursor: 0,
        table: req
            .wants_table()
            .then(|| req.param("includeObject").unwrap_or("Metadata").to_string()),
        headers_sent: false,
        metadata_only: req.wants_metadata_only(),
    };
    let mut first_lines = Vec::new();
    {
        let state = shared.lock();
        if requested.is_none() || send_initial {
            let resource = &watch.target.resource;
            let current: Vec<Value> = state
                .list(&resource.group, &resource.plural, watch.target.namespace.as_deref())
                .into_iter()
                .filter(|o| watch.selectors.matches(o))
                .cloned()
                .collect();
            for object in current {
                first_lines.push(watch.line("ADDED", object));
            }
            watch.cursor = state.resource_version;
            if send_initial && watch.bookmarks {
                first_lines.push(watch.bookmark(watch.cursor, true));
            }
        } else if let Some(rv) = requested {
            watch.cursor = rv;
        }
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(stream(shared, watch, first_lines, timeout, tx));
    Ok(Reply::stream(rx))
}

type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

async fn send(tx: &Sender, line: &Value) -> bool {
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    tx.send(Ok(Bytes::from(bytes))).await.is_ok()
}

async fn stream(
    shared: Arc<Shared>,
    mut watch: Watch,
    first_lines: Vec<Value>,
    timeout: Option<Duration>,
    tx: Sender,
) {
    let mut changes = shared.notify.clone();
    let mut drops = shared.faults.watch_drops();
    drops.mark_unchanged();
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let bookmark_every = shared.faults.bookmark_interval();
    let mut next_bookmark = tokio::time::Instant::now() + bookmark_every;
    for line in &first_lines {
        if !send(&tx, line).await {
            return;
        }
    }
    loop {
        changes.mark_unchanged();
        let caught_up = watch.catch_up(&shared.lock());
        match caught_up {
            Ok(lines) => {
                for line in &lines {
                    if !send(&tx, line).await {
                        return;
                    }
                }
            }
            Err(expired) => {
                send(&tx, &expired).await;
                return;
            }
        }
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = drops.changed() => {
                let _ = tx.send(Err(std::io::Error::other("watch dropped by test hook"))).await;
                return;
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => return,
            _ = tokio::time::sleep_until(next_bookmark), if watch.bookmarks => {
                next_bookmark = tokio::time::Instant::now() + bookmark_every;
                let line = watch.bookmark(watch.cursor, false);
                if !send(&tx, &line).await {
                    return;
                }
            }
            _ = tx.closed() => return,
        }
    }
}
