//! The progress table of `--wait`, redrawn in place on a terminal, and the timestamped line printed
//! instead wherever the output is not a terminal (one per row change). Pure.

use std::time::Duration;

use super::{Phase, Row};

/// The header of the progress table.
pub const HEADER: [&str; 6] = ["SERVICE", "PHASE", "TASKS", "ROLLOUT", "ELAPSED", "MESSAGE"];

/// The widest service name shown whole; longer ones keep their start and end.
pub const NAME_WIDTH: usize = 40;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// The table's lines, header first: a mark (a spinner at `frame` while the row moves, ✓ or ✗
/// once settled), then the columns aligned; no ROLLOUT column while no row has a rollout (as
/// when deleting). The last column is not padded: the terminal edge cuts what does not fit.
pub fn lines(rows: &[Row], now: Duration, frame: usize) -> Vec<String> {
    let rollouts = rows.iter().any(|r| r.state.rollout.is_some());
    let shown = |column: &str| rollouts || column != "ROLLOUT";
    let mut cells = vec![HEADER.iter().filter(|h| shown(h)).map(|h| h.to_string()).collect()];
    for row in rows {
        let s = &row.state;
        let mut line = vec![
            shorten(row.name(), NAME_WIDTH),
            s.phase.to_string(),
            s.tasks.map_or_else(|| "-".into(), |(running, desired)| format!("{running}/{desired}")),
        ];
        if rollouts {
            line.push(s.rollout.clone().unwrap_or_else(|| "-".into()));
        }
        line.extend([duration(row.elapsed(now)), s.message.clone()]);
        cells.push(line);
    }
    let marks = std::iter::once(" ").chain(rows.iter().map(|r| mark(r.state.phase, frame)));
    marks.zip(columns(&cells)).map(|(mark, line)| format!("{mark} {line}")).collect()
}

/// The mark in front of a row.
pub fn mark(phase: Phase, frame: usize) -> &'static str {
    match phase {
        Phase::Ready | Phase::Deleted => "✓",
        Phase::Failed | Phase::Stalled => "✗",
        Phase::Retained | Phase::Suspended => "=",
        Phase::Applying | Phase::Building | Phase::RollingOut | Phase::Deleting => {
            SPINNER[frame % SPINNER.len()]
        }
    }
}

/// One row as a line of a log: `12:00:03 shop/web: RollingOut, 1/2 tasks, rollout InProgress
/// (12s) — shop-web-1a2b:3: 1 pending`. `clock` is the time of day it is printed at.
pub fn line(row: &Row, now: Duration, clock: &str) -> String {
    let s = &row.state;
    let mut out = format!("{clock} {}: {}", row.name(), s.phase);
    if let Some((running, desired)) = s.tasks {
        out.push_str(&format!(", {running}/{desired} tasks"));
    }
    if let Some(rollout) = &s.rollout {
        out.push_str(&format!(", rollout {rollout}"));
    }
    out.push_str(&format!(" ({})", duration(row.elapsed(now))));
    if !s.message.is_empty() {
        out.push_str(" — ");
        out.push_str(&s.message);
    }
    out
}

