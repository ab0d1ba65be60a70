//! Pins the stand-in API server's semantics to kube-apiserver's, through kube's client, raw
//! HTTP, kube-runtime's watcher and reflector, and kubectl.

mod support;

#[path = "apiserver/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "apiserver/crud.rs"]
mod crud;
