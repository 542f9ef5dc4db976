//! The HTTP client: authentication header, pacing, retries, paging; hands concurrent
//! writes to the `$batch` writer ([`super::batch`]).
//!
//! Retries follow Microsoft's throttling guidance
//! (<https://learn.microsoft.com/en-us/graph/throttling>): 429 waits `Retry-After`
//! (seconds, fractional accepted); 503 and 504 wait it when present, else exponential
//! backoff with full jitter; connection resets and timeouts are retried for idempotent
//! requests. Every request has an attempt cap and the client a deadline for the whole run;
//! giving up names the request and the last error. A 429'd or timed-out write may still
//! have executed, so a `PATCH` whose outcome is unknown is re-read before it is sent again,
//! and a non-idempotent `POST` is never sent twice.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::auth::TokenProvider;
use super::batch::{BatchJob, Batcher};
use super::error::{ApiError, GraphError};
use super::pacing::{cost_of, Cost, Pacer, PacingConfig};

/// Tunables of a [`GraphClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Attempts per request (and per `$batch` item), the first included (default 10).
    pub max_attempts: u32,
    /// First backoff step when Graph gives no `Retry-After` (default 1 s of Graph time:
    /// divided by the pacing time scale).
    pub backoff_base: Duration,
    /// Longest single wait (default 120 s).
    pub max_wait: Duration,
    /// Per-request timeout (default 60 s).
    pub request_timeout: Duration,
    /// The whole run's deadline, from the client's creation (default 24 h); a request that
    /// would wait past it gives up instead.
    pub deadline: Option<Duration>,
    /// Client-side pacing at Graph's quotas; `None` = off (no quotas to respect, e.g. a
    /// simulator without throttling).
    pub pacing: Option<PacingConfig>,
    /// Writes sent together in one `POST /$batch` (1 = no batching, at most 20; default 20).
    pub batch_size: usize,
    /// How long a write waits for others to share its `$batch` (default 5 ms).
    pub batch_linger: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            max_wait: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            deadline: Some(Duration::from_secs(24 * 3600)),
            pacing: Some(PacingConfig::default()),
            batch_size: super::batch::MAX_BATCH,
            batch_linger: Duration::from_millis(5),
        }
    }
}

/// A successful Graph answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The JSON body, `None` for 204 and empty bodies.
    pub body: Option<Value>,
    pub request_id: Option<String>,
}

/// Counters of what a client sent and received (HTTP requests on the wire; a `$batch` is
/// one request carrying several items).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, `$batch` envelopes included.
    pub http_requests: u64,
    /// `$batch` envelopes sent.
    pub batches: u64,
    /// Items sent inside `$batch` envelopes.
    pub batch_items: u64,
    /// 429 answers received (top-level and per item).
    pub throttled: u64,
    /// Retries of any kind (top-level and per item).
    pub retries: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) http_requests: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) batch_items: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) retries: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// One HTTP answer, before it is judged.
pub(crate) struct RawAnswer {
    pub(crate) status: StatusCode,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) bytes: Vec<u8>,
}

/// Why no HTTP answer came.
pub(crate) struct TransportFailure {
    pub(crate) message: String,
    /// `true` when the request may have reached Graph (not a refused connection).
    pub(crate) maybe_sent: bool,
}

/// What every worker shares: the connection pool, the token provider, the pacer.
pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) base: Url,
    tokens: Arc<dyn TokenProvider>,
    pub(crate) options: ClientOptions,
    pub(crate) pacer: Option<Pacer>,
    deadline: Option<Instant>,
    pub(crate) counters: Counters,
    /// Cancels waits (`Retry-After`, backoff, pacing) and stops new attempts (Ctrl-C).
    cancel: std::sync::Mutex<Option<CancellationToken>>,
}

/// A Microsoft Graph client bound to one service root (e.g. `https://graph.microsoft.com`).
/// Clones share the connection pool, the token, the pacer and the `$batch` writer.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
    batcher: Option<Batcher>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base.as_str())
            .field("auth", &self.inner.tokens.kind())
            .finish_non_exhaustive()
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Path and query of `url`, as errors show it.
pub(crate) fn shown(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_string(),
    }
}

