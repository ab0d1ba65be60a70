//! The only code that touches `aws-sdk-*`: clients built per CloudAccount, with timeouts, the SDK's
//! standard retries, client-side rate limits per AWS throttling bucket, call counting, error
//! mapping, and a test hook to fail or "crash" before or after any call. Test builds also put a
//! failpoint (`crate::failpoint`) before and after every mutating call, where a test makes the
//! whole process die.
//!
//! Resource modules call AWS only through `Aws::call`, so every call is timed out, limited, counted
//! and mapped the same way.

mod error;
mod limiter;
mod metrics;

use std::{future::Future, sync::Arc, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use error::{AwsError, Category, categorize};
pub use limiter::{BUCKETS as RATE_LIMIT_BUCKETS, RateLimiter};
pub use metrics::{CallCounter, CallKey, is_write};

use crate::api::AwsAccess;

/// When a fault hook runs relative to the AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

/// Test hook: return `Some(error)` to make the call fail at that phase. An `After` failure is
/// returned although AWS did the work — exactly what a crash right after the call looks like.
pub type FaultHook =
    Arc<dyn Fn(&'static str, &'static str, Phase) -> Option<AwsError> + Send + Sync>;

/// AWS clients for one account.
#[derive(Clone)]
pub struct Aws {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The Resource Groups Tagging API: the tags of many resources in one call.
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// Builds from source.
    pub codebuild: aws_sdk_codebuild::Client,
    /// The build bucket (uploaded local build contexts).
    pub s3: aws_sdk_s3::Client,
    /// Autoscaling of services' desired counts.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// The Service Connect namespace (AWS Cloud Map).
    pub cloudmap: aws_sdk_servicediscovery::Client,
    /// Managed certificates of custom domains.
    pub acm: aws_sdk_acm::Client,
    /// DNS records of custom domains.
    pub route53: aws_sdk_route53::Client,
    calls: CallCounter,
    limiter: RateLimiter,
    faults: Option<FaultHook>,
}

/// Per-attempt and per-operation timeouts for every call.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// Loads the SDK configuration for an account: region, optional endpoint override, the default
/// credential chain, and when `roleArn` is set, credentials from assuming that role (with the
/// external id) through STS.
pub async fn load_config(access: &AwsAccess) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(access.region.clone()))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(timeouts());
    if let Some(url) = &access.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    let Some(role_arn) = &access.role_arn else {
        return base;
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("byoc-operator")
        .configure(&base);
    if let Some(external_id) = &access.external_id {
        role = role.external_id(external_id);
    }
    let provider = role.build().await;
    base.into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            provider,
        ))
        .build()
}

/// S3 with path-style addressing when the endpoint is overridden (emulators serve buckets by
/// path, not by virtual host).
fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config);
    let builder =
        if config.endpoint_url().is_some() { builder.force_path_style(true) } else { builder };
    aws_sdk_s3::Client::from_conf(builder.build())
}

impl Aws {
    /// Clients from an SDK configuration, counting into `calls`.
    pub fn new(config: &SdkConfig, calls: CallCounter, limiter: RateLimiter) -> Self {
        Aws {
            ecs: aws_sdk_ecs::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            tagging: aws_sdk_resourcegroupstagging::Client::new(config),
            codebuild: aws_sdk_codebuild::Client::new(config),
            s3: s3_client(config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(config),
            cloudmap: aws_sdk_servicediscovery::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
            calls,
            limiter,
            faults: None,
        }
    }

    /// The same clients with a fault hook (tests).
    pub fn with_faults(mut self, hook: FaultHook) -> Self {
        self.faults = Some(hook);
        self
    }

    /// The call counter.
    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// The client-side rate limiter of this account's calls.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Runs one AWS call: waits for the rate limiter (counting the wait), applies the fault hook,
    /// counts the outcome and maps the error.
    pub async fn call<T, E, R, F>(
        &self,
        service: &'static str,
        operation: &'static str,
        request: F,
    ) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if let Some(took) = self.limiter.acquire(service, operation).await {
            self.calls.record_wait(limiter::bucket_for(service, operation).0, took);
        }
        #[cfg(feature = "failpoints")]
        if is_write(operation) {
            crate::failpoint::aws(operation, Phase::Before);
        }
        if let Some(err) = self.fault(service, operation, Phase::Before) {
            self.calls.record(service, operation, "fault");
            return Err(err);
        }
        let span = tracing::debug_span!("aws", service, operation);
        let result = tracing::Instrument::instrument(request, span).await;
        let result = result.map_err(|e| AwsError::from_sdk(operation, e));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => outcome_label(e.category),
        };
        self.calls.record(service, operation, outcome);
        if let Err(e) = &result {
            tracing::debug!(service, operation, code = %e.code, "aws call failed");
        }
        #[cfg(feature = "failpoints")]
        if is_write(operation) {
            crate::failpoint::aws(operation, Phase::After);
        }
        match self.fault(service, operation, Phase::After) {
            Some(err) if result.is_ok() => Err(err),
            _ => result,
        }
    }

    fn fault(
        &self,
        service: &'static str,
        operation: &'static str,
        phase: Phase,
    ) -> Option<AwsError> {
        self.faults.as_ref().and_then(|hook| hook(service, operation, phase))
    }
}

fn outcome_label(category: Category) -> &'static str {
    match category {
        Category::NotFound => "not_found",
        Category::AlreadyExists => "already_exists",
        Category::Throttled => "throttled",
        Category::AccessDenied => "access_denied",
        Category::Invalid => "invalid",
        Category::QuotaExceeded => "quota_exceeded",
        Category::Transient => "transient",
    }
}
