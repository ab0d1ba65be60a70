//! `byoc compose convert | plan | up | down`: a Docker Compose project through `crate::compose`,
//! printed as CloudService manifests for kubectl and GitOps, or run through the one-shot engine
//! exactly as `byoc plan | apply | delete` run manifests. Reads files and the process environment;
//! `up` and `down` call AWS.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Subcommand};

use crate::{
    cli::{Connection, Finish, PlanOutput, apply_manifests, delete_manifests, plan_manifests},
    compose::{self, Converted, GitOrigin, NoteKind, Options},
    oneshot::{self, Manifests},
};

#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Print the CloudService manifests of a Compose project (and how to create its Secrets),
    /// ready for kubectl, Kustomize or a GitOps repository. Every Compose field that is not
    /// supported, or maps differently, is named in the header with the reason.
    Convert {
        #[command(flatten)]
        project: ProjectArgs,
        /// Build local contexts from this Git repository instead (the compose file's repository,
        /// as the controller cannot read your disk): contexts become paths inside it.
        #[arg(long)]
        git_url: Option<String>,
        /// The branch, tag or commit to build (with --git-url). Default: the repository's HEAD.
        #[arg(long, requires = "git_url")]
        git_revision: Option<String>,
        /// The repository's top directory on this machine (with --git-url). Default: the nearest
        /// directory above the compose file that has `.git`.
        #[arg(long, requires = "git_url")]
        git_root: Option<PathBuf>,
    },
    /// Show what `up` would change in AWS. Exit code 0: nothing to do; 2: changes pending.
    Plan {
        #[command(flatten)]
        args: RunArgs,
        /// How to print the plan: text, or yaml / json for CI.
        #[arg(short = 'o', long, value_enum, default_value_t = PlanOutput::Text)]
        output: PlanOutput,
    },
    /// Create or update the project's services in AWS through the one-shot engine.
    Up {
        #[command(flatten)]
        args: RunArgs,
        /// Wait until every rollout completes, showing each service's progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        finish: Finish,
    },
    /// Delete the project's services from AWS, then what their account owns and nothing uses.
    Down {
        #[command(flatten)]
        args: RunArgs,
        /// Wait until ECS has drained every deleted service and nothing of them is left in AWS,
        /// showing each service's progress.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        finish: Finish,
    },
}

/// Which project, and where its manifests go.
#[derive(Args, Debug)]
pub struct ProjectArgs {
    /// The compose file.
    #[arg(short = 'f', long = "file", default_value = "compose.yaml")]
    file: PathBuf,
    /// The CloudAccount the services deploy into (else `x-byoc.account` of the compose file).
    #[arg(long, default_value = "")]
    account: String,
    /// The Kubernetes namespace of the services (else `x-byoc.namespace`, else `default`).
    #[arg(short = 'n', long, default_value = "")]
    namespace: String,
    /// The project name (else COMPOSE_PROJECT_NAME, the compose file's `name`, its directory).
    #[arg(short = 'p', long = "project-name")]
    project: Option<String>,
    /// The account's load balancer for published ports (else `x-byoc.loadBalancer`, else
    /// `public`).
    #[arg(long, default_value = "")]
    load_balancer: String,
    /// Do not give services private names (for accounts without spec.serviceConnect).
    #[arg(long)]
    no_private: bool,
    /// Fail when a Compose field is not supported, instead of naming it and going on.
    #[arg(long)]
    strict: bool,
}

