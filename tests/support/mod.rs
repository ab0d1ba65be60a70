//! Shared test support: an in-process Kubernetes API server stand-in. Each test binary uses a
//! different part of it, hence `dead_code` is allowed.

#[allow(dead_code)]
pub mod apiserver;
