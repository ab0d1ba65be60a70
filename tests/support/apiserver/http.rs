//! The request and reply shapes handlers work with, decoupled from hyper: query parameters,
//! content negotiation, body decoding, and resolution of a URL path to the resource it names.
//! Pure apart from the reply's optional body stream.

use std::collections::HashMap;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use super::registry::{Registry, ResourceType};
use super::status::ApiError;

pub struct Request {
    pub method: Method,
    pub path: String,
    pub path_and_query: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    pub body: Bytes,
}

/// `fieldValidation`: what to do about fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl Request {
    pub fn new(
        method: Method,
        path_and_query: &str,
        headers: &http::HeaderMap,
        body: Bytes,
    ) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let query = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let header = |name: http::header::HeaderName| {
            headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
        };
        Request {
            method,
            path: path.to_string(),
            path_and_query: path_and_query.to_string(),
            query,
            content_type: header(http::header::CONTENT_TYPE),
            accept: header(http::header::ACCEPT),
            user_agent: header(http::header::USER_AGENT),
            body,
        }
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `true` for `?key=true` and `?key=1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    pub fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.param("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// The manager recorded in managedFields: `?fieldManager=`, else the user agent's program.
    pub fn manager(&self) -> String {
        if let Some(manager) = self.param("fieldManager") {
            return manager.to_string();
        }
        let program = self.user_agent.split('/').next().unwrap_or_default();
        if program.is_empty() { "unknown".into() } else { program.to_string() }
    }

    pub fn wants_table(&self) -> bool {
        self.accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
    }

    /// Whether the client asked for metadata only (`as=PartialObjectMetadata` or
    /// `as=PartialObjectMetadataList`, as `Api<PartialObjectMeta<K>>` does).
    pub fn wants_metadata_only(&self) -> bool {
        self.accept
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=PartialObjectMetadata"))
    }

    pub fn media_type(&self) -> &str {
        self.content_type.split(';').next().unwrap_or_default().trim()
    }

    /// Decodes a JSON (or, for apply patches, YAML) body.
    pub fn body_value(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the body of the request was empty"));
        }
        if let Ok(value) = serde_json::from_slice(&self.body) {
            return Ok(value);
        }
        let text = std::str::from_utf8(&self.body)
            .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
        if self.media_type() == "application/apply-patch+yaml" {
            return serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
        }
        let error =
            serde_json::from_str::<Value>(text).err().map(|e| e.to_string()).unwrap_or_default();
        Err(ApiError::bad_request(format!("error decoding request body: {error}")))
    }
}

pub enum Body {
    Json(Value),
    Text(String),
    Stream(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

pub struct Reply {
    pub status: u16,
    pub body: Body,
    pub warnings: Vec<String>,
    pub retry_after_seconds: Option<u32>,
}

impl Reply {
    pub fn json(status: u16, value: Value) -> Self {
        Reply { status, body: Body::Json(value), warnings: Vec::new(), retry_after_seconds: None }
    }

    pub fn ok(value: Value) -> Self {
        Self::json(200, value)
    }

    pub fn text(status: u16, text: &str) -> Self {
        let mut reply = Self::json(status, Value::Null);
        reply.body = Body::Text(text.to_string());
        reply
    }

    pub fn stream(receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Self {
        let mut reply = Self::json(200, Value::Null);
        reply.body = Body::Stream(receiver);
        reply
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings.extend(warnings);
        self
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        let mut reply = Reply::json(error.code, error.to_json());
        reply.retry_after_seconds = error.details.retry_after_seconds;
        reply
    }
}

/// A URL naming a resource collection, object or subresource.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses `/api/v1/...` or `/apis/{group}/{version}/...` into a `Target`.
pub fn resolve(registry: &Registry, path: &str) -> Result<Target, ApiError> {
    let not_found =
        || ApiError::new(404, "NotFound", "the server could not find the requested resource");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found()),
    };
    let known = |plural: &str| registry.find(group, version, plural).is_some();
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if known(plural) && *plural != "namespaces" => {
            (Some(ns.to_string()), {
                let mut v = vec![*plural];
                v.extend_from_slice(tail);
                v
            })
        }
        other => (None, other.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(not_found()),
    };
    let resource = registry.find(group, version, plural).cloned().ok_or_else(not_found)?;
    if namespace.is_some() && !resource.namespaced {
        return Err(not_found());
    }
    if let Some(sub) = &subresource
        && !(sub == "status" && resource.status_subresource)
    {
        return Err(not_found());
    }
    Ok(Target { resource, namespace, name, subresource })
}
