//! One CodeBuild build in time: the phases it runs through, each taking its share of the build's
//! duration, and how it ends: SUCCEEDED; FAILED in BUILD (the phases after it still run) or in
//! DOWNLOAD_SOURCE (straight to FINALIZING); TIMED_OUT; or STOPPED. Two outcomes need a look at
//! moto when the build gets there (does the source object exist, can the image be pushed): until
//! the caller settles such a `Check`, the build stays in that phase. Pure: the caller hands in
//! the clock.
//!
//! Sources:
//! - Phases and statuses: `BuildPhase`
//!   (<https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BuildPhase.html>) and
//!   `PhaseContext` (<https://docs.aws.amazon.com/codebuild/latest/APIReference/API_PhaseContext.html>);
//!   the shapes follow the AWS CLI examples of `batch-get-builds`, `start-build` and `stop-build`
//!   (aws/aws-cli, `awscli/examples/codebuild/`): SUBMITTED and QUEUED carry no `contexts`, later
//!   phases that succeeded carry `[{"statusCode": "", "message": ""}]`, the phase in progress has
//!   only `phaseType` and `startTime`, and COMPLETED has only `phaseType` and `startTime`.
//! - After a failure: "The UPLOAD_ARTIFACTS phase is always attempted, even if the BUILD phase
//!   fails." (Build phase transitions,
//!   <https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details-phases.html>); the
//!   diagram there sends a failed DOWNLOAD_SOURCE to FINALIZING.
//! - Stopped: the `stop-build` example ends the phase in progress STOPPED (no `contexts`) and goes
//!   straight to COMPLETED, with `buildStatus` STOPPED and `buildComplete` true at once.
//! - Timed out: `timeoutInMinutes` is "How long, in minutes, from 5 to 2160 (36 hours), for
//!   CodeBuild to wait before timing out this build if it does not get marked as completed."
//!   (`Build`, <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html>); the
//!   phase in progress ends TIMED_OUT with the context `BUILD_TIMED_OUT` "Build has timed out. ",
//!   then FINALIZING runs, as real timed-out builds report it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

/// The phases a build runs through, each with its share (in twentieths) of the build's duration.
const PLAN: [(Phase, u32); 10] = [
    (Phase::Submitted, 1),
    (Phase::Queued, 1),
    (Phase::Provisioning, 3),
    (Phase::DownloadSource, 2),
    (Phase::Install, 1),
    (Phase::PreBuild, 2),
    (Phase::Build, 6),
    (Phase::PostBuild, 2),
    (Phase::UploadArtifacts, 1),
    (Phase::Finalizing, 1),
];

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Submitted => "SUBMITTED",
            Phase::Queued => "QUEUED",
            Phase::Provisioning => "PROVISIONING",
            Phase::DownloadSource => "DOWNLOAD_SOURCE",
            Phase::Install => "INSTALL",
            Phase::PreBuild => "PRE_BUILD",
            Phase::Build => "BUILD",
            Phase::PostBuild => "POST_BUILD",
            Phase::UploadArtifacts => "UPLOAD_ARTIFACTS",
            Phase::Finalizing => "FINALIZING",
            Phase::Completed => "COMPLETED",
        }
    }
}

/// A build's `buildStatus`, or a phase's `phaseStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Stopped => "STOPPED",
        }
    }
}

/// A `PhaseContext`: why a phase ended as it did (empty strings when it succeeded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub status_code: String,
    pub message: String,
}

impl Context {
    pub fn new(status_code: &str, message: &str) -> Context {
        Context { status_code: status_code.into(), message: message.into() }
    }
}

/// An outcome decided when the build reaches the end of a phase.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Not looked at yet: the phase cannot end before it is.
    Pending,
    Passed,
    Failed(Context),
}

/// One phase of a build as reported at some moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub phase: Phase,
    pub start: Instant,
    /// When the phase ends if nothing cuts it short.
    pub planned_end: Instant,
    /// When and how it ended; `None` while it is the current phase (COMPLETED never ends).
    pub end: Option<(Instant, Status)>,
    /// `None`: the phase reports no `contexts`.
    pub context: Option<Context>,
}

impl Span {
    /// The phase as a `BuildPhase`, its times in epoch seconds by `epoch`.
    pub fn json(&self, epoch: &dyn Fn(Instant) -> f64) -> Value {
        let mut out = json!({ "phaseType": self.phase.as_str(), "startTime": epoch(self.start) });
        if let Some((end, status)) = self.end {
            out["phaseStatus"] = json!(status.as_str());
            out["endTime"] = json!(epoch(end));
            out["durationInSeconds"] = json!(end.saturating_duration_since(self.start).as_secs());
        }
        if let Some(context) = &self.context {
            out["contexts"] =
                json!([{ "statusCode": context.status_code, "message": context.message }]);
        }
        out
    }
}

/// One build in time.
#[derive(Debug, Clone)]
pub struct Run {
    pub started: Instant,
    /// From SUBMITTED to COMPLETED when nothing cuts the build short.
    pub duration: Duration,
    /// `timeoutInMinutes`, in the layer's time.
    pub timeout: Duration,
    /// Decided at the end of DOWNLOAD_SOURCE.
    pub source: Check,
    /// Decided at the end of BUILD.
    pub build: Check,
    pub stopped: Option<Instant>,
}

