//! Validation patterns shared by the schema attributes and by `crate::desired::validate`.
//!
//! They are RE2-compatible (the API server evaluates them with Go's regexp) and equally valid for
//! Rust's `regex` syntax; tests compile each one.

/// A container image reference: optional registry host (with port), repository path, optional tag,
/// optional `@sha256:` digest. For example `nginx:1.27` or
/// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:…`.
pub const IMAGE: &str = r"^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$";
/// A host name as an ALB host-header condition takes it: lower-case DNS labels, where `*` (any run
/// of characters) and `?` (one character) may stand for letters, digits or whole labels, then a
/// final label of letters only, e.g. `shop.example.com`, `*.example.com`, `api-?.example.com`.
/// HostHeaderConditionConfig: "You must include at least one "." character. You can include only
/// alphabetical characters after the final "." character."
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_HostHeaderConditionConfig.html>
/// (and "Host conditions" in
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html>).
/// So `localhost`, `a.internal1`, an IP address or `example.*` are refused here, not by CreateRule.
pub const HOST: &str = r"^([a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?\.)+[a-z]+$";
/// An ALB path-pattern condition: starts with `/`, may use `*` and `?` wildcards.
pub const PATH_PATTERN: &str = r#"^/[A-Za-z0-9_.$/~"'@:+&*?-]*$"#;
/// HTTP codes an ALB target group health check counts as healthy: one code, a comma-separated list
/// of codes, or one `low-high` range, each between 200 and 499. ELBv2 `Matcher.HttpCode`: "For
/// Application Load Balancers, you can specify values between 200 and 499 ... You can specify
/// multiple values (for example, "200,202") or a range of values (for example, "200-299")."
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Matcher.html>
/// That a range runs from low to high is checked by a CEL rule and by `desired::validate`.
pub const SUCCESS_CODES: &str = r"^([2-4][0-9]{2}(,[2-4][0-9]{2})*|[2-4][0-9]{2}-[2-4][0-9]{2})$";
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
/// A DNS domain: lower-case labels separated by dots, at least two, e.g. `example.com`.
pub const DOMAIN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z][-a-z0-9]*[a-z0-9]$";
/// A private (Service Connect) name: DNS labels of lowercase letters, digits and hyphens,
/// separated by dots, e.g. `api` or `api.shop`.
pub const PRIVATE_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A Cloud Map HTTP namespace name (CreateHttpNamespace `Name`: `^[!-~]{1,1024}$`); narrowed to
/// what is also a DNS name, so the private names stay valid host names.
pub const NAMESPACE_NAME: &str =
    r"^[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?)*$";
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
/// An `http` or `https` Git URL without credentials in it (they go in a Secret).
pub const GIT_URL: &str = r"^https?://[^\s/@]+/[^\s@]+$";
/// A path relative to a build context: no leading `/` or `.`, no `..` (checked apart).
pub const RELATIVE_PATH: &str = r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$";
/// A Dockerfile `ARG` name.
pub const BUILD_ARG_NAME: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

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
    fn host_pattern_follows_the_alb_host_condition_rules() {
        let cases = [
            ("shop.example.com", true, "plain host name"),
            ("*.example.com", true, "leading wildcard label"),
            ("api-?.example.com", true, "? stands for one character"),
            ("*-api.eu.example.com", true, "* inside a label"),
            ("a.b", true, "one dot and a letter are enough"),
            ("localhost", false, "AWS needs at least one dot"),
            ("a.internal1", false, "only letters after the final dot"),
            ("10.0.0.1", false, "an IP address ends in digits"),
            ("example.*", false, "no wildcard after the final dot"),
            ("shop.example.com.", false, "a trailing dot leaves no final label"),
            (
                "Shop.example.com",
                false,
                "upper case (the rule is case-insensitive; keep one spelling)",
            ),
            ("shop..example.com", false, "empty label"),
            ("-shop.example.com", false, "label starting with a hyphen"),
            ("shop.example.com/", false, "a path is not a host"),
            ("", false, "empty"),
        ];
        for (value, ok, reason) in cases {
            assert_eq!(matches(HOST, value), ok, "{reason}: {value}");
        }
    }

    #[test]
    fn path_pattern_follows_the_alb_path_condition_rules() {
        let cases = [
            ("/api/*", true, "wildcard path"),
            ("/", true, "root"),
            ("api", false, "must start with a slash"),
            ("/a b", false, "space"),
        ];
        for (value, ok, reason) in cases {
            assert_eq!(matches(PATH_PATTERN, value), ok, "{reason}: {value}");
        }
    }

    #[test]
    fn success_codes_pattern_takes_a_code_a_list_or_one_range_from_200_to_499() {
        let cases = [
            ("200", true, "one code"),
            ("200,204", true, "a list"),
            ("200-299", true, "a range"),
            ("200-399", true, "the default"),
            ("499", true, "highest code ALB takes"),
            ("199", false, "below 200"),
            ("500", false, "5xx is for Network Load Balancers only"),
            ("200-299,404", false, "a list and a range together is not a documented form"),
            ("200-299-399", false, "two dashes"),
            ("200,", false, "dangling comma"),
            ("20", false, "two digits"),
            ("2xx", false, "not a number"),
            ("", false, "empty"),
        ];
        for (value, ok, reason) in cases {
            assert_eq!(matches(SUCCESS_CODES, value), ok, "{reason}: {value}");
        }
    }

    #[test]
    fn git_urls_are_http_without_credentials() {
        for (value, ok) in [
            ("https://github.com/org/shop.git", true),
            ("http://127.0.0.1:8080/shop.git", true),
            ("https://gitlab.example.com/group/sub/repo", true),
            ("https://user:token@github.com/org/shop.git", false),
            ("git@github.com:org/shop.git", false),
            ("ssh://git@github.com/org/shop.git", false),
            ("https://github.com", false),
        ] {
            assert_eq!(matches(GIT_URL, value), ok, "{value}");
        }
    }

    #[test]
    fn every_pattern_compiles() {
        for p in [
            IMAGE,
            HOST,
            PATH_PATTERN,
            HTTP_PATH,
            SUCCESS_CODES,
            PORT_NAME,
            ENV_NAME,
            OBJECT_NAME,
            DNS_LABEL,
            PRIVATE_NAME,
            DOMAIN,
            NAMESPACE_NAME,
            ROLE_ARN,
            CERTIFICATE_ARN,
            LISTENER_ARN,
            REGION,
            VPC_ID,
            SUBNET_ID,
            SECURITY_GROUP_ID,
            CLUSTER_NAME,
            ENDPOINT_URL,
            GIT_URL,
            RELATIVE_PATH,
            BUILD_ARG_NAME,
        ] {
            assert!(regex::Regex::new(p).is_ok(), "{p}");
        }
    }
}
