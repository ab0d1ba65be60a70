//! What should exist: validation of a service in its context, deterministic names and tags, and
//! the desired AWS stack. Pure: no IO anywhere below this module.

pub mod build;
#[cfg(test)]
mod fixtures;
pub mod limits;
pub mod naming;
mod stack;
mod validate;
mod validate_build;

pub use build::{BuildSource, DesiredBuild, desired_build};
pub use naming::{Owner, tag};
pub use stack::*;
pub use validate::{Invalid, SecretData, Validated, selector_matches, validate};
