//! One version for the crate, the `byoc` binary, the image and the Helm chart: Cargo.toml,
//! Cargo.lock, Chart.yaml's `version` and `appVersion`, the image tag the chart defaults to and
//! CHANGELOG.md's latest release agree. `byoc version` shows the commit and build date that
//! build.rs finds, checked on the real binary and on build.rs run alone in scratch directories (a
//! Git checkout; a Docker build context without `.git`). `scripts/changelog-section` prints the
//! notes of one release. Does IO: reads files, runs the binary, git, rustc and the script.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the chart's image defaults to: the project's public registry owner.
const IMAGE: &str = "ghcr.io/byoc-dev/byoc-operator";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `## [...]` headings of a changelog, in order, as (name, rest of the line).
fn changelog_headings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .map(|l| {
            let (name, rest) = l.split_once(']').unwrap_or_else(|| panic!("## [{l}: no ]"));
            (name.to_string(), rest.to_string())
        })
        .collect()
}

/// `MAJOR.MINOR.PATCH[-PRE]` as a sortable key: a pre-release sorts before its release.
fn version_key(version: &str) -> (u64, u64, u64, bool, String) {
    let (core, pre) = version.split_once('-').unwrap_or((version, ""));
    let numbers: Vec<u64> = core
        .split('.')
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{version} is not MAJOR.MINOR.PATCH")))
        .collect();
    assert_eq!(numbers.len(), 3, "{version} is not MAJOR.MINOR.PATCH");
    (numbers[0], numbers[1], numbers[2], pre.is_empty(), pre.to_string())
}

