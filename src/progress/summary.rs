//! The tables printed when a command ends: per service after `byoc apply` (ready or not, why,
//! tasks, where it answers, how long it took), per object after `byoc delete` (what was deleted,
//! retained or kept, and why kept). Pure.

use std::time::Duration;

use super::{Board, Phase, addresses, table};
use crate::{
    api::{CloudServiceStatus, READY, STALLED, SUSPENDED},
    resources::{Action, Plan},
};

/// The table after `byoc apply` (the URL last: the widest column), then one line per service
/// that is not ready saying why.
pub fn applied(statuses: &[(String, CloudServiceStatus)], board: &Board, now: Duration) -> String {
    let mut cells =
        vec![["NAME", "READY", "STATUS", "TASKS", "ELAPSED", "URL"].map(String::from).to_vec()];
    let mut notes = Vec::new();
    for (label, status) in statuses {
        let name = label.strip_prefix("CloudService ").unwrap_or(label);
        let find = |type_: &str| status.conditions.iter().find(|c| c.type_ == type_);
        let ready = find(READY);
        let stalled = find(STALLED).filter(|c| c.status == "True");
        let suspended = find(SUSPENDED).filter(|c| c.status == "True");
        let reason = suspended.or(stalled).or(ready).map_or("Unknown", |c| c.reason.as_str());
        let addresses = addresses(status);
        cells.push(vec![
            name.to_string(),
            ready.map_or("Unknown", |c| c.status.as_str()).to_string(),
            reason.to_string(),
            status
                .rollout
                .as_ref()
                .map_or_else(|| "-".into(), |r| format!("{}/{}", r.running, r.desired)),
            board.row(label).map_or_else(|| "-".into(), |r| table::duration(r.elapsed(now))),
            if addresses.is_empty() { "-".into() } else { addresses.join(",") },
        ]);
        let why = suspended.or(stalled).or(ready.filter(|c| c.status != "True"));
        if let Some(c) = why.filter(|c| !c.message.is_empty()) {
            notes.push(format!("{name}: {}: {}", c.reason, c.message));
        }
    }
    let mut out = table::columns(&cells).join("\n") + "\n";
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

/// What happened to one object in `byoc delete`, from its plan (and its row when it has one).
pub fn deletion_result(plan: &Plan, row: Option<Phase>) -> &'static str {
    let count = |f: fn(&Action) -> bool| plan.changes.iter().filter(|c| f(&c.action)).count();
    let deleted = count(|a| matches!(a, Action::Delete));
    let retained = count(|a| matches!(a, Action::Retain));
    match row {
        Some(Phase::Deleting) => "Deleting",
        Some(Phase::Failed | Phase::Stalled) => "Failed",
        _ if deleted > 0 => "Deleted",
        _ if retained > 0 => "Retained",
        _ if plan.changes.is_empty() => "NothingToDelete",
        _ => "Kept",
    }
}

