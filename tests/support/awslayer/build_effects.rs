//! What running CodeBuild builds do to the account, through moto: the outcomes decided when a
//! build gets there (does its S3 source exist, does the registry take its push), its log lines
//! written into CloudWatch Logs, its image pushed into ECR. `settle` brings every build up to
//! now; the layer calls it before it handles a CodeBuild, CloudWatch Logs or ECR request, so
//! whoever looks sees each effect on time, without a background task. Does IO (moto); the layer's
//! own requests are neither counted nor recorded as calls.
//!
//! - Logs: CodeBuild writes a build's lines itself, creating the log group if it is missing and
//!   the stream, which is why the minimal service role grants `logs:CreateLogGroup`,
//!   `logs:CreateLogStream` and `logs:PutLogEvents` (Allow CodeBuild to interact with other AWS
//!   services, <https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html>).
//! - The image: a successful build pushes `<BYOC_IMAGE>:<BYOC_IMAGE_TAG>` with PutImage
//!   (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html>) once it has
//!   completed and `Config::image_push_lag` has passed; a push to a missing repository, or of an
//!   existing tag to an IMMUTABLE repository, fails the BUILD phase when the build reaches the
//!   end of it (`build_image` has ECR's words).
//! - The source: an S3 source whose object is missing fails DOWNLOAD_SOURCE with CLIENT_ERROR
//!   (`PhaseContext` statusCode,
//!   <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_PhaseContext.html>).

use std::time::Instant;

use serde_json::{Value, json};

use super::{
    Shared,
    build::{Check, Context, Phase, Status},
    build_image::{self, MANIFEST_MEDIA_TYPE},
    build_log::{self, Facts, Why},
    wire::{Reply, Req},
};

const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";
const LOGS: &str = "Logs_20140328";

/// Brings every build's effects up to now: outcomes that need a look at moto, log lines, image
/// pushes. Callers of the layer's other services call this before their request goes on.
pub async fn settle(shared: &Shared, like: &Req) {
    let _settling = shared.settling.lock().await;
    settle_held(shared, like).await;
}

/// `settle`, with `shared.settling` held.
async fn settle_held(shared: &Shared, like: &Req) {
    let now = Instant::now();
    // A settled source check may bring the build to its push check at once.
    for _ in 0..2 {
        let due: Vec<(String, Phase)> = {
            let state = shared.lock();
            let builds = state.codebuild.builds();
            builds.filter_map(|b| Some((b.id.clone(), b.run.due_check(now)?))).collect()
        };
        for (id, phase) in due {
            match phase {
                Phase::DownloadSource => check_source(shared, like, &id).await,
                _ => check_push(shared, like, &id).await,
            }
        }
    }
    write_logs(shared, like, now).await;
    push_images(shared, like, now).await;
}

/// DOWNLOAD_SOURCE: the S3 object must exist.
async fn check_source(shared: &Shared, like: &Req, id: &str) {
    let Some((bucket, key)) = shared.lock().codebuild.get(id).and_then(|b| b.s3_source()) else {
        return;
    };
    let head = shared.ask_rest(like, "s3", http::Method::HEAD, &format!("/{bucket}/{key}")).await;
    let check = match head.status {
        200..=299 => Check::Passed,
        403 => Check::Failed(Context::new(
            "CLIENT_ERROR",
            &format!(
                "AccessDenied: Access Denied for primary source and source version arn:aws:s3:::{bucket}/{key}"
            ),
        )),
        _ => Check::Failed(Context::new(
            "CLIENT_ERROR",
            &format!(
                "NoSuchKey: The specified key does not exist. for primary source and source version arn:aws:s3:::{bucket}/{key}"
            ),
        )),
    };
    if let Some(build) = shared.lock().codebuild.get_mut(id) {
        build.run.source = check;
    }
}

/// The end of BUILD: the registry takes the push, or refuses it as ECR does.
async fn check_push(shared: &Shared, like: &Req, id: &str) {
    let Some(image) =
        shared.lock().codebuild.get(id).and_then(|b| b.variable("BYOC_IMAGE").map(str::to_string))
    else {
        return;
    };
    let tag = shared
        .lock()
        .codebuild
        .get(id)
        .and_then(|b| b.variable("BYOC_IMAGE_TAG").map(str::to_string))
        .unwrap_or_default();
    let (host, repository) = image.split_once('/').unwrap_or(("", &image));
    let registry = host.split('.').next().unwrap_or_default();
    let described =
        ask_ecr(shared, like, "DescribeRepositories", json!({ "repositoryNames": [repository] }))
            .await;
    let refusal = if described.error_code().as_deref() == Some("RepositoryNotFoundException") {
        Some(build_image::missing_repository(repository, registry))
    } else if described.json()["repositories"][0]["imageTagMutability"]
        .as_str()
        .is_some_and(|m| m.starts_with("IMMUTABLE"))
    {
        let images = json!({ "repositoryName": repository, "imageIds": [{ "imageTag": tag }] });
        let found = ask_ecr(shared, like, "DescribeImages", images).await;
        found.is_success().then(|| build_image::immutable_tag(repository, &tag))
    } else {
        None
    };
    if let Some(build) = shared.lock().codebuild.get_mut(id) {
        build.run.build = match refusal {
            Some(refusal) => {
                build.why = Some(Why::Push(refusal));
                Check::Failed(build.script.failure())
            }
            None => Check::Passed,
        };
    }
}

