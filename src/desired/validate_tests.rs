use serde_json::{Value, json};

use super::*;
use crate::desired::fixtures::{account, named_service, service};

fn check(service: &CloudService) -> Result<Validated, Invalid> {
    validate(service, Some(&account()), None, &SecretData::new())
}

fn ingress(hosts: &[&str]) -> Value {
    json!({"ingress": {"loadBalancer": "public", "hosts": hosts, "port": "http"}})
}

fn health(codes: &str) -> Value {
    json!({"healthCheck": {"path": "/healthz", "successCodes": codes}})
}

/// `(reason, spec, the field named or None when valid, a phrase of the message)`.
fn cases() -> Vec<(&'static str, Value, Option<&'static str>, &'static str)> {
    vec![
        ("a valid minimal service", json!({}), None, ""),
        ("a host with a wildcard label", ingress(&["*.example.com"]), None, ""),
        ("localhost", ingress(&["localhost"]), Some("spec.ingress.hosts[0]"), "at least one dot"),
        (
            "digits after the last dot",
            ingress(&["shop.example.com", "a.internal1"]),
            Some("spec.ingress.hosts[1]"),
            "only letters after the last one",
        ),
        ("one success code", health("200"), None, ""),
        ("a list of success codes", health("200,204"), None, ""),
        ("a range of success codes", health("200-299"), None, ""),
        (
            "a 5xx success code",
            health("500"),
            Some("spec.healthCheck.successCodes"),
            "between 200 and 499",
        ),
        (
            "a range that runs backwards",
            health("399-200"),
            Some("spec.healthCheck.successCodes"),
            "200-399",
        ),
        (
            "a reserved AWS tag in any case",
            json!({"tags": {"AWS:team": "x"}}),
            Some("spec.tags[AWS:team]"),
            "reserved for AWS",
        ),
        (
            "too many tags with the account's",
            json!({"tags": (0..45).map(|i| (format!("t{i}"), "x")).collect::<BTreeMap<_, _>>()}),
            Some("spec.tags"),
            "remove 1",
        ),
        (
            "a huge environment",
            json!({"env": (0..100).map(|i| json!({"name": format!("V{i}"), "value": "x".repeat(700)})).collect::<Vec<_>>()}),
            Some("spec.env"),
            "valueFrom.secretKeyRef",
        ),
    ]
}

#[test]
fn bad_input_is_refused_with_the_field_and_the_fix() {
    for (reason, spec, field, phrase) in cases() {
        let result = check(&service(spec));
        match field {
            None => assert!(result.is_ok(), "{reason}: {:?}", result.err()),
            Some(field) => {
                let err = result.err().unwrap_or_else(|| panic!("{reason}: accepted"));
                assert_eq!(err.reason, reason::INVALID_SPEC, "{reason}");
                assert_eq!(err.field, field, "{reason}: {}", err.message);
                assert!(err.message.contains(phrase), "{reason}: {}", err.message);
            }
        }
    }
}

#[test]
fn a_repository_needs_a_namespace_and_name_ecr_accepts() {
    let with_repo = json!({"repository": {}});
    let long = "w".repeat(251);
    let cases = [
        ("plain names", "shop", "web", json!({"repository": {}}), None),
        ("a doubled hyphen without a repository", "shop", "web--v2", json!({}), None),
        (
            "a doubled hyphen in the name",
            "shop",
            "web--v2",
            with_repo.clone(),
            Some("metadata.name"),
        ),
        (
            "a doubled hyphen in the namespace",
            "team--a",
            "web",
            with_repo.clone(),
            Some("metadata.namespace"),
        ),
        ("a name too long for ECR", "shop", long.as_str(), with_repo, Some("metadata.name")),
    ];
    for (reason, namespace, name, spec, field) in cases {
        let result = check(&named_service(namespace, name, spec));
        assert_eq!(result.as_ref().err().map(|e| e.field.as_str()), field, "{reason}: {result:?}");
    }
}

#[test]
fn an_account_tag_aws_refuses_is_reported_on_the_service_naming_the_account() {
    let mut acct = account();
    acct.spec.tags.insert("team#1".into(), "x".into());
    let err = validate(&service(json!({})), Some(&acct), None, &SecretData::new()).unwrap_err();
    assert_eq!(err.field, "spec.accountRef.name");
    assert!(err.message.contains("CloudAccount \"demo\""), "{}", err.message);
    assert!(err.message.contains("spec.tags[team#1]"), "{}", err.message);
}

#[test]
fn the_preview_annotation_takes_true_or_false_and_names_anything_else() {
    for (value, ok) in [("true", true), ("false", true), ("yes", false), ("True", false)] {
        let mut s = service(json!({}));
        s.metadata.annotations =
            Some([(crate::api::PLAN_ONLY_ANNOTATION.to_string(), value.to_string())].into());
        match check(&s) {
            Ok(_) => assert!(ok, "{value} accepted"),
            Err(e) => {
                assert!(!ok, "{value} refused: {e:?}");
                assert_eq!(e.field, "metadata.annotations[byoc.dev/plan-only]");
                assert!(e.message.contains(&format!("{value:?} is neither")), "{}", e.message);
            }
        }
    }
}
