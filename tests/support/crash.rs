//! Crash runs of the `byoc controller` binary at its failpoints (`src/failpoint.rs`): a recorder
//! that logs the points a path passes, and a driver that makes the controller die at each of them
//! in turn, checking AWS for duplicates after every death.
//!
//! A path is recorded once, on a probe object, by a controller that logs every point it reaches
//! (`BYOC_FAILPOINT_LOG`). Then another object takes the same path while the controller is started
//! again and again, each time armed with every recorded point it has not died at yet
//! (`BYOC_FAILPOINT`): it dies at the first one it reaches and the log names it. A crash leaves the
//! work after it undone, so the next start passes the next point. A point recorded twice (a status
//! written twice, two load balancers created) is died at as often as the path passes it.

use std::{
    collections::BTreeMap,
    future::Future,
    os::unix::process::ExitStatusExt,
    path::PathBuf,
    time::{Duration, Instant},
};

use super::{e2e::Kube, e2e::Operator, moto::World};

/// The controllers' flags: resyncs rare enough that the points a path passes are the path's own.
pub const ARGS: [&str; 2] = ["--resync-interval", "30s"];
/// How long a path stays done, with the controller alive, before the run counts as finished.
const QUIET: Duration = Duration::from_secs(3);
/// How long one run may take to die or finish.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);
const SIGABRT: i32 = 6;

/// Resources by kind, as the inventory by our tags finds them.
pub type Counts = BTreeMap<String, usize>;

pub fn counts(inventory: &[(String, String)]) -> Counts {
    let mut out = Counts::new();
    for (kind, _) in inventory {
        *out.entry(kind.clone()).or_default() += 1;
    }
    out
}

/// Fails on a duplicate: more of a kind than the path has at its start or at its end, or two
/// rules on one listener.
pub fn assert_no_duplicate(
    inventory: &[(String, String)],
    before: &Counts,
    after: &Counts,
    at: &str,
) {
    for (kind, n) in counts(inventory) {
        if kind == "ListenerRule" {
            // Moving to another load balancer has the old rule and the new one for a moment.
            let mut per_listener: BTreeMap<&str, usize> = BTreeMap::new();
            for (_, arn) in inventory.iter().filter(|(k, _)| *k == kind) {
                *per_listener.entry(arn.rsplit_once('/').unwrap().0).or_default() += 1;
            }
            assert!(
                per_listener.values().all(|n| *n <= 1),
                "after a crash at {at}: two rules on one listener: {inventory:#?}"
            );
        } else {
            let most = before.get(&kind).max(after.get(&kind)).copied().unwrap_or(0);
            assert!(n <= most, "after a crash at {at}: {n} {kind}, at most {most}: {inventory:#?}");
        }
    }
}

/// A controller that logs every failpoint it reaches.
pub struct Recorder {
    log: PathBuf,
    seen: usize,
    _op: Operator,
}

impl Recorder {
    pub fn start(kube: &Kube, w: &World) -> Recorder {
        let log = std::env::temp_dir().join(format!("byoc-failpoints-{}.log", w.account));
        let _ = std::fs::remove_file(&log);
        let env = [("BYOC_FAILPOINT_LOG", log.to_str().unwrap())];
        let op = Operator::start_with_env(kube, w, &ARGS, &env);
        Recorder { log, seen: 0, _op: op }
    }

