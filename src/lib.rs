//! byoc-operator: deploys container services into your own AWS account.
