//! A CloudAccount's own resources against AWS: the HTTP→HTTPS redirect listener is created again
//! when an earlier apply failed to (moto), and the teardown counts every service still on the
//! cluster however many pages ListServices answers in (a stand-in ECS that pages by 10).

mod support;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use byoc::{
    api::CloudAccount,
    aws::{Aws, CallCounter, RateLimiter},
    resources::{Action, Kind, account_teardown},
};
use serde_json::{Value, json};
use support::moto::World;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

const SECURE: &str = r#"
apiVersion: byoc.dev/v1alpha1
kind: CloudService
metadata: { name: web, namespace: shop }
spec:
  accountRef: { name: ACCOUNT }
  image: nginx:1.27
  ports: [{ name: http, containerPort: 80 }]
  ingress: { loadBalancer: secure, hosts: [shop.example.com], port: http }
"#;

/// `(port, listener ARN, redirects to HTTPS)` of each listener of the world's HTTPS load balancer.
async fn secure_listeners(w: &World) -> Vec<(i32, String, bool)> {
    let lbs = w.aws.elb.describe_load_balancers().send().await.unwrap();
    let lb = lbs
        .load_balancers()
        .iter()
        .find(|l| {
            let name = l.load_balancer_name().unwrap();
            name.contains("secure") && name.contains(&w.account[..8])
        })
        .unwrap();
    let out = w
        .aws
        .elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    let mut listeners: Vec<_> = out
        .listeners()
        .iter()
        .map(|l| {
            let redirect = l.default_actions().first().and_then(|a| a.redirect_config());
            (
                l.port().unwrap(),
                l.listener_arn().unwrap().to_string(),
                redirect.is_some_and(|r| r.protocol() == Some("HTTPS")),
            )
        })
        .collect();
    listeners.sort();
    listeners
}

#[tokio::test]
async fn a_redirect_listener_that_failed_to_be_created_is_created_by_the_next_apply() {
    let w = World::with_https("redir");
    w.apply(SECURE).await.unwrap();
    let before = secure_listeners(&w).await;
    assert_eq!(before.iter().map(|l| (l.0, l.2)).collect::<Vec<_>>(), [(80, true), (443, false)]);
    // What a failed CreateListener for the redirect leaves behind: the HTTPS listener alone.
    w.aws.elb.delete_listener().listener_arn(&before[0].1).send().await.unwrap();

    let plans = w.plan(SECURE).await;
    let account_changes: Vec<_> =
        plans.iter().filter(|(label, _)| label.starts_with("CloudAccount")).collect();
    let listener_creates: Vec<&str> = account_changes
        .iter()
        .flat_map(|(_, plan)| plan.changes.iter())
        .filter(|c| c.kind == Kind::Listener && c.action == Action::Create)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(listener_creates.len(), 1, "{listener_creates:?}");
    assert!(listener_creates[0].ends_with(" 80"), "the plan names the redirect listener");

    w.apply(SECURE).await.unwrap();
    let after = secure_listeners(&w).await;
    assert_eq!(after.iter().map(|l| (l.0, l.2)).collect::<Vec<_>>(), [(80, true), (443, false)]);
    assert_eq!(after[1].1, before[1].1, "the HTTPS listener and its rules are untouched");
    assert!(w.plan(SECURE).await.iter().all(|(_, p)| p.is_empty()), "settled");
}

/// A stand-in for ECS's JSON API that knows one cluster of ours with `services` services and
/// answers ListServices in pages of at most 10, as ECS does without `maxResults`, or of
/// `maxResults` when asked. Returns its endpoint and the ListServices requests it saw.
async fn paging_ecs(services: usize, account: &str, cluster_id: &str) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen: Requests = Arc::default();
    let (account, cluster_id, log) = (account.to_string(), cluster_id.to_string(), seen.clone());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (account, cluster_id, log) = (account.clone(), cluster_id.clone(), log.clone());
            tokio::spawn(async move {
                while let Some((target, body)) = read_request(&mut socket).await {
                    let answer = answer(&target, &body, services, &account, &cluster_id, &log);
                    let text = answer.to_string();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (endpoint, seen)
}

type Requests = Arc<Mutex<Vec<Value>>>;

/// One HTTP/1.1 request: the `x-amz-target` operation and the JSON body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Value)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    let target = header("x-amz-target").unwrap_or_default();
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    Some((target, body))
}

fn answer(
    target: &str,
    body: &Value,
    services: usize,
    account: &str,
    cluster_id: &str,
    seen: &Requests,
) -> Value {
    let arn = |i: usize| format!("arn:aws:ecs:eu-west-1:123456789012:service/byoc-demo/svc-{i:03}");
    match target.rsplit('.').next().unwrap_or_default() {
        "describeclusters" => json!({"clusters": [{
            "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/byoc-demo",
            "clusterName": "byoc-demo",
            "status": "ACTIVE",
            "tags": [
                {"key": "byoc.dev/managed-by", "value": "byoc-operator"},
                {"key": "byoc.dev/cluster-id", "value": cluster_id},
                {"key": "byoc.dev/account", "value": account},
            ],
        }], "failures": []}),
        "listservices" => {
            seen.lock().unwrap().push(body.clone());
            let page = body["maxResults"].as_u64().unwrap_or(10) as usize;
            let start: usize = body["nextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
            let end = (start + page).min(services);
            let mut out = json!({"serviceArns": (start..end).map(arn).collect::<Vec<_>>()});
            if end < services {
                out["nextToken"] = json!(end.to_string());
            }
            out
        }
        "describeservices" => {
            let names = body["services"].as_array().cloned().unwrap_or_default();
            let described: Vec<Value> = names
                .iter()
                .map(|n| json!({"serviceArn": n, "serviceName": n, "status": "ACTIVE"}))
                .collect();
            json!({"services": described, "failures": []})
        }
        other => panic!("unexpected ECS operation {other}"),
    }
}

#[tokio::test]
async fn the_teardown_counts_every_service_on_the_cluster_across_pages() {
    let account: CloudAccount = serde_json::from_value(json!({
        "apiVersion": "byoc.dev/v1alpha1", "kind": "CloudAccount", "metadata": {"name": "demo"},
        "spec": {
            "aws": {"region": "eu-west-1"},
            "network": {"vpcId": "vpc-0a1b2c3d4e5f67890", "subnetIds": ["subnet-0a1b2c3d4e5f67890"],
                        "securityGroupIds": ["sg-0a1b2c3d4e5f67890"]},
            "cluster": {"name": "byoc-demo"},
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        }
    }))
    .unwrap();
    for (services, pages) in [(0, 1), (7, 1), (100, 1), (101, 2), (250, 3)] {
        let (endpoint, seen) = paging_ecs(services, "demo", "test").await;
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "test"),
            ))
            .build();
        let aws = Aws::new(&config, CallCounter::default(), RateLimiter::unlimited());
        let plan =
            account_teardown::teardown(&aws, "demo", &account.spec, "test", false).await.unwrap();
        let cluster: BTreeMap<_, _> = plan
            .changes
            .iter()
            .filter(|c| c.kind == Kind::Cluster)
            .map(|c| (c.id.as_str(), &c.action))
            .collect();
        let expected = if services == 0 {
            Action::Delete
        } else {
            Action::Keep(format!("{services} service(s) still run on it"))
        };
        assert_eq!(cluster.get("byoc-demo"), Some(&&expected), "{services} services");
        let requests = seen.lock().unwrap().clone();
        assert_eq!(requests.len(), pages, "{services} services: {requests:?}");
        assert!(requests.iter().all(|r| r["maxResults"] == 100), "pages of 100: {requests:?}");
    }
}
