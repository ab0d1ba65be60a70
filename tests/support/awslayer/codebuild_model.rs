//! What the layer knows of CodeBuild: every build StartBuild created (`build` keeps each in time),
//! with what it was started with after the project's settings and the request's overrides, the
//! build numbers per project, the idempotency tokens, and what of each build's effects (log
//! lines, image push) has happened; the model's view written onto moto's JSON in CodeBuild's
//! `Build` shape (<https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html>).
//! Pure: callers hand in the clock and hold the layer's lock.
//!
//! - Overrides: "You can also start a build run by overriding some of the build settings in the
//!   project. The overrides only apply for that specific start build request." (StartBuild,
//!   <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html>);
//!   `environmentVariablesOverride`: "A set of environment variables that overrides, for this
//!   build only, the latest ones already defined in the build project." (`EnvironmentVariable`,
//!   <https://docs.aws.amazon.com/codebuild/latest/APIReference/API_EnvironmentVariable.html>).
//!   The build echoes them in `environment.environmentVariables`, values as sent (a
//!   SECRETS_MANAGER variable's value is the secret's reference).
//! - `buildNumber`: "The number of the build. For each project, the buildNumber of its first
//!   build is 1. The buildNumber of each subsequent build is incremented by 1." (`Build`).
//! - `logs`: where `build_log` says.
//! - `idempotencyToken`: "The token is included in the StartBuild request and is valid for 5
//!   minutes. If you repeat the StartBuild request with the same token, but change a parameter,
//!   CodeBuild returns a parameter mismatch error." (StartBuild).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{
    Config, Shared,
    build::{Check, Phase, Run},
    build_log::{self, Logs, Script, Why},
};

/// "valid for 5 minutes" (StartBuild `idempotencyToken`).
const TOKEN_VALIDITY: Duration = Duration::from_secs(300);

/// The source location the layer gives moto for a NO_SOURCE project (moto wants one; CodeBuild
/// does not) and never shows.
pub const NO_SOURCE_LOCATION: &str = "layer-placeholder/no-source";

/// One build, as the layer's test hooks report it.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildSummary {
    pub id: String,
    pub number: u64,
    /// `buildStatus` now (IN_PROGRESS while an outcome waits for the layer to look at moto).
    pub status: String,
    /// The `BYOC_GIT_COMMIT` it was started with.
    pub commit: Option<String>,
    /// `<BYOC_IMAGE>:<BYOC_IMAGE_TAG>`, the image it builds.
    pub image: Option<String>,
    /// The digest of the image it pushed, once the image is in ECR.
    pub digest: Option<String>,
}

#[derive(Debug, Default)]
pub struct Model {
    builds: Vec<Build>,
    numbers: HashMap<String, u64>,
    /// Token → the hash of the request it came with, the build, when.
    tokens: HashMap<String, (u64, String, Instant)>,
}

#[derive(Debug, Clone)]
pub(super) struct Variable {
    pub name: String,
    pub value: String,
    pub kind: String,
}

/// One build as the model tracks it.
#[derive(Debug)]
pub(super) struct Build {
    pub id: String,
    pub project: String,
    pub number: u64,
    /// Listed by ListBuildsForProject (until its project is deleted).
    pub listed: bool,
    /// moto's answer to StartBuild, the base the model's fields are written onto.
    snapshot: Value,
    pub run: Run,
    pub why: Option<Why>,
    pub script: Script,
    pub variables: Vec<Variable>,
    source: Value,
    source_version: Option<String>,
    environment: Value,
    service_role: Value,
    timeout_minutes: u64,
    queued_timeout_minutes: u64,
    pub logs: Logs,
    /// How many of its log lines are in CloudWatch Logs.
    pub logged: usize,
    pub stream_created: bool,
    /// Every line of the complete build is written.
    pub logs_done: bool,
    /// The push, once tried: the digest ECR gave the image (`Some(None)`: ECR refused it).
    pub pushed: Option<Option<String>>,
}

impl Build {
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|v| v.name == name && v.kind == "PLAINTEXT")
            .map(|v| v.value.as_str())
    }

    /// `<BYOC_IMAGE>:<BYOC_IMAGE_TAG>` when both are there.
    pub fn image(&self) -> Option<String> {
        Some(format!("{}:{}", self.variable("BYOC_IMAGE")?, self.variable("BYOC_IMAGE_TAG")?))
    }

    pub fn platform(&self) -> String {
        let arm = self.environment["type"].as_str() == Some("ARM_CONTAINER");
        let default = if arm { "linux/arm64" } else { "linux/amd64" };
        self.variable("BYOC_PLATFORM").unwrap_or(default).to_string()
    }

    /// The S3 bucket and key of an S3 source.
    pub fn s3_source(&self) -> Option<(String, String)> {
        if self.source["type"].as_str() != Some("S3") {
            return None;
        }
        let location = self.source["location"].as_str()?;
        let location = location.strip_prefix("arn:aws:s3:::").unwrap_or(location);
        let (bucket, key) = location.split_once('/')?;
        Some((bucket.to_string(), key.to_string()))
    }

    /// `CODEBUILD_SRC_DIR`, stable per build.
    pub fn src_dir(&self) -> String {
        let n = super::ecs_model::hash_json(&json!(self.id)) % 1_000_000_000;
        format!("/codebuild/output/src{n:09}/src")
    }
}

