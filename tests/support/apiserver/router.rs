//! Routes one decoded request to discovery, OpenAPI or a resource verb (get, list, watch,
//! create, update, patch, delete, deletecollection) and turns failures into `Status` replies.

use std::sync::Arc;

use ::http::Method;

use super::Shared;
use super::delete;
use super::discovery;
use super::http::{self, Reply, Request};
use super::openapi;
use super::patch;
use super::read;
use super::status::ApiError;
use super::watch;
use super::write::{self, Ownership, key_for};

pub fn dispatch(shared: &Arc<Shared>, req: &Request) -> Reply {
    match route(shared, req) {
        Ok(reply) => reply,
        Err(error) => error.into(),
    }
}

fn not_found() -> ApiError {
    ApiError::new(404, "NotFound", "the server could not find the requested resource")
}

fn route(shared: &Arc<Shared>, req: &Request) -> Result<Reply, ApiError> {
    let path = req.path.trim_end_matches('/');
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if req.method == Method::GET {
        let state = shared.lock();
        let registry = &state.registry;
        let found = match segments.as_slice() {
            ["version"] => Some(discovery::version()),
            ["api"] => Some(discovery::core_versions(&shared.address)),
            ["api", "v1"] => discovery::resource_list(registry, "", "v1"),
            ["apis"] => Some(discovery::group_list(registry)),
            ["apis", group] => Some(discovery::group(registry, group).ok_or_else(not_found)?),
            ["apis", group, version] => {
                Some(discovery::resource_list(registry, group, version).ok_or_else(not_found)?)
            }
            ["openapi", "v3"] => Some(openapi::index(registry)),
            ["openapi", "v3", "api", version] => Some(openapi::document(registry, "", version)),
            ["openapi", "v3", "apis", group, version] => {
                Some(openapi::document(registry, group, version))
            }
            ["openapi", ..] => return Err(not_found()),
            ["healthz"] | ["readyz"] | ["livez"] => {
                return Ok(Reply::text(200, "ok"));
            }
            _ => None,
        };
        if let Some(document) = found {
            return Ok(Reply::ok(document));
        }
    }
    resource(shared, req)
}

fn resource(shared: &Arc<Shared>, req: &Request) -> Result<Reply, ApiError> {
    let mut state = shared.lock();
    let target = http::resolve(&state.registry, &req.path)?;
    let resource = &target.resource;
    if resource.namespaced && target.name.is_some() && target.namespace.is_none() {
        return Err(not_found());
    }
    let method_not_allowed = || {
        ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            req.method, req.path
        ))
    };
    match (&req.method, &target.name) {
        (&Method::GET, None) if req.flag("watch") => {
            drop(state);
            watch::start(shared.clone(), target, req)
        }
        (&Method::GET, None) => read::list(&state, &target, req),
        (&Method::GET, Some(_)) => read::get(&state, &target, req),
        (&Method::POST, None) => {
            if resource.namespaced && target.namespace.is_none() {
                return Err(method_not_allowed());
            }
            let body = req.body_value()?;
            let manager = req.manager();
            write::create(&mut state, &target, req, body, Ownership::Update(&manager))
        }
        (&Method::PUT, Some(name)) => {
            let body = req.body_value()?;
            let body_name =
                body.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or_default();
            if body_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            let old = state
                .get(&key_for(&target, name))
                .cloned()
                .ok_or_else(|| ApiError::not_found(&resource.subject(name)))?;
            let manager = req.manager();
            write::update(&mut state, &target, req, old, body, Ownership::Update(&manager), true)
        }
        (&Method::PATCH, Some(_)) => patch::patch(&mut state, &target, req),
        (&Method::DELETE, Some(_)) if target.subresource.is_none() => {
            delete::delete(&mut state, &target, req)
        }
        (&Method::DELETE, None) => {
            let selectors = read::selectors(&target, req)?;
            delete::delete_collection(&mut state, &target, req, &selectors)
        }
        _ => Err(method_not_allowed()),
    }
}
