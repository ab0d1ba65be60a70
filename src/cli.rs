//! The `byoc` command line: argument types and the commands. `src/main.rs` only calls `main`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use crate::{
    aws::{self, Aws, CallCounter, RateLimiter},
    oneshot,
    progress::{self, Phase, RowState, terminal::Progress},
};
use clap::{Args, Parser, Subcommand};

/// byoc-operator: deploy container services into your own AWS account.
#[derive(Parser, Debug)]
#[command(name = "byoc", version, about, long_version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("BYOC_GIT_COMMIT"), ", built ", env!("BYOC_BUILD_DATE"), ")"))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML (or write them into a directory with --out).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the version.
    Version,
    /// Run the Kubernetes controller (in a cluster, or against the cluster of $KUBECONFIG).
    Controller(ControllerArgs),
    /// Show what `apply` would change in AWS. Exit code 0: nothing to do; 2: changes pending.
    Plan {
        #[command(flatten)]
        args: OneShot,
        /// How to print the plan: text, or yaml / json for CI.
        #[arg(short = 'o', long, value_enum, default_value_t = PlanOutput::Text)]
        output: PlanOutput,
    },
    /// Create or update the AWS resources of the services in the files; print a summary of them
    /// (or their status with -o yaml|json).
    Apply {
        #[command(flatten)]
        args: OneShot,
        /// Wait until every rollout completes, showing each service's progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        finish: Finish,
    },
    /// Delete the services in the files from AWS (honouring deletionPolicy), then what their
    /// accounts own and nothing uses any more.
    Delete {
        #[command(flatten)]
        args: OneShot,
        /// Wait until ECS has drained every deleted service and nothing of them is left in AWS
        /// (then the cluster and namespace they held go too), showing each service's progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        finish: Finish,
    },
    /// Docker Compose projects: convert them to CloudService manifests, or run them one-shot.
    #[command(subcommand)]
    Compose(crate::cli_compose::ComposeCommand),
}

/// How `apply` and `delete` print what they did.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// A summary table for a person.
    Table,
    /// YAML: apply prints each service's status (one document each, as the controller would
    /// write it); delete, what it deleted, retained or kept per object.
    Yaml,
    /// JSON: the same content as the YAML, in one document.
    Json,
}

/// How `plan` prints the plan.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanOutput {
    /// The changes, one per line, for a person.
    Text,
    /// YAML: `pending` and, per object, its changes as in a CloudService's status.plan.changes.
    Yaml,
    /// JSON: the same document as the YAML.
    Json,
}

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// Watch only these namespaces (comma-separated); empty watches all.
    #[arg(long, env = "BYOC_NAMESPACES", value_delimiter = ',', default_value = "")]
    namespaces: Vec<String>,
    /// Reconciles running at once, per kind.
    #[arg(long, env = "BYOC_CONCURRENCY", default_value_t = 4)]
    concurrency: u16,
    /// Elect a leader through a Lease, so several replicas are safe.
    #[arg(long, env = "BYOC_LEADER_ELECTION", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(long, default_value = "byoc-operator")]
    lease_name: String,
    /// Namespace of the Lease (defaults to the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    health_addr: std::net::SocketAddr,
    /// Log format: json or text.
    #[arg(long, env = "BYOC_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
    /// Re-reconcile every object this often to detect and correct drift (e.g. 10m, 1h30m, 45s).
    #[arg(long, env = "BYOC_RESYNC_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    resync_interval: Duration,
    /// Requeue interval while waiting for AWS (rollouts in progress, load balancers provisioning).
    #[arg(long, env = "BYOC_WAITING_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    waiting_interval: Duration,
    /// Allow env values from Kubernetes Secrets (the operator then reads Secrets).
    #[arg(long, env = "BYOC_SECRET_ENV", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    secret_env: bool,
    /// Identifies this installation in ownership tags (defaults to the kube-system namespace UID).
    #[arg(long, env = "BYOC_CLUSTER_ID")]
    cluster_id: Option<String>,
    /// Send every AWS call to this endpoint (an emulator), whatever the accounts say.
    #[arg(long, env = "BYOC_AWS_ENDPOINT")]
    aws_endpoint: Option<String>,
    /// Handle only CloudAccounts matching this label selector (e.g. `shard=a`).
    #[arg(long, env = "BYOC_ACCOUNT_SELECTOR")]
    account_selector: Option<String>,
    /// Multiply the client-side AWS rate limits by this factor: for accounts whose API quotas
    /// were raised (or an emulator throttling at scaled rates).
    #[arg(long, env = "BYOC_AWS_RATE_SCALE", default_value_t = 1.0, value_parser = parse_rate_scale)]
    aws_rate_scale: f64,
}

/// Parses a positive factor such as `1`, `0.5` or `10`.
pub fn parse_rate_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => {
            Err(format!("{s:?} is not a positive number; use e.g. 1 (AWS's default quotas) or 10"))
        }
    }
}

