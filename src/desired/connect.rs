//! The desired ECS Service Connect settings of a service, in an account with
//! `spec.serviceConnect`: every service is a client of the namespace (it can call the private
//! names of the others); a service with `spec.private` also serves its ports there, each at
//! `<name>:<containerPort>`. Pure.

use serde::Serialize;

use super::{Owner, naming::fnv1a};
use crate::api::CloudServiceSpec;

/// Service Connect for one ECS service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredServiceConnect {
    /// The Cloud Map namespace's name (its ARN comes from the account's state).
    pub namespace: String,
    /// The ports served privately; empty: a client only.
    pub ports: Vec<ConnectPort>,
}

/// One port served through Service Connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectPort {
    /// The task definition's port mapping name (the spec's port name).
    pub port_name: String,
    /// The Cloud Map service ECS creates for it: unique in the namespace, at most 64 of
    /// `[a-z0-9_-]` (ServiceConnectService `discoveryName`, ECS API Reference).
    pub discovery_name: String,
    /// The name clients call (`clientAliases[0].dnsName`).
    pub dns_name: String,
    /// The port clients call: the container port, so addresses read like the container's own.
    pub port: i32,
}

impl DesiredServiceConnect {
    /// A digest of the settings, recorded on the ECS service (`byoc.dev/service-connect`): what
    /// was last applied is known without reading it back from the deployments.
    pub fn digest(&self) -> String {
        // Serializing plain owned data cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a(json.as_bytes()))
    }

    /// `name:port` of each port served, for the status.
    pub fn addresses(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("{}:{}", p.dns_name, p.port)).collect()
    }
}

/// The value of `byoc.dev/service-connect` on a service without Service Connect.
pub const OFF: &str = "off";

/// The private name of a service: `spec.private.name`, else `<name>.<namespace>`.
pub fn private_name(spec: &CloudServiceSpec, owner: &Owner) -> Option<String> {
    let private = spec.private.as_ref()?;
    Some(private.name.clone().unwrap_or_else(|| format!("{}.{}", owner.name, owner.namespace)))
}

/// The Service Connect settings of `spec` in a namespace named `namespace`.
pub fn desired_service_connect(
    spec: &CloudServiceSpec,
    owner: &Owner,
    namespace: &str,
) -> DesiredServiceConnect {
    let ports = match (&spec.private, private_name(spec, owner)) {
        (Some(private), Some(dns)) => spec
            .ports
            .iter()
            .filter(|p| private.ports.is_empty() || private.ports.contains(&p.name))
            .map(|p| ConnectPort {
                port_name: p.name.clone(),
                // `<namespace>-<name>-<hash>` and the port name, within 64 characters.
                discovery_name: format!("{}-{}", owner.bounded(63 - p.name.len()), p.name),
                dns_name: dns.clone(),
                port: p.container_port,
            })
            .collect(),
        _ => Vec::new(),
    };
    DesiredServiceConnect { namespace: namespace.to_string(), ports }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Private;

    fn owner() -> Owner {
        Owner {
            namespace: "shop".into(),
            name: "api".into(),
            uid: "7f3c1a52-0000-4000-8000-000000000001".into(),
            cluster_id: "prod".into(),
        }
    }

    fn spec(private: Option<Private>) -> CloudServiceSpec {
        let mut spec: CloudServiceSpec = serde_json::from_value(serde_json::json!({
            "accountRef": {"name": "demo"},
            "image": "nginx:1.27",
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9000}],
        }))
        .unwrap();
        spec.private = private;
        spec
    }

    #[test]
    fn a_service_without_private_is_a_client_only() {
        let d = desired_service_connect(&spec(None), &owner(), "internal");
        assert!(d.ports.is_empty());
        assert!(d.addresses().is_empty());
    }

    #[test]
    fn private_serves_every_port_at_name_dot_namespace_by_default() {
        let d = desired_service_connect(&spec(Some(Private::default())), &owner(), "internal");
        assert_eq!(d.addresses(), ["api.shop:8080", "api.shop:9000"]);
        for p in &d.ports {
            assert!(p.discovery_name.len() <= 64, "{}", p.discovery_name);
            assert!(p.discovery_name.ends_with(&format!("-{}", p.port_name)));
        }
    }

    #[test]
    fn a_chosen_name_and_port_list_narrow_what_is_served() {
        let private = Private { name: Some("api".into()), ports: vec!["http".into()] };
        let d = desired_service_connect(&spec(Some(private)), &owner(), "internal");
        assert_eq!(d.addresses(), ["api:8080"]);
    }

    #[test]
    fn the_digest_changes_with_the_settings() {
        let a = desired_service_connect(&spec(None), &owner(), "internal");
        let b = desired_service_connect(&spec(Some(Private::default())), &owner(), "internal");
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), a.clone().digest());
    }
}
