//! AWS API budget: how many calls (and writes) `apply`, a no-op `plan`/`apply` and `delete` cost
//! for N services sharing one load balancer listener, against moto. Prints a table; asserts
//! nothing about time.
//!
//! Run: `cargo bench --profile dev --bench aws_budget` (after `scripts/lib/get-moto`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use byoc::oneshot;
use support::moto::World;

fn services(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: byoc.dev/v1alpha1\nkind: CloudService\nmetadata: {{ name: svc-{i}, namespace: shop }}\nspec:\n  accountRef: {{ name: ACCOUNT }}\n  image: nginx:1.27\n  ports: [{{ name: http, containerPort: 80 }}]\n  ingress: {{ loadBalancer: public, hosts: [s{i}.example.com], port: http }}\n"
            )
        })
        .collect()
}

struct Row {
    calls: u64,
    writes: u64,
    millis: u128,
}

async fn measure<F: std::future::Future<Output = ()>>(w: &World, f: F) -> Row {
    let (calls, writes) = (w.calls.total(), w.calls.writes());
    let start = Instant::now();
    f.await;
    Row {
        calls: w.calls.total() - calls,
        writes: w.calls.writes() - writes,
        millis: start.elapsed().as_millis(),
    }
}

#[tokio::main]
async fn main() {
    println!(
        "{:>4}  {:<16} {:>7} {:>7} {:>10} {:>9}",
        "N", "step", "calls", "writes", "calls/svc", "ms"
    );
    for n in [1, 10, 50] {
        let w = World::new(&format!("bench-{n}"));
        let yaml = services(n);
        let m = w.manifests(&yaml);
        let prepared = oneshot::prepare(&m, &w.cluster_id).expect("valid services");
        let sessions = w.sessions();
        let rows = [
            (
                "apply (create)",
                measure(&w, async {
                    oneshot::apply(&m, &prepared, &sessions).await.unwrap();
                })
                .await,
            ),
            (
                "plan (no-op)",
                measure(&w, async {
                    oneshot::plan(&m, &prepared, &sessions).await.unwrap();
                })
                .await,
            ),
            (
                "apply (no-op)",
                measure(&w, async {
                    oneshot::apply(&m, &prepared, &sessions).await.unwrap();
                })
                .await,
            ),
            (
                "delete",
                measure(&w, async {
                    oneshot::delete(&m, &sessions, &w.cluster_id, false).await.unwrap();
                })
                .await,
            ),
        ];
        for (step, r) in rows {
            println!(
                "{n:>4}  {step:<16} {:>7} {:>7} {:>10.1} {:>9}",
                r.calls,
                r.writes,
                r.calls as f64 / n as f64,
                r.millis
            );
        }
        if n == 50 {
            let before = w.calls.snapshot();
            oneshot::plan(&m, &prepared, &sessions).await.unwrap();
            let mut by_op: Vec<(String, u64)> = w
                .calls
                .snapshot()
                .into_iter()
                .map(|(k, v)| {
                    (
                        format!("{}:{}", k.service, k.operation),
                        v - before.get(&k).copied().unwrap_or(0),
                    )
                })
                .filter(|(_, v)| *v > 0)
                .collect();
            by_op.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
            println!("\ncalls of one no-op plan of {n} services (after delete), by operation:");
            for (op, count) in by_op {
                println!("  {op:<40} {count:>5}");
            }
        }
    }
}
