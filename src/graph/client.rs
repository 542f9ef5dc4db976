//! The HTTP client: one request at a time with retries; collections with paging.
//!
//! Retries follow Microsoft's throttling guidance
//! (<https://learn.microsoft.com/en-us/graph/throttling>): 429 waits `Retry-After`
//! (seconds, fractional accepted); 503 and 504 wait it when present, else exponential
//! backoff with full jitter; transport failures are retried for idempotent requests.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::error::{ApiError, GraphError};

/// A bearer token. Its `Debug` and `Display` never show the value.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> AccessToken {
        AccessToken(token.into())
    }
    fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Tunables of a [`GraphClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Attempts per request, the first included (default 8).
    pub max_attempts: u32,
    /// First backoff step when Graph gives no `Retry-After` (default 1 s).
    pub backoff_base: Duration,
    /// Longest single wait (default 120 s).
    pub max_wait: Duration,
    /// Per-request timeout (default 60 s).
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            max_wait: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
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

/// A Microsoft Graph client bound to one service root (e.g. `https://graph.microsoft.com`).
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: Url,
    token: AccessToken,
    options: ClientOptions,
    /// Cancels waits (`Retry-After`, backoff) and stops new attempts (Ctrl-C).
    cancel: Option<CancellationToken>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base.as_str())
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

impl GraphClient {
    /// A client for the Graph service root `base_url`.
    ///
    /// # Errors
    /// [`GraphError::BadUrl`] for an unparsable URL, or plain `http://` anywhere but loopback.
    pub fn new(
        base_url: &str,
        token: AccessToken,
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
        base.set_query(None);
        let trimmed = base.path().trim_end_matches('/').to_string();
        base.set_path(&trimmed);
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .user_agent(concat!("closeout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(GraphClient {
            http,
            base,
            token,
            options,
            cancel: None,
        })
    }

    /// The same client, whose waits (`Retry-After`, backoff) end at once and whose requests
    /// fail with [`GraphError::Cancelled`] before their next attempt once `token` is
    /// cancelled. A request already on the wire is left to settle.
    pub fn with_cancellation(mut self, token: CancellationToken) -> GraphClient {
        self.cancel = Some(token);
        self
    }

    /// Waits `duration`, or less when the client's cancellation token fires.
    ///
    /// # Errors
    /// [`GraphError::Cancelled`] (naming `what`) when cancelled before or during the wait.
    pub async fn pause(&self, duration: Duration, what: &str) -> Result<(), GraphError> {
        let cancelled = || GraphError::Cancelled {
            what: what.to_string(),
        };
        match &self.cancel {
            None => {
                tokio::time::sleep(duration).await;
                Ok(())
            }
            Some(t) if t.is_cancelled() => Err(cancelled()),
            Some(t) => tokio::select! {
                () = tokio::time::sleep(duration) => Ok(()),
                () = t.cancelled() => Err(cancelled()),
            },
        }
    }

