//! Build information for `byoc version` and the build-info metric: sets `BYOC_GIT_COMMIT` and
//! `BYOC_BUILD_DATE` for the crate's compilation (`env!` / `option_env!`).
//!
//! - Commit: `git rev-parse --short=12 HEAD` in a Git checkout; otherwise the `BYOC_GIT_COMMIT`
//!   variable (the image build passes it, as `.git` is not in the Docker context), cut to 12 hex
//!   digits; otherwise `unknown`.
//! - Date (UTC, `YYYY-MM-DD`): `SOURCE_DATE_EPOCH` when set (reproducible builds); otherwise the
//!   date of the commit; otherwise `unknown`. Never the clock, so building the same commit twice
//!   gives the same binary and does not recompile the crate.
//!
//! Cargo reruns this script only when HEAD moves (HEAD, the branch it points to, packed-refs) or
//! one of the two variables changes, never for an edit of a source file.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

const COMMIT_VAR: &str = "BYOC_GIT_COMMIT";
const EPOCH_VAR: &str = "SOURCE_DATE_EPOCH";
/// Hex digits of the commit shown, as `git rev-parse --short=12` gives.
const COMMIT_LEN: usize = 12;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={COMMIT_VAR}");
    println!("cargo:rerun-if-env-changed={EPOCH_VAR}");

    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()));
    let checkout = root.join(".git").exists();
    if checkout {
        for file in head_files(&root) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }

    let commit = checkout
        .then(|| git(&root, &["rev-parse", &format!("--short={COMMIT_LEN}"), "HEAD"]))
        .flatten()
        .or_else(commit_from_env)
        .unwrap_or_else(|| "unknown".into());
    let date = match env::var(EPOCH_VAR).ok().filter(|v| !v.trim().is_empty()) {
        Some(epoch) => date_of(&epoch, EPOCH_VAR),
        None => checkout
            .then(|| git(&root, &["log", "-1", "--format=%ct"]))
            .flatten()
            .map(|seconds| date_of(&seconds, "the commit's date"))
            .unwrap_or_else(|| "unknown".into()),
    };
    println!("cargo:rustc-env={COMMIT_VAR}={commit}");
    println!("cargo:rustc-env=BYOC_BUILD_DATE={date}");
}

/// The files whose change means HEAD may name another commit: HEAD itself, the loose ref it points
/// to, and packed-refs, wherever Git keeps them (a worktree has its own HEAD but shares refs).
/// Only existing files: Cargo reruns a script on every build while a watched file is missing.
fn head_files(root: &Path) -> Vec<PathBuf> {
    let Some(head) = git(root, &["rev-parse", "--git-path", "HEAD"]).map(|p| root.join(p)) else {
        return Vec::new();
    };
    let mut files = vec![head.clone()];
    let symbolic = std::fs::read_to_string(&head).ok();
    let branch = symbolic.as_deref().and_then(|h| h.trim().strip_prefix("ref: "));
    let mut paths = vec!["packed-refs"];
    paths.extend(branch);
    for path in paths {
        if let Some(file) = git(root, &["rev-parse", "--git-path", path]).map(|p| root.join(p))
            && file.is_file()
        {
            files.push(file);
        }
    }
    files
}

/// The trimmed output of a successful `git` run in `root`; None when Git is missing or fails.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    if output.status.success() && !text.is_empty() {
        return Some(text);
    }
    println!(
        "cargo:warning=git {} failed in {}: {}",
        args.join(" "),
        root.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    None
}

/// `BYOC_GIT_COMMIT` from the environment, checked and cut to `COMMIT_LEN` digits.
fn commit_from_env() -> Option<String> {
    let value = env::var(COMMIT_VAR).ok()?.trim().to_ascii_lowercase();
    if value.is_empty() {
        return None;
    }
    if !(7..=64).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        fail(&format!(
            "{COMMIT_VAR}={value:?} is not a Git commit id (7 to 64 hex digits): pass \
             `git rev-parse HEAD`, or unset it"
        ));
    }
    Some(value.chars().take(COMMIT_LEN).collect())
}

/// The UTC calendar date (`YYYY-MM-DD`) of a count of seconds since the Unix epoch.
fn date_of(seconds: &str, what: &str) -> String {
    let Ok(seconds) = seconds.trim().parse::<i64>() else {
        fail(&format!(
            "{what} ({seconds:?}) is not a number of seconds since 1970-01-01: set {EPOCH_VAR} \
             to e.g. `git log -1 --format=%ct`, or unset it"
        ));
    };
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Year, month and day of a day count since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Stops the build with a message Cargo shows.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
