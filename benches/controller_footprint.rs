//! The controller's footprint: how long N CloudServices take from `kubectl apply` to `Ready`, how
//! much memory the `byoc controller` process holds, and what a quiet minute costs in AWS calls.
//! Runs the real binary against the project's API stand-in and moto behind the AWS behaviour
//! layer (rollouts take the layer's time to start tasks). Prints a table; asserts nothing about
//! time.
//!
//! Run: `cargo bench --profile dev --bench controller_footprint` (after `scripts/lib/get-moto`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use byoc::api::CloudService;
use support::{
    e2e::{Kube, Operator, condition, wait_for},
    moto::World,
};

fn account_yaml(w: &World) -> String {
    w.account_yaml.replacen(
        &format!("metadata:\n  name: {}\n", w.account),
        &format!("metadata:\n  name: {}\n  labels:\n    byoc.dev/e2e: {}\n", w.account, w.account),
        1,
    )
}

fn services(w: &World, ns: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: byoc.dev/v1alpha1\nkind: CloudService\nmetadata: {{ name: svc-{i}, namespace: {ns} }}\nspec:\n  accountRef: {{ name: {} }}\n  image: nginx:1.27\n  ports: [{{ name: http, containerPort: 80 }}]\n  ingress: {{ loadBalancer: public, hosts: [s{i}.example.com], port: http }}\n",
                w.account
            )
        })
        .collect()
}

fn metric(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    println!(
        "{:>4} {:>12} {:>12} {:>14} {:>16}",
        "N", "ready (s)", "RSS (MiB)", "reconciles", "AWS calls / 30 s quiet"
    );
    for n in [10, 50] {
        // Through the AWS behaviour layer: Ready means ECS really ran the tasks (2 s to start).
        let w = World::with_layer(&format!("footprint-{n}"), Default::default());
        let kube = Kube::start(&format!("footprint{n}"), 1).await;
        let ns = kube.namespaces[0].clone();
        let op = Operator::start(&kube, &w, &["--resync-interval", "10m", "--concurrency", "4"]);
        kube.apply(&account_yaml(&w)).await;
        let start = Instant::now();
        kube.apply(&services(&w, &ns, n)).await;
        let api = kube.services(&ns);
        wait_for(
            "every service Ready",
            Duration::from_secs(600),
            || async { api.list(&Default::default()).await.ok() },
            |list| {
                list.items.len() == n
                    && list.items.iter().all(|s: &CloudService| {
                        s.status
                            .as_ref()
                            .and_then(|st| condition(&st.conditions, "Ready"))
                            .is_some_and(|c| c.0 == "True")
                    })
            },
        )
        .await;
        let ready = start.elapsed().as_secs_f64();
        // Let the reconciles queued during the rollouts (finalizer events, requeues) drain first.
        tokio::time::sleep(Duration::from_secs(15)).await;
        let before = op.get("/metrics").await.unwrap().1;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let after = op.get("/metrics").await.unwrap().1;
        let idle_calls = metric(&after, "byoc_aws_api_calls_total")
            - metric(&before, "byoc_aws_api_calls_total");
        let rss = op.rss_kib().unwrap_or(0) as f64 / 1024.0;
        println!(
            "{n:>4} {ready:>12.1} {rss:>12.1} {:>14} {idle_calls:>16}",
            metric(&after, "byoc_reconcile_total")
        );
        kube.cleanup(&[&w.account]).await;
    }
}
