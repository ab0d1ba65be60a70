//! A service's image build from source, in AWS CodeBuild: its project (one per service, created
//! with the first build, tagged as ours; everything that varies is a `StartBuild` override, so the
//! project never needs an update), its builds (found again by the image tag they push), and the
//! image they push to the service's ECR repository, read back by digest.
//!
//! - StartBuild overrides and `idempotencyToken` ("valid for 5 minutes"):
//!   <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html>
//! - Build states (`IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `FAULT`, `TIMED_OUT`, `STOPPED`) and
//!   phases: <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html>
//! - Newest first: <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html>
//! - Secrets Manager variables never show their value:
//!   <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_EnvironmentVariable.html>

use aws_sdk_codebuild::types::{
    ArtifactsType, CloudWatchLogsConfig, ComputeType, EnvironmentType, EnvironmentVariable,
    EnvironmentVariableType, LogsConfig, LogsConfigStatusType, ProjectArtifacts,
    ProjectEnvironment, ProjectSource, SourceType, StatusType,
};

use super::{Presence, tags};
use crate::{
    api::{BuildPhase, BuildStatus, Platform},
    aws::{Aws, AwsError},
    desired::{BuildSource, DesiredBuild, Owner, build::hex},
};

/// One CodeBuild build, as far as we need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub state: RunState,
    /// CodeBuild's current phase, e.g. `BUILD`.
    pub phase: Option<String>,
    /// The image tag it pushes (`BYOC_IMAGE_TAG`).
    pub tag: Option<String>,
    pub started: Option<jiff::Timestamp>,
    pub ended: Option<jiff::Timestamp>,
    /// Log group and stream.
    pub logs: Option<(String, String)>,
    pub logs_url: Option<String>,
    /// What the failed phase says.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    InProgress,
    Succeeded,
    /// `FAILED`, `FAULT` or `TIMED_OUT`.
    Failed,
    Stopped,
}

/// What observation found for the desired build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The image with the desired tag, by digest, when the registry has it.
    pub image: Option<String>,
    /// The newest build of the desired tag.
    pub run: Option<Run>,
    /// Builds still running for another tag (an outdated source or spec).
    pub outdated: Vec<String>,
    /// The failed run's last log lines, when they were read.
    pub log_tail: Vec<String>,
}

/// The environment variable naming the tag a build pushes.
const TAG_VAR: &str = "BYOC_IMAGE_TAG";

/// Reads what exists for `b`: nothing at all when the last status already recorded its image;
/// else the image by tag, then the builds of the project.
pub async fn observe(
    aws: &Aws,
    b: &DesiredBuild,
    known: Option<&BuildStatus>,
) -> Result<Observed, AwsError> {
    let same = known.filter(|k| k.image_tag == b.tag);
    if let Some(image) =
        same.filter(|k| k.phase == BuildPhase::Succeeded).and_then(|k| k.image.clone())
    {
        return Ok(Observed { image: Some(image), ..Observed::default() });
    }
    let outdated_known: Vec<String> = known
        .filter(|k| k.image_tag != b.tag && k.phase == BuildPhase::Building)
        .and_then(|k| k.build_id.clone())
        .into_iter()
        .collect();
    if let Some(image) = image(aws, b).await? {
        return Ok(Observed {
            image: Some(image),
            outdated: outdated_known,
            ..Observed::default()
        });
    }
    let mut o = Observed::default();
    let runs = match same.and_then(|k| k.build_id.clone()) {
        Some(id) => runs(aws, &[id]).await?,
        None => recent_runs(aws, &b.project).await?,
    };
    for run in runs {
        if run.tag.as_deref() == Some(b.tag.as_str()) {
            if o.run.is_none() {
                o.run = Some(run);
            }
        } else if run.state == RunState::InProgress {
            o.outdated.push(run.id);
        }
    }
    for id in outdated_known {
        if !o.outdated.contains(&id) {
            o.outdated.push(id);
        }
    }
    let failed = o.run.as_ref().filter(|r| r.state == RunState::Failed);
    let recorded = same.is_some_and(|k| {
        k.phase == BuildPhase::Failed && k.build_id.as_deref() == failed.map(|r| r.id.as_str())
    });
    if let (Some((group, stream)), false) = (failed.and_then(|r| r.logs.clone()), recorded) {
        o.log_tail = log_tail(aws, &group, &stream).await.unwrap_or_default();
    }
    Ok(o)
}

