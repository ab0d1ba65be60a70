//! `build` → `spec.build`: a Git URL context (`https://host/org/repo.git#ref:dir`) becomes
//! `build.git` and `build.path`; a local context becomes `build.git` + `build.path` with a
//! `GitOrigin`, else `build.context` relative to the compose file's directory (for `byoc apply`
//! and `byoc compose up`). Pure: paths are compared as written, nothing is read.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::{
    GitOrigin, Note, Notes,
    error::{ComposeError, invalid},
    interpolate::Vars,
    names::matches,
    reasons,
    value::{child, item, key_values, list, sorted_keys, string},
};
use crate::api::{Build, BuildArg, GitSource, Platform, patterns};

const REVISION: &str = r"^[A-Za-z0-9][A-Za-z0-9_./-]*$";

/// Reads `build` at `path`. `platform` is the service's own `platform` (it wins over
/// `build.platforms`), with its path.
pub(crate) fn build(
    v: &Value,
    path: &str,
    platform: Option<(&str, &str)>,
    base_dir: &Path,
    git: Option<&GitOrigin>,
    vars: &Vars,
    notes: &mut Vec<Note>,
) -> Result<Build, ComposeError> {
    let empty = super::value::Mapping::new();
    let (m, context) = match v {
        Value::Object(m) => {
            let ctx = m.get("context").map(|c| string(c, &child(path, "context"))).transpose()?;
            (m, ctx.unwrap_or_else(|| ".".to_string()))
        }
        Value::Null => (&empty, ".".to_string()),
        other => (&empty, string(other, path)?),
    };
    for key in sorted_keys(m) {
        match key.as_str() {
            "context" | "dockerfile" | "args" | "target" | "platforms" => {}
            _ => notes.unsupported(child(path, key), reasons::build(key)),
        }
    }
    let context_path = if v.is_object() { child(path, "context") } else { path.to_string() };
    let (git_source, local, sub) = source(&context, &context_path, base_dir, git)?;
    let dockerfile = match m.get("dockerfile") {
        Some(d) => dockerfile(&string(d, &child(path, "dockerfile"))?, &child(path, "dockerfile"))?,
        None => "Dockerfile".to_string(),
    };
    let target = match m.get("target") {
        Some(t) => {
            let tp = child(path, "target");
            let t = string(t, &tp)?;
            if t.len() > 128 || !matches(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", &t) {
                return Err(invalid(tp, format!("{t:?} is not a Dockerfile stage name")));
            }
            Some(t)
        }
        None => None,
    };
    let platform = match platform {
        Some((p, at)) => parse_platform(p, at)?,
        None => platforms(m.get("platforms"), &child(path, "platforms"), notes)?,
    };
    Ok(Build {
        git: git_source,
        context: local,
        path: sub,
        dockerfile,
        target,
        args: args(m.get("args"), &child(path, "args"), vars)?,
        platform,
        timeout_minutes: 60,
    })
}

type Source = (Option<GitSource>, Option<String>, Option<String>);

fn source(
    context: &str,
    path: &str,
    base_dir: &Path,
    git: Option<&GitOrigin>,
) -> Result<Source, ComposeError> {
    if let Some(remote) = remote(context, path)? {
        return Ok(remote);
    }
    let Some(origin) = git else {
        return Ok((None, Some(relative_display(&normalize(Path::new(context)))), None));
    };
    let url = origin.url.clone();
    if !matches(patterns::GIT_URL, &url) {
        return Err(invalid(
            path,
            format!(
                "the Git URL {url:?} is not an https URL of a repository without credentials, e.g. https://github.com/org/shop.git"
            ),
        ));
    }
    if let Some(rev) = &origin.revision
        && !matches(REVISION, rev)
    {
        return Err(invalid(
            path,
            format!("the Git revision {rev:?} is not a branch, a tag or a commit id"),
        ));
    }
    let abs =
        |p: &Path| std::path::absolute(p).map(|p| normalize(&p)).unwrap_or_else(|_| normalize(p));
    let dir = abs(&base_dir.join(context));
    let root = abs(&origin.root);
    let rel = dir.strip_prefix(&root).map_err(|_| {
        invalid(path, format!("{context} is outside the Git repository at {}; move the build context into it, or convert without --git-url", origin.root.display()))
    })?;
    let rel = relative_display(rel);
    let sub = if rel == "." { None } else { Some(rel) };
    if let Some(s) = &sub
        && (!matches(patterns::RELATIVE_PATH, s) || s.len() > 1024)
    {
        return Err(invalid(
            path,
            format!(
                "the directory {s:?} inside the repository has characters a build path cannot take (letters, digits, _, ., / and -)"
            ),
        ));
    }
    Ok((Some(GitSource { url, revision: origin.revision.clone(), secret_ref: None }), None, sub))
}

