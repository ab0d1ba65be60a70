//! Tearing down an account's own resources once no service uses them: each load balancer of the
//! pool we created (with its listeners), when no rule is left on it, and the ECS cluster, when we
//! created it and no service runs on it; the Service Connect namespace, when we created it and no
//! service is left. Anything without our ownership tags, or still in use, is
//! kept and the plan says why. `act: false` only reads.

use aws_sdk_ecs::types::ClusterField;

use super::{
    Action, Change, Kind, Plan, Presence,
    account::{load_balancer_name, owned_by},
    build_bucket, namespace, tags,
};
use crate::{
    api::CloudAccountSpec,
    aws::{Aws, AwsError},
};

/// Deletes (or with `act: false`, plans deleting) the account's own resources.
pub async fn teardown(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
    act: bool,
) -> Result<Plan, AwsError> {
    let mut plan = Plan::default();
    // Certificates and records go first, while the listeners they are on still exist; what
    // services still use stays.
    if spec.domains.is_some() {
        let (state, _) = super::account::observe(aws, account, spec, cluster_id).await?;
        let tags = super::account::account_tags(account, spec, cluster_id);
        let owner = super::domains::Owner { account, cluster_id, tags: &tags };
        let cache = super::ObserveCache::default();
        let (_, domains) =
            super::domains::reconcile(aws, spec, &state, &owner, &cache, None, act).await?;
        plan.changes.extend(domains.changes);
    }
    for lb in spec.load_balancers.iter().filter(|lb| lb.existing.is_none()) {
        let name = load_balancer_name(account, lb);
        let found = match aws
            .call(
                "elbv2",
                "DescribeLoadBalancers",
                aws.elb.describe_load_balancers().names(&name).send(),
            )
            .await
        {
            Err(e) if e.is_not_found() => continue,
            other => other?,
        };
        let Some(arn) =
            found.load_balancers().first().and_then(|l| l.load_balancer_arn()).map(str::to_string)
        else {
            continue;
        };
        let described = aws
            .call("elbv2", "DescribeTags", aws.elb.describe_tags().resource_arns(&arn).send())
            .await?;
        let lb_tags = described
            .tag_descriptions()
            .first()
            .map(|d| tags::from_elb(d.tags()))
            .unwrap_or_default();
        if !owned_by(&lb_tags, account, cluster_id) {
            plan.push(Some(Change::new(
                Kind::LoadBalancer,
                &name,
                Action::Keep("not created by this installation".into()),
            )));
            continue;
        }
        let listeners = aws
            .call(
                "elbv2",
                "DescribeListeners",
                aws.elb.describe_listeners().load_balancer_arn(&arn).send(),
            )
            .await?;
        let mut rules = 0;
        for l in listeners.listeners() {
            let out = aws
                .call(
                    "elbv2",
                    "DescribeRules",
                    aws.elb
                        .describe_rules()
                        .set_listener_arn(l.listener_arn().map(str::to_string))
                        .send(),
                )
                .await?;
            rules += out.rules().iter().filter(|r| r.is_default() != Some(true)).count();
        }
        if rules > 0 {
            plan.push(Some(Change::new(
                Kind::LoadBalancer,
                &name,
                Action::Keep(format!("{rules} listener rule(s) still route to services")),
            )));
            continue;
        }
        plan.push(Some(Change::new(Kind::LoadBalancer, &name, Action::Delete)));
        if act {
            Change::new(Kind::LoadBalancer, &name, Action::Delete).log();
            match aws
                .call(
                    "elbv2",
                    "DeleteLoadBalancer",
                    aws.elb.delete_load_balancer().load_balancer_arn(&arn).send(),
                )
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
    }
    let clusters = aws
        .call(
            "ecs",
            "DescribeClusters",
            aws.ecs
                .describe_clusters()
                .clusters(&spec.cluster.name)
                .include(ClusterField::Tags)
                .send(),
        )
        .await?;
    if let Some(cluster) = clusters.clusters().iter().find(|c| c.status() == Some("ACTIVE")) {
        let name = &spec.cluster.name;
        if !owned_by(&tags::from_ecs(cluster.tags()), account, cluster_id) {
            plan.push(Some(Change::new(
                Kind::Cluster,
                name,
                Action::Keep("not created by this installation".into()),
            )));
        } else if let Some(running) = services_on(aws, name).await?.filter(|n| *n > 0) {
            plan.push(Some(Change::new(
                Kind::Cluster,
                name,
                Action::Keep(format!("{running} service(s) still run on it")),
            )));
        } else {
            plan.push(Some(Change::new(Kind::Cluster, name, Action::Delete)));
            if act {
                Change::new(Kind::Cluster, name, Action::Delete).log();
                match aws
                    .call("ecs", "DeleteCluster", aws.ecs.delete_cluster().cluster(name).send())
                    .await
                {
                    Err(e) if !e.is_not_found() => return Err(e),
                    _ => {}
                }
            }
        }
    }
    if let Some(sc) = &spec.service_connect {
        teardown_namespace(aws, account, spec, cluster_id, &sc.namespace, act, &mut plan).await?;
    }
    let arns = clusters
        .clusters()
        .iter()
        .filter_map(|c| c.cluster_arn())
        .chain(clusters.failures().iter().filter_map(|f| f.arn()));
    // Only an account that builds from source has a build bucket.
    if let Some(id) =
        arns.filter_map(build_bucket::account_id).next().filter(|_| spec.build.is_some())
    {
        teardown_bucket(aws, account, spec, cluster_id, id, act, &mut plan).await?;
    }
    Ok(plan)
}

/// The Service Connect namespace goes once no service of the cluster is left (ECS then removes
/// the namespace's Service Connect services itself; until it has, deleting is retried).
async fn teardown_namespace(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
    name: &str,
    act: bool,
    plan: &mut Plan,
) -> Result<(), AwsError> {
    let found = namespace::observe(aws, name, |t| owned_by(t, account, cluster_id)).await?;
    let ns = match found {
        Presence::Missing => return Ok(()),
        Presence::Foreign(_) => {
            plan.push(Some(Change::new(
                Kind::Namespace,
                name,
                Action::Keep("not created by this installation".into()),
            )));
            return Ok(());
        }
        Presence::Ours(ns) => ns,
    };
    if let Some(running) = services_on(aws, &spec.cluster.name).await?.filter(|n| *n > 0) {
        plan.push(Some(Change::new(
            Kind::Namespace,
            name,
            Action::Keep(format!("{running} service(s) of the cluster may still use it")),
        )));
        return Ok(());
    }
    plan.push(Some(Change::new(Kind::Namespace, name, Action::Delete)));
    if act {
        Change::new(Kind::Namespace, name, Action::Delete).log();
        namespace::delete(aws, &ns.id).await?;
    }
    Ok(())
}

/// The build bucket goes once no service's upload is left in it.
async fn teardown_bucket(
    aws: &Aws,
    account: &str,
    spec: &CloudAccountSpec,
    cluster_id: &str,
    aws_account_id: &str,
    act: bool,
    plan: &mut Plan,
) -> Result<(), AwsError> {
    let bucket = build_bucket::name(aws_account_id, &spec.aws.region, account, cluster_id);
    let ours = super::account::account_tags(account, spec, cluster_id);
    if build_bucket::observe(aws, &bucket, &ours).await? != Presence::Ours(()) {
        return Ok(());
    }
    let left = build_bucket::objects(aws, &bucket, build_bucket::CONTEXTS).await?.len();
    if left > 0 {
        plan.push(Some(Change::new(
            Kind::BuildBucket,
            &bucket,
            Action::Keep(format!("{left} upload(s) of services still there")),
        )));
        return Ok(());
    }
    let change = Change::new(Kind::BuildBucket, &bucket, Action::Delete);
    if act {
        change.log();
        build_bucket::delete(aws, &bucket).await?;
    }
    plan.push(Some(change));
    Ok(())
}

/// Services still on the cluster (ACTIVE or DRAINING). `activeServicesCount` is not reliable
/// everywhere and some listings keep deleted services, so each is described.
async fn services_on(aws: &Aws, cluster: &str) -> Result<Option<usize>, AwsError> {
    let Some(listed) = list_services(aws, cluster).await? else { return Ok(None) };
    let mut running = 0;
    for chunk in listed.chunks(10) {
        let out = aws
            .call(
                "ecs",
                "DescribeServices",
                aws.ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.to_vec()))
                    .send(),
            )
            .await?;
        running += out.services().iter().filter(|s| s.status() != Some("INACTIVE")).count();
    }
    Ok(Some(running))
}

/// Every service ARN on the cluster, or `None` when the cluster is gone. ListServices `maxResults`:
/// "This value can be between 1 and 100. If this parameter isn't used, then ListServices returns
/// up to 10 results and a nextToken value if applicable"
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServices.html>), so pages
/// of 100 are asked for and `nextToken` is followed until the listing ends.
async fn list_services(aws: &Aws, cluster: &str) -> Result<Option<Vec<String>>, AwsError> {
    let mut arns = Vec::new();
    let mut next_token = None;
    loop {
        let out = match aws
            .call(
                "ecs",
                "ListServices",
                aws.ecs
                    .list_services()
                    .cluster(cluster)
                    .max_results(100)
                    .set_next_token(next_token)
                    .send(),
            )
            .await
        {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        arns.extend(out.service_arns().iter().cloned());
        next_token = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if next_token.is_none() {
            return Ok(Some(arns));
        }
    }
}
