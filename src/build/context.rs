//! Packs a local build-context directory into a reproducible `tar.gz`, named by its digest.
//!
//! The CLI uploads the result to S3 for a remote (CodeBuild) image build, so the same tree must
//! always give byte-identical archives on any machine, and what is sent must be what `docker
//! build` would send.
//!
//! # Ignore files
//! `<dockerfile>.dockerignore` next to the Dockerfile (BuildKit's per-Dockerfile ignore file) wins
//! over `<context>/.dockerignore`; with neither, nothing is ignored. Semantics follow
//! <https://docs.docker.com/build/concepts/context/#dockerignore-files> and moby/patternmatcher
//! (`ignorefile.ReadAll` + `MatchesOrParentMatches`): comments are lines *starting* with `#`,
//! lines are trimmed and cleaned like Go's `filepath.Clean`, a leading `/` is dropped, the
//! syntax is Go's `filepath.Match` plus `**`, `!` re-includes, the last matching line decides,
//! and a path is excluded when it or any parent directory matches. As in Go, `[^...]` negates a
//! class and `[!...]` does not (`!` is then a literal). Where patternmatcher leaks regex syntax
//! (`^` outside a class, `\d`-style escapes) this module treats the characters literally, as
//! `filepath.Match` does. An excluded directory is only walked when an exception (`!`) line could
//! match something inside it, so an ignored `node_modules` is never read.
//!
//! # Archive format
//! Only regular files and symlinks are stored (no directory entries, so empty directories are
//! dropped), sorted by the byte order of their `/`-separated relative path, as GNU tar entries
//! (long names and link targets use GNU long-name records) with mtime [`MTIME`], uid/gid 0, no
//! user/group names, mode 0o755 for files with any executable bit else 0o644, and 0o777 for
//! symlinks, which are never followed (the `tar` crate normalizes link targets, e.g. `a//b` to
//! `a/b` and `/` to `//`, which resolve the same). Sockets, FIFOs and devices are skipped. The
//! Dockerfile is always stored, even when ignored. The limit is checked against sizes from
//! metadata before any content is read. Gzip uses level 6, header mtime 0, no file name and OS
//! byte 255. The digest is `sha256:<hex>` of the compressed bytes, so it also depends on the
//! compressor: changing flate2's backend or miniz_oxide's output can change digests, never
//! contents.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use regex::Regex;
use sha2::{Digest, Sha256};

/// Modification time stored on every entry: 1980-01-01T00:00:00Z.
pub const MTIME: u64 = 315_532_800;
const GZIP_LEVEL: u32 = 6;
const GZIP_OS_UNKNOWN: u8 = 255;
const IGNORE_DOC: &str = "https://docs.docker.com/build/concepts/context/#dockerignore-files";

/// A packed build context.
#[derive(Clone, PartialEq, Eq)]
pub struct PackedContext {
    /// The `tar.gz` bytes.
    pub archive: Vec<u8>,
    /// `sha256:<64 lowercase hex>` of `archive`.
    pub digest: String,
    /// Number of archive entries (regular files and symlinks).
    pub files: usize,
    /// Uncompressed bytes of file contents.
    pub size: u64,
}

impl fmt::Debug for PackedContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackedContext")
            .field("archive_len", &self.archive.len())
            .field("digest", &self.digest)
            .field("files", &self.files)
            .field("size", &self.size)
            .finish()
    }
}

/// Why a build context could not be packed.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context directory is missing, not a directory, or unreadable.
    #[error("build context {path}: {reason}; pass the directory that holds your sources")]
    ContextDir {
        /// The context directory as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The Dockerfile is missing, not a regular file, or outside the context.
    #[error(
        "Dockerfile {path:?} {reason} (build context {context}); pass the path of an existing \
         Dockerfile relative to the build context"
    )]
    Dockerfile {
        /// The Dockerfile path as given.
        path: String,
        /// The context directory.
        context: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a file or directory failed.
    #[error("cannot read {path}: {source}; check that it exists and is readable")]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A kept path or symlink target is not valid UTF-8.
    #[error(
        "{path}: its name or symlink target is not valid UTF-8; rename it or add it to \
         .dockerignore"
    )]
    NonUtf8Path {
        /// The offending path.
        path: PathBuf,
    },
    /// A line of the ignore file is not a valid pattern.
    #[error(
        "{file}, line {line}: invalid pattern {pattern:?}: {reason}; fix or remove the line \
         (syntax: {IGNORE_DOC})"
    )]
    IgnorePattern {
        /// The ignore file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line, trimmed.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The files kept after ignoring add up to more than the limit.
    #[error(
        "build context is {} after applying .dockerignore, more than the {} limit; largest \
         files: {}. Add what the build does not need to .dockerignore, or raise the limit",
        human(.size),
        human(.limit),
        list_sizes(.largest)
    )]
    TooLarge {
        /// Total uncompressed bytes of kept files.
        size: u64,
        /// The limit that was exceeded.
        limit: u64,
        /// Up to five largest kept files, largest first.
        largest: Vec<(String, u64)>,
    },
}

