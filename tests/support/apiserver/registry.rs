//! The resource types the stand-in serves: the built-ins listed in `kinds`, plus one
//! `ResourceType` per served version of every registered CustomResourceDefinition.
//! `types_from_crd` turns a CRD object into resource types; pure, no IO.

use serde_json::Value;

use super::kinds::builtin_types;
use super::meta::NameRule;
use super::status::Subject;

/// One `additionalPrinterColumns` entry of a CRD version.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// `metadata.generation` is maintained (custom resources and CRDs).
    pub tracks_generation: bool,
    /// `openAPIV3Schema` of a custom resource; built-ins have none.
    pub schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    /// Extra `fieldSelector` paths beyond `metadata.name` / `metadata.namespace`.
    pub selectable_fields: Vec<String>,
    /// A PUT without `metadata.resourceVersion` is accepted.
    pub allow_unconditional_update: bool,
    /// Custom resources refuse strategic merge patch with 415.
    pub is_custom: bool,
    /// What `metadata.name` must look like.
    pub name_rule: NameRule,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `cloudservices.byoc.dev`, or `configmaps` for the core group.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn subject(&self, name: &str) -> Subject {
        Subject {
            qualified_resource: self.qualified_resource(),
            group: self.group.clone(),
            kind: self.kind.clone(),
            name: name.to_string(),
        }
    }

    /// Objects of every version of one group/resource share storage.
    pub fn storage_key(&self) -> (String, String) {
        (self.group.clone(), self.plural.clone())
    }

    pub(super) fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
    ) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: false,
            tracks_generation: false,
            schema: None,
            printer_columns: Vec::new(),
            selectable_fields: Vec::new(),
            allow_unconditional_update: true,
            is_custom: false,
            name_rule: NameRule::Subdomain,
        }
    }
}

pub const CRD_GROUP: &str = "apiextensions.k8s.io";

/// One resource type per served version of a CRD. Errors name what the CRD lacks.
pub fn types_from_crd(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let spec = crd.get("spec").ok_or("spec is required")?;
    let group = str_at(spec, &["group"]).ok_or("spec.group is required")?;
    let names = spec.get("names").ok_or("spec.names is required")?;
    let plural = str_at(names, &["plural"]).ok_or("spec.names.plural is required")?;
    let kind = str_at(names, &["kind"]).ok_or("spec.names.kind is required")?;
    let singular = str_at(names, &["singular"]).unwrap_or_else(|| kind.to_lowercase());
    let namespaced = match str_at(spec, &["scope"]).as_deref() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => return Err("spec.scope must be Namespaced or Cluster".into()),
    };
    let short_names = strings_at(names, "shortNames");
    let categories = strings_at(names, "categories");
    let versions =
        spec.get("versions").and_then(Value::as_array).ok_or("spec.versions is required")?;
    let mut types = Vec::new();
    for version in versions {
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let name = str_at(version, &["name"]).ok_or("spec.versions[].name is required")?;
        let schema = version
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .ok_or("spec.versions[].schema.openAPIV3Schema is required")?;
        let status_subresource = version.pointer("/subresources/status").is_some();
        let printer_columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|columns| columns.iter().filter_map(printer_column).collect())
            .unwrap_or_default();
        let selectable_fields = version
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| str_at(f, &["jsonPath"]))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        types.push(ResourceType {
            group: group.clone(),
            version: name,
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            status_subresource,
            tracks_generation: true,
            schema: Some(schema),
            printer_columns,
            selectable_fields,
            allow_unconditional_update: false,
            is_custom: true,
            name_rule: NameRule::Subdomain,
        });
    }
    Ok(types)
}

fn printer_column(column: &Value) -> Option<PrinterColumn> {
    Some(PrinterColumn {
        name: str_at(column, &["name"])?,
        type_: str_at(column, &["type"]).unwrap_or_else(|| "string".into()),
        format: str_at(column, &["format"]).unwrap_or_default(),
        description: str_at(column, &["description"]).unwrap_or_default(),
        priority: column.get("priority").and_then(Value::as_i64).unwrap_or(0),
        json_path: str_at(column, &["jsonPath"])?,
    })
}

fn str_at(value: &Value, path: &[&str]) -> Option<String> {
    let mut current = value;
    for key in path {
        current = current.get(key)?;
    }
    current.as_str().map(str::to_string)
}

fn strings_at(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// All types currently served, in registration order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub types: Vec<ResourceType>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        Registry { types: builtin_types() }
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Replaces every type of the CRD's group/resource with `types`.
    pub fn register(&mut self, group: &str, plural: &str, types: Vec<ResourceType>) {
        self.unregister(group, plural);
        self.types.extend(types);
    }

    pub fn unregister(&mut self, group: &str, plural: &str) {
        self.types.retain(|t| !(t.group == group && t.plural == plural && t.is_custom));
    }

    /// Groups in first-seen order, each with its versions in first-seen order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        groups
    }

    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.types.iter().filter(|t| t.group == group && t.version == version).collect()
    }
}
