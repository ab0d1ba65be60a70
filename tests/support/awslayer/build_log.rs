//! What a CodeBuild build prints, and where, as plain functions: the log lines of a build's
//! phases so far (the agent's `[Container] <time> …` lines, the buildspec's commands as written,
//! BuildKit's `#N …` output of the `docker buildx build` command), and the log group and stream
//! they go to. Pure; no IO. Only the image reference (`BYOC_IMAGE` and
//! `BYOC_IMAGE_TAG`, when PLAINTEXT) and the Dockerfile path are ever printed of the build's
//! environment variables: never a value of any other variable, SECRETS_MANAGER ones above all.
//!
//! Sources: the agent's wording as real builds print it ("Entering phase BUILD", "Running command
//! …", "Phase complete: BUILD State: FAILED", "Phase context status code: COMMAND_EXECUTION_ERROR
//! Message: Error while executing command: …. Reason: exit status 1"); the `PhaseContext` those
//! last lines print (<https://docs.aws.amazon.com/codebuild/latest/APIReference/API_PhaseContext.html>);
//! the phases a buildspec names (Build specification reference,
//! <https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html>: `install`,
//! `pre_build`, `build`, `post_build`, each with `commands`); BuildKit's progress output and its
//! "ERROR: failed to solve: …" summary. Where: `LogsLocation`
//! (<https://docs.aws.amazon.com/codebuild/latest/APIReference/API_LogsLocation.html>): group
//! `/aws/codebuild/<project>` unless `logsConfig.cloudWatchLogs.groupName` says otherwise, stream
//! `<streamName>/<build uuid>` (or the uuid alone); "The log stream is created during the
//! PROVISIONING phase of a build and the deeplink will not be valid until it is created.", so
//! until PROVISIONING `logs` has only a `deepLink` to `group=null;stream=null`, as in the AWS
//! CLI's `start-build` example (aws/aws-cli, `awscli/examples/codebuild/start-build.rst`).

use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use super::build::{Context, Phase, Span, Status};

/// The command a buildspec without a BUILD phase is taken to run.
const DEFAULT_DOCKER: &str = "docker buildx build --platform \"$BYOC_PLATFORM\" -f \"$BYOC_DOCKERFILE\" \
-t \"$BYOC_IMAGE:$BYOC_IMAGE_TAG\" --push \"$BYOC_CONTEXT_PATH\"";

/// The commands of a buildspec, per phase, as written.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub commands: Vec<(Phase, Vec<String>)>,
}

impl Script {
    /// Reads the `phases.<phase>.commands` of an inline buildspec (YAML); anything else (a path,
    /// no buildspec) has no commands.
    pub fn parse(buildspec: Option<&str>) -> Script {
        let doc: Value =
            buildspec.and_then(|text| serde_saphyr::from_str(text).ok()).unwrap_or(Value::Null);
        let names = [
            (Phase::Install, "install"),
            (Phase::PreBuild, "pre_build"),
            (Phase::Build, "build"),
            (Phase::PostBuild, "post_build"),
        ];
        let commands = names
            .iter()
            .filter_map(|(phase, name)| {
                let list = doc["phases"][name]["commands"].as_array()?;
                let list: Vec<String> =
                    list.iter().filter_map(|c| c.as_str().map(str::to_string)).collect();
                (!list.is_empty()).then_some((*phase, list))
            })
            .collect();
        Script { commands }
    }

    fn of(&self, phase: Phase) -> &[String] {
        self.commands.iter().find(|(p, _)| *p == phase).map_or(&[], |(_, c)| c.as_slice())
    }

