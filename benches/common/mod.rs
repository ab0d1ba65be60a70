//! What the benchmarks share: the command line (`--quick`, `--part NAME`), the goals of issue 11
//! as constants, Markdown tables, goal checks, AWS call statistics, and manifests for N services
//! spread over a pool of load balancers.
//!
//! Each bench binary runs its parts one after another, each in a child process of its own (the
//! same binary with `--part NAME`): every part gets a fresh moto and a fresh API stand-in, so a
//! part never pays for the thousands of resources an earlier one left behind, and a controller's
//! memory is never measured next to an earlier part's leftovers.
//!
//! Only deterministic numbers are asserted (AWS calls per service, writes, throttling errors that
//! reached a status), and only in `--quick` mode, where a miss makes the process exit non-zero.
//! Times and memory are printed against their goals as met or MISSED, never asserted.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    process::{Command, ExitCode},
    time::Duration,
};

use byoc::aws::{CallCounter, CallKey, is_write};

use crate::support::moto::World;

/// Issue 11, "Steady state": AWS reads per service in a no-op round (plan, apply, resync).
pub const MAX_READS_PER_SERVICE: f64 = 0.5;
/// Issue 11, "Steady state": ELBv2 reads per service in a no-op round.
pub const MAX_ELB_READS_PER_SERVICE: f64 = 0.1;
/// Issue 11, "Steady state": AWS writes in a no-op round.
pub const MAX_NOOP_WRITES: u64 = 0;
/// Issue 11, "Throttled convergence": throttling errors that reach a status.
pub const MAX_SURFACED_THROTTLING: usize = 0;
/// Issue 11, "Cold convergence": our time over the floor's (wall clock: never asserted).
pub const MAX_COLD_RATIO: f64 = 1.2;
/// Issue 11, "Scale": the controller's resident memory with 5,000 services (release build).
pub const MAX_STEADY_RSS_MIB: f64 = 128.0;
/// Issue 11, "Scale": the controller's resident memory with no objects.
pub const MAX_IDLE_RSS_MIB: f64 = 40.0;
/// Issue 11, "Scale": what 2,000 unrelated 100 KiB Secrets may add to the controller's memory.
pub const MAX_SECRETS_RSS_GROWTH_MIB: f64 = 10.0;

/// An ALB takes at most 100 target groups ("Quotas for your Application Load Balancers").
pub const TARGET_GROUPS_PER_ALB: usize = 100;

/// The command line of a bench binary. Unknown arguments are ignored: `cargo bench` passes
/// `--bench` to every `harness = false` binary.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub quick: bool,
    pub part: Option<String>,
}

impl Args {
    pub fn parse() -> Args {
        let mut args = Args::default();
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => args.quick = true,
                "--part" => args.part = it.next(),
                _ => {}
            }
        }
        args
    }

    pub fn mode(&self) -> &'static str {
        if self.quick { "quick" } else { "full" }
    }
}

/// A goal and what was measured against it.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub measured: f64,
    pub limit: f64,
    /// Deterministic (a count): asserted in quick mode. Otherwise only printed.
    pub asserted: bool,
}

impl Check {
    /// A deterministic count: asserted in quick mode.
    pub fn count(what: impl Into<String>, measured: f64, limit: f64) -> Check {
        Check { what: what.into(), measured, limit, asserted: true }
    }

    /// A time or memory goal: printed as met or missed, never asserted.
    pub fn observed(what: impl Into<String>, measured: f64, limit: f64) -> Check {
        Check { what: what.into(), measured, limit, asserted: false }
    }

    pub fn met(&self) -> bool {
        self.measured <= self.limit
    }
}

/// Prints the checks as a table; in quick mode, returns the asserted ones that were missed.
pub fn print_checks(title: &str, checks: &[Check], quick: bool) -> Vec<String> {
    let mut table = Table::new(title, &["goal", "measured", "limit", "result"]);
    let mut failed = Vec::new();
    for c in checks {
        let result = match (c.met(), c.asserted && quick) {
            (true, _) => "met",
            (false, true) => "MISSED (asserted)",
            (false, false) => "MISSED",
        };
        table.row(vec![
            c.what.clone(),
            num(c.measured),
            format!("<= {}", num(c.limit)),
            result.into(),
        ]);
        if quick && c.asserted && !c.met() {
            failed.push(format!("{}: {} > {}", c.what, num(c.measured), num(c.limit)));
        }
    }
    table.print();
    failed
}

