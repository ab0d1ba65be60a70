//! The build step of a service with `spec.build`, before the rest of its pipeline: observe the
//! build of the current source (the status' record first, so a settled build costs no call), a
//! pure decision (deploy the pushed image, wait, failed, or start a build), and the action: stop
//! builds of an outdated source, make sure what the build writes to exists (repository, log
//! group, the secrets it reads), create the project, upload a local context, start the build.

use super::{
    Action, Change, EngineError, Kind, Presence,
    build::{self, Observed, Run, RunState},
    build_bucket,
    cache::ObserveCache,
    log_group, repository, secret,
};
use crate::{
    api::{BuildPhase, BuildStatus},
    aws::Aws,
    desired::{BuildSource, DesiredBuild, DesiredStack},
};

/// What to do about the build of the current source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The registry has the image: run it (by digest).
    Deploy(String),
    /// A build is running, or succeeded and its image is not in the registry yet.
    Wait,
    /// The build failed: nothing is built again until the source or the build options change.
    Failed,
    /// Start a build; `retry_of` is a stopped build of the same tag.
    Start { retry_of: Option<String> },
}

/// The decision from what was observed (pure).
pub fn decide(o: &Observed) -> Decision {
    if let Some(image) = &o.image {
        return Decision::Deploy(image.clone());
    }
    match &o.run {
        Some(r) if matches!(r.state, RunState::InProgress | RunState::Succeeded) => Decision::Wait,
        Some(r) if r.state == RunState::Failed => Decision::Failed,
        Some(r) => Decision::Start { retry_of: Some(r.id.clone()) },
        None => Decision::Start { retry_of: None },
    }
}

/// A preview of the build step, with reads only (`byoc plan`, `byoc.dev/plan-only`): the stack
/// with the image it would run (a placeholder for one still to be built) and the build it would
/// start (none when the registry has the image of this source).
pub async fn preview(
    aws: &Aws,
    b: &DesiredBuild,
    stack: DesiredStack,
) -> Result<(DesiredStack, Vec<Change>), EngineError> {
    let observed =
        build::observe(aws, b, None).await.map_err(EngineError::aws(Kind::Build, &b.project))?;
    let decision = decide(&observed);
    let mut stack = stack.with_build(b.clone());
    match &decision {
        Decision::Deploy(image) => stack.set_image(image),
        _ => stack.set_image(&format!("{}:{} (to be built)", b.repository, b.tag)),
    }
    Ok((stack, changes(b, &observed, &decision)))
}

/// The changes the decision makes, for `byoc plan` and the log.
pub fn changes(b: &DesiredBuild, o: &Observed, decision: &Decision) -> Vec<Change> {
    let mut out: Vec<Change> = o
        .outdated
        .iter()
        .map(|id| {
            Change::new(Kind::Build, id, Action::Keep("stopped: its source is outdated".into()))
        })
        .collect();
    if matches!(decision, Decision::Start { .. }) {
        out.push(Change::new(
            Kind::Build,
            format!("{}:{} from {}", b.repository, b.tag, b.source.describe()),
            Action::Create,
        ));
    }
    out
}

/// What a local source brings: its packed context and where it goes.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub archive: Vec<u8>,
    pub retention_days: i32,
    /// The account's tags (the bucket is an account-level resource).
    pub tags: super::tags::Tags,
}

