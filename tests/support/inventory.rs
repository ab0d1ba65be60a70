//! An inventory of the emulator by our ownership tags: what a test asserts on after `delete`
//! ("nothing tagged as ours is left"), for an installation or for one service. Lists every kind
//! the operator creates.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{ClusterField, ServiceField, TaskDefinitionField};
use byoc::{aws::Aws, desired::tag};

fn ecs_tags(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()
}

/// `(kind, id)` of every resource whose `byoc.dev/cluster-id` tag is `cluster_id`.
pub async fn by_cluster_id(aws: &Aws, cluster_id: &str) -> Vec<(String, String)> {
    by_tag(aws, tag::CLUSTER_ID, cluster_id).await
}

/// `(kind, id)` of every resource whose tag `key` is `value` (e.g. `byoc.dev/owner` and a
/// service's `namespace/name`). Other tests delete resources while this lists them, so a listing
/// that hits a vanished resource is retried.
pub async fn by_tag(aws: &Aws, key: &str, value: &str) -> Vec<(String, String)> {
    let mut last = String::new();
    for _ in 0..10 {
        match try_by_tag(aws, key, value).await {
            Ok(found) => return found,
            Err(e) => last = e,
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("inventory failed ten times; last error: {last}");
}

async fn try_by_tag(aws: &Aws, key: &str, value: &str) -> Result<Vec<(String, String)>, String> {
    let ours = |tags: &BTreeMap<String, String>| tags.get(key).is_some_and(|v| v == value);
    let mut out = Vec::new();
    // ECS: clusters, their services, task definitions.
    let clusters = aws.ecs.list_clusters().send().await.map_err(|e| format!("{e:?}"))?;
    for arn in clusters.cluster_arns() {
        let described = aws
            .ecs
            .describe_clusters()
            .clusters(arn)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        for c in described.clusters() {
            if ours(&ecs_tags(c.tags())) && c.status() == Some("ACTIVE") {
                out.push(("EcsCluster".into(), arn.clone()));
            }
        }
        let services =
            aws.ecs.list_services().cluster(arn).send().await.map_err(|e| format!("{e:?}"))?;
        for chunk in services.service_arns().chunks(10) {
            let d = aws
                .ecs
                .describe_services()
                .cluster(arn)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            for s in d.services() {
                if ours(&ecs_tags(s.tags())) && s.status() == Some("ACTIVE") {
                    out.push(("EcsService".into(), s.service_arn().unwrap_or_default().into()));
                }
            }
        }
    }
    let tds = aws.ecs.list_task_definitions().send().await.map_err(|e| format!("{e:?}"))?;
    for arn in tds.task_definition_arns() {
        let d = aws
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let active = d.task_definition().is_some_and(|t| {
            t.status() != Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Inactive)
        });
        if active && ours(&ecs_tags(d.tags())) {
            out.push(("TaskDefinition".into(), arn.clone()));
        }
    }
    // ELBv2: load balancers, listeners, rules, target groups.
    let elb_tags = |d: &aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsOutput| -> BTreeMap<String, BTreeMap<String, String>> {
        d.tag_descriptions()
            .iter()
            .map(|t| (t.resource_arn().unwrap_or_default().to_string(), t.tags().iter().filter_map(|x| Some((x.key()?.to_string(), x.value()?.to_string()))).collect()))
            .collect()
    };
    let lbs = aws.elb.describe_load_balancers().send().await.map_err(|e| format!("{e:?}"))?;
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let t = elb_tags(
            &aws.elb
                .describe_tags()
                .resource_arns(arn)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?,
        );
        if t.get(arn).is_some_and(ours) {
            out.push(("LoadBalancer".into(), arn.into()));
        }
        for l in aws
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .listeners()
        {
            let rules = aws
                .elb
                .describe_rules()
                .listener_arn(l.listener_arn().unwrap_or_default())
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            let arns: Vec<String> = rules
                .rules()
                .iter()
                .filter(|r| r.is_default() != Some(true))
                .filter_map(|r| r.rule_arn().map(str::to_string))
                .collect();
            for chunk in arns.chunks(20) {
                let t = elb_tags(
                    &aws.elb
                        .describe_tags()
                        .set_resource_arns(Some(chunk.to_vec()))
                        .send()
                        .await
                        .map_err(|e| format!("{e:?}"))?,
                );
                for (rule, tags) in t {
                    if ours(&tags) {
                        out.push(("ListenerRule".into(), rule));
                    }
                }
            }
        }
    }
    let tgs = aws.elb.describe_target_groups().send().await.map_err(|e| format!("{e:?}"))?;
    for tg in tgs.target_groups() {
        let arn = tg.target_group_arn().unwrap_or_default();
        let t = elb_tags(
            &aws.elb
                .describe_tags()
                .resource_arns(arn)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?,
        );
        if t.get(arn).is_some_and(ours) {
            out.push(("TargetGroup".into(), arn.into()));
        }
    }
    // Logs, ECR, Secrets Manager.
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/byoc/")
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    for g in groups.log_groups() {
        let arn = g
            .log_group_arn()
            .map(str::to_string)
            .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_string()))
            .unwrap_or_default();
        let t = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if ours(&t.tags().cloned().unwrap_or_default().into_iter().collect()) {
            out.push(("LogGroup".into(), g.log_group_name().unwrap_or_default().into()));
        }
    }
    let repos = aws.ecr.describe_repositories().send().await.map_err(|e| format!("{e:?}"))?;
    for r in repos.repositories() {
        let t = aws
            .ecr
            .list_tags_for_resource()
            .resource_arn(r.repository_arn().unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if ours(&t.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()) {
            out.push(("EcrRepository".into(), r.repository_name().unwrap_or_default().into()));
        }
    }
    let secrets = aws.secrets.list_secrets().send().await.map_err(|e| format!("{e:?}"))?;
    for s in secrets.secret_list() {
        let tags: BTreeMap<String, String> = s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        if ours(&tags) && s.deleted_date().is_none() {
            out.push(("Secret".into(), s.name().unwrap_or_default().into()));
        }
    }
    // Builds from source: CodeBuild projects and the build bucket.
    let projects = aws.codebuild.list_projects().send().await.map_err(|e| format!("{e:?}"))?;
    if !projects.projects().is_empty() {
        let described = aws
            .codebuild
            .batch_get_projects()
            .set_names(Some(projects.projects().to_vec()))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        for p in described.projects() {
            let tags: BTreeMap<String, String> = p
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            if ours(&tags) {
                out.push(("CodeBuildProject".into(), p.name().unwrap_or_default().into()));
            }
        }
    }
    let buckets = aws.s3.list_buckets().send().await.map_err(|e| format!("{e:?}"))?;
    for b in buckets.buckets() {
        let name = b.name().unwrap_or_default();
        let Ok(t) = aws.s3.get_bucket_tagging().bucket(name).send().await else { continue };
        if ours(&t.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
        {
            out.push(("S3Bucket".into(), name.into()));
        }
    }
    // Autoscaling: scalable targets of ECS services.
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    for t in targets.scalable_targets() {
        let arn = t.scalable_target_arn().unwrap_or_default();
        let Ok(tags) = aws.autoscaling.list_tags_for_resource().resource_arn(arn).send().await
        else {
            continue;
        };
        if ours(&tags.tags().cloned().unwrap_or_default().into_iter().collect()) {
            out.push(("ScalableTarget".into(), t.resource_id().into()));
        }
    }
    // Service Connect: Cloud Map namespaces.
    let namespaces = aws.cloudmap.list_namespaces().send().await.map_err(|e| format!("{e:?}"))?;
    for n in namespaces.namespaces() {
        let arn = n.arn().unwrap_or_default();
        let Ok(tags) = aws.cloudmap.list_tags_for_resource().resource_arn(arn).send().await else {
            continue;
        };
        let tags: BTreeMap<String, String> =
            tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        if ours(&tags) {
            out.push(("CloudMapNamespace".into(), n.name().unwrap_or_default().into()));
        }
    }
    // Custom domains: ACM certificates.
    let mut token = None;
    loop {
        let page = aws
            .acm
            .list_certificates()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        for c in page.certificate_summary_list() {
            let arn = c.certificate_arn().unwrap_or_default();
            let Ok(t) = aws.acm.list_tags_for_certificate().certificate_arn(arn).send().await
            else {
                continue;
            };
            let tags = t
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
                .collect();
            if ours(&tags) {
                out.push(("AcmCertificate".into(), arn.into()));
            }
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort();
    Ok(out)
}
