//! CodeBuild through the layer: builds that take time, fail, time out and stop (`codebuild_model`,
//! `build`), write their log lines into CloudWatch Logs and push their image into ECR
//! (`build_effects`, `build_log`, `build_image`), all through moto. moto's CodeBuild answers
//! StartBuild ignoring every override, turns a build SUCCEEDED on the first BatchGetBuilds and
//! pushes nothing, so the layer answers StartBuild (after moto has checked the project and made
//! the id), BatchGetBuilds, StopBuild and ListBuildsForProject from its model; projects stay
//! moto's. Every CodeBuild request first brings the builds' effects up to now
//! (`build_effects::settle`). Does IO: requests to moto.
//!
//! Behaviours and their sources (CodeBuild API Reference,
//! <https://docs.aws.amazon.com/codebuild/latest/APIReference/>):
//! - CreateProject (`API_CreateProject.html`, `ProjectSource`: "NO_SOURCE: The project does not
//!   have input source code"): a NO_SOURCE project needs no `location` (moto wants one: the layer
//!   gives it a placeholder it never shows). BatchGetProjects (`API_BatchGetProjects.html`)
//!   answers `projectsNotFound` for names it does not know, and `tags` as created.
//! - UpdateProject (`API_UpdateProject.html`, "Changes the settings of a build project."), which
//!   moto lacks: the fields the request names replace the project's ("tags: An updated list of
//!   tag key and value pairs associated with this build project."); the layer creates the project
//!   again in moto under its name, keeping its builds and their numbering. A missing project is
//!   ResourceNotFoundException.
//! - StartBuild (`API_StartBuild.html`): a missing project is moto's ResourceNotFoundException
//!   "Project cannot be found: arn:…"; `timeoutInMinutesOverride` is "The number of build timeout
//!   minutes, from 5 to 2160 (36 hours)", outside that InvalidInputException. The
//!   `idempotencyToken` "parameter mismatch error" is answered as InvalidInputException, the only
//!   input error StartBuild declares (AccountLimitExceeded, InvalidInput, ResourceNotFound).
//! - BatchGetBuilds (`API_BatchGetBuilds.html`): "Concurrent request for information about
//!   builds: 100 … Maximum number of builds you can request information about at any one time"
//!   (Quotas for AWS CodeBuild, <https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html>),
//!   more ids are InvalidInputException; unknown ids come back in `buildsNotFound`.
//! - ListBuildsForProject (`API_ListBuildsForProject.html`): "The results are sorted by build
//!   number, not the build identifier. If this is not specified, the results are sorted in
//!   descending order."; "If the project has more than 100 builds, setting the sort order will
//!   result in an error." (InvalidInputException here); 100 ids a page with a `nextToken`.
//! - StopBuild (`API_StopBuild.html`, "Attempts to stop running a build."): a running build is
//!   STOPPED at once (see `build`); a completed one comes back unchanged ("If AWS CodeBuild cannot
//!   successfully stop a build (for example, if the build process is already complete), the Stop
//!   button is disabled", Stop builds,
//!   <https://docs.aws.amazon.com/codebuild/latest/userguide/stop-build.html>); an unknown id is
//!   ResourceNotFoundException "Build … does not exist", an id without `:` InvalidInputException
//!   "Invalid build ID provided" (moto's wording).

use std::time::Instant;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    Shared,
    build_effects::settle,
    codebuild_model::NO_SOURCE_LOCATION,
    ecs_model::hash_json,
    wire::{self, Reply, Req},
};

const TARGET: &str = "CodeBuild_20161006";

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    settle(shared, req).await;
    match req.operation.as_str() {
        "CreateProject" => create_project(shared, req).await,
        "BatchGetProjects" => batch_get_projects(shared, req).await,
        "DeleteProject" => {
            let reply = shared.forward(req).await;
            if let (true, Some(name)) = (reply.is_success(), req.json()["name"].as_str()) {
                shared.lock().codebuild.delete_project(name);
            }
            reply
        }
        // One at a time: a token's repeats see its first build, and no StartBuild falls between
        // an update's delete and create.
        "UpdateProject" => {
            let _one = shared.settling.lock().await;
            update_project(shared, req).await
        }
        "StartBuild" => {
            let _one = shared.settling.lock().await;
            start_build(shared, req).await
        }
        "BatchGetBuilds" => batch_get_builds(shared, req),
        "ListBuildsForProject" => list_builds_for_project(shared, req).await,
        "StopBuild" => stop_build(shared, req),
        _ => shared.forward(req).await,
    }
}

