//! The account's build bucket: where `byoc apply` uploads local build contexts for CodeBuild. An
//! account-level resource like the load balancers: created when the first upload needs it, found
//! again by its deterministic name and our tags, encrypted, closed to the public, with a lifecycle
//! rule that expires old uploads, and deleted with the account's resources.
//!
//! - Bucket names are global, 3-63 characters:
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>
//! - `CreateBucket` outside us-east-1 needs a `LocationConstraint`; `BucketAlreadyOwnedByYou` when
//!   it exists in this account: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html>
//! - Lifecycle expiration by prefix:
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLifecycleConfiguration.html>

use aws_sdk_s3::{
    primitives::ByteStream,
    types::{
        AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
        CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter, ObjectIdentifier, PublicAccessBlockConfiguration,
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule, Tagging,
    },
};

use super::{Presence, tags};
use crate::{
    aws::{Aws, AwsError},
    desired::naming::{fnv1a, tag},
};

/// Where uploaded contexts live in the bucket; the lifecycle rule expires this prefix.
pub const CONTEXTS: &str = "contexts/";

/// The bucket of one CloudAccount (of one installation) in one AWS account and Region.
pub fn name(aws_account_id: &str, region: &str, account: &str, cluster_id: &str) -> String {
    let hash = format!("{:016x}", fnv1a(format!("{cluster_id}/{account}").as_bytes()));
    format!("byoc-builds-{aws_account_id}-{region}-{}", &hash[..8])
}

/// The key of a service's uploaded context: by service, then by content digest.
pub fn key(service: &str, digest: &str) -> String {
    format!("{CONTEXTS}{service}/{}.tar.gz", digest.trim_start_matches("sha256:"))
}

/// The AWS account id in an ARN (`arn:aws:ecs:region:ACCOUNT:…`).
pub fn account_id(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|id| id.len() == 12)
}

/// The AWS account id, from the ECS cluster's ARN (DescribeClusters names it even for a cluster
/// that does not exist).
pub async fn aws_account_id(aws: &Aws, cluster: &str) -> Result<Option<String>, AwsError> {
    let out = aws
        .call("ecs", "DescribeClusters", aws.ecs.describe_clusters().clusters(cluster).send())
        .await?;
    let arns = out
        .clusters()
        .iter()
        .filter_map(|c| c.cluster_arn())
        .chain(out.failures().iter().filter_map(|f| f.arn()));
    Ok(arns.filter_map(account_id).next().map(str::to_string))
}

/// Whether the bucket exists, and whose it is. A bucket of that name without our tags is ours
/// only when it is empty: what a crash between creating and tagging it leaves.
pub async fn observe(aws: &Aws, bucket: &str, ours: &tags::Tags) -> Result<Presence<()>, AwsError> {
    let tagging =
        aws.call("s3", "GetBucketTagging", aws.s3.get_bucket_tagging().bucket(bucket).send()).await;
    match tagging {
        Ok(out) => {
            let found = tags::from_s3(out.tag_set());
            let owned = [tag::MANAGED_BY, tag::CLUSTER_ID, tag::ACCOUNT]
                .iter()
                .all(|k| found.contains_key(*k) && found.get(*k) == ours.get(*k));
            Ok(if owned { Presence::Ours(()) } else { Presence::Foreign(bucket.into()) })
        }
        Err(e) if e.code == "NoSuchBucket" => Ok(Presence::Missing),
        Err(e) if e.code == "NoSuchTagSet" => {
            let empty = objects(aws, bucket, "").await?.is_empty();
            Ok(if empty { Presence::Missing } else { Presence::Foreign(bucket.into()) })
        }
        Err(e) => Err(e),
    }
}

