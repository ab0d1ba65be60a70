//! API throttling at AWS's documented default rates: token buckets per account and Region, one
//! per throttling category, each with a burst (bucket capacity) and a sustained rate (refill per
//! second), both multiplied by the layer's scale. A request takes a token from every bucket it
//! belongs to, or from none and is throttled. Pure apart from the clock it is handed.
//!
//! Sources, per service:
//! - ECS, "Request throttling for the Amazon ECS API"
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>): "For
//!   request rate limiting purposes, API actions are grouped into categories. All API actions in a
//!   category share the same token bucket." The table there gives capacity / refill per category,
//!   e.g. task definition modify actions 20 / 1, service modify actions 50 / 5, service read
//!   actions 100 / 20. Error: "If you exceed an API throttling quota, you get the
//!   `ThrottlingException` error code."
//! - ELBv2, "Request throttling for the ELB API"
//!   (<https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html>):
//!   "There is an account-level throttling limit that is shared across all Elastic Load Balancing
//!   API actions. The capacity of the account-level bucket is 40 tokens and the refill rate is 10
//!   request tokens per second", plus the category buckets (resource-intensive 10 / 0.2,
//!   registration 20 / 4, non-mutating 40 / 10, mutating 20 / 3). The page calls the error
//!   `ThrottlingException`; on the wire the Query protocol answers code `Throttling` with message
//!   "Rate exceeded", which is what the SDKs see and what the operator matches.
//! - Secrets Manager, "AWS Secrets Manager quotas"
//!   (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html>): "Combined
//!   rate of DescribeSecret and GetSecretValue API requests: 10,000 per second"; PutSecretValue,
//!   UpdateSecret and friends, RestoreSecret, TagResource/UntagResource, CreateSecret, DeleteSecret:
//!   50 per second each group; ListSecrets and ListSecretVersionIds 50 per second (the Service Quotas
//!   default for that row).
//! - ECR, "Amazon ECR service quotas"
//!   (<https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html>): rates are
//!   published only for the image push/pull actions ("Rate of PutImage requests: 10 per second",
//!   …); repository management actions have no published rate and are not throttled here.
//! - CloudWatch Logs, "CloudWatch Logs quotas"
//!   (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html>):
//!   "CreateLogGroup throttle limit in transactions per second: 10 per second", DescribeLogGroups
//!   10, DeleteLogGroup 10, PutRetentionPolicy 5, TagResource 5, ListTagsForResource 5, ….
//! - CodeBuild, "Quotas for AWS CodeBuild"
//!   (<https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html>): no request rates are
//!   published (only counts: builds running at once, ids a BatchGetBuilds may ask for); CodeBuild
//!   is not throttled here.
//!
//! Where a page gives only a per-second rate (Secrets Manager, ECR, Logs) the burst is one
//! second's worth. A scaled burst never drops below one token, so a tiny scale still lets single
//! requests through at the scaled rate.

use std::{collections::HashMap, time::Instant};

/// A bucket: capacity (burst) and refill per second (sustained rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

const fn rate(burst: f64, per_second: f64) -> Rate {
    Rate { burst, per_second }
}

