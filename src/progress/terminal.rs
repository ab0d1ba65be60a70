//! The IO edge of `progress`: shows a `Board` on standard error. Once `live` and when standard
//! error is a terminal, the board is a table redrawn in place (one indicatif progress bar whose
//! message is the whole table, cut to the terminal's width, refreshed ten times a second for the
//! spinner and elapsed times); otherwise each row change is one timestamped line, and nothing is
//! printed while nothing changes. Log lines (`init_tracing`) are written above the live table.

use std::{
    io::Write,
    sync::{Arc, Mutex, MutexGuard, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Board, RowState, table};

/// How often the live table is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// The board of a running command, and how it is shown.
pub struct Progress {
    shared: Arc<Mutex<Shared>>,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

struct Shared {
    board: Board,
    started: Instant,
    /// The live table, and the text it shows.
    live: Option<(ProgressBar, String)>,
    frame: usize,
}

impl Progress {
    /// Starts the clock with these rows: with `live`, the table on a terminal (see `live`), else
    /// each row printed as a line.
    pub fn start(rows: impl IntoIterator<Item = (String, RowState)>, live: bool) -> Progress {
        let board = Board::new(rows);
        let shared = Shared { board, started: Instant::now(), live: None, frame: 0 };
        let mut progress = Progress { shared: Arc::new(Mutex::new(shared)), ticker: None };
        if live {
            progress.live();
        }
        let shared = lock(&progress.shared);
        if shared.live.is_none() {
            for row in shared.board.rows() {
                eprintln!("{}", table::line(row, Duration::ZERO, &clock()));
            }
        }
        drop(shared);
        progress
    }

    /// From now on, when standard error is a terminal, the rows are a table redrawn in place
    /// (until `finish`); elsewhere nothing changes.
    pub fn live(&mut self) {
        let target = ProgressDrawTarget::stderr();
        if self.ticker.is_some() || target.is_hidden() {
            return;
        }
        // A template without placeholders but the message cannot fail to parse.
        let style = ProgressStyle::with_template("{msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::with_draw_target(None, target).with_style(style);
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        // The first tick draws the table, with the updates made until then.
        lock(&self.shared).live = Some((bar, String::new()));
        let (stop, stopped) = mpsc::channel::<()>();
        let state = self.shared.clone();
        let handle = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                let mut shared = lock(&state);
                shared.frame += 1;
                shared.redraw();
            }
        });
        self.ticker = Some((stop, handle));
    }

    /// Sets the row of `label`: in the live table at its next redraw (so that the updates of one
    /// poll show at once), else printed when it changed.
    pub fn update(&self, label: &str, state: RowState) {
        let mut shared = lock(&self.shared);
        let now = shared.started.elapsed();
        let changed = shared.board.update(label, state, now);
        if changed
            && shared.live.is_none()
            && let Some(row) = shared.board.row(label)
        {
            eprintln!("{}", table::line(row, now, &clock()));
        }
    }

    /// Stops the clock and leaves the last table on the terminal; the board, and how long the
    /// command took.
    pub fn finish(mut self) -> (Board, Duration) {
        self.stop();
        let shared = lock(&self.shared);
        (shared.board.clone(), shared.started.elapsed())
    }

    fn stop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            let _ = handle.join();
        }
        let mut shared = lock(&self.shared);
        shared.redraw();
        if let Some((bar, _)) = shared.live.take() {
            *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
            bar.finish();
            // The cursor is still on the table's last line.
            eprintln!();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    /// Draws the table again, when its text changed: one draw for the whole table.
    fn redraw(&mut self) {
        let Some((bar, shown)) = &mut self.live else { return };
        // One column less than the terminal, so a line never wraps.
        let width = console::Term::stderr()
            .size_checked()
            .filter(|(_, w)| *w > 1)
            .map(|(_, w)| usize::from(w) - 1);
        let text = table::lines(self.board.rows(), self.started.elapsed(), self.frame)
            .iter()
            .map(|line| width.map_or_else(|| line.clone(), |w| table::fit(line, w)))
            .collect::<Vec<_>>()
            .join("\n");
        if *shown != text {
            bar.set_message(text.clone());
            *shown = text;
        }
    }
}

/// The live table being drawn, if any: log lines go above it.
static LIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Logging for the one-shot commands, as `telemetry::init_cli_tracing` sets it up (`RUST_LOG`,
/// else warnings; plain text on standard error), each line written above the live table while
/// one is drawn, so that a warning never tears it.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogLine(Vec::new()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// One log event, written to standard error in one piece when it is dropped.
struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let write = || {
            let _ = std::io::stderr().write_all(&self.0);
        };
        match live {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// The lock, also after a panic elsewhere (the board stays consistent: updates are whole).
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The time of day, `HH:MM:SS` in the local time zone.
fn clock() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}