/// Carries out the decision for the stack's build. Returns the build it started, if any.
pub async fn act(
    aws: &Aws,
    stack: &DesiredStack,
    o: &Observed,
    decision: &Decision,
    aws_account_id: &str,
    upload: Option<&Upload>,
    cache: &ObserveCache,
) -> Result<Option<Run>, EngineError> {
    for id in &o.outdated {
        Change::new(Kind::Build, id, Action::Delete).log();
        build::stop(aws, id).await.map_err(EngineError::aws(Kind::Build, id))?;
    }
    let (Decision::Start { retry_of }, Some(b)) = (decision, stack.build.as_ref()) else {
        return Ok(None);
    };
    prepare(aws, stack, cache).await?;
    match build::project(aws, &b.project, &stack.owner)
        .await
        .map_err(EngineError::aws(Kind::BuildProject, &b.project))?
    {
        Presence::Ours(()) => {}
        Presence::Foreign(name) => {
            return Err(EngineError::OwnershipConflict { kind: Kind::BuildProject, name });
        }
        Presence::Missing => {
            Change::new(Kind::BuildProject, &b.project, Action::Create).log();
            build::create_project(aws, b, &stack.tags)
                .await
                .map_err(EngineError::aws(Kind::BuildProject, &b.project))?;
        }
    }
    let context_url = match (&b.source, upload) {
        (BuildSource::Upload { .. }, Some(u)) => {
            ensure_bucket(aws, u, &b.region).await?;
            if build_bucket::upload(aws, &u.bucket, &u.key, &u.archive)
                .await
                .map_err(EngineError::aws(Kind::BuildUpload, &u.key))?
            {
                Change::new(
                    Kind::BuildUpload,
                    build::upload_url(&u.bucket, &u.key),
                    Action::Create,
                )
                .log();
            }
            Some(build::upload_url(&u.bucket, &u.key))
        }
        (BuildSource::Upload { .. }, None) => {
            return Err(EngineError::Invalid(
                "spec.build.context: a local directory is built by byoc apply, which uploads it; the controller builds from spec.build.git".into(),
            ));
        }
        (BuildSource::Git { .. }, _) => None,
    };
    let repository_uri =
        format!("{aws_account_id}.dkr.ecr.{}.amazonaws.com/{}", b.region, b.repository);
    let run = build::start(aws, b, &repository_uri, context_url.as_deref(), retry_of.as_deref())
        .await
        .map_err(EngineError::aws(Kind::Build, &b.project))?;
    Change::new(Kind::Build, &run.id, Action::Create).log();
    Ok(Some(run))
}

async fn ensure_bucket(aws: &Aws, u: &Upload, region: &str) -> Result<(), EngineError> {
    match build_bucket::observe(aws, &u.bucket, &u.tags)
        .await
        .map_err(EngineError::aws(Kind::BuildBucket, &u.bucket))?
    {
        Presence::Ours(()) => Ok(()),
        Presence::Foreign(name) => {
            Err(EngineError::OwnershipConflict { kind: Kind::BuildBucket, name })
        }
        Presence::Missing => {
            Change::new(Kind::BuildBucket, &u.bucket, Action::Create).log();
            build_bucket::create(aws, &u.bucket, region, &u.tags, u.retention_days)
                .await
                .map_err(EngineError::aws(Kind::BuildBucket, &u.bucket))
        }
    }
}

/// What the build writes to or reads, created before the first build, when the rest of the
/// stack waits for the image: the repository, the log group, the secrets it reads.
async fn prepare(aws: &Aws, stack: &DesiredStack, cache: &ObserveCache) -> Result<(), EngineError> {
    let (owner, tags) = (&stack.owner, &stack.tags);
    if let Some(r) = &stack.repository {
        let obs = repository::observe(aws, &r.name, owner, cache)
            .await
            .map_err(EngineError::aws(Kind::Repository, &r.name))?;
        if let Presence::Foreign(name) = &obs {
            return Err(EngineError::OwnershipConflict {
                kind: Kind::Repository,
                name: name.clone(),
            });
        }
        if let Some(change) = repository::diff(r, tags, &obs) {
            change.log();
            repository::act(aws, r, tags, &obs)
                .await
                .map_err(EngineError::aws(Kind::Repository, &r.name))?;
        }
    }
    let lg = &stack.log_group;
    let obs = log_group::observe(aws, &lg.name, owner, cache)
        .await
        .map_err(EngineError::aws(Kind::LogGroup, &lg.name))?;
    if let Presence::Foreign(name) = &obs {
        return Err(EngineError::OwnershipConflict { kind: Kind::LogGroup, name: name.clone() });
    }
    if let Some(change) = log_group::diff(lg, tags, &obs) {
        change.log();
        log_group::act(aws, lg, tags, &obs)
            .await
            .map_err(EngineError::aws(Kind::LogGroup, &lg.name))?;
    }
    let build_env = stack.build.as_ref().map(|b| &b.secrets);
    for s in stack.secrets.iter().filter(|s| build_env.is_some_and(|e| e.contains_key(&s.env_name)))
    {
        let obs = secret::observe(aws, &s.name, owner, cache)
            .await
            .map_err(EngineError::aws(Kind::Secret, &s.name))?;
        if let Presence::Foreign(name) = &obs {
            return Err(EngineError::OwnershipConflict { kind: Kind::Secret, name: name.clone() });
        }
        if let Some(change) = secret::diff(s, tags, &obs) {
            change.log();
            secret::act(aws, s, tags, &obs)
                .await
                .map_err(EngineError::aws(Kind::Secret, &s.name))?;
        }
    }
    cache.touch_stack(stack, &[]);
    Ok(())
}