    /// The service root, e.g. `https://graph.microsoft.com`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    fn url_for(&self, path_or_url: &str) -> Result<Url, GraphError> {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            let url = Url::parse(path_or_url).map_err(|e| GraphError::BadUrl {
                url: path_or_url.to_string(),
                reason: e.to_string(),
            })?;
            // nextLinks are followed as opaque URLs, but only on the same service.
            if url.origin() != self.base.origin() {
                return Err(GraphError::BadUrl {
                    url: path_or_url.to_string(),
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

    /// `GET` one resource.
    pub async fn get(&self, path: &str) -> Result<Value, GraphError> {
        let r = self.request(Method::GET, path, None).await?;
        r.body.ok_or_else(|| GraphError::Decode {
            method: "GET".into(),
            path: path.to_string(),
            message: "empty body".into(),
        })
    }

    /// `GET` a collection, following `@odata.nextLink` until it is absent.
    /// Empty pages are accepted; a repeated nextLink stops with [`GraphError::PagingLoop`].
    /// <https://learn.microsoft.com/en-us/graph/paging>
    pub async fn get_all(&self, path: &str) -> Result<Vec<Value>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        let mut seen = HashSet::new();
        while let Some(p) = next.take() {
            if !seen.insert(p.clone()) {
                return Err(GraphError::PagingLoop {
                    path: path.to_string(),
                    next: p,
                });
            }
            let mut page = self.get(&p).await?;
            let decode = |m: &str| GraphError::Decode {
                method: "GET".into(),
                path: p.clone(),
                message: m.to_string(),
            };
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => out.extend(items),
                _ => return Err(decode("no 'value' array in a collection response")),
            }
            next = match page.get("@odata.nextLink") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(decode("@odata.nextLink is not a string")),
            };
        }
        Ok(out)
    }

    /// Sends one request, retrying throttling and transient failures. Non-2xx answers
    /// become [`GraphError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, GraphError> {
        let url = self.url_for(path)?;
        let shown_path = match url.query() {
            Some(q) => format!("{}?{}", url.path(), q),
            None => url.path().to_string(),
        };
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let idempotent = method != Method::POST;
        let mut attempt = 0u32;
        let what = format!("{method} {shown_path}");
        loop {
            attempt += 1;
            if self
                .cancel
                .as_ref()
                .is_some_and(CancellationToken::is_cancelled)
            {
                return Err(GraphError::Cancelled { what });
            }
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.token.secret())
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true")
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let result = req.send().await;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    if idempotent && attempt < self.options.max_attempts {
                        self.pause(self.backoff(attempt), &what).await?;
                        continue;
                    }
                    return Err(GraphError::Transport {
                        method: method.to_string(),
                        path: shown_path,
                        message: transport_message(&e),
                        attempts: attempt,
                    });
                }
            };
            let status = resp.status();
            let request_id = resp
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    if idempotent && attempt < self.options.max_attempts {
                        self.pause(self.backoff(attempt), &what).await?;
                        continue;
                    }
                    return Err(GraphError::Transport {
                        method: method.to_string(),
                        path: shown_path,
                        message: transport_message(&e),
                        attempts: attempt,
                    });
                }
            };
            if status.is_success() {
                let body = if bytes.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::from_slice(&bytes).map_err(|e| GraphError::Decode {
                            method: method.to_string(),
                            path: shown_path.clone(),
                            message: e.to_string(),
                        })?,
                    )
                };
                return Ok(Response {
                    status: status.as_u16(),
                    body,
                    request_id,
                });
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::GATEWAY_TIMEOUT;
            if retryable && attempt < self.options.max_attempts {
                let wait = retry_after
                    .unwrap_or_else(|| self.backoff(attempt))
                    .min(self.options.max_wait);
                self.pause(wait, &what).await?;
                continue;
            }
            let (code, message, body_request_id) = parse_error_body(&bytes);
            return Err(GraphError::Api(Box::new(ApiError {
                method: method.to_string(),
                path: shown_path,
                status: status.as_u16(),
                code: code
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("").replace(' ', "")),
                message: message.unwrap_or_default(),
                request_id: request_id.or(body_request_id),
                client_request_id,
                attempts: attempt,
            })));
        }
    }

    /// Full-jitter exponential backoff: uniform in `[0, min(max_wait, base * 2^attempt))`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .options
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.options.max_wait);
        let secs = rand::rng().random_range(0.0..=cap.as_secs_f64().max(0.001));
        Duration::from_secs_f64(secs)
    }
}

fn transport_message(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL (never the token); keep the chain short.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Extracts `error.code`, `error.message` and `error.innerError.request-id`.
fn parse_error_body(bytes: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        let text = String::from_utf8_lossy(bytes)
            .chars()
            .take(200)
            .collect::<String>();
        return (None, (!text.is_empty()).then_some(text), None);
    };
    let err = &v["error"];
    let s = |x: &Value| x.as_str().map(str::to_string);
    (
        s(&err["code"]),
        s(&err["message"]),
        s(&err["innerError"]["request-id"]),
    )
}
