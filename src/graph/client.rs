//! The Graph client: Graph's service root, its pacing at Graph's quotas, its replay rules,
//! `@odata.nextLink` paging and `ConsistencyLevel`; hands concurrent writes to the `$batch`
//! writer ([`super::batch`]). Everything about HTTP (transport, token, timeouts, retries,
//! deadline, URL policy, bounds, redaction) is the protocol core's ([`crate::protocol`]).
//!
//! Retries follow Microsoft's throttling guidance
//! (<https://learn.microsoft.com/en-us/graph/throttling>) through the core: 408, 429, 500,
//! 502, 503 and 504 wait `Retry-After` (seconds or HTTP-date) when given, else exponential
//! backoff with full jitter. A write that may have executed is handled by its replay rule
//! ([`super::reread`]): a `PATCH` whose outcome is unknown is re-read before it is sent
//! again, and a `POST` is never sent twice.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::batch::{BatchJob, Batcher};
use super::error::GraphError;
use super::pacing::{Pacer, PacingConfig};
use super::reread::{replay_for, ODataReread};
use crate::protocol::{
    Audience, ClientStats, Core, CoreOptions, Pacing, PagingLimits, Response, ServiceRoot,
    WaitReporter,
};

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
    /// Total time of one request, its body included (default 100 s, as Graph's SDKs).
    pub request_timeout: Duration,
    /// Time to connect (TCP and TLS; default 10 s).
    pub connect_timeout: Duration,
    /// The whole run's deadline, from the client's creation (default 24 h); a request that
    /// would wait past it, or is still without an answer at it, gives up instead.
    pub deadline: Option<Duration>,
    /// Client-side pacing at Graph's quotas; `None` = off (no quotas to respect, e.g. a
    /// simulator without throttling).
    pub pacing: Option<PacingConfig>,
    /// Writes sent together in one `POST /$batch` (1 = no batching, at most 20; default 20).
    pub batch_size: usize,
    /// How long a write waits for others to share its `$batch` (default 5 ms).
    pub batch_linger: Duration,
    /// Largest response body accepted, in bytes (default 64 MiB).
    pub max_body_bytes: u64,
    /// When paging stops because the collection cannot explain the pages.
    pub paging: PagingLimits,
    /// How long closeout keeps trying to reach Graph when nothing has answered yet in this
    /// run (refused connections, DNS failures) before it fails with a network hint
    /// (default 10 s).
    pub first_contact: Duration,
    /// After this long without an answer, a request in flight is reported to the wait
    /// reporter (default 10 s).
    pub no_answer_after: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        let core = CoreOptions::default();
        ClientOptions {
            max_attempts: core.max_attempts,
            backoff_base: core.backoff_base,
            max_wait: core.max_wait,
            request_timeout: core.request_timeout,
            connect_timeout: core.connect_timeout,
            deadline: core.deadline,
            pacing: Some(PacingConfig::default()),
            batch_size: super::batch::MAX_BATCH,
            batch_linger: Duration::from_millis(5),
            max_body_bytes: core.max_body_bytes,
            paging: core.paging,
            first_contact: core.first_contact,
            no_answer_after: core.no_answer_after,
        }
    }
}

impl ClientOptions {
    fn core(&self) -> CoreOptions {
        CoreOptions {
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            max_wait: self.max_wait,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            deadline: self.deadline,
            max_body_bytes: self.max_body_bytes,
            paging: self.paging,
            first_contact: self.first_contact,
            no_answer_after: self.no_answer_after,
        }
    }
}

