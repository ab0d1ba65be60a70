use serde_json::json;

use super::*;
use crate::desired::{
    Owner,
    fixtures::{account, service},
    tag, validate,
};

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn many_tags(prefix: &str, n: usize) -> BTreeMap<String, String> {
    (0..n).map(|i| (format!("{prefix}{i}"), "x".to_string())).collect()
}

#[test]
fn every_tag_pattern_compiles() {
    assert!(TAG_CHARACTERS.is_match("cost-center"));
    assert!(ECR_PATH_SEGMENT.is_match("web"));
}

#[test]
fn tags_aws_would_refuse_are_refused_with_the_key_named() {
    let long_key = "k".repeat(TAG_KEY_MAX + 1);
    let long_value = "v".repeat(TAG_VALUE_MAX + 1);
    let longest_key = "k".repeat(TAG_KEY_MAX);
    let cases: Vec<(&str, &str, &str, Option<&str>)> = vec![
        ("an ordinary tag", "cost-center", "platform", None),
        ("every character AWS takes", "a b.c:d/e=f+g-h@i_j", "Ünïcödé 1", None),
        ("an empty value is fine", "team", "", None),
        ("the longest key", &longest_key, "v", None),
        ("an empty key", "", "v", Some("1 to 128")),
        ("a key one character too long", &long_key, "v", Some("1 to 128")),
        ("a value one character too long", "team", &long_value, Some("at most 256")),
        ("our own prefix", "byoc.dev/owner", "me", Some("operator's own")),
        ("aws: prefix on a key", "aws:cloudformation:stack", "x", Some("reserved for AWS")),
        ("AWS: in upper case", "AWS:team", "x", Some("reserved for AWS")),
        ("aws: prefix on a value", "team", "Aws:x", Some("reserved for AWS")),
        ("a character AWS refuses", "team#1", "x", Some("only letters")),
        ("a comma in a value", "teams", "a,b", Some("only letters")),
    ];
    for (reason, key, value, problem) in cases {
        let result = check_tags("spec.tags", &tags(&[(key, value)]));
        match problem {
            None => assert!(result.is_ok(), "{reason}: {result:?}"),
            Some(text) => {
                let err = result.expect_err(reason);
                assert_eq!(err.field, format!("spec.tags[{key}]"), "{reason}");
                assert!(err.message.contains(text), "{reason}: {}", err.message);
            }
        }
    }
}

#[test]
fn one_map_may_hold_up_to_the_tags_the_operator_leaves_free() {
    assert!(check_tags("spec.tags", &many_tags("t", USER_TAGS_MAX)).is_ok());
    let err = check_tags("spec.tags", &many_tags("t", USER_TAGS_MAX + 1)).unwrap_err();
    assert_eq!(err.field, "spec.tags");
    assert!(err.message.contains("at most 45"), "{}", err.message);
}

#[test]
fn account_and_service_tags_together_must_leave_room_for_the_operators_own() {
    let cases = [
        ("few tags", many_tags("a", 3), many_tags("s", 3), true),
        ("exactly the room left", many_tags("a", 25), many_tags("s", 20), true),
        ("one tag too many", many_tags("a", 25), many_tags("s", 21), false),
        (
            "a service tag overriding an account tag counts once",
            many_tags("t", 45),
            many_tags("t", 45),
            true,
        ),
        ("a full account leaves no room", many_tags("a", 45), many_tags("s", 1), false),
    ];
    for (reason, account_tags, service_tags, ok) in cases {
        let result = check_merged_tag_count("demo", &account_tags, &service_tags);
        assert_eq!(result.is_ok(), ok, "{reason}: {result:?}");
        if let Err(err) = result {
            assert_eq!(err.field, "spec.tags", "{reason}");
            assert!(err.message.contains("remove 1"), "{reason}: {}", err.message);
        }
    }
}