/// Creates the bucket (or finishes a creation a crash interrupted): tags, encryption, no public
/// access, and the lifecycle rule expiring uploads after `retention_days`.
pub async fn create(
    aws: &Aws,
    bucket: &str,
    region: &str,
    resource_tags: &tags::Tags,
    retention_days: i32,
) -> Result<(), AwsError> {
    let mut request = aws.s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    match aws.call("s3", "CreateBucket", request.send()).await {
        Ok(_) => {}
        Err(e) if e.code == "BucketAlreadyOwnedByYou" => {}
        Err(e) => return Err(e),
    }
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags::s3(resource_tags)))
        .build()
        .map_err(|e| AwsError::unexpected("PutBucketTagging", e.to_string()))?;
    aws.call(
        "s3",
        "PutBucketTagging",
        aws.s3.put_bucket_tagging().bucket(bucket).tagging(tagging).send(),
    )
    .await?;
    aws.call(
        "s3",
        "PutPublicAccessBlock",
        aws.s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send(),
    )
    .await?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .map_err(|e| AwsError::unexpected("PutBucketEncryption", e.to_string()))?,
                )
                .build(),
        )
        .build()
        .map_err(|e| AwsError::unexpected("PutBucketEncryption", e.to_string()))?;
    aws.call(
        "s3",
        "PutBucketEncryption",
        aws.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(encryption)
            .send(),
    )
    .await?;
    let rule = LifecycleRule::builder()
        .id("expire-build-contexts")
        .filter(LifecycleRuleFilter::builder().prefix(CONTEXTS).build())
        .status(ExpirationStatus::Enabled)
        .expiration(LifecycleExpiration::builder().days(retention_days).build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
        )
        .build()
        .map_err(|e| AwsError::unexpected("PutBucketLifecycleConfiguration", e.to_string()))?;
    let lifecycle = BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| AwsError::unexpected("PutBucketLifecycleConfiguration", e.to_string()))?;
    aws.call(
        "s3",
        "PutBucketLifecycleConfiguration",
        aws.s3
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(lifecycle)
            .send(),
    )
    .await
    .map(|_| ())
}

/// Uploads an archive unless an object with its key (its content digest) is there already.
/// Returns whether it uploaded.
pub async fn upload(aws: &Aws, bucket: &str, key: &str, archive: &[u8]) -> Result<bool, AwsError> {
    match aws.call("s3", "HeadObject", aws.s3.head_object().bucket(bucket).key(key).send()).await {
        Ok(_) => return Ok(false),
        Err(e) if e.is_not_found() || matches!(e.code.as_str(), "NotFound" | "NoSuchKey") => {}
        Err(e) => return Err(e),
    }
    aws.call(
        "s3",
        "PutObject",
        aws.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/gzip")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(archive.to_vec()))
            .send(),
    )
    .await
    .map(|_| true)
}

/// The keys under `prefix` (a missing bucket has none).
pub async fn objects(aws: &Aws, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let listed = aws
            .call(
                "s3",
                "ListObjectsV2",
                aws.s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.clone())
                    .send(),
            )
            .await;
        let out = match listed {
            Ok(out) => out,
            Err(e) if e.code == "NoSuchBucket" => return Ok(keys),
            Err(e) => return Err(e),
        };
        keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// Deletes these objects, 1,000 per call.
pub async fn delete_objects(aws: &Aws, bucket: &str, keys: &[String]) -> Result<(), AwsError> {
    for chunk in keys.chunks(1000) {
        let ids: Vec<ObjectIdentifier> =
            chunk.iter().filter_map(|k| ObjectIdentifier::builder().key(k).build().ok()).collect();
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| AwsError::unexpected("DeleteObjects", e.to_string()))?;
        aws.call(
            "s3",
            "DeleteObjects",
            aws.s3.delete_objects().bucket(bucket).delete(delete).send(),
        )
        .await?;
    }
    Ok(())
}

/// Empties and deletes the bucket.
pub async fn delete(aws: &Aws, bucket: &str) -> Result<(), AwsError> {
    let keys = objects(aws, bucket, "").await?;
    delete_objects(aws, bucket, &keys).await?;
    match aws.call("s3", "DeleteBucket", aws.s3.delete_bucket().bucket(bucket).send()).await {
        Err(e) if e.code == "NoSuchBucket" => Ok(()),
        other => other.map(|_| ()),
    }
}
