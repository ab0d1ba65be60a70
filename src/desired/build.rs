//! The desired image build of a service (`spec.build`). Pure: the caller resolves the source (a
//! Git revision to its commit, a local directory to its content digest); this derives the image
//! tag from that identity and every build option, so an unchanged source keeps its tag and is
//! never built twice, and says what the build gets.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{Owner, Validated};
use crate::api::{BuildCompute, Platform};

/// The build's environment variables holding a private repository's credentials.
pub const GIT_USERNAME: &str = "BYOC_GIT_USERNAME";
pub const GIT_PASSWORD: &str = "BYOC_GIT_PASSWORD";

/// The build's environment variable carrying the build argument `name`.
pub fn arg_env(name: &str) -> String {
    format!("BUILD_ARG_{name}")
}

/// A resolved source: exactly what gets built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildSource {
    /// A commit of a Git repository; `reference` is what the revision matched (e.g.
    /// `refs/heads/main`, or the commit itself).
    Git { url: String, commit: String, reference: String },
    /// A local directory packed by `byoc apply`, named by the archive's digest (`sha256:…`).
    Upload { digest: String },
}

impl BuildSource {
    /// `<url>@<commit>`, or the upload's digest.
    pub fn describe(&self) -> String {
        match self {
            BuildSource::Git { url, commit, .. } => format!("{url}@{commit}"),
            BuildSource::Upload { digest } => digest.clone(),
        }
    }

    /// The commit, for a Git source.
    pub fn commit(&self) -> Option<&str> {
        match self {
            BuildSource::Git { commit, .. } => Some(commit),
            BuildSource::Upload { .. } => None,
        }
    }
}

/// Everything one build needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredBuild {
    /// The service's CodeBuild project.
    pub project: String,
    /// The service's ECR repository, which the build pushes to.
    pub repository: String,
    /// The image tag: `src-` and 24 hex digits of the SHA-256 of the source identity and options.
    pub tag: String,
    pub source: BuildSource,
    /// The build context inside the source.
    pub context_path: Option<String>,
    pub dockerfile: String,
    pub target: Option<String>,
    pub platform: Platform,
    /// Plain build arguments, name → value.
    pub args: BTreeMap<String, String>,
    /// Build environment variables read from Secrets Manager: variable → secret name.
    pub secrets: BTreeMap<String, String>,
    pub timeout_minutes: i32,
    pub service_role_arn: String,
    pub compute: BuildCompute,
    /// The build log goes to the service's own log group.
    pub log_group: String,
    pub region: String,
}

/// The build of a validated service with `spec.build`, from its resolved `source`.
pub fn desired_build(v: &Validated, owner: &Owner, source: BuildSource) -> Option<DesiredBuild> {
    let build = v.spec.build.as_ref()?;
    let account = v.account.spec.build.as_ref()?;
    let mut args = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    let mut identity = vec![
        format!("source={}", source.describe()),
        format!("path={}", build.path.as_deref().unwrap_or_default()),
        format!("dockerfile={}", build.dockerfile),
        format!("target={}", build.target.as_deref().unwrap_or_default()),
        format!("platform={}", build.platform.as_str()),
    ];
    for arg in &build.args {
        match &arg.value {
            Some(value) => {
                identity.push(format!("arg {}={value}", arg.name));
                args.insert(arg.name.clone(), value.clone());
            }
            None => {
                let env = arg_env(&arg.name);
                // A changed secret value builds again; the tag shows only a digest of it.
                let value = v.secret_values.get(&env).map(String::as_str).unwrap_or_default();
                identity.push(format!("arg {}=secret:{}", arg.name, hex(value.as_bytes())));
                secrets.insert(env.clone(), owner.secret_name(&env));
            }
        }
    }
    if build.git.as_ref().is_some_and(|g| g.secret_ref.is_some()) {
        for env in [GIT_USERNAME, GIT_PASSWORD] {
            secrets.insert(env.to_string(), owner.secret_name(env));
        }
    }
    identity.sort();
    let context_path = match &source {
        BuildSource::Git { .. } => build.path.clone(),
        BuildSource::Upload { .. } => None,
    };
    Some(DesiredBuild {
        project: owner.build_project_name(),
        repository: owner.repository_name(),
        tag: format!("src-{}", &hex(identity.join("\n").as_bytes())[..24]),
        source,
        // A local source is packed from its context's path already.
        context_path,
        dockerfile: build.dockerfile.clone(),
        target: build.target.clone(),
        platform: build.platform,
        args,
        secrets,
        timeout_minutes: build.timeout_minutes,
        service_role_arn: account.service_role_arn.clone(),
        compute: account.compute,
        log_group: owner.log_group_name(),
        region: v.account.spec.aws.region.clone(),
    })
}

/// Lower-case hex SHA-256.
pub fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
