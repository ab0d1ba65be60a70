//! The AWS wire protocols the layer speaks, as plain functions: which service and operation a
//! request is, the error shapes the SDKs parse, and the little XML the ELBv2 behaviours read.
//! Pure; no IO.
//!
//! - JSON 1.1 services (ECS, ECR, CloudWatch Logs, Secrets Manager, CodeBuild) name the operation in
//!   `X-Amz-Target: <Prefix>.<Operation>` and answer errors as HTTP 4xx/5xx with
//!   `{"__type": "<Code>", "message": "<text>"}` (Smithy `awsJson1_1` protocol,
//!   <https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html>: "the error type is read from
//!   the `__type` member"; the Rust SDK reads `__type` or `code` and `message` or `Message`).
//! - Query services (ELBv2, EC2, STS) send a form body `Action=<Operation>&Version=<date>` and
//!   answer errors as `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message>
//!   </Error><RequestId>…</RequestId></ErrorResponse>` (Smithy `awsQuery` protocol,
//!   <https://smithy.io/2.0/aws/protocols/aws-query-protocol.html>).
//! - Route 53 (REST-XML) names the operation by method and path (`POST
//!   /2013-04-01/hostedzone/{Id}/rrset` is ChangeResourceRecordSets) and answers errors in the
//!   same `<ErrorResponse><Error>…` shape, in its own namespace (Smithy `restXml`,
//!   <https://smithy.io/2.0/aws/protocols/aws-restxml-protocol.html>).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};

/// The ELBv2 XML namespace, for responses the layer writes itself.
pub const ELB_NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// A request, buffered.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: http::Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub service: String,
    pub operation: String,
}

impl Req {
    /// The JSON body (JSON 1.1 services); `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The form parameters (Query services), in order.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// A response, buffered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_default()
    }

    /// The same response with a new JSON body.
    pub fn with_json(mut self, body: &Value) -> Reply {
        self.body = Bytes::from(body.to_string());
        self
    }

    /// The AWS error code of a failed response (`__type` minus any namespace, or `<Code>`).
    pub fn error_code(&self) -> Option<String> {
        if self.is_success() {
            return None;
        }
        if let Some(kind) = self.json().get("__type").and_then(Value::as_str) {
            return Some(kind.rsplit('#').next().unwrap_or(kind).to_string());
        }
        tag_text(self.text(), "Code").map(str::to_string)
    }
}

/// The service (`ecs`, `elbv2`, `secretsmanager`, `ecr`, `logs`, `ec2`, `s3`, …) and operation of
/// a request. Other requests (REST) are named by method and path.
pub fn classify(
    method: &http::Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, String) {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let scope = credential_scope_service(header("authorization"));
    if let Some((prefix, operation)) = header("x-amz-target").split_once('.') {
        let service = match prefix {
            "AmazonEC2ContainerServiceV20141113" => "ecs".to_string(),
            "AmazonEC2ContainerRegistry_V20150921" => "ecr".to_string(),
            "Logs_20140328" => "logs".to_string(),
            "secretsmanager" => "secretsmanager".to_string(),
            "CodeBuild_20161006" => "codebuild".to_string(),
            "AnyScaleFrontendService" => "autoscaling".to_string(),
            "Route53AutoNaming_v20170314" => "servicediscovery".to_string(),
            "CertificateManager" => "acm".to_string(),
            _ => scope.unwrap_or_else(|| prefix.to_lowercase()),
        };
        return (service, operation.to_string());
    }
    let form: Vec<(String, String)> =
        if header("content-type").starts_with("application/x-www-form-urlencoded") {
            form_urlencoded::parse(body).into_owned().collect()
        } else {
            Vec::new()
        };
    let param = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    if let Some(action) = param("Action") {
        let service = match (scope.as_deref(), param("Version").as_deref()) {
            (_, Some("2015-12-01")) => "elbv2".to_string(),
            (Some("elasticloadbalancing"), _) => "elb".to_string(),
            (Some(scope), _) => scope.to_string(),
            (None, _) => "unknown".to_string(),
        };
        return (service, action);
    }
    if scope.as_deref() == Some("s3") {
        return ("s3".into(), s3_operation(method, path, query).to_string());
    }
    if scope.as_deref() == Some("route53")
        && let Some(operation) = route53_operation(method, path)
    {
        return ("route53".into(), operation.to_string());
    }
    let service = scope.unwrap_or_else(|| "unknown".into());
    (service, format!("{method} {path}"))
}

/// The S3 REST operation of a path-style request (`/bucket/key?subresource`), as the API
/// reference names them: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html>
fn s3_operation(method: &http::Method, path: &str, query: &str) -> &'static str {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let bucket = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let has = |name: &str| query.split('&').any(|p| p.split('=').next() == Some(name));
    let method = method.as_str();
    match (method, bucket.is_empty(), key.is_empty()) {
        ("GET", true, _) => "ListBuckets",
        ("GET", false, true) if has("tagging") => "GetBucketTagging",
        ("GET", false, true) if has("list-type") => "ListObjectsV2",
        ("GET", false, true) => "ListObjects",
        ("PUT", false, true) if has("tagging") => "PutBucketTagging",
        ("PUT", false, true) if has("lifecycle") => "PutBucketLifecycleConfiguration",
        ("PUT", false, true) if has("encryption") => "PutBucketEncryption",
        ("PUT", false, true) if has("publicAccessBlock") => "PutPublicAccessBlock",
        ("PUT", false, true) => "CreateBucket",
        ("POST", false, true) if has("delete") => "DeleteObjects",
        ("DELETE", false, true) => "DeleteBucket",
        ("HEAD", false, true) => "HeadBucket",
        ("HEAD", false, false) => "HeadObject",
        ("GET", false, false) => "GetObject",
        ("PUT", false, false) => "PutObject",
        ("DELETE", false, false) => "DeleteObject",
        _ => "UnknownS3Operation",
    }
}