/// The buckets an operation draws from: `(bucket name, rate)`. Empty: never throttled.
pub fn buckets(service: &str, operation: &str) -> Vec<(String, Rate)> {
    match service {
        "ecs" => named(ecs_bucket(operation)),
        "elbv2" => {
            let mut all = named(Some(("elbv2-account", rate(40.0, 10.0))));
            all.extend(named(elb_bucket(operation)));
            all
        }
        "secretsmanager" => named(secrets_bucket(operation)),
        "ecr" => named(ecr_bucket(operation)),
        "logs" => logs_bucket(operation).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn named(bucket: Option<(&'static str, Rate)>) -> Vec<(String, Rate)> {
    bucket.into_iter().map(|(name, rate)| (name.to_string(), rate)).collect()
}

fn ecs_bucket(operation: &str) -> Option<(&'static str, Rate)> {
    Some(match operation {
        "CreateCluster"
        | "DeleteCluster"
        | "PutClusterCapacityProviders"
        | "UpdateCluster"
        | "UpdateClusterSettings" => ("ecs-cluster-modify", rate(20.0, 1.0)),
        "DescribeClusters" | "ListClusters" => ("ecs-cluster-read", rate(50.0, 20.0)),
        "DeregisterTaskDefinition" | "RegisterTaskDefinition" => {
            ("ecs-task-definition-modify", rate(20.0, 1.0))
        }
        "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
            ("ecs-task-definition-read", rate(50.0, 20.0))
        }
        "DeleteTaskDefinitions" => ("ecs-task-definition-delete", rate(5.0, 1.0)),
        "CreateCapacityProvider" | "DeleteCapacityProvider" | "UpdateCapacityProvider" => {
            ("ecs-capacity-provider-modify", rate(10.0, 1.0))
        }
        "DescribeCapacityProviders" => ("ecs-capacity-provider-read", rate(50.0, 20.0)),
        "TagResource" | "UntagResource" => ("ecs-tag-modify", rate(20.0, 10.0)),
        "ListTagsForResource" => ("ecs-tag-read", rate(50.0, 20.0)),
        "DeleteAccountSetting" | "PutAccountSetting" | "PutAccountSettingDefault" => {
            ("ecs-setting-modify", rate(10.0, 1.0))
        }
        "ListAccountSettings" => ("ecs-setting-read", rate(50.0, 20.0)),
        "DeleteAttributes"
        | "DeregisterContainerInstance"
        | "ExecuteCommand"
        | "PutAttributes"
        | "RunTask"
        | "StartTask"
        | "StopTask"
        | "UpdateContainerAgent"
        | "UpdateContainerInstancesState" => ("ecs-cluster-resource-modify", rate(100.0, 40.0)),
        "DescribeContainerInstances"
        | "DescribeTasks"
        | "ListAttributes"
        | "ListContainerInstances"
        | "ListTasks" => ("ecs-cluster-resource-read", rate(100.0, 20.0)),
        "RegisterContainerInstance"
        | "SubmitAttachmentStateChanges"
        | "SubmitContainerStateChange"
        | "SubmitTaskStateChange" => ("ecs-agent-modify", rate(200.0, 120.0)),
        "CreateService" | "DeleteService" | "UpdateService" => {
            ("ecs-service-modify", rate(50.0, 5.0))
        }
        "DescribeServices" | "ListServices" => ("ecs-service-read", rate(100.0, 20.0)),
        "DescribeServiceDeployments" | "ListServiceDeployments" => {
            ("ecs-service-deployment", rate(50.0, 20.0))
        }
        "DescribeServiceRevisions" => ("ecs-service-revision", rate(50.0, 20.0)),
        "UpdateTaskProtection" | "GetTaskProtection" => ("ecs-task-protection", rate(200.0, 80.0)),
        "ListServicesByNamespace" => ("ecs-cluster-service-resource-read", rate(10.0, 1.0)),
        _ => return None,
    })
}

fn elb_bucket(operation: &str) -> Option<(&'static str, Rate)> {
    Some(match operation {
        "CreateLoadBalancer" | "SetSubnets" => ("elbv2-resource-intensive", rate(10.0, 0.2)),
        "RegisterTargets" | "DeregisterTargets" => ("elbv2-registration", rate(20.0, 4.0)),
        "CreateTrustStore" => ("elbv2-create-trust-store", rate(10.0, 0.2)),
        "AddTrustStoreRevocations"
        | "DeleteSharedTrustStoreAssociation"
        | "DeleteTrustStore"
        | "ModifyTrustStore"
        | "RemoveTrustStoreRevocations" => ("elbv2-trust-store-modify", rate(10.0, 0.2)),
        "GetResourcePolicy"
        | "GetTrustStoreCaCertificatesBundle"
        | "GetTrustStoreRevocationContent" => ("elbv2-trust-store-get", rate(20.0, 4.0)),
        "DescribeTrustStoreAssociations"
        | "DescribeTrustStoreRevocations"
        | "DescribeTrustStores" => ("elbv2-trust-store-describe", rate(40.0, 10.0)),
        op if op.starts_with("Describe") => ("elbv2-non-mutating", rate(40.0, 10.0)),
        _ => ("elbv2-mutating", rate(20.0, 3.0)),
    })
}

/// A bucket holding one second's worth of `per_second`.
fn per_second(name: &'static str, per_second: f64) -> Option<(&'static str, Rate)> {
    Some((name, rate(per_second, per_second)))
}

fn secrets_bucket(operation: &str) -> Option<(&'static str, Rate)> {
    match operation {
        "DescribeSecret" | "GetSecretValue" => per_second("secrets-read", 10_000.0),
        "ListSecrets" | "ListSecretVersionIds" => per_second("secrets-list", 50.0),
        "PutSecretValue"
        | "RemoveRegionsFromReplication"
        | "ReplicateSecretToRegion"
        | "StopReplicationToReplica"
        | "UpdateSecret"
        | "UpdateSecretVersionStage" => per_second("secrets-update", 50.0),
        "RestoreSecret" => per_second("secrets-restore", 50.0),
        "RotateSecret" | "CancelRotateSecret" => per_second("secrets-rotate", 50.0),
        "TagResource" | "UntagResource" => per_second("secrets-tag", 50.0),
        "DeleteResourcePolicy"
        | "GetResourcePolicy"
        | "PutResourcePolicy"
        | "ValidateResourcePolicy" => per_second("secrets-policy", 50.0),
        "CreateSecret" => per_second("secrets-create", 50.0),
        "DeleteSecret" => per_second("secrets-delete", 50.0),
        "GetRandomPassword" => per_second("secrets-random-password", 50.0),
        "BatchGetSecretValue" => per_second("secrets-batch-get", 100.0),
        _ => None,
    }
}

fn ecr_bucket(operation: &str) -> Option<(&'static str, Rate)> {
    match operation {
        "BatchCheckLayerAvailability" => per_second("ecr-batch-check-layer", 1000.0),
        "BatchGetImage" => per_second("ecr-batch-get-image", 2000.0),
        "CompleteLayerUpload" => per_second("ecr-complete-layer-upload", 100.0),
        "GetAuthorizationToken" => per_second("ecr-get-authorization-token", 500.0),
        "GetDownloadUrlForLayer" => per_second("ecr-get-download-url", 3000.0),
        "InitiateLayerUpload" => per_second("ecr-initiate-layer-upload", 100.0),
        "PutImage" => per_second("ecr-put-image", 10.0),
        "UploadLayerPart" => per_second("ecr-upload-layer-part", 500.0),
        _ => None,
    }
}

/// CloudWatch Logs throttles each action on its own ("<Action> throttle limit in transactions per
/// second"); the rates are the page's defaults for eu-west-1.
fn logs_bucket(operation: &str) -> Option<(String, Rate)> {
    let per_second = match operation {
        "PutLogEvents" => 5000.0,
        "CreateLogStream" => 50.0,
        "DescribeLogStreams" => 25.0,
        "DeleteLogStream" => 15.0,
        "CreateLogGroup" | "DeleteLogGroup" | "DescribeLogGroups" | "GetLogEvents"
        | "FilterLogEvents" | "StartQuery" | "GetQueryResults" => 10.0,
        "PutRetentionPolicy"
        | "DeleteRetentionPolicy"
        | "TagResource"
        | "UntagResource"
        | "TagLogGroup"
        | "UntagLogGroup"
        | "ListTagsForResource"
        | "ListTagsLogGroup"
        | "AssociateKmsKey"
        | "PutMetricFilter"
        | "DeleteMetricFilter"
        | "DescribeMetricFilters"
        | "TestMetricFilter"
        | "PutSubscriptionFilter"
        | "DeleteSubscriptionFilter"
        | "DescribeSubscriptionFilters" => 5.0,
        _ => return None,
    };
    Some((format!("logs:{operation}"), rate(per_second, per_second)))
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of one account and Region, created full on first use.
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<String, Bucket>,
}

impl Throttle {
    /// Takes a token from each of the operation's buckets and returns `true`, or takes none and
    /// returns `false` (throttled). `scale` multiplies every rate and burst.
    pub fn admit(&mut self, service: &str, operation: &str, scale: f64, now: Instant) -> bool {
        let wanted = buckets(service, operation);
        for (name, rate) in &wanted {
            let scaled =
                Rate { burst: (rate.burst * scale).max(1.0), per_second: rate.per_second * scale };
            let bucket = self
                .buckets
                .entry(name.clone())
                .or_insert(Bucket { tokens: scaled.burst, updated: now });
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * scaled.per_second).min(scaled.burst);
            bucket.updated = now;
        }
        if wanted.iter().any(|(name, _)| self.buckets[name].tokens < 1.0) {
            return false;
        }
        for (name, _) in &wanted {
            if let Some(bucket) = self.buckets.get_mut(name) {
                bucket.tokens -= 1.0;
            }
        }
        true
    }

    /// Forgets all buckets: the next requests find them full.
    pub fn reset(&mut self) {
        self.buckets.clear();
    }
}
