//! Conversions between our tag map and each AWS SDK's tag type. Pure.

use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

pub fn elb(tags: &Tags) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_elasticloadbalancingv2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn from_elb(tags: &[aws_sdk_elasticloadbalancingv2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

pub fn ecs(tags: &Tags) -> Vec<aws_sdk_ecs::types::Tag> {
    tags.iter().map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build()).collect()
}

pub fn from_ecs(tags: &[aws_sdk_ecs::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// ECR tags need both key and value; the builder only fails when one is missing.
pub fn ecr(tags: &Tags) -> Vec<aws_sdk_ecr::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| aws_sdk_ecr::types::Tag::builder().key(k).value(v).build().ok())
        .collect()
}

pub fn from_ecr(tags: &[aws_sdk_ecr::types::Tag]) -> Tags {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

pub fn secrets(tags: &Tags) -> Vec<aws_sdk_secretsmanager::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn from_secrets(tags: &[aws_sdk_secretsmanager::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// Tags in `desired` that `actual` lacks or has with another value.
pub fn missing(desired: &Tags, actual: &Tags) -> Tags {
    desired
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn codebuild(tags: &Tags) -> Vec<aws_sdk_codebuild::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_codebuild::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn from_codebuild(tags: &[aws_sdk_codebuild::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

pub fn s3(tags: &Tags) -> Vec<aws_sdk_s3::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build().ok())
        .collect()
}

pub fn from_s3(tags: &[aws_sdk_s3::types::Tag]) -> Tags {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}