    /// The BUILD command that builds the image (`docker build`, `docker buildx build`, else
    /// `docker push`, else the last BUILD command), and its index.
    pub fn docker(&self) -> (Option<usize>, String) {
        let build = self.of(Phase::Build);
        let runs = |c: &String, verbs: &[[&str; 2]]| {
            let words: Vec<&str> = c.split_whitespace().collect();
            words.windows(2).any(|w| verbs.iter().any(|v| w == v))
        };
        let found = build
            .iter()
            .position(|c| runs(c, &[["docker", "build"], ["buildx", "build"]]))
            .or_else(|| build.iter().position(|c| runs(c, &[["docker", "push"]])));
        match found {
            Some(i) => (Some(i), build[i].clone()),
            None if !build.is_empty() => (Some(build.len() - 1), build[build.len() - 1].clone()),
            None => (None, DEFAULT_DOCKER.to_string()),
        }
    }

    /// The context of a BUILD phase whose docker command failed.
    pub fn failure(&self) -> Context {
        let command = self.docker().1;
        let message = format!("Error while executing command: {command}. Reason: exit status 1");
        Context::new("COMMAND_EXECUTION_ERROR", &message)
    }
}

/// Why the BUILD phase failed, for the lines docker prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// A RUN step of the Dockerfile exited non-zero (one of the failing builds).
    Step,
    /// `BYOC_IMAGE` or `BYOC_IMAGE_TAG` is missing, so the tag is not a reference.
    InvalidTag,
    /// The registry refused the push, saying this.
    Push(String),
}

/// What the log lines of one build need to know.
pub struct Facts<'a> {
    pub script: &'a Script,
    /// `<BYOC_IMAGE>:<BYOC_IMAGE_TAG>`.
    pub image: &'a str,
    pub dockerfile: &'a str,
    pub why: Option<&'a Why>,
    /// `CODEBUILD_SRC_DIR`.
    pub src_dir: &'a str,
}

/// Every line the build has printed by the end of `spans` (as `Run::spans` reports them), with
/// when it was printed; `wall` turns an instant into the wall-clock time printed.
pub fn lines(
    facts: &Facts,
    spans: &[Span],
    wall: &dyn Fn(Instant) -> SystemTime,
) -> Vec<(Instant, String)> {
    let mut out = Vec::new();
    for span in spans {
        let length = span.planned_end.saturating_duration_since(span.start);
        let at = |fraction: f64| span.start + length.mul_f64(fraction);
        let mut phase_lines: Vec<(Instant, Line)> = Vec::new();
        let mut say = |when: Instant, line: Line| phase_lines.push((when, line));
        match span.phase {
            Phase::Provisioning => {
                for text in ["Running on CodeBuild On-demand", "Waiting for agent ping"] {
                    say(at(0.8), Line::Agent(text.into()));
                }
                say(at(0.8), Line::Agent("Waiting for DOWNLOAD_SOURCE".into()));
            }
            Phase::DownloadSource if matches!(span.end, Some((_, Status::Succeeded))) => {
                let src = facts.src_dir;
                let mut found =
                    vec![format!("Phases found in YAML: {}", facts.script.commands.len())];
                for (phase, commands) in &facts.script.commands {
                    found.push(format!(" {}: {} commands", phase.as_str(), commands.len()));
                }
                let texts = [
                    "Phase is DOWNLOAD_SOURCE".to_string(),
                    format!("CODEBUILD_SRC_DIR={src}"),
                    "YAML location is /codebuild/readonly/buildspec.yml".into(),
                    "Processing environment variables".into(),
                    "No runtime version selected in buildspec.".into(),
                    format!("Moving to directory {src}"),
                    "Registering with agent".into(),
                ];
                for text in texts.into_iter().chain(found) {
                    say(at(0.9), Line::Agent(text));
                }
            }
            Phase::Install | Phase::PreBuild | Phase::PostBuild | Phase::UploadArtifacts => {
                say(span.start, Line::Agent(format!("Entering phase {}", span.phase.as_str())));
                let commands = facts.script.of(span.phase);
                for (i, command) in commands.iter().enumerate() {
                    let fraction = 0.1 + 0.8 * i as f64 / commands.len() as f64;
                    say(at(fraction), Line::Agent(format!("Running command {command}")));
                }
            }
            Phase::Build => build_phase(facts, span, &mut say),
            _ => {}
        }
        if let Some((end, status @ (Status::Succeeded | Status::Failed))) = span.end
            && span.phase >= Phase::DownloadSource
            && span.phase <= Phase::UploadArtifacts
        {
            let name = span.phase.as_str();
            let context = span.context.clone().unwrap_or_default();
            say(end, Line::Agent(format!("Phase complete: {name} State: {}", status.as_str())));
            say(
                end,
                Line::Agent(format!(
                    "Phase context status code: {} Message: {}",
                    context.status_code, context.message
                )),
            );
        }
        // A phase cut short (stopped, timed out) prints nothing after the cut; the current phase
        // nothing of its end, which may still change.
        let printed = |when: &Instant| match span.end {
            Some((end, _)) => *when <= end,
            None => *when < span.planned_end,
        };
        out.extend(
            phase_lines
                .into_iter()
                .filter(|(when, _)| printed(when))
                .map(|(when, line)| (when, line.render(wall(when)))),
        );
    }
    // Stable: lines printed at the same instant keep their order.
    out.sort_by_key(|(when, _)| *when);
    out
}

