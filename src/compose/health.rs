//! `healthcheck` → `spec.healthCheck`: the command ECS runs in the container, the HTTP path and
//! port the load balancer checks (taken from a `curl`/`wget` URL on localhost in the command),
//! and the timings clamped to what the load balancer accepts, with a note when clamped.
//! Pure; no IO.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{
    Note, Notes,
    error::{ComposeError, invalid},
    names::matches,
    shell,
    value::{Mapping, boolean, child, integer, item, mapping, sorted_keys, string},
};
use crate::api::{ContainerPort, HealthCheck, patterns};

/// Reads `healthcheck` at `path`; `None` when there is none or it is disabled.
pub(crate) fn health_check(
    v: &Value,
    path: &str,
    ports: &[ContainerPort],
    notes: &mut Vec<Note>,
) -> Result<Option<HealthCheck>, ComposeError> {
    if v.is_null() {
        return Ok(None);
    }
    let m = mapping(v, path)?;
    for key in sorted_keys(m) {
        let p = child(path, key);
        match key.as_str() {
            "test" | "interval" | "timeout" | "retries" | "start_period" | "disable" => {}
            "start_interval" => notes.unsupported(
                p,
                "checks run at interval from the start; there is no separate start interval",
            ),
            _ => notes.unsupported(p, "not a Compose healthcheck field byoc knows; ignored"),
        }
    }
    if let Some(d) = m.get("disable")
        && boolean(d, &child(path, "disable"))?
    {
        return Ok(None);
    }
    let command = match m.get("test") {
        None | Some(Value::Null) => None,
        Some(t) => match test_command(t, &child(path, "test"))? {
            Test::None => return Ok(None),
            Test::Inherit => None,
            Test::Shell(c) => Some(c),
        },
    };
    if let Some(c) = &command
        && c.chars().count() > 1024
    {
        return Err(invalid(
            child(path, "test"),
            "longer than 1024 characters; move it into a script in the image",
        ));
    }
    let (url_path, url_port) =
        command.as_deref().and_then(local_url).unwrap_or_else(|| ("/".to_string(), None));
    let port = url_port
        .and_then(|n| ports.iter().find(|p| p.container_port == i32::from(n)))
        .map(|p| p.name.clone());
    let mut clamped = Vec::new();
    let interval = seconds(m, path, "interval", 30, 5, 300, &mut clamped)?;
    let timeout_max = (interval - 1).min(120);
    let timeout = seconds(m, path, "timeout", 5.min(timeout_max), 2, timeout_max, &mut clamped)?;
    let retries = bounded(m, path, "retries", 3, 2, 10, &mut clamped)?;
    let grace = seconds(m, path, "start_period", 60, 0, 7200, &mut clamped)?;
    if !clamped.is_empty() {
        notes.changed(
            path,
            format!("{}: the limits of ECS and load balancer health checks", clamped.join(", ")),
        );
    }
    Ok(Some(HealthCheck {
        path: url_path,
        port,
        interval_seconds: interval,
        timeout_seconds: timeout,
        healthy_threshold: 3,
        unhealthy_threshold: retries,
        success_codes: "200-399".to_string(),
        grace_period_seconds: grace,
        command,
    }))
}

/// A URL on the container itself, with its port and path.
static LOCAL_URL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::([0-9]{1,5}))?(/[^\s'"|;&)<>`]*)?"#).ok()
});

enum Test {
    /// `NONE`: no health check.
    None,
    /// An empty test: the image's own.
    Inherit,
    Shell(String),
}

fn test_command(v: &Value, path: &str) -> Result<Test, ComposeError> {
    let Value::Array(items) = v else {
        let s = string(v, path)?;
        return Ok(if s.trim().is_empty() { Test::Inherit } else { Test::Shell(s) });
    };
    let words: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, x)| string(x, &item(path, i)))
        .collect::<Result<_, _>>()?;
    match words.split_first() {
        None => Ok(Test::Inherit),
        Some((first, _)) if first == "NONE" => Ok(Test::None),
        Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
            Ok(Test::Shell(shell::join(rest)))
        }
        Some((first, rest)) if first == "CMD-SHELL" && !rest.is_empty() => {
            Ok(Test::Shell(rest.join(" ")))
        }
        _ => Err(invalid(
            path,
            "a list test starts with CMD, CMD-SHELL or NONE, e.g. [\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]",
        )),
    }
}

/// The path and port of the first `http://localhost…` (or `127.0.0.1`, `0.0.0.0`, `[::1]`) URL
/// in a command, as `curl` or `wget` would request it. The port is 80 when the URL has none.
pub(crate) fn local_url(command: &str) -> Option<(String, Option<u16>)> {
    let caps = LOCAL_URL.as_ref()?.captures(command)?;
    let port = match caps.get(1) {
        Some(p) => p.as_str().parse::<u16>().ok(),
        None => Some(80),
    };
    let path = caps.get(2).map_or("/", |p| p.as_str());
    let path = path.split('#').next().unwrap_or("/");
    let path = if matches(patterns::HTTP_PATH, path) && path.len() <= 1024 { path } else { "/" };
    Some((path.to_string(), port))
}

/// A Compose duration (`1m30s`, `10s`, `500ms`, `1h`, `1.5s`) in seconds, rounded up.
pub(crate) fn duration_seconds(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total)
}

