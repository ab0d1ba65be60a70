//! Pins the stand-in API server's semantics to kube-apiserver's, through kube's client, raw
//! HTTP, kube-runtime's watcher and reflector, and kubectl.

mod support;

#[path = "apiserver/apply.rs"]
mod apply;
#[path = "apiserver/builtins.rs"]
mod builtins;
#[path = "apiserver/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "apiserver/crud.rs"]
mod crud;
#[path = "apiserver/deletion.rs"]
mod deletion;
#[path = "apiserver/discovery.rs"]
mod discovery;
#[path = "apiserver/faults.rs"]
mod faults;
#[path = "apiserver/kubectl.rs"]
mod kubectl;
#[path = "apiserver/listing.rs"]
mod listing;
#[path = "apiserver/patching.rs"]
mod patching;
#[path = "apiserver/rbac.rs"]
mod rbac;
#[path = "apiserver/real_crds.rs"]
mod real_crds;
#[path = "apiserver/runtime.rs"]
mod runtime;
#[path = "apiserver/validation.rs"]
mod validation;
#[path = "apiserver/watching.rs"]
mod watching;