impl Run {
    fn share(&self, phase: Phase) -> Duration {
        let weight = PLAN.iter().find(|(p, _)| *p == phase).map_or(0, |(_, w)| *w);
        let total: u32 = PLAN.iter().map(|(_, w)| w).sum();
        self.duration.mul_f64(f64::from(weight) / f64::from(total))
    }

    /// The whole timeline as far as it is decided: every phase that has started or will start,
    /// with the end each will have. A pending check leaves its phase without an end and the
    /// phases after it out.
    pub fn plan(&self) -> Vec<Span> {
        let timeout_at = self.started + self.timeout;
        let mut spans = Vec::new();
        let mut at = self.started;
        for (phase, _) in PLAN {
            let planned_end = at + self.share(phase);
            let stop = self.stopped.filter(|s| *s >= at && *s < planned_end);
            let timeout =
                (phase < Phase::Finalizing && timeout_at >= at && timeout_at < planned_end)
                    .then_some(timeout_at);
            let cut = match (stop, timeout) {
                (Some(s), Some(t)) if t < s => Some((t, Status::TimedOut)),
                (Some(s), _) => Some((s, Status::Stopped)),
                (None, Some(t)) => Some((t, Status::TimedOut)),
                (None, None) => None,
            };
            if let Some((cut_at, status)) = cut {
                let context = (status == Status::TimedOut)
                    .then(|| Context::new("BUILD_TIMED_OUT", "Build has timed out. "));
                spans.push(Span {
                    phase,
                    start: at,
                    planned_end,
                    end: Some((cut_at, status)),
                    context,
                });
                at = cut_at;
                if status == Status::TimedOut {
                    at = self.finalize(&mut spans, at);
                }
                break;
            }
            let check = match phase {
                Phase::DownloadSource => &self.source,
                Phase::Build => &self.build,
                _ => &Check::Passed,
            };
            let (status, context) = match check {
                Check::Pending => {
                    spans.push(Span { phase, start: at, planned_end, end: None, context: None });
                    return spans;
                }
                Check::Failed(context) => (Status::Failed, Some(context.clone())),
                Check::Passed if phase < Phase::Provisioning => (Status::Succeeded, None),
                Check::Passed => (Status::Succeeded, Some(Context::default())),
            };
            spans.push(Span {
                phase,
                start: at,
                planned_end,
                end: Some((planned_end, status)),
                context,
            });
            at = planned_end;
            if phase == Phase::DownloadSource && status == Status::Failed {
                at = self.finalize(&mut spans, at);
                break;
            }
        }
        spans.push(Span {
            phase: Phase::Completed,
            start: at,
            planned_end: at,
            end: None,
            context: None,
        });
        spans
    }

    /// Adds a FINALIZING phase from `at`; returns its end.
    fn finalize(&self, spans: &mut Vec<Span>, at: Instant) -> Instant {
        let end = at + self.share(Phase::Finalizing);
        let context = Some(Context::default());
        let phase = Phase::Finalizing;
        spans.push(Span {
            phase,
            start: at,
            planned_end: end,
            end: Some((end, Status::Succeeded)),
            context,
        });
        end
    }

    /// The phases as reported at `now`: those started, the current one without an end.
    pub fn spans(&self, now: Instant) -> Vec<Span> {
        let mut spans: Vec<Span> = self.plan().into_iter().filter(|s| s.start <= now).collect();
        if let Some(last) = spans.last_mut()
            && last.end.is_some_and(|(end, _)| end > now)
        {
            last.end = None;
            last.context = None;
        }
        spans
    }

    /// When the build completes (COMPLETED starts), once that is decided.
    pub fn completes(&self) -> Option<Instant> {
        self.plan().last().filter(|s| s.phase == Phase::Completed).map(|s| s.start)
    }

    pub fn complete(&self, now: Instant) -> bool {
        self.completes().is_some_and(|at| at <= now)
    }

    /// `buildStatus` at `now`: IN_PROGRESS until COMPLETED, then how the build went.
    pub fn status(&self, now: Instant) -> Status {
        if !self.complete(now) {
            return Status::InProgress;
        }
        let ended: Vec<Status> =
            self.plan().iter().filter_map(|s| s.end.map(|(_, st)| st)).collect();
        [Status::Stopped, Status::TimedOut, Status::Failed]
            .into_iter()
            .find(|bad| ended.contains(bad))
            .unwrap_or(Status::Succeeded)
    }

    /// The phase whose check must be settled before the build can go on, once the build has
    /// reached the end of that phase.
    pub fn due_check(&self, now: Instant) -> Option<Phase> {
        let last = self.plan().pop()?;
        (last.end.is_none() && last.phase != Phase::Completed && last.planned_end <= now)
            .then_some(last.phase)
    }

    /// Stops the build at `now`, unless it is complete already.
    pub fn stop(&mut self, now: Instant) {
        if self.stopped.is_none() && !self.complete(now) {
            self.stopped = Some(now);
        }
    }
}
