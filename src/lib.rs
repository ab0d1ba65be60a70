//! byoc-operator deploys container services into your own AWS account.
//!
//! A `CloudService` (next to the `CloudAccount` it names) becomes an ECR repository, a CloudWatch
//! log group, an ECS Fargate task definition and service, and a target group plus listener rule on a
//! shared Application Load Balancer. The same pipeline runs in the controller and in the one-shot
//! CLI (`byoc plan | apply | delete`):
//!
//! ```text
//! dereference → validate → desired → observe → plan → act → status
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod build;
pub mod cli;
pub mod cli_compose;
pub mod compose;
pub mod controller;
pub mod desired;
pub mod failpoint;
pub mod manifests;
pub mod oneshot;
pub mod progress;
pub mod resources;
pub mod status;
pub mod telemetry;
