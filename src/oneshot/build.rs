//! Builds from source in one-shot mode: a local context is packed before any AWS call (so a bad
//! context fails early), a Git revision is resolved to its commit, then the build is followed to
//! its end, its phases and log lines printed as they come, and the rest of the service is applied
//! with the image it pushed, by digest.

use std::{path::Path, time::Duration};

use super::Prepared;
use crate::{
    api::{BuildPhase, BuildStatus, CloudAccount, CloudService},
    aws::Aws,
    build::{
        context::{self, PackedContext},
        git::{self, Credentials},
    },
    desired::{
        self, BuildSource, DesiredStack,
        build::{GIT_PASSWORD, GIT_USERNAME},
    },
    resources::{
        Change, ObserveCache,
        account::{AccountState, account_tags},
        build::{self, Observed},
        build_bucket,
        build_stage::{self, Decision, Upload},
    },
};

/// The largest local context `byoc apply` uploads, in MiB (`BYOC_BUILD_CONTEXT_LIMIT_MIB`).
pub fn context_limit() -> u64 {
    std::env::var("BYOC_BUILD_CONTEXT_LIMIT_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
        * 1024
        * 1024
}

/// Packs a service's local build context (`spec.build.context`, relative to `base`, the
/// manifest's directory, then `spec.build.path`); `None` for other services.
pub fn pack(service: &CloudService, base: &Path) -> Result<Option<PackedContext>, String> {
    let Some(b) = &service.spec.build else { return Ok(None) };
    let Some(dir) = &b.context else { return Ok(None) };
    let mut dir = base.join(dir);
    if let Some(path) = &b.path {
        dir = dir.join(path);
    }
    context::pack(&dir, &b.dockerfile, context_limit())
        .map(Some)
        .map_err(|e| format!("spec.build.context: {e}"))
}

/// The source of a prepared service's build.
async fn source(p: &Prepared) -> Result<Option<BuildSource>, String> {
    let (Some(v), Some(build)) =
        (&p.validated, p.validated.as_ref().and_then(|v| v.spec.build.as_ref()))
    else {
        return Ok(None);
    };
    if let Some(packed) = &p.context {
        return Ok(Some(BuildSource::Upload { digest: packed.digest.clone() }));
    }
    let Some(g) = &build.git else { return Ok(None) };
    let credentials = match (v.secret_values.get(GIT_USERNAME), v.secret_values.get(GIT_PASSWORD)) {
        (Some(u), Some(pw)) => Some(Credentials { username: u.clone(), password: pw.clone() }),
        _ => None,
    };
    let resolved = git::resolve(
        &g.url,
        g.revision.as_deref().unwrap_or("HEAD"),
        credentials.as_ref(),
        crate::build::GIT_TIMEOUT,
    )
    .await
    .map_err(|e| format!("spec.build.git: {e}"))?;
    Ok(Some(BuildSource::Git {
        url: g.url.clone(),
        commit: resolved.commit,
        reference: resolved.reference,
    }))
}

/// `byoc plan`: the build it would start (none when the image of this source exists), and the
/// stack with the image it runs (a placeholder for one still to be built).
pub async fn plan(aws: &Aws, p: &Prepared) -> Result<(DesiredStack, Vec<Change>), String> {
    let Some(source) = source(p).await? else { return Ok((p.stack.clone(), Vec::new())) };
    let Some(b) =
        p.validated.as_ref().and_then(|v| desired::desired_build(v, &p.stack.owner, source))
    else {
        return Ok((p.stack.clone(), Vec::new()));
    };
    build_stage::preview(aws, &b, p.stack.clone()).await.map_err(|e| e.to_string())
}

/// How often a running build is looked at.
const POLL: Duration = Duration::from_secs(2);

/// `byoc apply`: builds the image when this source has none yet, following the build to its
/// end. Returns the stack running the pushed image (`None` when the build failed) and the build's
/// status.
pub async fn run(
    aws: &Aws,
    p: &Prepared,
    account: (&str, &CloudAccount),
    state: &AccountState,
    cache: &ObserveCache,
) -> Result<Option<(Option<DesiredStack>, BuildStatus)>, String> {
    let Some(source) = source(p).await? else { return Ok(None) };
    let Some(b) =
        p.validated.as_ref().and_then(|v| desired::desired_build(v, &p.stack.owner, source))
    else {
        return Ok(None);
    };
    let label = &p.label;
    let stack = p.stack.clone().with_build(b.clone());
    let aws_account_id = state
        .cluster_arn
        .as_deref()
        .and_then(build_bucket::account_id)
        .ok_or_else(|| format!("{label}: the account's ECS cluster has no ARN yet"))?
        .to_string();
    let upload = p.context.as_ref().map(|packed| {
        let (name, acct) = account;
        Upload {
            bucket: build_bucket::name(
                &aws_account_id,
                &acct.spec.aws.region,
                name,
                &p.stack.owner.cluster_id,
            ),
            key: build_bucket::key(&b.project, &packed.digest),
            archive: packed.archive.clone(),
            retention_days: acct.spec.build.as_ref().map_or(30, |a| a.upload_retention_days),
            tags: account_tags(name, &acct.spec, &p.stack.owner.cluster_id),
        }
    });
    if let Some(packed) = &p.context {
        eprintln!(
            "  {label}: build context {} ({} files, {} bytes)",
            packed.digest, packed.files, packed.size
        );
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(60 * (b.timeout_minutes as u64 + 30));
    let mut known: Option<BuildStatus> = None;
    let mut follow = Follow::default();
    loop {
        let observed =
            build::observe(aws, &b, known.as_ref()).await.map_err(|e| format!("{label}: {e}"))?;
        let decision = build_stage::decide(&observed);
        let started = build_stage::act(
            aws,
            &stack,
            &observed,
            &decision,
            &aws_account_id,
            upload.as_ref(),
            cache,
        )
        .await
        .map_err(|e| format!("{label}: {e}"))?;
        let status =
            build_stage::status(&b, &observed, &decision, started.as_ref(), known.as_ref());
        follow.report(aws, label, &observed, started.as_ref(), &status).await;
        match decision {
            Decision::Deploy(image) => {
                let mut stack = stack;
                stack.set_image(&image);
                eprintln!("  {label}: image {image}");
                return Ok(Some((Some(stack), status)));
            }
            Decision::Failed => return Ok(Some((None, status))),
            Decision::Wait | Decision::Start { .. } => {}
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "{label}: the build did not end within its timeout; see {}",
                status.logs_url.unwrap_or_default()
            ));
        }
        known = Some(status);
        tokio::time::sleep(POLL).await;
    }
}