enum Line {
    /// Printed by the CodeBuild agent: `[Container] <time> <text>`.
    Agent(String),
    /// Printed by a command as it is.
    Output(String),
}

impl Line {
    fn render(self, at: SystemTime) -> String {
        match self {
            Line::Agent(text) => format!("[Container] {} {text}", stamp(at)),
            Line::Output(text) => text,
        }
    }
}

/// `2026/12/02 15:04:05.123456`, in UTC.
fn stamp(at: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let civil = ts.to_zoned(jiff::tz::TimeZone::UTC).strftime("%Y/%m/%d %H:%M:%S").to_string();
    format!("{civil}.{:06}", ts.subsec_microsecond())
}

/// The BUILD phase: its commands, with docker's output after the docker command.
fn build_phase(facts: &Facts, span: &Span, say: &mut dyn FnMut(Instant, Line)) {
    let length = span.planned_end.saturating_duration_since(span.start);
    let at = |fraction: f64| span.start + length.mul_f64(fraction);
    let out = |text: &str| Line::Output(text.to_string());
    say(span.start, Line::Agent("Entering phase BUILD".into()));
    let commands = facts.script.of(Phase::Build);
    let (index, docker) = facts.script.docker();
    let before = index.unwrap_or(commands.len());
    for (i, command) in commands.iter().take(before).enumerate() {
        say(
            at(0.02 + 0.1 * i as f64 / before as f64),
            Line::Agent(format!("Running command {command}")),
        );
    }
    say(at(0.15), Line::Agent(format!("Running command {docker}")));
    let image = facts.image;
    let failed = |say: &mut dyn FnMut(Instant, Line), when: Instant, step: &str, error: &str| {
        say(when, out(&format!("{step} ERROR: {error}")));
        for text in ["------".to_string(), format!(" > {}:", step_name(step)), "------".into()] {
            say(when, out(&text));
        }
        say(when, out(&format!("ERROR: failed to solve: {error}")));
        let text = format!("Command did not exit successfully {docker} exit status 1");
        say(span.planned_end, Line::Agent(text));
    };
    if facts.why == Some(&Why::InvalidTag) {
        say(at(0.2), out(&format!("ERROR: invalid tag \"{image}\": invalid reference format")));
        say(
            span.planned_end,
            Line::Agent(format!("Command did not exit successfully {docker} exit status 1")),
        );
        return;
    }
    let dockerfile = facts.dockerfile;
    let steps = [
        (0.20, "#0 building with \"byoc\" instance using docker-container driver".to_string()),
        (0.22, format!("#1 [internal] load build definition from {dockerfile}")),
        (0.22, "#1 transferring dockerfile: 1.02kB done".into()),
        (0.23, "#1 DONE 0.1s".into()),
        (0.25, "#2 [internal] load .dockerignore".into()),
        (0.25, "#2 transferring context: 2B done".into()),
        (0.26, "#2 DONE 0.0s".into()),
        (0.30, "#3 [internal] load build context".into()),
        (0.32, "#3 transferring context: 1.53MB 0.2s done".into()),
        (0.33, "#3 DONE 0.3s".into()),
        (0.35, "#4 [1/3] WORKDIR /src".into()),
        (0.36, "#4 DONE 0.1s".into()),
        (0.40, "#5 [2/3] COPY . .".into()),
        (0.42, "#5 DONE 0.2s".into()),
        (0.45, "#6 [3/3] RUN make".into()),
    ];
    for (fraction, text) in steps {
        say(at(fraction), out(&text));
    }
    if facts.why == Some(&Why::Step) {
        let error = "process \"/bin/sh -c make\" did not complete successfully: exit code: 2";
        failed(say, at(0.8), "#6", error);
        return;
    }
    say(at(0.85), out("#6 DONE 4.1s"));
    for text in ["#7 exporting to image", "#7 exporting layers 0.5s done", "#7 pushing layers"] {
        say(at(0.9), out(text));
    }
    let end = span.planned_end;
    if let Some(Why::Push(refusal)) = facts.why {
        failed(say, end, "#7", &format!("failed to push {image}: {refusal}"));
        return;
    }
    say(end, out("#7 pushing layers 1.3s done"));
    say(end, out(&format!("#7 pushing manifest for {image}")));
    say(end, out(&format!("#7 pushing manifest for {image} 0.4s done")));
    say(end, out("#7 DONE 2.4s"));
    for command in commands.iter().skip(before + 1) {
        say(end, Line::Agent(format!("Running command {command}")));
    }
}

