//! The HTTP core every service client is built on: one connection pool, the token for the
//! root's audience, timeouts, retries with `Retry-After`, the run's deadline, pacing hooks,
//! paging, bounded bodies, error bodies and request-ids. Owns the wire; must not know any
//! service's routes, quotas or shapes (those come in through [`Pacing`], [`Reread`] and
//! the hint function).
//!
//! - Every request has a connect timeout and a total timeout (default 10 s and 100 s, as
//!   Graph's SDKs); the run's deadline bounds retrying and the time inside a request.
//! - Retries are decided per operation ([`Replay`]): statuses 408, 429, 500, 502, 503, 504
//!   are retried for repeatable and re-readable operations, whatever the body; an operation
//!   that may have happened and cannot be re-read is only re-sent when it surely never
//!   arrived (refused connection) or was refused unprocessed (429).
//! - Before anything has answered in this run, a refused connection, a DNS failure or an
//!   unreachable network ends the request within about 10 s with a network hint; after
//!   that, they are retried with backoff until the deadline (a network drop during a long
//!   apply must not end it).
//! - Redirects are never followed (reqwest's redirect policy is `none`): a 3xx becomes
//!   [`ServiceError::Redirect`], its `Location` kept as a [`SecretUrl`].
//! - Every wait of 3 s or more, and every request without an answer for 10 s, is told to
//!   the [`WaitReporter`].

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::auth::TokenProvider;
use super::body::{self, BodyError};
use super::error::{ApiError, ServiceError};
use super::redact::{self, server_bytes, server_text, HEADER_CHARS, MESSAGE_CHARS};
use super::retry::{self, Replay};
use super::root::{host_of, route, shown, Audience, SecretUrl, ServiceRoot};
use super::wait::{self, WaitEvent, WaitReason, WaitReporter};

/// Tunables of a [`Core`].
#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff step when the service gives no `Retry-After` (divided by the pacer's
    /// time scale).
    pub backoff_base: Duration,
    /// Longest single wait.
    pub max_wait: Duration,
    /// Time to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Total time of one request, body included.
    pub request_timeout: Duration,
    /// The run's deadline, from the core's creation.
    pub deadline: Option<Duration>,
    /// Largest response body accepted, in bytes.
    pub max_body_bytes: u64,
    /// How long a request keeps trying to reach a service that has not answered anything
    /// in this run yet (refused connections, DNS failures) before it gives up.
    pub first_contact: Duration,
    /// Bounds of paging.
    pub paging: PagingLimits,
    /// After this long without an answer, a request in flight is reported (then again
    /// every twice as long).
    pub no_answer_after: Duration,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions {
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            max_wait: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(100),
            deadline: Some(Duration::from_secs(24 * 3600)),
            max_body_bytes: body::MAX_BODY_BYTES,
            first_contact: Duration::from_secs(10),
            paging: PagingLimits::default(),
            no_answer_after: wait::NO_ANSWER_AFTER,
        }
    }
}

/// When paging stops because the collection cannot explain the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagingLimits {
    /// Empty pages in a row that still carry a next-page link (Graph sends a few while a
    /// directory replicates; default 100).
    pub max_empty_in_a_row: u64,
    /// Pages of one collection (default 100,000: 99.9 million objects at 999 a page).
    pub max_pages: u64,
    /// Items of one collection (default 10 million).
    pub max_items: u64,
}

impl Default for PagingLimits {
    fn default() -> Self {
        PagingLimits {
            max_empty_in_a_row: 100,
            max_pages: 100_000,
            max_items: 10_000_000,
        }
    }
}

/// Client-side pacing at a service's quotas, implemented by the service client.
pub trait Pacing: Send + Sync {
    /// Reserves room for `count` requests `method path_and_query`; returns when they may
    /// be sent.
    fn reserve(&self, method: &str, path_and_query: &str, count: u32) -> Instant;
    /// The service answered 429 to `n` requests like `method path_and_query`.
    fn throttled(&self, method: &str, path_and_query: &str, retry_after: Option<Duration>, n: u64);
    /// How much faster than real time the quotas (and backoff) run.
    fn time_scale(&self) -> f64 {
        1.0
    }
}

