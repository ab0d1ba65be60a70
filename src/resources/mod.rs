//! One file per AWS resource kind, each with `observe` (IO), a pure `diff` and `act` (IO); the
//! generic engine that runs them in dependency order; the typed plan; account-level resources.

pub mod account;
pub mod account_teardown;
mod apply;
pub mod build;
pub mod build_bucket;
pub mod build_stage;
pub mod cache;
mod certificate;
mod dns;
pub mod domains;
mod engine;
mod listener;
mod log_group;
mod namespace;
pub mod plan;
pub mod priorities;
mod repository;
pub mod rollout;
mod rule;
mod scaling;
mod secret;
mod service;
pub mod snapshot;
mod stale;
mod tags;
mod target_group;
mod task_definition;
mod teardown;

pub use apply::{Applied, apply, failed};
pub use cache::ObserveCache;
pub use engine::{EngineError, Observed, observe, plan};
pub use plan::{Action, Change, FieldChange, Kind, Plan, is_failure_mark};
pub use task_definition::mark_failed as mark_failed_revision;
pub use teardown::{Teardown, delete, delete_recording, plan_delete, withdraw_rules};

/// What observation found under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence<T> {
    Missing,
    /// Exists and carries our ownership tags.
    Ours(T),
    /// Exists without our ownership tags: never modified or deleted.
    Foreign(String),
}

impl<T> Presence<T> {
    pub fn ours(&self) -> Option<&T> {
        match self {
            Presence::Ours(t) => Some(t),
            _ => None,
        }
    }
}
