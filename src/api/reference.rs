//! The API reference (`docs/api-reference.md`), generated from the CRDs: for each kind its names,
//! printer columns and every field of `spec` and `status` with its path, type, default, whether it
//! is required, its validation (OpenAPI bounds, patterns, enums, CEL rules) and its description.
//!
//! Pure: CRDs in, Markdown out, deterministic so a test can compare it with the committed file.

use std::fmt::Write;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps,
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

// Writing into a `String` cannot fail: the `fmt::Result`s of `write!` are ignored throughout.

/// How the committed reference is regenerated; the header of the file and the test's failure say it.
pub const REGENERATE: &str = "BYOC_UPDATE_GOLDEN=1 cargo nextest run --test api_reference";

/// The whole reference for `crds`, in the order given.
pub fn markdown(crds: &[CustomResourceDefinition]) -> String {
    let mut out = String::new();
    out.push_str("# API reference\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the CRDs by src/api/reference.rs; do not edit. Regenerate with: {REGENERATE} -->\n"
    );
    out.push_str(
        "Every field of the custom resources, generated from the CRDs the operator installs \
         (`byoc crds`). A path such as `spec.ingress.hosts` names a field; `[]` steps into the \
         items of a list and `{}` into the values of a map. \"Required\" is relative to the \
         enclosing object: a required field of an optional object is needed only when that object \
         is set. Defaults are applied by the API server. `kubectl explain` shows the same \
         descriptions.\n\n",
    );
    for crd in crds {
        for version in &crd.spec.versions {
            let anchor = kind_anchor(crd, version);
            let _ = writeln!(
                out,
                "- [{}](#{anchor}) ([spec](#{anchor}-spec), [status](#{anchor}-status), \
                 [printer columns](#{anchor}-printer-columns))",
                title(crd, version)
            );
        }
    }
    for crd in crds {
        for version in &crd.spec.versions {
            out.push('\n');
            kind_section(&mut out, crd, version);
        }
    }
    out
}

fn title(crd: &CustomResourceDefinition, version: &CustomResourceDefinitionVersion) -> String {
    if crd.spec.versions.len() > 1 {
        format!("{} {}", crd.spec.names.kind, version.name)
    } else {
        crd.spec.names.kind.clone()
    }
}

fn kind_anchor(
    crd: &CustomResourceDefinition,
    version: &CustomResourceDefinitionVersion,
) -> String {
    title(crd, version).to_lowercase().replace(' ', "-")
}

fn kind_section(
    out: &mut String,
    crd: &CustomResourceDefinition,
    version: &CustomResourceDefinitionVersion,
) {
    let names = &crd.spec.names;
    let anchor = kind_anchor(crd, version);
    let _ = writeln!(out, "<a id=\"{anchor}\"></a>\n\n## {}\n", title(crd, version));
    let scope = if crd.spec.scope == "Namespaced" { "namespaced" } else { "cluster-scoped" };
    let mut facts = vec![
        format!("`apiVersion: {}/{}`", crd.spec.group, version.name),
        scope.to_string(),
        format!("plural `{}`", names.plural),
    ];
    for short in names.short_names.iter().flatten() {
        facts.push(format!("short name `{short}`"));
    }
    for category in names.categories.iter().flatten() {
        facts.push(format!("category `{category}` (`kubectl get {category}`)"));
    }
    let subresources = version.subresources.as_ref();
    if subresources.is_some_and(|s| s.status.is_some()) {
        facts.push("status subresource".into());
    }
    if subresources.is_some_and(|s| s.scale.is_some()) {
        facts.push("scale subresource".into());
    }
    let serving = match (version.served, version.storage) {
        (true, true) => "served, storage version",
        (true, false) => "served",
        (false, true) => "not served, storage version",
        (false, false) => "not served",
    };
    facts.push(serving.into());
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if version.deprecated == Some(true) {
        let warning =
            version.deprecation_warning.as_deref().unwrap_or("this version is deprecated");
        let _ = writeln!(out, "**Deprecated:** {}\n", escape_html(warning));
    }
    let root = version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
    if let Some(description) = root.and_then(|r| r.description.as_deref()) {
        let _ = writeln!(out, "{}\n", escape_html(description.trim()));
    }
    printer_columns(out, &anchor, version);
    let Some(root) = root else { return };
    for (name, schema) in root.properties.iter().flatten() {
        if matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let required = is_required(root, name);
        let field = Field { path: name.clone(), required: Required::from(required, None), schema };
        field_section(out, &anchor, &field, 3);
    }
}

