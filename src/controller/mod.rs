//! `byoc controller`: kube-runtime controllers for CloudAccount and CloudService, leader election,
//! health and metrics endpoints, graceful shutdown.
//!
//! A CloudAccount change re-reconciles its services; a change to a Secret referenced by a service
//! re-reconciles that service; status-only writes are filtered out (generation, finalizers and
//! annotations predicates), so the controller does not wake itself up.

mod account;
mod build;
mod claims;
mod context;
mod events;
mod leader;
mod preview;
mod service;
mod service_writes;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller, Predicate, WatchStreamExt,
        controller::{Action, Config as ControllerConfig},
        predicates, reflector,
        reflector::{ObjectRef, Store},
        watcher,
    },
};

pub use account::account_state;
pub use context::{Context, Settings, backoff};
pub use leader::{LeaderElector, LeaseConfig};
pub use service::SKIP_CLEANUP;

use crate::{
    api::{CloudAccount, CloudService},
    aws::AwsError,
    resources::EngineError,
    telemetry::{self, Metrics},
};

/// Why a reconcile failed (and will be retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Engine(EngineError),
    #[error("{0}")]
    Aws(AwsError),
}

/// Options of `byoc controller`.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Watched namespaces; empty watches all.
    pub namespaces: Vec<String>,
    pub concurrency: u16,
    pub health_addr: SocketAddr,
    pub leader_election: Option<LeaseConfig>,
    /// Only CloudAccounts with matching labels are handled (sharding several installations).
    pub account_selector: Option<String>,
}

