//! Tests of `build`: Git URL contexts, local contexts with and without a Git origin, notes and
//! errors. Pure.

use serde_json::json;

use super::*;

fn run(v: serde_json::Value, git: Option<&GitOrigin>) -> Result<(Build, Vec<Note>), ComposeError> {
    let mut notes = Vec::new();
    let vars = Vars::from([("VERSION".to_string(), "1.2".to_string())]);
    let b = build(&v, "services.web.build", None, Path::new("/src/shop"), git, &vars, &mut notes)?;
    Ok((b, notes))
}

#[test]
fn git_url_contexts_become_git_sources() {
    let cases = [
        ("https://github.com/org/shop.git", "https://github.com/org/shop.git", None, None),
        (
            "https://github.com/org/shop.git#main",
            "https://github.com/org/shop.git",
            Some("main"),
            None,
        ),
        (
            "https://github.com/org/shop.git#v1.2:services/web/",
            "https://github.com/org/shop.git",
            Some("v1.2"),
            Some("services/web"),
        ),
        (
            "https://gitlab.example.com/g/shop.git#:web",
            "https://gitlab.example.com/g/shop.git",
            None,
            Some("web"),
        ),
        ("github.com/org/shop#main", "https://github.com/org/shop", Some("main"), None),
    ];
    for (context, url, rev, dir) in cases {
        let (b, _) = run(json!(context), None).unwrap();
        let git = b.git.unwrap();
        assert_eq!(
            (git.url.as_str(), git.revision.as_deref(), b.path.as_deref()),
            (url, rev, dir),
            "{context}"
        );
        assert_eq!(b.context, None);
    }
}

#[test]
fn local_contexts_are_relative_to_the_compose_file_or_mapped_onto_the_repository() {
    let (b, notes) = run(json!({"context": "./web/", "dockerfile": "./docker/Dockerfile.prod", "target": "runtime", "args": {"VERSION": null, "MODE": "prod", "UNSET": null}}), None).unwrap();
    assert_eq!(b.context.as_deref(), Some("web"));
    assert_eq!(b.dockerfile, "docker/Dockerfile.prod");
    assert_eq!(b.target.as_deref(), Some("runtime"));
    let args: Vec<(&str, Option<&str>)> =
        b.args.iter().map(|a| (a.name.as_str(), a.value.as_deref())).collect();
    assert_eq!(args, [("MODE", Some("prod")), ("VERSION", Some("1.2"))]);
    assert!(notes.is_empty());
    assert_eq!(run(json!("."), None).unwrap().0.context.as_deref(), Some("."));
    assert_eq!(run(json!(null), None).unwrap().0.context.as_deref(), Some("."));
    let origin = GitOrigin {
        url: "https://github.com/org/mono.git".into(),
        revision: Some("main".into()),
        root: PathBuf::from("/src"),
    };
    let (b, _) = run(json!("./web"), Some(&origin)).unwrap();
    assert_eq!(
        (b.git.as_ref().map(|g| g.url.as_str()), b.path.as_deref(), b.context),
        (Some("https://github.com/org/mono.git"), Some("shop/web"), None)
    );
    let at_root = GitOrigin { root: PathBuf::from("/src/shop"), ..origin.clone() };
    assert_eq!(run(json!("."), Some(&at_root)).unwrap().0.path, None);
    let err = run(json!("../../elsewhere"), Some(&origin)).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "services.web.build: ../../elsewhere is outside the Git repository at /src"
        ),
        "{err}"
    );
}

#[test]
fn unsupported_build_fields_are_noted_and_platforms_reduced_to_one() {
    let (b, notes) = run(json!({"context": ".", "ssh": ["default"], "cache_from": ["x"], "platforms": ["linux/arm64", "linux/amd64"]}), None).unwrap();
    assert_eq!(b.platform, Platform::Arm64);
    let paths: Vec<&str> = notes.iter().map(|n| n.path.as_str()).collect();
    assert_eq!(
        paths,
        ["services.web.build.cache_from", "services.web.build.ssh", "services.web.build.platforms"]
    );
}

#[test]
fn remote_and_malformed_contexts_are_errors_that_say_what_to_write() {
    let cases = [
        (json!("git@github.com:org/shop.git"), "only https Git URLs are built"),
        (json!("https://example.com/context.tar.gz"), "remote tarball contexts are not supported"),
        (json!("https://user:token@github.com/org/shop.git"), "credentials in the URL"),
        (json!("https://github.com/org/shop.git#-bad"), "is not a branch, a tag or a commit id"),
        (
            json!("https://github.com/org/shop.git#main:../x"),
            "is not a directory inside the repository",
        ),
        (
            json!({"dockerfile": "/abs/Dockerfile"}),
            "services.web.build.dockerfile: \"/abs/Dockerfile\": the Dockerfile must be a path inside the build context",
        ),
        (json!({"dockerfile": "../Dockerfile"}), "must be a path inside the build context"),
        (
            json!({"args": ["1X=2"]}),
            "services.web.build.args[0]: \"1X\" is not a build argument name",
        ),
        (
            json!({"platforms": ["windows/amd64"]}),
            "services.web.build.platforms[0]: \"windows/amd64\": only linux/amd64 and linux/arm64",
        ),
        (json!({"target": "-x"}), "is not a Dockerfile stage name"),
        (json!(["."]), "services.web.build: expected a string, found a list"),
    ];
    for (v, expected) in cases {
        let err = run(v, None).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn paths_are_normalized_as_written() {
    let cases = [
        ("./a/./b/", "a/b"),
        ("a/../b", "b"),
        ("../x", "../x"),
        (".", "."),
        ("/abs/./p", "/abs/p"),
        ("a/../..", ".."),
    ];
    for (input, expected) in cases {
        assert_eq!(relative_display(&normalize(Path::new(input))), expected, "{input}");
    }
}
