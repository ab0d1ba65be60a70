//! What the one-shot commands (`byoc plan | apply | delete`, `byoc compose plan | up | down`) show
//! a person or a CI job: the rows of the progress table of `--wait` (one per service: phase, tasks,
//! rollout, elapsed time and a short message), the summary tables printed at the end, and the
//! documents of `-o json|yaml`.
//!
//! Everything here is pure — statuses, plans and durations in, rows and strings out — except
//! `terminal`, the thin edge that draws the table in place on a terminal (indicatif) or prints a
//! timestamped line whenever a row changes elsewhere.

pub mod output;
pub mod summary;
pub mod table;
pub mod terminal;

use std::time::Duration;

use crate::{
    api::{BuildPhase, CloudServiceStatus, READY, RolloutState, STALLED, SUSPENDED, is_true},
    oneshot::Removal,
};

/// Where a service is, as the progress table shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its AWS resources are being created or updated.
    Applying,
    /// Its image is being built from source.
    Building,
    /// ECS is starting the tasks of the current task definition.
    RollingOut,
    /// Every task of the current task definition runs.
    Ready,
    /// The rollout or the build failed.
    Failed,
    /// It needs a change from the user (the `Stalled` condition).
    Stalled,
    /// `spec.suspend` holds it.
    Suspended,
    /// Its AWS resources are being deleted (or its ECS service drains).
    Deleting,
    /// Nothing of it is left in AWS.
    Deleted,
    /// Left in place by `deletionPolicy: Retain`.
    Retained,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Applying => "Applying",
            Phase::Building => "Building",
            Phase::RollingOut => "RollingOut",
            Phase::Ready => "Ready",
            Phase::Failed => "Failed",
            Phase::Stalled => "Stalled",
            Phase::Suspended => "Suspended",
            Phase::Deleting => "Deleting",
            Phase::Deleted => "Deleted",
            Phase::Retained => "Retained",
        }
    }

    /// Whether the command has nothing more to wait for in this phase.
    pub fn is_settled(self) -> bool {
        !matches!(self, Phase::Applying | Phase::Building | Phase::RollingOut | Phase::Deleting)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one row says, apart from the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowState {
    pub phase: Phase,
    /// Tasks running and desired.
    pub tasks: Option<(i32, i32)>,
    /// The rollout's state, e.g. `InProgress`, `Failed (rolled back)`.
    pub rollout: Option<String>,
    /// A short explanation: what is rolling out, why it failed, where it answers.
    pub message: String,
}

impl RowState {
    pub fn new(phase: Phase, message: impl Into<String>) -> RowState {
        RowState { phase, tasks: None, rollout: None, message: message.into() }
    }
}

/// The first row of a service about to be applied: `Building` when its image is built from
/// source first.
pub fn applying(builds: bool) -> RowState {
    if builds {
        RowState::new(Phase::Building, "building the image from source")
    } else {
        RowState::new(Phase::Applying, "")
    }
}

/// The row of a service from the status `byoc apply` computed for it.
pub fn from_status(status: &CloudServiceStatus) -> RowState {
    let condition = |type_: &str| status.conditions.iter().find(|c| c.type_ == type_);
    let stalled = condition(STALLED).filter(|c| c.status == "True");
    let rollout = status.rollout.as_ref();
    let building = status
        .build
        .as_ref()
        .filter(|b| matches!(b.phase, BuildPhase::Building | BuildPhase::WaitingForImage));
    let (phase, message) = if is_true(&status.conditions, SUSPENDED) {
        (Phase::Suspended, condition(SUSPENDED).map(|c| c.message.clone()).unwrap_or_default())
    } else if let Some(c) = stalled {
        let failed = matches!(
            c.reason.as_str(),
            crate::api::reason::ROLLOUT_FAILED | crate::api::reason::BUILD_FAILED
        );
        (if failed { Phase::Failed } else { Phase::Stalled }, first_line(&c.message))
    } else if is_true(&status.conditions, READY) {
        (Phase::Ready, addresses(status).join(" "))
    } else if let Some(b) = building {
        (Phase::Building, b.message.clone().unwrap_or_else(|| format!("building {}", b.source)))
    } else if let Some(r) = rollout.filter(|r| r.state == RolloutState::InProgress) {
        let mut message = format!(
            "{}: {} pending",
            r.task_definition.as_deref().unwrap_or("task definition"),
            r.pending
        );
        if r.failed_tasks > 0 {
            message.push_str(&format!(", {} failed to start", r.failed_tasks));
        }
        (Phase::RollingOut, message)
    } else {
        let reason = condition(READY).map(|c| c.message.clone()).unwrap_or_default();
        (Phase::Applying, first_line(&reason))
    };
    RowState {
        phase,
        tasks: rollout.map(|r| (r.running, r.desired)),
        rollout: rollout.map(rollout_text),
        message,
    }
}

/// The row of a service being deleted, from how its removal goes; `waiting`: whether the
/// command waits until nothing of it is left (else deleting its resources is the end).
pub fn from_removal(removal: &Removal, waiting: bool) -> RowState {
    match removal {
        Removal::Deleted { deleted: 0 } if waiting => {
            RowState::new(Phase::Deleting, "nothing to delete")
        }
        Removal::Deleted { deleted } if waiting => {
            RowState::new(Phase::Deleting, format!("{deleted} resource(s) deleted"))
        }
        Removal::Deleted { deleted: 0 } => RowState::new(Phase::Deleted, "nothing to delete"),
        Removal::Deleted { deleted } => RowState::new(
            Phase::Deleted,
            format!("{deleted} resource(s) deleted; ECS drains the service in the background"),
        ),
        Removal::Retained { retained } => RowState::new(
            Phase::Retained,
            format!("deletionPolicy: Retain keeps {retained} resource(s)"),
        ),
        Removal::Draining { running } => RowState {
            tasks: Some((*running, 0)),
            ..RowState::new(Phase::Deleting, "ECS service draining: tasks stopping")
        },
        Removal::Gone => RowState::new(Phase::Deleted, "nothing left in AWS"),
        Removal::Left(left) => {
            RowState::new(Phase::Failed, format!("still in AWS: {}", left.join(", ")))
        }
    }
}

/// Where a service answers: its URL, then its private `name:port` addresses.
pub fn addresses(status: &CloudServiceStatus) -> Vec<String> {
    status.url.iter().chain(&status.private_addresses).cloned().collect()
}

/// A rollout's state as a word, with `(rolled back)` when ECS went back to the last revision.
pub fn rollout_text(r: &crate::api::Rollout) -> String {
    let state = match r.state {
        RolloutState::InProgress => "InProgress",
        RolloutState::Completed => "Completed",
        RolloutState::Failed => "Failed",
    };
    if r.rolled_back { format!("{state} (rolled back)") } else { state.to_string() }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// One service in the table. Times are offsets from the start of the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The object, e.g. `CloudService shop/web`: what the engine calls it.
    pub label: String,
    pub state: RowState,
    /// When the row reached a settled phase (its elapsed time stops there).
    pub settled: Option<Duration>,
}

impl Row {
    /// The name shown: `shop/web` for `CloudService shop/web`.
    pub fn name(&self) -> &str {
        self.label.strip_prefix("CloudService ").unwrap_or(&self.label)
    }

    /// How long the service took, or has taken so far.
    pub fn elapsed(&self, now: Duration) -> Duration {
        self.settled.unwrap_or(now)
    }
}

/// Every row of a command, in the order of the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Board {
    rows: Vec<Row>,
}