/// Cells aligned in columns two spaces apart, as `kubectl get` prints them; the last column is
/// not padded and no line ends in spaces.
pub fn columns(cells: &[Vec<String>]) -> Vec<String> {
    let count = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            cells.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0)
        })
        .collect();
    cells
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// `text` when it fits in `width` characters, else its start and end around `…`.
pub fn shorten(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width || width < 3 {
        return text.to_string();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

/// `line` cut to `width` characters, ending in `…` when it was longer.
pub fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A duration the way a person reads it: `12s`, `3m05s`, `1h02m`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{Board, RowState};

    fn board(rows: &[(&str, RowState)]) -> Board {
        Board::new(rows.iter().map(|(l, s)| (format!("CloudService {l}"), s.clone())))
    }

    fn rolling(running: i32, desired: i32, message: &str) -> RowState {
        RowState {
            phase: Phase::RollingOut,
            tasks: Some((running, desired)),
            rollout: Some("InProgress".into()),
            message: message.into(),
        }
    }

    #[test]
    fn the_table_aligns_its_columns_under_the_header() {
        let b = board(&[
            ("shop/web", rolling(1, 2, "shop-web:3: 1 pending")),
            ("shop/api-gateway", RowState::new(Phase::Ready, "http://lb/api")),
        ]);
        let lines = lines(b.rows(), Duration::from_secs(75), 0);
        assert_eq!(
            lines,
            [
                "  SERVICE           PHASE       TASKS  ROLLOUT     ELAPSED  MESSAGE",
                "⠋ shop/web          RollingOut  1/2    InProgress  1m15s    shop-web:3: 1 pending",
                "✓ shop/api-gateway  Ready       -      -           0s       http://lb/api",
            ]
        );
    }

    #[test]
    fn a_long_name_keeps_its_start_and_end_and_the_columns_stay_aligned() {
        let long = "a-rather-long-namespace-for-a-team/a-very-long-service-name-indeed";
        let b = board(&[(long, rolling(0, 1, "")), ("shop/web", rolling(0, 1, ""))]);
        let lines = lines(b.rows(), Duration::from_secs(5), 1);
        let shown = shorten(long, NAME_WIDTH);
        assert_eq!(shown.chars().count(), NAME_WIDTH);
        assert_eq!(shown, "a-rather-long-namesp…service-name-indeed");
        assert!(lines[1].starts_with(&format!("⠙ {shown}  RollingOut")), "{lines:?}");
        let phase_at = |l: &str| l.find("RollingOut").or(l.find("PHASE"));
        let column = |l: &str| l[..phase_at(l).unwrap()].chars().count();
        assert_eq!(column(&lines[0]), column(&lines[1]), "{lines:?}");
        assert_eq!(column(&lines[1]), column(&lines[2]), "{lines:?}");
    }

    #[test]
    fn a_table_without_rollouts_has_no_rollout_column_and_settled_rows_a_mark() {
        let b = board(&[
            ("shop/a", RowState::new(Phase::Applying, "")),
            ("shop/b", RowState::new(Phase::Failed, "the circuit breaker tripped")),
            ("shop/c", RowState::new(Phase::Deleting, "ECS service draining")),
            ("shop/d", RowState::new(Phase::Deleted, "")),
            ("shop/e", RowState::new(Phase::Retained, "deletionPolicy: Retain")),
        ]);
        let lines = lines(b.rows(), Duration::from_secs(3), 2);
        assert_eq!(lines[0], "  SERVICE  PHASE     TASKS  ELAPSED  MESSAGE");
        assert_eq!(lines[1], "⠹ shop/a   Applying  -      3s");
        assert!(lines[2].starts_with("✗ shop/b   Failed"), "{lines:?}");
        assert!(lines[2].ends_with("the circuit breaker tripped"), "{lines:?}");
        assert!(lines[3].starts_with("⠹ shop/c   Deleting"), "{lines:?}");
        assert!(lines[4].starts_with("✓ shop/d   Deleted"), "{lines:?}");
        assert!(lines[5].starts_with("= shop/e   Retained"), "{lines:?}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{lines:?}");
    }

    #[test]
    fn a_failed_rollout_reads_as_one_log_line() {
        let mut b = board(&[("shop/web", rolling(1, 2, ""))]);
        let failed = RowState {
            phase: Phase::Failed,
            tasks: Some((2, 2)),
            rollout: Some("Failed (rolled back)".into()),
            message: "rollout of shop-web:4: tasks failed to start".into(),
        };
        b.update("CloudService shop/web", failed, Duration::from_secs(42));
        let row = &b.rows()[0];
        assert_eq!(
            line(row, Duration::from_secs(50), "12:00:42"),
            "12:00:42 shop/web: Failed, 2/2 tasks, rollout Failed (rolled back) (42s) — rollout of shop-web:4: tasks failed to start"
        );
        let applying =
            Board::new([("CloudService shop/api".into(), RowState::new(Phase::Applying, ""))]);
        assert_eq!(
            line(&applying.rows()[0], Duration::ZERO, "09:30:00"),
            "09:30:00 shop/api: Applying (0s)"
        );
    }

    #[test]
    fn plain_lines_are_due_only_when_a_row_changes() {
        let mut b = board(&[("shop/web", rolling(0, 2, "shop-web:3: 2 pending"))]);
        let label = "CloudService shop/web";
        let polls = [
            (rolling(0, 2, "shop-web:3: 2 pending"), false, "the same state again"),
            (rolling(0, 2, "shop-web:3: 2 pending"), false, "and again, later"),
            (rolling(1, 2, "shop-web:3: 1 pending"), true, "a task started"),
            (rolling(1, 2, "shop-web:3: 1 pending"), false, "nothing new"),
            (RowState::new(Phase::Ready, ""), true, "the rollout completed"),
            (RowState::new(Phase::Ready, ""), false, "still ready"),
        ];
        for (i, (state, due, reason)) in polls.into_iter().enumerate() {
            assert_eq!(b.update(label, state, Duration::from_secs(2 * i as u64)), due, "{reason}");
        }
    }

    #[test]
    fn a_line_wider_than_the_terminal_is_cut_with_an_ellipsis() {
        assert_eq!(fit("✓ shop/web  Ready  http://lb.example/", 12), "✓ shop/web …");
        assert_eq!(fit("✓ shop/web", 12), "✓ shop/web");
        assert_eq!(fit("✓ shop/web  R", 12).chars().count(), 12);
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        for (secs, text) in [(0, "0s"), (59, "59s"), (60, "1m00s"), (185, "3m05s"), (3720, "1h02m")]
        {
            assert_eq!(duration(Duration::from_secs(secs)), text);
        }
    }
}