/// A project to run, with the account it runs in.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// A manifest file (or directory) with the CloudAccount; `--account` picks one when it has
    /// several.
    #[arg(long)]
    account_file: PathBuf,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(command: ComposeCommand) -> Result<ExitCode, String> {
    match command {
        ComposeCommand::Convert { project, git_url, git_revision, git_root } => {
            let git = match git_url {
                Some(url) => {
                    let root = match git_root {
                        Some(root) => root,
                        None => repository_root(&project.file)?,
                    };
                    Some(GitOrigin { url, revision: git_revision, root })
                }
                None => None,
            };
            let converted = convert(&project, git, false, None)?;
            print!("{}", compose::render(&converted));
            Ok(ExitCode::SUCCESS)
        }
        ComposeCommand::Plan { args, output } => {
            crate::progress::terminal::init_tracing();
            let m = manifests(&args)?;
            plan_manifests(&args.connection, &m, output).await
        }
        ComposeCommand::Up { args, wait, finish } => {
            crate::progress::terminal::init_tracing();
            let m = manifests(&args)?;
            apply_manifests(&args.connection, &m, wait.then_some(finish.timeout), finish.output)
                .await
        }
        ComposeCommand::Down { args, wait, finish } => {
            crate::progress::terminal::init_tracing();
            let m = manifests(&args)?;
            delete_manifests(&args.connection, &m, wait.then_some(finish.timeout), finish.output)
                .await
        }
    }
}

/// Converts the project; notes go to standard error (`convert` also has them in its header).
fn convert(
    p: &ProjectArgs,
    git: Option<GitOrigin>,
    secret_values: bool,
    account: Option<&str>,
) -> Result<Converted, String> {
    let opts = Options {
        account: account.map_or_else(|| p.account.clone(), str::to_string),
        namespace: p.namespace.clone(),
        project: p.project.clone(),
        load_balancer: p.load_balancer.clone(),
        git,
        environment: std::env::vars().collect::<BTreeMap<_, _>>(),
        secret_values,
        private: !p.no_private,
    };
    let converted = compose::convert(&p.file, &opts).map_err(|e| e.to_string())?;
    let unsupported: Vec<_> =
        converted.notes.iter().filter(|n| n.kind == NoteKind::Unsupported).collect();
    if p.strict && !unsupported.is_empty() {
        let list: Vec<String> =
            unsupported.iter().map(|n| format!("{}: {}", n.path, n.reason)).collect();
        return Err(format!(
            "--strict: {} Compose field(s) are not supported:\n  {}",
            list.len(),
            list.join("\n  ")
        ));
    }
    for n in &converted.notes {
        let kind = match n.kind {
            NoteKind::Unsupported => "not supported",
            NoteKind::Changed => "changed",
        };
        eprintln!("note: {}: {kind}: {}", n.path, n.reason);
    }
    Ok(converted)
}

/// The account file's CloudAccount plus the converted project, as `byoc apply` would read them:
/// Secrets with their values (from the secret files and the environment), local build contexts
/// relative to the compose file.
fn manifests(args: &RunArgs) -> Result<Manifests, String> {
    let accounts = oneshot::load(&args.account_file)?.accounts;
    let account = match (args.project.account.as_str(), accounts.len()) {
        ("", 1) => accounts.keys().next().cloned(),
        ("", 0) => {
            return Err(format!("{} has no CloudAccount", args.account_file.display()));
        }
        ("", _) => None,
        (name, _) if accounts.contains_key(name) => Some(name.to_string()),
        (name, _) => {
            return Err(format!(
                "--account {name}: {} has no CloudAccount of that name; it has {:?}",
                args.account_file.display(),
                accounts.keys().collect::<Vec<_>>()
            ));
        }
    };
    let converted = convert(&args.project, None, true, account.as_deref())?;
    let mut m = Manifests { accounts, ..Manifests::default() };
    for secret in &converted.secrets {
        let key = (
            secret.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            secret.metadata.name.clone().unwrap_or_default(),
        );
        m.secrets.insert(key, secret.string_data.clone().unwrap_or_default());
    }
    m.service_dirs = vec![converted.base_dir.clone(); converted.services.len()];
    m.services = converted.services;
    Ok(m)
}

/// The nearest directory at or above the compose file's that holds `.git`.
fn repository_root(file: &Path) -> Result<PathBuf, String> {
    let start = std::fs::canonicalize(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    start.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf).ok_or_else(|| {
        format!(
            "--git-url: no Git repository (.git) above {}; pass --git-root DIR",
            start.display()
        )
    })
}