/// The build's status (pure): from the decision, the build observed or just started, and the
/// last status (whose `lastImage` carries over).
pub fn status(
    b: &DesiredBuild,
    o: &Observed,
    decision: &Decision,
    started: Option<&Run>,
    previous: Option<&BuildStatus>,
) -> BuildStatus {
    let run = started.or(o.run.as_ref());
    let last_image = previous.and_then(|p| p.last_image.clone());
    let timestamp =
        |t: Option<jiff::Timestamp>| t.map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
    let mut s = BuildStatus {
        phase: BuildPhase::Building,
        source: b.source.describe(),
        revision: b.source.commit().map(str::to_string),
        image_tag: b.tag.clone(),
        build_id: run.map(|r| r.id.clone()),
        current_phase: run.and_then(|r| r.phase.clone()),
        image: None,
        start_time: timestamp(run.and_then(|r| r.started)),
        end_time: timestamp(run.and_then(|r| r.ended)),
        logs_url: run.and_then(|r| r.logs_url.clone()),
        message: None,
        last_image,
    };
    match decision {
        Decision::Deploy(image) => {
            s.phase = BuildPhase::Succeeded;
            s.image = Some(image.clone());
            s.last_image = Some(image.clone());
            // Found in the registry without reading the build: keep what the last status knew.
            if let Some(p) = previous.filter(|p| p.image_tag == b.tag) {
                s.build_id = s.build_id.or(p.build_id.clone());
                s.start_time = s.start_time.or(p.start_time.clone());
                s.end_time = s.end_time.or(p.end_time.clone());
                s.logs_url = s.logs_url.or(p.logs_url.clone());
            }
        }
        Decision::Failed => {
            s.phase = BuildPhase::Failed;
            let recorded = previous
                .filter(|p| p.phase == BuildPhase::Failed && p.build_id == s.build_id)
                .and_then(|p| p.message.clone());
            s.message = Some(recorded.unwrap_or_else(|| failure_message(b, run, &o.log_tail)));
        }
        Decision::Wait if run.is_some_and(|r| r.state == RunState::Succeeded) => {
            s.phase = BuildPhase::WaitingForImage;
            s.message = Some(format!(
                "build {} succeeded; waiting for {}:{} to appear in ECR before deploying it by digest",
                run.map(|r| r.id.as_str()).unwrap_or("?"),
                b.repository,
                b.tag
            ));
        }
        Decision::Wait | Decision::Start { .. } => {
            s.message = Some(format!(
                "building {} (build {}, phase {}){}",
                b.source.describe(),
                run.map(|r| r.id.as_str()).unwrap_or("starting"),
                run.and_then(|r| r.phase.as_deref()).unwrap_or("SUBMITTED"),
                match &s.last_image {
                    Some(image) => format!("; {image} keeps running meanwhile"),
                    None => String::new(),
                }
            ));
        }
    }
    s
}

fn failure_message(b: &DesiredBuild, run: Option<&Run>, tail: &[String]) -> String {
    let mut m = format!(
        "build {} of {} failed: {}; fix the source and push a new commit, or change spec.build",
        run.map(|r| r.id.as_str()).unwrap_or("?"),
        b.source.describe(),
        run.and_then(|r| r.failure.as_deref()).unwrap_or("see its log"),
    );
    if !tail.is_empty() {
        m.push_str("\nlast lines of the build log:\n");
        m.push_str(&tail.join("\n"));
    }
    m
}
