//! The AWS behaviour layer's ECS Service Connect (tests/support/awslayer `connect`,
//! `connect_model`): real SDK clients talk to moto through the layer, and each test shows one
//! behaviour of real ECS that moto alone does not have. Short durations keep the suite fast;
//! every deadline leaves a margin over the layer's timings. Cloud Map's own behaviours:
//! tests/aws_layer_cloudmap.rs.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use aws_sdk_ecs::types::{
    ContainerDefinition, PortMapping, Service, ServiceConnectClientAlias,
    ServiceConnectConfiguration, ServiceConnectService,
};
use aws_sdk_servicediscovery::types::{
    FilterCondition, OperationTargetType, ServiceFilter, ServiceFilterName,
};
use byoc::aws::AwsError;
use support::awslayer::{Config, Layer};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Tasks start in 400 ms, old deployments drain for 400 ms, a deleted service drains for 600 ms.
fn fast() -> Config {
    Config { task_start: MS(400), drain: MS(400), service_draining: MS(600), ..Config::default() }
}

/// An ECS cluster and a Cloud Map HTTP namespace, both through the layer.
struct World {
    layer: Layer,
    ecs: aws_sdk_ecs::Client,
    map: aws_sdk_servicediscovery::Client,
    cluster: String,
    /// The namespace's name, id and ARN.
    ns: (String, String, String),
}

impl World {
    async fn new() -> World {
        World::with(fast()).await
    }

    async fn with(config: Config) -> World {
        let layer = Layer::start(&support::moto::endpoint(), config);
        let ecs = aws_sdk_ecs::Client::new(&layer.sdk_config());
        let map = aws_sdk_servicediscovery::Client::new(&layer.sdk_config());
        let cluster = unique("connect");
        ecs.create_cluster().cluster_name(&cluster).send().await.unwrap();
        let name = format!("{cluster}.internal");
        let id = namespace(&map, &name).await;
        let arn = map.get_namespace().id(&id).send().await.unwrap();
        let arn = arn.namespace().unwrap().arn().unwrap().to_string();
        World { layer, ecs, map, cluster, ns: (name, id, arn) }
    }

    /// A task definition whose container maps port 8080 as `http`.
    async fn register(&self) -> String {
        let port = PortMapping::builder().name("http").container_port(8080).build();
        let container = ContainerDefinition::builder()
            .name("web")
            .image("nginx:1.26")
            .memory(512)
            .port_mappings(port)
            .build();
        let out = self
            .ecs
            .register_task_definition()
            .family(unique("web"))
            .container_definitions(container)
            .send()
            .await
            .unwrap();
        out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
    }

    async fn create(
        &self,
        name: &str,
        td: &str,
        connect: ServiceConnectConfiguration,
    ) -> Result<Service, AwsError> {
        let out = self
            .ecs
            .create_service()
            .cluster(&self.cluster)
            .service_name(name)
            .task_definition(td)
            .desired_count(1)
            .service_connect_configuration(connect)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateService", e))?;
        Ok(out.service().unwrap().clone())
    }

    async fn update(&self, name: &str, connect: ServiceConnectConfiguration) -> Service {
        let out = self
            .ecs
            .update_service()
            .cluster(&self.cluster)
            .service(name)
            .service_connect_configuration(connect)
            .send()
            .await
            .unwrap();
        out.service().unwrap().clone()
    }

    async fn describe(&self, name: &str) -> Service {
        let out = self.ecs.describe_services().cluster(&self.cluster).services(name).send().await;
        out.unwrap().services()[0].clone()
    }

    /// Each Cloud Map service in the namespace.
    async fn cloud_map(&self) -> Vec<CloudMapService> {
        let filter = ServiceFilter::builder()
            .name(ServiceFilterName::NamespaceId)
            .values(&self.ns.1)
            .condition(FilterCondition::Eq)
            .build()
            .unwrap();
        let out = self.map.list_services().filters(filter).send().await.unwrap();
        let mut found = Vec::new();
        for s in out.services() {
            let arn = s.arn().unwrap().to_string();
            let tags = self.map.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
            let tags = tags.tags().iter().map(|t| (t.key().into(), t.value().into())).collect();
            found.push((s.name().unwrap().to_string(), arn, tags));
        }
        found
    }
}

