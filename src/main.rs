//! `byoc`: the operator's command line.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

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
    /// Show what `apply` would change in AWS.
    Plan,
    /// Create or update the AWS resources of the services in the files.
    Apply,
    /// Delete the AWS resources of the services in the files.
    Delete,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
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
        Command::Controller | Command::Plan | Command::Apply | Command::Delete => {
            Err("this command is not implemented yet".into())
        }
    }
}
