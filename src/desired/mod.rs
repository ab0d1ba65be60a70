//! What should exist: validation of a service in its context, deterministic names and tags, and
//! the desired AWS stack. Pure: no IO anywhere below this module.

pub mod build;
pub mod connect;
pub mod domains;
#[cfg(test)]
mod fixtures;
pub mod limits;
pub mod naming;
pub mod scaling;
mod stack;
mod validate;
mod validate_app;
mod validate_build;

pub use build::{BuildSource, DesiredBuild, desired_build};
pub use connect::{ConnectPort, DesiredServiceConnect};
pub use naming::{Owner, tag};
pub use scaling::{DesiredPolicy, DesiredScaling, Metric};
pub use stack::*;
pub use validate::{Invalid, SecretData, Validated, check_plan_only, selector_matches, validate};
