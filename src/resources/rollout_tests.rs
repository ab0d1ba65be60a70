//! Rollout states from realistic `DescribeServices` shapes.

use aws_sdk_ecs::types::Deployment;
use aws_smithy_types::DateTime;

use super::*;

const NEW: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/default-web-1a2b3c:2";
const OLD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/default-web-1a2b3c:1";

fn deployment(
    id: &str,
    status: &str,
    td: &str,
    state: Option<DeploymentRolloutState>,
    (running, desired, pending, failed): (i32, i32, i32, i32),
) -> Deployment {
    Deployment::builder()
        .id(id)
        .status(status)
        .task_definition(td)
        .set_rollout_state(state)
        .running_count(running)
        .desired_count(desired)
        .pending_count(pending)
        .failed_tasks(failed)
        .created_at(DateTime::from_secs(1_000))
        .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
        .build()
}

fn service(current: &str, deployments: Vec<Deployment>) -> Service {
    let running = deployments.iter().map(|d| d.running_count()).sum();
    let pending = deployments.iter().map(|d| d.pending_count()).sum();
    Service::builder()
        .task_definition(current)
        .desired_count(2)
        .running_count(running)
        .pending_count(pending)
        .set_deployments(Some(deployments))
        .build()
}

fn tracked(id: &str, state: RolloutState) -> Rollout {
    Rollout {
        state,
        task_definition: Some(revision(NEW).into()),
        deployment_id: Some(id.into()),
        ..Default::default()
    }
}

fn known(previous: Option<&Rollout>) -> Known<'_> {
    Known { previous, deployment: None }
}

use DeploymentRolloutState::{Completed as Done, Failed, InProgress as Running};

#[test]
fn rollout_states_from_realistic_describe_services_shapes() {
    let cases = [
        (
            "new deployment starting next to the old one",
            service(
                NEW,
                vec![
                    deployment("ecs-svc/2", "PRIMARY", NEW, Some(Running), (0, 2, 2, 0)),
                    deployment("ecs-svc/1", "ACTIVE", OLD, Some(Done), (2, 2, 0, 0)),
                ],
            ),
            None,
            RolloutState::InProgress,
            false,
        ),
        (
            "completed with every task running",
            service(NEW, vec![deployment("ecs-svc/2", "PRIMARY", NEW, Some(Done), (2, 2, 0, 0))]),
            None,
            RolloutState::Completed,
            false,
        ),
        (
            "completed state but a task still pending",
            service(NEW, vec![deployment("ecs-svc/2", "PRIMARY", NEW, Some(Done), (1, 2, 1, 0))]),
            None,
            RolloutState::InProgress,
            false,
        ),
        (
            "circuit breaker rolled back to the old revision, failed deployment still listed",
            service(
                OLD,
                vec![
                    deployment("ecs-svc/3", "PRIMARY", OLD, Some(Running), (2, 2, 0, 0)),
                    deployment("ecs-svc/2", "ACTIVE", NEW, Some(Failed), (0, 2, 0, 3)),
                ],
            ),
            None,
            RolloutState::Failed,
            true,
        ),
        (
            "rollback completed and ECS dropped the failed deployment we tracked",
            service(OLD, vec![deployment("ecs-svc/3", "PRIMARY", OLD, Some(Done), (2, 2, 0, 0))]),
            Some(tracked("ecs-svc/2", RolloutState::InProgress)),
            RolloutState::Failed,
            true,
        ),
        (
            "a completed deployment replaced out of band is drift, not a failure",
            service(OLD, vec![deployment("ecs-svc/3", "PRIMARY", OLD, Some(Done), (2, 2, 0, 0))]),
            Some(tracked("ecs-svc/2", RolloutState::Completed)),
            RolloutState::InProgress,
            false,
        ),
        (
            "circuit breaker stopped without rollback",
            service(NEW, vec![deployment("ecs-svc/2", "PRIMARY", NEW, Some(Failed), (0, 2, 0, 3))]),
            None,
            RolloutState::Failed,
            false,
        ),
        (
            "update not yet picked up by ECS",
            service(OLD, vec![deployment("ecs-svc/1", "PRIMARY", OLD, Some(Done), (2, 2, 0, 0))]),
            None,
            RolloutState::InProgress,
            false,
        ),
        (
            "no circuit breaker: steady single deployment",
            service(NEW, vec![deployment("ecs-svc/2", "PRIMARY", NEW, None, (2, 2, 0, 0))]),
            None,
            RolloutState::Completed,
            false,
        ),
    ];
    for (reason, svc, previous, state, rolled_back) in cases {
        let r = rollout(&svc, NEW, known(previous.as_ref()), None);
        assert_eq!(r.state, state, "{reason}");
        assert_eq!(r.rolled_back, rolled_back, "{reason}");
    }
}

