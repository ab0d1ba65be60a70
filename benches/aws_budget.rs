//! AWS API budget of the one-shot CLI engine (`byoc::oneshot`) against moto, counted by the
//! client's own call counter.
//!
//! - `steady-N` (N = 100, and 1,000 in full mode): N services with ingress, spread over a pool of
//!   load balancers (an ALB takes at most 100 target groups), created once without client-side
//!   rate limits; then a no-op `plan` and a no-op `apply`: AWS reads per service, ELBv2 reads per
//!   service, writes, and the operations that cost the most. Goals (issue 11): ≤ 0.5 reads and
//!   ≤ 0.1 ELBv2 reads per service, 0 writes; asserted in `--quick` mode.
//! - `lifecycle` (full mode): calls and writes per service of create, no-op plan, no-op apply
//!   and delete for N = 1, 10, 50 services on one shared listener.
//!
//! Run: `scripts/bench [--quick]`, or `cargo bench --bench aws_budget [-- --quick]`.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::{process::ExitCode, time::Instant};

use byoc::oneshot::{self, Manifests};
use common::{Args, CallStats, Check, Table, num};
use support::moto::World;

fn main() -> ExitCode {
    let args = Args::parse();
    let parts: &[&str] =
        if args.quick { &["steady-100"] } else { &["lifecycle", "steady-100", "steady-1000"] };
    common::main("aws_budget", &args, parts, |part| {
        common::runtime().block_on(async {
            match part {
                "lifecycle" => lifecycle().await,
                steady if steady.starts_with("steady-") => {
                    let n = steady["steady-".len()..].parse().expect("steady-N");
                    steady_state(n, args.quick).await
                }
                other => panic!("aws_budget: no part {other}"),
            }
        })
    })
}

/// Manifests of `account_yaml` plus `services_yaml`.
fn manifests(account_yaml: &str, services_yaml: &str) -> Manifests {
    let mut m = Manifests::default();
    oneshot::parse_into(&mut m, account_yaml).expect("the account parses");
    oneshot::parse_into(&mut m, services_yaml).expect("the services parse");
    m
}

async fn steady_state(n: usize, quick: bool) -> Vec<String> {
    let w = World::new(&format!("steady-{n}"));
    let lbs = common::names("lb", common::load_balancers_for(n));
    let m = manifests(
        &common::pool_account(&w, &lbs),
        &common::services_yaml("svc", n, &w.namespace, &w.account, &lbs),
    );
    let prepared = oneshot::prepare(&m, &w.cluster_id).expect("valid services");
    // Creation is not what is measured: no client-side rate limits, so it is quick.
    let sessions = w.sessions();
    let before = w.calls.snapshot();
    let started = Instant::now();
    oneshot::apply(&m, &prepared, &sessions).await.expect("creating the services");
    let create = (CallStats::since(&w.calls, &before), started.elapsed());

    let before = w.calls.snapshot();
    let started = Instant::now();
    let plans = oneshot::plan(&m, &prepared, &sessions).await.expect("a no-op plan");
    let plan = (CallStats::since(&w.calls, &before), started.elapsed());
    let pending: usize = plans.iter().map(|(_, p)| p.changes.len()).sum();
    assert_eq!(pending, 0, "the plan after apply should be empty: {plans:#?}");

    let before = w.calls.snapshot();
    let started = Instant::now();
    oneshot::apply(&m, &prepared, &sessions).await.expect("a no-op apply");
    let apply = (CallStats::since(&w.calls, &before), started.elapsed());

    let per = n as f64;
    let mut table = Table::new(
        &format!(
            "CLI steady state: {n} services with ingress on {} load balancers (moto, no client-side rate limit)",
            lbs.len()
        ),
        &[
            "step",
            "calls",
            "reads / svc",
            "ELBv2 reads / svc",
            "writes",
            "wall (s)",
            "top operations (calls / svc)",
        ],
    );
    for (step, (stats, took)) in
        [("create (apply)", &create), ("no-op plan", &plan), ("no-op apply", &apply)]
    {
        table.row(vec![
            step.into(),
            stats.total().to_string(),
            num(stats.reads() as f64 / per),
            num(stats.reads_of("elbv2") as f64 / per),
            stats.writes().to_string(),
            common::secs(*took),
            stats.top_cell(6, per),
        ]);
    }
    table.print();
    let mut checks = Vec::new();
    for (step, (stats, _)) in [("no-op plan", &plan), ("no-op apply", &apply)] {
        checks.push(Check::count(
            format!("{step}, N={n}: AWS reads / service"),
            stats.reads() as f64 / per,
            common::MAX_READS_PER_SERVICE,
        ));
        checks.push(Check::count(
            format!("{step}, N={n}: ELBv2 reads / service"),
            stats.reads_of("elbv2") as f64 / per,
            common::MAX_ELB_READS_PER_SERVICE,
        ));
        checks.push(Check::count(
            format!("{step}, N={n}: AWS writes"),
            stats.writes() as f64,
            common::MAX_NOOP_WRITES as f64,
        ));
    }
    common::print_checks(&format!("CLI steady state, N={n}: goals"), &checks, quick)
}

/// Calls per service of a service's whole life in the CLI, for a few sizes.
async fn lifecycle() -> Vec<String> {
    let mut table = Table::new(
        "CLI lifecycle: services with ingress on one shared listener (moto, no client-side rate limit)",
        &["N", "step", "calls", "writes", "calls / svc", "wall (s)"],
    );
    for n in [1, 10, 50] {
        let w = World::new(&format!("lifecycle-{n}"));
        let lbs = vec!["public".to_string()];
        let m = manifests(
            &w.account_yaml,
            &common::services_yaml("svc", n, &w.namespace, &w.account, &lbs),
        );
        let prepared = oneshot::prepare(&m, &w.cluster_id).expect("valid services");
        let sessions = w.sessions();
        for step in ["create (apply)", "no-op plan", "no-op apply", "delete"] {
            let before = w.calls.snapshot();
            let started = Instant::now();
            match step {
                "no-op plan" => {
                    oneshot::plan(&m, &prepared, &sessions).await.expect("plan");
                }
                "delete" => {
                    oneshot::delete(&m, &sessions, &w.cluster_id, false).await.expect("delete");
                }
                _ => {
                    oneshot::apply(&m, &prepared, &sessions).await.expect("apply");
                }
            }
            let stats = CallStats::since(&w.calls, &before);
            table.row(vec![
                n.to_string(),
                step.into(),
                stats.total().to_string(),
                stats.writes().to_string(),
                num(stats.total() as f64 / n as f64),
                common::secs(started.elapsed()),
            ]);
        }
    }
    table.print();
    Vec::new()
}
