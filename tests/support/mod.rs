//! Shared test support. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod helm;
pub mod manifests;