/// `true` when the query needs `ConsistencyLevel: eventual` (advanced queries:
/// <https://learn.microsoft.com/en-us/graph/aad-advanced-queries>).
pub fn needs_eventual_consistency(path_and_query: &str) -> bool {
    let Some((_, q)) = path_and_query.split_once('?') else {
        return false;
    };
    let q = q.replace("%24", "$").to_ascii_lowercase();
    q.contains("$count=true")
        || q.contains("$search=")
        || q.contains("endswith(")
        || q.contains("%20ne%20")
        || q.contains(" ne ")
        || q.contains("not(")
}

impl GraphClient {
    /// A client for the Graph service root `base_url`, signing requests with `tokens`.
    /// Call it inside a Tokio runtime: the `$batch` writer runs as a task (without a
    /// runtime, writes are sent one by one).
    ///
    /// # Errors
    /// [`GraphError::BadUrl`] for an unparsable URL, or plain `http://` anywhere but loopback.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn TokenProvider>,
        options: ClientOptions,
    ) -> Result<GraphClient, GraphError> {
        let bad = |reason: &str| GraphError::BadUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let mut base = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) => {}
            "http" => {
                return Err(bad(
                    "plain http is only allowed on loopback (127.0.0.1, localhost)",
                ))
            }
            _ => return Err(bad("only https URLs are allowed")),
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(bad("credentials in the URL are not allowed; use --auth"));
        }
        base.set_query(None);
        base.set_fragment(None);
        let trimmed = base.path().trim_end_matches('/').to_string();
        base.set_path(&trimmed);
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .user_agent(concat!("closeout/", env!("CARGO_PKG_VERSION")))
            // Redirects would carry the Authorization header elsewhere; Graph sends none.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        let batch_size = options.batch_size.min(super::batch::MAX_BATCH);
        let linger = options.batch_linger;
        let inner = Arc::new(Inner {
            http,
            base,
            tokens,
            pacer: options.pacing.clone().map(Pacer::new),
            deadline: options.deadline.map(|d| Instant::now() + d),
            options,
            counters: Counters::default(),
            cancel: std::sync::Mutex::new(None),
        });
        let batcher = (batch_size > 1 && tokio::runtime::Handle::try_current().is_ok())
            .then(|| Batcher::start(Arc::clone(&inner), batch_size, linger));
        Ok(GraphClient { inner, batcher })
    }

    /// A current access token of this client's credential, for reading its claims (the
    /// permission pre-check). Never log or store it.
    pub async fn access_token(&self) -> Result<super::auth::Bearer, super::auth::AuthError> {
        self.inner.tokens.token().await
    }

    /// The service root, e.g. `https://graph.microsoft.com`.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// What this client sent and received so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            http_requests: g(&c.http_requests),
            batches: g(&c.batches),
            batch_items: g(&c.batch_items),
            throttled: g(&c.throttled),
            retries: g(&c.retries),
        }
    }

    /// Sizes the pacer's resource-unit quota for a tenant of `users` users.
    pub fn set_tenant_users(&self, users: usize) {
        if let Some(p) = &self.inner.pacer {
            p.set_tenant_users(users);
        }
    }

    /// `GET` one resource.
    pub async fn get(&self, path: &str) -> Result<Value, GraphError> {
        let r = self.request(Method::GET, path, None).await?;
        r.body.ok_or_else(|| GraphError::Decode {
            method: "GET".into(),
            path: path.to_string(),
            message: "empty body".into(),
        })
    }

    /// `GET` a collection, following `@odata.nextLink` (an opaque URL) until it is absent.
    /// Queries that need `ConsistencyLevel: eventual` (`$count=true`, `$search`, `ne`,
    /// `endsWith`, `not`) send it on every page. Empty pages are accepted; a nextLink that
    /// repeats a page already read stops with [`GraphError::PagingLoop`].
    /// <https://learn.microsoft.com/en-us/graph/paging>
    pub async fn get_all(&self, path: &str) -> Result<Vec<Value>, GraphError> {
        self.get_all_with(path, needs_eventual_consistency(path))
            .await
    }

    /// [`GraphClient::get_all`], sending `ConsistencyLevel: eventual` on every page when
    /// `eventual`.
    pub async fn get_all_with(&self, path: &str, eventual: bool) -> Result<Vec<Value>, GraphError> {
        let mut out = Vec::new();
        self.for_each_page(path, eventual, |items| {
            out.extend(items);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Like [`GraphClient::get_all_with`], but hands each page's items to `each` as the page
    /// arrives (a large tenant is then never held as raw JSON all at once). `each` gets the
    /// page's path (for messages) and its items; an error from it stops the paging.
    pub async fn for_each_page(
        &self,
        path: &str,
        eventual: bool,
        mut each: impl FnMut(Vec<Value>) -> Result<(), GraphError>,
    ) -> Result<(), GraphError> {
        let headers: &[(&str, &str)] = if eventual {
            &[("ConsistencyLevel", "eventual")]
        } else {
            &[]
        };
        let mut next = Some(path.to_string());
        let mut seen = HashSet::new();
        while let Some(p) = next.take() {
            if !seen.insert(p.clone()) {
                return Err(GraphError::PagingLoop {
                    path: path.to_string(),
                    next: p,
                });
            }
            let url = self.url_for(&p)?;
            let page = self
                .inner
                .send(Method::GET, &url, None, headers)
                .await?
                .body;
            let decode = |m: &str| GraphError::Decode {
                method: "GET".into(),
                path: shown(&url),
                message: m.to_string(),
            };
            let Some(mut page) = page else {
                return Err(decode("empty body for a collection"));
            };
            next = match page.get("@odata.nextLink") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(decode("@odata.nextLink is not a string")),
            };
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => each(items)?,
                _ => return Err(decode("no 'value' array in a collection response")),
            }
        }
        Ok(())
    }

    fn url_for(&self, path_or_url: &str) -> Result<Url, GraphError> {
        self.inner.url_for(path_or_url)
    }

    /// This client (and its clones) with a cancellation token: waits (`Retry-After`,
    /// backoff, pacing) end early and requests fail with [`GraphError::Cancelled`] before
    /// their next attempt once `token` is cancelled. A request already on the wire is left
    /// to settle.
    pub fn with_cancellation(self, token: CancellationToken) -> GraphClient {
        *self
            .inner
            .cancel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
        self
    }

    /// Waits `duration`, or less when the client's cancellation token fires.
    ///
    /// # Errors
    /// [`GraphError::Cancelled`] (naming `what`) when cancelled before or during the wait.
    pub async fn pause(&self, duration: Duration, what: &str) -> Result<(), GraphError> {
        self.inner.pause(duration, what).await
    }

    /// Sends one request, paced and retried. Concurrent `DELETE` and `PATCH` requests are
    /// sent together in `$batch` requests of up to 20 (except Conditional Access, which
    /// Graph limits to one request per second); each caller gets its own answer as if it
    /// had been sent alone. Non-2xx answers become [`GraphError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, GraphError> {
        let url = self.url_for(path)?;
        if let Some(batcher) = &self.batcher {
            if let Some(job) = BatchJob::for_request(&self.inner.base, &method, &url, body) {
                return batcher.submit(job).await;
            }
        }
        self.inner.send(method, &url, body, &[]).await
    }
}