/// `(name, arn, tags)` of a Cloud Map service.
type CloudMapService = (String, String, Vec<(String, String)>);

/// Creates an HTTP namespace and returns its id.
async fn namespace(map: &aws_sdk_servicediscovery::Client, name: &str) -> String {
    let out = map.create_http_namespace().name(name).creator_request_id(unique("request"));
    let out = out.send().await.unwrap();
    let op = map.get_operation().operation_id(out.operation_id().unwrap()).send().await.unwrap();
    op.operation().unwrap().targets().unwrap()[&OperationTargetType::Namespace].clone()
}

/// Serves `http` as `discovery` at `dns:port` in `namespace`.
fn serving(namespace: &str, discovery: &str, dns: &str, port: i32) -> ServiceConnectConfiguration {
    let alias = ServiceConnectClientAlias::builder().port(port).dns_name(dns).build().unwrap();
    let served = ServiceConnectService::builder()
        .port_name("http")
        .discovery_name(discovery)
        .client_aliases(alias)
        .build()
        .unwrap();
    ServiceConnectConfiguration::builder()
        .enabled(true)
        .namespace(namespace)
        .services(served)
        .build()
}

fn client(namespace: &str) -> ServiceConnectConfiguration {
    ServiceConnectConfiguration::builder().enabled(true).namespace(namespace).build()
}

/// `(status, discovery names of serviceConnectResources, dnsName of the first alias)` per
/// deployment.
fn connected(service: &Service) -> Vec<(String, Vec<String>, Option<String>)> {
    service
        .deployments()
        .iter()
        .map(|d| {
            let names = d.service_connect_resources().iter();
            let alias = d
                .service_connect_configuration()
                .and_then(|c| c.services().first())
                .and_then(|s| s.client_aliases().first())
                .and_then(|a| a.dns_name().map(str::to_string));
            (
                d.status().unwrap_or_default().to_string(),
                names.map(|r| r.discovery_name().unwrap_or_default().to_string()).collect(),
                alias,
            )
        })
        .collect()
}

fn refusal(err: &AwsError) -> (&str, &str) {
    (err.code.as_str(), err.message.as_str())
}

#[tokio::test]
async fn a_deployment_shows_its_service_connect_and_the_cloud_map_service_ecs_made_for_it() {
    let w = World::new().await;
    let td = w.register().await;
    let (name, _, arn) = w.ns.clone();
    let created = w.create("api", &td, serving(&name, "api-http", "api.shop", 8080)).await.unwrap();

    let deployment = &created.deployments()[0];
    let config = deployment.service_connect_configuration().expect("on the deployment");
    assert!(config.enabled());
    assert_eq!(config.namespace(), Some(arn.as_str()), "a namespace named by name shows its ARN");
    assert_eq!(config.services()[0].port_name(), "http");
    let made = w.cloud_map().await;
    let tag = vec![("AmazonECSManaged".to_string(), "true".to_string())];
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!((made[0].0.as_str(), &made[0].2), ("api-http", &tag));
    let resource = &deployment.service_connect_resources()[0];
    assert_eq!(resource.discovery_name(), Some("api-http"));
    assert_eq!(resource.discovery_arn(), Some(made[0].1.as_str()));
    assert_eq!(connected(&w.describe("api").await), connected(&created));
}

#[tokio::test]
async fn a_client_only_service_shows_no_resources_and_enabled_false_is_no_service_connect() {
    let w = World::new().await;
    let td = w.register().await;
    let worker = w.create("worker", &td, client(&w.ns.2)).await.unwrap();
    let config = worker.deployments()[0].service_connect_configuration().unwrap();
    assert!(config.enabled() && config.services().is_empty());
    assert!(worker.deployments()[0].service_connect_resources().is_empty());

    let off = ServiceConnectConfiguration::builder().enabled(false).build();
    let plain = w.create("plain", &td, off).await.unwrap();
    assert!(plain.deployments()[0].service_connect_configuration().is_none());
    assert!(w.cloud_map().await.is_empty());
}