/// A Microsoft Graph client bound to one service root (e.g. `https://graph.microsoft.com`).
/// Clones share the connection pool, the token, the pacer and the `$batch` writer.
#[derive(Clone)]
pub struct GraphClient {
    core: Arc<Core>,
    pacer: Option<Arc<Pacer>>,
    batcher: Option<Batcher>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("core", &self.core)
            .finish_non_exhaustive()
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
    /// A client for the Graph service root `base_url`, signing requests with `tokens`'
    /// Graph token. Call it inside a Tokio runtime: the `$batch` writer runs as a task
    /// (without a runtime, writes are sent one by one).
    ///
    /// # Errors
    /// [`GraphError::BadUrl`] for an unparsable URL, or plain `http://` anywhere but
    /// loopback; [`GraphError::Local`] when TLS cannot be set up.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn crate::protocol::auth::TokenProvider>,
        options: ClientOptions,
    ) -> Result<GraphClient, GraphError> {
        let root = ServiceRoot::new(Audience::Graph, base_url)?;
        let pacer = options.pacing.clone().map(|c| Arc::new(Pacer::new(c)));
        let core = Arc::new(Core::new(
            root,
            tokens,
            options.core(),
            pacer.clone().map(|p| p as Arc<dyn Pacing>),
            super::error::hint,
        )?);
        let batch_size = options.batch_size.min(super::batch::MAX_BATCH);
        let batcher = (batch_size > 1 && tokio::runtime::Handle::try_current().is_ok())
            .then(|| Batcher::start(Arc::clone(&core), batch_size, options.batch_linger));
        Ok(GraphClient {
            core,
            pacer,
            batcher,
        })
    }

    /// A current access token of this client's credential, for reading its claims (the
    /// permission pre-check). Never log or store it.
    pub async fn access_token(&self) -> Result<super::auth::Bearer, super::auth::AuthError> {
        self.core.access_token().await
    }

    /// The service root, e.g. `https://graph.microsoft.com`.
    pub fn base_url(&self) -> &str {
        self.core.root().url().as_str()
    }

    /// The protocol core under this client (for requests outside Graph's routes, such as
    /// a usage report's credential-free download).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// What this client sent and received so far.
    pub fn stats(&self) -> ClientStats {
        self.core.stats()
    }

    /// Sizes the pacer's resource-unit quota for a tenant of `users` users.
    pub fn set_tenant_users(&self, users: usize) {
        if let Some(p) = &self.pacer {
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

    /// `GET` a collection, following `@odata.nextLink` (an opaque URL, under the URL
    /// policy) until it is absent. Queries that need `ConsistencyLevel: eventual`
    /// (`$count=true`, `$search`, `ne`, `endsWith`, `not`) send it on every page. Empty
    /// pages are accepted up to a bound; a nextLink that repeats a page already read stops
    /// with [`GraphError::PagingLoop`], runaway paging with [`GraphError::PagingRunaway`].
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
    /// arrives (a large tenant is then never held as raw JSON all at once); an error from
    /// `each` stops the paging.
    pub async fn for_each_page(
        &self,
        path: &str,
        eventual: bool,
        each: impl FnMut(Vec<Value>) -> Result<(), GraphError>,
    ) -> Result<(), GraphError> {
        let headers: &[(&str, &str)] = if eventual {
            &[("ConsistencyLevel", "eventual")]
        } else {
            &[]
        };
        self.core
            .for_each_page(path, "@odata.nextLink", headers, each)
            .await
    }

    /// This client (and its clones) with a cancellation token: waits (`Retry-After`,
    /// backoff, pacing) end early and requests fail with [`GraphError::Cancelled`] before
    /// their next attempt once `token` is cancelled. A request already on the wire is left
    /// to settle.
    pub fn with_cancellation(self, token: CancellationToken) -> GraphClient {
        self.core.set_cancellation(token);
        self
    }

    /// This client (and its clones) telling `reporter` about every wait of about 3 s or
    /// more and every request without an answer for 10 s.
    pub fn with_wait_reporter(self, reporter: Arc<dyn WaitReporter>) -> GraphClient {
        self.core.set_wait_reporter(reporter);
        self
    }

    /// Waits `duration`, or less when the client's cancellation token fires.
    ///
    /// # Errors
    /// [`GraphError::Cancelled`] (naming `what`) when cancelled before or during the wait.
    pub async fn pause(&self, duration: Duration, what: &str) -> Result<(), GraphError> {
        self.core.pause(duration, what).await
    }

    /// Sends one request, paced and retried by its replay rule. Concurrent `DELETE` and
    /// `PATCH` requests are sent together in `$batch` requests of up to 20 (except
    /// Conditional Access, which Graph limits to one request per second); each caller gets
    /// its own answer as if it had sent the request alone. Non-2xx answers become
    /// [`GraphError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, GraphError> {
        let url = self.core.url_for(path)?;
        if let Some(batcher) = &self.batcher {
            if let Some(job) = BatchJob::for_request(self.core.root().url(), &method, &url, body) {
                return batcher.submit(job).await;
            }
        }
        let replay = replay_for(&method);
        self.core
            .send(method, &url, body, &[], replay, Some(&ODataReread))
            .await
    }
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
}