impl Inner {
    pub(crate) fn url_for(&self, path_or_url: &str) -> Result<Url, GraphError> {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            let url = Url::parse(path_or_url).map_err(|e| GraphError::BadUrl {
                url: path_or_url.to_string(),
                reason: e.to_string(),
            })?;
            // nextLinks are followed as opaque URLs, but only on the same service: the
            // token must never go anywhere else.
            if url.origin() != self.base.origin() {
                return Err(GraphError::BadUrl {
                    url: shown(&url),
                    reason: format!("not on the Graph service {}", self.base),
                });
            }
            return Ok(url);
        }
        let joined = format!(
            "{}{}",
            self.base.as_str().trim_end_matches('/'),
            path_or_url
        );
        Url::parse(&joined).map_err(|e| GraphError::BadUrl {
            url: joined,
            reason: e.to_string(),
        })
    }

    /// Graph time of the backoff base, scaled like the pacer.
    fn time_scale(&self) -> f64 {
        self.pacer.as_ref().map_or(1.0, |p| p.config().time_scale)
    }

    /// Full-jitter exponential backoff: uniform in `[0, min(max_wait, base * 2^attempt))`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.backoff_base.div_f64(self.time_scale());
        let cap = base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.options.max_wait);
        let secs = rand::rng().random_range(0.0..=cap.as_secs_f64().max(0.001));
        Duration::from_secs_f64(secs)
    }

    /// `Err` naming the request and its last error when waiting `wait` would pass the
    /// run's deadline.
    pub(crate) fn check_deadline(
        &self,
        wait: Duration,
        method: &str,
        path: &str,
        last: &dyn Fn() -> String,
    ) -> Result<(), GraphError> {
        if let Some(d) = self.deadline {
            if Instant::now() + wait > d {
                return Err(GraphError::Deadline {
                    method: method.to_string(),
                    path: path.to_string(),
                    last: last(),
                });
            }
        }
        Ok(())
    }

    fn cancel_token(&self) -> Option<CancellationToken> {
        self.cancel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// [`GraphError::Cancelled`] once the client's cancellation token fired.
    pub(crate) fn check_cancelled(&self, what: &str) -> Result<(), GraphError> {
        match self.cancel_token() {
            Some(t) if t.is_cancelled() => Err(GraphError::Cancelled {
                what: what.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Waits `duration`, or less when the cancellation token fires.
    ///
    /// # Errors
    /// [`GraphError::Cancelled`] (naming `what`) when cancelled before or during the wait.
    pub(crate) async fn pause(&self, duration: Duration, what: &str) -> Result<(), GraphError> {
        self.check_cancelled(what)?;
        match self.cancel_token() {
            None => {
                tokio::time::sleep(duration).await;
                Ok(())
            }
            Some(t) => tokio::select! {
                () = tokio::time::sleep(duration) => Ok(()),
                () = t.cancelled() => Err(GraphError::Cancelled { what: what.to_string() }),
            },
        }
    }

    /// Waits for the pacer's room for `count` requests of `cost` (cancellable).
    pub(crate) async fn pace(&self, cost: Cost, count: u32, what: &str) -> Result<(), GraphError> {
        let Some(p) = &self.pacer else {
            return self.check_cancelled(what);
        };
        match self.cancel_token() {
            None => {
                p.acquire(cost, count).await;
                Ok(())
            }
            Some(t) => tokio::select! {
                () = p.acquire(cost, count) => Ok(()),
                () = t.cancelled() => Err(GraphError::Cancelled { what: what.to_string() }),
            },
        }
    }

    pub(crate) fn throttled(&self, cost: Cost, retry_after: Option<Duration>, n: u64) {
        Counters::bump(&self.counters.throttled, n);
        if let Some(p) = &self.pacer {
            p.throttled(cost, retry_after);
        }
    }

    /// Sends one HTTP request once: no pacing, no retry.
    pub(crate) async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        client_request_id: &str,
    ) -> Result<Result<RawAnswer, TransportFailure>, GraphError> {
        let token = self.tokens.token().await.map_err(GraphError::Auth)?;
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.secret())
            .header("client-request-id", client_request_id)
            .header("return-client-request-id", "true")
            .header("Accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Counters::bump(&self.counters.http_requests, 1);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(TransportFailure {
                    maybe_sent: !e.is_connect(),
                    message: transport_message(&e),
                }))
            }
        };
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("request-id");
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        match resp.bytes().await {
            Ok(bytes) => Ok(Ok(RawAnswer {
                bytes: if status.is_success() {
                    bytes.to_vec()
                } else {
                    // An error body is shown to people: a proxy or a misbehaving endpoint
                    // that echoes the request must not get the token onto the screen.
                    redact(&bytes, token.secret())
                },
                status,
                request_id,
                retry_after,
            })),
            Err(e) => Ok(Err(TransportFailure {
                maybe_sent: true,
                message: transport_message(&e),
            })),
        }
    }

    /// Sends one request with pacing and retries (see the module documentation).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response, GraphError> {
        let path = shown(url);
        let cost = cost_of(method.as_str(), &path);
        let client_request_id = uuid::Uuid::new_v4().to_string();
        // POST creates or triggers: never sent twice unless it surely never arrived.
        let idempotent = method != Method::POST;
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        // The last attempt may have executed (lost answer, 429, 503/504).
        let mut outcome_unknown = false;
        let mut last_error = String::new();
        loop {
            attempt += 1;
            if attempt > 1 {
                Counters::bump(&self.counters.retries, 1);
                if outcome_unknown && method == Method::PATCH {
                    if let Some(body) = body {
                        if self.patch_already_applied(url, body).await {
                            return Ok(Response {
                                status: 204,
                                body: None,
                                request_id: None,
                            });
                        }
                    }
                }
            }
            self.check_deadline(Duration::ZERO, method.as_str(), &path, &|| {
                last_error.clone()
            })?;
            let what = format!("{method} {path}");
            self.pace(cost, 1, &what).await?;
            let answer = self
                .send_once(&method, url, body, headers, &client_request_id)
                .await?;
            let answer = match answer {
                Ok(a) => a,
                Err(failure) => {
                    let retry =
                        (idempotent || !failure.maybe_sent) && attempt < self.options.max_attempts;
                    last_error = format!("no answer: {}", failure.message);
                    if retry {
                        outcome_unknown |= failure.maybe_sent;
                        let wait = self.backoff(attempt);
                        self.check_deadline(wait, method.as_str(), &path, &|| last_error.clone())?;
                        self.pause(wait, &what).await?;
                        continue;
                    }
                    return Err(GraphError::Transport {
                        method: method.to_string(),
                        path,
                        message: failure.message,
                        attempts: attempt,
                        maybe_executed: failure.maybe_sent,
                    });
                }
            };
            let status = answer.status;
            if status.is_success() {
                let body = if answer.bytes.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::from_slice(&answer.bytes).map_err(|e| GraphError::Decode {
                            method: method.to_string(),
                            path: path.clone(),
                            message: e.to_string(),
                        })?,
                    )
                };
                return Ok(Response {
                    status: status.as_u16(),
                    body,
                    request_id: answer.request_id,
                });
            }
            let api_error = || {
                api_error_from(
                    &method,
                    &path,
                    status.as_u16(),
                    &answer.bytes,
                    answer.request_id.clone(),
                    &client_request_id,
                    attempt,
                )
            };
            if status == StatusCode::UNAUTHORIZED && !reauthenticated && self.tokens.refreshes() {
                // The token may have been revoked or expired early: get a new one once.
                reauthenticated = true;
                self.tokens.invalidate().await;
                attempt -= 1;
                continue;
            }
            let throttled = status == StatusCode::TOO_MANY_REQUESTS;
            if throttled {
                self.throttled(cost, answer.retry_after, 1);
            }
            let retryable = throttled
                || status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::GATEWAY_TIMEOUT;
            if retryable && idempotent && attempt < self.options.max_attempts {
                outcome_unknown = true;
                let wait = answer
                    .retry_after
                    .unwrap_or_else(|| self.backoff(attempt))
                    .min(self.options.max_wait);
                last_error = api_error().to_string();
                self.check_deadline(wait, method.as_str(), &path, &|| last_error.clone())?;
                self.pause(wait, &what).await?;
                continue;
            }
            return Err(api_error());
        }
    }

    /// After an attempt whose outcome is unknown: does the resource already carry every
    /// property of the `PATCH` body? (A GET on the same path; any failure answers "no",
    /// and the PATCH is sent again, which is safe: its values are absolute.)
    pub(crate) async fn patch_already_applied(&self, url: &Url, body: &Value) -> bool {
        let Some(fields) = body.as_object() else {
            return false;
        };
        let mut read = url.clone();
        if read.query().is_none() && !fields.is_empty() {
            let select: Vec<&str> = fields.keys().map(String::as_str).collect();
            read.set_query(Some(&format!("$select={}", select.join(","))));
        }
        let crid = uuid::Uuid::new_v4().to_string();
        let cost = cost_of("GET", &shown(&read));
        if self.pace(cost, 1, "GET").await.is_err() {
            return false;
        }
        let Ok(Ok(answer)) = self.send_once(&Method::GET, &read, None, &[], &crid).await else {
            return false;
        };
        if !answer.status.is_success() {
            return false;
        }
        let Ok(live) = serde_json::from_slice::<Value>(&answer.bytes) else {
            return false;
        };
        fields.iter().all(|(k, want)| match (live.get(k), want) {
            (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), b) => a == b,
            (None, _) => false,
        })
    }
}