#[tokio::test]
async fn a_changed_configuration_starts_a_deployment_and_the_same_one_starts_none() {
    let w = World::new().await;
    let td = w.register().await;
    let ns = w.ns.2.clone();
    w.create("api", &td, serving(&ns, "api-http", "api.shop", 8080)).await.unwrap();
    tokio::time::sleep(MS(500)).await;

    let same = w.update("api", serving(&ns, "api-http", "api.shop", 8080)).await;
    assert_eq!(same.deployments().len(), 1);
    assert_eq!(w.layer.deployments_created("api"), 1);

    let renamed = w.update("api", serving(&ns, "api-http", "orders", 8080)).await;
    let want = |s: &str, dns: &str| (s.to_string(), vec!["api-http".to_string()], Some(dns.into()));
    assert_eq!(connected(&renamed), [want("PRIMARY", "orders"), want("ACTIVE", "api.shop")]);
    assert_eq!(w.layer.deployments_created("api"), 2);
    // A new task definition alone keeps the service's configuration.
    let td2 = w.register().await;
    let out = w.ecs.update_service().cluster(&w.cluster).service("api").task_definition(&td2);
    let moved = out.send().await.unwrap();
    assert_eq!(connected(moved.service().unwrap())[0], want("PRIMARY", "orders"));
    assert_eq!(w.cloud_map().await.len(), 1, "one Cloud Map service per discovery name");
}

#[tokio::test]
async fn a_dropped_discovery_name_leaves_cloud_map_once_the_old_deployment_has_drained() {
    // Slow enough that the old deployment is seen draining, however slow the machine.
    let w = World::with(Config { task_start: MS(1000), drain: MS(1000), ..fast() }).await;
    let td = w.register().await;
    let ns = w.ns.2.clone();
    w.create("api", &td, serving(&ns, "api-one", "api.shop", 8080)).await.unwrap();
    tokio::time::sleep(MS(1100)).await;

    let start = Instant::now();
    w.update("api", serving(&ns, "api-two", "api.shop", 8080)).await;
    let names = |all: Vec<CloudMapService>| {
        let mut names: Vec<String> = all.into_iter().map(|s| s.0).collect();
        names.sort();
        names
    };
    assert_eq!(names(w.cloud_map().await), ["api-one", "api-two"]);
    // The new tasks run after 1 s, the old deployment drains 1 s more.
    tokio::time::sleep_until((start + MS(2300)).into()).await;
    assert_eq!(names(w.cloud_map().await), ["api-two"]);
}

#[tokio::test]
async fn a_deleted_service_keeps_its_name_taken_while_draining_and_cloud_map_frees_it_once_inactive()
 {
    // Draining lasts long enough for the checks below, however slow the machine.
    let w = World::with(Config { service_draining: MS(2000), ..fast() }).await;
    let td = w.register().await;
    let ns = w.ns.2.clone();
    w.create("api", &td, serving(&ns, "api-http", "api.shop", 8080)).await.unwrap();
    w.ecs
        .update_service()
        .cluster(&w.cluster)
        .service("api")
        .desired_count(0)
        .send()
        .await
        .unwrap();
    let start = Instant::now();
    w.ecs.delete_service().cluster(&w.cluster).service("api").send().await.unwrap();

    let taken = w.create("api2", &td, serving(&ns, "api-http", "api2.shop", 8080)).await;
    let err = taken.unwrap_err();
    let message = format!("SC service is already used by {ns}");
    assert_eq!(refusal(&err), ("InvalidParameterException", message.as_str()));
    let early = w.map.delete_namespace().id(&w.ns.1).send().await;
    let err = AwsError::from_sdk("DeleteNamespace", early.unwrap_err());
    assert_eq!(err.code, "ResourceInUse");
    assert_eq!(w.cloud_map().await.len(), 1);

    tokio::time::sleep_until((start + MS(2200)).into()).await;
    assert!(w.cloud_map().await.is_empty(), "ECS removed it once the service was INACTIVE");
    w.create("api2", &td, serving(&ns, "api-http", "api2.shop", 8080)).await.unwrap();
}

