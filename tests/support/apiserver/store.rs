//! In-memory storage: objects keyed by group/resource/namespace/name, one global
//! `resourceVersion` counter, and a bounded history of watch events. Every mutation bumps the
//! counter, records an event and wakes the watchers. No IO beyond the in-process notification.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::meta;
use super::registry::Registry;

/// Events kept for watches resuming from an older `resourceVersion`.
pub const DEFAULT_HISTORY_LIMIT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub plural: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub rv: u64,
    pub event_type: EventType,
    pub key: ObjectKey,
    pub object: Value,
    /// The object before a modification, so filtered watches can see it leave their selector.
    pub previous: Option<Value>,
}

pub struct State {
    pub registry: Registry,
    pub objects: BTreeMap<ObjectKey, Value>,
    pub resource_version: u64,
    pub history: VecDeque<StoredEvent>,
    pub history_limit: usize,
    /// Every event with a resourceVersion above this is still in `history`.
    pub window_start: u64,
    uid_counter: u64,
    uid_seed: u64,
    notify: watch::Sender<u64>,
}

impl State {
    pub fn new(notify: watch::Sender<u64>) -> Self {
        let uid_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        State {
            registry: Registry::with_builtins(),
            objects: BTreeMap::new(),
            resource_version: 0,
            history: VecDeque::new(),
            history_limit: DEFAULT_HISTORY_LIMIT,
            window_start: 0,
            uid_counter: 0,
            uid_seed,
            notify,
        }
    }

    pub fn new_uid(&mut self) -> String {
        self.uid_counter += 1;
        let high = self.uid_seed & 0xffff_ffff;
        let low = self.uid_counter;
        format!(
            "{high:08x}-{:04x}-4{:03x}-8{:03x}-{low:012x}",
            (self.uid_seed >> 32) & 0xffff,
            (self.uid_seed >> 48) & 0xfff,
            low & 0xfff
        )
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.objects.contains_key(&namespace_key(namespace))
    }

    pub fn namespace_terminating(&self, namespace: &str) -> bool {
        self.objects
            .get(&namespace_key(namespace))
            .is_some_and(|ns| ns.pointer("/metadata/deletionTimestamp").is_some())
    }

    /// Stores a new object, stamping its resourceVersion; returns the stored copy.
    pub fn insert(&mut self, key: ObjectKey, mut object: Value) -> Value {
        let rv = self.bump();
        meta::set_resource_version(&mut object, rv);
        self.objects.insert(key.clone(), object.clone());
        self.record(rv, EventType::Added, key, object.clone(), None);
        object
    }

    /// Replaces an existing object, stamping its resourceVersion; returns the stored copy.
    pub fn replace(&mut self, key: ObjectKey, mut object: Value) -> Value {
        let rv = self.bump();
        meta::set_resource_version(&mut object, rv);
        let previous = self.objects.insert(key.clone(), object.clone());
        self.record(rv, EventType::Modified, key, object.clone(), previous);
        object
    }

    /// Removes an object for good; the DELETED event carries the deletion's resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        let rv = self.bump();
        meta::set_resource_version(&mut object, rv);
        self.record(rv, EventType::Deleted, key.clone(), object.clone(), None);
        Some(object)
    }

    fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn record(
        &mut self,
        rv: u64,
        event_type: EventType,
        key: ObjectKey,
        object: Value,
        previous: Option<Value>,
    ) {
        self.history.push_back(StoredEvent { rv, event_type, key, object, previous });
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.window_start = dropped.rv;
            }
        }
        self.notify.send_replace(rv);
    }

    /// Forgets every retained event, as an etcd compaction would: watches from any earlier
    /// resourceVersion now get 410 Expired.
    pub fn compact(&mut self) {
        self.history.clear();
        self.window_start = self.resource_version;
    }

    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit.max(1);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.window_start = dropped.rv;
            }
        }
    }

    /// Objects of one group/resource, optionally in one namespace, ordered by namespace/name.
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.group == group && k.plural == plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| v)
            .collect()
    }

    /// Creates a namespace object directly (used at start for `default` and `kube-system`).
    pub fn seed_namespace(&mut self, name: &str) {
        let uid = self.new_uid();
        let object = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "uid": uid,
                "creationTimestamp": meta::now(),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        self.insert(namespace_key(name), object);
    }
}

pub fn namespace_key(name: &str) -> ObjectKey {
    ObjectKey {
        group: String::new(),
        plural: "namespaces".into(),
        namespace: String::new(),
        name: name.into(),
    }
}