/// The table after `byoc delete`: per object, what it had deleted, retained and kept; then why
/// each kept resource stays.
pub fn deleted(plans: &[(String, Plan)], board: &Board, now: Duration) -> String {
    let mut cells = vec![
        ["OBJECT", "RESULT", "DELETED", "RETAINED", "KEPT", "ELAPSED"].map(String::from).to_vec(),
    ];
    let mut notes = Vec::new();
    for (label, plan) in plans {
        let row = board.row(label);
        let count = |f: fn(&Action) -> bool| {
            plan.changes.iter().filter(|c| f(&c.action)).count().to_string()
        };
        cells.push(vec![
            label.clone(),
            deletion_result(plan, row.map(|r| r.state.phase)).to_string(),
            count(|a| matches!(a, Action::Delete)),
            count(|a| matches!(a, Action::Retain)),
            count(|a| matches!(a, Action::Keep(_))),
            row.map_or_else(|| "-".into(), |r| table::duration(r.elapsed(now))),
        ]);
        for c in &plan.changes {
            if let Action::Keep(why) = &c.action {
                notes.push(format!("{label}: kept {} {}: {why}", c.kind, c.id));
            }
        }
        if let Some(r) = row.filter(|r| matches!(r.state.phase, Phase::Failed | Phase::Stalled)) {
            notes.push(format!("{label}: {}", r.state.message));
        }
    }
    let mut out = table::columns(&cells).join("\n") + "\n";
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::{Rollout, RolloutState},
        progress::RowState,
        resources::{Change, Kind},
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn the_apply_summary_says_per_service_whether_it_is_ready_and_where_it_answers() {
        let ready = CloudServiceStatus {
            conditions: vec![condition(READY, "True", "Ready", "2/2 tasks running")],
            url: Some("http://lb.example/web".into()),
            private_addresses: vec!["web:8080".into()],
            rollout: Some(Rollout {
                state: RolloutState::Completed,
                running: 2,
                desired: 2,
                ..Rollout::default()
            }),
            ..CloudServiceStatus::default()
        };
        let failed = CloudServiceStatus {
            conditions: vec![
                condition(READY, "False", "RolloutFailed", "rollout of web:4: tasks failed"),
                condition(STALLED, "True", "RolloutFailed", "rollout of web:4: tasks failed"),
            ],
            ..CloudServiceStatus::default()
        };
        let statuses = vec![
            ("CloudService shop/web".to_string(), ready),
            ("CloudService shop/worker-with-a-long-name".to_string(), failed),
        ];
        let mut board = Board::new([
            ("CloudService shop/web".to_string(), RowState::new(Phase::RollingOut, "")),
            (
                "CloudService shop/worker-with-a-long-name".into(),
                RowState::new(Phase::RollingOut, ""),
            ),
        ]);
        board.update(
            "CloudService shop/web",
            RowState::new(Phase::Ready, ""),
            Duration::from_secs(31),
        );
        let text = applied(&statuses, &board, Duration::from_secs(64));
        let line = |cells: [&str; 6]| {
            let [a, b, c, d, e, f] = cells;
            format!("{a:<30}{b:<7}{c:<15}{d:<7}{e:<9}{f}")
        };
        let expected = [
            line(["NAME", "READY", "STATUS", "TASKS", "ELAPSED", "URL"]),
            line(["shop/web", "True", "Ready", "2/2", "31s", "http://lb.example/web,web:8080"]),
            line(["shop/worker-with-a-long-name", "False", "RolloutFailed", "-", "1m04s", "-"]),
            String::new(),
            "shop/worker-with-a-long-name: RolloutFailed: rollout of web:4: tasks failed".into(),
        ];
        assert_eq!(text, expected.join("\n") + "\n");
    }

    #[test]
    fn a_service_without_conditions_reads_unknown() {
        let statuses = vec![("CloudService shop/web".to_string(), CloudServiceStatus::default())];
        let text = applied(&statuses, &Board::default(), Duration::ZERO);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("shop/web  Unknown  Unknown  -      -        -"),
            "{text}"
        );
    }

    #[test]
    fn the_delete_summary_counts_what_went_and_says_why_anything_stayed() {
        let plans = vec![
            (
                "CloudService shop/web".to_string(),
                Plan {
                    changes: vec![
                        Change::new(Kind::ListenerRule, "arn:rule", Action::Delete),
                        Change::new(Kind::EcsService, "shop-web", Action::Delete),
                    ],
                },
            ),
            (
                "CloudService shop/api".to_string(),
                Plan { changes: vec![Change::new(Kind::LogGroup, "/byoc/api", Action::Retain)] },
            ),
            ("CloudService shop/gone".to_string(), Plan::default()),
            (
                "CloudAccount demo".to_string(),
                Plan {
                    changes: vec![Change::new(
                        Kind::Cluster,
                        "byoc-demo",
                        Action::Keep("1 service(s) still run on it".into()),
                    )],
                },
            ),
        ];
        let board = Board::new([
            ("CloudService shop/web".to_string(), RowState::new(Phase::Deleted, "")),
            ("CloudService shop/api".to_string(), RowState::new(Phase::Retained, "")),
        ]);
        let text = deleted(&plans, &board, Duration::from_secs(9));
        let lines: Vec<&str> = text.lines().collect();
        let line = |cells: [&str; 6]| {
            let [a, b, c, d, e, f] = cells;
            format!("{a:<24}{b:<17}{c:<9}{d:<10}{e:<6}{f}")
        };
        assert_eq!(lines[0], line(["OBJECT", "RESULT", "DELETED", "RETAINED", "KEPT", "ELAPSED"]));
        assert_eq!(lines[1], line(["CloudService shop/web", "Deleted", "2", "0", "0", "0s"]));
        assert_eq!(lines[2], line(["CloudService shop/api", "Retained", "0", "1", "0", "0s"]));
        assert_eq!(
            lines[3],
            line(["CloudService shop/gone", "NothingToDelete", "0", "0", "0", "-"])
        );
        assert_eq!(lines[4], line(["CloudAccount demo", "Kept", "0", "0", "1", "-"]));
        assert_eq!(
            lines[6],
            "CloudAccount demo: kept EcsCluster byoc-demo: 1 service(s) still run on it"
        );
    }

    #[test]
    fn a_service_still_draining_reads_deleting() {
        let plan = Plan { changes: vec![Change::new(Kind::EcsService, "web", Action::Delete)] };
        assert_eq!(deletion_result(&plan, Some(Phase::Deleting)), "Deleting");
        assert_eq!(deletion_result(&plan, Some(Phase::Deleted)), "Deleted");
        assert_eq!(deletion_result(&plan, None), "Deleted");
    }
}
