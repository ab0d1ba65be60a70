//! The build step of a CloudService with `spec.build`: resolve the Git revision to its commit,
//! then observe, decide and act on the build of that source (`resources::build_stage`). The rest
//! of the pipeline runs the pushed image by digest, or the last one built while a newer source
//! builds; before the first image exists it waits.

use super::Context;
use crate::{
    api::BuildStatus,
    build::git::{Credentials, GitError},
    desired::{
        self, BuildSource, DesiredStack, Owner, Validated,
        build::{GIT_PASSWORD, GIT_USERNAME},
    },
    resources::{
        EngineError, ObserveCache,
        account::AccountState,
        build,
        build_stage::{self, Decision},
    },
};

/// What the rest of the pipeline does after the build step.
pub(super) enum Step {
    /// Run the stack (its image set: the current build's, or the last one while a newer builds).
    Run(Box<DesiredStack>, BuildStatus),
    /// No image to run yet: only the build's status to write.
    Hold(BuildStatus),
}

pub(super) async fn step(
    ctx: &Context,
    validated: &Validated,
    owner: &Owner,
    stack: DesiredStack,
    state: &AccountState,
    known: Option<&BuildStatus>,
    (aws, cache): (&crate::aws::Aws, &ObserveCache),
) -> Result<Step, EngineError> {
    let source = source(ctx, validated).await?;
    let Some(b) = desired::desired_build(validated, owner, source) else {
        return Ok(Step::Run(Box::new(stack), BuildStatus::default()));
    };
    let mut stack = stack.with_build(b.clone());
    let observed = build::observe(aws, &b, known)
        .await
        .map_err(EngineError::aws(crate::resources::Kind::Build, &b.project))?;
    let decision = build_stage::decide(&observed);
    let aws_account_id = state
        .cluster_arn
        .as_deref()
        .and_then(crate::resources::build_bucket::account_id)
        .ok_or_else(|| EngineError::AccountNotReady("the ECS cluster".into()))?;
    let started =
        build_stage::act(aws, &stack, &observed, &decision, aws_account_id, None, cache).await?;
    let status = build_stage::status(&b, &observed, &decision, started.as_ref(), known);
    let image = match &decision {
        Decision::Deploy(image) => Some(image.clone()),
        _ => status.last_image.clone(),
    };
    Ok(match image {
        Some(image) => {
            stack.set_image(&image);
            Step::Run(Box::new(stack), status)
        }
        None => Step::Hold(status),
    })
}

/// A preview of the build step (`byoc.dev/plan-only`), with reads only: the build it would start
/// (none when the image of this source exists) and the stack with the image it would run (a
/// placeholder for one still to be built).
pub(super) async fn plan(
    ctx: &Context,
    validated: &Validated,
    owner: &Owner,
    stack: DesiredStack,
    aws: &crate::aws::Aws,
) -> Result<(DesiredStack, Vec<crate::resources::Change>), EngineError> {
    let source = source(ctx, validated).await?;
    match desired::desired_build(validated, owner, source) {
        Some(b) => build_stage::preview(aws, &b, stack).await,
        None => Ok((stack, Vec::new())),
    }
}

/// The source to build: the Git revision resolved to its commit. A local directory cannot be
/// read from the cluster.
async fn source(ctx: &Context, v: &Validated) -> Result<BuildSource, EngineError> {
    let build =
        v.spec.build.as_ref().ok_or_else(|| EngineError::Invalid("spec.build: missing".into()))?;
    let Some(git) = &build.git else {
        return Err(EngineError::Invalid(
            "spec.build.context: a local directory can only be built by byoc apply, which uploads it; in the cluster, build from spec.build.git".into(),
        ));
    };
    let credentials = match (v.secret_values.get(GIT_USERNAME), v.secret_values.get(GIT_PASSWORD)) {
        (Some(username), Some(password)) => {
            Some(Credentials { username: username.clone(), password: password.clone() })
        }
        _ => None,
    };
    let revision = git.revision.as_deref().unwrap_or("HEAD");
    let resolved =
        ctx.commits.resolve(&git.url, revision, credentials.as_ref()).await.map_err(git_error)?;
    Ok(BuildSource::Git {
        url: git.url.clone(),
        commit: resolved.commit,
        reference: resolved.reference,
    })
}

/// A Git host that did not answer is retried with backoff; anything else needs a change.
fn git_error(e: GitError) -> EngineError {
    if e.is_transient() {
        EngineError::Unreachable(format!("spec.build.git: {e}"))
    } else {
        EngineError::Invalid(format!("spec.build.git: {e}"))
    }
}
