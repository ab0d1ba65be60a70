//! `byoc`: the operator's command line. Thin: parses arguments and calls the library.

use std::{path::PathBuf, process::ExitCode};

use byoc::{
    aws::{self, Aws, CallCounter, RateLimiter},
    oneshot,
};
use clap::{Args, Parser, Subcommand};

/// byoc-operator: deploy container services into your own AWS account.
#[derive(Parser, Debug)]
#[command(name = "byoc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML (or write them into a directory with --out).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the version.
    Version,
    /// Run the Kubernetes controller.
    Controller,
    /// Show what `apply` would change in AWS. Exit code 0: nothing to do; 2: changes pending.
    Plan(OneShot),
    /// Create or update the AWS resources of the services in the files; print their status.
    Apply(OneShot),
    /// Delete the AWS resources of the services in the files (honouring deletionPolicy).
    Delete(OneShot),
}

#[derive(Args, Debug)]
struct OneShot {
    /// A manifest file or a directory of them (CloudAccount, CloudService and Secret documents).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Identifies this installation in ownership tags.
    #[arg(long, env = "BYOC_CLUSTER_ID", default_value = "byoc-cli")]
    cluster_id: String,
    /// Send every AWS call to this endpoint (an emulator), whatever the accounts say.
    #[arg(long, env = "BYOC_AWS_ENDPOINT")]
    endpoint_url: Option<String>,
}

fn main() -> ExitCode {
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
            for (file, crd) in byoc::api::crd::crds() {
                let yaml =
                    byoc::api::crd::to_yaml(&crd).map_err(|e| format!("rendering {file}: {e}"))?;
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
            println!("byoc {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Controller => Err("the controller is not implemented yet".into()),
        Command::Plan(args) => plan(args).await,
        Command::Apply(args) => apply(args).await,
        Command::Delete(args) => delete(args).await,
    }
}

fn load(args: &OneShot) -> Result<oneshot::Manifests, String> {
    let mut all = oneshot::Manifests::default();
    for path in &args.files {
        let m = oneshot::load(path)?;
        all.accounts.extend(m.accounts);
        all.services.extend(m.services);
        all.secrets.extend(m.secrets);
    }
    Ok(all)
}

fn prepare(args: &OneShot, m: &oneshot::Manifests) -> Result<Vec<oneshot::Prepared>, String> {
    oneshot::prepare(m, &args.cluster_id).map_err(|errors| {
        format!("the manifests are invalid; nothing was changed:\n  {}", errors.join("\n  "))
    })
}

async fn sessions(args: &OneShot, m: &oneshot::Manifests) -> oneshot::Sessions {
    let calls = CallCounter::default();
    let limiter = RateLimiter::default();
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

async fn plan(args: OneShot) -> Result<ExitCode, String> {
    let m = load(&args)?;
    let prepared = prepare(&args, &m)?;
    let sessions = sessions(&args, &m).await;
    let plans = oneshot::plan(&m, &prepared, &sessions).await?;
    let pending = plans.iter().any(|(_, p)| !p.is_empty());
    for (label, plan) in &plans {
        println!("{label}\n{plan}");
    }
    Ok(if pending { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

async fn apply(args: OneShot) -> Result<ExitCode, String> {
    let m = load(&args)?;
    let prepared = prepare(&args, &m)?;
    let sessions = sessions(&args, &m).await;
    for p in &prepared {
        eprintln!("applying {} …", p.label);
    }
    let statuses = oneshot::apply(&m, &prepared, &sessions).await?;
    for (label, status) in statuses {
        let yaml = serde_saphyr::to_string(&status).map_err(|e| format!("printing status: {e}"))?;
        println!("# {label}\n---\n{yaml}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(args: OneShot) -> Result<ExitCode, String> {
    let m = load(&args)?;
    let sessions = sessions(&args, &m).await;
    for (label, plan) in oneshot::delete(&m, &sessions, &args.cluster_id, false).await? {
        println!("{label}\n{plan}");
    }
    Ok(ExitCode::SUCCESS)
}
