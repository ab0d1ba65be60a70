//! Failpoints: named places where a test makes the process die at once, as a crash would (the
//! kernel killing the pod, a node going away). Compiled only with the `failpoints` feature, which
//! the test build turns on (a dev-dependency of the crate on itself); without it `failpoint!`
//! expands to nothing and no failpoint name or variable is in the binary.
//!
//! - `BYOC_FAILPOINT=<name>[:<nth>][,<name>[:<nth>]…]`: abort (`std::process::abort`: no cleanup,
//!   nothing flushed) the `nth` time (default the first) the process reaches one of the points.
//! - `BYOC_FAILPOINT_LOG=<file>`: append the name of every point reached, one per line, before
//!   aborting there: the dry run that tells a test which points a path passes, in order, and the
//!   point a crash run died at.
//!
//! Points: every mutating AWS call, before and after it (`aws.<Operation>.before|after`, placed by
//! `Aws::call`), and every Kubernetes write the controller relies on (finalizers and status), named
//! in [`POINTS`]. Events are not failpoints: losing one loses nothing. `docs/reliability.md` lists
//! every point with what a crash there was shown to leave behind; a test keeps it complete.

/// Marks a failpoint: aborts the process here when `BYOC_FAILPOINT` names it (test builds only).
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::reached($name);
    };
}

/// The explicit failpoints (Kubernetes writes of the controllers), in the order a service or an
/// account passes them.
#[cfg(feature = "failpoints")]
pub const POINTS: &[&str] = &[
    "service.finalizer.add.before",
    "service.finalizer.add.after",
    "service.status.before",
    "service.status.after",
    "service.finalizer.remove.before",
    "service.finalizer.remove.after",
    "account.finalizer.add.before",
    "account.finalizer.add.after",
    "account.status.before",
    "account.status.after",
    "account.finalizer.remove.before",
    "account.finalizer.remove.after",
];

/// Every mutating AWS operation the operator calls: each has the points `aws.<Operation>.before`
/// and `aws.<Operation>.after`. A unit test holds this list to the calls in the source.
#[cfg(feature = "failpoints")]
pub const AWS_WRITES: &[&str] = &[
    "AddListenerCertificates",
    "AddTags",
    "ChangeResourceRecordSets",
    "CreateBucket",
    "CreateCluster",
    "CreateHttpNamespace",
    "CreateListener",
    "CreateLoadBalancer",
    "CreateLogGroup",
    "CreateProject",
    "CreateRepository",
    "CreateRule",
    "CreateSecret",
    "CreateService",
    "CreateTargetGroup",
    "DeleteBucket",
    "DeleteCertificate",
    "DeleteCluster",
    "DeleteLoadBalancer",
    "DeleteLogGroup",
    "DeleteNamespace",
    "DeleteObjects",
    "DeleteProject",
    "DeleteRepository",
    "DeleteRule",
    "DeleteScalingPolicy",
    "DeleteSecret",
    "DeleteService",
    "DeleteTargetGroup",
    "DeregisterScalableTarget",
    "DeregisterTaskDefinition",
    "ModifyRule",
    "ModifyTargetGroup",
    "ModifyTargetGroupAttributes",
    "PutBucketEncryption",
    "PutBucketLifecycleConfiguration",
    "PutBucketTagging",
    "PutImageScanningConfiguration",
    "PutImageTagMutability",
    "PutLifecyclePolicy",
    "PutObject",
    "PutPublicAccessBlock",
    "PutRetentionPolicy",
    "PutScalingPolicy",
    "PutSecretValue",
    "RegisterScalableTarget",
    "RegisterTaskDefinition",
    "RemoveListenerCertificates",
    "RequestCertificate",
    "RestoreSecret",
    "SetRulePriorities",
    "StartBuild",
    "StopBuild",
    "TagResource",
    "UpdateService",
];

/// Every failpoint name: the explicit ones, then `aws.<Operation>.before|after` per AWS write.
#[cfg(feature = "failpoints")]
pub fn all() -> Vec<String> {
    let aws =
        AWS_WRITES.iter().flat_map(|op| [format!("aws.{op}.before"), format!("aws.{op}.after")]);
    POINTS.iter().map(|p| p.to_string()).chain(aws).collect()
}

