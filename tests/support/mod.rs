//! Shared test support. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod apiserver;
pub mod awslayer;
pub mod corpus;
pub mod crash;
pub mod e2e;
pub mod foreign;
pub mod gitserver;
pub mod helm;
pub mod inventory;
pub mod manifests;
pub mod moto;