/// Packs `dir` into a reproducible `tar.gz` (see the module docs for the exact format).
///
/// `dockerfile` is relative to `dir` and is always included; `limit` bounds the uncompressed
/// size of the kept files and is checked from metadata before any content is read.
pub fn pack(dir: &Path, dockerfile: &str, limit: u64) -> Result<PackedContext, ContextError> {
    check_context_dir(dir)?;
    let dockerfile = resolve_dockerfile(dir, dockerfile)?;
    let matcher = load_ignore(dir, &dockerfile.path)?;
    let mut entries = walk(dir, &matcher)?;
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    if let Err(at) = entries.binary_search_by(|e| e.path.cmp(&dockerfile.path)) {
        entries.insert(at, dockerfile);
    }
    check_limit(&entries, limit)?;
    let (archive, size) = write_archive(dir, &entries)?;
    let digest = format!("sha256:{}", digest_hex(&archive));
    Ok(PackedContext { archive, digest, files: entries.len(), size })
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn digest_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One archive entry, found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File { size: u64, exec: bool },
    Symlink(String),
}

fn check_context_dir(dir: &Path) -> Result<(), ContextError> {
    let fail = |reason: String| ContextError::ContextDir { path: dir.to_path_buf(), reason };
    match fs::metadata(dir) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(fail("is not a directory".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(fail("does not exist".into())),
        Err(e) => Err(fail(format!("cannot be read: {e}"))),
    }
}

/// Checks that the Dockerfile is a regular file reached through real directories of the context.
fn resolve_dockerfile(root: &Path, dockerfile: &str) -> Result<Entry, ContextError> {
    let fail = |reason: &str| ContextError::Dockerfile {
        path: dockerfile.into(),
        context: root.to_path_buf(),
        reason: reason.into(),
    };
    let given = if cfg!(windows) { dockerfile.replace('\\', "/") } else { dockerfile.into() };
    let rel = clean(&given);
    if rel.starts_with('/') || rel == ".." || rel.starts_with("../") {
        return Err(fail("is outside the build context"));
    }
    if rel == "." {
        return Err(fail("is not a regular file"));
    }
    let mut abs = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        abs.push(part);
        let md = match fs::symlink_metadata(&abs) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(fail("does not exist")),
            Err(source) => return Err(ContextError::Io { path: abs, source }),
        };
        if i + 1 == parts.len() {
            if !md.is_file() {
                return Err(fail("is not a regular file (symlinks are not followed)"));
            }
            return Ok(Entry { path: rel, kind: Kind::File { size: md.len(), exec: exec(&md) } });
        }
        if !md.is_dir() {
            return Err(fail("is not under real directories (symlinks are not followed)"));
        }
    }
    Err(fail("is not a regular file"))
}

fn load_ignore(root: &Path, dockerfile: &str) -> Result<Matcher, ContextError> {
    for file in [root.join(format!("{dockerfile}.dockerignore")), root.join(".dockerignore")] {
        match fs::read(&file) {
            Ok(bytes) => return Matcher::parse(&String::from_utf8_lossy(&bytes), &file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ContextError::Io { path: file, source }),
        }
    }
    Ok(Matcher::default())
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The compiled lines of an ignore file, in order.
#[derive(Debug, Default)]
struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Reads ignore-file text like moby's `ignorefile.ReadAll` followed by `patternmatcher.New`.
    fn parse(text: &str, file: &Path) -> Result<Self, ContextError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let fail = |reason: String| ContextError::IgnorePattern {
                file: file.to_path_buf(),
                line: index + 1,
                pattern: line.into(),
                reason,
            };
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(fail("`!` must be followed by a pattern".into()));
            }
            let cleaned = clean(body);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest,
                _ => &cleaned,
            };
            patterns.push(Pattern::new(cleaned, exception).map_err(fail)?);
        }
        Ok(Matcher { patterns })
    }

    /// patternmatcher's `MatchesOrParentMatches`: the last line matching the path or one of its
    /// parent directories decides.
    fn excluded(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exception != matched {
                continue;
            }
            if p.regex.is_match(path) || parents.iter().any(|d| p.regex.is_match(d)) {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Whether an exception line could re-include something strictly inside excluded `dir`.
    fn may_reinclude_under(&self, dir: &str) -> bool {
        let segments: Vec<&str> = dir.split('/').collect();
        self.patterns.iter().any(|p| p.exception && p.may_match_under(&segments))
    }
}

/// One ignore-file line.
#[derive(Debug)]
struct Pattern {
    exception: bool,
    regex: Regex,
    /// Anchored regexes of the leading `/`-separated segments, up to the first `**`.
    segments: Vec<Regex>,
    /// Whether the pattern can match paths with more segments than `segments`.
    deep: bool,
}

/// A token of Go `filepath.Match` syntax plus `**`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    Any,
    /// `**`, with a directly following `/` consumed as patternmatcher does.
    DoubleStar,
    Class {
        regex: String,
        matches_slash: bool,
    },
}