/// The point around an AWS write (called by `Aws::call` for mutating operations only).
#[cfg(feature = "failpoints")]
pub fn aws(operation: &str, phase: crate::aws::Phase) {
    let phase = match phase {
        crate::aws::Phase::Before => "before",
        crate::aws::Phase::After => "after",
    };
    reached(&format!("aws.{operation}.{phase}"));
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::{
        collections::HashMap,
        io::Write,
        sync::{Mutex, OnceLock},
    };

    /// What the environment asks for, read once.
    struct Config {
        /// Points to die at: name, and at which pass (1 = the first).
        crash: Vec<(String, u32)>,
        log: Option<Mutex<std::fs::File>>,
        passes: Mutex<HashMap<String, u32>>,
    }

    fn config() -> &'static Config {
        static CONFIG: OnceLock<Config> = OnceLock::new();
        CONFIG.get_or_init(|| {
            let crash = std::env::var("BYOC_FAILPOINT")
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    match p.rsplit_once(':').and_then(|(n, nth)| Some((n, nth.parse().ok()?))) {
                        Some((name, nth)) => (name.to_string(), nth),
                        None => (p.to_string(), 1),
                    }
                })
                .collect();
            let log = std::env::var("BYOC_FAILPOINT_LOG").ok().and_then(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .ok()
                    .map(Mutex::new)
            });
            Config { crash, log, passes: Mutex::new(HashMap::new()) }
        })
    }

    /// Logs the point and, when the environment names it (this pass of it), aborts the process.
    pub fn reached(name: &str) {
        let config = config();
        // Locked through an abort, so that no other thread logs after it: the last line of the
        // log is the point the process died at.
        let _log = config.log.as_ref().map(|log| {
            let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(file, "{name}");
            file
        });
        let Some((_, nth)) = config.crash.iter().find(|(n, _)| n == name) else { return };
        let mut passes = config.passes.lock().unwrap_or_else(|e| e.into_inner());
        let pass = passes.entry(name.to_string()).or_default();
        *pass += 1;
        if pass == nth {
            eprintln!("failpoint {name}: aborting the process");
            std::process::abort();
        }
    }
}

#[cfg(feature = "failpoints")]
pub use armed::reached;

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `.rs` file under `dir`.
    fn sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(sources(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
        out
    }

    /// The first `count` arguments after each occurrence of `marker` (e.g. `.call(`) whose
    /// arguments are string literals.
    fn literals_after(text: &str, marker: &str, count: usize) -> Vec<Vec<String>> {
        text.match_indices(marker)
            .map(|(at, _)| text[at + marker.len()..].trim_start())
            .filter(|rest| rest.starts_with('"'))
            .map(|rest| {
                rest.split('"').skip(1).step_by(2).take(count).map(str::to_string).collect()
            })
            .collect()
    }

    /// The crate's sources but this file (whose tests quote the markers).
    fn crate_sources() -> Vec<(std::path::PathBuf, String)> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        sources(&src).into_iter().filter(|(path, _)| !path.ends_with("failpoint.rs")).collect()
    }

    #[test]
    fn the_registry_names_every_failpoint_in_the_source_and_nothing_else() {
        let mut found = BTreeSet::new();
        for (_, text) in crate_sources() {
            for names in literals_after(&text, "failpoint!(", 1) {
                found.insert(names[0].clone());
            }
        }
        let registry: BTreeSet<String> = POINTS.iter().map(|p| p.to_string()).collect();
        assert_eq!(found, registry, "failpoint!(…) in src/ versus failpoint::POINTS");
    }

    #[test]
    fn the_registry_names_every_aws_write_the_source_calls_and_nothing_else() {
        let mut found = BTreeSet::new();
        for (_, text) in crate_sources() {
            for args in literals_after(&text, ".call(", 2) {
                if let [_, operation] = args.as_slice()
                    && crate::aws::is_write(operation)
                {
                    found.insert(operation.clone());
                }
            }
        }
        let registry: BTreeSet<String> = AWS_WRITES.iter().map(|p| p.to_string()).collect();
        assert_eq!(found, registry, "AWS writes through Aws::call versus failpoint::AWS_WRITES");
    }

    #[test]
    fn every_name_is_unique() {
        let all = all();
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}