/// How a service re-reads a write whose outcome is unknown ([`Replay::RereadFirst`]).
#[async_trait::async_trait]
pub trait Reread: Send + Sync {
    /// `true` when the resource at `url` already carries what `body` writes; any failure
    /// answers `false`.
    async fn already_applied(&self, core: &Core, url: &Url, body: &Value) -> bool;
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The JSON body, `None` for 204 and empty bodies.
    pub body: Option<Value>,
    /// The service's `request-id` (redacted, escaped, bounded).
    pub request_id: Option<String>,
    /// The `Location` header as sent (a long-running operation's status URL on a 202);
    /// resolve it with [`SecretUrl::resolve`] before following it.
    pub location: Option<String>,
    /// The `Retry-After` header (seconds or HTTP-date), bounded.
    pub retry_after: Option<Duration>,
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

/// One HTTP answer, before it is judged. Server text in it is already made safe.
pub(crate) struct RawAnswer {
    pub(crate) status: StatusCode,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) content_type: Option<String>,
    pub(crate) location: Option<String>,
    /// The body: whole for 2xx (within the bound), the first 64 KiB otherwise.
    pub(crate) bytes: Vec<u8>,
}

/// Why no HTTP answer came.
pub(crate) struct TransportFailure {
    pub(crate) message: String,
    /// `true` when the request may have reached the service (not a refused connection).
    pub(crate) maybe_sent: bool,
    /// `true` for failures to connect at all (refused, DNS, unreachable, connect timeout).
    pub(crate) connect: bool,
    /// `true` when the request timed out (a wait that long is always reported).
    pub(crate) timeout: bool,
}

/// Turns an [`ApiError`] into what to do next (the service client's knowledge).
pub type HintFn = fn(&ApiError) -> Option<String>;

/// What every worker of a service client shares: the connection pool, the token provider,
/// the pacing hook, the counters, the cancellation token and the wait reporter.
pub struct Core {
    http: reqwest::Client,
    root: ServiceRoot,
    tokens: Arc<dyn TokenProvider>,
    pub(crate) options: CoreOptions,
    pacer: Option<Arc<dyn Pacing>>,
    hints: HintFn,
    deadline: Option<Instant>,
    pub(crate) counters: Counters,
    /// Set once any HTTP answer came in this run (the service is reachable).
    answered: AtomicBool,
    cancel: Mutex<Option<CancellationToken>>,
    reporter: Mutex<Option<Arc<dyn WaitReporter>>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("root", &self.root.url().as_str())
            .field("auth", &self.tokens.kind())
            .finish_non_exhaustive()
    }
}

/// `Err` with a plain explanation when `value` (named `what`, e.g. "the access token")
/// cannot travel in an HTTP header as it is: a CR, an LF, another control character, a
/// space or a non-ASCII character. Never shows the value.
///
/// # Errors
/// [`ServiceError::Local`], never retried.
pub fn check_header_value(what: &str, value: &str) -> Result<(), ServiceError> {
    if value.is_empty() {
        return Err(ServiceError::Local(format!("{what} is empty")));
    }
    for (i, c) in value.chars().enumerate() {
        let pos = i + 1;
        let problem = match c {
            '\r' if pos == value.chars().count() => format!(
                "{what} ends with a carriage return; was the file saved with Windows line endings?"
            ),
            '\r' => format!(
                "{what} contains a carriage return (character {pos}); was the file saved with Windows line endings?"
            ),
            '\n' => format!(
                "{what} contains a line feed (character {pos}); remove the trailing newline (e.g. from `echo` or a file)"
            ),
            ' ' | '\t' => format!("{what} contains white space (character {pos}); copy it again without spaces"),
            c if c.is_ascii_graphic() => continue,
            c => format!(
                "{what} contains a character that cannot be sent in an HTTP header (U+{:04X}, character {pos})",
                c as u32
            ),
        };
        return Err(ServiceError::Local(problem));
    }
    Ok(())
}

fn transport_message(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    // reqwest's Display names the URL; a link's query may be a secret, so drop it.
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let next = s.to_string();
        if !msg.contains(&next) {
            msg.push_str(": ");
            msg.push_str(&next);
        }
        src = s.source();
    }
    if timeout && !msg.contains("timed out") {
        msg.push_str(" (timed out)");
    }
    redact::escape_and_bound(&redact::redact(&msg), MESSAGE_CHARS)
}