impl Pattern {
    fn new(pattern: &str, exception: bool) -> Result<Self, String> {
        let toks = tokenize(pattern)?;
        let body = match pattern.strip_prefix("**") {
            // patternmatcher's suffix fast path: `**foo` (rest all literal) matches any path
            // ending in `foo`, e.g. `barfoo`, unlike its regex path.
            Some(rest)
                if !rest.is_empty()
                    && !rest.starts_with('/')
                    && !rest.contains(['*', '?', '\\', '[', ']']) =>
            {
                format!(".*{}", to_regex(&toks[1..]))
            }
            _ => to_regex(&toks),
        };
        let regex = anchored(&body)?;
        let (segments, deep) = segment_regexes(&toks)?;
        Ok(Pattern { exception, regex, segments, deep })
    }

    /// Conservative: true unless no path strictly below `dir` can match.
    fn may_match_under(&self, dir: &[&str]) -> bool {
        for (i, name) in dir.iter().enumerate() {
            match self.segments.get(i) {
                Some(re) if !re.is_match(name) => return false,
                Some(_) => {}
                None => return self.deep,
            }
        }
        self.deep || self.segments.len() > dir.len()
    }
}

fn anchored(body: &str) -> Result<Regex, String> {
    Regex::new(&format!("(?s)^{body}$")).map_err(|e| format!("cannot compile it: {e}"))
}

fn tokenize(pattern: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut it = pattern.chars().peekable();
    while let Some(c) = it.next() {
        toks.push(match c {
            '*' if it.next_if_eq(&'*').is_some() => {
                it.next_if_eq(&'/');
                Tok::DoubleStar
            }
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => Tok::Lit(it.next().ok_or("it ends with an unescaped `\\`")?),
            '[' => class(&mut it)?,
            c => Tok::Lit(c),
        });
    }
    Ok(toks)
}

/// Parses a character class after its `[`, with `filepath.Match`'s rules.
fn class(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Tok, String> {
    let negated = it.next_if_eq(&'^').is_some();
    let mut regex = String::from(if negated { "[^" } else { "[" });
    let mut has_slash = false;
    let mut ranges = 0;
    while ranges == 0 || it.next_if_eq(&']').is_none() {
        let lo = class_char(it)?;
        let hi = if it.next_if_eq(&'-').is_some() { class_char(it)? } else { lo };
        if hi < lo {
            return Err(format!("character range {lo}-{hi} is out of order"));
        }
        push_literal(&mut regex, lo);
        regex.push('-');
        push_literal(&mut regex, hi);
        has_slash |= lo <= '/' && '/' <= hi;
        ranges += 1;
    }
    regex.push(']');
    Ok(Tok::Class { regex, matches_slash: has_slash != negated })
}

fn class_char(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    match it.next() {
        None => Err("a character class `[` is not closed by `]`".into()),
        Some('-' | ']') => Err("a character class is empty or has a misplaced `-` or `]`".into()),
        Some('\\') => it.next().ok_or_else(|| "it ends with an unescaped `\\`".into()),
        Some(c) => Ok(c),
    }
}

fn push_literal(regex: &mut String, c: char) {
    if c.is_ascii_punctuation() {
        regex.push('\\');
    }
    regex.push(c);
}

fn to_regex(toks: &[Tok]) -> String {
    let mut regex = String::new();
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Lit(c) => push_literal(&mut regex, *c),
            Tok::Star => regex.push_str("[^/]*"),
            Tok::Any => regex.push_str("[^/]"),
            Tok::DoubleStar if i + 1 == toks.len() => regex.push_str(".*"),
            Tok::DoubleStar => regex.push_str("(?:.*/)?"),
            Tok::Class { regex: class, .. } => regex.push_str(class),
        }
    }
    regex
}