/// A number with at most two decimals, trailing zeros dropped.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// A Markdown table, printed with aligned columns.
pub struct Table {
    title: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, head: &[&str]) -> Table {
        Table {
            title: title.into(),
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let mut widths: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> =
                cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}", w = *w)).collect();
            format!("| {} |", padded.join(" | "))
        };
        println!("\n#### {}\n", self.title);
        println!("{}", line(&self.head));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("{}", line(&rule));
        for row in &self.rows {
            println!("{}", line(row));
        }
        if self.rows.is_empty() {
            println!("(none)");
        }
    }
}

/// AWS calls of one measurement, by service and operation.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    pub by_op: BTreeMap<(String, String), u64>,
}

impl CallStats {
    /// What `calls` counted between the snapshot `before` and now.
    pub fn since(calls: &CallCounter, before: &BTreeMap<CallKey, u64>) -> CallStats {
        CallStats::between(before, &calls.snapshot())
    }

    pub fn between(before: &BTreeMap<CallKey, u64>, after: &BTreeMap<CallKey, u64>) -> CallStats {
        let mut stats = CallStats::default();
        for (k, n) in after {
            let d = n - before.get(k).copied().unwrap_or(0);
            if d > 0 {
                *stats
                    .by_op
                    .entry((k.service.to_string(), k.operation.to_string()))
                    .or_default() += d;
            }
        }
        stats
    }

    /// From two scrapes of the controller's `/metrics` (`byoc_aws_api_calls_total`).
    pub fn from_metrics(before: &str, after: &str) -> CallStats {
        let (b, a) = (aws_calls_metric(before), aws_calls_metric(after));
        let mut stats = CallStats::default();
        for (k, n) in a {
            let d = n.saturating_sub(b.get(&k).copied().unwrap_or(0));
            if d > 0 {
                *stats.by_op.entry((k.0, k.1)).or_default() += d;
            }
        }
        stats
    }

    pub fn total(&self) -> u64 {
        self.by_op.values().sum()
    }

    pub fn writes(&self) -> u64 {
        self.by_op.iter().filter(|((_, op), _)| is_write(op)).map(|(_, n)| n).sum()
    }

    pub fn reads(&self) -> u64 {
        self.total() - self.writes()
    }

    pub fn reads_of(&self, service: &str) -> u64 {
        self.by_op.iter().filter(|((s, op), _)| s == service && !is_write(op)).map(|(_, n)| n).sum()
    }

    /// Operations, most called first: `service:Operation`.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut ops: Vec<(String, u64)> =
            self.by_op.iter().map(|((s, op), n)| (format!("{s}:{op}"), *n)).collect();
        ops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ops.truncate(n);
        ops
    }

    /// The top operations as one cell: `elbv2:DescribeTags 2.0, logs:DescribeLogGroups 1.0, …`
    /// (per service, over `per`).
    pub fn top_cell(&self, n: usize, per: f64) -> String {
        self.top(n)
            .into_iter()
            .map(|(op, c)| format!("{op} {}", num(c as f64 / per)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `byoc_aws_api_calls_total` by (service, operation, outcome).
fn aws_calls_metric(metrics: &str) -> BTreeMap<(String, String, String), u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with("byoc_aws_api_calls_total{")) {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            let end = start + line[start..].find('"')?;
            Some(line[start..end].to_string())
        };
        let (Some(s), Some(op), Some(outcome), Some(n)) = (
            label("service"),
            label("operation"),
            label("outcome"),
            line.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()),
        ) else {
            continue;
        };
        out.insert((s, op, outcome), n);
    }
    out
}