/// `bytes` with every occurrence of `secret` replaced by `<redacted>`.
fn redact(bytes: &[u8], secret: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    if secret.len() < 8 || !text.contains(secret) {
        return bytes.to_vec();
    }
    text.replace(secret, "<redacted>").into_bytes()
}

/// Parses `Retry-After` as (possibly fractional) seconds.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// Builds the error a person sees from Graph's error body.
pub(crate) fn api_error_from(
    method: &Method,
    path: &str,
    status: u16,
    bytes: &[u8],
    request_id: Option<String>,
    client_request_id: &str,
    attempts: u32,
) -> GraphError {
    let v = serde_json::from_slice::<Value>(bytes).unwrap_or(Value::Null);
    api_error_from_value(
        method.as_str(),
        path,
        status,
        &v,
        (!bytes.is_empty() && v.is_null()).then(|| String::from_utf8_lossy(bytes).into_owned()),
        request_id,
        client_request_id,
        attempts,
    )
}

/// Builds the error from an already parsed body (`$batch` items carry theirs as JSON).
#[allow(clippy::too_many_arguments)]
pub(crate) fn api_error_from_value(
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
    raw_text: Option<String>,
    request_id: Option<String>,
    client_request_id: &str,
    attempts: u32,
) -> GraphError {
    let err = &body["error"];
    let s = |x: &Value| x.as_str().map(str::to_string);
    let code = s(&err["code"]).unwrap_or_else(|| {
        StatusCode::from_u16(status)
            .ok()
            .and_then(|c| c.canonical_reason())
            .unwrap_or("")
            .replace(' ', "")
    });
    let message = s(&err["message"])
        .or_else(|| raw_text.map(|t| t.chars().take(200).collect()))
        .unwrap_or_default();
    GraphError::Api(Box::new(ApiError {
        method: method.to_string(),
        path: path.to_string(),
        status,
        code,
        message,
        request_id: request_id.or_else(|| s(&err["innerError"]["request-id"])),
        client_request_id: client_request_id.to_string(),
        attempts,
    }))
}

pub(crate) fn transport_message(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL (never the token); keep the chain short.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let next = s.to_string();
        if !msg.contains(&next) {
            msg.push_str(": ");
            msg.push_str(&next);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advanced_queries_are_recognised() {
        assert!(needs_eventual_consistency(
            "/v1.0/users?$count=true&$filter=endsWith(mail,'@x.com')"
        ));
        assert!(needs_eventual_consistency(
            "/v1.0/users?$search=\"displayName:a\""
        ));
        assert!(!needs_eventual_consistency(
            "/v1.0/users?$select=id&$top=999"
        ));
        assert!(!needs_eventual_consistency("/v1.0/users"));
    }

    #[test]
    fn retry_after_accepts_fractions() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.25 "),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
