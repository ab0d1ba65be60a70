//! kubectl against the stand-in, through the kubeconfig it writes: client-side and server-side
//! apply of a directory, get by short name, `-o yaml`, `-w`, status patch, delete and server
//! dry run. kubectl is found via `KUBECTL` or `PATH`; its absence fails the test.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use kube::api::PostParams;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{server, widget, widgets};
use crate::support::apiserver::ApiServer;

fn kubectl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("kubectl not found: set KUBECTL=/path/to/kubectl or put kubectl on PATH (apt-get install kubectl, or the project's test scripts install it)")
        })
}

fn command(server: &ApiServer, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(kubectl_binary());
    command
        .arg("--kubeconfig")
        .arg(server.kubeconfig_path())
        .arg("--cache-dir")
        .arg(server.temp_dir().join("kubectl-cache"))
        .arg("--request-timeout=20s")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs kubectl to completion; kills it after 60 s.
pub async fn kubectl(server: &ApiServer, args: &[&str]) -> Output {
    tokio::time::timeout(Duration::from_secs(60), command(server, args).output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 60s"))
        .expect("kubectl starts")
}

/// Runs kubectl and returns stdout, failing the test with stderr when it fails.
pub async fn succeed(server: &ApiServer, args: &[&str]) -> String {
    let output = kubectl(server, args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn write_manifests(dir: &Path, image: &str) {
    std::fs::create_dir_all(dir).expect("manifest dir");
    let widgets = format!(
        "apiVersion: fixtures.byoc.dev/v1alpha1\nkind: Widget\nmetadata:\n  name: web\nspec:\n  image: {image}\n  ports:\n    - port: 80\n---\napiVersion: fixtures.byoc.dev/v1alpha1\nkind: Widget\nmetadata:\n  name: api\nspec:\n  image: {image}\n"
    );
    std::fs::write(dir.join("widgets.yaml"), widgets).expect("widgets.yaml");
    std::fs::write(dir.join("gadget.yaml"), "apiVersion: fixtures.byoc.dev/v1alpha1\nkind: Gadget\nmetadata:\n  name: tool\nspec:\n  owner: team\n").expect("gadget.yaml");
}

async fn image_of(server: &ApiServer, name: &str) -> String {
    let object = widgets(server, "default").get(name).await.expect("get");
    object.data["spec"]["image"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn kubectl_applies_a_directory_client_side_then_server_side() {
    let server = server().await;
    let dir = server.temp_dir().join("manifests");
    write_manifests(&dir, "nginx");
    let out = succeed(&server, &["apply", "-f", dir.to_str().unwrap()]).await;
    assert!(
        out.contains("widget.fixtures.byoc.dev/web created")
            && out.contains("gadget.fixtures.byoc.dev/tool created"),
        "{out}"
    );
    write_manifests(&dir, "nginx:2");
    let out = succeed(&server, &["apply", "-f", dir.to_str().unwrap()]).await;
    assert!(out.contains("widget.fixtures.byoc.dev/web configured"), "{out}");
    assert_eq!(image_of(&server, "web").await, "nginx:2");
    write_manifests(&dir, "nginx:3");
    let out = succeed(&server, &["apply", "--server-side", "-f", dir.to_str().unwrap()]).await;
    assert!(out.contains("widget.fixtures.byoc.dev/web serverside-applied"), "{out}");
    assert_eq!(image_of(&server, "web").await, "nginx:3");
    let web = widgets(&server, "default").get("web").await.expect("get");
    let managers: Vec<String> =
        web.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"kubectl".to_string()), "{managers:?}");
}

#[tokio::test]
async fn kubectl_strict_validation_rejects_unknown_fields() {
    let server = server().await;
    let file = server.temp_dir().join("bad.yaml");
    std::fs::write(&file, "apiVersion: fixtures.byoc.dev/v1alpha1\nkind: Widget\nmetadata:\n  name: bad\nspec:\n  image: nginx\n  bogus: 1\n").unwrap();
    let output = kubectl(&server, &["apply", "-f", file.to_str().unwrap()]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("strict decoding error: unknown field \"spec.bogus\""), "{stderr}");
}

#[tokio::test]
async fn kubectl_gets_by_short_name_with_printer_columns_and_as_yaml() {
    let server = server().await;
    widgets(&server, "default")
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let table = succeed(&server, &["get", "wdg"]).await;
    let header: Vec<&str> = table.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "IMAGE", "REPLICAS", "READY", "AGE"]);
    assert!(table.lines().nth(1).unwrap_or_default().starts_with("web"), "{table}");
    let yaml = succeed(&server, &["get", "wdg", "web", "-o", "yaml"]).await;
    assert!(yaml.contains("image: nginx") && yaml.contains("kind: Widget"), "{yaml}");
    let wide = succeed(&server, &["get", "widgets", "-A"]).await;
    assert!(wide.lines().nth(1).unwrap_or_default().starts_with("default"), "{wide}");
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn next_line(lines: &mut Lines) -> String {
    tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a line within 30s")
        .expect("readable")
        .expect("kubectl still running")
}

#[tokio::test]
async fn kubectl_get_watch_prints_changes_as_they_happen() {
    let server = server().await;
    let api = widgets(&server, "default");
    api.create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let mut child = command(&server, &["get", "wdg", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert!(next_line(&mut lines).await.starts_with("NAME"));
    assert!(next_line(&mut lines).await.starts_with("web"));
    api.create(&PostParams::default(), &widget("api", json!({"image": "httpd"})))
        .await
        .expect("create");
    let change = next_line(&mut lines).await;
    assert!(change.starts_with("api") && change.contains("httpd"), "{change}");
    child.kill().await.expect("kill kubectl");
}

#[tokio::test]
async fn kubectl_patches_the_status_subresource_with_a_merge_patch() {
    let server = server().await;
    widgets(&server, "default")
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let patch = r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#;
    succeed(&server, &["patch", "wdg", "web", "--subresource=status", "--type=merge", "-p", patch])
        .await;
    let table = succeed(&server, &["get", "wdg", "web"]).await;
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row[..4], ["web", "nginx", "1", "True"]);
}

#[tokio::test]
async fn kubectl_deletes_an_object() {
    let server = server().await;
    widgets(&server, "default")
        .create(&PostParams::default(), &widget("web", json!({"image": "nginx"})))
        .await
        .expect("create");
    let out = succeed(&server, &["delete", "wdg", "web"]).await;
    assert!(out.contains("widget.fixtures.byoc.dev \"web\" deleted"), "{out}");
    assert_eq!(widgets(&server, "default").get_opt("web").await.expect("get"), None);
}

#[tokio::test]
async fn kubectl_server_dry_run_persists_nothing() {
    let server = server().await;
    let dir = server.temp_dir().join("manifests");
    write_manifests(&dir, "nginx");
    let out = succeed(&server, &["apply", "--dry-run=server", "-f", dir.to_str().unwrap()]).await;
    assert!(out.contains("created (server dry run)"), "{out}");
    assert_eq!(widgets(&server, "default").get_opt("web").await.expect("get"), None);
    let writes = server
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .all(|r| r.path.contains("dryRun=All"));
    assert!(writes, "every write carried dryRun=All");
}