impl Board {
    pub fn new(rows: impl IntoIterator<Item = (String, RowState)>) -> Board {
        let mut board = Board::default();
        for (label, state) in rows {
            board.update(&label, state, Duration::ZERO);
        }
        board
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn row(&self, label: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.label == label)
    }

    /// Sets the state of the row `label` (adding it when new) at `now`; whether anything a
    /// person would read changed, so a line is due (the elapsed time alone is no change).
    pub fn update(&mut self, label: &str, state: RowState, now: Duration) -> bool {
        let settled = state.phase.is_settled().then_some(now);
        match self.rows.iter_mut().find(|r| r.label == label) {
            Some(row) if row.state == state => false,
            Some(row) => {
                if !state.phase.is_settled() {
                    row.settled = None;
                } else if !row.state.phase.is_settled() || row.settled.is_none() {
                    row.settled = settled;
                }
                row.state = state;
                true
            }
            None => {
                self.rows.push(Row { label: label.to_string(), state, settled });
                true
            }
        }
    }

    /// Whether every row is settled.
    pub fn is_settled(&self) -> bool {
        self.rows.iter().all(|r| r.state.phase.is_settled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BuildStatus, Rollout};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn condition(type_: &str, status: bool, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn rollout(state: RolloutState, running: i32, desired: i32) -> Rollout {
        Rollout {
            state,
            running,
            desired,
            pending: desired - running,
            task_definition: Some("shop-web-1a2b:3".into()),
            ..Rollout::default()
        }
    }

    fn status(conditions: Vec<Condition>, rollout: Option<Rollout>) -> CloudServiceStatus {
        CloudServiceStatus { conditions, rollout, ..CloudServiceStatus::default() }
    }

    #[test]
    fn a_status_maps_to_the_phase_a_person_expects() {
        let ready = |ok| condition(READY, ok, "x", "Ready message");
        let stalled = |reason, message| condition(STALLED, true, reason, message);
        let cases = [
            (
                "a completed rollout is Ready and shows where the service answers",
                CloudServiceStatus {
                    url: Some("http://lb/web".into()),
                    private_addresses: vec!["web:8080".into()],
                    ..status(vec![ready(true)], Some(rollout(RolloutState::Completed, 2, 2)))
                },
                Phase::Ready,
                "http://lb/web web:8080",
            ),
            (
                "a rollout in progress says what rolls out and how many tasks are pending",
                status(vec![ready(false)], Some(rollout(RolloutState::InProgress, 1, 3))),
                Phase::RollingOut,
                "shop-web-1a2b:3: 2 pending",
            ),
            (
                "a failed rollout is Failed with the Stalled message's first line",
                status(
                    vec![ready(false), stalled("RolloutFailed", "circuit breaker\nmore")],
                    Some(rollout(RolloutState::Failed, 0, 2)),
                ),
                Phase::Failed,
                "circuit breaker",
            ),
            (
                "a failed build is Failed",
                status(vec![stalled("BuildFailed", "exit 1")], None),
                Phase::Failed,
                "exit 1",
            ),
            (
                "another stalled reason is Stalled",
                status(vec![stalled("OwnershipConflict", "not ours")], None),
                Phase::Stalled,
                "not ours",
            ),
            (
                "a build in progress is Building",
                CloudServiceStatus {
                    build: Some(BuildStatus {
                        phase: BuildPhase::Building,
                        source: "sha256:abc".into(),
                        ..BuildStatus::default()
                    }),
                    ..status(vec![ready(false)], None)
                },
                Phase::Building,
                "building sha256:abc",
            ),
            (
                "a suspended service is Suspended whatever else holds",
                status(
                    vec![ready(true), condition(SUSPENDED, true, "Suspended", "spec.suspend")],
                    None,
                ),
                Phase::Suspended,
                "spec.suspend",
            ),
            (
                "no rollout and nothing else: still applying",
                status(vec![], None),
                Phase::Applying,
                "",
            ),
        ];
        for (reason, status, phase, message) in cases {
            let row = from_status(&status);
            assert_eq!((row.phase, row.message.as_str()), (phase, message), "{reason}");
        }
    }

    #[test]
    fn a_rolled_back_rollout_says_so() {
        let mut r = rollout(RolloutState::Failed, 2, 2);
        r.rolled_back = true;
        assert_eq!(rollout_text(&r), "Failed (rolled back)");
        let row = from_status(&status(vec![], Some(r)));
        assert_eq!(row.tasks, Some((2, 2)));
    }

    #[test]
    fn a_deletion_reads_deleting_until_nothing_is_left_when_waiting() {
        let cases = [
            (Removal::Deleted { deleted: 7 }, true, Phase::Deleting, None, "7 resource(s) deleted"),
            (Removal::Deleted { deleted: 0 }, false, Phase::Deleted, None, "nothing to delete"),
            (Removal::Deleted { deleted: 0 }, true, Phase::Deleting, None, "nothing to delete"),
            (
                Removal::Draining { running: 2 },
                true,
                Phase::Deleting,
                Some((2, 0)),
                "ECS service draining: tasks stopping",
            ),
            (Removal::Gone, true, Phase::Deleted, None, "nothing left in AWS"),
            (
                Removal::Retained { retained: 5 },
                true,
                Phase::Retained,
                None,
                "deletionPolicy: Retain keeps 5 resource(s)",
            ),
            (
                Removal::Left(vec!["TargetGroup shop-web".into()]),
                true,
                Phase::Failed,
                None,
                "still in AWS: TargetGroup shop-web",
            ),
        ];
        for (removal, waiting, phase, tasks, message) in cases {
            let row = from_removal(&removal, waiting);
            assert_eq!(
                (row.phase, row.tasks, row.message.as_str()),
                (phase, tasks, message),
                "{removal:?}"
            );
        }
    }

    #[test]
    fn a_rows_elapsed_time_stops_when_it_settles_and_runs_again_when_it_moves() {
        let mut board = Board::new([("CloudService shop/web".to_string(), applying(false))]);
        let rolling = RowState { tasks: Some((0, 1)), ..RowState::new(Phase::RollingOut, "") };
        assert!(board.update("CloudService shop/web", rolling.clone(), Duration::from_secs(3)));
        assert!(!board.update("CloudService shop/web", rolling, Duration::from_secs(5)));
        let ready = RowState::new(Phase::Ready, "");
        assert!(board.update("CloudService shop/web", ready.clone(), Duration::from_secs(9)));
        assert!(!board.update("CloudService shop/web", ready, Duration::from_secs(12)));
        let row = board.row("CloudService shop/web").unwrap();
        assert_eq!(row.elapsed(Duration::from_secs(60)), Duration::from_secs(9));
        assert_eq!(row.name(), "shop/web");
        assert!(board.is_settled());
        board.update("CloudService shop/web", applying(false), Duration::from_secs(20));
        let row = board.row("CloudService shop/web").unwrap();
        assert_eq!(row.elapsed(Duration::from_secs(60)), Duration::from_secs(60));
        assert!(!board.is_settled());
    }
}