impl Model {
    pub(super) fn builds(&self) -> impl Iterator<Item = &Build> {
        self.builds.iter()
    }

    pub(super) fn get(&self, id: &str) -> Option<&Build> {
        self.builds.iter().find(|b| b.id == id)
    }

    pub(super) fn get_mut(&mut self, id: &str) -> Option<&mut Build> {
        self.builds.iter_mut().find(|b| b.id == id)
    }

    /// The build an earlier StartBuild with this token made: `Ok` for the same request, `Err`
    /// for another. Tokens older than 5 minutes are forgotten.
    pub fn token(&mut self, token: &str, params: u64, now: Instant) -> Option<Result<String, ()>> {
        self.tokens.retain(|_, (_, _, at)| now.saturating_duration_since(*at) < TOKEN_VALIDITY);
        let (hash, id, _) = self.tokens.get(token)?;
        Some(if *hash == params { Ok(id.clone()) } else { Err(()) })
    }

    pub fn remember_token(&mut self, token: String, params: u64, id: String, now: Instant) {
        self.tokens.insert(token, (params, id, now));
    }

    /// Builds StartBuild created.
    pub fn started(&self) -> usize {
        self.builds.len()
    }

    /// A project's builds, oldest first.
    pub fn summaries(&self, project: &str, now: Instant) -> Vec<BuildSummary> {
        self.builds
            .iter()
            .filter(|b| b.project == project)
            .map(|b| BuildSummary {
                id: b.id.clone(),
                number: b.number,
                status: b.run.status(now).as_str().to_string(),
                commit: b.variable("BYOC_GIT_COMMIT").map(str::to_string),
                image: b.image(),
                digest: b.pushed.clone().flatten(),
            })
            .collect()
    }

    /// The ids ListBuildsForProject lists, by build number.
    pub fn ids(&self, project: &str, descending: bool) -> Vec<String> {
        let mut listed: Vec<&Build> =
            self.builds.iter().filter(|b| b.listed && b.project == project).collect();
        listed.sort_by_key(|b| b.number);
        if descending {
            listed.reverse();
        }
        listed.into_iter().map(|b| b.id.clone()).collect()
    }

    /// DeleteProject: its builds stay readable but are no longer listed, and a project created
    /// again under the name starts at build 1.
    pub fn delete_project(&mut self, name: &str) {
        self.numbers.remove(name);
        for build in self.builds.iter_mut().filter(|b| b.project == name) {
            build.listed = false;
        }
    }