/// The image with the build's tag, as `<registry>/<repository>@<digest>`.
async fn image(aws: &Aws, b: &DesiredBuild) -> Result<Option<String>, AwsError> {
    let found = aws
        .call(
            "ecr",
            "DescribeImages",
            aws.ecr
                .describe_images()
                .repository_name(&b.repository)
                .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(&b.tag).build())
                .send(),
        )
        .await;
    let out = match found {
        Ok(out) => out,
        Err(e)
            if matches!(
                e.code.as_str(),
                "ImageNotFoundException" | "RepositoryNotFoundException"
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(out.image_details().first().and_then(|d| {
        let digest = d.image_digest()?;
        let registry = d.registry_id()?;
        Some(format!("{registry}.dkr.ecr.{}.amazonaws.com/{}@{digest}", b.region, b.repository))
    }))
}

/// The ten newest builds of the project (none when the project does not exist). Newest first is
/// the default order; setting it fails for a project with more than 100 builds.
async fn recent_runs(aws: &Aws, project: &str) -> Result<Vec<Run>, AwsError> {
    let listed = aws
        .call(
            "codebuild",
            "ListBuildsForProject",
            aws.codebuild.list_builds_for_project().project_name(project).send(),
        )
        .await;
    let ids: Vec<String> = match listed {
        Ok(out) => out.ids().iter().take(10).cloned().collect(),
        Err(e) if e.code == "ResourceNotFoundException" => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    runs(aws, &ids).await
}

/// The builds with these ids, in the order given.
pub async fn runs(aws: &Aws, ids: &[String]) -> Result<Vec<Run>, AwsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = aws
        .call(
            "codebuild",
            "BatchGetBuilds",
            aws.codebuild.batch_get_builds().set_ids(Some(ids.to_vec())).send(),
        )
        .await?;
    let mut runs: Vec<Run> = out.builds().iter().map(run).collect();
    runs.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok(runs)
}

fn run(b: &aws_sdk_codebuild::types::Build) -> Run {
    let state = match b.build_status() {
        Some(StatusType::Succeeded) => RunState::Succeeded,
        Some(StatusType::Failed | StatusType::Fault | StatusType::TimedOut) => RunState::Failed,
        Some(StatusType::Stopped) => RunState::Stopped,
        _ => RunState::InProgress,
    };
    let timestamp = |t: Option<&aws_smithy_types::DateTime>| {
        t.and_then(|t| jiff::Timestamp::from_second(t.secs()).ok())
    };
    let tag = b
        .environment()
        .and_then(|e| e.environment_variables().iter().find(|v| v.name() == TAG_VAR))
        .map(|v| v.value().to_string());
    let failure = b
        .phases()
        .iter()
        .filter(|p| {
            p.phase_status().is_some_and(|s| s.as_str() != "SUCCEEDED" && s.as_str() != "STOPPED")
        })
        .find_map(|p| {
            let context = p.contexts().iter().find_map(|c| c.message().filter(|m| !m.is_empty()));
            Some(format!(
                "phase {} {}: {}",
                p.phase_type()?.as_str(),
                p.phase_status()?.as_str(),
                context.unwrap_or("no message")
            ))
        })
        .or_else(|| {
            (b.build_status() == Some(&StatusType::TimedOut))
                .then(|| format!("timed out after {} minutes", b.timeout_in_minutes().unwrap_or(0)))
        });
    Run {
        id: b.id().unwrap_or_default().to_string(),
        state,
        phase: b.current_phase().map(str::to_string),
        tag,
        started: timestamp(b.start_time()),
        ended: timestamp(b.end_time()),
        logs: b
            .logs()
            .and_then(|l| Some((l.group_name()?.to_string(), l.stream_name()?.to_string()))),
        logs_url: b.logs().and_then(|l| l.deep_link().map(str::to_string)),
        failure,
    }
}

/// Lines of a failed build's log worth showing: the last ones.
pub const LOG_TAIL: i32 = 15;

/// The last lines of a build's log.
pub async fn log_tail(aws: &Aws, group: &str, stream: &str) -> Result<Vec<String>, AwsError> {
    Ok(log_events(aws, group, stream, false, Some(LOG_TAIL), None).await?.0)
}

/// Log lines of a build after `token` (`None`: from the start), and the token to continue from.
pub async fn log_since(
    aws: &Aws,
    group: &str,
    stream: &str,
    token: Option<String>,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    let (lines, next) = log_events(aws, group, stream, true, None, token.clone()).await?;
    Ok((lines, next.or(token)))
}

/// One `GetLogEvents` page: the lines and the forward token. A stream the build has not written
/// yet has no lines.
async fn log_events(
    aws: &Aws,
    group: &str,
    stream: &str,
    from_head: bool,
    limit: Option<i32>,
    token: Option<String>,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    let found = aws
        .call(
            "logs",
            "GetLogEvents",
            aws.logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(from_head)
                .set_limit(limit)
                .set_next_token(token)
                .send(),
        )
        .await;
    match found {
        Ok(out) => Ok((
            out.events()
                .iter()
                .filter_map(|e| e.message().map(|m| m.trim_end().to_string()))
                .collect(),
            out.next_forward_token().map(str::to_string),
        )),
        Err(e) if e.code == "ResourceNotFoundException" => Ok((Vec::new(), None)),
        Err(e) => Err(e),
    }
}

/// The project's presence: ours, someone else's (never touched), or missing.
pub async fn project(aws: &Aws, name: &str, owner: &Owner) -> Result<Presence<()>, AwsError> {
    let out = aws
        .call(
            "codebuild",
            "BatchGetProjects",
            aws.codebuild.batch_get_projects().names(name).send(),
        )
        .await?;
    Ok(match out.projects().iter().find(|p| p.name() == Some(name)) {
        None => Presence::Missing,
        Some(p) if owner.owns(&tags::from_codebuild(p.tags())) => Presence::Ours(()),
        Some(_) => Presence::Foreign(name.to_string()),
    })
}

/// Creates the service's project. The builds override everything that varies.
pub async fn create_project(
    aws: &Aws,
    b: &DesiredBuild,
    resource_tags: &tags::Tags,
) -> Result<(), AwsError> {
    let invalid = |what: &str| AwsError::unexpected("CreateProject", what);
    aws.call(
        "codebuild",
        "CreateProject",
        aws.codebuild
            .create_project()
            .name(&b.project)
            .description("Image builds of a byoc-operator service")
            .source(
                ProjectSource::builder()
                    .r#type(SourceType::NoSource)
                    .buildspec(BUILDSPEC)
                    .build()
                    .map_err(|_| invalid("project source"))?,
            )
            .artifacts(
                ProjectArtifacts::builder()
                    .r#type(ArtifactsType::NoArtifacts)
                    .build()
                    .map_err(|_| invalid("project artifacts"))?,
            )
            .environment(environment(b).map_err(|_| invalid("project environment"))?)
            .service_role(&b.service_role_arn)
            .timeout_in_minutes(b.timeout_minutes)
            .logs_config(logs_config(b).map_err(|_| invalid("project logs"))?)
            .set_tags(Some(tags::codebuild(resource_tags)))
            .send(),
    )
    .await
    .map(|_| ())
}

fn environment(
    b: &DesiredBuild,
) -> Result<ProjectEnvironment, aws_sdk_codebuild::error::BuildError> {
    let (kind, image) = builder_image(b.platform);
    ProjectEnvironment::builder()
        .r#type(kind)
        .image(image)
        .compute_type(ComputeType::from(b.compute.compute_type()))
        .privileged_mode(true)
        .build()
}

/// The CodeBuild environment for a platform: native builders, no emulation. Curated images:
/// <https://docs.aws.amazon.com/codebuild/latest/userguide/ec2-compute-images.html>
pub fn builder_image(platform: Platform) -> (EnvironmentType, &'static str) {
    match platform {
        Platform::Amd64 => {
            (EnvironmentType::LinuxContainer, "aws/codebuild/amazonlinux-x86_64-standard:5.0")
        }
        Platform::Arm64 => {
            (EnvironmentType::ArmContainer, "aws/codebuild/amazonlinux-aarch64-standard:3.0")
        }
    }
}

fn logs_config(b: &DesiredBuild) -> Result<LogsConfig, aws_sdk_codebuild::error::BuildError> {
    let cloud_watch = CloudWatchLogsConfig::builder()
        .status(LogsConfigStatusType::Enabled)
        .group_name(&b.log_group)
        .stream_name("build")
        .build()?;
    Ok(LogsConfig::builder().cloud_watch_logs(cloud_watch).build())
}

/// Where an uploaded context is: `s3://bucket/key`.
pub fn upload_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Starts a build of `b`. `context_url` is the uploaded context of a local source; `retry_of`
/// the stopped build of the same tag this one replaces (a new idempotency token).
pub async fn start(
    aws: &Aws,
    b: &DesiredBuild,
    repository_uri: &str,
    context_url: Option<&str>,
    retry_of: Option<&str>,
) -> Result<Run, AwsError> {
    let variables = variables(b, repository_uri, context_url)
        .map_err(|_| AwsError::unexpected("StartBuild", "environment variables"))?;
    let (kind, image) = builder_image(b.platform);
    let token =
        &hex(format!("{}/{}/{}", b.project, b.tag, retry_of.unwrap_or("")).as_bytes())[..32];
    let out = aws
        .call(
            "codebuild",
            "StartBuild",
            aws.codebuild
                .start_build()
                .project_name(&b.project)
                .idempotency_token(token)
                .source_type_override(SourceType::NoSource)
                .buildspec_override(BUILDSPEC)
                .environment_type_override(kind)
                .image_override(image)
                .compute_type_override(ComputeType::from(b.compute.compute_type()))
                .privileged_mode_override(true)
                .service_role_override(&b.service_role_arn)
                .timeout_in_minutes_override(b.timeout_minutes)
                .logs_config_override(
                    logs_config(b)
                        .map_err(|_| AwsError::unexpected("StartBuild", "logs config"))?,
                )
                .set_environment_variables_override(Some(variables))
                .send(),
        )
        .await?;
    out.build_value()
        .map(run)
        .ok_or_else(|| AwsError::unexpected("StartBuild", "the answer names no build"))
}

/// The build's environment: where the source is, what to build and push; secret values only by
/// their Secrets Manager name.
fn variables(
    b: &DesiredBuild,
    repository_uri: &str,
    context_url: Option<&str>,
) -> Result<Vec<EnvironmentVariable>, aws_sdk_codebuild::error::BuildError> {
    let mut plain = vec![
        ("BYOC_IMAGE".to_string(), repository_uri.to_string()),
        (TAG_VAR.to_string(), b.tag.clone()),
        ("BYOC_PLATFORM".to_string(), b.platform.as_str().to_string()),
        ("BYOC_DOCKERFILE".to_string(), b.dockerfile.clone()),
        ("BYOC_CONTEXT_PATH".to_string(), b.context_path.clone().unwrap_or_else(|| ".".into())),
    ];
    if let Some(target) = &b.target {
        plain.push(("BYOC_TARGET".into(), target.clone()));
    }
    match (&b.source, context_url) {
        (BuildSource::Git { url, commit, .. }, _) => {
            plain.push(("BYOC_GIT_URL".into(), url.clone()));
            plain.push(("BYOC_GIT_COMMIT".into(), commit.clone()));
        }
        (BuildSource::Upload { .. }, Some(url)) => {
            plain.push(("BYOC_CONTEXT_URL".into(), url.into()))
        }
        (BuildSource::Upload { .. }, None) => {}
    }
    for (name, value) in &b.args {
        plain.push((crate::desired::build::arg_env(name), value.clone()));
    }
    let mut out = Vec::new();
    for (name, value) in plain {
        out.push(
            EnvironmentVariable::builder()
                .name(name)
                .value(value)
                .r#type(EnvironmentVariableType::Plaintext)
                .build()?,
        );
    }
    for (name, secret) in &b.secrets {
        out.push(
            EnvironmentVariable::builder()
                .name(name)
                .value(secret)
                .r#type(EnvironmentVariableType::SecretsManager)
                .build()?,
        );
    }
    Ok(out)
}

/// Stops a build (one for an outdated source, or of a deleted service).
pub async fn stop(aws: &Aws, id: &str) -> Result<(), AwsError> {
    match aws.call("codebuild", "StopBuild", aws.codebuild.stop_build().id(id).send()).await {
        Ok(_) => Ok(()),
        // Finished or gone meanwhile: nothing to stop.
        Err(e)
            if matches!(e.code.as_str(), "ResourceNotFoundException" | "InvalidInputException") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Builds of the project still running (teardown).
pub async fn running(aws: &Aws, project: &str) -> Result<Vec<String>, AwsError> {
    Ok(recent_runs(aws, project)
        .await?
        .into_iter()
        .filter(|r| r.state == RunState::InProgress)
        .map(|r| r.id)
        .collect())
}

/// Deletes the project (its finished builds' records go with it).
pub async fn delete_project(aws: &Aws, name: &str) -> Result<(), AwsError> {
    aws.call("codebuild", "DeleteProject", aws.codebuild.delete_project().name(name).send())
        .await
        .map(|_| ())
}

/// What every build runs: fetch the source (a Git commit, or the uploaded context), log in to
/// ECR, and build with BuildKit, pushing `$BYOC_IMAGE:$BYOC_IMAGE_TAG`. Every input arrives as an
/// environment variable; build arguments by name only (`--build-arg NAME` reads the variable),
/// so their values never appear on a command line or in the log.
pub const BUILDSPEC: &str = r#"version: 0.2
env:
  shell: bash
phases:
  pre_build:
    commands:
      - |
        set -euo pipefail
        mkdir -p /tmp/src && cd /tmp/src
        if [ -n "${BYOC_GIT_URL:-}" ]; then
          git init -q . && git remote add origin "$BYOC_GIT_URL"
          auth=()
          if [ -n "${BYOC_GIT_PASSWORD:-}" ]; then
            basic=$(printf '%s:%s' "$BYOC_GIT_USERNAME" "$BYOC_GIT_PASSWORD" | base64 -w0)
            auth=(-c "http.extraHeader=Authorization: Basic $basic")
          fi
          git "${auth[@]}" fetch -q --depth 1 origin "$BYOC_GIT_COMMIT"
          git checkout -q FETCH_HEAD
          echo "source: $BYOC_GIT_URL at $BYOC_GIT_COMMIT"
        else
          aws s3 cp --quiet "$BYOC_CONTEXT_URL" /tmp/context.tar.gz
          tar -xzf /tmp/context.tar.gz
          echo "source: $BYOC_CONTEXT_URL"
        fi
      - aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "${BYOC_IMAGE%%/*}"
  build:
    commands:
      - |
        set -euo pipefail
        cd "/tmp/src/$BYOC_CONTEXT_PATH"
        args=()
        for var in $(compgen -e | grep '^BUILD_ARG_' || true); do
          export "${var#BUILD_ARG_}=${!var}"
          args+=(--build-arg "${var#BUILD_ARG_}")
        done
        docker buildx create --use --driver docker-container >/dev/null
        docker buildx build --platform "$BYOC_PLATFORM" -f "$BYOC_DOCKERFILE" \
          ${BYOC_TARGET:+--target "$BYOC_TARGET"} "${args[@]}" --provenance=false \
          --push -t "$BYOC_IMAGE:$BYOC_IMAGE_TAG" .
"#;