/// What of a build was printed already.
#[derive(Default)]
struct Follow {
    phase: Option<String>,
    build: Option<String>,
    token: Option<String>,
}

impl Follow {
    /// Prints a new build, each phase change and the log lines written since the last look.
    async fn report(
        &mut self,
        aws: &Aws,
        label: &str,
        o: &Observed,
        started: Option<&build::Run>,
        status: &BuildStatus,
    ) {
        let Some(run) = started.or(o.run.as_ref()) else { return };
        if self.build.as_deref() != Some(run.id.as_str()) {
            eprintln!("  {label}: build {} of {}", run.id, status.source);
            if let Some(url) = &run.logs_url {
                eprintln!("  {label}: log {url}");
            }
            *self = Follow { build: Some(run.id.clone()), ..Follow::default() };
        }
        if let Some((group, stream)) = &run.logs
            && let Ok((lines, token)) =
                build::log_since(aws, group, stream, self.token.clone()).await
        {
            for line in lines {
                eprintln!("  {label} | {line}");
            }
            self.token = token;
        }
        if run.phase != self.phase {
            if let Some(phase) = &run.phase {
                eprintln!("  {label}: build phase {phase}");
            }
            self.phase = run.phase.clone();
        }
        if status.phase == BuildPhase::WaitingForImage {
            eprintln!("  {label}: {}", status.message.as_deref().unwrap_or_default());
        }
    }
}