fn printer_columns(out: &mut String, anchor: &str, version: &CustomResourceDefinitionVersion) {
    let _ = writeln!(out, "<a id=\"{anchor}-printer-columns\"></a>\n\n### Printer columns\n");
    let columns = version.additional_printer_columns.as_deref().unwrap_or_default();
    if columns.is_empty() {
        out.push_str("None: `kubectl get` shows the name and age.\n\n");
        return;
    }
    out.push_str("`kubectl get` shows these columns; those marked `-o wide` only with it.\n\n");
    let described = columns.iter().any(|c| c.description.as_deref().is_some_and(|d| !d.is_empty()));
    if described {
        out.push_str(
            "| Column | JSONPath | Type | Shown | Description |\n| --- | --- | --- | --- | --- |\n",
        );
    } else {
        out.push_str("| Column | JSONPath | Type | Shown |\n| --- | --- | --- | --- |\n");
    }
    for column in columns {
        let shown = if column.priority.unwrap_or(0) > 0 { "`-o wide`" } else { "always" };
        let kind = match &column.format {
            Some(format) => format!("{} ({format})", column.type_),
            None => column.type_.clone(),
        };
        let _ = write!(
            out,
            "| {} | {} | {kind} | {shown} |",
            cell(&column.name),
            cell(&code(&column.json_path))
        );
        if described {
            let _ = write!(out, " {} |", cell(column.description.as_deref().unwrap_or("")));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// One field: its path, whether its enclosing object requires it, and its schema.
struct Field<'a> {
    path: String,
    required: Required,
    schema: &'a JSONSchemaProps,
}

/// Whether a field must be set, relative to where it sits.
enum Required {
    No,
    /// Required in the top-level object.
    Always,
    /// Required whenever the enclosing optional object (or every item of a list) is set.
    Within(String),
}

impl Required {
    /// `parent`: the path of the enclosing object, `None` when it is always present (the
    /// top-level object, or a required object inside one).
    fn from(required: bool, parent: Option<&str>) -> Required {
        match (required, parent) {
            (false, _) => Required::No,
            (true, None) => Required::Always,
            (true, Some(parent)) => Required::Within(parent.to_string()),
        }
    }

    fn text(&self, has_default: bool) -> String {
        let defaulted = if has_default { " (defaulted when omitted)" } else { "" };
        match self {
            Required::No => "no".into(),
            Required::Always => format!("yes{defaulted}"),
            Required::Within(parent) if parent.ends_with("[]") => {
                format!("yes, in every item of `{}`{defaulted}", parent.trim_end_matches("[]"))
            }
            Required::Within(parent) if parent.ends_with("{}") => {
                format!("yes, in every value of `{}`{defaulted}", parent.trim_end_matches("{}"))
            }
            Required::Within(parent) => format!("yes, when `{parent}` is set{defaulted}"),
        }
    }
}

fn is_required(object: &JSONSchemaProps, name: &str) -> bool {
    object.required.iter().flatten().any(|r| r == name)
}

/// The anchor of a field: the kind, then the path's names joined by `-`.
pub fn field_anchor(kind_anchor: &str, path: &str) -> String {
    let names = path.replace("[]", "").replace("{}", "").replace('.', "-");
    format!("{kind_anchor}-{}", names.to_lowercase())
}

fn field_section(out: &mut String, kind_anchor: &str, field: &Field, level: usize) {
    let schema = field.schema;
    let anchor = field_anchor(kind_anchor, &field.path);
    let hashes = "#".repeat(level);
    let _ = writeln!(out, "<a id=\"{anchor}\"></a>\n\n{hashes} `{}`\n", field.path);
    let _ = writeln!(out, "- Type: {}", type_text(schema));
    let _ = writeln!(out, "- Required: {}", field.required.text(schema.default.is_some()));
    if let Some(default) = &schema.default {
        let _ = writeln!(out, "- Default: {}", code(&default.0.to_string()));
    }
    out.push('\n');
    if let Some(description) = schema.description.as_deref() {
        let _ = writeln!(out, "{}\n", escape_html(description.trim()));
    }
    let rules = rules::validation(schema);
    if !rules.is_empty() {
        out.push_str("Validation:\n\n");
        for rule in rules {
            let _ = writeln!(out, "- {rule}");
        }
        out.push('\n');
    }
    if let Some(item) = items(schema).and_then(|i| i.description.as_deref()) {
        let _ = writeln!(out, "Each item: {}\n", escape_html(item.trim()));
    }
    if let Some(value) = map_values(schema).and_then(|v| v.description.as_deref()) {
        let _ = writeln!(out, "Each value: {}\n", escape_html(value.trim()));
    }
    let (container, children) = children(field);
    if children.is_empty() {
        return;
    }
    let _ = writeln!(out, "Fields of `{container}`:\n");
    out.push_str("| Field | Type | Required | Default |\n| --- | --- | --- | --- |\n");
    for child in &children {
        let name = child.path.rsplit('.').next().unwrap_or(&child.path);
        let default = child.schema.default.as_ref().map(|d| code(&d.0.to_string()));
        let _ = writeln!(
            out,
            "| [`{name}`](#{}) | {} | {} | {} |",
            field_anchor(kind_anchor, &child.path),
            cell(&type_text(child.schema)),
            cell(&child.required.text(child.schema.default.is_some())),
            cell(default.as_deref().unwrap_or("")),
        );
    }
    out.push('\n');
    for child in &children {
        field_section(out, kind_anchor, child, 4);
    }
}

/// The fields one level below `field`: its own properties, or those of its list items or map
/// values (through lists of lists too); with the path of the object that holds them.
fn children<'a>(field: &Field<'a>) -> (String, Vec<Field<'a>>) {
    let mut container = field.path.clone();
    let mut object = field.schema;
    let mut always_present = matches!(field.required, Required::Always);
    loop {
        if let Some(item) = items(object) {
            container.push_str("[]");
            object = item;
        } else if let Some(value) = map_values(object) {
            container.push_str("{}");
            object = value;
        } else {
            break;
        }
        always_present = false;
    }
    let parent = (!always_present).then_some(container.as_str());
    let children = object
        .properties
        .iter()
        .flatten()
        .map(|(name, schema)| Field {
            path: format!("{container}.{name}"),
            required: Required::from(is_required(object, name), parent),
            schema,
        })
        .collect();
    (container, children)
}

fn items(schema: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match schema.items.as_ref()? {
        JSONSchemaPropsOrArray::Schema(item) => Some(item),
        JSONSchemaPropsOrArray::Schemas(all) => all.first(),
    }
}

fn map_values(schema: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match schema.additional_properties.as_ref()? {
        JSONSchemaPropsOrBool::Schema(values) => Some(values),
        JSONSchemaPropsOrBool::Bool(_) => None,
    }
}

/// The type as Go-like text: `string (date-time)`, `[]string`, `map[string]string`, `object`.
pub fn type_text(schema: &JSONSchemaProps) -> String {
    format!("`{}`", type_name(schema))
}

fn type_name(schema: &JSONSchemaProps) -> String {
    if schema.x_kubernetes_int_or_string == Some(true) {
        return "integer or string".into();
    }
    let free_form = schema.x_kubernetes_preserve_unknown_fields == Some(true);
    let base = match schema.type_.as_deref() {
        Some("array") => match items(schema) {
            Some(item) => format!("[]{}", type_name(item)),
            None => "[]any".into(),
        },
        Some("object") if schema.properties.is_none() => match map_values(schema) {
            Some(values) => format!("map[string]{}", type_name(values)),
            None if free_form => "object (any fields)".into(),
            None => "object".into(),
        },
        Some(other) => other.to_string(),
        None => "any".into(),
    };
    match &schema.format {
        Some(format) if !base.starts_with('[') && !base.starts_with("map[") => {
            format!("{base} ({format})")
        }
        _ => base,
    }
}

/// `text` as an inline code span, fenced with more backticks than it contains in a row.
pub fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// Text for a table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// Markdown prose with `<` and `>` outside code spans escaped, so `<namespace>` in a description
/// is shown rather than taken for an HTML tag.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[path = "reference_rules.rs"]
mod rules;

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
