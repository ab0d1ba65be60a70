//! Docker Compose → `CloudService`: converts a Compose project (`compose.yaml`) into CloudService
//! manifests and Kubernetes Secret manifests, and names every Compose field it does not support,
//! or maps differently than Compose would run it, in a `Note` with the reason. Nothing is dropped
//! without a note.
//!
//! `convert` takes the compose file's path and `Options` and returns a `Converted` project; it
//! reads the compose file, the project's `.env` and the files the compose file references
//! (`env_file`, secret files), and nothing else: no AWS, no network. `render` turns a `Converted`
//! into multi-document YAML for `kubectl apply -f` or `byoc apply -f`; it is pure.
//!
//! The YAML is parsed into a `serde_json::Value` (anchors, aliases and `<<` merge keys resolved
//! by the parser), interpolated as Compose does, then walked with an explicit set of handled keys
//! at every level, so an unknown key always produces a note (or, inside `x-byoc`, an error).

mod build;
mod deploy;
mod dotenv;
mod env;
mod error;
mod health;
mod ingress;
mod interpolate;
mod names;
mod ports;
mod project;
mod reasons;
mod render;
mod secrets;
mod service;
mod shell;
mod value;
mod xbyoc;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod robustness_tests;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

pub use error::ComposeError;
pub use render::render;

/// How to convert. An empty `account`, `namespace` or `load_balancer` means "not given by the
/// caller": the compose file's top-level `x-byoc` value is used, else the built-in default
/// (`default` for the namespace, `public` for the load balancer; the account has none). Values
/// the caller gives always win over `x-byoc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// CloudAccount name for `spec.accountRef`.
    pub account: String,
    /// Kubernetes namespace of every object.
    pub namespace: String,
    /// Overrides the project name (else `COMPOSE_PROJECT_NAME`, the top-level `name:`, the
    /// compose file's directory name), sanitized to a DNS label.
    pub project: Option<String>,
    /// The account's load balancer for published ports.
    pub load_balancer: String,
    /// Map local build contexts onto a Git repository.
    pub git: Option<GitOrigin>,
    /// Variables for `${VAR}` interpolation (the process environment); the project's `.env`
    /// file is added beneath them (these win, as in Compose).
    pub environment: BTreeMap<String, String>,
    /// Put secret contents into the Secret manifests (`byoc compose up`); without it no Secret
    /// manifest is produced and `render` prints the commands that create them.
    pub secret_values: bool,
    /// Give every service with ports `spec.private`, so the others call it by its Compose name.
    pub private: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            account: String::new(),
            namespace: String::new(),
            project: None,
            load_balancer: String::new(),
            git: None,
            environment: BTreeMap::new(),
            secret_values: false,
            private: true,
        }
    }
}

/// A Git repository that holds the project: a local build context `root/x/y` becomes
/// `build.git {url, revision}` with `build.path: x/y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOrigin {
    pub url: String,
    pub revision: Option<String>,
    /// The repository's top directory on this machine.
    pub root: PathBuf,
}

/// A converted Compose project.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The project name (a DNS label).
    pub project: String,
    /// One CloudService per Compose service, sorted by name.
    pub services: Vec<crate::api::CloudService>,
    /// Secret manifests, sorted by name; empty unless `Options::secret_values`.
    pub secrets: Vec<k8s_openapi::api::core::v1::Secret>,
    /// Every Compose field not supported or mapped differently, sorted by path.
    pub notes: Vec<Note>,
    /// The compose file's directory: a local `build.context` is relative to it.
    pub base_dir: PathBuf,
    /// The Secrets the services read, and where their values come from.
    pub secret_sources: Vec<SecretSource>,
}

/// A Compose field byoc does not support, or maps differently than Compose would run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Compose path, e.g. `services.web.volumes`.
    pub path: String,
    pub kind: NoteKind,
    pub reason: String,
}

/// What a note says about its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// The field is dropped.
    Unsupported,
    /// The field is mapped differently than Compose would run it.
    Changed,
}

/// A Kubernetes Secret the services read (`<project>-<secret>`, key `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The key under the top-level `secrets`.
    pub compose_name: String,
    /// The Kubernetes Secret's name.
    pub secret_name: String,
    pub from: SecretFrom,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretFrom {
    /// A file, as the compose file names it (relative to `Converted::base_dir`).
    File(PathBuf),
    /// An environment variable.
    Environment(String),
    /// `external: true`: a Secret that must already exist; nothing is created.
    External,
}

/// Converts the Compose project of `compose_file`.
pub fn convert(compose_file: &Path, opts: &Options) -> Result<Converted, ComposeError> {
    let text =
        std::fs::read_to_string(compose_file).map_err(|e| error::read_error(compose_file, &e))?;
    let base_dir = match compose_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let vars = project::variables(&base_dir, &opts.environment)?;
    let dir_name = std::path::absolute(&base_dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    project::convert_text(&text, compose_file, &base_dir, &dir_name, &vars, opts)
}

/// Adds notes to a list.
pub(crate) trait Notes {
    /// The field is dropped, for `reason`.
    fn unsupported(&mut self, path: impl Into<String>, reason: impl Into<String>);
    /// The field is mapped differently: `reason` says how.
    fn changed(&mut self, path: impl Into<String>, reason: impl Into<String>);
}

impl Notes for Vec<Note> {
    fn unsupported(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.push(Note { path: path.into(), kind: NoteKind::Unsupported, reason: reason.into() });
    }

    fn changed(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.push(Note { path: path.into(), kind: NoteKind::Changed, reason: reason.into() });
    }
}
