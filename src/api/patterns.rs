//! Validation patterns shared by the schema attributes and by `crate::desired::validate`.
//!
//! They are RE2-compatible (the API server evaluates them with Go's regexp) and equally valid for
//! Rust's `regex` syntax; tests compile each one.

/// A container image reference: optional registry host (with port), repository path, optional tag,
/// optional `@sha256:` digest. For example `nginx:1.27` or
/// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:…`.
pub const IMAGE: &str = r"^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$";
/// A DNS host name as an ALB host-header condition takes it, optionally with a leading `*.` wildcard.
pub const HOST: &str = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// An ALB path-pattern condition: starts with `/`, may use `*` and `?` wildcards.
pub const PATH_PATTERN: &str = r#"^/[A-Za-z0-9_.$/~"'@:+&*?-]*$"#;
/// An HTTP path for health checks: starts with `/`, no wildcards.
pub const HTTP_PATH: &str = r#"^/[A-Za-z0-9_.$/~"'@:+&=%?-]*$"#;
/// An IANA service name, as Kubernetes container port names use.
pub const PORT_NAME: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";
/// A C identifier-ish environment variable name, as Kubernetes accepts them.
pub const ENV_NAME: &str = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$";
/// A Kubernetes object name (DNS-1123 subdomain).
pub const OBJECT_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A DNS-1123 label, for load balancer names in an account's pool.
pub const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An IAM role ARN.
pub const ROLE_ARN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$";
/// An ACM (or IAM server) certificate ARN.
pub const CERTIFICATE_ARN: &str =
    r"^arn:aws[a-z-]*:(acm|iam):[a-z0-9-]*:[0-9]{12}:(certificate|server-certificate)/.+$";
/// An ELBv2 listener ARN.
pub const LISTENER_ARN: &str =
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/.+$";
/// An AWS region name such as `eu-west-1`.
pub const REGION: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";
/// A VPC id.
pub const VPC_ID: &str = r"^vpc-[0-9a-f]{8,17}$";
/// A subnet id.
pub const SUBNET_ID: &str = r"^subnet-[0-9a-f]{8,17}$";
/// A security group id.
pub const SECURITY_GROUP_ID: &str = r"^sg-[0-9a-f]{8,17}$";
/// An ECS cluster name.
pub const CLUSTER_NAME: &str = r"^[a-zA-Z0-9_-]{1,255}$";
/// An `http` or `https` URL, for emulator endpoints.
pub const ENDPOINT_URL: &str = r"^https?://[^\s/$.?#][^\s]*$";

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern).expect("pattern compiles").is_match(value)
    }

    #[test]
    fn image_pattern_accepts_real_references_and_rejects_malformed_ones() {
        let cases = [
            ("nginx", true, "bare name"),
            ("nginx:1.27", true, "name and tag"),
            ("library/nginx:1.27-alpine", true, "path and tag"),
            ("public.ecr.aws/nginx/nginx:latest", true, "registry host"),
            ("localhost:5000/app:v1", true, "registry with port"),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                true,
                "ecr digest",
            ),
            ("Nginx", false, "upper-case repository"),
            ("nginx:", false, "empty tag"),
            ("nginx@sha256:abc", false, "short digest"),
            ("nginx latest", false, "space"),
            ("", false, "empty"),
        ];
        for (value, ok, reason) in cases {
            assert_eq!(matches(IMAGE, value), ok, "{reason}: {value}");
        }
    }

    #[test]
    fn host_and_path_patterns_follow_alb_rules() {
        assert!(matches(HOST, "shop.example.com"));
        assert!(matches(HOST, "*.example.com"));
        assert!(!matches(HOST, "Shop.example.com"));
        assert!(!matches(HOST, "shop..example.com"));
        assert!(!matches(HOST, "shop.example.com/"));
        assert!(matches(PATH_PATTERN, "/api/*"));
        assert!(matches(PATH_PATTERN, "/"));
        assert!(!matches(PATH_PATTERN, "api"));
        assert!(!matches(PATH_PATTERN, "/a b"));
    }

    #[test]
    fn every_pattern_compiles() {
        for p in [
            IMAGE,
            HOST,
            PATH_PATTERN,
            HTTP_PATH,
            PORT_NAME,
            ENV_NAME,
            OBJECT_NAME,
            DNS_LABEL,
            ROLE_ARN,
            CERTIFICATE_ARN,
            LISTENER_ARN,
            REGION,
            VPC_ID,
            SUBNET_ID,
            SECURITY_GROUP_ID,
            CLUSTER_NAME,
            ENDPOINT_URL,
        ] {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
        }
    }
}