async fn ask_ecr(shared: &Shared, like: &Req, operation: &str, body: Value) -> Reply {
    shared.ask_service(like, "ecr", &format!("{ECR}.{operation}"), body).await
}

async fn ask_logs(shared: &Shared, like: &Req, operation: &str, body: Value) -> Reply {
    shared.ask_service(like, "logs", &format!("{LOGS}.{operation}"), body).await
}

/// Lines due in one build's log stream.
struct LogWrite {
    id: String,
    group: String,
    stream: String,
    create: bool,
    events: Vec<Value>,
    total: usize,
    /// The build is complete: these are its last lines.
    last: bool,
}

async fn write_logs(shared: &Shared, like: &Req, now: Instant) {
    let writes: Vec<LogWrite> = {
        let state = shared.lock();
        let wall = |at: Instant| shared.wall(at);
        state
            .codebuild
            .builds()
            .filter(|b| b.logs.enabled && !b.logs_done)
            .filter_map(|b| {
                let image = b.image().unwrap_or_else(|| ":".into());
                let src_dir = b.src_dir();
                let dockerfile = b.variable("BYOC_DOCKERFILE").unwrap_or("Dockerfile");
                let why = b.why.as_ref();
                let facts =
                    Facts { script: &b.script, image: &image, dockerfile, why, src_dir: &src_dir };
                let mut lines = build_log::lines(&facts, &b.run.spans(now), &wall);
                lines.retain(|(at, _)| *at <= now);
                let events: Vec<Value> = lines
                    .iter()
                    .skip(b.logged)
                    .map(|(at, text)| {
                        let millis = (shared.epoch(*at) * 1000.0) as i64;
                        json!({ "timestamp": millis, "message": text })
                    })
                    .collect();
                (!events.is_empty()).then(|| LogWrite {
                    id: b.id.clone(),
                    group: b.logs.group.clone(),
                    stream: b.logs.stream.clone(),
                    create: !b.stream_created,
                    events,
                    total: lines.len(),
                    last: b.run.complete(now),
                })
            })
            .collect()
    };
    for write in writes {
        let (group, stream) = (&write.group, &write.stream);
        if write.create {
            // Either may exist already; PutLogEvents tells.
            ask_logs(shared, like, "CreateLogGroup", json!({ "logGroupName": group })).await;
            let body = json!({ "logGroupName": group, "logStreamName": stream });
            ask_logs(shared, like, "CreateLogStream", body).await;
        }
        let body =
            json!({ "logGroupName": group, "logStreamName": stream, "logEvents": write.events });
        if ask_logs(shared, like, "PutLogEvents", body).await.is_success()
            && let Some(build) = shared.lock().codebuild.get_mut(&write.id)
        {
            build.logged = write.total;
            build.stream_created = true;
            build.logs_done = write.last;
        }
    }
}

/// Pushes the image of every build that SUCCEEDED at least `image_push_lag` ago.
async fn push_images(shared: &Shared, like: &Req, now: Instant) {
    let due: Vec<(String, Value)> = {
        let state = shared.lock();
        let lag = state.config.image_push_lag;
        state
            .codebuild
            .builds()
            .filter(|b| b.pushed.is_none() && b.run.status(now) == Status::Succeeded)
            .filter(|b| b.run.completes().is_some_and(|done| done + lag <= now))
            .filter_map(|b| {
                let image = b.variable("BYOC_IMAGE")?;
                let repository = image.split_once('/').map_or(image, |(_, r)| r);
                let manifest = build_image::manifest(&b.id, &b.image()?, &b.platform());
                let body = json!({
                    "repositoryName": repository,
                    "imageTag": b.variable("BYOC_IMAGE_TAG")?,
                    "imageManifest": manifest,
                    "imageManifestMediaType": MANIFEST_MEDIA_TYPE,
                });
                Some((b.id.clone(), body))
            })
            .collect()
    };
    for (id, body) in due {
        let reply = ask_ecr(shared, like, "PutImage", body).await;
        let digest = reply.json()["image"]["imageId"]["imageDigest"].as_str().map(str::to_string);
        if let Some(build) = shared.lock().codebuild.get_mut(&id) {
            build.pushed = Some(digest);
        }
    }
}