#[tokio::test]
async fn a_client_alias_another_service_uses_in_the_namespace_is_refused() {
    let w = World::new().await;
    let td = w.register().await;
    let ns = w.ns.2.clone();
    w.create("api", &td, serving(&ns, "api-http", "api.shop", 8080)).await.unwrap();
    let err = w.create("copy", &td, serving(&ns, "copy-http", "api.shop", 8080)).await;
    assert_eq!(err.unwrap_err().code, "InvalidParameterException");
    w.create("copy", &td, serving(&ns, "copy-http", "api.shop", 8081)).await.unwrap();
}

#[tokio::test]
async fn an_unknown_namespace_is_refused_by_name_or_arn() {
    let w = World::new().await;
    let td = w.register().await;
    let err = w.create("api", &td, client("nowhere.internal")).await.unwrap_err();
    assert_eq!(
        refusal(&err),
        ("NamespaceNotFoundException", "Failed to retrieve namespace for nowhere.internal")
    );
    let gone = w.ns.2.replace(&w.ns.1, "ns-00000000000000000000");
    let err = w.create("api", &td, client(&gone)).await.unwrap_err();
    assert_eq!(err.code, "NamespaceNotFoundException");
    assert_eq!(w.layer.count("CreateService"), 0, "refused before ECS creates anything");
}

#[tokio::test]
async fn a_port_name_the_task_definition_does_not_map_is_refused() {
    let w = World::new().await;
    let td = w.register().await;
    let alias = ServiceConnectClientAlias::builder().port(9000).build().unwrap();
    let served =
        ServiceConnectService::builder().port_name("admin").client_aliases(alias).build().unwrap();
    let config = ServiceConnectConfiguration::builder()
        .enabled(true)
        .namespace(&w.ns.2)
        .services(served)
        .build();
    let err = w.create("api", &td, config).await.unwrap_err();
    assert_eq!(
        refusal(&err),
        (
            "InvalidParameterException",
            "portName(admin) does not refer to any named PortMapping in the container definitions"
        )
    );
}

#[tokio::test]
async fn a_served_port_needs_exactly_one_client_alias_with_a_port() {
    let w = World::new().await;
    let td = w.register().await;
    let alias =
        |dns: &str| ServiceConnectClientAlias::builder().port(8080).dns_name(dns).build().unwrap();
    let two = ServiceConnectService::builder()
        .port_name("http")
        .client_aliases(alias("a"))
        .client_aliases(alias("b"))
        .build()
        .unwrap();
    let none = ServiceConnectService::builder().port_name("http").build().unwrap();
    for served in [two, none] {
        let config = ServiceConnectConfiguration::builder()
            .enabled(true)
            .namespace(&w.ns.2)
            .services(served);
        let err = w.create("api", &td, config.build()).await.unwrap_err();
        assert_eq!(
            refusal(&err),
            ("InvalidParameterException", "clientAliases must have 1 element.")
        );
    }
    // The SDK insists on a port; a hand-written request may leave it out.
    let body = serde_json::json!({
        "cluster": w.cluster, "serviceName": "api", "taskDefinition": td, "desiredCount": 1,
        "serviceConnectConfiguration": { "enabled": true, "namespace": w.ns.2,
            "services": [{ "portName": "http", "clientAliases": [{ "dnsName": "api" }] }] },
    });
    let (status, answer) = raw_ecs(&w.layer, "CreateService", &body.to_string());
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("InvalidParameterException"), "{answer}");
    assert_eq!(w.layer.count("CreateService"), 0);
}

/// One ECS JSON request written by hand: the status and the body.
fn raw_ecs(layer: &Layer, operation: &str, body: &str) -> (u16, String) {
    let address = layer.endpoint().trim_start_matches("http://").to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\n\
         X-Amz-Target: AmazonEC2ContainerServiceV20141113.{operation}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/ecs/aws4_request, \
         SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}
