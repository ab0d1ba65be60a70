//! The AWS behaviour layer's AWS Cloud Map (tests/support/awslayer `cloudmap`): real SDK clients
//! talk to moto through the layer, and each test shows one behaviour of real Cloud Map that moto
//! alone does not have. How ECS Service Connect uses Cloud Map: tests/aws_layer_connect.rs.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_servicediscovery::{
    Client,
    operation::create_http_namespace::CreateHttpNamespaceError,
    types::{FilterCondition, NamespaceFilter, NamespaceFilterName, OperationTargetType},
};
use byoc::aws::AwsError;
use support::awslayer::{Config, Layer};

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A Cloud Map client through a new layer (kept alive with it).
fn cloud_map() -> (Layer, Client) {
    let layer = Layer::start(&support::moto::endpoint(), Config::default());
    let client = Client::new(&layer.sdk_config());
    (layer, client)
}

/// Creates an HTTP namespace and returns its id.
async fn namespace(map: &Client, name: &str) -> String {
    let out = map.create_http_namespace().name(name).creator_request_id(unique("request"));
    let out = out.send().await.unwrap();
    let op = map.get_operation().operation_id(out.operation_id().unwrap()).send().await.unwrap();
    op.operation().unwrap().targets().unwrap()[&OperationTargetType::Namespace].clone()
}

#[tokio::test]
async fn create_http_namespace_refuses_a_taken_name_and_a_retried_request_creates_nothing_more() {
    let (_layer, map) = cloud_map();
    let name = unique("shop.internal");
    let first = map.create_http_namespace().name(&name).creator_request_id("req-1");
    let first = first.send().await.unwrap();
    let again = map.create_http_namespace().name(&name).creator_request_id("req-1");
    let again = again.send().await.unwrap();
    assert_eq!(first.operation_id(), again.operation_id());

    let other = map.create_http_namespace().name(&name).creator_request_id("req-2").send().await;
    let err = other.unwrap_err().into_service_error();
    let CreateHttpNamespaceError::NamespaceAlreadyExists(exists) = err else { panic!("{err:?}") };
    assert_eq!(exists.creator_request_id(), Some("req-1"));
    let listed = map.list_namespaces().send().await.unwrap();
    let same: Vec<_> = listed.namespaces().iter().filter(|n| n.name() == Some(&name)).collect();
    assert_eq!(same.len(), 1, "{listed:?}");
    assert_eq!(exists.namespace_id(), same[0].id());
}

#[tokio::test]
async fn list_namespaces_filters_each_page_as_cloud_map_pages_them() {
    let (_layer, map) = cloud_map();
    let prefix = unique("shop");
    for n in 0..4 {
        namespace(&map, &format!("{prefix}-{n}.internal")).await;
    }
    let wanted = format!("{prefix}-2.internal");
    let filter = NamespaceFilter::builder()
        .name(NamespaceFilterName::Name)
        .values(&wanted)
        .condition(FilterCondition::Eq)
        .build()
        .unwrap();
    let all = map.list_namespaces().filters(filter.clone()).send().await.unwrap();
    let names: Vec<_> = all.namespaces().iter().filter_map(|n| n.name()).collect();
    assert_eq!(names, [wanted.as_str()]);

    // One namespace a page: pages without a match still carry a NextToken.
    let (mut token, mut pages, mut found) = (None, Vec::new(), Vec::new());
    loop {
        let out = map.list_namespaces().filters(filter.clone()).max_results(1);
        let out = out.set_next_token(token).send().await.unwrap();
        pages.push(out.namespaces().len());
        found.extend(out.namespaces().iter().filter_map(|n| n.name().map(str::to_string)));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(found, [wanted]);
    assert_eq!(pages, [0, 0, 1, 0], "each page of one namespace is filtered on its own");
}

#[tokio::test]
async fn delete_namespace_is_refused_while_any_service_is_left_in_it() {
    let (_layer, map) = cloud_map();
    let id = namespace(&map, &unique("shop.internal")).await;
    let arn = map.get_namespace().id(&id).send().await.unwrap();
    let arn = arn.namespace().unwrap().arn().unwrap().to_string();
    let mine = map.create_service().name("by-hand").namespace_id(&id).send().await.unwrap();
    let err = map.delete_namespace().id(&arn).send().await.unwrap_err();
    let err = AwsError::from_sdk("DeleteNamespace", err);
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        (
            "ResourceInUse",
            "Namespace has associated services; delete the services before deleting the namespace"
        )
    );
    assert!(map.get_namespace().id(&id).send().await.is_ok(), "still there");
    let service = mine.service().unwrap().id().unwrap();
    map.delete_service().id(service).send().await.unwrap();
    map.delete_namespace().id(&arn).send().await.unwrap();
    assert!(map.get_namespace().id(&id).send().await.is_err());
}