    /// A new build from a StartBuild `request`, the `project` it names (as BatchGetProjects
    /// answers it) and moto's answer to the StartBuild.
    /// Returns its id.
    pub fn start(
        &mut self,
        request: &Value,
        project: &Value,
        snapshot: Value,
        now: Instant,
        config: &Config,
    ) -> String {
        let id = snapshot["id"].as_str().unwrap_or_default().to_string();
        let name = request["projectName"].as_str().unwrap_or_default().to_string();
        let number = {
            let n = self.numbers.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        let pick = |over: &str, path: &[&str]| -> Value {
            let from_project = path.iter().fold(project, |v, key| &v[*key]);
            request.get(over).filter(|v| !v.is_null()).unwrap_or(from_project).clone()
        };
        let source_type = pick("sourceTypeOverride", &["source", "type"]);
        let location = pick("sourceLocationOverride", &["source", "location"]);
        let buildspec = pick("buildspecOverride", &["source", "buildspec"]);
        let mut source = json!({ "type": source_type, "insecureSsl": false });
        if location.as_str().is_some_and(|l| l != NO_SOURCE_LOCATION) {
            source["location"] = location;
        }
        if !buildspec.is_null() {
            source["buildspec"] = buildspec.clone();
        }
        let variables = merge_variables(
            &project["environment"]["environmentVariables"],
            &request["environmentVariablesOverride"],
        );
        let echoed: Vec<Value> = variables
            .iter()
            .map(|v| json!({ "name": v.name, "value": v.value, "type": v.kind }))
            .collect();
        let privileged = pick("privilegedModeOverride", &["environment", "privilegedMode"]);
        let pull_credentials =
            pick("imagePullCredentialsTypeOverride", &["environment", "imagePullCredentialsType"]);
        let environment = json!({
            "type": pick("environmentTypeOverride", &["environment", "type"]),
            "image": pick("imageOverride", &["environment", "image"]),
            "computeType": pick("computeTypeOverride", &["environment", "computeType"]),
            "environmentVariables": echoed,
            "privilegedMode": privileged.as_bool().unwrap_or(false),
            "imagePullCredentialsType": pull_credentials.as_str().unwrap_or("CODEBUILD"),
        });
        let minutes = |over: &str, key: &str, default: u64| {
            pick(over, &[key]).as_u64().filter(|m| *m > 0).unwrap_or(default)
        };
        let timeout_minutes = minutes("timeoutInMinutesOverride", "timeoutInMinutes", 60);
        let logs = build_log::logs(&pick("logsConfigOverride", &["logsConfig"]), &name, &id);
        let script = Script::parse(buildspec.as_str());
        let failing = |text: &str| {
            config.failing_builds.iter().any(|f| !f.is_empty() && text.contains(f.as_str()))
        };
        let mut build = Build {
            id: id.clone(),
            project: name,
            number,
            listed: true,
            snapshot,
            run: Run {
                started: now,
                duration: config.build_duration,
                timeout: config.build_minute.mul_f64(timeout_minutes as f64),
                source: Check::Passed,
                build: Check::Pending,
                stopped: None,
            },
            why: None,
            script,
            source,
            source_version: request["sourceVersion"].as_str().map(str::to_string),
            service_role: pick("serviceRoleOverride", &["serviceRole"]),
            timeout_minutes,
            queued_timeout_minutes: minutes(
                "queuedTimeoutInMinutesOverride",
                "queuedTimeoutInMinutes",
                480,
            ),
            logs,
            environment,
            variables,
            logged: 0,
            stream_created: false,
            logs_done: false,
            pushed: None,
        };
        if build.s3_source().is_some() {
            build.run.source = Check::Pending;
        }
        let location = build.source["location"].as_str().unwrap_or_default();
        if failing(location) || build.variables.iter().any(|v| failing(&v.value)) {
            build.why = Some(Why::Step);
        } else if build.image().is_none() {
            build.why = Some(Why::InvalidTag);
        }
        if build.why.is_some() {
            build.run.build = Check::Failed(build.script.failure());
        }
        self.builds.push(build);
        id
    }

    /// The model's view of a build as CodeBuild's JSON, written onto moto's.
    pub(super) fn render(&self, build: &Build, now: Instant, shared: &Shared) -> Value {
        let spans = build.run.spans(now);
        let mut out = build.snapshot.clone();
        let Some(obj) = out.as_object_mut() else { return out };
        let phases: Vec<Value> = spans.iter().map(|s| s.json(&|at| shared.epoch(at))).collect();
        let current = spans.last().map_or(Phase::Submitted, |s| s.phase);
        let complete = build.run.complete(now);
        obj.insert("buildNumber".into(), json!(build.number));
        obj.insert("projectName".into(), json!(build.project));
        obj.insert("startTime".into(), json!(shared.epoch(build.run.started)));
        obj.insert("currentPhase".into(), json!(current.as_str()));
        obj.insert("buildStatus".into(), json!(build.run.status(now).as_str()));
        obj.insert("buildComplete".into(), json!(complete));
        obj.insert("phases".into(), Value::Array(phases));
        obj.remove("endTime");
        if let (true, Some(end)) = (complete, build.run.completes()) {
            obj.insert("endTime".into(), json!(shared.epoch(end)));
        }
        obj.remove("sourceVersion");
        if let Some(version) = &build.source_version {
            obj.insert("sourceVersion".into(), json!(version));
        }
        obj.insert("source".into(), build.source.clone());
        obj.insert("environment".into(), build.environment.clone());
        obj.insert("serviceRole".into(), build.service_role.clone());
        obj.insert("timeoutInMinutes".into(), json!(build.timeout_minutes));
        obj.insert("queuedTimeoutInMinutes".into(), json!(build.queued_timeout_minutes));
        obj.insert("artifacts".into(), json!({ "location": "" }));
        let provisioned = current >= Phase::Provisioning;
        obj.insert(
            "logs".into(),
            build_log::logs_location(&build.logs, provisioned, &build.snapshot),
        );
        out
    }
}

/// The project's variables with the request's overriding them by name; new ones after.
fn merge_variables(project: &Value, overrides: &Value) -> Vec<Variable> {
    let parse = |v: &Value| Variable {
        name: v["name"].as_str().unwrap_or_default().to_string(),
        value: v["value"].as_str().unwrap_or_default().to_string(),
        kind: v["type"].as_str().unwrap_or("PLAINTEXT").to_string(),
    };
    let mut all: Vec<Variable> = project.as_array().into_iter().flatten().map(parse).collect();
    for new in overrides.as_array().into_iter().flatten().map(parse) {
        match all.iter_mut().find(|v| v.name == new.name) {
            Some(old) => *old = new,
            None => all.push(new),
        }
    }
    all
}