#[test]
fn the_operator_adds_exactly_the_tags_it_reserves() {
    let mut acct = account();
    acct.spec.tags = many_tags("a", 25);
    let svc = service(json!({"tags": many_tags("s", 20)}));
    let v = validate::validate(&svc, Some(&acct), None, &Default::default()).unwrap();
    let owner = Owner {
        namespace: "shop".into(),
        name: "web".into(),
        uid: "uid".into(),
        cluster_id: "test".into(),
    };
    let stack = crate::desired::desired_stack(&v, &owner);
    // The task definition and each secret also get the spec-hash tag.
    assert!(!stack.tags.contains_key(tag::SPEC_HASH));
    let most = stack.tags.len() + 1;
    assert_eq!(most - USER_TAGS_MAX, OPERATOR_TAGS, "update OPERATOR_TAGS with the tags we add");
    assert_eq!(most, AWS_MAX_TAGS, "45 user tags plus ours fit exactly");
    let account_resource =
        crate::resources::account::account_tags("demo", &acct.spec, "test").len();
    assert!(account_resource - acct.spec.tags.len() <= OPERATOR_TAGS);
}

#[test]
fn repository_names_ecr_would_refuse_name_the_field_to_change() {
    let long = "n".repeat(250);
    let cases = [
        ("a plain name", "shop", "web", None),
        ("single separators", "team-a", "web.v2", None),
        ("doubled hyphen in the name", "shop", "web--api", Some("metadata.name")),
        ("doubled hyphen in the namespace", "team--a", "web", Some("metadata.namespace")),
        ("a name that makes the repository too long", "shop", long.as_str(), Some("metadata.name")),
    ];
    for (reason, namespace, name, field) in cases {
        let result = check_repository_name(namespace, name);
        match field {
            None => assert!(result.is_ok(), "{reason}: {result:?}"),
            Some(field) => {
                let err = result.expect_err(reason);
                assert_eq!(err.field, field, "{reason}");
                assert!(err.message.contains("drop spec.repository"), "{reason}: {}", err.message);
            }
        }
    }
}

fn task_definition(spec: serde_json::Value) -> DesiredTaskDefinition {
    let svc = service(spec);
    let acct = account();
    // Validation would refuse an oversized spec; build the stack directly to measure it.
    let v = validate::Validated {
        spec: svc.spec.clone(),
        account: acct,
        cpu_units: 256,
        memory_mib: 512,
        retention_days: 30,
        deletion_policy: Default::default(),
        secret_values: Default::default(),
    };
    let owner = Owner {
        namespace: "shop".into(),
        name: "web".into(),
        uid: "uid".into(),
        cluster_id: "test".into(),
    };
    crate::desired::desired_stack(&v, &owner).task_definition
}

fn env(n: usize, value_len: usize) -> serde_json::Value {
    json!(
        (0..n)
            .map(|i| json!({"name": format!("VAR_{i}"), "value": "x".repeat(value_len)}))
            .collect::<Vec<_>>()
    )
}

#[test]
fn a_small_service_is_far_below_the_task_definition_limit() {
    let td = task_definition(json!({"env": env(3, 20), "args": ["serve"]}));
    let size = task_definition_bytes(&td);
    assert!((500..4000).contains(&size), "{size}");
    assert!(check_task_definition_size(&td).is_ok());
}

#[test]
fn oversized_task_definitions_are_refused_naming_what_made_them_large() {
    let cases = [
        ("100 values of 700 bytes", json!({"env": env(100, 700)}), Some("spec.env")),
        ("100 values of 600 bytes fit", json!({"env": env(100, 600)}), None),
        ("a long inline script", json!({"args": ["x".repeat(70_000)]}), Some("spec.args")),
        ("a long entrypoint", json!({"command": ["x".repeat(70_000)]}), Some("spec.command")),
    ];
    for (reason, spec, field) in cases {
        let td = task_definition(spec);
        let result = check_task_definition_size(&td);
        match field {
            None => assert!(result.is_ok(), "{reason}: {result:?}"),
            Some(field) => {
                let err = result.expect_err(reason);
                assert_eq!(err.field, field, "{reason}");
                let size = task_definition_bytes(&td).to_string();
                assert!(err.message.contains(&size), "{reason}: names the size: {}", err.message);
                assert!(err.message.contains("65536"), "{reason}: {}", err.message);
            }
        }
    }
}

#[test]
fn the_size_estimate_tracks_the_serialized_values() {
    let small = task_definition_bytes(&task_definition(json!({"env": env(1, 10)})));
    let large = task_definition_bytes(&task_definition(json!({"env": env(1, 1010)})));
    assert_eq!(large - small, 1000, "each byte of a value is a byte of the definition");
}
