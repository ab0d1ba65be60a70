//! The image a successful CodeBuild build pushes, and ECR's words when it refuses the push, as
//! plain functions. Pure; no IO.
//!
//! - The manifest follows the OCI image manifest
//!   (<https://github.com/opencontainers/image-spec/blob/main/manifest.md>): `schemaVersion` 2,
//!   `mediaType`, a `config` and `layers` descriptors with `mediaType`, `size` and `digest`. ECR
//!   takes it with PutImage and computes the image digest from it
//!   (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html>).
//! - Refusals, as `docker push` prints ECR's answer: "name unknown: The repository with name '…'
//!   does not exist in the registry with id '…'" and, for a repository whose tags are IMMUTABLE,
//!   "tag invalid: The image tag '…' already exists in the '…' repository and cannot be
//!   overwritten because the repository is immutable."

use std::hash::{Hash, Hasher};

use serde_json::json;

/// ECR's refusal of a push to a repository that does not exist.
pub fn missing_repository(repository: &str, registry: &str) -> String {
    format!(
        "name unknown: The repository with name '{repository}' does not exist in the registry with id '{registry}'"
    )
}

/// ECR's refusal of a push of an existing tag to an immutable repository.
pub fn immutable_tag(repository: &str, tag: &str) -> String {
    format!(
        "tag invalid: The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten because the repository is immutable."
    )
}

/// The OCI media type of the manifests the layer pushes.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// The image manifest a build pushes: its config and top layer differ per build (builds are not
/// reproducible), its base layer per platform, so each push gets its own digest.
pub fn manifest(build_id: &str, image: &str, platform: &str) -> String {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 1470,
            "digest": digest(&[build_id, image, platform, "config"]),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "size": 29_126_484,
                "digest": digest(&[platform, "base"]),
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "size": 1_532_211,
                "digest": digest(&[build_id, image, platform, "app"]),
            },
        ],
        "annotations": { "org.opencontainers.image.ref.name": image },
    });
    manifest.to_string()
}

/// A `sha256:` digest in shape (64 hex digits) standing for the blob named by `parts`.
fn digest(parts: &[&str]) -> String {
    let hex: String = (0u8..4)
        .map(|round| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (round, parts).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect();
    format!("sha256:{hex}")
}