fn invalid(message: &str) -> Reply {
    wire::json_error(400, "InvalidInputException", message)
}

/// A project as CodeBuild shows it: no placeholder location, `tags` a list.
fn show_project(project: &mut Value) {
    if project["source"]["location"] == NO_SOURCE_LOCATION
        && let Some(source) = project["source"].as_object_mut()
    {
        source.remove("location");
    }
    if project["tags"].is_null() && project.is_object() {
        project["tags"] = json!([]);
    }
}

async fn create_project(shared: &Shared, req: &Req) -> Reply {
    let mut body = req.json();
    let source = &mut body["source"];
    if source["type"] == "NO_SOURCE" && source["location"].as_str().is_none_or(str::is_empty) {
        source["location"] = json!(NO_SOURCE_LOCATION);
    }
    let forwarded = Req { body: Bytes::from(body.to_string()), ..req.clone() };
    let reply = shared.forward(&forwarded).await;
    if !reply.is_success() {
        return reply;
    }
    let mut answer = reply.json();
    show_project(&mut answer["project"]);
    reply.with_json(&answer)
}

async fn batch_get_projects(shared: &Shared, req: &Req) -> Reply {
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let mut answer = reply.json();
    let mut found = Vec::new();
    for project in answer["projects"].as_array_mut().into_iter().flatten() {
        show_project(project);
        found.extend([project["name"].clone(), project["arn"].clone()]);
    }
    let missing: Vec<Value> = req.json()["names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|name| !found.contains(name))
        .cloned()
        .collect();
    answer["projectsNotFound"] = Value::Array(missing);
    reply.with_json(&answer)
}

async fn update_project(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let found = ask(shared, req, "BatchGetProjects", json!({ "names": [body["name"]] })).await;
    let Some(old) = found.json()["projects"].get(0).cloned() else {
        let name = body["name"].as_str().unwrap_or_default();
        return wire::json_error(
            400,
            "ResourceNotFoundException",
            &format!("Project {name} not found"),
        );
    };
    let mut project = old.clone();
    for (key, value) in body.as_object().into_iter().flatten().filter(|(k, _)| *k != "name") {
        project[key] = value.clone();
    }
    let source = &mut project["source"];
    if source["type"] == "NO_SOURCE" && source["location"].as_str().is_none_or(str::is_empty) {
        source["location"] = json!(NO_SOURCE_LOCATION);
    }
    ask(shared, req, "DeleteProject", json!({ "name": old["name"] })).await;
    let created = ask(shared, req, "CreateProject", project).await;
    if !created.is_success() {
        // moto refused the new settings: the project stays as it was.
        ask(shared, req, "CreateProject", old).await;
        return created;
    }
    let mut answer = created.json();
    answer["project"]["created"] = old["created"].clone();
    show_project(&mut answer["project"]);
    created.with_json(&answer)
}

/// A CodeBuild request of the layer's own to moto (not counted).
async fn ask(shared: &Shared, like: &Req, operation: &str, body: Value) -> Reply {
    shared.ask_json(like, &format!("{TARGET}.{operation}"), body).await
}

/// StartBuild's range checks, as CodeBuild words a failed constraint.
fn validate(body: &Value) -> Result<(), String> {
    for (field, min, max) in [("timeoutInMinutesOverride", 5, 2160)] {
        let Some(value) = body[field].as_i64() else { continue };
        let bound = if value < min {
            format!("greater than or equal to {min}")
        } else if value > max {
            format!("less than or equal to {max}")
        } else {
            continue;
        };
        return Err(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have value {bound}"
        ));
    }
    Ok(())
}

