//! The documents of `-o json|yaml`, for CI jobs and scripts: the plan (`byoc plan`), the statuses
//! (`byoc apply`) and what was deleted (`byoc delete`). A plan's `changes` have the shape of a
//! CloudService's `status.plan.changes`. Pure.

use serde::{Deserialize, Serialize};

use crate::{
    api::{CloudServiceStatus, PlannedChange},
    resources::Plan,
};

/// `byoc plan -o json|yaml`: whether anything would change, and what, per object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlanDocument {
    /// Whether applying would change anything in AWS (exit code 2).
    pub pending: bool,
    pub objects: Vec<PlannedObject>,
}

/// The plan of one object (`CloudAccount demo`, `CloudService shop/web`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlannedObject {
    pub object: String,
    pub pending: bool,
    /// In the order applying would make them; retained and kept resources too.
    pub changes: Vec<PlannedChange>,
}

pub fn plan_document(plans: &[(String, Plan)]) -> PlanDocument {
    let objects: Vec<PlannedObject> = plans
        .iter()
        .map(|(label, plan)| PlannedObject {
            object: label.clone(),
            pending: !plan.is_empty(),
            changes: plan.to_api(),
        })
        .collect();
    PlanDocument { pending: objects.iter().any(|o| o.pending), objects }
}

/// `byoc apply -o json`: the status of each service, as the controller would write it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusDocument {
    pub objects: Vec<ObjectStatus>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ObjectStatus {
    pub object: String,
    pub status: CloudServiceStatus,
}

pub fn status_document(statuses: &[(String, CloudServiceStatus)]) -> StatusDocument {
    StatusDocument {
        objects: statuses
            .iter()
            .map(|(label, status)| ObjectStatus { object: label.clone(), status: status.clone() })
            .collect(),
    }
}

/// `byoc apply -o yaml`: one YAML document per service, after a comment naming it.
pub fn status_yaml(statuses: &[(String, CloudServiceStatus)]) -> Result<String, String> {
    let mut out = String::new();
    for (label, status) in statuses {
        let yaml = serde_saphyr::to_string(status).map_err(|e| format!("printing status: {e}"))?;
        out.push_str(&format!("# {label}\n---\n{yaml}\n"));
    }
    Ok(out)
}

/// `byoc delete -o json|yaml`: what was deleted, retained or kept, per object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeletedDocument {
    pub objects: Vec<ObjectChanges>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ObjectChanges {
    pub object: String,
    pub changes: Vec<PlannedChange>,
}

pub fn deleted_document(plans: &[(String, Plan)]) -> DeletedDocument {
    DeletedDocument {
        objects: plans
            .iter()
            .map(|(label, plan)| ObjectChanges { object: label.clone(), changes: plan.to_api() })
            .collect(),
    }
}

pub fn to_json(document: &impl Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(document)
        .map(|json| json + "\n")
        .map_err(|e| format!("printing JSON: {e}"))
}

pub fn to_yaml(document: &impl Serialize) -> Result<String, String> {
    serde_saphyr::to_string(document).map_err(|e| format!("printing YAML: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::PlannedAction,
        resources::{Action, Change, FieldChange, Kind},
    };

    fn plans() -> Vec<(String, Plan)> {
        vec![
            ("CloudAccount demo".into(), Plan::default()),
            (
                "CloudService shop/web".into(),
                Plan {
                    changes: vec![
                        Change::new(Kind::LogGroup, "/byoc/shop/web", Action::Retain),
                        Change::new(
                            Kind::EcsService,
                            "shop-web-1a2b",
                            Action::Update(vec![FieldChange::new("desiredCount", 1, 2)]),
                        ),
                    ],
                },
            ),
        ]
    }

    #[test]
    fn the_plan_document_is_pending_when_one_object_would_change() {
        let doc = plan_document(&plans());
        assert!(doc.pending);
        assert_eq!(doc.objects[0].object, "CloudAccount demo");
        assert!(!doc.objects[0].pending && doc.objects[0].changes.is_empty());
        let web = &doc.objects[1];
        assert!(web.pending);
        assert_eq!(web.changes[0].action, PlannedAction::Retain);
        assert_eq!(web.changes[1].action, PlannedAction::Update);
        assert_eq!(web.changes[1].fields[0].to, "2");
        let json: serde_json::Value = serde_json::from_str(&to_json(&doc).unwrap()).unwrap();
        assert_eq!(json["objects"][1]["changes"][1]["kind"], "EcsService");
        assert_eq!(json["objects"][0]["changes"], serde_json::json!([]), "always a list");
        let back: PlanDocument = serde_saphyr::from_str(&to_yaml(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn a_plan_of_retained_resources_only_is_not_pending() {
        let retained = vec![(
            "CloudService shop/api".to_string(),
            Plan { changes: vec![Change::new(Kind::LogGroup, "/byoc/x", Action::Retain)] },
        )];
        assert!(!plan_document(&retained).pending);
    }

    #[test]
    fn the_status_yaml_is_one_document_per_service_after_its_name() {
        let statuses = vec![
            (
                "CloudService shop/web".to_string(),
                CloudServiceStatus {
                    url: Some("http://lb/web".into()),
                    ..CloudServiceStatus::default()
                },
            ),
            ("CloudService shop/api".to_string(), CloudServiceStatus::default()),
        ];
        let yaml = status_yaml(&statuses).unwrap();
        assert!(yaml.starts_with("# CloudService shop/web\n---\nurl: http://lb/web\n"), "{yaml}");
        let docs: Vec<Option<CloudServiceStatus>> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(docs.len(), 2, "{yaml}");
        let doc = status_document(&statuses);
        assert_eq!(doc.objects[1].object, "CloudService shop/api");
    }
}