/// The sum of every sample of a metric whose line starts with `prefix`.
pub fn metric(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A CloudAccount's pool holds at most 10 load balancers (`spec.loadBalancers`, `maxItems`).
pub const MAX_POOL: usize = 10;

/// Load balancers for `n` services with ingress: at most `TARGET_GROUPS_PER_ALB` services each,
/// plus one spare while the pool has room (2 for 100 services; 10, all full, for 1,000).
pub fn load_balancers_for(n: usize) -> usize {
    let needed = n.div_ceil(TARGET_GROUPS_PER_ALB);
    assert!(
        needed <= MAX_POOL,
        "{n} services with ingress need more than {MAX_POOL} load balancers"
    );
    (needed + 1).min(MAX_POOL)
}

/// The world's CloudAccount with its pool of load balancers replaced by `names` (same scheme and
/// security groups as the world's `public`).
pub fn pool_account(w: &World, names: &[String]) -> String {
    let re = regex::Regex::new(
        r"(?m)^(\s*)- name: public\n\s*scheme: (\S+)\n\s*securityGroupIds: (\[[^\]]*\])\n",
    )
    .expect("a valid pattern");
    let caps =
        re.captures(&w.account_yaml).expect("the world's account has the load balancer public");
    let (indent, scheme, groups) = (&caps[1], &caps[2], &caps[3]);
    let pool: String = names
        .iter()
        .map(|name| {
            format!(
                "{indent}- name: {name}\n{indent}  scheme: {scheme}\n{indent}  securityGroupIds: {groups}\n"
            )
        })
        .collect();
    re.replace(&w.account_yaml, regex::NoExpand(&pool)).into_owned()
}

/// Names `prefix-0`, `prefix-1`, …
pub fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// `n` CloudServices `prefix-I` in `namespace` on `account`; with `load_balancers`, each has a
/// host rule on one of them, round robin.
pub fn services_yaml(
    prefix: &str,
    n: usize,
    namespace: &str,
    account: &str,
    load_balancers: &[String],
) -> String {
    (0..n)
        .map(|i| {
            let ingress = if load_balancers.is_empty() {
                String::new()
            } else {
                format!(
                    "  ingress: {{ loadBalancer: {}, hosts: [{prefix}-{i}.example.com], port: http }}\n",
                    load_balancers[i % load_balancers.len()]
                )
            };
            format!(
                "---\napiVersion: byoc.dev/v1alpha1\nkind: CloudService\nmetadata: {{ name: {prefix}-{i}, namespace: {namespace} }}\nspec:\n  accountRef: {{ name: {account} }}\n  image: nginx:1.27\n  ports: [{{ name: http, containerPort: 80 }}]\n{ingress}"
            )
        })
        .collect()
}

/// Runs this bench's parts, each in a child process (`--part NAME`), and sums up. With `--part`,
/// runs that part here and exits non-zero when an asserted goal was missed.
pub fn main(
    bench: &str,
    args: &Args,
    parts: &[&str],
    run: impl FnOnce(&str) -> Vec<String>,
) -> ExitCode {
    if let Some(part) = &args.part {
        let failed = run(part);
        if failed.is_empty() {
            return ExitCode::SUCCESS;
        }
        eprintln!("\n{bench} {part}: over budget:");
        for f in &failed {
            eprintln!("  - {f}");
        }
        return ExitCode::from(1);
    }
    let exe = std::env::current_exe().expect("the bench binary's own path");
    println!("## {bench} ({} mode: {})", args.mode(), parts.join(", "));
    let mut problems = Vec::new();
    for part in parts {
        let mut cmd = Command::new(&exe);
        cmd.arg("--part").arg(part);
        if args.quick {
            cmd.arg("--quick");
        }
        let started = std::time::Instant::now();
        let status = cmd.status().expect("running a part of the bench");
        println!("\n({bench} {part}: {:.0} s)", started.elapsed().as_secs_f64());
        match status.code() {
            Some(0) => {}
            Some(1) => problems.push(format!("{part}: over budget")),
            _ => problems.push(format!("{part}: failed ({status})")),
        }
    }
    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("\n{bench}: {}", problems.join("; "));
    ExitCode::from(1)
}

/// The runtime a part runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a Tokio runtime")
}
