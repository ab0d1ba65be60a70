//! The AWS behaviour layer as a standalone proxy, for the demo: prints its endpoint URL on the
//! first line of stdout, then serves until killed.
//!
//! ```text
//! cargo run --example aws-layer -- --upstream http://127.0.0.1:5000 --port 4566 \
//!     [--task-start-secs S] [--drain-secs S] [--service-draining-secs S] \
//!     [--secret-name-reuse-secs S] [--target-group-in-use-secs S] \
//!     [--throttle-scale F] [--failing-image SUBSTRING]... \
//!     [--build-secs S] [--build-minute-secs S] [--image-push-lag-secs S] \
//!     [--failing-build SUBSTRING]... [--acm-record-delay-secs S] [--acm-validation-secs S]
//! ```

#[allow(dead_code, unused_imports)]
#[path = "mod.rs"]
mod awslayer;

use std::{io::Write, time::Duration};

use awslayer::{Config, Layer};

const USAGE: &str = "usage: aws-layer --upstream URL [--port N] [--task-start-secs S] [--drain-secs S] \
[--service-draining-secs S] [--secret-name-reuse-secs S] [--target-group-in-use-secs S] \
[--throttle-scale F] [--failing-image SUBSTRING]... [--build-secs S] [--build-minute-secs S] \
[--image-push-lag-secs S] [--failing-build SUBSTRING]... [--acm-record-delay-secs S] \
[--acm-validation-secs S]";

fn main() {
    let mut upstream = None;
    let mut port = 0u16;
    let mut config = Config::default();
    let mut failing_images = Vec::new();
    let mut failing_builds = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        let secs = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or_else(|| fail(&format!("{flag}: not a number of seconds: {v}")))
        };
        match flag.as_str() {
            "--upstream" => upstream = Some(value()),
            "--port" => port = value().parse().unwrap_or_else(|_| fail("--port: not a port")),
            "--task-start-secs" => config.task_start = secs(value()),
            "--drain-secs" => config.drain = secs(value()),
            "--service-draining-secs" => config.service_draining = secs(value()),
            "--secret-name-reuse-secs" => config.secret_name_reuse = secs(value()),
            "--target-group-in-use-secs" => config.target_group_in_use = secs(value()),
            "--throttle-scale" => {
                let scale =
                    value().parse().unwrap_or_else(|_| fail("--throttle-scale: not a number"));
                config.throttle_scale = Some(scale);
            }
            "--failing-image" => failing_images.push(value()),
            "--build-secs" => config.build_duration = secs(value()),
            "--build-minute-secs" => config.build_minute = secs(value()),
            "--image-push-lag-secs" => config.image_push_lag = secs(value()),
            "--failing-build" => failing_builds.push(value()),
            "--acm-record-delay-secs" => config.acm_record_delay = secs(value()),
            "--acm-validation-secs" => config.acm_validation = secs(value()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    if !failing_images.is_empty() {
        config.failing_images = failing_images;
    }
    if !failing_builds.is_empty() {
        config.failing_builds = failing_builds;
    }
    let Some(upstream) = upstream else { fail("--upstream is required") };
    let layer = Layer::start_on(&upstream, config, port);
    println!("{}", layer.endpoint());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn fail(message: &str) -> ! {
    eprintln!("aws-layer: {message}\n{USAGE}");
    std::process::exit(2);
}
