//! Secrets Manager through the layer: what real AWS refuses around deleted secrets and moto
//! allows. moto already shows `DeletedDate` on a secret scheduled for deletion, refuses
//! UpdateSecret and GetSecretValue on it, and restores it with RestoreSecret; the layer adds the
//! rest. Requests go to moto unchanged unless the layer refuses them.
//!
//! - A force-deleted name stays taken for a while. DeleteSecret
//!   (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html>):
//!   "Secrets Manager performs the actual deletion with an asynchronous background process, so
//!   there might be a short delay before the secret is permanently deleted. If you delete a secret
//!   and then immediately create a secret with the same name, use appropriate back off and retry
//!   logic." The refusal is InvalidRequestException "You can't create this secret because a secret
//!   with this name is already scheduled for deletion." (moto lets the name be reused at once.)
//! - A secret scheduled for deletion (a recovery window) keeps its name: CreateSecret answers the
//!   same InvalidRequestException (moto answers ResourceExistsException), and PutSecretValue
//!   answers InvalidRequestException "You can't perform this operation on the secret because it
//!   was marked for deletion." (moto accepts the value). DeleteSecret: "At any time before
//!   recovery window ends, you can use RestoreSecret to remove the DeletionDate and cancel the
//!   deletion of the secret."; InvalidRequestException: "A parameter value is not valid for the
//!   current state of the resource. Possible causes: The secret is scheduled for deletion. …"
//!   (PutSecretValue errors,
//!   <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html>).

use std::{collections::HashMap, time::Instant};

use super::{
    Shared,
    wire::{self, Reply, Req},
};

#[derive(Debug, Default)]
pub struct Model {
    /// Names force-deleted, and when.
    force_deleted: HashMap<String, Instant>,
    /// Secrets scheduled for deletion: name → ARN.
    scheduled: HashMap<String, String>,
}

impl Model {
    /// Whether `secret_id` (a name, an ARN or a partial ARN) is scheduled for deletion.
    fn is_scheduled(&self, secret_id: &str) -> bool {
        self.scheduled.iter().any(|(name, arn)| secret_id == name || arn.starts_with(secret_id))
    }
}

fn name_scheduled() -> Reply {
    wire::json_error(
        400,
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
    )
}

fn marked_for_deletion() -> Reply {
    wire::json_error(
        400,
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

pub async fn handle(shared: &Shared, req: &Req) -> Reply {
    let body = req.json();
    let str_of = |key: &str| body[key].as_str().unwrap_or_default().to_string();
    match req.operation.as_str() {
        "CreateSecret" => {
            let name = str_of("Name");
            {
                let mut state = shared.lock();
                let window = state.config.secret_name_reuse;
                let secrets = &mut state.secrets;
                secrets.force_deleted.retain(|_, at| at.elapsed() < window);
                if secrets.scheduled.contains_key(&name)
                    || secrets.force_deleted.contains_key(&name)
                {
                    return name_scheduled();
                }
            }
            shared.forward(req).await
        }
        "PutSecretValue" | "UpdateSecret" => {
            if shared.lock().secrets.is_scheduled(&str_of("SecretId")) {
                return marked_for_deletion();
            }
            shared.forward(req).await
        }
        "DeleteSecret" => {
            let reply = shared.forward(req).await;
            let answer = reply.json();
            if let (true, Some(name)) = (reply.is_success(), answer["Name"].as_str()) {
                let arn = answer["ARN"].as_str().unwrap_or_default().to_string();
                let secrets = &mut shared.lock().secrets;
                if body["ForceDeleteWithoutRecovery"].as_bool() == Some(true) {
                    secrets.scheduled.remove(name);
                    secrets.force_deleted.insert(name.to_string(), Instant::now());
                } else {
                    secrets.scheduled.insert(name.to_string(), arn);
                }
            }
            reply
        }
        "RestoreSecret" => {
            let reply = shared.forward(req).await;
            if let (true, Some(name)) = (reply.is_success(), reply.json()["Name"].as_str()) {
                shared.lock().secrets.scheduled.remove(name);
            }
            reply
        }
        _ => shared.forward(req).await,
    }
}
