//! Listeners of a load balancer we own: the one services' rules go on (HTTPS with a certificate,
//! else HTTP) and, with a certificate, the HTTP listener on port 80 that redirects to HTTPS.
//! `missing_listener_ports` is pure; the create functions call ELBv2 through `Aws::call`.
//! Listeners of load balancers we do not own (`existing`) never reach this module.

use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum,
};

use super::tags::{self, Tags};
use crate::{
    api::LoadBalancer,
    aws::{Aws, AwsError},
};

/// Port of the HTTP listener; with a certificate it only redirects to HTTPS.
pub(super) const HTTP_PORT: i32 = 80;
/// Port of the HTTPS listener, when the pool entry has a certificate.
const HTTPS_PORT: i32 = 443;

/// The port of the listener services' rules go on: 443 with a certificate, else 80.
pub(super) fn listener_port(lb: &LoadBalancer) -> i32 {
    if lb.certificate_arn.is_some() { HTTPS_PORT } else { HTTP_PORT }
}

/// The listeners a load balancer of ours lacks, given the ports it has listeners on: the one for
/// rules, and with a certificate the HTTP→HTTPS redirect on 80, which an earlier `ensure` may have
/// failed to create after the HTTPS listener. A port that has a listener is never touched, whatever
/// that listener does.
pub(super) fn missing_listener_ports(lb: &LoadBalancer, ports: &[i32]) -> Vec<i32> {
    let mut wanted = vec![listener_port(lb)];
    if lb.certificate_arn.is_some() {
        wanted.push(HTTP_PORT);
    }
    wanted.retain(|port| !ports.contains(port));
    wanted
}

/// Creates the listener services' rules go on (HTTPS with a certificate, else HTTP); its default
/// action answers 404 so unmatched hosts reach no service.
pub(super) async fn create_listener(
    aws: &Aws,
    lb_arn: &str,
    lb: &LoadBalancer,
    tags: &Tags,
) -> Result<String, AwsError> {
    let not_found = ElbAction::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("404")
                .content_type("text/plain")
                .message_body("no service matches this host and path")
                .build(),
        )
        .build();
    let mut request = aws
        .elb
        .create_listener()
        .load_balancer_arn(lb_arn)
        .default_actions(not_found)
        .set_tags(Some(tags::elb(tags)));
    if let Some(cert) = &lb.certificate_arn {
        request = request
            .protocol(ProtocolEnum::Https)
            .port(HTTPS_PORT)
            .certificates(Certificate::builder().certificate_arn(cert).build());
    } else {
        request = request.protocol(ProtocolEnum::Http).port(HTTP_PORT);
    }
    let out = aws.call("elbv2", "CreateListener", request.send()).await?;
    out.listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .map(str::to_string)
        .ok_or_else(|| AwsError::unexpected("CreateListener", "no listener in the response"))
}

/// Creates the HTTP listener that redirects every request to HTTPS (301).
pub(super) async fn create_redirect_listener(
    aws: &Aws,
    lb_arn: &str,
    tags: &Tags,
) -> Result<(), AwsError> {
    let redirect = ElbAction::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port(HTTPS_PORT.to_string())
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build();
    aws.call(
        "elbv2",
        "CreateListener",
        aws.elb
            .create_listener()
            .load_balancer_arn(lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(HTTP_PORT)
            .default_actions(redirect)
            .set_tags(Some(tags::elb(tags)))
            .send(),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lb(certificate: bool) -> LoadBalancer {
        LoadBalancer {
            name: "public".into(),
            scheme: Default::default(),
            subnet_ids: vec![],
            security_group_ids: vec!["sg-0123456789abcdef0".into()],
            certificate_arn: certificate
                .then(|| "arn:aws:acm:eu-west-1:123456789012:certificate/abc".into()),
            existing: None,
        }
    }

    #[test]
    fn a_missing_redirect_listener_is_found_even_when_the_https_listener_exists() {
        let cases: [(&str, bool, &[i32], &[i32]); 7] = [
            ("a new HTTP load balancer", false, &[], &[80]),
            ("an HTTP load balancer with its listener", false, &[80], &[]),
            ("a new HTTPS load balancer gets both", true, &[], &[443, 80]),
            ("HTTPS and redirect in place", true, &[443, 80], &[]),
            ("the redirect failed after HTTPS was created", true, &[443], &[80]),
            ("a port-80 listener of any kind is left alone", true, &[80], &[443]),
            ("listeners on other ports change nothing", true, &[8080, 443], &[80]),
        ];
        for (reason, certificate, ports, missing) in cases {
            assert_eq!(missing_listener_ports(&lb(certificate), ports), missing, "{reason}");
        }
    }
}