/// Parses durations like `500ms`, `45s`, `10m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let re = regex::Regex::new(r"^(?:([0-9]+)(ms|s|m|h))+$").map_err(|e| e.to_string())?;
    if !re.is_match(s) {
        return Err(format!("{s:?} is not a duration; use forms like 500ms, 45s, 10m or 1h30m"));
    }
    let part = regex::Regex::new(r"([0-9]+)(ms|s|m|h)").map_err(|e| e.to_string())?;
    let mut total = Duration::ZERO;
    for c in part.captures_iter(s) {
        let n: u64 = c[1].parse().map_err(|_| format!("{s:?}: number too large"))?;
        total += match &c[2] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            _ => Duration::from_secs(n * 3600),
        };
    }
    Ok(total)
}

/// How long `--wait` waits, and how the result of `apply` or `delete` prints.
#[derive(Args, Debug)]
pub struct Finish {
    /// How long --wait waits (e.g. 10m).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How to print the result: a table, or yaml / json for scripts.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct OneShot {
    /// A manifest file or a directory of them (CloudAccount, CloudService and Secret documents).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    pub connection: Connection,
}

/// How the one-shot commands reach AWS and mark what they create.
#[derive(Args, Debug)]
pub struct Connection {
    /// Identifies this installation in ownership tags.
    #[arg(long, env = "BYOC_CLUSTER_ID", default_value = "byoc-cli")]
    cluster_id: String,
    /// Send every AWS call to this endpoint (an emulator), whatever the accounts say.
    #[arg(long, env = "BYOC_AWS_ENDPOINT")]
    endpoint_url: Option<String>,
    /// Multiply the client-side AWS rate limits by this factor (raised account quotas).
    #[arg(long, env = "BYOC_AWS_RATE_SCALE", default_value_t = 1.0, value_parser = parse_rate_scale)]
    aws_rate_scale: f64,
}

