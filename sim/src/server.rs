//! The loopback HTTP server, the top layer: accepts connections on 127.0.0.1, applies Graph's
//! transport behaviour (auth, request ids, faults, throttling), hands `$batch` to
//! [`crate::batch`], Graph requests to the router [`crate::graph`] and `/_sim/` calls to
//! [`crate::admin`], and records the request log. Nothing below imports it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;

use crate::config::SimConfig;
use crate::error::GraphError;
use crate::faults::{Fault, Faults};
use crate::graph;
use crate::state::{unix_ms, LogEntry, Shared};
use crate::store::Store;
use crate::throttle::{Admission, Throttle};
use crate::wire::{error_response, GraphRequest, GraphResponse, Ids};

/// Largest request body accepted (Graph rejects far smaller bodies for these endpoints).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A running graph-sim: a stand-in for `https://graph.microsoft.com` on `http://127.0.0.1:PORT`
/// (REST conventions: <https://learn.microsoft.com/graph/use-the-api>; errors:
/// <https://learn.microsoft.com/graph/errors>; throttling: <https://learn.microsoft.com/graph/throttling>).
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimServer {
    /// Binds `127.0.0.1:port` (0 = an ephemeral port) and serves `store` until
    /// [`SimServer::shutdown`]. `config.log_file`, when set, receives one JSON line per request.
    pub async fn start(store: Store, config: SimConfig, port: u16) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let log_file = match &config.log_file {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        let lag = (config.read_after_write_lag_ms > 0).then(|| {
            Duration::from_secs_f64(
                config.read_after_write_lag_ms as f64 / 1000.0 / config.time_scale(),
            )
        });
        store.configure(|t| {
            t.set_shuffle(config.shuffle_seed);
            t.lag = lag;
            t.commerce.config = crate::commerce::CommerceConfig::from_sim(&config);
        });
        let (users, tenant_id) = store.read(|t| (t.users.len(), t.tenant_id().to_string()));
        let shared = Arc::new(Shared {
            addr,
            throttle: Throttle::new(&config, users, &tenant_id),
            faults: Faults::new(&config),
            store,
            log: Mutex::new(Vec::new()),
            log_file,
        });
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), rx));
        Ok(SimServer {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The served tenant (shared: changes through Graph are visible here and vice versa).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Every Graph request answered so far, in order (admin `/_sim/` calls excluded).
    pub fn request_log(&self) -> Vec<LogEntry> {
        self.shared.log_snapshot()
    }

    /// Stops accepting, drops open connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let kill = Arc::new(Notify::new());
    let kill_in = kill.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let kill = kill_in.clone();
        async move { Ok::<_, Infallible>(respond(shared, req, kill).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        // A fault asked to drop the connection: closing the socket without a response.
        _ = kill.notified() => {}
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn to_http(resp: GraphResponse, ids: &Ids) -> Response<Full<Bytes>> {
    let body = match &resp.body {
        Some(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        None => Bytes::new(),
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    if resp.body.is_some() {
        h.insert(
            "content-type",
            HeaderValue::from_static(crate::wire::JSON_CONTENT_TYPE),
        );
    }
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    // Graph marks its answers uncacheable.
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    for (k, v) in [
        ("request-id", &ids.request_id),
        ("client-request-id", &ids.client_request_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    }
    for (k, v) in &resp.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    out
}

fn origin(headers: &HeaderMap, addr: SocketAddr) -> String {
    match header(headers, "host") {
        Some(host) => format!("http://{host}"),
        None => format!("http://{addr}"),
    }
}

async fn respond(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let ids = Ids::new(header(&parts.headers, "client-request-id"));
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let method = parts.method.as_str().to_ascii_uppercase();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            let e = GraphError::new(
                413,
                "Request_EntityTooLarge",
                "The request body is too large.",
            );
            return to_http(error_response(&e, &ids), &ids);
        }
    };

    if let Some(admin) = path.strip_prefix("/_sim/") {
        return to_http(crate::admin::handle(&shared, &method, admin), &ids);
    }

    let log = |status: u16| LogEntry {
        method: method.clone(),
        path: path_and_query.clone(),
        status,
        via_batch: false,
        unix_ms: unix_ms(),
    };

    // Commerce's time-driven changes (an operation that ran out its time, Graph catching up
    // with a cancellation) are due before any answer.
    shared.store.settle_commerce();

    // Partner Center and Microsoft.Billing, in the same process ([`crate::commerce`]).
    if let Some(service) = crate::commerce::service_of(&path) {
        let request = crate::commerce::CommerceRequest {
            method: &method,
            path: &path,
            query: raw_query.as_deref(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().ok()?.to_string(),
                    ))
                })
                .collect(),
            body: &body,
            origin: origin(&parts.headers, shared.addr),
        };
        let resp = crate::commerce::handle(&shared.store, service, &request);
        shared.record(log(resp.status));
        return to_http_plain(resp);
    }

    // Azure Resource Manager's routes, in the same process ([`crate::arm`]).
    let low = path.to_ascii_lowercase();
    if low == "/subscriptions"
        || low.starts_with("/subscriptions/")
        || low.starts_with("/providers/")
    {
        let resp = arm_request(
            &shared,
            &method,
            &path,
            raw_query.as_deref(),
            &parts.headers,
        );
        shared.record(log(resp.status));
        return to_http_arm(resp, &ids);
    }

    let fault = shared.faults.roll();
    match fault {
        Fault::None | Fault::LostResponse => {}
        Fault::Drop => {
            shared.record(log(0));
            kill.notify_one();
            return std::future::pending().await;
        }
        Fault::Status(status) => {
            let (code, message) = if status == 503 {
                (
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Try again later.",
                )
            } else {
                (
                    "gatewayTimeout",
                    "The gateway did not receive a timely response.",
                )
            };
            let mut resp = error_response(&GraphError::new(status, code, message), &ids);
            if let Some(ra) = shared.faults.retry_after() {
                resp.headers.push(("Retry-After".into(), ra));
            }
            shared.record(log(status));
            return to_http(resp, &ids);
        }
    }
    if let Some(delay) = shared.faults.latency() {
        tokio::time::sleep(delay).await;
    }

    let resp = graph_request(
        &shared,
        &method,
        &path,
        raw_query,
        &parts.headers,
        body,
        &ids,
    )
    .await;
    shared.record(log(resp.status));
    if fault == Fault::LostResponse {
        kill.notify_one();
        return std::future::pending().await;
    }
    to_http(resp, &ids)
}

/// An ARM answer: ARM's request-id headers (`x-ms-request-id`,
/// `x-ms-correlation-request-id`), not Graph's.
fn to_http_arm(resp: GraphResponse, ids: &Ids) -> Response<Full<Bytes>> {
    let body = match &resp.body {
        Some(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        None => Bytes::new(),
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    if resp.body.is_some() {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    for (k, v) in [
        ("x-ms-request-id", &ids.request_id),
        ("x-ms-correlation-request-id", &ids.client_request_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    }
    out
}

/// A commerce answer: JSON body (if any) and exactly the headers the service module set
/// (its own request ids: `MS-RequestId`/`MS-CorrelationId`, or ARM's `x-ms-request-id`).
fn to_http_plain(resp: GraphResponse) -> Response<Full<Bytes>> {
    let body = match &resp.body {
        Some(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        None => Bytes::new(),
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = out.headers_mut();
    if resp.body.is_some() {
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    for (k, v) in &resp.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    out
}

/// ARM: a bearer token for ARM's audience ([`crate::token::read_arm`]), then the route.
fn arm_request(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> GraphResponse {
    let err = |e: GraphError| GraphResponse {
        status: e.status,
        headers: Vec::new(),
        body: Some(serde_json::json!({"error": {"code": e.code, "message": e.message}})),
    };
    let token = header(headers, "authorization")
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return err(GraphError::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let grants = match crate::token::read_arm(token, unix_ms() / 1000) {
        Ok(g) => g,
        Err(e) => return err(e),
    };
    let request = crate::arm::ArmRequest {
        method,
        path,
        query,
        principal: grants.object_id.or(grants.app_id),
        origin: origin(headers, shared.addr),
    };
    let (answer, tenant_id) = shared.store.read(|t| {
        (
            crate::arm::route(&t.azure, t.tenant_id(), &request),
            t.tenant_id().to_string(),
        )
    });
    let _ = tenant_id;
    match answer {
        Ok(Ok(resp)) => resp,
        Ok(Err(crate::arm::ArmWrite::Cancel(id))) => {
            match shared.store.arm_cancel_azure_subscription(&id) {
                Ok(()) => GraphResponse::ok(serde_json::json!({ "value": id })),
                Err(e) => err(GraphError::new(409, "Conflict", e.to_string())),
            }
        }
        Err(e) => err(e),
    }
}

/// Auth, tenant existence, version, `$batch`, throttling, then the Graph surface.
async fn graph_request(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    raw_query: Option<String>,
    headers: &HeaderMap,
    body: Vec<u8>,
    ids: &Ids,
) -> GraphResponse {
    let token = header(headers, "authorization")
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if token.is_none() {
        let e = GraphError::new(401, "InvalidAuthenticationToken", "Access token is empty.");
        let mut r = error_response(&e, ids);
        r.headers.push((
            "WWW-Authenticate".into(),
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
        ));
        return r;
    }
    // Only JWT-shaped tokens are accepted (graph-sim does not verify signatures); their
    // `roles` and `wids` claims decide what the caller may do.
    let grants = match crate::token::read(token.unwrap_or_default(), unix_ms() / 1000) {
        Ok(g) => g,
        Err(e) => return error_response(&e, ids),
    };
    if shared.store.is_tenant_deleted() {
        let tenant = shared.store.read(|t| t.tenant_id().to_string());
        let e = GraphError::new(
            401,
            "OrganizationFromTenantGuidNotFound",
            format!("The tenant for tenant guid '{tenant}' does not exist."),
        );
        return error_response(&e, ids);
    }
    let rest = path.trim_start_matches('/');
    let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if version != "v1.0" && version != "beta" {
        return error_response(&GraphError::new(400, "BadRequest", "Invalid version."), ids);
    }
    let eventual =
        header(headers, "consistencylevel").is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let request = GraphRequest {
        method: method.to_string(),
        version: version.to_string(),
        path: rest.to_string(),
        query: raw_query,
        eventual,
        content_type: header(headers, "content-type").map(str::to_string),
        body,
        origin: origin(headers, shared.addr),
        grants,
    };
    if rest.eq_ignore_ascii_case("$batch") {
        if method != "POST" {
            return error_response(&GraphError::method_not_allowed(), ids);
        }
        return crate::batch::handle(shared, &request, ids).await;
    }
    let admitted = match shared
        .throttle
        .admit(method, &request.path, request.query.as_deref())
    {
        Admission::Throttled(t) => return t.response(ids),
        Admission::Admitted(a) => a,
    };
    let mut resp = match graph::handle(&shared.store, &request) {
        Ok(r) => r,
        Err(e) => error_response(&e, ids),
    };
    admitted.annotate(&mut resp);
    resp
}
