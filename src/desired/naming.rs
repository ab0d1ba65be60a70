//! Deterministic AWS names and ownership tags for a service's resources. Pure.
//!
//! Names derive from namespace/name plus a short hash of the owner's UID, so a recreated object
//! (new UID) never collides with a draining predecessor, and every name fits its AWS limit.

use std::collections::BTreeMap;

/// Tag keys that mark a resource as ours.
pub mod tag {
    pub const MANAGED_BY: &str = "byoc.dev/managed-by";
    pub const CLUSTER_ID: &str = "byoc.dev/cluster-id";
    pub const OWNER: &str = "byoc.dev/owner";
    pub const OWNER_UID: &str = "byoc.dev/owner-uid";
    /// Hash of what we registered or stored, to detect real changes without reading AWS defaults.
    pub const SPEC_HASH: &str = "byoc.dev/spec-hash";
    /// On a task definition revision whose rollout failed: why. Never deployed again.
    pub const ROLLOUT_FAILED: &str = "byoc.dev/rollout-failed";
    /// On a task definition revision: the ECS deployment id that rolls it out.
    pub const DEPLOYMENT: &str = "byoc.dev/deployment";
    /// On a task definition revision: a hash of the secret ARNs it references, so it can be
    /// compared from its tags alone.
    pub const SECRET_ARNS: &str = "byoc.dev/secret-arns";
    /// On a target group: the deregistration delay we set, so it is not read back every round.
    pub const DEREGISTRATION_DELAY: &str = "byoc.dev/deregistration-delay";
    /// On an ECS service: a digest of the Service Connect settings we applied (or `off`).
    pub const SERVICE_CONNECT: &str = "byoc.dev/service-connect";
    /// For account-level resources: the CloudAccount they belong to.
    pub const ACCOUNT: &str = "byoc.dev/account";
}

/// Value of `byoc.dev/managed-by`.
pub const MANAGED_BY: &str = "byoc-operator";

/// Who owns a service's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
    /// The object's UID, or the CLI's stable id.
    pub uid: String,
    /// Identifies the operator installation (one per Kubernetes cluster, or the CLI's).
    pub cluster_id: String,
}

impl Owner {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Six hex digits of the UID's hash.
    pub fn short_hash(&self) -> String {
        format!("{:016x}", fnv1a(self.uid.as_bytes()))[..6].to_string()
    }

    /// The ownership tags every resource of this owner carries.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (tag::MANAGED_BY.to_string(), MANAGED_BY.to_string()),
            (tag::CLUSTER_ID.to_string(), self.cluster_id.clone()),
            (tag::OWNER.to_string(), self.key()),
            (tag::OWNER_UID.to_string(), self.uid.clone()),
        ])
    }

    /// Whether `tags` say the resource is this owner's. The UID may differ: a resource left by a
    /// crashed or retained predecessor of the same namespace/name in the same installation is
    /// adopted, never duplicated.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(tag::MANAGED_BY).is_some_and(|v| v == MANAGED_BY)
            && tags.get(tag::CLUSTER_ID) == Some(&self.cluster_id)
            && tags.get(tag::OWNER) == Some(&self.key())
    }

    /// `{namespace}-{name}-{hash}` within `max` characters, using only `[a-z0-9-]`.
    pub fn bounded(&self, max: usize) -> String {
        let hash = self.short_hash();
        let base = sanitize(&format!("{}-{}", self.namespace, self.name));
        let room = max - hash.len() - 1;
        let base = base[..base.len().min(room)].trim_end_matches('-');
        format!("{base}-{hash}")
    }

    /// ECS service name and task definition family (≤ 255).
    pub fn ecs_name(&self) -> String {
        self.bounded(255)
    }

    /// CodeBuild project name: `byoc-` and at most 140 more characters (project names take
    /// 2-255; the prefix lets IAM scope builds to ours).
    pub fn build_project_name(&self) -> String {
        format!("byoc-{}", self.bounded(140))
    }

    /// Target group name (≤ 32, ELBv2's limit).
    pub fn target_group_name(&self) -> String {
        self.bounded(32)
    }

    /// CloudWatch log group name.
    pub fn log_group_name(&self) -> String {
        format!("/byoc/{}/{}", self.namespace, self.name)
    }

    /// ECR repository name (stable, so users can push to it before the first deploy).
    pub fn repository_name(&self) -> String {
        repository_name(&self.namespace, &self.name)
    }

    /// Secrets Manager name for one env var's value.
    pub fn secret_name(&self, env_name: &str) -> String {
        format!("byoc/{}/{}/{}", self.namespace, self.name, env_name)
    }
}

/// ECR repository name of the service `namespace/name`: `byoc/{namespace}/{name}`.
pub fn repository_name(namespace: &str, name: &str) -> String {
    format!("byoc/{namespace}/{name}")
}

/// Whether tags carry our managed-by tag at all (any owner).
pub fn is_managed(tags: &BTreeMap<String, String>) -> bool {
    tags.get(tag::MANAGED_BY).is_some_and(|v| v == MANAGED_BY)
}

/// Lower-case `[a-z0-9-]`, no leading/trailing or doubled hyphens.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// FNV-1a, 64 bit: a stable hash for names and change detection (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Name of an account-level resource (ALB) within `max` characters.
pub fn account_resource_name(account: &str, part: &str, max: usize) -> String {
    let hash = format!("{:016x}", fnv1a(format!("{account}/{part}").as_bytes()));
    let base = sanitize(&format!("byoc-{account}-{part}"));
    let room = max - 7;
    let base = base[..base.len().min(room)].trim_end_matches('-');
    format!("{base}-{}", &hash[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(namespace: &str, name: &str) -> Owner {
        Owner {
            namespace: namespace.into(),
            name: name.into(),
            uid: "7f3c1a52-0000-4000-8000-000000000001".into(),
            cluster_id: "test".into(),
        }
    }

    #[test]
    fn target_group_names_fit_32_characters_and_stay_unique_per_uid() {
        let long = owner("a-very-long-namespace-name", "an-even-longer-service-name.with.dots");
        let name = long.target_group_name();
        assert!(name.len() <= 32, "{name}");
        assert!(!name.starts_with('-') && !name.ends_with('-'));
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        let other = Owner { uid: "another-uid".into(), ..long.clone() };
        assert_ne!(other.target_group_name(), name);
        assert_eq!(long.target_group_name(), name, "deterministic");
    }

    #[test]
    fn ownership_needs_our_installation_and_owner_but_adopts_a_new_uid() {
        let me = owner("shop", "web");
        let mut tags = me.tags();
        assert!(me.owns(&tags));
        tags.insert(tag::OWNER_UID.into(), "older-uid".into());
        assert!(me.owns(&tags), "same namespace/name in the same installation is adopted");
        tags.insert(tag::CLUSTER_ID.into(), "other-cluster".into());
        assert!(!me.owns(&tags));
        assert!(!me.owns(&BTreeMap::new()));
    }

    #[test]
    fn account_resource_names_fit_their_limit() {
        let name = account_resource_name("a-really-long-account-name", "public-load-balancer", 32);
        assert!(name.len() <= 32, "{name}");
    }
}