fn network_hint(audience: Audience) -> &'static str {
    match audience {
        Audience::Graph => {
            "--graph-url / --cloud, the network, and any proxy (HTTPS_PROXY, NO_PROXY)"
        }
        _ => "the service URL, the network, and any proxy (HTTPS_PROXY, NO_PROXY)",
    }
}

impl Core {
    /// A core for `root`, signing with `tokens` for the root's audience, pacing through
    /// `pacer`, explaining errors with `hints`.
    ///
    /// # Errors
    /// [`ServiceError::Local`] when the HTTP client (TLS) cannot be set up.
    pub fn new(
        root: ServiceRoot,
        tokens: Arc<dyn TokenProvider>,
        options: CoreOptions,
        pacer: Option<Arc<dyn Pacing>>,
        hints: HintFn,
    ) -> Result<Core, ServiceError> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("closeout/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the Authorization header elsewhere: never followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ServiceError::Local(format!(
                    "cannot set up the HTTPS client (TLS configuration): {}",
                    transport_message(e)
                ))
            })?;
        Ok(Core {
            http,
            root,
            tokens,
            pacer,
            hints,
            deadline: options.deadline.map(|d| Instant::now() + d),
            options,
            counters: Counters::default(),
            answered: AtomicBool::new(false),
            cancel: Mutex::new(None),
            reporter: Mutex::new(None),
        })
    }

    /// The service root.
    pub fn root(&self) -> &ServiceRoot {
        &self.root
    }

    /// A current access token for the root's audience, for reading its claims (the
    /// permission pre-check). Never log or store it.
    pub async fn access_token(&self) -> Result<super::auth::Bearer, super::auth::AuthError> {
        self.tokens.token(self.root.audience()).await
    }

    /// What this core sent and received so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            http_requests: g(&c.http_requests),
            batches: g(&c.batches),
            batch_items: g(&c.batch_items),
            throttled: g(&c.throttled),
            retries: g(&c.retries),
        }
    }

    /// Sets the cancellation token (Ctrl-C): waits end early and requests fail with
    /// [`ServiceError::Cancelled`] before their next attempt.
    pub fn set_cancellation(&self, token: CancellationToken) {
        *self
            .cancel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(token);
    }

    /// Sets who hears about waits.
    pub fn set_wait_reporter(&self, reporter: Arc<dyn WaitReporter>) {
        *self
            .reporter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reporter);
    }

    fn report(&self, event: WaitEvent) {
        let r = self
            .reporter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(r) = r {
            r.waiting(&event);
        }
    }

    /// Reports a wait of `duration` when it is long enough to be noticed.
    pub(crate) fn report_wait(
        &self,
        duration: Duration,
        reason: WaitReason,
        attempt: Option<(u32, u32)>,
    ) {
        if duration >= wait::REPORT_WAITS_OVER {
            self.report(WaitEvent {
                duration,
                reason,
                attempt,
            });
        }
    }

    /// Resolves a path closeout composed (`/v1.0/users`) or a URL, under the URL policy.
    pub fn url_for(&self, path_or_url: &str) -> Result<Url, ServiceError> {
        self.root.join(path_or_url)
    }

    fn time_scale(&self) -> f64 {
        self.pacer.as_ref().map_or(1.0, |p| p.time_scale())
    }

    /// Full-jitter exponential backoff for `attempt`, scaled like the pacer.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.backoff_base.div_f64(self.time_scale());
        retry::backoff(base, attempt, self.options.max_wait)
    }

    /// `Err` naming the request and its last error when waiting `wait` would pass the
    /// run's deadline.
    pub(crate) fn check_deadline(
        &self,
        wait: Duration,
        method: &str,
        path: &str,
        last: &dyn Fn() -> String,
    ) -> Result<(), ServiceError> {
        if let Some(d) = self.deadline {
            if Instant::now() + wait > d {
                return Err(ServiceError::Deadline {
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

    /// [`ServiceError::Cancelled`] once the cancellation token fired.
    pub(crate) fn check_cancelled(&self, what: &str) -> Result<(), ServiceError> {
        match self.cancel_token() {
            Some(t) if t.is_cancelled() => Err(ServiceError::Cancelled {
                what: what.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Waits until `until`, or less when the cancellation token fires.
    async fn sleep_until(&self, until: Instant, what: &str) -> Result<(), ServiceError> {
        self.check_cancelled(what)?;
        match self.cancel_token() {
            None => {
                tokio::time::sleep_until(until).await;
                Ok(())
            }
            Some(t) => tokio::select! {
                () = tokio::time::sleep_until(until) => Ok(()),
                () = t.cancelled() => Err(ServiceError::Cancelled { what: what.to_string() }),
            },
        }
    }

    /// Waits `duration`, or less when the cancellation token fires.
    ///
    /// # Errors
    /// [`ServiceError::Cancelled`] (naming `what`) when cancelled before or during the wait.
    pub async fn pause(&self, duration: Duration, what: &str) -> Result<(), ServiceError> {
        self.sleep_until(Instant::now() + duration, what).await
    }

    /// Waits for the pacer's room for `count` requests like `method path` (cancellable;
    /// a long wait is reported).
    pub(crate) async fn pace(
        &self,
        method: &str,
        path: &str,
        count: u32,
        what: &str,
    ) -> Result<(), ServiceError> {
        let Some(p) = &self.pacer else {
            return self.check_cancelled(what);
        };
        let at = p.reserve(method, path, count);
        let wait = at.saturating_duration_since(Instant::now());
        // A pause the service asked for (a huge Retry-After, shared by every worker) is
        // bounded by the run's deadline like any other wait.
        self.check_deadline(wait, method, path, &|| {
            format!(
                "the service asked closeout to pause {} s, past the run's deadline",
                wait.as_secs()
            )
        })?;
        self.report_wait(
            wait,
            WaitReason::Pacing {
                service: self.root.audience().name(),
            },
            None,
        );
        self.sleep_until(at, what).await
    }

    /// Tells the pacer about 429 answers.
    pub(crate) fn throttled(
        &self,
        method: &str,
        path: &str,
        retry_after: Option<Duration>,
        n: u64,
    ) {
        Counters::bump(&self.counters.throttled, n);
        if let Some(p) = &self.pacer {
            p.throttled(method, path, retry_after, n);
        }
    }

    /// Runs `exchange` (one request on the wire) while reporting a missing answer every
    /// so often, and stopping at the run's deadline.
    async fn watch<T>(
        &self,
        exchange: impl std::future::Future<Output = T>,
        host: &str,
        what: &str,
    ) -> Result<T, ServiceError> {
        tokio::pin!(exchange);
        let started = Instant::now();
        let every = self.options.no_answer_after.max(Duration::from_millis(10));
        let mut next = started + every;
        let far = started + Duration::from_secs(365 * 24 * 3600);
        let deadline = self.deadline.unwrap_or(far);
        loop {
            tokio::select! {
                out = &mut exchange => return Ok(out),
                () = tokio::time::sleep_until(next) => {
                    self.report(WaitEvent {
                        duration: Duration::ZERO,
                        reason: WaitReason::InFlight {
                            host: host.to_string(),
                            elapsed: started.elapsed(),
                            timeout: self.options.request_timeout,
                        },
                        attempt: None,
                    });
                    next += every * 2;
                }
                () = tokio::time::sleep_until(deadline) => {
                    let (method, path) = what.split_once(' ').unwrap_or((what, ""));
                    return Err(ServiceError::Deadline {
                        method: method.to_string(),
                        path: path.to_string(),
                        last: format!("still waiting for an answer from {host} after {} s", started.elapsed().as_secs()),
                    });
                }
            }
        }
    }

    /// Sends one HTTP request once, with the audience's token: no pacing, no retry.
    /// `Ok(Err(_))` when no HTTP answer came.
    pub(crate) async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        client_request_id: &str,
    ) -> Result<Result<RawAnswer, TransportFailure>, ServiceError> {
        if !self.root.admits(url) {
            // Defence in depth: every URL reaching here was judged already.
            return Err(ServiceError::OffService {
                service: self.root.audience().name(),
                what: "URL",
                host: host_of(url),
                root: self.root.host(),
            });
        }
        let token = self
            .tokens
            .token(self.root.audience())
            .await
            .map_err(ServiceError::Auth)?;
        check_header_value("the access token", token.secret())?;
        redact::register_secret(token.secret());
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
        let what = format!("{method} {}", shown(url));
        let limit = self.options.max_body_bytes;
        let exchange = async {
            let resp = req.send().await?;
            Ok::<_, reqwest::Error>(resp)
        };
        let resp = match self.watch(exchange, &self.root.host(), &what).await? {
            Ok(r) => r,
            Err(e) => {
                let connect = e.is_connect();
                let timeout = e.is_timeout();
                return Ok(Err(TransportFailure {
                    maybe_sent: !connect,
                    connect,
                    timeout,
                    message: transport_message(e),
                }));
            }
        };
        self.answered.store(true, Ordering::Relaxed);
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        // Graph's `request-id`; Azure Resource Manager's `x-ms-request-id` (its
        // `x-ms-correlation-request-id` when that is all there is).
        let request_id = header("request-id")
            .or_else(|| header("x-ms-request-id"))
            // Partner Center's (https://learn.microsoft.com/en-us/partner-center/developer/headers).
            .or_else(|| header("ms-requestid"))
            .or_else(|| header("x-ms-correlation-request-id"))
            .map(|v| server_text(&v, HEADER_CHARS));
        let retry_after = header("retry-after").and_then(|v| retry::parse_retry_after(&v));
        let content_type = header("content-type").map(|v| server_text(&v, HEADER_CHARS));
        let location = header("location");
        let success = status.is_success();
        let (bound, truncate) = if success {
            (limit, false)
        } else {
            (body::MAX_ERROR_BODY_BYTES, true)
        };
        match self
            .watch(
                body::read_bounded(resp, bound, truncate),
                &self.root.host(),
                &what,
            )
            .await?
        {
            Ok(bytes) => Ok(Ok(RawAnswer {
                status,
                request_id,
                retry_after,
                content_type,
                location,
                bytes,
            })),
            Err(BodyError::TooLarge) => Err(ServiceError::BodyTooLarge {
                method: method.to_string(),
                route: route(url),
                limit,
            }),
            Err(BodyError::Transport(e)) => Ok(Err(TransportFailure {
                maybe_sent: true,
                connect: false,
                timeout: e.is_timeout(),
                message: transport_message(e),
            })),
        }
    }

    /// Sends one request with pacing and retries (see the module documentation). `replay`
    /// says whether the operation may be sent again; `reread` re-reads a
    /// [`Replay::RereadFirst`] write whose outcome is unknown.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        replay: Replay,
        reread: Option<&dyn Reread>,
    ) -> Result<Response, ServiceError> {
        let path = shown(url);
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let max = self.options.max_attempts;
        let service = self.root.audience().name();
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        // The last attempt may have executed (lost answer, 5xx).
        let mut outcome_unknown = false;
        let mut last_error = String::new();
        let first_started = Instant::now();
        loop {
            attempt += 1;
            if attempt > 1 {
                Counters::bump(&self.counters.retries, 1);
                if outcome_unknown && replay == Replay::RereadFirst {
                    if let (Some(r), Some(b)) = (reread, body) {
                        if r.already_applied(self, url, b).await {
                            return Ok(Response {
                                status: 204,
                                body: None,
                                request_id: None,
                                location: None,
                                retry_after: None,
                            });
                        }
                    }
                }
            }
            self.check_deadline(Duration::ZERO, method.as_str(), &path, &|| {
                last_error.clone()
            })?;
            let what = format!("{method} {path}");
            self.pace(method.as_str(), &path, 1, &what).await?;
            let answer = self
                .send_once(&method, url, body, headers, &client_request_id)
                .await?;
            let answer = match answer {
                Ok(a) => a,
                Err(failure) => {
                    last_error = format!("no answer: {}", failure.message);
                    let first_contact = failure.connect && !self.answered.load(Ordering::Relaxed);
                    if first_contact {
                        // Nothing has answered yet: most likely a wrong URL or network.
                        let wait = Duration::from_millis(500 * u64::from(attempt.min(4)));
                        if first_started.elapsed() + wait >= self.options.first_contact {
                            return Err(ServiceError::Network {
                                host: self.root.host(),
                                message: failure.message,
                                hint: network_hint(self.root.audience()),
                            });
                        }
                        self.pause(wait, &what).await?;
                        continue;
                    }
                    let may_resend = match replay {
                        Replay::Repeatable | Replay::RereadFirst => true,
                        Replay::Once => !failure.maybe_sent,
                    };
                    // A dropped network is waited out until the deadline.
                    if may_resend && (attempt < max || failure.connect) {
                        outcome_unknown |= failure.maybe_sent;
                        let wait = self.backoff(attempt.min(max));
                        self.check_deadline(wait, method.as_str(), &path, &|| last_error.clone())?;
                        let reason = WaitReason::NoAnswer {
                            host: self.root.host(),
                            what: failure.message.clone(),
                        };
                        if failure.timeout {
                            // A whole request timeout passed in silence: always say so.
                            self.report(WaitEvent {
                                duration: wait,
                                reason,
                                attempt: Some((attempt, max)),
                            });
                        } else {
                            self.report_wait(wait, reason, Some((attempt, max)));
                        }
                        self.pause(wait, &what).await?;
                        continue;
                    }
                    return Err(ServiceError::Transport {
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
                        body::parse_json(&answer.bytes).map_err(|m| ServiceError::Decode {
                            method: method.to_string(),
                            path: path.clone(),
                            message: m,
                        })?,
                    )
                };
                return Ok(Response {
                    status: status.as_u16(),
                    body,
                    request_id: answer.request_id,
                    location: answer.location,
                    retry_after: answer.retry_after,
                });
            }
            if status.is_redirection() {
                let location = answer
                    .location
                    .as_deref()
                    .and_then(|l| SecretUrl::resolve(&self.root, l).ok());
                return Err(ServiceError::Redirect {
                    method: method.to_string(),
                    path,
                    status: status.as_u16(),
                    target: location.as_ref().map_or_else(
                        || "an invalid or missing Location".to_string(),
                        SecretUrl::host,
                    ),
                    location: location.map(Box::new),
                });
            }
            let api_error =
                |attempts| self.api_error(&method, &path, &answer, &client_request_id, attempts);
            if status == StatusCode::UNAUTHORIZED && !reauthenticated && self.tokens.refreshes() {
                // The token may have been revoked or expired early: get a new one once.
                reauthenticated = true;
                self.tokens.invalidate(self.root.audience()).await;
                attempt -= 1;
                continue;
            }
            let code = status.as_u16();
            if code == 429 {
                self.throttled(method.as_str(), &path, answer.retry_after, 1);
            }
            let may_resend = match replay {
                Replay::Repeatable | Replay::RereadFirst => retry::retryable_status(code),
                Replay::Once => retry::unprocessed_status(code),
            };
            if may_resend && attempt < max {
                outcome_unknown |= !retry::unprocessed_status(code);
                let wait = answer
                    .retry_after
                    .unwrap_or_else(|| self.backoff(attempt))
                    .min(self.options.max_wait);
                let err = api_error(attempt);
                last_error = err.to_string();
                self.check_deadline(wait, method.as_str(), &path, &|| last_error.clone())?;
                self.report_wait(
                    wait,
                    WaitReason::Answered {
                        service,
                        status: code,
                        code: err.code().unwrap_or_default().to_string(),
                    },
                    Some((attempt, max)),
                );
                self.pause(wait, &what).await?;
                continue;
            }
            return Err(api_error(attempt));
        }
    }

    /// The error a person sees for a non-2xx answer. A JSON error body gives `error.code`,
    /// `error.message` and `innerError`'s request-id; an HTML page (a gateway's) or other
    /// text is described, never parsed as the service's error. Everything is redacted,
    /// escaped and bounded.
    pub(crate) fn api_error(
        &self,
        method: &Method,
        path: &str,
        answer: &RawAnswer,
        client_request_id: &str,
        attempts: u32,
    ) -> ServiceError {
        let bytes = &answer.bytes;
        let ct = answer
            .content_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let trimmed = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(&bytes[..0], |i| &bytes[i..]);
        let looks_json = ct.contains("json") || trimmed.first() == Some(&b'{');
        let parsed = if looks_json {
            body::parse_json(bytes).ok()
        } else {
            None
        };
        match parsed {
            Some(v) if v.get("error").is_some() => self.api_error_from_value(
                method.as_str(),
                path,
                answer.status.as_u16(),
                &v,
                answer.request_id.clone(),
                client_request_id,
                attempts,
            ),
            _ => {
                let message = if bytes.is_empty() {
                    String::new()
                } else if ct.contains("html") || trimmed.first() == Some(&b'<') {
                    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(8192)]);
                    let lower = text.to_ascii_lowercase();
                    let title = lower
                        .find("<title>")
                        .and_then(|s| lower[s + 7..].find("</title>").map(|e| (s + 7, s + 7 + e)))
                        .map(|(s, e)| format!(": \"{}\"", server_text(text[s..e].trim(), 120)))
                        .unwrap_or_default();
                    format!(
                        "the answer was an HTML page ({} bytes), not the service's JSON error{title}",
                        bytes.len()
                    )
                } else {
                    server_bytes(bytes, MESSAGE_CHARS)
                };
                self.finish(ApiError {
                    method: method.to_string(),
                    path: path.to_string(),
                    status: answer.status.as_u16(),
                    code: reason_code(answer.status.as_u16()),
                    message,
                    request_id: answer.request_id.clone(),
                    client_request_id: client_request_id.to_string(),
                    attempts,
                    hint: None,
                })
            }
        }
    }

    /// The error from an already parsed body (`$batch` items carry theirs as JSON).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn api_error_from_value(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
        request_id: Option<String>,
        client_request_id: &str,
        attempts: u32,
    ) -> ServiceError {
        let err = &body["error"];
        let text = |x: &Value, max| x.as_str().map(|s| server_text(s, max));
        let inner = if err["innerError"].is_object() {
            &err["innerError"]
        } else {
            &err["innererror"]
        };
        self.finish(ApiError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            code: text(&err["code"], 100).unwrap_or_else(|| reason_code(status)),
            message: text(&err["message"], MESSAGE_CHARS).unwrap_or_default(),
            request_id: request_id.or_else(|| text(&inner["request-id"], HEADER_CHARS)),
            client_request_id: client_request_id.to_string(),
            attempts,
            hint: None,
        })
    }

    fn finish(&self, mut api: ApiError) -> ServiceError {
        api.hint = (self.hints)(&api);
        ServiceError::Api(Box::new(api))
    }

    /// `GET`s a collection page by page from `path` (a path closeout composed), following
    /// the link under `next_key` (`@odata.nextLink` for Graph, `nextLink` for ARM) under
    /// the URL policy, handing each page's `value` items to `each`. Stops with an error on
    /// a repeated link ([`ServiceError::PagingLoop`]) and on pages the collection cannot
    /// explain ([`ServiceError::PagingRunaway`], see [`PagingLimits`]).
    pub async fn for_each_page(
        &self,
        path: &str,
        next_key: &'static str,
        headers: &[(&str, &str)],
        mut each: impl FnMut(Vec<Value>) -> Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        let limits = self.options.paging;
        let mut url = self.url_for(path)?;
        let mut seen: HashSet<u64> = HashSet::new();
        let (mut pages, mut items, mut empty_in_a_row) = (0u64, 0u64, 0u64);
        loop {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            url.as_str().hash(&mut h);
            if !seen.insert(h.finish()) {
                return Err(ServiceError::PagingLoop {
                    path: path.to_string(),
                    next: shown(&url),
                });
            }
            let runaway = |pages, items, reason: String| ServiceError::PagingRunaway {
                path: path.to_string(),
                pages,
                items,
                reason,
            };
            if pages >= limits.max_pages {
                return Err(runaway(
                    pages,
                    items,
                    format!("more than {} pages", limits.max_pages),
                ));
            }
            let page = self
                .send(Method::GET, &url, None, headers, Replay::Repeatable, None)
                .await?
                .body;
            pages += 1;
            let decode = |m: &str| ServiceError::Decode {
                method: "GET".into(),
                path: shown(&url),
                message: m.to_string(),
            };
            let Some(mut page) = page else {
                return Err(decode("empty body for a collection"));
            };
            let next = match page.get(next_key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(self.root.follow(s, next_key)?),
                Some(_) => return Err(decode(&format!("{next_key} is not a string"))),
            };
            let list = match page.get_mut("value").map(Value::take) {
                Some(Value::Array(list)) => list,
                _ => return Err(decode("no 'value' array in a collection response")),
            };
            items += list.len() as u64;
            empty_in_a_row = if list.is_empty() {
                empty_in_a_row + 1
            } else {
                0
            };
            each(list)?;
            let Some(next) = next else {
                return Ok(());
            };
            if items > limits.max_items {
                return Err(runaway(
                    pages,
                    items,
                    format!("more than {} items", limits.max_items),
                ));
            }
            if empty_in_a_row >= limits.max_empty_in_a_row {
                return Err(runaway(
                    pages,
                    items,
                    format!("{empty_in_a_row} empty pages in a row, each with another {next_key}"),
                ));
            }
            url = next;
        }
    }

    /// Fetches a pre-authenticated download link a service handed out (the one exception
    /// to the URL policy): `GET` without any `Authorization` header or client-request-id,
    /// body bounded like every other, retried on transient statuses. The URL is a secret:
    /// errors name its host only.
    ///
    /// # Errors
    /// [`ServiceError::Api`] (path shown as the host), [`ServiceError::Transport`],
    /// [`ServiceError::BodyTooLarge`], [`ServiceError::Redirect`].
    pub async fn download(&self, link: &SecretUrl) -> Result<Vec<u8>, ServiceError> {
        let host = link.host();
        let shown_as = format!("(download link on {host})");
        let max = self.options.max_attempts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.check_deadline(Duration::ZERO, "GET", &shown_as, &String::new)?;
            let what = format!("GET {shown_as}");
            let exchange = self.http.get(link.expose().clone()).send();
            let failure = match self.watch(exchange, &host, &what).await? {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        return match self
                            .watch(
                                body::read_bounded(resp, self.options.max_body_bytes, false),
                                &host,
                                &what,
                            )
                            .await?
                        {
                            Ok(b) => Ok(b),
                            Err(BodyError::TooLarge) => Err(ServiceError::BodyTooLarge {
                                method: "GET".into(),
                                route: shown_as,
                                limit: self.options.max_body_bytes,
                            }),
                            Err(BodyError::Transport(e)) => Err(ServiceError::Transport {
                                method: "GET".into(),
                                path: shown_as,
                                message: transport_message(e),
                                attempts: attempt,
                                maybe_executed: true,
                            }),
                        };
                    }
                    if status.is_redirection() {
                        return Err(ServiceError::Redirect {
                            method: "GET".into(),
                            path: shown_as,
                            status: status.as_u16(),
                            target: "another location".into(),
                            location: None,
                        });
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry::parse_retry_after);
                    let bytes = body::read_bounded(resp, body::MAX_ERROR_BODY_BYTES, true)
                        .await
                        .unwrap_or_default();
                    if retry::retryable_status(status.as_u16()) && attempt < max {
                        let wait = retry_after
                            .unwrap_or_else(|| self.backoff(attempt))
                            .min(self.options.max_wait);
                        self.pause(wait, &what).await?;
                        continue;
                    }
                    return Err(self.finish(ApiError {
                        method: "GET".into(),
                        path: shown_as,
                        status: status.as_u16(),
                        code: reason_code(status.as_u16()),
                        message: server_bytes(&bytes, MESSAGE_CHARS),
                        request_id: None,
                        client_request_id: String::new(),
                        attempts: attempt,
                        hint: None,
                    }));
                }
                Err(e) => e,
            };
            let message = transport_message(failure);
            if attempt >= max {
                return Err(ServiceError::Transport {
                    method: "GET".into(),
                    path: shown_as,
                    message,
                    attempts: attempt,
                    maybe_executed: true,
                });
            }
            let wait = self.backoff(attempt);
            self.pause(wait, &what).await?;
        }
    }

    /// Host of a URL, for messages.
    pub fn host_of(url: &Url) -> String {
        host_of(url)
    }
}

/// The status's reason phrase without spaces (`BadGateway`), the code of an error whose
/// body names none.
fn reason_code(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("")
        .replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_that_cannot_be_sent_are_explained() {
        let e = check_header_value("the access token", "abc.def\r").unwrap_err();
        assert!(e.to_string().contains("Windows line endings"), "{e}");
        let e = check_header_value("the access token", "abc\ndef").unwrap_err();
        assert!(e.to_string().contains("line feed"), "{e}");
        let e = check_header_value("the access token", "abcé").unwrap_err();
        assert!(e.to_string().contains("U+00E9"), "{e}");
        assert!(!e.to_string().contains("abc"), "{e}");
        assert!(check_header_value("the access token", "eyJ.abc-_~+/=").is_ok());
    }
}
