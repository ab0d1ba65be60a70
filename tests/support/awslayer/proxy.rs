//! The proxy itself: accepts HTTP/1.1 connections, buffers each request, applies faults, then
//! throttling, then the service's behaviour (which may answer itself or forward to moto and
//! rewrite the answer), and records the call. Does IO: sockets to the client and to moto.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};

use super::{
    Call, Shared,
    faults::FaultKind,
    wire::{self, Reply, Req},
};

/// moto, as the layer reaches it.
pub struct Upstream {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    pub fn new(base: &str) -> Upstream {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Upstream { base: base.trim_end_matches('/').to_string(), client }
    }

    /// Sends `req` to moto as it is (all headers; moto checks no signatures).
    pub async fn send(&self, req: &Req) -> Reply {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(format!("{}{}", self.base, req.path_and_query));
        for (name, value) in &req.headers {
            if name != hyper::header::CONTENT_LENGTH {
                builder = builder.header(name, value);
            }
        }
        let request = match builder.body(Full::new(req.body.clone())) {
            Ok(request) => request,
            Err(e) => return wire::json_error(500, "InternalFailure", &format!("layer: {e}")),
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) => {
                return wire::json_error(
                    502,
                    "InternalFailure",
                    &format!("layer: moto unreachable: {e}"),
                );
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        Reply { status: parts.status.as_u16(), headers: parts.headers, body }
    }
}

impl Shared {
    /// Forwards a client's request to moto and counts it as reaching moto.
    pub async fn forward(&self, req: &Req) -> Reply {
        *self.lock().reached.entry(req.operation.clone()).or_default() += 1;
        self.upstream.send(req).await
    }

    /// A JSON 1.1 request of the layer's own to moto (not counted), signed like `like`.
    pub async fn ask_json(&self, like: &Req, target: &str, body: serde_json::Value) -> Reply {
        let mut headers = like.headers.clone();
        if let Ok(value) = target.parse() {
            headers.insert("x-amz-target", value);
        }
        let req = Req { body: Bytes::from(body.to_string()), headers, ..like.clone() };
        self.upstream.send(&req).await
    }

    /// A JSON 1.1 request of the layer's own to another of moto's services (not counted), signed
    /// like `like` but for `service` (moto routes by the credential scope).
    pub async fn ask_service(
        &self,
        like: &Req,
        service: &str,
        target: &str,
        body: serde_json::Value,
    ) -> Reply {
        let mut like = like.clone();
        rescope(&mut like.headers, service);
        self.ask_json(&like, target, body).await
    }

    /// A REST request of the layer's own to moto (not counted), without a body, signed like
    /// `like` but for `service`.
    pub async fn ask_rest(
        &self,
        like: &Req,
        service: &str,
        method: http::Method,
        path: &str,
    ) -> Reply {
        let mut headers = like.headers.clone();
        rescope(&mut headers, service);
        headers.remove("x-amz-target");
        headers.remove(hyper::header::CONTENT_TYPE);
        let req = Req {
            method,
            path_and_query: path.to_string(),
            headers,
            body: Bytes::new(),
            ..like.clone()
        };
        self.upstream.send(&req).await
    }

    /// A Query request of the layer's own to moto (not counted), signed like `like`.
    pub async fn ask_query(&self, like: &Req, params: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let req = Req { body: Bytes::from(body), ..like.clone() };
        self.upstream.send(&req).await
    }
}

/// Points the `Authorization` header's credential scope at `service`.
fn rescope(headers: &mut http::HeaderMap, service: &str) {
    let authorization = headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(value) = authorization.map(|a| wire::rescope(a, service))
        && let Ok(value) = value.parse()
    {
        headers.insert(hyper::header::AUTHORIZATION, value);
    }
}

/// The connection is closed without a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Serves until `stopped` fires (or its sender is dropped). Runs on the layer's own thread.
pub fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("aws-layer")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("starting the AWS layer runtime: {e}"),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => panic!("listening for the AWS layer: {e}"),
        };
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| handle(shared.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    });
    runtime.shutdown_background();
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    // The layer's own read-out, for scripts (the demo): deployments the operator started.
    if let Some(name) = parts.uri.path().strip_prefix("/_layer/deployments/") {
        let count = shared.lock().ecs.deployments_created(name);
        return Ok(Response::new(Full::new(Bytes::from(count.to_string()))));
    }
    // … and builds it started, per CodeBuild project.
    if let Some(project) = parts.uri.path().strip_prefix("/_layer/builds/") {
        let count = shared.lock().codebuild.summaries(project, Instant::now()).len();
        return Ok(Response::new(Full::new(Bytes::from(count.to_string()))));
    }
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let path_and_query =
        parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (service, operation) =
        wire::classify(&parts.method, &path_and_query, &parts.headers, &body);
    let req = Req {
        method: parts.method,
        path_and_query,
        headers: parts.headers,
        body,
        service,
        operation,
    };
    let at = shared.started.elapsed();
    let record = |status: u16, outcome: String| {
        shared.lock().calls.push(Call {
            service: req.service.clone(),
            operation: req.operation.clone(),
            status,
            outcome,
            at,
        });
    };

    let fault = shared.lock().faults.pick(&req.operation);
    match fault {
        Some(FaultKind::Reset) => {
            record(0, "fault".into());
            return Err(Dropped);
        }
        Some(FaultKind::Timeout(hold)) => {
            tokio::time::sleep(hold).await;
            record(0, "fault".into());
            return Err(Dropped);
        }
        Some(FaultKind::ServerError) => {
            let reply = wire::server_error(&req.service);
            record(reply.status, "fault".into());
            return Ok(to_response(reply));
        }
        Some(FaultKind::Throttle) => {
            shared.lock().throttled += 1;
            let reply = wire::throttled(&req.service);
            record(reply.status, "throttled".into());
            return Ok(to_response(reply));
        }
        Some(FaultKind::Latency(hold)) => tokio::time::sleep(hold).await,
        None => {}
    }

    let admitted = {
        let mut state = shared.lock();
        match state.config.throttle_scale {
            None => true,
            Some(scale) => {
                state.throttle.admit(&req.service, &req.operation, scale, Instant::now())
            }
        }
    };
    if !admitted {
        shared.lock().throttled += 1;
        let reply = wire::throttled(&req.service);
        record(reply.status, "throttled".into());
        return Ok(to_response(reply));
    }

    let reply = match req.service.as_str() {
        "ecs" => super::ecs::handle(&shared, &req).await,
        "elbv2" => super::elb::handle(&shared, &req).await,
        "secretsmanager" => super::secrets::handle(&shared, &req).await,
        "codebuild" => super::codebuild::handle(&shared, &req).await,
        "autoscaling" => super::autoscaling::handle(&shared, &req).await,
        "servicediscovery" => super::cloudmap::handle(&shared, &req).await,
        "acm" => super::acm::handle(&shared, &req).await,
        "route53" => super::route53::handle(&shared, &req).await,
        // What builds write and push shows there on time.
        "logs" | "ecr" => {
            super::build_effects::settle(&shared, &req).await;
            shared.forward(&req).await
        }
        _ => shared.forward(&req).await,
    };
    let outcome = match reply.error_code() {
        None if reply.is_success() => "ok".to_string(),
        None => format!("error:{}", reply.status),
        Some(code) => format!("error:{code}"),
    };
    record(reply.status, outcome);
    Ok(to_response(reply))
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    for (name, value) in &reply.headers {
        let skip = [
            hyper::header::CONTENT_LENGTH,
            hyper::header::TRANSFER_ENCODING,
            hyper::header::CONNECTION,
        ];
        if !skip.contains(name) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}
