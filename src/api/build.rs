//! `spec.build`: build the service's image from source inside the user's own account (AWS
//! CodeBuild, BuildKit), push it to the service's ECR repository and deploy exactly that image,
//! pinned by digest. `status.build` tells how the last build went. The account side
//! (`CloudAccount.spec.build`) names the CodeBuild service role.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EnvVarSource, patterns};

/// Where the image's source is and how to build it. Set exactly one source: `git` (what the
/// controller builds) or `context` (a local directory, uploaded by `byoc apply`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.git) != has(self.context)").message("spec.build needs exactly one source: git (a repository) or context (a local directory, for byoc apply)"))]
pub struct Build {
    /// A Git repository over HTTPS. The operator resolves `revision` to a commit and builds that
    /// commit; a new commit on a branch builds once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
    /// A local directory, relative to the manifest's file: `byoc apply` packs it (honouring
    /// `.dockerignore`), names it by its content digest and uploads it to the account's build
    /// bucket. The controller cannot read your disk: use `git` there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub context: Option<String>,
    /// The build context's directory inside the source (the repository, or `context`), e.g.
    /// `services/web`. Default: the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = patterns::RELATIVE_PATH))]
    #[x_kube(validation = kube::core::Rule::new("!self.contains('..')").message("a path inside the build context must not contain '..'"))]
    pub path: Option<String>,
    /// The Dockerfile, relative to the build context.
    #[serde(default = "default_dockerfile")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = patterns::RELATIVE_PATH))]
    #[x_kube(validation = kube::core::Rule::new("!self.contains('..')").message("a path inside the build context must not contain '..'"))]
    pub dockerfile: String,
    /// The Dockerfile stage to build (`docker build --target`). Default: the last stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub target: Option<String>,
    /// Build arguments (`ARG` in the Dockerfile): plain values, or values read from a Kubernetes
    /// Secret, which reach the build through AWS Secrets Manager and never appear in logs, status
    /// or the build's record. Build arguments stay visible in the image's history: pass
    /// credentials the image must not keep some other way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub args: Vec<BuildArg>,
    /// The image's platform: `linux/amd64` or `linux/arm64` (built natively on an ARM builder).
    #[serde(default)]
    pub platform: Platform,
    /// A build running longer than this is stopped and reported as failed (5 to 480 minutes).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 5, max = 480))]
    pub timeout_minutes: i32,
}

/// A Git repository.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// HTTPS URL of the repository, e.g. `https://github.com/org/shop.git`.
    #[schemars(length(min = 1, max = 2048), regex(pattern = patterns::GIT_URL))]
    pub url: String,
    /// A branch, a tag or a full commit id. Default: the repository's default branch (`HEAD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]*$"))]
    pub revision: Option<String>,
    /// For a private repository: a Secret in the service's namespace with keys `username` and
    /// `password` (a token; e.g. GitHub's `x-access-token` and a fine-grained token with read
    /// access to contents). Used over HTTPS by the operator (to resolve the revision) and by the
    /// build (to fetch the commit), through AWS Secrets Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalSecretRef>,
}

/// A Secret in the CloudService's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LocalSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = patterns::OBJECT_NAME))]
    pub name: String,
}

/// One build argument. Set exactly one of `value` and `valueFrom`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.value) != has(self.valueFrom)").message("set exactly one of value and valueFrom"))]
pub struct BuildArg {
    /// The `ARG` name.
    #[schemars(length(min = 1, max = 128), regex(pattern = patterns::BUILD_ARG_NAME))]
    pub name: String,
    /// Plain value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
    /// Read the value from a Kubernetes Secret in the service's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// The image's platform.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Platform {
    #[default]
    #[serde(rename = "linux/amd64")]
    Amd64,
    #[serde(rename = "linux/arm64")]
    Arm64,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Amd64 => "linux/amd64",
            Platform::Arm64 => "linux/arm64",
        }
    }
}

fn default_dockerfile() -> String {
    "Dockerfile".into()
}

fn default_timeout() -> i32 {
    60
}

/// A CloudAccount's builder settings: what its services' builds run as.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountBuild {
    /// IAM role AWS CodeBuild runs the builds as. It must trust `codebuild.amazonaws.com` and may
    /// push to the services' ECR repositories (`byoc/*`), write their log groups (`/byoc/*`),
    /// read the build bucket's uploads and the `byoc/*` secrets (see deploy/README.md).
    #[schemars(regex(pattern = patterns::ROLE_ARN), length(max = 2048))]
    pub service_role_arn: String,
    /// The builder's size: `Small` (3 GB, 2 vCPUs), `Medium` (7 GB, 4 vCPUs) or `Large` (15 GB,
    /// 8 vCPUs).
    #[serde(default)]
    pub compute: BuildCompute,
    /// Uploaded local build contexts expire from the build bucket after this many days.
    #[serde(default = "default_upload_days")]
    #[schemars(range(min = 1, max = 365))]
    pub upload_retention_days: i32,
}

/// CodeBuild compute size.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildCompute {
    Small,
    #[default]
    Medium,
    Large,
}

impl BuildCompute {
    /// CodeBuild's `computeType`.
    pub fn compute_type(self) -> &'static str {
        match self {
            BuildCompute::Small => "BUILD_GENERAL1_SMALL",
            BuildCompute::Medium => "BUILD_GENERAL1_MEDIUM",
            BuildCompute::Large => "BUILD_GENERAL1_LARGE",
        }
    }
}

fn default_upload_days() -> i32 {
    30
}

/// How the image of a built service came about.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatus {
    /// `Building`, `Succeeded`, `Failed` (also timed out or stopped) or `WaitingForImage` (the
    /// build succeeded, the registry does not show the image yet).
    pub phase: BuildPhase,
    /// The source built: `<git url>@<commit>`, or the local context's content digest.
    pub source: String,
    /// The commit built, for a Git source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The image tag derived from the source and build options; an unchanged source keeps it and
    /// never builds again.
    pub image_tag: String,
    /// The AWS CodeBuild build id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// The CodeBuild phase the build is in, e.g. `BUILD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    /// The pushed image by digest: what the task definition runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// When the build started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the build ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// The build's log in the CloudWatch console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_url: Option<String>,
    /// Why the build failed, with the last lines of its log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last image built successfully (by digest): what runs while a newer source builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_image: Option<String>,
}

/// Phase of a build.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildPhase {
    #[default]
    Building,
    WaitingForImage,
    Succeeded,
    Failed,
}