    /// The points `keep` selects reached since the last call, in order, repeats included.
    pub async fn points(&mut self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        // The log line of a point after a write lands just after the write shows.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let out = lines[self.seen..].iter().filter(|l| keep(l)).map(|l| l.to_string()).collect();
        self.seen = lines.len();
        out
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// What became of one point of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub point: String,
    /// How often the recorded run passed it.
    pub passes: usize,
    /// The runs (from 1) that died there.
    pub died_in: Vec<usize>,
}

/// Starts the controller again and again, dying at each point of `points` (as recorded: a point
/// passed `k` times stays armed until `k` runs died there; a crash before a call leaves it undone,
/// so the repeats of a `before` point die at the same call, those of an `after` point at the next
/// ones) until a run finishes the path (`done`) without reaching one. Checks AWS for duplicates
/// after each death, then calls `on_death` with the point; `before` and `after` are what AWS holds
/// at the path's ends.
pub async fn crash_through<F, Fut>(
    kube: &Kube,
    w: &World,
    points: &[String],
    (before, after): (&Counts, &Counts),
    done: F,
    on_death: impl Fn(&str),
) -> Vec<Tried>
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let log = std::env::temp_dir().join(format!("byoc-crash-{}.log", w.account));
    let log_path = log.display().to_string();
    let mut recorded: Vec<(String, usize)> = Vec::new();
    for p in points {
        if !recorded.iter().any(|(name, _)| name == p) {
            recorded.push((p.clone(), points.iter().filter(|q| *q == p).count()));
        }
    }
    let mut deaths: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for run in 1.. {
        let armed: Vec<&str> = recorded
            .iter()
            .filter(|(p, n)| deaths.get(p).map_or(0, Vec::len) < *n)
            .map(|(p, _)| p.as_str())
            .collect();
        if armed.is_empty() {
            break;
        }
        let _ = std::fs::remove_file(&log);
        let armed_list = armed.join(",");
        let env = [("BYOC_FAILPOINT", armed_list.as_str()), ("BYOC_FAILPOINT_LOG", &log_path)];
        let mut op = Operator::start_with_env(kube, w, &ARGS, &env);
        let Some(point) = died_at(&mut op, &log, &armed, &done).await else { break };
        assert_no_duplicate(&w.inventory().await, before, after, &point);
        on_death(&point);
        deaths.entry(point).or_default().push(run);
    }
    let _ = std::fs::remove_file(&log);
    recorded
        .into_iter()
        .map(|(point, passes)| {
            let died_in = deaths.remove(&point).unwrap_or_default();
            Tried { point, passes, died_in }
        })
        .collect()
}

/// Where the run died (one of `armed`), or `None` when it finished the path instead.
async fn died_at<F, Fut>(
    op: &mut Operator,
    log: &std::path::Path,
    armed: &[&str],
    done: &F,
) -> Option<String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    let mut done_since: Option<Instant> = None;
    loop {
        if let Some(status) = op.wait_exit(Duration::from_millis(200)).await {
            assert_eq!(
                status.signal(),
                Some(SIGABRT),
                "the controller was to die at one of {armed:?}, and ended otherwise: {status}"
            );
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let last = text.lines().last().unwrap_or_default().to_string();
            assert!(armed.contains(&last.as_str()), "died at {last:?}, not one of {armed:?}");
            return Some(last);
        }
        if done().await {
            if done_since.get_or_insert_with(Instant::now).elapsed() > QUIET {
                op.kill();
                return None;
            }
        } else {
            done_since = None;
        }
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "the controller neither reached one of {armed:?} nor finished in {RUN_TIMEOUT:?}"
        );
    }
}

/// One line per point: how often the recorded run passed it, and which runs died there.
pub fn report(path: &str, tried: &[Tried], took: Duration) -> String {
    let deaths: usize = tried.iter().map(|t| t.died_in.len()).sum();
    let mut out = format!("{path}: {} points, {deaths} deaths, {took:.1?}\n", tried.len());
    for t in tried {
        let runs: Vec<String> = t.died_in.iter().map(usize::to_string).collect();
        let died = if runs.is_empty() {
            "never died".into()
        } else {
            format!("died in runs {}", runs.join(", "))
        };
        out.push_str(&format!("  {}: passed {}x, {died}\n", t.point, t.passes));
    }
    out
}

/// The points no run died at: what a path's crash runs must not leave out.
pub fn missed(tried: &[Tried]) -> Vec<&str> {
    tried.iter().filter(|t| t.died_in.is_empty()).map(|t| t.point.as_str()).collect()
}