/// Parses the command line and runs the command; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Crds { out } => {
            for (file, crd) in crate::api::crd::crds() {
                let yaml =
                    crate::api::crd::to_yaml(&crd).map_err(|e| format!("rendering {file}: {e}"))?;
                match &out {
                    Some(dir) => {
                        let path = dir.join(file);
                        std::fs::write(&path, yaml)
                            .map_err(|e| format!("writing {}: {e}", path.display()))?;
                    }
                    None => print!("{yaml}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            // Both set by build.rs: the Git commit and the build date (never the clock).
            let (commit, date) = (env!("BYOC_GIT_COMMIT"), env!("BYOC_BUILD_DATE"));
            println!("byoc {} (commit {commit}, built {date})", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Controller(args) => controller(args).await,
        Command::Plan { args, output } => {
            progress::terminal::init_tracing();
            plan_manifests(&args.connection, &load(&args)?, output).await
        }
        Command::Apply { args, wait, finish } => {
            progress::terminal::init_tracing();
            apply_manifests(
                &args.connection,
                &load(&args)?,
                wait.then_some(finish.timeout),
                finish.output,
            )
            .await
        }
        Command::Delete { args, wait, finish } => {
            progress::terminal::init_tracing();
            delete_manifests(
                &args.connection,
                &load(&args)?,
                wait.then_some(finish.timeout),
                finish.output,
            )
            .await
        }
        Command::Compose(command) => crate::cli_compose::run(command).await,
    }
}

fn load(args: &OneShot) -> Result<oneshot::Manifests, String> {
    let mut all = oneshot::Manifests::default();
    for path in &args.files {
        let m = oneshot::load(path)?;
        all.accounts.extend(m.accounts);
        let first = all.services.len();
        all.service_dirs.resize(first, ".".into());
        all.service_dirs.extend(m.service_dirs);
        all.services.extend(m.services);
        all.secrets.extend(m.secrets);
    }
    Ok(all)
}

fn prepare(args: &Connection, m: &oneshot::Manifests) -> Result<Vec<oneshot::Prepared>, String> {
    oneshot::prepare(m, &args.cluster_id).map_err(|errors| {
        format!("the manifests are invalid; nothing was changed:\n  {}", errors.join("\n  "))
    })
}

async fn sessions(args: &Connection, m: &oneshot::Manifests) -> oneshot::Sessions {
    let calls = CallCounter::default();
    let limiter = RateLimiter::scaled(args.aws_rate_scale);
    let mut out = oneshot::Sessions::new();
    for (name, account) in &m.accounts {
        let mut access = account.spec.aws.clone();
        if let Some(url) = &args.endpoint_url {
            access.endpoint_url = Some(url.clone());
        }
        let config = aws::load_config(&access).await;
        out.insert(name.clone(), Aws::new(&config, calls.clone(), limiter.clone()));
    }
    out
}

/// `byoc plan` of manifests already read.
pub async fn plan_manifests(
    args: &Connection,
    m: &oneshot::Manifests,
    output: PlanOutput,
) -> Result<ExitCode, String> {
    let prepared = prepare(args, m)?;
    let sessions = sessions(args, m).await;
    let plans = oneshot::plan(m, &prepared, &sessions).await?;
    let document = progress::output::plan_document(&plans);
    match output {
        PlanOutput::Text => {
            for (label, plan) in &plans {
                println!("{label}\n{plan}");
            }
        }
        PlanOutput::Yaml => print!("{}", progress::output::to_yaml(&document)?),
        PlanOutput::Json => print!("{}", progress::output::to_json(&document)?),
    }
    Ok(if document.pending { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// `byoc apply` of manifests already read: applies, follows the rollouts with `wait`, prints
/// the summary (or the statuses).
pub async fn apply_manifests(
    args: &Connection,
    m: &oneshot::Manifests,
    wait: Option<Duration>,
    output: Output,
) -> Result<ExitCode, String> {
    let prepared = prepare(args, m)?;
    let sessions = sessions(args, m).await;
    // Applying prints lines (a build prints its log); the table follows the rollouts.
    let rows =
        prepared.iter().map(|p| (p.label.clone(), progress::applying(p.validated.is_some())));
    let mut shown = Progress::start(rows, false);
    let mut statuses = oneshot::apply(m, &prepared, &sessions).await?;
    if wait.is_some() {
        shown.live();
    }
    for (label, status) in &statuses {
        shown.update(label, progress::from_status(status));
    }
    let waited = match wait {
        Some(timeout) => {
            oneshot::wait(&prepared, &mut statuses, &sessions, timeout, |(label, status)| {
                shown.update(label, progress::from_status(status))
            })
            .await
        }
        None => Ok(()),
    };
    let (board, elapsed) = shown.finish();
    match output {
        Output::Table => print!("{}", progress::summary::applied(&statuses, &board, elapsed)),
        Output::Yaml => print!("{}", progress::output::status_yaml(&statuses)?),
        Output::Json => {
            let document = progress::output::status_document(&statuses);
            print!("{}", progress::output::to_json(&document)?)
        }
    }
    waited?;
    // A stalled service needs a change from the user: say so in the exit code, as a failed
    // rollout does.
    let stalled: Vec<&str> = statuses
        .iter()
        .filter(|(_, s)| crate::api::is_true(&s.conditions, crate::api::STALLED))
        .map(|(label, _)| label.as_str())
        .collect();
    if !stalled.is_empty() {
        eprintln!("error: stalled, see the Stalled condition's message: {}", stalled.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `byoc delete` of manifests already read: deletes, with `wait` until nothing of the services is
/// left, and prints what went (or the plans with -o yaml|json).
pub async fn delete_manifests(
    args: &Connection,
    m: &oneshot::Manifests,
    wait: Option<Duration>,
    output: Output,
) -> Result<ExitCode, String> {
    let sessions = sessions(args, m).await;
    let labels = m.services.iter().map(|s| {
        let label = format!("CloudService {}", oneshot::owner(s, &args.cluster_id).key());
        (label, RowState::new(Phase::Deleting, ""))
    });
    let shown = Progress::start(labels, wait.is_some());
    let deleted =
        oneshot::delete_and_wait(m, &sessions, &args.cluster_id, wait, |label, removal| {
            shown.update(label, progress::from_removal(removal, wait.is_some()))
        })
        .await;
    let (board, elapsed) = shown.finish();
    let plans = deleted?;
    match output {
        Output::Table => print!("{}", progress::summary::deleted(&plans, &board, elapsed)),
        Output::Yaml => {
            print!("{}", progress::output::to_yaml(&progress::output::deleted_document(&plans))?)
        }
        Output::Json => {
            print!("{}", progress::output::to_json(&progress::output::deleted_document(&plans))?)
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn controller(args: ControllerArgs) -> Result<ExitCode, String> {
    crate::telemetry::init_tracing(&args.log_format);
    let client =
        kube::Client::try_default().await.map_err(|e| format!("connecting to Kubernetes: {e}"))?;
    let cluster_id = match args.cluster_id {
        Some(id) => id,
        None => {
            let namespaces =
                kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
            let ns = namespaces.get("kube-system").await.map_err(|e| {
                format!("reading the kube-system namespace for the installation id (or set --cluster-id): {e}")
            })?;
            ns.metadata.uid.unwrap_or_else(|| "default".into())
        }
    };
    let identity =
        std::env::var("POD_NAME").unwrap_or_else(|_| format!("byoc-{}", std::process::id()));
    let options = crate::controller::Options {
        settings: crate::controller::Settings {
            cluster_id,
            resync: args.resync_interval,
            waiting: args.waiting_interval,
            secret_env: args.secret_env,
            endpoint_override: args.aws_endpoint,
            aws_rate_scale: args.aws_rate_scale,
        },
        namespaces: args.namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
        concurrency: args.concurrency,
        account_selector: args.account_selector,
        health_addr: args.health_addr,
        leader_election: args.leader_election.then(|| crate::controller::LeaseConfig {
            name: args.lease_name,
            namespace: args.lease_namespace,
            identity,
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        }),
    };
    crate::controller::run(client, options).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_in_the_forms_the_chart_passes() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ten minutes").is_err());
    }
}
