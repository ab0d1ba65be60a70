//! The controller's footprint: the real `byoc controller` binary against the project's Kubernetes
//! API stand-in and moto (ECS services run at once: `MOTO_ECS_SERVICE_RUNNING`), measured from
//! the outside through `/metrics` and `/proc`.
//!
//! - `steady-N` (N = 100 in quick mode; 100 and 1,000 in full mode): N services with ingress spread
//!   over a pool of load balancers, all Ready, `--resync-interval 20s` (10 s in quick mode): the
//!   AWS calls of two full resync rounds (every service reconciled twice more) per reconcile, ELBv2
//!   reads per service, writes, and CPU time per no-op reconcile. Goals (issue 11): ≤ 0.5 reads and ≤ 0.1 ELBv2
//!   reads per service, 0 writes; asserted in `--quick` mode.
//! - `scale-N` (full mode, N = 5,000): resident memory with no objects, what 2,000 unrelated
//!   100 KiB Secrets add to it, the time from controller start to N services (without ingress)
//!   all Ready, resident memory then, and CPU time and AWS calls per no-op reconcile. Goals: idle
//!   ≤ 40 MiB, Secrets add ≤ 10 MiB, steady ≤ 128 MiB (release build): printed, never asserted.
//!
//! The client-side AWS rate limits are lifted (`--aws-rate-scale 100`): moto does not throttle,
//! and what is measured here is calls, memory and CPU, not AWS's quotas.
//!
//! Run: `scripts/bench [--quick]`, or `cargo bench --bench controller_footprint [-- --quick]`.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::{
    collections::BTreeMap,
    process::ExitCode,
    time::{Duration, Instant},
};

use byoc::api::CloudService;
use common::{Args, CallStats, Check, Table, num};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, api::PostParams};
use support::{
    e2e::{Kube, Operator, condition, labelled_account},
    moto::World,
};

fn main() -> ExitCode {
    let args = Args::parse();
    let parts: &[&str] =
        if args.quick { &["steady-100"] } else { &["steady-100", "steady-1000", "scale-5000"] };
    common::main("controller_footprint", &args, parts, |part| {
        common::runtime().block_on(async {
            let (kind, n) = part.split_once('-').expect("a part is KIND-N");
            let n: usize = n.parse().expect("a part is KIND-N");
            match kind {
                "steady" => steady_state(n, args.quick).await,
                "scale" => scale(n).await,
                other => panic!("controller_footprint: no part {other}"),
            }
        })
    })
}

const SERVICE_RECONCILES: &str = "byoc_reconcile_total{kind=\"CloudService\"";

async fn metrics(op: &Operator) -> String {
    op.get("/metrics").await.map(|(_, body)| body).unwrap_or_default()
}

/// How many of the services of `ns` are Ready for their current generation.
async fn ready_count(kube: &Kube, ns: &str) -> usize {
    let Ok(list) = kube.services(ns).list(&Default::default()).await else { return 0 };
    list.items.iter().filter(|s| is_ready(s)).count()
}

fn is_ready(s: &CloudService) -> bool {
    s.status.as_ref().is_some_and(|st| {
        st.observed_generation == s.metadata.generation
            && condition(&st.conditions, "Ready").is_some_and(|c| c.0 == "True")
    })
}