#[test]
fn the_tracked_deployment_wins_over_an_older_one_with_the_same_task_definition() {
    // A network-only update starts a deployment with the same task definition; an older
    // FAILED one with that revision must not be picked.
    let svc = service(
        NEW,
        vec![
            deployment("ecs-svc/5", "PRIMARY", NEW, Some(Running), (1, 2, 1, 0)),
            deployment("ecs-svc/2", "ACTIVE", NEW, Some(Failed), (0, 2, 0, 3)),
        ],
    );
    let previous = tracked("ecs-svc/5", RolloutState::InProgress);
    let r = rollout(&svc, NEW, known(Some(&previous)), None);
    assert_eq!(r.state, RolloutState::InProgress);
    assert_eq!(r.deployment_id.as_deref(), Some("ecs-svc/5"));
}

#[test]
fn a_crash_looping_rollout_without_circuit_breaker_fails_at_the_progress_deadline() {
    let svc = service(
        NEW,
        vec![
            deployment("ecs-svc/2", "PRIMARY", NEW, None, (0, 2, 2, 7)),
            deployment("ecs-svc/1", "ACTIVE", OLD, None, (2, 2, 0, 0)),
        ],
    );
    let before =
        rollout(&svc, NEW, Known::default(), Some(Deadline { seconds: 600, now: 1_500.0 }));
    assert_eq!(before.state, RolloutState::InProgress);
    assert_eq!(before.failed_tasks, 7, "failed tasks are reported while it runs");
    let after = rollout(&svc, NEW, Known::default(), Some(Deadline { seconds: 600, now: 1_700.0 }));
    assert_eq!(after.state, RolloutState::Failed);
    let message = after.message.unwrap();
    assert!(message.contains("600s") && message.contains("7 failed"), "{message}");
}

#[test]
fn a_failed_revision_is_recognised_from_its_tag_from_ecs_or_from_the_tracked_id() {
    let rolled_back =
        service(OLD, vec![deployment("ecs-svc/3", "PRIMARY", OLD, Some(Done), (2, 2, 0, 0))]);
    let recorded =
        failed_revision(NEW, Some("failed before"), Some(&rolled_back), Known::default());
    assert_eq!(recorded, Some(FailedRevision { message: "failed before".into(), recorded: true }));
    let unknown = failed_revision(NEW, None, Some(&rolled_back), Known::default());
    assert_eq!(unknown, None, "never deployed as far as we know: deploy it");
    let previous = tracked("ecs-svc/2", RolloutState::InProgress);
    let by_id = failed_revision(NEW, None, Some(&rolled_back), known(Some(&previous))).unwrap();
    assert!(!by_id.recorded);
    assert!(by_id.message.contains("ecs-svc/2") && by_id.message.contains("rolled back"));
    let rollout = failed_rollout(Some(&rolled_back), NEW, &by_id, Known::default());
    assert_eq!((rollout.state, rollout.rolled_back), (RolloutState::Failed, true));
}

#[test]
fn tag_values_keep_only_characters_aws_accepts() {
    assert_eq!(tag_value("a, b (c)!"), "a  b  c  ");
    assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
}
