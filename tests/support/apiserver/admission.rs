//! The admission pipeline every write of an object goes through before it is stored, in
//! kube-apiserver's order: prune unknown fields (reporting them per `fieldValidation`), apply
//! schema defaults, validate metadata, the OpenAPI schema, list-type invariants, then the CEL
//! rules (skipped, with a note, when the object has type errors). Pure.

use serde_json::Value;

use super::cel;
use super::http::FieldValidation;
use super::meta;
use super::prune;
use super::registry::ResourceType;
use super::schema;
use super::status::{ApiError, Cause, invalid_cause};

/// What the write was, for wording the strict-decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Write,
    Apply,
}

/// Prunes, defaults and validates `object` in place. Returns the warnings to send back.
pub fn admit(
    resource: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
    verb: Verb,
) -> Result<Vec<String>, ApiError> {
    let name = meta::name(object).unwrap_or_default().to_string();
    let subject = resource.subject(&name);
    let mut warnings = Vec::new();
    if let Some(schema) = &resource.schema {
        let unknown = prune::prune(schema, object);
        if !unknown.is_empty() {
            match (verb, validation) {
                (Verb::Apply, _) => {
                    let first = &unknown[0];
                    return Err(ApiError::bad_request(format!(
                        "failed to create typed patch object ({}, Kind={}): .{first}: field not declared in schema",
                        resource.api_version(),
                        resource.kind
                    )));
                }
                (Verb::Write, FieldValidation::Strict) => {
                    let fields: Vec<String> =
                        unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
                    return Err(ApiError::bad_request(format!(
                        "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                        resource.kind,
                        resource.version,
                        resource.kind,
                        fields.join(", ")
                    )));
                }
                (Verb::Write, FieldValidation::Warn) => {
                    warnings.extend(unknown.iter().map(|f| format!("unknown field {f:?}")));
                }
                (Verb::Write, FieldValidation::Ignore) => {}
            }
        }
        prune::apply_defaults(schema, object);
    }
    let mut causes = validate_metadata(resource, object);
    if let Some(schema) = &resource.schema {
        let schema_causes = schema::validate(schema, object);
        let blocking = schema_causes.iter().any(|c| c.reason == "FieldValueTypeInvalid");
        causes.extend(schema_causes);
        if blocking {
            causes.push(cel::skipped_cause());
        } else {
            causes.extend(cel::validate(schema, object, old));
        }
    }
    if causes.is_empty() { Ok(warnings) } else { Err(ApiError::invalid(&subject, causes)) }
}

fn validate_metadata(resource: &ResourceType, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    match meta::name(object) {
        Some(name) => causes.extend(meta::validate_name(name, resource.name_rule)),
        None => causes.push(meta::name_required()),
    }
    for (i, finalizer) in meta::finalizers(object).iter().enumerate() {
        if !meta::is_qualified_name(finalizer) {
            causes.push(invalid_cause(
                &format!("metadata.finalizers[{i}]"),
                &Value::String(finalizer.clone()),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ));
        }
    }
    causes
}