/// Waits until all `n` services of `ns` are Ready; the time it took from `since`.
async fn all_ready(kube: &Kube, ns: &str, n: usize, since: Instant, timeout: Duration) -> Duration {
    let mut last_report = Instant::now();
    loop {
        let ready = ready_count(kube, ns).await;
        if ready >= n {
            return since.elapsed();
        }
        assert!(since.elapsed() < timeout, "only {ready} of {n} services Ready after {timeout:?}");
        if last_report.elapsed() > Duration::from_secs(60) {
            eprintln!("  … {ready} of {n} Ready after {:.0} s", since.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits until the controller has counted `target` CloudService reconciles; the metrics then.
async fn reconciles_reach(op: &Operator, target: u64, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let m = metrics(op).await;
        if common::metric(&m, SERVICE_RECONCILES) >= target {
            return m;
        }
        assert!(Instant::now() < deadline, "fewer than {target} reconciles after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One no-op resync round (at least `n` more CloudService reconciles): AWS calls, reconciles,
/// CPU time, wall time.
struct Round {
    calls: CallStats,
    reconciles: u64,
    cpu: Duration,
    wall: Duration,
}

async fn measure_round(op: &Operator, n: usize, timeout: Duration) -> Round {
    let before = metrics(op).await;
    let cpu_before = op.cpu_time().unwrap_or_default();
    let started = Instant::now();
    let r0 = common::metric(&before, SERVICE_RECONCILES);
    let after = reconciles_reach(op, r0 + n as u64, timeout).await;
    Round {
        calls: CallStats::from_metrics(&before, &after),
        reconciles: common::metric(&after, SERVICE_RECONCILES) - r0,
        cpu: op.cpu_time().unwrap_or_default().saturating_sub(cpu_before),
        wall: started.elapsed(),
    }
}

fn mib(kib: Option<u64>) -> f64 {
    kib.unwrap_or(0) as f64 / 1024.0
}

async fn steady_state(n: usize, quick: bool) -> Vec<String> {
    let w = World::new(&format!("ctl-steady-{n}"));
    let kube = Kube::start(&format!("steady{n}"), 1).await;
    let ns = kube.namespaces[0].clone();
    let lbs = common::names("lb", common::load_balancers_for(n));
    kube.apply(&labelled_account(&w, &common::pool_account(&w, &lbs))).await;
    // Shorter in quick mode: two rounds are waited for.
    let resync = if quick { "10s" } else { "20s" };
    let op = Operator::start(
        &kube,
        &w,
        &["--resync-interval", resync, "--aws-rate-scale", "100", "--concurrency", "8"],
    );
    let started = Instant::now();
    kube.apply(&common::services_yaml("svc", n, &ns, &w.account, &lbs)).await;
    let ready = all_ready(&kube, &ns, n, started, Duration::from_secs(3600)).await;
    // A first round after Ready lets what the creation queued drain; the next two are measured.
    let round_timeout = Duration::from_secs(1800);
    measure_round(&op, n, round_timeout).await;
    // Two rounds measured as one window: the account's own reconcile (every second resync) and
    // the account snapshot (once per resync) fall into it in proportion, whatever its phase.
    let round = measure_round(&op, 2 * n, round_timeout).await;
    let per = round.reconciles as f64;
    let mut table = Table::new(
        &format!(
            "Controller steady state: {n} services with ingress on {} load balancers, resync {resync}",
            lbs.len()
        ),
        &[
            "N",
            "all Ready (s)",
            "round: reconciles",
            "round (s)",
            "reads / svc",
            "ELBv2 reads / svc",
            "writes",
            "CPU / reconcile (ms)",
            "RSS (MiB)",
            "top operations (calls / svc)",
        ],
    );
    table.row(vec![
        n.to_string(),
        common::secs(ready),
        round.reconciles.to_string(),
        common::secs(round.wall),
        num(round.calls.reads() as f64 / per),
        num(round.calls.reads_of("elbv2") as f64 / per),
        round.calls.writes().to_string(),
        num(round.cpu.as_secs_f64() * 1000.0 / per),
        num(mib(op.rss_kib())),
        round.calls.top_cell(6, per),
    ]);
    table.print();
    let checks = [
        Check::count(
            format!("controller resync, N={n}: AWS reads / service"),
            round.calls.reads() as f64 / per,
            common::MAX_READS_PER_SERVICE,
        ),
        Check::count(
            format!("controller resync, N={n}: ELBv2 reads / service"),
            round.calls.reads_of("elbv2") as f64 / per,
            common::MAX_ELB_READS_PER_SERVICE,
        ),
        Check::count(
            format!("controller resync, N={n}: AWS writes"),
            round.calls.writes() as f64,
            common::MAX_NOOP_WRITES as f64,
        ),
    ];
    common::print_checks(&format!("Controller steady state, N={n}: goals"), &checks, quick)
}

/// `count` Secrets of `size` bytes in `ns` that no service references, shaped like Helm's
/// release Secrets.
async fn unrelated_secrets(kube: &Kube, ns: &str, count: usize, size: usize) {
    let api: Api<Secret> = Api::namespaced(kube.client.clone(), ns);
    // Incompressible bytes, like Helm's gzipped release payload.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for i in 0..count {
        let payload: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": format!("sh.helm.release.v1.app-{i}.v1"),
                "labels": {"owner": "helm", "name": format!("app-{i}"), "status": "deployed", "version": "1"},
            },
            "type": "helm.sh/release.v1",
        }))
        .expect("a Secret");
        let secret = Secret {
            data: Some(BTreeMap::from([("release".to_string(), ByteString(payload))])),
            ..secret
        };
        api.create(&PostParams::default(), &secret).await.expect("creating a Secret");
    }
}

/// Resident memory once it has stopped moving (two samples a few seconds apart within 1 MiB), or
/// after `timeout`.
async fn settled_rss(op: &Operator, timeout: Duration) -> f64 {
    let deadline = Instant::now() + timeout;
    let mut last = mib(op.rss_kib());
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = mib(op.rss_kib());
        if (now - last).abs() < 1.0 || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

async fn scale(n: usize) -> Vec<String> {
    let secrets = 2_000;
    let w = World::new(&format!("scale-{n}"));
    let kube = Kube::start("scale", 1).await;
    let ns = kube.namespaces[0].clone();
    let flags = ["--resync-interval", "3m", "--aws-rate-scale", "100", "--concurrency", "4"];

    // 1. No objects at all.
    let idle = Operator::start(&kube, &w, &flags);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_rss = settled_rss(&idle, Duration::from_secs(30)).await;

    // 2. Unrelated Secrets in the watched namespace.
    let started = Instant::now();
    unrelated_secrets(&kube, &ns, secrets, 100 * 1024).await;
    let secrets_took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let secrets_rss = settled_rss(&idle, Duration::from_secs(60)).await;
    drop(idle);

    // 3. N services (no ingress) in the cluster before the controller starts.
    kube.apply(&labelled_account(&w, &w.account_yaml)).await;
    let yaml = common::services_yaml("svc", n, &ns, &w.account, &[]);
    let docs: Vec<&str> = yaml.split("---\n").filter(|d| !d.is_empty()).collect();
    for chunk in docs.chunks(500) {
        kube.apply(&chunk.iter().map(|d| format!("---\n{d}")).collect::<String>()).await;
    }
    let op = Operator::start(&kube, &w, &flags);
    let started = Instant::now();
    let ready = all_ready(&kube, &ns, n, started, Duration::from_secs(3 * 3600)).await;
    let ready_rss = mib(op.rss_kib());

    // 4. Steady state: resyncs only. A window of no-op reconciles (a fifth of a round).
    let window = (n / 5).max(100);
    let round = measure_round(&op, window, Duration::from_secs(3600)).await;
    let steady_rss = settled_rss(&op, Duration::from_secs(30)).await;
    let peak_rss = mib(op.peak_rss_kib());
    let per = round.reconciles as f64;

    let mut table = Table::new(
        &format!(
            "Controller scale: {n} services without ingress (moto, --aws-rate-scale 100), {secrets} unrelated 100 KiB Secrets"
        ),
        &["measure", "value"],
    );
    let rows = [
        ("RSS with no objects (MiB)", num(idle_rss)),
        (
            &*format!("RSS after {secrets} unrelated 100 KiB Secrets (MiB)"),
            format!(
                "{} (+{}; creating them took {} s)",
                num(secrets_rss),
                num(secrets_rss - idle_rss),
                common::secs(secrets_took)
            ),
        ),
        (&*format!("controller start → all {n} Ready (s)"), common::secs(ready)),
        ("RSS when all Ready (MiB)", num(ready_rss)),
        ("RSS in steady state (MiB)", num(steady_rss)),
        ("peak RSS (VmHWM, MiB)", num(peak_rss)),
        (
            &*format!("no-op reconciles measured ({} s)", common::secs(round.wall)),
            round.reconciles.to_string(),
        ),
        ("CPU time per no-op reconcile (ms)", num(round.cpu.as_secs_f64() * 1000.0 / per)),
        ("AWS reads per no-op reconcile", num(round.calls.reads() as f64 / per)),
        ("AWS writes in the window", round.calls.writes().to_string()),
        ("top operations (calls / reconcile)", round.calls.top_cell(6, per)),
    ];
    for (what, value) in rows {
        table.row(vec![what.to_string(), value]);
    }
    table.print();
    let checks = [
        Check::observed("idle RSS, no objects (MiB)", idle_rss, common::MAX_IDLE_RSS_MIB),
        Check::observed(
            format!("RSS growth from {secrets} unrelated 100 KiB Secrets (MiB)"),
            secrets_rss - idle_rss,
            common::MAX_SECRETS_RSS_GROWTH_MIB,
        ),
        Check::observed(
            format!("steady-state RSS, {n} services (MiB)"),
            steady_rss,
            common::MAX_STEADY_RSS_MIB,
        ),
    ];
    common::print_checks(&format!("Controller scale, N={n}: goals"), &checks, false)
}
