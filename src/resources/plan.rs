//! The typed plan: what `apply` will change, per AWS resource. Pure and `Display`-able, so
//! `byoc plan` prints it, the controller logs it, and tests assert on it.

use std::fmt;

/// The kinds of AWS resource the operator manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Cluster,
    LoadBalancer,
    Listener,
    Repository,
    LogGroup,
    Secret,
    TargetGroup,
    ListenerRule,
    TaskDefinition,
    EcsService,
    BuildProject,
    Build,
    BuildBucket,
    BuildUpload,
    ScalableTarget,
    ScalingPolicy,
    Namespace,
    Certificate,
    DnsRecord,
    ListenerCertificate,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cluster => "EcsCluster",
            Kind::LoadBalancer => "LoadBalancer",
            Kind::Listener => "Listener",
            Kind::Repository => "EcrRepository",
            Kind::LogGroup => "LogGroup",
            Kind::Secret => "Secret",
            Kind::TargetGroup => "TargetGroup",
            Kind::ListenerRule => "ListenerRule",
            Kind::TaskDefinition => "TaskDefinition",
            Kind::EcsService => "EcsService",
            Kind::BuildProject => "CodeBuildProject",
            Kind::Build => "CodeBuildBuild",
            Kind::BuildBucket => "S3Bucket",
            Kind::BuildUpload => "S3Object",
            Kind::ScalableTarget => "ScalableTarget",
            Kind::ScalingPolicy => "ScalingPolicy",
            Kind::Namespace => "CloudMapNamespace",
            Kind::Certificate => "AcmCertificate",
            Kind::DnsRecord => "Route53Record",
            Kind::ListenerCertificate => "ListenerCertificate",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

impl FieldChange {
    pub fn new(field: &'static str, from: impl fmt::Display, to: impl fmt::Display) -> Self {
        FieldChange { field, from: from.to_string(), to: to.to_string() }
    }
}

/// What happens to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Update(Vec<FieldChange>),
    /// Recreate: `reason` says which immutable property changed.
    Replace(String),
    Delete,
    /// Left in place by `deletionPolicy: Retain`.
    Retain,
    /// Left in place for the reason given (e.g. still in use).
    Keep(String),
}

/// A change to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    pub id: String,
    pub action: Action,
}

impl Change {
    pub fn new(kind: Kind, id: impl Into<String>, action: Action) -> Self {
        Change { kind, id: id.into(), action }
    }
}

/// The changes for one service (or account), in execution order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether applying would change nothing (a retained resource is not a change).
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| matches!(c.action, Action::Retain | Action::Keep(_)))
    }

    pub fn push(&mut self, change: Option<Change>) {
        self.changes.extend(change);
    }

    /// Adds the changes of `other` this plan does not have yet (same kind and id).
    pub fn merge(&mut self, other: Plan) {
        for change in other.changes {
            if !self.changes.iter().any(|c| c.kind == change.kind && c.id == change.id) {
                self.changes.push(change);
            }
        }
    }

    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }
}

/// The field of the change that marks a task definition revision whose rollout failed.
pub const ROLLOUT_FAILED_FIELD: &str = "rolloutFailed";

/// Whether `change` only marks a revision whose rollout failed.
pub fn is_failure_mark(change: &Change) -> bool {
    matches!(&change.action, Action::Update(f) if f.len() == 1 && f[0].field == ROLLOUT_FAILED_FIELD)
}

impl Change {
    /// The change on one line, as the log tells it.
    pub fn summary(&self) -> String {
        let (verb, detail) = match &self.action {
            Action::Create => ("create", String::new()),
            Action::Delete => ("delete", String::new()),
            Action::Retain => ("retain", String::new()),
            Action::Keep(reason) => ("keep", format!(" ({reason})")),
            Action::Replace(reason) => ("replace", format!(" ({reason})")),
            Action::Update(fields) => {
                let fields: Vec<String> =
                    fields.iter().map(|c| format!("{}: {} → {}", c.field, c.from, c.to)).collect();
                ("update", format!(" ({})", fields.join(", ")))
            }
        };
        format!("{verb} {} {}{detail}", self.kind, self.id)
    }

    /// Logs the change at `info` as it is made: every AWS write is one line.
    pub fn log(&self) {
        if !matches!(self.action, Action::Keep(_) | Action::Retain) {
            tracing::info!(kind = %self.kind, id = %self.id, change = %self.summary(), "AWS change");
        }
    }
}

impl Change {
    /// The change as the API publishes it (`status.plan`, `byoc plan -o json`).
    pub fn to_api(&self) -> crate::api::PlannedChange {
        use crate::api::{PlannedAction, PlannedField};
        let (action, fields, reason) = match &self.action {
            Action::Create => (PlannedAction::Create, Vec::new(), None),
            Action::Delete => (PlannedAction::Delete, Vec::new(), None),
            Action::Retain => (PlannedAction::Retain, Vec::new(), None),
            Action::Keep(why) => (PlannedAction::Keep, Vec::new(), Some(why.clone())),
            Action::Replace(why) => (PlannedAction::Replace, Vec::new(), Some(why.clone())),
            Action::Update(fields) => (
                PlannedAction::Update,
                fields
                    .iter()
                    .map(|f| PlannedField {
                        field: f.field.to_string(),
                        from: f.from.clone(),
                        to: f.to.clone(),
                    })
                    .collect(),
                None,
            ),
        };
        crate::api::PlannedChange {
            kind: self.kind.as_str().to_string(),
            id: self.id.clone(),
            action,
            fields,
            reason,
        }
    }
}

impl Plan {
    /// The changes as the API publishes them.
    pub fn to_api(&self) -> Vec<crate::api::PlannedChange> {
        self.changes.iter().map(Change::to_api).collect()
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Create => write!(f, "  + create  {} {}", self.kind, self.id),
            Action::Delete => write!(f, "  - delete  {} {}", self.kind, self.id),
            Action::Retain => write!(f, "  = retain  {} {}", self.kind, self.id),
            Action::Keep(reason) => write!(f, "  = keep    {} {} ({reason})", self.kind, self.id),
            Action::Replace(reason) => {
                write!(f, "  ± replace {} {} ({reason})", self.kind, self.id)
            }
            Action::Update(fields) => {
                write!(f, "  ~ update  {} {}", self.kind, self.id)?;
                for c in fields {
                    write!(f, "\n      {}: {} → {}", c.field, c.from, c.to)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "  no changes");
        }
        for change in &self.changes {
            writeln!(f, "{change}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_prints_each_field_change_from_old_to_new() {
        let plan = Plan {
            changes: vec![
                Change::new(
                    Kind::TaskDefinition,
                    "default-web-1a2b3c",
                    Action::Update(vec![FieldChange::new("image", "nginx:1.26", "nginx:1.27")]),
                ),
                Change::new(Kind::TargetGroup, "default-web-1a2b3c", Action::Create),
            ],
        };
        let text = plan.to_string();
        assert!(
            text.contains(
                "~ update  TaskDefinition default-web-1a2b3c\n      image: nginx:1.26 → nginx:1.27"
            ),
            "{text}"
        );
        assert!(text.contains("+ create  TargetGroup"), "{text}");
        assert!(!plan.is_empty());
        assert!(Plan::default().to_string().contains("no changes"));
    }
}
