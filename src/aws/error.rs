//! AWS errors reduced to what decides the next step: a category, plus the operation, code and
//! message a person needs. Pure; `from_sdk` is the one place that reads SDK error shapes.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What an AWS error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// The resource does not exist.
    NotFound,
    /// A resource with that name exists already.
    AlreadyExists,
    /// AWS asked us to slow down.
    Throttled,
    /// Our identity may not do this.
    AccessDenied,
    /// The request is invalid; retrying it unchanged will fail again.
    Invalid,
    /// An account quota is exhausted.
    QuotaExceeded,
    /// Timeouts, connection failures, 5xx: retry later.
    Transient,
}

/// One failed AWS call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub category: Category,
}

impl AwsError {
    /// Whether the error says the resource is missing.
    pub fn is_not_found(&self) -> bool {
        self.category == Category::NotFound
    }

    /// An error of our own making (e.g. an impossible response), categorised as transient.
    pub fn unexpected(operation: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: "UnexpectedResponse".into(),
            message: message.into(),
            category: Category::Transient,
        }
    }

    /// Maps an SDK error to our categories.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown").to_string();
                let message = e.message().unwrap_or_default().to_string();
                let category = categorize(&code, &message);
                AwsError { operation, code, message, category }
            }
            SdkError::TimeoutError(_) => AwsError {
                operation,
                code: "Timeout".into(),
                message: "the call timed out".into(),
                category: Category::Transient,
            },
            SdkError::DispatchFailure(failure) => AwsError {
                operation,
                code: "DispatchFailure".into(),
                message: format!("could not reach AWS: {failure:?}"),
                category: Category::Transient,
            },
            other => AwsError {
                operation,
                code: "SdkError".into(),
                message: format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(other)
                ),
                category: Category::Transient,
            },
        }
    }
}

/// The category of an AWS error code (and, for codes AWS reuses, its message).
pub fn categorize(code: &str, message: &str) -> Category {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "SlowDown" => Category::Throttled,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch" => Category::AccessDenied,
        "ResourceAlreadyExistsException"
        | "RepositoryAlreadyExistsException"
        | "DuplicateTargetGroupName"
        | "DuplicateLoadBalancerName"
        | "ResourceExistsException"
        | "DuplicateListener" => Category::AlreadyExists,
        "TooManyTargetGroups"
        | "TooManyRules"
        | "TooManyLoadBalancers"
        | "TooManyListeners"
        | "TooManyTags"
        | "LimitExceededException"
        | "TooManyActions"
        | "TooManyConditionValues"
        | "TooManyUniqueTargetGroupsPerLoadBalancer" => Category::QuotaExceeded,
        // Conflicts that clear by themselves ("retried with backoff, never a change for the user"):
        // another writer took a rule priority (ELB `PriorityInUse`), a target group still in use
        // right after its rule was deleted (`ResourceInUse`), a service not yet active again
        // (`ServiceNotActiveException`), a secret name still held by a deletion.
        "PriorityInUse" | "ResourceInUse" | "ServiceNotActiveException" => Category::Transient,
        "InvalidRequestException" if message.contains("scheduled for deletion") => {
            Category::Transient
        }
        "InvalidParameterException" if message.to_lowercase().contains("draining") => {
            Category::Transient
        }
        "ServerException"
        | "InternalFailure"
        | "InternalError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalServiceError"
        | "Unknown" => Category::Transient,
        _ if code.ends_with("NotFound") || code.ends_with("NotFoundException") => {
            Category::NotFound
        }
        // ECS reports some missing resources as ClientException / InvalidParameterException.
        "ClientException" | "InvalidParameterException"
            if message.contains("not found") || message.contains("does not exist") =>
        {
            Category::NotFound
        }
        _ => Category::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_the_category_that_decides_the_retry() {
        let cases = [
            ("ThrottlingException", "", Category::Throttled, "ECS throttling"),
            ("Throttling", "", Category::Throttled, "ELB throttling"),
            ("AccessDeniedException", "", Category::AccessDenied, "IAM denies"),
            ("TargetGroupNotFound", "", Category::NotFound, "ELB not found"),
            ("RepositoryNotFoundException", "", Category::NotFound, "ECR not found"),
            ("ClusterNotFoundException", "", Category::NotFound, "ECS cluster missing"),
            (
                "ClientException",
                "Unable to describe task definition: not found",
                Category::NotFound,
                "ECS reuses ClientException",
            ),
            ("ClientException", "cpu is invalid", Category::Invalid, "plain client error"),
            ("TooManyTargetGroups", "", Category::QuotaExceeded, "ALB full"),
            ("DuplicateTargetGroupName", "", Category::AlreadyExists, "name taken"),
            ("ServiceUnavailable", "", Category::Transient, "AWS hiccup"),
            ("ValidationError", "", Category::Invalid, "bad request"),
            ("PriorityInUse", "", Category::Transient, "another writer took the priority"),
            ("ResourceInUse", "", Category::Transient, "target group still attached"),
            ("ServiceNotActiveException", "", Category::Transient, "service not active yet"),
            (
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
                Category::Transient,
                "secret name still held by a deletion",
            ),
            ("InvalidRequestException", "bad value", Category::Invalid, "other secret errors"),
            (
                "InvalidParameterException",
                "Unable to Start a service that is still Draining.",
                Category::Transient,
                "previous service still draining",
            ),
        ];
        for (code, message, category, reason) in cases {
            assert_eq!(categorize(code, message), category, "{reason}");
        }
    }
}