/// The Route 53 REST operation of a request (`/2013-04-01/hostedzone/{Id}/rrset`, …), as the API
/// reference names them: <https://docs.aws.amazon.com/Route53/latest/APIReference/API_Operations_Amazon_Route_53.html>
fn route53_operation(method: &http::Method, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/2013-04-01/")?.trim_end_matches('/');
    let parts: Vec<&str> = rest.split('/').collect();
    Some(match (method.as_str(), parts.as_slice()) {
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["change", _]) => "GetChange",
        _ => return None,
    })
}

/// The service named in a SigV4 `Authorization` header's credential scope.
fn credential_scope_service(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    let credential = credential.split([',', ' ']).next()?;
    credential.split('/').nth(3).map(str::to_string)
}

/// A SigV4 `Authorization` header with its credential scope's service replaced by `service`.
pub fn rescope(authorization: &str, service: &str) -> String {
    let Some((head, rest)) = authorization.split_once("Credential=") else {
        return authorization.to_string();
    };
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    let mut scope: Vec<&str> = rest[..end].split('/').collect();
    if scope.len() == 5 {
        scope[3] = service;
    }
    format!("{head}Credential={}{}", scope.join("/"), &rest[end..])
}

/// A JSON 1.1 error response.
pub fn json_error(status: u16, code: &str, message: &str) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    if let Ok(value) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-requestid", value);
    }
    let body = json!({ "__type": code, "message": message });
    Reply { status, headers, body: Bytes::from(body.to_string()) }
}

/// A JSON 1.1 success response.
pub fn json_reply(body: &Value) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    Reply { status: 200, headers, body: Bytes::from(body.to_string()) }
}

/// A Query-protocol (ELBv2) error response.
pub fn query_error(status: u16, kind: &str, code: &str, message: &str) -> Reply {
    let body = format!(
        r#"<ErrorResponse xmlns="{ELB_NAMESPACE}"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        escape(message),
        request_id()
    );
    xml_reply(status, body)
}

/// A Query-protocol success response.
pub fn xml_reply(status: u16, body: String) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    Reply { status, headers, body: Bytes::from(body) }
}

/// The throttling error each service really answers.
pub fn throttled(service: &str) -> Reply {
    match service {
        // Route 53's XML errors have the Query shape.
        "elbv2" | "elb" | "route53" => query_error(400, "Sender", "Throttling", "Rate exceeded"),
        _ => json_error(400, "ThrottlingException", "Rate exceeded"),
    }
}

/// The server-error shape of each service (HTTP 500).
pub fn server_error(service: &str) -> Reply {
    match service {
        "elbv2" | "elb" | "route53" => {
            query_error(500, "Receiver", "InternalFailure", "An internal error has occurred.")
        }
        "ecs" | "ecr" => {
            json_error(500, "ServerException", "Service encountered an internal error.")
        }
        "secretsmanager" => {
            json_error(500, "InternalServiceError", "An error occurred on the server side.")
        }
        "logs" => json_error(
            500,
            "ServiceUnavailableException",
            "The service cannot complete the request.",
        ),
        _ => json_error(500, "InternalFailure", "An internal error has occurred."),
    }
}

/// A request id in AWS's UUID shape; unique enough for logs.
fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// XML-escapes text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The text of the first `<tag>…</tag>` in `xml`.
pub fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    element(xml, tag)
}

/// The inner text of every `<tag>…</tag>` in `xml`, in order (not nested in each other).
pub fn tag_texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// The inner text of the first element called `tag`, with nested elements of the same name
/// matched properly.
pub fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let mut depth = 0usize;
    for (at, name, kind) in tags(&xml[start..]) {
        match kind {
            TagKind::Open if name == tag => depth += 1,
            TagKind::Close if name == tag => {
                if depth == 0 {
                    return Some(&xml[start..start + at]);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// The inner texts of the `<member>` elements directly inside `xml` (one level deep).
pub fn members(xml: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for (at, name, kind) in tags(xml) {
        match kind {
            TagKind::Open => {
                if depth == 0 && name == "member" {
                    start = Some(xml[at..].find('>').map_or(at, |i| at + i + 1));
                }
                depth += 1;
            }
            TagKind::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0
                    && name == "member"
                    && let Some(s) = start.take()
                {
                    out.push(&xml[s..at]);
                }
            }
            TagKind::Empty => {}
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TagKind {
    Open,
    Close,
    Empty,
}

/// Every tag in `xml`: byte offset of its `<`, name, and kind. Declarations and comments are
/// skipped.
fn tags(xml: &str) -> Vec<(usize, &str, TagKind)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(lt) = xml[from..].find('<') {
        let at = from + lt;
        let Some(gt) = xml[at..].find('>') else { break };
        let inner = &xml[at + 1..at + gt];
        from = at + gt + 1;
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        let (kind, inner) = if let Some(name) = inner.strip_prefix('/') {
            (TagKind::Close, name)
        } else if let Some(name) = inner.strip_suffix('/') {
            (TagKind::Empty, name)
        } else {
            (TagKind::Open, inner)
        };
        let name = inner.split_whitespace().next().unwrap_or_default();
        out.push((at, name, kind));
    }
    out
}