#[test]
fn every_artifact_carries_the_crate_version() {
    let chart = yaml("charts/byoc-operator/Chart.yaml");
    let values = yaml("charts/byoc-operator/values.yaml");
    let lock = read("Cargo.lock");
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"byoc-operator\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string());
    let released = changelog_headings(&read("CHANGELOG.md"))
        .into_iter()
        .map(|(name, _)| name)
        .find(|name| name != "Unreleased");
    let tag = match values["image"]["tag"].as_str().unwrap_or("?") {
        "" => chart["appVersion"].as_str().unwrap_or("?"),
        tag => tag,
    };
    let found = [
        ("Cargo.lock (run `cargo update -p byoc-operator`)", locked),
        ("Chart.yaml version", chart["version"].as_str().map(str::to_string)),
        ("Chart.yaml appVersion", chart["appVersion"].as_str().map(str::to_string)),
        ("the image tag values.yaml gives (empty means appVersion)", Some(tag.to_string())),
        ("CHANGELOG.md's latest release", released),
    ];
    let wrong: Vec<String> = found
        .iter()
        .filter(|(_, v)| v.as_deref() != Some(VERSION))
        .map(|(what, v)| format!("{what}: {v:?}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "Cargo.toml says {VERSION}; a release bumps every one of these with it:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_chart_installs_the_published_image_at_its_app_version() {
    let image = &yaml("charts/byoc-operator/values.yaml")["image"];
    assert_eq!(image["repository"], IMAGE, "the project's public image");
    assert_eq!(image["tag"], "", "empty: the chart's appVersion, which is the crate version");
    assert_eq!(image["digest"], "", "the release workflow pins the digest in the packaged chart");
}

#[test]
fn the_changelog_keeps_a_changelog_with_unreleased_first_and_dated_releases_newest_first() {
    let text = read("CHANGELOG.md");
    assert!(text.contains("https://keepachangelog.com/en/1.1.0/"), "names its format");
    let headings = changelog_headings(&text);
    let level2: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(level2.len(), headings.len(), "every section is `## [NAME]`: {level2:?}");
    assert_eq!(headings.first().map(|h| h.0.as_str()), Some("Unreleased"), "{headings:?}");
    let date = regex::Regex::new(r"^ - \d{4}-\d{2}-\d{2}$").unwrap();
    let mut previous: Option<&str> = None;
    for (name, rest) in &headings[1..] {
        assert!(date.is_match(rest), "## [{name}] needs ` - YYYY-MM-DD`, not {rest:?}");
        if let Some(newer) = previous {
            assert!(version_key(newer) > version_key(name), "{newer} is listed before {name}");
        }
        previous = Some(name);
    }
    for (name, _) in &headings {
        let link = format!("\n[{name}]: https://");
        assert!(text.contains(&link), "no link reference for [{name}] at the end");
    }
}

/// `byoc ARGS`'s stdout; panics with its stderr when it fails.
fn byoc(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_byoc")).args(args).output().unwrap();
    assert!(output.status.success(), "byoc {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// `git ARGS` in `dir` with no user or system configuration; its trimmed stdout, or None.
fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .envs(env.iter().copied())
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[test]
fn byoc_version_prints_the_version_the_commit_and_the_build_date() {
    let line = byoc(&["version"]);
    let pattern = regex::Regex::new(r"^byoc (\S+) \(commit (\S+), built (\S+)\)\n$").unwrap();
    let parts = pattern.captures(&line).unwrap_or_else(|| panic!("byoc version: {line:?}"));
    assert_eq!(&parts[1], VERSION);
    let root = repo_root();
    let checkout = root.join(".git").exists();
    let head = checkout.then(|| git(&root, &["rev-parse", "--short=12", "HEAD"], &[])).flatten();
    match head {
        Some(head) => assert_eq!(&parts[2], head, "the checkout's HEAD"),
        None => assert!(&parts[2] == "unknown" || parts[2].len() == 12, "{line}"),
    }
    let commit_date = checkout
        .then(|| {
            let args = ["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d"];
            git(&root, &args, &[("TZ", "UTC")])
        })
        .flatten();
    match (std::env::var("SOURCE_DATE_EPOCH").ok().filter(|v| !v.is_empty()), commit_date) {
        (None, Some(date)) => assert_eq!(&parts[3], date, "the commit's date in UTC, not today"),
        _ => assert!(
            regex::Regex::new(r"^(\d{4}-\d{2}-\d{2}|unknown)$").unwrap().is_match(&parts[3])
        ),
    }
    let clap = byoc(&["--version"]);
    assert!(
        clap == format!("byoc {VERSION}\n") || clap == line,
        "clap's --version names the same version, or says all `byoc version` says: {clap:?}"
    );
}

/// build.rs compiled on its own, once per test process.
fn build_script() -> &'static Path {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("build-info");
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join(format!("build-script-{}", std::process::id()));
        let output = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args(["--edition", "2024", "-o"])
            .arg(&binary)
            .arg(repo_root().join("build.rs"))
            .output()
            .expect("rustc runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        binary
    })
}

/// What build.rs tells Cargo when run for a package in `dir` with only `env` set.
struct BuildInfo {
    commit: String,
    date: String,
    watched: Vec<String>,
    env_watched: Vec<String>,
}

fn run_build_script(dir: &Path, env: &[(&str, &str)]) -> Result<BuildInfo, String> {
    let Output { status, stdout, stderr } = Command::new(build_script())
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CARGO_MANIFEST_DIR", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if !status.success() {
        return Err(String::from_utf8_lossy(&stderr).into_owned());
    }
    let stdout = String::from_utf8(stdout).unwrap();
    let values = |prefix: &str| -> Vec<String> {
        stdout.lines().filter_map(|l| l.strip_prefix(prefix)).map(str::to_string).collect()
    };
    let one = |name: &str| -> String {
        let found = values(&format!("cargo:rustc-env={name}="));
        assert_eq!(found.len(), 1, "{name} set once: {stdout}");
        found[0].clone()
    };
    Ok(BuildInfo {
        commit: one("BYOC_GIT_COMMIT"),
        date: one("BYOC_BUILD_DATE"),
        watched: values("cargo:rerun-if-changed="),
        env_watched: values("cargo:rerun-if-env-changed="),
    })
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("build-info")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn without_git_the_commit_and_date_come_from_the_build_arguments() {
    let dir = scratch("context");
    let sha = "6A67109D2E1F3C4B5A69788796A5B4C3D2E1F0A9";
    let cases = [
        ("the epoch", "0", "1970-01-01"),
        ("a leap day", "951782400", "2000-02-29"),
        ("a day of a release", "1764720000", "2025-12-03"),
        ("the last second before a century that is no leap year", "4107542399", "2100-02-28"),
        ("a day before the epoch", "-86400", "1969-12-31"),
        ("surrounding blanks", " 1764720000\n", "2025-12-03"),
    ];
    for (reason, epoch, date) in cases {
        let env = [("BYOC_GIT_COMMIT", sha), ("SOURCE_DATE_EPOCH", epoch)];
        let info = run_build_script(&dir, &env).unwrap_or_else(|e| panic!("{reason}: {e}"));
        assert_eq!(info.commit, "6a67109d2e1f", "{reason}: 12 hex digits, lower case");
        assert_eq!(info.date, date, "{reason}: SOURCE_DATE_EPOCH={epoch:?}");
    }
    let info = run_build_script(&dir, &[]).unwrap();
    assert_eq!((info.commit.as_str(), info.date.as_str()), ("unknown", "unknown"));
    assert_eq!(info.watched, ["build.rs"], "nothing else to watch outside a checkout");
    assert_eq!(info.env_watched, ["BYOC_GIT_COMMIT", "SOURCE_DATE_EPOCH"]);
    let empty = run_build_script(&dir, &[("BYOC_GIT_COMMIT", ""), ("SOURCE_DATE_EPOCH", "")]);
    let empty = empty.unwrap();
    assert_eq!((empty.commit.as_str(), empty.date.as_str()), ("unknown", "unknown"));
}

#[test]
fn build_arguments_that_are_not_a_commit_or_a_time_stop_the_build_naming_them() {
    let dir = scratch("bad");
    let cases = [
        ("a date instead of seconds", "SOURCE_DATE_EPOCH", "2026-12-03"),
        ("seconds with a fraction", "SOURCE_DATE_EPOCH", "1764720000.5"),
        ("a branch instead of a commit", "BYOC_GIT_COMMIT", "main"),
        ("a commit too short to be one", "BYOC_GIT_COMMIT", "6a671"),
    ];
    for (reason, variable, value) in cases {
        match run_build_script(&dir, &[(variable, value)]) {
            Ok(info) => panic!("{reason}: {variable}={value} gave {}/{}", info.commit, info.date),
            Err(e) => assert!(e.contains(variable) && e.contains(value), "{reason}: {e}"),
        }
    }
}

#[test]
fn in_a_checkout_the_commit_and_its_utc_date_win_and_only_the_refs_naming_head_are_watched() {
    let dir = scratch("checkout");
    git(&dir, &["init", "-q", "-b", "main"], &[]).expect("git init");
    std::fs::write(dir.join("file"), "x").unwrap();
    git(&dir, &["add", "file"], &[]).unwrap();
    // Late on 29 February in New York is 1 March in UTC: the date is UTC, like SOURCE_DATE_EPOCH.
    let date = [("GIT_COMMITTER_DATE", "2024-02-29T23:30:00-05:00")];
    git(&dir, &["commit", "-q", "-m", "first"], &date).expect("git commit");
    let head = git(&dir, &["rev-parse", "--short=12", "HEAD"], &[]).unwrap();
    let git_dir = dir.join(".git");
    let path = |p: &str| git_dir.join(p).display().to_string();

    let info = run_build_script(&dir, &[("BYOC_GIT_COMMIT", "0123456789ab")]).unwrap();
    assert_eq!(info.commit, head, "the checkout's HEAD wins over the variable");
    assert_eq!(info.date, "2024-03-01");
    assert_eq!(info.watched, ["build.rs".to_string(), path("HEAD"), path("refs/heads/main")]);

    let info = run_build_script(&dir, &[("SOURCE_DATE_EPOCH", "1764720000")]).unwrap();
    assert_eq!(info.date, "2025-12-03", "SOURCE_DATE_EPOCH wins over the commit's date");

    git(&dir, &["pack-refs", "--all"], &[]).unwrap();
    let info = run_build_script(&dir, &[]).unwrap();
    assert_eq!(info.watched, ["build.rs".to_string(), path("HEAD"), path("packed-refs")]);

    git(&dir, &["checkout", "-q", "--detach"], &[]).unwrap();
    let info = run_build_script(&dir, &[]).unwrap();
    assert_eq!(info.commit, head);
    assert_eq!(info.watched, ["build.rs".to_string(), path("HEAD"), path("packed-refs")]);
}

/// `scripts/changelog-section ARGS`: Ok(stdout) or Err(stderr).
fn changelog_section(args: &[&str]) -> Result<String, String> {
    let output =
        Command::new(repo_root().join("scripts/changelog-section")).args(args).output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn the_release_notes_of_this_version_are_its_changelog_section() {
    let text = read("CHANGELOG.md");
    let heading = text
        .lines()
        .find(|l| l.starts_with(&format!("## [{VERSION}] ")))
        .expect("a section for this version");
    let after = &text[text.find(heading).unwrap() + heading.len()..];
    let body = after[..after.find("\n## ").unwrap_or(after.len())]
        .lines()
        .filter(|l| !(l.starts_with('[') && l.contains("]: ")))
        .collect::<Vec<_>>()
        .join("\n");
    let notes = changelog_section(&[VERSION]).unwrap();
    assert_eq!(notes, format!("{}\n", body.trim()));
    assert!(notes.contains("### Added"), "{notes}");
    assert_eq!(changelog_section(&[&format!("v{VERSION}")]), Ok(notes), "a tag's v is dropped");
}

#[test]
fn changelog_section_prints_exactly_the_version_asked_for_or_fails_naming_it() {
    let dir = scratch("changelog");
    let file = dir.join("CHANGELOG.md");
    std::fs::write(
        &file,
        "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- next\n\n\
         ## [1.10.0] - 2026-03-01\n\n- ten\n\n\
         ## [1.1.0-rc.1] - 2026-01-15\n\n- candidate\n\n\
         ## [1.1.0] - 2026-02-01\n\n### Fixed\n\n- one\n  continued\n\n\
         ## [1.0.0] - 2026-01-01\n\n\
         ## [0.9.0] - 2025-12-01\n- same\n## [0.9.0] - 2025-12-02\n- twice\n\n\
         ## [0.8.0] - 2025-11-01\n\n- eight\n\n\
         [Unreleased]: https://example.com/compare/v1.10.0...HEAD\n\
         [1.1.0]: https://example.com/releases/tag/v1.1.0\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let cases: [(&str, &str, Result<&str, &str>); 9] = [
        ("a release", "1.1.0", Ok("### Fixed\n\n- one\n  continued\n")),
        ("its tag", "v1.1.0", Ok("### Fixed\n\n- one\n  continued\n")),
        ("a pre-release", "1.1.0-rc.1", Ok("- candidate\n")),
        ("a version with two digits", "1.10.0", Ok("- ten\n")),
        ("the unreleased changes", "Unreleased", Ok("### Added\n\n- next\n")),
        ("a prefix of a version", "1.1", Err("has no \"## [1.1]\" section")),
        ("an empty section", "1.0.0", Err("\"## [1.0.0]\" section of")),
        ("a version listed twice", "0.9.0", Err("has 2 \"## [0.9.0]\" sections")),
        ("the last release, above the link references", "0.8.0", Ok("- eight\n")),
    ];
    for (reason, version, expected) in cases {
        match (changelog_section(&[version, file]), expected) {
            (Ok(notes), Ok(want)) => assert_eq!(notes, want, "{reason}"),
            (Err(error), Err(want)) => assert!(error.contains(want), "{reason}: {error}"),
            (got, _) => panic!("{reason}: {version} gave {got:?}, expected {expected:?}"),
        }
    }
    assert!(changelog_section(&[]).unwrap_err().contains("usage"));
}