/// A remote context: an https Git URL with an optional `#ref:dir`; other remote forms are errors.
fn remote(context: &str, path: &str) -> Result<Option<Source>, ComposeError> {
    let lower = context.to_ascii_lowercase();
    if lower.starts_with("git@") || lower.starts_with("ssh://") || lower.starts_with("git://") {
        return Err(invalid(
            path,
            format!(
                "{context:?}: only https Git URLs are built, e.g. https://github.com/org/repo.git#main:dir"
            ),
        ));
    }
    let url_text = if lower.starts_with("github.com/") {
        format!("https://{context}")
    } else {
        context.to_string()
    };
    if !(url_text.starts_with("https://") || url_text.starts_with("http://")) {
        return Ok(None);
    }
    let (url, fragment) = match url_text.split_once('#') {
        Some((u, f)) => (u.to_string(), Some(f)),
        None => (url_text.clone(), None),
    };
    let known_host = ["https://github.com/", "https://gitlab.com/", "https://bitbucket.org/"]
        .iter()
        .any(|h| url.starts_with(h));
    if !(url.ends_with(".git") || fragment.is_some() || known_host) {
        return Err(invalid(
            path,
            format!(
                "{context:?} is not a Git repository URL (end it with .git); remote tarball contexts are not supported"
            ),
        ));
    }
    if url.contains('@') {
        return Err(invalid(
            path,
            "credentials in the URL would be written into the manifest; remove them, and for a private repository set spec.build.git.secretRef to a Secret with username and password",
        ));
    }
    if !matches(patterns::GIT_URL, &url) || url.len() > 2048 {
        return Err(invalid(
            path,
            format!("{url:?} is not a Git repository URL, e.g. https://github.com/org/repo.git"),
        ));
    }
    let (rev, dir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, d)) => (r, d),
            None => (f, ""),
        },
        None => ("", ""),
    };
    let revision = if rev.is_empty() {
        None
    } else if rev.len() <= 255 && matches(REVISION, rev) {
        Some(rev.to_string())
    } else {
        return Err(invalid(path, format!("{rev:?} is not a branch, a tag or a commit id")));
    };
    let dir = relative_display(&normalize(Path::new(dir.trim_matches('/'))));
    let sub = if dir == "." {
        None
    } else if matches(patterns::RELATIVE_PATH, &dir) && !dir.contains("..") && dir.len() <= 1024 {
        Some(dir)
    } else {
        return Err(invalid(path, format!("{dir:?} is not a directory inside the repository")));
    };
    Ok(Some((Some(GitSource { url, revision, secret_ref: None }), None, sub)))
}

fn dockerfile(text: &str, path: &str) -> Result<String, ComposeError> {
    let d = relative_display(&normalize(Path::new(text)));
    if Path::new(text).is_absolute()
        || d.starts_with("..")
        || !matches(patterns::RELATIVE_PATH, &d)
        || d.len() > 1024
    {
        return Err(invalid(
            path,
            format!(
                "{text:?}: the Dockerfile must be a path inside the build context, such as Dockerfile or docker/web.Dockerfile"
            ),
        ));
    }
    Ok(d)
}

fn args(v: Option<&Value>, path: &str, vars: &Vars) -> Result<Vec<BuildArg>, ComposeError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (name, value, p) in key_values(v, path)? {
        if !matches(patterns::BUILD_ARG_NAME, &name) || name.len() > 128 {
            return Err(invalid(
                p,
                format!(
                    "{name:?} is not a build argument name (letters, digits and _, not starting with a digit)"
                ),
            ));
        }
        // A bare name takes the variable of that name, and is left out when unset, as in Compose.
        let Some(value) = value.or_else(|| vars.get(&name).cloned()) else {
            continue;
        };
        if value.chars().count() > 4096 {
            return Err(invalid(p, "longer than 4096 characters"));
        }
        out.push(BuildArg { name, value: Some(value), value_from: None });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if out.len() > 50 {
        return Err(invalid(
            path,
            format!("{} build arguments; a build takes at most 50", out.len()),
        ));
    }
    Ok(out)
}

fn platforms(
    v: Option<&Value>,
    path: &str,
    notes: &mut Vec<Note>,
) -> Result<Platform, ComposeError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Platform::Amd64);
    };
    let items = list(v, path)?;
    let mut first = None;
    for (i, x) in items.iter().enumerate() {
        let ip = item(path, i);
        let p = parse_platform(&string(x, &ip)?, &ip)?;
        first.get_or_insert(p);
    }
    let platform = first.unwrap_or(Platform::Amd64);
    if items.len() > 1 {
        notes.changed(path, format!("one platform per service: {} is built", platform.as_str()));
    }
    Ok(platform)
}

/// `linux/amd64` or `linux/arm64` (and their aliases).
pub(crate) fn parse_platform(text: &str, path: &str) -> Result<Platform, ComposeError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "linux/amd64" | "linux/x86_64" | "amd64" | "x86_64" => Ok(Platform::Amd64),
        "linux/arm64" | "linux/arm64/v8" | "linux/aarch64" | "arm64" | "aarch64" => {
            Ok(Platform::Arm64)
        }
        _ => Err(invalid(
            path,
            format!("{text:?}: only linux/amd64 and linux/arm64 are built and run"),
        )),
    }
}

/// `p` without `.` components and with `a/..` folded, as written (not resolved on disk).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                match last {
                    Some(Component::Normal(_)) => {
                        out.pop();
                    }
                    Some(Component::RootDir | Component::Prefix(_)) => {}
                    _ => out.push(".."),
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A path with `/` separators, `.` when empty.
pub(crate) fn relative_display(p: &Path) -> String {
    let parts: Vec<String> =
        p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() {
        return ".".to_string();
    }
    let joined = parts.join("/");
    if p.has_root() { format!("/{}", joined.trim_start_matches('/')) } else { joined }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