/// Splits a pattern into per-segment regexes up to its first `**`; see [`Pattern::segments`].
fn segment_regexes(toks: &[Tok]) -> Result<(Vec<Regex>, bool), String> {
    if toks.iter().any(|t| matches!(t, Tok::Class { matches_slash: true, .. })) {
        return Ok((Vec::new(), true));
    }
    let mut segments = Vec::new();
    for segment in toks.split(|t| *t == Tok::Lit('/')) {
        if segment.contains(&Tok::DoubleStar) {
            return Ok((segments, true));
        }
        segments.push(anchored(&to_regex(segment))?);
    }
    Ok((segments, false))
}

/// Lists kept regular files and symlinks, reading metadata only.
fn walk(root: &Path, matcher: &Matcher) -> Result<Vec<Entry>, ContextError> {
    let mut entries = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let abs = root.join(&dir);
        let read = fs::read_dir(&abs).map_err(io_error(&abs))?;
        for item in read {
            let item = item.map_err(io_error(&abs))?;
            let name = item.file_name();
            let rel = if dir.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{dir}/{}", name.to_string_lossy())
            };
            let file_type = item.file_type().map_err(io_error(&item.path()))?;
            let excluded = matcher.excluded(&rel);
            let keep = if file_type.is_dir() {
                !excluded || matcher.may_reinclude_under(&rel)
            } else {
                !excluded && (file_type.is_file() || file_type.is_symlink())
            };
            if !keep {
                continue;
            }
            if name.to_str().is_none() {
                return Err(ContextError::NonUtf8Path { path: item.path() });
            }
            if file_type.is_dir() {
                dirs.push(rel);
            } else {
                entries.push(Entry { kind: entry_kind(&item, file_type.is_symlink())?, path: rel });
            }
        }
    }
    Ok(entries)
}

fn entry_kind(item: &fs::DirEntry, symlink: bool) -> Result<Kind, ContextError> {
    let path = item.path();
    if symlink {
        let target = fs::read_link(&path).map_err(io_error(&path))?;
        let target = target.to_str().ok_or(ContextError::NonUtf8Path { path: path.clone() })?;
        return Ok(Kind::Symlink(target.into()));
    }
    let md = item.metadata().map_err(io_error(&path))?;
    Ok(Kind::File { size: md.len(), exec: exec(&md) })
}

#[cfg(unix)]
fn exec(md: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    md.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn exec(_: &fs::Metadata) -> bool {
    false
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ContextError + use<> {
    let path = path.to_path_buf();
    move |source| ContextError::Io { path, source }
}

fn check_limit(entries: &[Entry], limit: u64) -> Result<(), ContextError> {
    let mut files: Vec<(String, u64)> = entries
        .iter()
        .filter_map(|e| match e.kind {
            Kind::File { size, .. } => Some((e.path.clone(), size)),
            Kind::Symlink(_) => None,
        })
        .collect();
    let size = files.iter().fold(0u64, |total, (_, n)| total.saturating_add(*n));
    if size <= limit {
        return Ok(());
    }
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    files.truncate(5);
    Err(ContextError::TooLarge { size, limit, largest: files })
}

/// Writes the sorted entries; returns the archive and the bytes of file content read.
fn write_archive(root: &Path, entries: &[Entry]) -> Result<(Vec<u8>, u64), ContextError> {
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), Compression::new(GZIP_LEVEL));
    let mut tar = tar::Builder::new(gz);
    let mut size = 0u64;
    for entry in entries {
        let abs = root.join(&entry.path);
        let mut header = tar::Header::new_gnu();
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        let written = match &entry.kind {
            Kind::File { exec, .. } => {
                let data = fs::read(&abs).map_err(io_error(&abs))?;
                size += data.len() as u64;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *exec { 0o755 } else { 0o644 });
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, &entry.path, data.as_slice())
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, &entry.path, target)
            }
        };
        written.map_err(io_error(&abs))?;
    }
    let gz = tar.into_inner().map_err(io_error(root))?;
    let archive = gz.finish().map_err(io_error(root))?;
    Ok((archive, size))
}

