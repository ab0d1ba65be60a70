//! The user's contract: the `CloudAccount` and `CloudService` custom resources (group `byoc.dev`,
//! version `v1alpha1`), their status types and the names every other module shares.
//!
//! Pure data: no IO. The `///` docs on every field become the CRD descriptions users read with
//! `kubectl explain`; the schemars and `x_kube` attributes become the OpenAPI and CEL validation the
//! API server enforces. Checks that need context (the account exists, a host is free) live in
//! `crate::desired`.

mod account;
mod build;
mod conditions;
pub mod crd;
mod domains;
pub mod fargate;
pub mod patterns;
mod private;
pub mod reference;
mod scaling;
mod service;
mod status;
pub mod unknown_fields;

pub use account::*;
pub use build::*;
pub use conditions::*;
pub use domains::*;
pub use private::*;
pub use scaling::*;
pub use service::*;
pub use status::*;

/// API group of both custom resources.
pub const GROUP: &str = "byoc.dev";
/// API version of both custom resources.
pub const VERSION: &str = "v1alpha1";
/// Finalizer that holds a `CloudService` until its AWS resources are gone (or retained).
pub const FINALIZER: &str = "byoc.dev/cleanup";
/// Field manager for everything the operator writes with server-side apply.
pub const FIELD_MANAGER: &str = "byoc-operator";

/// Annotation of a CloudService or CloudAccount: `"true"` makes the controller compute the plan
/// against live AWS and publish it in `status.plan`, with no AWS write (a preview, e.g. in a pull
/// request's environment). Removing it applies the spec.
pub const PLAN_ONLY_ANNOTATION: &str = "byoc.dev/plan-only";

/// Whether an object's annotations ask for a preview (`byoc.dev/plan-only: "true"`).
pub fn is_plan_only(annotations: &std::collections::BTreeMap<String, String>) -> bool {
    annotations.get(PLAN_ONLY_ANNOTATION).is_some_and(|v| v == "true")
}

/// Tags AWS allows on one resource, the same for every kind we tag:
/// - ECS `Tag`: "Maximum number of tags per resource - 50"
///   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html>
/// - ELBv2: "Maximum number of tags per resource—50" for load balancers, target groups, listeners
///   and rules <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-tags.html>,
///   <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rule-tags.html>
/// - ECR `TooManyTagsException`: "The maximum number of tags that can be applied to a repository
///   is 50" <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_TagResource.html>
/// - CloudWatch Logs: "You can associate as many as 50 tags with a CloudWatch Logs resource"
///   <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_TagResource.html>
/// - Secrets Manager: "Maximum number of tags per secret: 50"
///   <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html>
pub const AWS_MAX_TAGS: usize = 50;
/// The most tags the operator puts on one resource itself: managed-by, cluster-id, owner and
/// owner-uid on every resource of a service, plus spec-hash on its task definition and secrets
/// (an account's own resources get three: managed-by, cluster-id, account). A test in
/// `desired::limits` holds the code to this number.
pub const OPERATOR_TAGS: usize = 5;
/// The most tags users may set: a CloudAccount's and a CloudService's `spec.tags` each, and both
/// merged, since the account's tags go on every resource of its services too.
pub const USER_TAGS_MAX: usize = AWS_MAX_TAGS - OPERATOR_TAGS;
/// Longest tag key and value AWS takes, in Unicode characters: ECS `Tag` ("Maximum key length -
/// 128", "Maximum value length - 256"), and the `Tag` shapes of ELBv2, ECR, CloudWatch Logs and
/// Secrets Manager (key 1-128, value 0-256). Some user guides say 127/255; the APIs take 128/256.
pub const TAG_KEY_MAX: usize = 128;
pub const TAG_VALUE_MAX: usize = 256;

/// CEL rules on `tags` maps: AWS' length limits, and the reserved prefixes: ours on keys, and
/// `aws:` in any case on keys and values (ECS `Tag`: "Do not use aws:, AWS:, or any upper or
/// lowercase combination of such as a prefix for either keys or values"). Every case is spelled
/// out with `startsWith`, whose cost is the prefix's length, where `lowerAscii()`, `matches()` or
/// a nested comprehension would cost in proportion to keys of unknown length; keys and values are
/// two rules to keep each within budget. The character set is checked by `desired::validate`.
fn tag_keys_rule() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "self.all(k, size(k) >= 1 && size(k) <= {TAG_KEY_MAX} && !k.startsWith('byoc.dev/') && !({}))",
        starts_with_aws("k")
    ))
    .message("tag keys must be 1 to 128 characters and start with neither byoc.dev/ nor aws: (in any case)")
}

fn tag_values_rule() -> kube::core::Rule {
    kube::core::Rule::new(format!(
        "self.all(k, size(self[k]) <= {TAG_VALUE_MAX} && !({}))",
        starts_with_aws("self[k]")
    ))
    .message("tag values must be at most 256 characters and not start with aws: (in any case)")
}

/// `s` starts with `aws:` in any mix of upper and lower case, as a CEL expression.
fn starts_with_aws(s: &str) -> String {
    let spellings = (0..8u8).map(|bits| {
        let case = |c: char, bit: u8| if bits & bit == 0 { c } else { c.to_ascii_uppercase() };
        format!("{s}.startsWith('{}{}{}:')", case('a', 1), case('w', 2), case('s', 4))
    });
    spellings.collect::<Vec<_>>().join(" || ")
}
