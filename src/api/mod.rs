//! The user's contract: the `CloudAccount` and `CloudService` custom resources (group `byoc.dev`,
//! version `v1alpha1`), their status types and the names every other module shares.
//!
//! Pure data: no IO. The `///` docs on every field become the CRD descriptions users read with
//! `kubectl explain`; the schemars and `x_kube` attributes become the OpenAPI and CEL validation the
//! API server enforces. Checks that need context (the account exists, a host is free) live in
//! `crate::desired`.

mod account;
mod conditions;
pub mod crd;
pub mod fargate;
pub mod patterns;
mod service;
mod status;

pub use account::*;
pub use conditions::*;
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

/// CEL rule on `tags` maps: AWS' length limits, and our reserved prefixes.
fn tags_rule() -> kube::core::Rule {
    kube::core::Rule::new(
        "self.all(k, size(k) <= 128 && !k.startsWith('byoc.dev/') && !k.startsWith('aws:') && size(self[k]) <= 256)",
    )
    .message("tag keys must be at most 128 characters and not start with byoc.dev/ or aws:, values at most 256 characters")
}