/// BuildKit's name of a step, for its error summary.
fn step_name(step: &str) -> &'static str {
    if step == "#6" { "[3/3] RUN make" } else { "exporting to image" }
}

/// Where a build logs.
#[derive(Debug, Clone)]
pub struct Logs {
    pub enabled: bool,
    pub group: String,
    pub stream: String,
    pub config: Value,
}

/// Where a build logs, from its `logsConfig`.
pub fn logs(config: &Value, project: &str, id: &str) -> Logs {
    let uuid = id.rsplit(':').next().unwrap_or(id);
    let watch = &config["cloudWatchLogs"];
    let group =
        watch["groupName"].as_str().map_or(format!("/aws/codebuild/{project}"), str::to_string);
    let stream =
        watch["streamName"].as_str().map_or(uuid.to_string(), |prefix| format!("{prefix}/{uuid}"));
    let mut echo = json!({ "status": watch["status"].as_str().unwrap_or("ENABLED") });
    for key in ["groupName", "streamName"] {
        if let Some(value) = watch.get(key) {
            echo[key] = value.clone();
        }
    }
    let s3 = config.get("s3Logs").cloned().unwrap_or_else(|| json!({ "status": "DISABLED" }));
    let enabled = echo["status"] == "ENABLED";
    Logs { enabled, group, stream, config: json!({ "cloudWatchLogs": echo, "s3Logs": s3 }) }
}

/// `LogsLocation`: the group and stream once PROVISIONING has created them.
pub fn logs_location(logs: &Logs, provisioned: bool, snapshot: &Value) -> Value {
    let mut out = logs.config.clone();
    if !logs.enabled {
        return out;
    }
    let arn = snapshot["arn"].as_str().unwrap_or_default();
    let mut parts = arn.split(':').skip(3);
    let (region, account) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let console =
        format!("https://console.aws.amazon.com/cloudwatch/home?region={region}#logEvent:");
    if !provisioned {
        out["deepLink"] = json!(format!("{console}group=null;stream=null"));
        return out;
    }
    let (group, stream) = (&logs.group, &logs.stream);
    out["groupName"] = json!(group);
    out["streamName"] = json!(stream);
    out["deepLink"] = json!(format!("{console}group={group};stream={stream}"));
    out["cloudWatchLogsArn"] =
        json!(format!("arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}"));
    out
}
