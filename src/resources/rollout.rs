//! The truth about an ECS rollout, from a `DescribeServices` shape. Pure, so every state ECS can
//! report is unit-tested without an emulator whose deployments never progress.

use aws_sdk_ecs::types::{DeploymentRolloutState, Service};

use crate::api::{Rollout, RolloutState};

/// The rollout of `task_definition` (the ARN we want running) on `service`.
pub fn rollout(service: &Service, task_definition: &str) -> Rollout {
    let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
    let ours = service.deployments().iter().find(|d| d.task_definition() == Some(task_definition));
    let revision = task_definition.rsplit('/').next().map(str::to_string);
    let Some(primary) = primary else {
        return Rollout {
            state: RolloutState::InProgress,
            desired: service.desired_count(),
            task_definition: revision,
            message: Some("no deployment yet".into()),
            ..Default::default()
        };
    };
    let primary_is_ours = primary.task_definition() == Some(task_definition);
    // Our deployment failed: the circuit breaker stopped it, and with rollback ECS made the
    // previous task definition PRIMARY again.
    if let Some(d) = ours.filter(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed)) {
        return Rollout {
            state: RolloutState::Failed,
            running: d.running_count(),
            desired: d.desired_count(),
            pending: d.pending_count(),
            task_definition: revision,
            message: d.rollout_state_reason().map(str::to_string),
            rolled_back: !primary_is_ours,
        };
    }
    if !primary_is_ours {
        return Rollout {
            state: RolloutState::InProgress,
            desired: service.desired_count(),
            task_definition: revision,
            message: Some("waiting for ECS to start the deployment".into()),
            ..Default::default()
        };
    }
    let done = match primary.rollout_state() {
        Some(DeploymentRolloutState::Completed) => true,
        Some(DeploymentRolloutState::Failed) => false,
        // Services without the circuit breaker report no rollout state: judge by the counts and
        // by the old deployments having drained.
        _ => service.deployments().len() == 1,
    };
    let counts_ok =
        primary.running_count() == primary.desired_count() && primary.pending_count() == 0;
    Rollout {
        state: if done && counts_ok { RolloutState::Completed } else { RolloutState::InProgress },
        running: primary.running_count(),
        desired: primary.desired_count(),
        pending: primary.pending_count(),
        task_definition: revision,
        message: primary.rollout_state_reason().map(str::to_string),
        rolled_back: false,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Deployment;

    use super::*;

    const NEW: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/default-web-1a2b3c:2";
    const OLD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/default-web-1a2b3c:1";

    fn deployment(
        status: &str,
        td: &str,
        state: Option<DeploymentRolloutState>,
        running: i32,
        desired: i32,
        pending: i32,
    ) -> Deployment {
        Deployment::builder()
            .status(status)
            .task_definition(td)
            .set_rollout_state(state)
            .running_count(running)
            .desired_count(desired)
            .pending_count(pending)
            .rollout_state_reason("ECS deployment reason")
            .build()
    }

    fn service(deployments: Vec<Deployment>) -> Service {
        Service::builder().desired_count(2).set_deployments(Some(deployments)).build()
    }

    #[test]
    fn rollout_states_from_realistic_describe_services_shapes() {
        let cases = [
            (
                "new deployment starting next to the old one",
                vec![
                    deployment("PRIMARY", NEW, Some(DeploymentRolloutState::InProgress), 0, 2, 2),
                    deployment("ACTIVE", OLD, Some(DeploymentRolloutState::Completed), 2, 2, 0),
                ],
                RolloutState::InProgress,
                false,
            ),
            (
                "completed with every task running",
                vec![deployment("PRIMARY", NEW, Some(DeploymentRolloutState::Completed), 2, 2, 0)],
                RolloutState::Completed,
                false,
            ),
            (
                "completed state but a task still pending",
                vec![deployment("PRIMARY", NEW, Some(DeploymentRolloutState::Completed), 1, 2, 1)],
                RolloutState::InProgress,
                false,
            ),
            (
                "circuit breaker rolled back to the old revision",
                vec![
                    deployment("PRIMARY", OLD, Some(DeploymentRolloutState::InProgress), 2, 2, 0),
                    deployment("ACTIVE", NEW, Some(DeploymentRolloutState::Failed), 0, 2, 0),
                ],
                RolloutState::Failed,
                true,
            ),
            (
                "circuit breaker stopped without rollback",
                vec![deployment("PRIMARY", NEW, Some(DeploymentRolloutState::Failed), 0, 2, 0)],
                RolloutState::Failed,
                false,
            ),
            (
                "update not yet picked up by ECS",
                vec![deployment("PRIMARY", OLD, Some(DeploymentRolloutState::Completed), 2, 2, 0)],
                RolloutState::InProgress,
                false,
            ),
            (
                "no circuit breaker: steady single deployment",
                vec![deployment("PRIMARY", NEW, None, 2, 2, 0)],
                RolloutState::Completed,
                false,
            ),
        ];
        for (reason, deployments, state, rolled_back) in cases {
            let r = rollout(&service(deployments), NEW);
            assert_eq!(r.state, state, "{reason}");
            assert_eq!(r.rolled_back, rolled_back, "{reason}");
        }
    }
}
