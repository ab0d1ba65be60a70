//! Kubernetes `Status` error bodies: every failure the stand-in reports is an `ApiError`, which
//! renders as the `{"kind":"Status",...}` JSON kube-apiserver sends, with the same reason, code,
//! message wording and `details.causes`. Pure: no IO.

use serde_json::{Value, json};

/// One entry of `details.causes`, e.g. a schema violation at `spec.ingress.port`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// A failed request, as the real API server would describe it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Box<Details>,
}

/// `details` of a `Status`.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    pub retry_after_seconds: Option<u32>,
}

/// Identifies an object in error messages: `cloudservices.byoc.dev "web"`.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `cloudservices` or `cloudservices.byoc.dev`.
    pub qualified_resource: String,
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: Box::default() }
    }

    fn about(mut self, subject: &Subject, kind: String) -> Self {
        self.details.name = Some(subject.name.clone());
        self.details.group = Some(subject.group.clone());
        self.details.kind = Some(kind);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found(subject: &Subject) -> Self {
        let message = format!("{} \"{}\" not found", subject.qualified_resource, subject.name);
        let resource = plural_of(subject);
        Self::new(404, "NotFound", message).about(subject, resource)
    }

    pub fn namespace_not_found(namespace: &str) -> Self {
        let subject = Subject {
            qualified_resource: "namespaces".into(),
            group: String::new(),
            kind: "Namespace".into(),
            name: namespace.into(),
        };
        Self::not_found(&subject)
    }

    pub fn already_exists(subject: &Subject) -> Self {
        let message = format!("{} \"{}\" already exists", subject.qualified_resource, subject.name);
        let resource = plural_of(subject);
        Self::new(409, "AlreadyExists", message).about(subject, resource)
    }

    /// The optimistic-concurrency failure: a write carried a stale `resourceVersion`.
    pub fn conflict(subject: &Subject) -> Self {
        Self::conflict_because(
            subject,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict_because(subject: &Subject, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{}\": {}",
            subject.qualified_resource, subject.name, why
        );
        let resource = plural_of(subject);
        Self::new(409, "Conflict", message).about(subject, resource)
    }

    /// 422 with one cause per violated field: `CloudService.byoc.dev "web" is invalid: ...`.
    pub fn invalid(subject: &Subject, causes: Vec<Cause>) -> Self {
        let group_kind = if subject.group.is_empty() {
            subject.kind.clone()
        } else {
            format!("{}.{}", subject.kind, subject.group)
        };
        let rendered: Vec<String> = causes.iter().map(render_cause).collect();
        let listed = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let message = format!("{group_kind} \"{}\" is invalid: {listed}", subject.name);
        let mut error = Self::new(422, "Invalid", message).about(subject, subject.kind.clone());
        error.details.causes = causes;
        error
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    pub fn forbidden(subject: &Subject, why: &str) -> Self {
        let message =
            format!("{} \"{}\" is forbidden: {why}", subject.qualified_resource, subject.name);
        let resource = plural_of(subject);
        Self::new(403, "Forbidden", message).about(subject, resource)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {}", message.into()))
    }

    pub fn too_many_requests(retry_after_seconds: u32) -> Self {
        let mut error = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        error.details.retry_after_seconds = Some(retry_after_seconds);
        error
    }

    pub fn to_json(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(name) = &self.details.name {
            details.insert("name".into(), json!(name));
        }
        if let Some(group) = &self.details.group {
            details.insert("group".into(), json!(group));
        }
        if let Some(kind) = &self.details.kind {
            details.insert("kind".into(), json!(kind));
        }
        if !self.details.causes.is_empty() {
            let causes: Vec<Value> = self
                .details
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(seconds) = self.details.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(seconds));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// The `Status` a watch stream carries in an `ERROR` event when the requested version is gone.
pub fn expired_watch_event(requested: u64, oldest: u64) -> Value {
    let error = ApiError::gone(format!("too old resource version: {requested} ({oldest})"));
    json!({"type": "ERROR", "object": error.to_json()})
}

fn plural_of(subject: &Subject) -> String {
    subject.qualified_resource.split('.').next().unwrap_or_default().to_string()
}

/// `spec.x: Invalid value: "y": detail` — the way `field.Error` prints itself.
fn render_cause(cause: &Cause) -> String {
    if cause.field.is_empty() || cause.field == "<nil>" {
        cause.message.clone()
    } else {
        format!("{}: {}", cause.field, cause.message)
    }
}

/// Formats a bad value the way `field.Error.ErrorBody` does: strings quoted, numbers bare,
/// everything else as JSON.
pub fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// `field.Invalid`: `Invalid value: <value>: <detail>`.
pub fn invalid_cause(field: &str, value: &Value, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {}: {detail}", render_value(value)),
        field: field.into(),
    }
}

/// `field.TypeInvalid`: same wording as `Invalid`, different reason.
pub fn type_invalid_cause(field: &str, value: &Value, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueTypeInvalid".into(),
        message: format!("Invalid value: {}: {detail}", render_value(value)),
        field: field.into(),
    }
}

pub fn required_cause(field: &str, detail: &str) -> Cause {
    let message = if detail.is_empty() {
        "Required value".to_string()
    } else {
        format!("Required value: {detail}")
    };
    Cause { reason: "FieldValueRequired".into(), message, field: field.into() }
}

pub fn forbidden_cause(field: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {detail}"),
        field: field.into(),
    }
}

pub fn not_supported_cause(field: &str, value: &Value, allowed: &[Value]) -> Cause {
    let allowed: Vec<String> = allowed.iter().map(render_value).collect();
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!(
            "Unsupported value: {}: supported values: {}",
            render_value(value),
            allowed.join(", ")
        ),
        field: field.into(),
    }
}

pub fn duplicate_cause(field: &str, value: &Value) -> Cause {
    Cause {
        reason: "FieldValueDuplicate".into(),
        message: format!("Duplicate value: {}", render_value(value)),
        field: field.into(),
    }
}

pub fn too_many_cause(field: &str, actual: usize, max: u64) -> Cause {
    Cause {
        reason: "FieldValueTooMany".into(),
        message: format!("Too many: {actual}: must have at most {max} items"),
        field: field.into(),
    }
}

pub fn too_long_cause(field: &str, max: u64) -> Cause {
    Cause {
        reason: "FieldValueTooLong".into(),
        message: format!("Too long: may not be more than {max} bytes"),
        field: field.into(),
    }
}