async fn start_build(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    if let Err(message) = validate(&body) {
        return invalid(&message);
    }
    let mut params = body.clone();
    let token = params
        .as_object_mut()
        .and_then(|o| o.remove("idempotencyToken"))
        .and_then(|t| t.as_str().map(str::to_string));
    let params = hash_json(&params);
    if let Some(token) = &token {
        let now = Instant::now();
        let mut state = shared.lock();
        match state.codebuild.token(token, params, now) {
            Some(Ok(id)) => {
                let model = &state.codebuild;
                let build = model.get(&id).map(|b| model.render(b, now, shared));
                return wire::json_reply(&json!({ "build": build }));
            }
            Some(Err(())) => {
                return invalid(&format!(
                    "Idempotent parameter mismatch: idempotency token {token} was used with different parameters"
                ));
            }
            None => {}
        }
    }
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let snapshot = reply.json()["build"].clone();
    let names = json!({ "names": [body["projectName"]] });
    let projects = ask(shared, req, "BatchGetProjects", names).await;
    let project = projects.json()["projects"][0].clone();
    let now = Instant::now();
    let mut state = shared.lock();
    let config = state.config.clone();
    let id = state.codebuild.start(&body, &project, snapshot, now, &config);
    if let Some(token) = token {
        state.codebuild.remember_token(token, params, id.clone(), now);
    }
    let model = &state.codebuild;
    let build = model.get(&id).map(|b| model.render(b, now, shared));
    reply.with_json(&json!({ "build": build }))
}

fn batch_get_builds(shared: &Shared, req: &Req) -> Reply {
    let ids: Vec<String> = req.json()["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_string))
        .collect();
    if ids.is_empty() || ids.len() > 100 {
        let bound =
            if ids.is_empty() { "greater than or equal to 1" } else { "less than or equal to 100" };
        return invalid(&format!(
            "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length {bound}"
        ));
    }
    let now = Instant::now();
    let state = shared.lock();
    let model = &state.codebuild;
    let (mut builds, mut missing) = (Vec::new(), Vec::new());
    for id in ids {
        match model.get(&id) {
            Some(build) => builds.push(model.render(build, now, shared)),
            None => missing.push(id),
        }
    }
    wire::json_reply(&json!({ "builds": builds, "buildsNotFound": missing }))
}

async fn list_builds_for_project(shared: &Shared, req: &Req) -> Reply {
    // moto knows whether the project exists.
    let reply = shared.forward(req).await;
    if !reply.is_success() {
        return reply;
    }
    let body = req.json();
    let name = body["projectName"].as_str().unwrap_or_default();
    let descending = body["sortOrder"].as_str() != Some("ASCENDING");
    let ids = shared.lock().codebuild.ids(name, descending);
    if body["sortOrder"].is_string() && ids.len() > 100 {
        return invalid(
            "Setting the sort order is not supported for a project with more than 100 builds",
        );
    }
    let start = body["nextToken"]
        .as_str()
        .and_then(|t| t.strip_prefix("layer-page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0usize);
    let page: Vec<&String> = ids.iter().skip(start).take(100).collect();
    let mut answer = json!({ "ids": page });
    if start + 100 < ids.len() {
        answer["nextToken"] = json!(format!("layer-page-{}", start + 100));
    }
    reply.with_json(&answer)
}

fn stop_build(shared: &Shared, req: &Req) -> Reply {
    let id = req.json()["id"].as_str().unwrap_or_default().to_string();
    let now = Instant::now();
    let mut state = shared.lock();
    let Some(build) = state.codebuild.get_mut(&id) else {
        if !id.contains(':') {
            return invalid("Invalid build ID provided");
        }
        return wire::json_error(
            400,
            "ResourceNotFoundException",
            &format!("Build {id} does not exist"),
        );
    };
    build.run.stop(now);
    let model = &state.codebuild;
    let build = model.get(&id).map(|b| model.render(b, now, shared));
    wire::json_reply(&json!({ "build": build }))
}
