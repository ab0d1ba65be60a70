//! Tests of `deploy`: Fargate sizing, Compose memory units, replicas and `x-byoc` sizes. Pure.

use super::*;
use serde_json::json;

fn sized(service: serde_json::Value) -> (String, String, Vec<Note>) {
    let mut notes = Vec::new();
    let m = service.as_object().cloned().unwrap_or_default();
    let d = deploy(&m, "services.web", &ServiceExt::default(), &mut notes).unwrap();
    (d.cpu, d.memory, notes)
}

#[test]
fn compose_resources_become_the_nearest_fargate_size_that_is_not_smaller() {
    let limits = |cpus: serde_json::Value, memory: serde_json::Value| json!({"deploy": {"resources": {"limits": {"cpus": cpus, "memory": memory}}}});
    let cases = [
        (limits(json!("0.3"), json!("300M")), "0.5", "1Gi", "cpus 0.3 and 300M"),
        (limits(json!(2), json!("1G")), "2", "4Gi", "2 cpus and 1G"),
        (limits(json!(0.25), json!("3g")), "0.5", "3Gi", "0.25 cpus and 3g"),
        (limits(json!("0.25"), json!("512M")), "0.25", "512Mi", "an exact size"),
        (limits(json!("1"), json!("2.5g")), "1", "3Gi", "memory rounded up to a step"),
        (limits(json!("0.25"), json!("1536m")), "0.25", "2Gi", "0.25 takes only 512Mi, 1Gi, 2Gi"),
        (
            limits(json!("1"), json!("9g")),
            "2",
            "9Gi",
            "memory over the cpu's maximum steps up the cpu",
        ),
        (limits(json!("8"), json!("17g")), "8", "20Gi", "4Gi steps at 8 vCPU"),
        (json!({"cpus": "1.5", "mem_limit": "1gb"}), "2", "4Gi", "legacy fields"),
        (json!({"mem_limit": 268435456}), "0.25", "512Mi", "bytes as a number"),
        (
            json!({"deploy": {"resources": {"reservations": {"memory": "700MiB"}}}}),
            "0.25",
            "1Gi",
            "reservations when no limits",
        ),
        (json!({}), "0.25", "512Mi", "nothing asked"),
    ];
    for (service, cpu, memory, reason) in cases {
        let (c, m, _) = sized(service);
        assert_eq!((c.as_str(), m.as_str()), (cpu, memory), "{reason}");
    }
}

#[test]
fn a_changed_size_is_noted_with_what_was_asked() {
    let (_, _, notes) =
        sized(json!({"deploy": {"resources": {"limits": {"cpus": "0.3", "memory": "300M"}}}}));
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].path, "services.web.deploy.resources");
    assert_eq!(notes[0].reason, "cpus 0.3 → 0.5 vCPU, memory 300M → 1Gi: nearest Fargate size");
    let (_, _, notes) =
        sized(json!({"deploy": {"resources": {"limits": {"cpus": 0.25, "memory": "3g"}}}}));
    assert_eq!(notes[0].reason, "cpus 0.25 → 0.5 vCPU: nearest Fargate size for memory 3g");
    let (_, _, notes) = sized(json!({"cpus": 0.25, "mem_limit": "256m"}));
    assert_eq!(
        (notes[0].path.as_str(), notes[0].reason.as_str()),
        ("services.web.cpus", "memory 256m → 512Mi: nearest Fargate size for cpus 0.25")
    );
    let (_, _, notes) = sized(json!({"mem_limit": "5g"}));
    assert_eq!(notes[0].reason, "cpus (not set) → 1 vCPU: nearest Fargate size for memory 5g");
    let (_, _, notes) =
        sized(json!({"deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "1g"}}}}));
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn memory_sizes_use_compose_units() {
    let cases = [
        ("512", Some(512)),
        ("1k", Some(1024)),
        ("1KB", Some(1024)),
        ("2m", Some(2 << 20)),
        ("1.5g", Some(3 << 29)),
        ("1GiB", Some(1 << 30)),
        ("10 M", Some(10 << 20)),
        ("1x", None),
        ("", None),
        ("g", None),
        ("-1m", None),
    ];
    for (text, expected) in cases {
        assert_eq!(memory_bytes(text), expected, "{text}");
    }
}

#[test]
fn sizes_beyond_fargate_and_bad_values_are_errors() {
    let cases = [
        (json!({"cpus": 32}), "services.web.cpus: too large"),
        (json!({"mem_limit": "200g"}), "services.web.mem_limit: too large"),
        (json!({"cpus": "lots"}), "services.web.cpus: \"lots\" is not a number"),
        (json!({"mem_limit": "1z"}), "is not a memory size"),
        (json!({"deploy": {"replicas": 2}, "scale": 3}), "services.web.scale: scale 3 contradicts"),
        (json!({"deploy": {"replicas": -1}}), "out of range"),
        (json!({"deploy": []}), "services.web.deploy: expected a mapping"),
    ];
    for (service, expected) in cases {
        let m = service.as_object().cloned().unwrap_or_default();
        let err = deploy(&m, "services.web", &ServiceExt::default(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn x_byoc_cpu_and_memory_override_the_compose_resources() {
    let m = json!({"cpus": "0.25"}).as_object().cloned().unwrap_or_default();
    let ext = |cpu: Option<&str>, memory: Option<&str>| ServiceExt {
        cpu: cpu.map(Into::into),
        memory: memory.map(Into::into),
        ..Default::default()
    };
    let run =
        |e: ServiceExt| deploy(&m, "services.web", &e, &mut Vec::new()).map(|d| (d.cpu, d.memory));
    assert_eq!(run(ext(Some("1"), Some("3Gi"))).unwrap(), ("1".into(), "3Gi".into()));
    assert_eq!(run(ext(Some("2"), None)).unwrap(), ("2".into(), "4Gi".into()));
    assert_eq!(run(ext(None, Some("4Gi"))).unwrap(), ("0.5".into(), "4Gi".into()));
    assert!(run(ext(Some("0.25"), Some("4Gi"))).is_err());
}
