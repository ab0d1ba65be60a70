//! How the operator is shipped, outside the chart itself: the Dockerfile builds and runs the binary
//! Cargo.toml names.

mod support;

use support::manifests::repo_root;

/// The `name` of the `[[bin]]` target in Cargo.toml.
fn binary_name() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let bin = manifest.split("[[bin]]").nth(1).expect("Cargo.toml has a [[bin]] target");
    let name_line = bin.lines().find(|l| l.trim_start().starts_with("name")).expect("bin name");
    name_line.split('"').nth(1).expect("a quoted bin name").to_string()
}

/// Dockerfile instructions as (keyword, arguments), continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        match line.trim_end().strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                let trimmed = current.trim();
                if let Some((keyword, rest)) = trimmed.split_once(char::is_whitespace) {
                    instructions.push((keyword.to_uppercase(), rest.trim().to_string()));
                }
                current.clear();
            }
        }
    }
    instructions
}

#[test]
fn the_dockerfile_copies_the_binary_that_cargo_build_release_produces() {
    let bin = binary_name();
    let instructions = dockerfile_instructions();
    let mut builder = None; // (stage name, working directory)
    let mut stage = String::new();
    let mut workdir = String::from("/");
    let mut copied = None;
    for (keyword, args) in &instructions {
        match keyword.as_str() {
            "FROM" => {
                stage = args.split_whitespace().last().unwrap().to_string();
                workdir = String::from("/");
            }
            "WORKDIR" => workdir = args.clone(),
            "ENV" | "ARG" => assert!(
                !args.contains("CARGO_TARGET_DIR") && !args.contains("CARGO_BUILD_TARGET"),
                "the Dockerfile moves cargo's output directory: {args}"
            ),
            "RUN" if args.contains("cargo build") => {
                assert!(args.contains("--release") && args.contains("--locked"), "{args}");
                assert!(!args.contains("--target"), "a --target triple moves the binary: {args}");
                builder = Some((stage.clone(), workdir.clone()));
            }
            "COPY" if args.starts_with("--from=") => copied = Some(args.clone()),
            _ => {}
        }
    }
    let (stage, workdir) = builder.expect("a stage runs cargo build --release --locked");
    let built = format!("{}/target/release/{bin}", workdir.trim_end_matches('/'));
    let copy = copied.expect("the runtime stage copies the binary from the builder");
    let parts: Vec<&str> = copy.split_whitespace().collect();
    assert_eq!(parts, [format!("--from={stage}").as_str(), &built, &format!("/{bin}")], "{copy}");

    let last_from = instructions.iter().rev().find(|(k, _)| k == "FROM").unwrap();
    assert!(last_from.1.starts_with("gcr.io/distroless/cc-debian12:nonroot"), "{last_from:?}");
    let value = |keyword: &str| {
        instructions.iter().rev().find(|(k, _)| k == keyword).map(|(_, a)| a.as_str())
    };
    assert_eq!(value("ENTRYPOINT"), Some(format!("[\"/{bin}\"]").as_str()));
    assert_eq!(value("CMD"), Some("[\"controller\"]"), "the image runs the controller");
    assert_eq!(value("USER"), Some("65532:65532"), "the chart's runAsUser");
}

#[test]
fn the_dockerignore_keeps_the_build_inputs_and_drops_the_target_directory() {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> =
        ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(patterns.contains(&"/target"), "{patterns:?}");
    for input in ["Cargo.toml", "Cargo.lock", "src", "/src", "*"] {
        assert!(!patterns.contains(&input), "{input} is a build input but .dockerignore drops it");
    }
}
