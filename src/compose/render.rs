//! `render`: a `Converted` project as multi-document YAML, ready for `kubectl apply -f` or
//! `byoc apply -f`: a comment header with every note, the Secrets still to create (with the
//! commands), what local build contexts and private names need, then each CloudService and each
//! Secret, in a stable order. Pure.

use std::{fmt::Write, path::Path};

use super::{Converted, NoteKind, SecretFrom, shell};

/// The project as YAML documents with a comment header.
pub fn render(c: &Converted) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# CloudServices converted from the Compose project {:?}.", c.project);
    if !c.notes.is_empty() {
        out.push_str(
            "#\n# Compose fields that are not supported (dropped) or mapped differently:\n",
        );
        for n in &c.notes {
            let kind = match n.kind {
                NoteKind::Unsupported => "not supported",
                NoteKind::Changed => "changed",
            };
            let _ = writeln!(out, "# {}: {kind}: {}", n.path, n.reason);
        }
    }
    secrets_header(c, &mut out);
    let local: Vec<&str> = c
        .services
        .iter()
        .filter(|s| s.spec.build.as_ref().is_some_and(|b| b.context.is_some()))
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    if !local.is_empty() {
        let _ = write!(
            out,
            "#\n# Local build contexts are directories on this machine, relative to the compose file's\n\
             # directory ({}): save this file there and deploy it with `byoc apply -f`, or run\n\
             # `byoc compose up`; the controller cannot read your disk. To build in the account from a\n\
             # Git repository instead, convert with --git-url URL [--git-revision REV]. Built locally:\n\
             #   {}\n",
            c.base_dir.display(),
            local.join(", ")
        );
    }
    let private: Vec<&str> = c
        .services
        .iter()
        .filter_map(|s| s.spec.private.as_ref().and_then(|p| p.name.as_deref()))
        .collect();
    if !private.is_empty() {
        let _ = write!(
            out,
            "#\n# Private names: the other services reach these at http://<name>:<container port>, as\n\
             # inside Compose, through ECS Service Connect (the CloudAccount needs spec.serviceConnect):\n\
             #   {}\n",
            private.join(", ")
        );
    }
    for s in &c.services {
        document(&mut out, serde_saphyr::to_string(s));
    }
    for s in &c.secrets {
        document(&mut out, serde_saphyr::to_string(s));
    }
    out
}

fn document(out: &mut String, yaml: Result<String, serde_saphyr::ser::Error>) {
    out.push_str("---\n");
    match yaml {
        Ok(y) => out.push_str(&y),
        // The types serialize without failing; keep the document visible if one ever does.
        Err(e) => {
            let _ = writeln!(out, "# cannot write this document: {e}");
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

fn secrets_header(c: &Converted, out: &mut String) {
    let namespace = c
        .services
        .first()
        .and_then(|s| s.metadata.namespace.clone())
        .unwrap_or_else(|| "default".to_string());
    let made: Vec<&str> = c.secrets.iter().filter_map(|s| s.metadata.name.as_deref()).collect();
    let mut commands = Vec::new();
    let mut external = Vec::new();
    for s in &c.secret_sources {
        let from = match &s.from {
            SecretFrom::External => {
                external.push(format!("{} (secrets.{})", s.secret_name, s.compose_name));
                continue;
            }
            _ if made.contains(&s.secret_name.as_str()) => continue,
            SecretFrom::File(f) => {
                format!("--from-file=value={}", shell::quote(&display_relative(f)))
            }
            SecretFrom::Environment(var) => format!("--from-literal=value=\"${var}\""),
        };
        commands.push(format!(
            "#   kubectl -n {namespace} create secret generic {} {from}",
            s.secret_name
        ));
    }
    if !commands.is_empty() {
        let _ = write!(
            out,
            "#\n# Secrets are not written here. Create them before applying, from the compose file's\n\
             # directory ({}):\n{}\n",
            c.base_dir.display(),
            commands.join("\n")
        );
    }
    if !external.is_empty() {
        let _ = write!(
            out,
            "#\n# External secrets: these Secrets must exist in namespace {namespace} with the key value:\n#   {}\n",
            external.join(", ")
        );
    }
    if !c.secrets.is_empty() {
        out.push_str("#\n# This file holds secret values: do not commit it.\n");
    }
}

/// A relative path with `./` in front (clearer in a command), an absolute one as it is.
fn display_relative(p: &Path) -> String {
    let s = p.to_string_lossy().into_owned();
    if p.is_absolute() || s.starts_with("./") || s.starts_with("../") {
        s
    } else {
        format!("./{s}")
    }
}