#[allow(clippy::too_many_arguments)]
fn seconds(
    m: &Mapping,
    path: &str,
    key: &str,
    default: i32,
    min: i32,
    max: i32,
    clamped: &mut Vec<String>,
) -> Result<i32, ComposeError> {
    let Some(v) = m.get(key).filter(|v| !v.is_null()) else {
        return Ok(default.clamp(min, max));
    };
    let p = child(path, key);
    let text = string(v, &p)?;
    let secs = duration_seconds(&text).ok_or_else(|| {
        invalid(&p, format!("{text:?} is not a duration; write e.g. 30s, 1m30s or 500ms"))
    })?;
    let whole = secs.ceil().min(f64::from(i32::MAX)) as i32;
    let got = whole.clamp(min, max);
    if f64::from(got) != secs {
        clamped.push(format!("{key} {text} → {got}s"));
    }
    Ok(got)
}

fn bounded(
    m: &Mapping,
    path: &str,
    key: &str,
    default: i32,
    min: i32,
    max: i32,
    clamped: &mut Vec<String>,
) -> Result<i32, ComposeError> {
    let Some(v) = m.get(key).filter(|v| !v.is_null()) else {
        return Ok(default);
    };
    let n = integer(v, &child(path, key))?;
    let got = n.clamp(i64::from(min), i64::from(max)) as i32;
    if i64::from(got) != n {
        clamped.push(format!("{key} {n} → {got}"));
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports() -> Vec<ContainerPort> {
        vec![
            ContainerPort { name: "http".into(), container_port: 8080 },
            ContainerPort { name: "http-9090".into(), container_port: 9090 },
        ]
    }

    fn check(v: serde_json::Value) -> (Option<HealthCheck>, Vec<Note>) {
        let mut notes = Vec::new();
        let hc = health_check(&v, "services.web.healthcheck", &ports(), &mut notes).unwrap();
        (hc, notes)
    }

    #[test]
    fn durations_read_as_compose_writes_them() {
        let cases = [
            ("10s", Some(10.0)),
            ("1m30s", Some(90.0)),
            ("500ms", Some(0.5)),
            ("1h", Some(3600.0)),
            ("1.5s", Some(1.5)),
            ("0", Some(0.0)),
            ("10", None),
            ("s", None),
            ("1d", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(duration_seconds(text), expected, "{text}");
        }
    }

    #[test]
    fn the_path_and_port_come_from_a_local_url_in_the_command() {
        let cases = [
            (
                "curl -f http://localhost:8080/healthz || exit 1",
                Some(("/healthz", Some(8080))),
                "curl with a port",
            ),
            ("wget -qO- http://127.0.0.1:9090/api/ping", Some(("/api/ping", Some(9090))), "wget"),
            ("curl -fsS http://localhost/", Some(("/", Some(80))), "no port means 80"),
            (
                "curl 'http://localhost:3000/status?full=1'",
                Some(("/status?full=1", Some(3000))),
                "query in quotes",
            ),
            ("curl http://localhost:8080", Some(("/", Some(8080))), "no path"),
            ("curl https://example.com/health", None, "not local"),
            ("pg_isready -U postgres", None, "not HTTP"),
        ];
        for (command, expected, reason) in cases {
            let got = local_url(command);
            let got = got.as_ref().map(|(p, n)| (p.as_str(), *n));
            assert_eq!(got, expected, "{reason}");
        }
    }

    #[test]
    fn compose_healthchecks_become_health_checks() {
        let (hc, notes) = check(
            json!({"test": ["CMD", "curl", "-f", "http://localhost:9090/ready"], "interval": "10s", "timeout": "3s", "retries": 5, "start_period": "1m"}),
        );
        let hc = hc.unwrap();
        assert_eq!(hc.command.as_deref(), Some("curl -f http://localhost:9090/ready"));
        assert_eq!((hc.path.as_str(), hc.port.as_deref()), ("/ready", Some("http-9090")));
        assert_eq!(
            (
                hc.interval_seconds,
                hc.timeout_seconds,
                hc.unhealthy_threshold,
                hc.grace_period_seconds
            ),
            (10, 3, 5, 60)
        );
        assert!(notes.is_empty(), "{notes:?}");
        let (hc, _) =
            check(json!({"test": ["CMD-SHELL", "curl -f http://localhost:1234/ || exit 1"]}));
        let hc = hc.unwrap();
        assert_eq!(
            (hc.path.as_str(), hc.port),
            ("/", None),
            "a port that is not in spec.ports is left out"
        );
        assert_eq!(hc.command.as_deref(), Some("curl -f http://localhost:1234/ || exit 1"));
        assert_eq!(check(json!({"test": ["NONE"]})).0, None);
        assert_eq!(check(json!({"test": "true", "disable": true})).0, None);
    }

    #[test]
    fn timings_outside_the_limits_are_clamped_with_a_note() {
        let (hc, notes) = check(
            json!({"test": "true", "interval": "2s", "timeout": "30s", "retries": 1, "start_period": "3h"}),
        );
        let hc = hc.unwrap();
        assert_eq!(
            (
                hc.interval_seconds,
                hc.timeout_seconds,
                hc.unhealthy_threshold,
                hc.grace_period_seconds
            ),
            (5, 4, 2, 7200)
        );
        assert_eq!(notes.len(), 1);
        assert_eq!(
            notes[0].reason,
            "interval 2s → 5s, timeout 30s → 4s, retries 1 → 2, start_period 3h → 7200s: the limits of ECS and load balancer health checks"
        );
    }

    #[test]
    fn malformed_healthchecks_are_errors() {
        for (v, expected) in [
            (
                json!({"test": ["curl"]}),
                "services.web.healthcheck.test: a list test starts with CMD",
            ),
            (
                json!({"test": "x", "interval": 30}),
                "services.web.healthcheck.interval: \"30\" is not a duration",
            ),
            (json!({"test": {}}), "expected a string"),
            (json!("curl"), "services.web.healthcheck: expected a mapping"),
        ] {
            let err = health_check(&v, "services.web.healthcheck", &ports(), &mut Vec::new())
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
