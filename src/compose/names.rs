//! Names: Compose names (services, projects, secrets) turned into DNS labels, secret targets
//! turned into environment variable names, and the API's patterns checked. Pure; no IO.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use regex::Regex;

/// Longest DNS label.
pub(crate) const DNS_LABEL_MAX: usize = 63;

/// Compiled patterns, by pattern text: they are constants, compiled once.
static COMPILED: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `value` matches one of the `crate::api::patterns` (constants, so compiling cannot
/// fail; a failure counts as no match).
pub(crate) fn matches(pattern: &str, value: &str) -> bool {
    let mut compiled = COMPILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let re = compiled.entry(pattern.to_string()).or_insert_with(|| Regex::new(pattern).ok());
    re.as_ref().is_some_and(|re| re.is_match(value))
}

/// `name` as a DNS label: lower case, `_`, `.` and other characters become `-`, runs of `-` are
/// collapsed (ECR refuses doubled separators) and trimmed from both ends. May be empty or too
/// long; the caller checks.
pub(crate) fn dns_label(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The environment variable a secret is provided as: the last path segment of `target`, upper
/// case, with every character that is not a letter or digit as `_` (a leading digit gets a `_`
/// in front).
pub(crate) fn secret_env_name(target: &str) -> String {
    let last = target.trim_end_matches('/').rsplit('/').next().unwrap_or(target);
    let mut out: String = last
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Whether `value` is a valid Kubernetes label value.
pub(crate) fn is_label_value(value: &str) -> bool {
    value.len() <= DNS_LABEL_MAX && matches(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_names_become_dns_labels() {
        let cases = [
            ("web", "web", "already a label"),
            ("My_Service", "my-service", "case and underscore"),
            ("api.v2", "api-v2", "dot"),
            ("a__b--c", "a-b-c", "runs collapse"),
            ("_x_", "x", "trimmed"),
            ("___", "", "nothing left"),
            ("ünï", "n", "non-ASCII dropped to hyphens"),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(dns_label(input), expected, "{reason}: {input}");
        }
    }

    #[test]
    fn secret_targets_become_environment_variable_names() {
        let cases = [
            ("db_password", "DB_PASSWORD"),
            ("/run/secrets/db-password", "DB_PASSWORD"),
            ("/etc/ssl/key.pem", "KEY_PEM"),
            ("1token", "_1TOKEN"),
            ("", "_"),
        ];
        for (input, expected) in cases {
            assert_eq!(secret_env_name(input), expected, "{input}");
        }
    }
}
