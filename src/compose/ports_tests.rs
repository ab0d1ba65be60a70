//! Tests of `ports`: short and long forms, names, the public port and the notes. Pure.

use serde_json::json;

use super::*;

fn run(
    ports: serde_json::Value,
    expose: serde_json::Value,
) -> Result<(PortPlan, Vec<Note>), ComposeError> {
    let mut notes = Vec::new();
    let plan = plan(Some(&ports), Some(&expose), "services.web", true, &mut notes)?;
    Ok((plan, notes))
}

fn summary(plan: &PortPlan) -> Vec<(String, i32)> {
    plan.ports.iter().map(|p| (p.name.clone(), p.container_port)).collect()
}

#[test]
fn short_port_forms_become_named_container_ports() {
    let cases = [
        (json!(["8080:80"]), vec![("http", 80)], Some("http"), "host:container"),
        (json!([3000]), vec![("http", 3000)], None, "a number is a container port only"),
        (json!(["127.0.0.1:5432:5432"]), vec![("http", 5432)], None, "loopback is not public"),
        (json!(["0.0.0.0:80:8080"]), vec![("http", 8080)], Some("http"), "all addresses"),
        (json!(["[::1]:80:8080"]), vec![("http", 8080)], None, "bracketed IPv6 loopback"),
        (
            json!(["80:8080/tcp", "9090"]),
            vec![("http", 8080), ("http-9090", 9090)],
            Some("http"),
            "protocol suffix",
        ),
        (
            json!(["80:8080", "443:8080"]),
            vec![("http", 8080)],
            Some("http"),
            "one container port published twice",
        ),
        (json!(["53:53/udp", "80:80"]), vec![("http", 80)], Some("http"), "udp is dropped"),
        (
            json!(["8000-8010:8000-8010", "80:80"]),
            vec![("http", 80)],
            Some("http"),
            "a range is dropped",
        ),
        (json!(["8000-8010:80"]), vec![("http", 80)], Some("http"), "a host range for one port"),
        (
            json!(["9000", "80:8080"]),
            vec![("http", 9000), ("http-8080", 8080)],
            Some("http-8080"),
            "the first published is public",
        ),
    ];
    for (ports, expected, public, reason) in cases {
        let (plan, _) = run(ports, json!(null)).unwrap();
        let expected: Vec<(String, i32)> =
            expected.into_iter().map(|(n, p)| (n.to_string(), p)).collect();
        assert_eq!(summary(&plan), expected, "{reason}");
        assert_eq!(plan.public.as_deref(), public, "{reason}");
    }
}

#[test]
fn long_port_forms_keep_valid_names() {
    let ports = json!([
        {"target": 8080, "published": "80", "name": "web", "app_protocol": "http", "mode": "ingress"},
        {"target": 9090, "name": "Metrics_Port"},
        {"target": "7000", "host_ip": "10.0.0.1", "published": 7000}
    ]);
    let (plan, notes) = run(ports, json!(["5000", 8080])).unwrap();
    let expected = [("web", 8080), ("http-9090", 9090), ("http-7000", 7000), ("http-5000", 5000)];
    let expected: Vec<(String, i32)> = expected.iter().map(|(n, p)| (n.to_string(), *p)).collect();
    assert_eq!(summary(&plan), expected);
    assert_eq!(plan.public.as_deref(), Some("web"));
    let paths: Vec<&str> = notes.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "services.web.ports[0].app_protocol",
            "services.web.ports[0].mode",
            "services.web.ports[1]",
            "services.web.ports[2].host_ip",
            "services.web.ports[1].name",
            "services.web.ports[0]",
            "services.web.ports[2]",
        ]
    );
}

#[test]
fn the_notes_say_what_the_load_balancer_does_instead() {
    let (_, notes) = run(json!(["8080:80", "9090:9090", "3000"]), json!(null)).unwrap();
    let reasons: Vec<String> = notes.iter().map(|n| format!("{}: {}", n.path, n.reason)).collect();
    assert_eq!(
        reasons,
        [
            "services.web.ports[2]: no host port: Compose publishes it on a random host port, here it is served privately only; write \"3000:3000\" to publish it on the load balancer",
            "services.web.ports[0]: published on the load balancer's listeners, not on host port 8080",
            "services.web.ports[1]: served privately only: one port per service is published on the load balancer",
        ]
    );
}

#[test]
fn malformed_ports_are_errors_that_show_the_forms_to_write() {
    let cases = [
        (
            json!(["80:abc"]),
            json!(null),
            "services.web.ports[0]: \"80:abc\" is not a port mapping; write \"8080:80\" or the long form with target",
        ),
        (
            json!(["1:2:3:4"]),
            json!(null),
            "services.web.ports[0]: \"1:2:3:4\" is not a port mapping",
        ),
        (json!(["0"]), json!(null), "is not a port mapping"),
        (json!(["70000"]), json!(null), "is not a port mapping"),
        (json!([{"published": 80}]), json!(null), "services.web.ports[0].target: required"),
        (
            json!([{"target": "x"}]),
            json!(null),
            "services.web.ports[0].target: \"x\" is not a port",
        ),
        (
            json!([{"target": 80, "published": "http"}]),
            json!(null),
            "services.web.ports[0].published: \"http\" is not a port",
        ),
        (
            json!([[80]]),
            json!(null),
            "services.web.ports[0]: expected a string or a number, found a list",
        ),
        (json!("80:80"), json!(null), "services.web.ports: expected a list, found a string"),
        (
            json!(null),
            json!(["80:80"]),
            "services.web.expose[0]: \"80:80\" is not a port mapping; write a container port",
        ),
        (
            json!((1..=11).map(|p| p.to_string()).collect::<Vec<_>>()),
            json!(null),
            "services.web.ports: 11 distinct container ports",
        ),
    ];
    for (ports, expose, expected) in cases {
        let err = run(ports, expose).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}
