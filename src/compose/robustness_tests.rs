//! Conversion never panics, whatever the input: every service key with every wrong type, odd
//! top-level documents, and a deterministic pseudo-random fuzz of service definitions and of the
//! text parsers. Errors are lower case without a trailing period. Pure (no file is read: the
//! compose text is given and the base directory is empty).

use std::path::Path;

use serde_json::{Value, json};

use super::{Options, dotenv, health, interpolate, project, shell};

fn options() -> Options {
    Options { account: "demo".into(), namespace: "shop".into(), ..Options::default() }
}

fn convert_yaml(text: &str) -> Result<super::Converted, super::ComposeError> {
    let base = std::env::temp_dir().join("byoc-compose-robustness-empty");
    let vars = project::variables(&base, &Default::default())?;
    project::convert_text(text, Path::new("compose.yaml"), &base, "robust", &vars, &options())
}

fn convert_value(v: &Value) -> Result<super::Converted, super::ComposeError> {
    convert_yaml(&serde_json::to_string(v).unwrap_or_default())
}

fn check_error_text(e: &super::ComposeError) {
    let text = e.to_string();
    assert!(!text.ends_with('.'), "trailing period: {text}");
    assert!(!text.contains('\n') || text.contains("invalid YAML"), "{text}");
}

const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "secrets",
    "ports",
    "expose",
    "deploy",
    "scale",
    "cpus",
    "mem_limit",
    "mem_reservation",
    "healthcheck",
    "domainname",
    "platform",
    "profiles",
    "restart",
    "x-byoc",
    "volumes",
    "networks",
    "labels",
    "depends_on",
    "extends",
    "logging",
    "user",
    "unknown_key",
];

fn wrong_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(""),
        json!("x"),
        json!("${"),
        json!("$$"),
        json!([]),
        json!([null]),
        json!([1, "a", {}]),
        json!({}),
        json!({"a": null}),
        json!({"target": {}}),
        json!([{"source": 1}]),
        json!({"resources": {"limits": {"cpus": "x", "memory": []}}}),
        json!({"test": [], "interval": "1x"}),
        json!("https://github.com/o/r.git#:"),
        json!(["80:80", "a:b:c:d:e", "[::1]:80", "65536"]),
        json!({"hosts": "a.b"}),
    ]
}

#[test]
fn every_service_key_with_every_wrong_type_converts_or_errors_without_panicking() {
    for key in SERVICE_KEYS {
        for value in wrong_values() {
            let doc = json!({"services": {"web": {"image": "nginx:1.27", *key: value.clone()}}});
            if let Err(e) = convert_value(&doc) {
                check_error_text(&e);
            }
        }
    }
}

#[test]
fn odd_documents_are_errors_not_panics() {
    let cases = [
        ("", "compose.yaml: the file is empty; a Compose file needs services:"),
        ("# nothing\n", "compose.yaml: the file is empty"),
        ("- a\n", "compose.yaml: expected a mapping with services:, found a list"),
        ("42\n", "compose.yaml: expected a mapping with services:, found a number"),
        ("services:\n", "services: no services"),
        ("services: {}\n", "services: no services"),
        ("services: []\n", "services: expected a mapping, found a list"),
        ("services:\n  web:\n", "services.web: empty service; give it an image or a build"),
        ("services:\n  web: nginx\n", "services.web: expected a mapping, found a string"),
        ("services:\n  web: {}\n", "services.web: needs an image or a build"),
        (
            "services:\n  web: {image: 'Not An Image'}\n",
            "services.web.image: \"Not An Image\" is not an image reference",
        ),
        ("a: 1\na: 2\n", "compose.yaml: invalid YAML"),
        ("services: {web: {image: x}\n", "compose.yaml: invalid YAML"),
        (
            "include: [other.yaml]\nservices: {web: {image: nginx}}\n",
            "include: include is not supported",
        ),
        (
            "services: {web: {image: nginx, extends: base}}\n",
            "services.web.extends: extends is not supported",
        ),
        (
            "services: {web_1: {image: nginx}, web-1: {image: nginx}}\n",
            "services.web_1: named web-1 in Kubernetes, as services.web-1 is",
        ),
        (
            "services: {'___': {image: nginx}}\n",
            "services.___: the service name must have letters or digits",
        ),
        ("x: &a [*a]\n", "compose.yaml: invalid YAML"),
    ];
    for (text, expected) in cases {
        let err = convert_yaml(text).map(|_| ()).unwrap_err();
        check_error_text(&err);
        assert!(err.to_string().starts_with(expected), "{text:?}: {err}");
    }
}

#[test]
fn a_project_whose_services_all_have_profiles_converts_to_nothing_with_notes() {
    let c = convert_yaml("services:\n  a: {image: nginx, profiles: [x]}\n").unwrap();
    assert!(c.services.is_empty());
    assert_eq!(c.notes.len(), 1);
    assert!(
        super::render(&c)
            .starts_with("# CloudServices converted from the Compose project \"robust\".")
    );
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            "9",
            ":",
            "/",
            "-",
            "_",
            ".",
            " ",
            "$",
            "{",
            "}",
            "$$",
            "${A:-b}",
            "'",
            "\"",
            "\\",
            "#",
            "=",
            "\n",
            "ü",
            "http://localhost:80/x",
            "80",
            "8080",
            "[",
            "]",
            "@",
            "0.5",
            "512M",
            "1g",
            "10s",
            "CMD",
            "NONE",
            "tcp",
            "udp",
            "127.0.0.1",
            "https://h/r.git#m:d",
        ];
        (0..self.below(6)).map(|_| PIECES[self.below(PIECES.len())]).collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 3 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.below(70000) as i64 - 100),
            3 | 4 => json!(self.text()),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let keys = [
                    "target",
                    "published",
                    "source",
                    "test",
                    "context",
                    "limits",
                    "cpus",
                    "memory",
                    "hosts",
                    "paths",
                    "name",
                    "file",
                    "resources",
                    "replicas",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    m.insert(keys[self.below(keys.len())].to_string(), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

#[test]
fn random_services_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut service = serde_json::Map::new();
        service.insert("image".into(), json!("nginx"));
        for _ in 0..rng.below(5) {
            let key = SERVICE_KEYS[rng.below(SERVICE_KEYS.len())];
            service.insert(key.to_string(), rng.value(0));
        }
        let doc = json!({"services": {"web": service, "api": {"image": "x", "ports": ["80:80"]}}, "secrets": rng.value(0)});
        if let Err(e) = convert_value(&doc) {
            check_error_text(&e);
        }
    }
}

#[test]
fn random_text_never_panics_the_parsers() {
    let mut rng = Rng(42);
    let lookup = |n: &str| (n == "A").then(|| "a".to_string());
    for i in 0..8000 {
        let t = rng.text();
        let _ = interpolate::interpolate(&t, &lookup);
        let _ = shell::split(&t);
        let _ = dotenv::parse(&t, &lookup);
        let _ = health::duration_seconds(&t);
        let _ = health::local_url(&t);
        let _ = super::deploy::memory_bytes(&t);
        let _ = super::names::dns_label(&t);
        let _ = super::names::secret_env_name(&t);
        if i % 4 == 0 {
            let service = json!({"image": "nginx", "ports": [t.clone()], "command": t.clone(), "healthcheck": {"test": t.clone()}});
            let _ = convert_value(&json!({"services": {"web": service}}));
        }
    }
}