/// `1536` → `1.5 KiB`.
fn human(bytes: &u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if *bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = *bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn list_sizes(files: &[(String, u64)]) -> String {
    let items: Vec<String> = files.iter().map(|(p, n)| format!("{p} ({})", human(n))).collect();
    items.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, SystemTime};

    const BIG: u64 = 1 << 30;

    /// A unique scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("ctxpack-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, rel: &str, content: &[u8]) -> PathBuf {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, content).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Unpacked {
        File(Vec<u8>, u32),
        Link(String),
    }

    /// Unpacks with `tar::Archive`, checking the fixed header fields of every entry.
    fn unpack(archive: &[u8]) -> Vec<(String, Unpacked)> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        let mut out = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.mtime().unwrap(), MTIME);
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
            assert_eq!(header.username().unwrap(), Some(""));
            let mode = header.mode().unwrap();
            let path = entry.path().unwrap().to_str().unwrap().to_owned();
            let item = if header.entry_type().is_symlink() {
                assert_eq!(mode, 0o777);
                Unpacked::Link(entry.link_name().unwrap().unwrap().to_str().unwrap().into())
            } else {
                assert!(header.entry_type().is_file(), "{path}");
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                Unpacked::File(data, mode)
            };
            out.push((path, item));
        }
        out
    }

    fn paths(archive: &[u8]) -> Vec<String> {
        unpack(archive).into_iter().map(|(p, _)| p).collect()
    }

    fn matcher(text: &str) -> Matcher {
        Matcher::parse(text, Path::new(".dockerignore")).unwrap()
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(not(unix))]
    fn chmod(_: &Path, _: u32) {}

    fn touch(path: &Path, secs: u64) {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        fs::File::options().write(true).open(path).unwrap().set_modified(time).unwrap();
    }

    #[test]
    fn patterns_match_like_docker() {
        // (ignore file, path, excluded)
        let cases: &[(&str, &str, bool)] = &[
            ("*/temp*", "somedir/temporary.txt", true),
            ("*/temp*", "somedir/temp", true),
            ("*/temp*", "temp", false),
            ("*/temp*", "a/b/temp.txt", false),
            ("*/*/temp*", "somedir/subdir/temporary.txt", true),
            ("*/*/temp*", "somedir/temporary.txt", false),
            ("temp?", "tempa", true),
            ("temp?", "temp", false),
            ("temp?", "tempab", false),
            ("temp?", "dir/tempa", false),
            ("**/*.go", "a.go", true),
            ("**/*.go", "x/y/a.go", true),
            ("**/*.go", "a.go.txt", false),
            ("*.md\n!README.md", "README.md", false),
            ("*.md\n!README.md", "CHANGES.md", true),
            ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true),
            ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", false),
            ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false),
            ("node_modules", "node_modules", true),
            ("node_modules", "node_modules/a/b.js", true),
            ("node_modules", "src/node_modules/a.js", false),
            ("node_modules\n!node_modules/keep.txt", "node_modules/keep.txt", false),
            ("node_modules\n!node_modules/keep.txt", "node_modules/other.txt", true),
            ("node_modules\n!node_modules/keep", "node_modules/keep/deep.txt", false),
            ("/secret", "secret", true),
            ("/secret", "a/secret", false),
            ("!/secret", "secret", false),
            ("./build/", "build/out.o", true),
            ("a//b", "a/b", true),
            ("x/../b", "b", true),
            ("[a-c].txt", "b.txt", true),
            ("[a-c].txt", "d.txt", false),
            ("[^a].txt", "a.txt", false),
            ("[^a].txt", "b.txt", true),
            ("[!a].txt", "!.txt", true), // Go: `!` is no negation
            ("[!a].txt", "b.txt", false),
            ("[\\]x].txt", "].txt", true),
            ("[*?].txt", "?.txt", true),
            ("\\*.txt", "*.txt", true),
            ("\\*.txt", "a.txt", false),
            ("file\\?", "file?", true),
            ("file\\?", "filex", false),
            ("a+b(c){d}|$&&~.txt", "a+b(c){d}|$&&~.txt", true),
            ("a.txt", "abtxt", false),
            ("a^b*", "a^bc", true),
            ("# comment\n#x", "# comment", false),
            ("#x", "#x", false),
            ("  *.log  ", "a.log", true),
            ("*.log\n! keep.log", "keep.log", false),
            ("*.log\n! keep.log", "other.log", true),
            ("**", "any/thing", true),
            ("a/**", "a/x/y", true),
            ("a/**", "a", false),
            ("a/**", "ab/x", false),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/xb", false),
            ("**foo", "barfoo", true), // patternmatcher's suffix fast path
            ("**/foo", "barfoo", false),
            ("**/foo", "bar/foo", true),
            ("\u{feff}bom", "bom", true),
            ("*.txt\r\nkeep\r\n", "a.txt", true),
            ("*", "dir/file", true),
            ("日本?", "日本語", true),
            ("", "anything", false),
        ];
        for (ignore, path, want) in cases {
            assert_eq!(matcher(ignore).excluded(path), *want, "{ignore:?} vs {path:?}");
        }
    }

    #[test]
    fn invalid_patterns_name_file_and_line() {
        let cases: &[(&str, usize)] = &[
            ("[", 1),
            ("ok\n[]", 2),
            ("[a-]", 1),
            ("[-a]", 1),
            ("[^]", 1),
            ("a\\", 1),
            ("[a\\", 1),
            ("x\n\n!", 3),
            ("# c\n[z-a]", 2),
        ];
        for (ignore, line) in cases {
            let err = Matcher::parse(ignore, Path::new("ctx/.dockerignore")).unwrap_err();
            assert!(matches!(err, ContextError::IgnorePattern { line: l, .. } if l == *line));
            let msg = err.to_string();
            assert!(msg.contains(&format!("ctx/.dockerignore, line {line}")), "{msg}");
        }
    }

    #[test]
    fn excluded_dirs_are_walked_only_when_an_exception_may_apply() {
        let keep = "node_modules\n!node_modules/keep.txt";
        let cases: &[(&str, &str, bool)] = &[
            (keep, "node_modules", true),
            (keep, "node_modules/sub", false),
            (keep, "other", false),
            ("node_modules", "node_modules", false),
            ("x\n!**/*.md", "x/y", true),
            ("x\n!*.md", "x", false),
            ("x\n!x/*/keep", "x/a", true),
            ("x\n!x/*/keep", "x/a/b", false),
            ("x\n!y/*/keep", "x", false),
            ("x\n!x/**/keep", "x/a/b/c", true),
            ("x\n![^a]y", "x", true),
        ];
        for (ignore, dir, want) in cases {
            assert_eq!(matcher(ignore).may_reinclude_under(dir), *want, "{ignore:?} {dir:?}");
        }
    }

    #[test]
    fn clean_matches_go() {
        let cases = [
            ("", "."),
            ("./a", "a"),
            ("a//b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/./b/.", "a/b"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    fn sample_tree(s: &Scratch, reverse: bool, mode: u32, secs: u64) {
        let mut files: Vec<(&str, &[u8])> = vec![
            ("Dockerfile", b"FROM scratch\nCOPY . /\n"),
            ("src/main.rs", b"fn main() {}\n"),
            ("src/a-b.txt", b"dash sorts before slash"),
            ("run.sh", b"#!/bin/sh\n"),
            (".dockerignore", b"*.log\n"),
            ("debug.log", b"noise"),
        ];
        if reverse {
            files.reverse();
        }
        for (rel, data) in files {
            let path = s.write(rel, data);
            chmod(&path, if rel == "run.sh" { mode | 0o100 } else { mode });
            touch(&path, secs);
        }
    }

    #[test]
    fn same_tree_gives_same_digest_anywhere() {
        let (a, b) = (Scratch::new(), Scratch::new());
        sample_tree(&a, false, 0o600, 1_000_000);
        sample_tree(&b, true, 0o664, 2_000_000_000);
        let first = pack(&a.0, "Dockerfile", BIG).unwrap();
        assert_eq!(first, pack(&a.0, "Dockerfile", BIG).unwrap());
        assert_eq!(first, pack(&b.0, "Dockerfile", BIG).unwrap());
        assert_eq!(first.digest, format!("sha256:{}", digest_hex(&first.archive)));
        assert_eq!(first.digest.len(), 7 + 64);
        assert_eq!(
            paths(&first.archive),
            [".dockerignore", "Dockerfile", "run.sh", "src/a-b.txt", "src/main.rs"]
        );
        assert_eq!(first.files, 5);
        assert_eq!(first.size, 6 + 22 + 10 + 23 + 13);
        let modes: Vec<u32> = unpack(&first.archive)
            .into_iter()
            .map(|(_, u)| match u {
                Unpacked::File(_, mode) => mode,
                Unpacked::Link(_) => 0,
            })
            .collect();
        let exec = if cfg!(unix) { 0o755 } else { 0o644 };
        assert_eq!(modes, [0o644, 0o644, exec, 0o644, 0o644]);

        a.write("debug.log", b"ignored change");
        assert_eq!(pack(&a.0, "Dockerfile", BIG).unwrap().digest, first.digest);
        a.write("src/main.rs", b"fn main() {}\r");
        assert_ne!(pack(&a.0, "Dockerfile", BIG).unwrap().digest, first.digest);
    }

    #[test]
    fn tar_stream_matches_golden_digest() {
        let s = Scratch::new();
        sample_tree(&s, false, 0o644, 1);
        let packed = pack(&s.0, "Dockerfile", BIG).unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&packed.archive[..]).read_to_end(&mut tar).unwrap();
        // Pins the uncompressed format (headers, order, padding); the gzip layer is left free.
        assert_eq!(digest_hex(&tar), GOLDEN_TAR_SHA256);
    }

    const GOLDEN_TAR_SHA256: &str =
        "1eb87de2609a1ad254ce75150896c472b8b385fd364ba80b507e116fa5f08139";

    #[test]
    fn gzip_header_is_fixed() {
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        let packed = pack(&s.0, "Dockerfile", BIG).unwrap();
        // magic, deflate, no flags (no file name), mtime 0, level-6 XFL 0, OS 255
        assert_eq!(packed.archive[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn dockerfile_is_kept_even_when_ignored() {
        let s = Scratch::new();
        s.write("docker/web.Dockerfile", b"FROM scratch\n");
        s.write("docker/other", b"x");
        s.write("app.py", b"print()\n");
        s.write(".dockerignore", b"docker\n*\n");
        let packed = pack(&s.0, "./docker//web.Dockerfile", BIG).unwrap();
        assert_eq!(paths(&packed.archive), ["docker/web.Dockerfile"]);
        assert_eq!(packed.size, 13);
    }

    #[test]
    fn per_dockerfile_ignore_file_wins() {
        let s = Scratch::new();
        s.write("docker/web.Dockerfile", b"FROM scratch\n");
        s.write("docker/web.Dockerfile.dockerignore", b"b.txt\n");
        s.write(".dockerignore", b"a.txt\n");
        s.write("a.txt", b"a");
        s.write("b.txt", b"b");
        let packed = pack(&s.0, "docker/web.Dockerfile", BIG).unwrap();
        assert_eq!(
            paths(&packed.archive),
            [
                ".dockerignore",
                "a.txt",
                "docker/web.Dockerfile",
                "docker/web.Dockerfile.dockerignore"
            ]
        );
        let other = pack(&s.0, "docker/web.Dockerfile.dockerignore", BIG).unwrap();
        assert!(!paths(&other.archive).contains(&"a.txt".to_string()));
    }

    #[test]
    fn exception_inside_excluded_dir_is_packed() {
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        s.write("node_modules/pkg/index.js", b"x");
        s.write("node_modules/keep.txt", b"keep");
        s.write("node_modules/deep/keep/me.txt", b"me");
        s.write("docs/a.md", b"a");
        s.write("docs/b.txt", b"b");
        let ignore = "node_modules\n!node_modules/keep.txt\n!node_modules/*/keep\ndocs\n!**/*.md\n";
        s.write(".dockerignore", ignore.as_bytes());
        let packed = pack(&s.0, "Dockerfile", BIG).unwrap();
        assert_eq!(
            paths(&packed.archive),
            [
                ".dockerignore",
                "Dockerfile",
                "docs/a.md",
                "node_modules/deep/keep/me.txt",
                "node_modules/keep.txt"
            ]
        );
    }

    #[test]
    fn too_large_names_the_biggest_files() {
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        for (i, name) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            s.write(&format!("data/{name}.bin"), &vec![0u8; 1000 * (i + 1)]);
        }
        s.write("big.log", &vec![0u8; 100_000]);
        s.write(".dockerignore", b"*.log\n");
        let total = 13 + 6 + 28_000;
        assert_eq!(pack(&s.0, "Dockerfile", total).unwrap().size, total);
        let err = pack(&s.0, "Dockerfile", total - 1).unwrap_err();
        let ContextError::TooLarge { size, limit, largest } = &err else { panic!("{err}") };
        assert_eq!((*size, *limit), (total, total - 1));
        let names: Vec<&str> = largest.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["data/g.bin", "data/f.bin", "data/e.bin", "data/d.bin", "data/c.bin"]);
        let msg = err.to_string();
        for needle in ["27.4 KiB", "27.4 KiB limit", "data/g.bin (6.8 KiB)", "raise the limit"] {
            assert!(msg.contains(needle), "{needle:?} not in {msg}");
        }
        assert!(!msg.contains("b.bin") && !msg.contains("big.log"), "{msg}");
    }

    #[test]
    fn long_paths_round_trip() {
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        let long = format!("{}/{}.txt", "d".repeat(60), "f".repeat(80));
        assert!(long.len() > 100);
        s.write(&long, b"long");
        let packed = pack(&s.0, "Dockerfile", BIG).unwrap();
        assert_eq!(
            unpack(&packed.archive),
            [
                ("Dockerfile".into(), Unpacked::File(b"FROM scratch\n".to_vec(), 0o644)),
                (long, Unpacked::File(b"long".to_vec(), 0o644)),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_stored_not_followed() {
        use std::os::unix::fs::symlink;
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        s.write("real/file.txt", b"data");
        symlink("real", s.0.join("dirlink")).unwrap();
        symlink("../outside/nowhere", s.0.join("dangling")).unwrap();
        let long_target = "t".repeat(150);
        symlink(&long_target, s.0.join("longlink")).unwrap();
        symlink("/usr/bin/env", s.0.join("root")).unwrap();
        let packed = pack(&s.0, "Dockerfile", BIG).unwrap();
        assert_eq!(
            unpack(&packed.archive),
            [
                ("Dockerfile".into(), Unpacked::File(b"FROM scratch\n".to_vec(), 0o644)),
                ("dangling".into(), Unpacked::Link("../outside/nowhere".into())),
                ("dirlink".into(), Unpacked::Link("real".into())),
                ("longlink".into(), Unpacked::Link(long_target)),
                ("real/file.txt".into(), Unpacked::File(b"data".to_vec(), 0o644)),
                ("root".into(), Unpacked::Link("/usr/bin/env".into())),
            ]
        );
        assert_eq!(packed.size, 13 + 4);
    }

    #[cfg(unix)]
    #[test]
    fn sockets_are_skipped_and_non_utf8_names_rejected_unless_ignored() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        let _socket = std::os::unix::net::UnixListener::bind(s.0.join("app.sock")).unwrap();
        assert_eq!(paths(&pack(&s.0, "Dockerfile", BIG).unwrap().archive), ["Dockerfile"]);

        let bad = s.0.join("junk").join(OsStr::from_bytes(b"bad\xff.txt"));
        fs::create_dir_all(bad.parent().unwrap()).unwrap();
        fs::write(&bad, b"x").unwrap();
        let err = pack(&s.0, "Dockerfile", BIG).unwrap_err();
        assert!(matches!(&err, ContextError::NonUtf8Path { path } if *path == bad), "{err}");
        s.write(".dockerignore", b"junk\n");
        assert_eq!(pack(&s.0, "Dockerfile", BIG).unwrap().files, 2);
    }

    #[test]
    fn bad_inputs_give_clear_errors() {
        let s = Scratch::new();
        s.write("Dockerfile", b"FROM scratch\n");
        s.write("sub/file", b"x");
        let missing = s.0.join("missing");
        let err = pack(&missing, "Dockerfile", BIG).unwrap_err();
        assert!(matches!(err, ContextError::ContextDir { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = pack(&s.0.join("Dockerfile"), "Dockerfile", BIG).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");

        let cases = [
            ("Dockerfile.prod", "does not exist"),
            ("../Dockerfile", "outside the build context"),
            ("sub/../../x", "outside the build context"),
            ("/etc/passwd", "outside the build context"),
            ("sub", "not a regular file"),
            (".", "not a regular file"),
            ("sub/file/Dockerfile", "not under real directories"),
        ];
        for (dockerfile, reason) in cases {
            let err = pack(&s.0, dockerfile, BIG).unwrap_err();
            assert!(matches!(err, ContextError::Dockerfile { .. }), "{dockerfile}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(reason) && msg.contains(dockerfile), "{msg}");
        }

        s.write(".dockerignore", b"# fine\n*.tmp\n[oops\n");
        let err = pack(&s.0, "Dockerfile", BIG).unwrap_err();
        assert!(err.to_string().contains(".dockerignore, line 3"), "{err}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(&0), "0 B");
        assert_eq!(human(&1023), "1023 B");
        assert_eq!(human(&1536), "1.5 KiB");
        assert_eq!(human(&(500 << 20)), "500.0 MiB");
        assert_eq!(human(&u64::MAX), "16384.0 PiB");
    }
}