fn error_policy<K: kube::Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = object_key(obj.as_ref());
    let delay = ctx.next_backoff(&key);
    tracing::warn!(object = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Parameters of our merge patches (finalizers): under our field manager, like every write.
fn merge_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(crate::api::FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// `namespace/name` (or `name` for cluster-scoped objects): the key of per-object backoff.
pub fn object_key<K: kube::Resource>(obj: &K) -> String {
    let meta = obj.meta();
    let name = meta.name.clone().unwrap_or_default();
    match &meta.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    }
}

/// Runs the controllers until SIGTERM/SIGINT (or lost leadership).
pub async fn run(client: Client, options: Options) -> Result<(), String> {
    let metrics = Arc::new(Metrics::default());
    let addr = telemetry::serve(options.health_addr, metrics.clone())
        .await
        .map_err(|e| format!("serving health endpoints on {}: {e}", options.health_addr))?;
    tracing::info!(%addr, "health and metrics endpoints up");
    let elector = options.leader_election.clone().map(|c| LeaderElector::new(client.clone(), c));
    if let Some(e) = &elector {
        tracing::info!("waiting for leadership");
        tokio::select! {
            _ = e.acquire() => {}
            _ = shutdown_signal() => return Ok(()),
        }
        tracing::info!("leading");
    }
    metrics.set_leader(true);
    let lost = async move {
        match &elector {
            Some(e) => e.keep().await,
            None => std::future::pending().await,
        }
    };
    let shutdown = async {
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("shutting down: finishing in-flight reconciles"),
            _ = lost => tracing::error!("leadership lost: stopping"),
        }
    };
    controllers(client.clone(), options.clone(), metrics, shutdown).await?;
    if let Some(config) = options.leader_election {
        LeaderElector::new(client, config).release().await;
        tracing::info!("lease released");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn watcher_config() -> watcher::Config {
    watcher::Config::default().any_semantic()
}

async fn controllers(
    client: Client,
    options: Options,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let service_apis: Vec<Api<CloudService>> = if options.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        options.namespaces.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect()
    };
    let account_config = match &options.account_selector {
        Some(selector) => watcher_config().labels(selector),
        None => watcher_config(),
    };
    let (account_reader, account_writer) = reflector::store();
    let (accounts_listed, accounts_ready) = tokio::sync::watch::channel(false);
    let mut listed = vec![accounts_ready];
    let account_stream = reflector(
        account_writer,
        watcher(Api::<CloudAccount>::all(client.clone()), account_config.clone()),
    )
    .inspect_ok(move |event| mark_listed(&accounts_listed, event))
    .inspect_err(watch_failed(&metrics, "CloudAccount"))
    .default_backoff()
    .touched_objects()
    .predicate_filter(predicates::generation.combine(predicates::annotations), Default::default());
    // Our own status writes change neither generation, finalizers nor annotations: filtered out.
    let service_controllers: Vec<Controller<CloudService>> = service_apis
        .iter()
        .map(|api| {
            let (reader, writer) = reflector::store();
            let (services_listed, services_ready) = tokio::sync::watch::channel(false);
            listed.push(services_ready);
            let stream = reflector(writer, watcher(api.clone(), watcher_config()))
                .inspect_ok(move |event| mark_listed(&services_listed, event))
                .inspect_err(watch_failed(&metrics, "CloudService"))
                .default_backoff()
                .touched_objects()
                .predicate_filter(
                    predicates::generation
                        .combine(predicates::finalizers)
                        .combine(predicates::annotations),
                    Default::default(),
                );
            Controller::for_stream(stream, reader)
        })
        .collect();
    let stores: Vec<Store<CloudService>> = service_controllers.iter().map(|c| c.store()).collect();
    let watched = stores.clone();
    metrics.known_services(move |namespace, name| {
        let key = ObjectRef::new(name).within(namespace);
        watched.iter().any(|store| store.get(&key).is_some())
    });
    let ctx = Arc::new(Context::new(
        client.clone(),
        options.settings.clone(),
        metrics.clone(),
        account_reader.clone(),
        stores,
        listed,
    ));

    let (shutdown_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    let config = ControllerConfig::default().concurrency(options.concurrency);
    for (i, controller) in service_controllers.into_iter().enumerate() {
        let namespace = options.namespaces.get(i).cloned();
        let accounts_ctx = ctx.clone();
        let secrets_ctx = ctx.clone();
        let secret_api: Api<PartialObjectMeta<Secret>> = match &namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let account_changes =
            watcher(Api::<CloudAccount>::all(client.clone()), account_config.clone())
                .inspect_err(watch_failed(&metrics, "CloudAccount"))
                .default_backoff()
                .touched_objects()
                .predicate_filter(predicates::generation, Default::default());
        let mut controller = controller
            .with_config(config.clone())
            .watches_stream(account_changes, move |account: CloudAccount| {
                services_of_account(&accounts_ctx, &account.name_any())
            });
        if options.settings.secret_env {
            let secret_changes = watcher(secret_api, watcher_config())
                .inspect_err(watch_failed(&metrics, "Secret"))
                .default_backoff()
                .touched_objects();
            controller = controller.watches_stream(secret_changes, move |secret| {
                services_using_secret(
                    &secrets_ctx,
                    &secret.namespace().unwrap_or_default(),
                    &secret.name_any(),
                )
            });
        }
        let mut rx = shutdown_tx.subscribe();
        let stream = controller
            .graceful_shutdown_on(async move {
                let _ = rx.recv().await;
            })
            .run(service::reconcile, error_policy, ctx.clone())
            .for_each(|_| async {});
        tasks.push(tokio::spawn(stream));
    }
    let mut rx = shutdown_tx.subscribe();
    let account_controller = Controller::for_stream(account_stream, account_reader)
        .with_config(config)
        .graceful_shutdown_on(async move {
            let _ = rx.recv().await;
        })
        .run(account::reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    tasks.push(tokio::spawn(account_controller));
    metrics.set_ready(true);
    shutdown.await;
    metrics.set_ready(false);
    let _ = shutdown_tx.send(());
    // Finish in-flight reconciles (their AWS calls), but do not wait for requeued work.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while metrics.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tracing::debug!(in_flight = metrics.in_flight(), "waiting for in-flight reconciles");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(in_flight = metrics.in_flight(), "stopping the controllers");
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Counts and logs an error of the watch stream of `kind`; the stream retries it with backoff.
fn watch_failed(metrics: &Arc<Metrics>, kind: &'static str) -> impl FnMut(&watcher::Error) + use<> {
    let metrics = metrics.clone();
    move |error| {
        metrics.watch_error(kind);
        tracing::warn!(kind, %error, "watch failed; retrying with backoff");
    }
}

/// Notes that a cache holds its first complete listing (the reflector has stored it by now).
fn mark_listed<K>(listed: &tokio::sync::watch::Sender<bool>, event: &watcher::Event<K>) {
    if matches!(event, watcher::Event::InitDone) {
        listed.send_replace(true);
    }
}

/// How long shutdown waits for in-flight reconciles.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

fn services_of_account(ctx: &Context, account: &str) -> Vec<ObjectRef<CloudService>> {
    ctx.all_services()
        .iter()
        .filter(|s| s.spec.account_ref.name == account)
        .map(|s| ObjectRef::from(s.as_ref()))
        .collect()
}

fn services_using_secret(
    ctx: &Context,
    namespace: &str,
    secret: &str,
) -> Vec<ObjectRef<CloudService>> {
    ctx.all_services()
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(namespace))
        .filter(|s| {
            s.spec
                .env
                .iter()
                .any(|e| e.value_from.as_ref().is_some_and(|v| v.secret_key_ref.name == secret))
        })
        .map(|s| ObjectRef::from(s.as_ref()))
        .collect()
}

/// Requeue interval while waiting for AWS.
pub const DEFAULT_WAITING: Duration = Duration::from_secs(10);
