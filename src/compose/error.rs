//! `ComposeError`: why a Compose project cannot be converted, naming the Compose path (or the
//! file) and what to do. Pure data; no IO.

use std::path::{Path, PathBuf};

/// Why a Compose project cannot be converted. Never carries a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// A file could not be read (the compose file, an env file, a secret file).
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// The compose file (or an env file) is not what its syntax requires.
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// A Compose field that cannot be converted: `path` is the Compose path, e.g.
    /// `services.web.ports[1]`.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ComposeError {
    /// The Compose path or file the error is about.
    pub fn path(&self) -> String {
        match self {
            ComposeError::Read { path, .. } | ComposeError::Syntax { path, .. } => {
                path.display().to_string()
            }
            ComposeError::Invalid { path, .. } => path.clone(),
        }
    }
}

/// An `Invalid` error at a Compose path.
pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> ComposeError {
    ComposeError::Invalid { path: path.into(), message: message.into() }
}

/// A `Read` error for `path`, worded in lower case.
pub(crate) fn read_error(path: &Path, e: &std::io::Error) -> ComposeError {
    ComposeError::Read { path: path.to_path_buf(), message: io_message(e) }
}

/// An IO error's message in lower case, without the OS error number.
pub(crate) fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
        std::io::ErrorKind::IsADirectory => "a directory, not a file".to_string(),
        _ => lower_first(&e.to_string()),
    }
}

/// `s` with its first character in lower case (library messages start with a capital).
pub(crate) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
