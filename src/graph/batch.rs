//! The auto-batching writer: concurrent `DELETE` and `PATCH` requests wait a few
//! milliseconds for company and leave together as one `POST /{version}/$batch` of up to 20
//! items; each caller gets its own item's answer as if it had sent the request alone.
//!
//! Graph's JSON batching (<https://learn.microsoft.com/en-us/graph/json-batching>): the
//! envelope answers 200 even when items fail; each item has its own status; throttled items
//! come back 429 with their own `Retry-After` and are retried alone (after the longest
//! `Retry-After` of the round); an item whose `dependsOn` failed answers 424 and is sent
//! again. Items are throttled individually (a batch of 20 costs 20 writes), so the pacer is
//! charged per item. Every batched request is idempotent (`DELETE`, `PATCH` with absolute
//! values), so a lost envelope is sent again; a `PATCH` whose outcome is unknown is re-read
//! first. An envelope answered 429, 503 or 424 was not processed (Graph refused the whole
//! batch) and is sent again as it was, without re-reads; other transient envelope answers
//! (408, 500, 502, 504) may have been processed, so their `PATCH` items are re-read.
//!
//! Built on the protocol core only ([`crate::protocol::Core`]): the client hands jobs down
//! here, nothing here reaches back up into the client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};
use url::Url;

use super::error::GraphError;
use super::reread::{replay_for, ODataReread};
use crate::protocol::retry::parse_retry_after;
use crate::protocol::root::shown;
use crate::protocol::{body, Core, Counters, Reread, Response};

/// Graph's limit of requests in one `$batch`.
pub const MAX_BATCH: usize = 20;

type Reply = oneshot::Sender<Result<Response, GraphError>>;

/// One write waiting for its batch.
pub(crate) struct BatchJob {
    method: Method,
    /// `v1.0` or `beta`: a batch carries items of one version.
    version: String,
    /// The item's url, relative to the version (`/users/{id}`).
    relative: String,
    /// The full URL, for re-reads.
    url: Url,
    body: Option<Value>,
    reply: Option<Reply>,
}

impl BatchJob {
    /// A job for `method url` when it can travel in a `$batch`: a `DELETE` or `PATCH` on
    /// this Graph service, under `/v1.0` or `/beta`, and not Conditional Access (paced to
    /// one a second, it gains nothing from sharing a batch).
    pub(crate) fn for_request(
        base: &Url,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Option<BatchJob> {
        if *method != Method::DELETE && *method != Method::PATCH {
            return None;
        }
        if url.origin() != base.origin() {
            return None;
        }
        let rest = url.path().strip_prefix(base.path().trim_end_matches('/'))?;
        let (version, relative) = rest.trim_start_matches('/').split_once('/')?;
        if version != "v1.0" && version != "beta" {
            return None;
        }
        let relative = format!("/{relative}");
        if relative
            .to_ascii_lowercase()
            .starts_with("/identity/conditionalaccess")
            || relative.contains("$batch")
        {
            return None;
        }
        let relative = match url.query() {
            Some(q) => format!("{relative}?{q}"),
            None => relative,
        };
        Some(BatchJob {
            method: method.clone(),
            version: version.to_string(),
            relative,
            url: url.clone(),
            body: body.cloned(),
            reply: None,
        })
    }

    fn shown(&self) -> String {
        shown(&self.url)
    }

    fn answer(&mut self, result: Result<Response, GraphError>) {
        if let Some(tx) = self.reply.take() {
            // The caller may have gone away (its apply was cancelled): nothing to do then.
            let _ = tx.send(result);
        }
    }
}

/// The handle callers submit writes through; the collecting task ends when every handle
/// is dropped.
#[derive(Clone)]
pub(crate) struct Batcher {
    tx: mpsc::UnboundedSender<BatchJob>,
    inner: Arc<Core>,
}

impl Batcher {
    /// Starts the collecting task on the current Tokio runtime.
    pub(crate) fn start(inner: Arc<Core>, size: usize, linger: Duration) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(collect(
            Arc::clone(&inner),
            rx,
            size.clamp(1, MAX_BATCH),
            linger,
        ));
        Batcher { tx, inner }
    }

    /// Queues `job` and waits for its own answer.
    pub(crate) async fn submit(&self, mut job: BatchJob) -> Result<Response, GraphError> {
        let (tx, rx) = oneshot::channel();
        job.reply = Some(tx);
        if let Err(mpsc::error::SendError(job)) = self.tx.send(job) {
            // The collector is gone (runtime shutting down): send it alone.
            let replay = replay_for(&job.method);
            return self
                .inner
                .send(
                    job.method,
                    &job.url,
                    job.body.as_ref(),
                    &[],
                    replay,
                    Some(&ODataReread),
                )
                .await;
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(GraphError::Transport {
                method: "POST".into(),
                path: "$batch".into(),
                message: "the $batch writer stopped before answering".into(),
                attempts: 0,
                maybe_executed: true,
            }),
        }
    }
}

/// Gathers jobs: a batch leaves when it holds `size` items or `linger` after its first.
async fn collect(
    inner: Arc<Core>,
    mut rx: mpsc::UnboundedReceiver<BatchJob>,
    size: usize,
    linger: Duration,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let until = tokio::time::Instant::now() + linger;
        while jobs.len() < size {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(j)) => jobs.push(j),
                Ok(None) | Err(_) => break,
            }
        }
        let mut by_version: HashMap<String, Vec<BatchJob>> = HashMap::new();
        for j in jobs {
            by_version.entry(j.version.clone()).or_default().push(j);
        }
        for (version, jobs) in by_version {
            tokio::spawn(run_batch(Arc::clone(&inner), version, jobs));
        }
    }
}

struct Slot {
    job: BatchJob,
    attempts: u32,
    /// An earlier attempt may have executed.
    unknown: bool,
    last: Option<GraphError>,
}

fn header<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    item.get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Sends `jobs` as `$batch` rounds until every item has its answer.
async fn run_batch(inner: Arc<Core>, version: String, jobs: Vec<BatchJob>) {
    let batch_path = format!("/{version}/$batch");
    let batch_url = match inner.url_for(&batch_path) {
        Ok(u) => u,
        Err(e) => {
            for mut j in jobs {
                j.answer(Err(e.clone()));
            }
            return;
        }
    };
    // What the pacer charges per item: one write.
    let write_path = format!("/{version}/x");
    let max_attempts = inner.options.max_attempts;
    let mut slots: Vec<Slot> = jobs
        .into_iter()
        .map(|job| Slot {
            job,
            attempts: 0,
            unknown: false,
            last: None,
        })
        .collect();
    let mut round = 0u32;
    while !slots.is_empty() {
        round += 1;
        if round > 1 {
            Counters::bump(&inner.counters.retries, slots.len() as u64);
            // A write that may have executed is re-read before it is sent again.
            let mut keep = Vec::with_capacity(slots.len());
            for mut s in slots {
                let applied = s.unknown
                    && s.job.method == Method::PATCH
                    && match &s.job.body {
                        Some(b) => ODataReread.already_applied(&inner, &s.job.url, b).await,
                        None => false,
                    };
                if applied {
                    s.job.answer(Ok(Response {
                        status: 204,
                        body: None,
                        request_id: None,
                        location: None,
                        retry_after: None,
                    }));
                } else {
                    keep.push(s);
                }
            }
            slots = keep;
            if slots.is_empty() {
                return;
            }
        }
        for s in &mut slots {
            let last = s.last.as_ref().map(ToString::to_string).unwrap_or_default();
            if let Err(e) = inner.check_deadline(
                Duration::ZERO,
                s.job.method.as_str(),
                &s.job.shown(),
                &|| last.clone(),
            ) {
                s.job.answer(Err(e));
            }
        }
        slots.retain(|s| s.job.reply.is_some());
        if slots.is_empty() {
            return;
        }

        if let Err(e) = inner
            .pace("DELETE", &write_path, slots.len() as u32, "POST /$batch")
            .await
        {
            for s in &mut slots {
                s.job.answer(Err(clone_cancelled(&e)));
            }
            return;
        }
        let requests: Vec<Value> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut r = Map::new();
                r.insert("id".into(), Value::String((i + 1).to_string()));
                r.insert("method".into(), Value::String(s.job.method.to_string()));
                r.insert("url".into(), Value::String(s.job.relative.clone()));
                if let Some(b) = &s.job.body {
                    r.insert(
                        "headers".into(),
                        json!({"Content-Type": "application/json"}),
                    );
                    r.insert("body".into(), b.clone());
                }
                Value::Object(r)
            })
            .collect();
        let envelope = json!({ "requests": requests });
        let crid = uuid::Uuid::new_v4().to_string();
        Counters::bump(&inner.counters.batches, 1);
        Counters::bump(&inner.counters.batch_items, slots.len() as u64);
        for s in &mut slots {
            s.attempts += 1;
        }
        let answer = match inner
            .send_once(&Method::POST, &batch_url, Some(&envelope), &[], &crid)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                // No token: nothing was sent, and nothing will be.
                for s in &mut slots {
                    s.job.answer(Err(e.clone()));
                }
                return;
            }
        };

        let mut waits: Vec<Duration> = Vec::new();
        let mut throttled = 0u64;
        match answer {
            Err(failure) => {
                for s in &mut slots {
                    s.unknown |= failure.maybe_sent;
                    s.last = Some(GraphError::Transport {
                        method: s.job.method.to_string(),
                        path: s.job.shown(),
                        message: format!("$batch: {}", failure.message),
                        attempts: s.attempts,
                        maybe_executed: s.unknown,
                    });
                }
            }
            Ok(raw) if raw.status == StatusCode::OK => {
                let body: Value = body::parse_json(&raw.bytes).unwrap_or(Value::Null);
                let mut items: HashMap<String, &Value> = HashMap::new();
                if let Some(rs) = body.get("responses").and_then(Value::as_array) {
                    for r in rs {
                        let id = match r.get("id") {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Number(n)) => n.to_string(),
                            _ => continue,
                        };
                        items.insert(id, r);
                    }
                }
                for (i, s) in slots.iter_mut().enumerate() {
                    let Some(item) = items.get(&(i + 1).to_string()) else {
                        s.unknown = true;
                        s.last = Some(GraphError::Decode {
                            method: s.job.method.to_string(),
                            path: s.job.shown(),
                            message: "$batch answer has no response for this request".into(),
                        });
                        continue;
                    };
                    let status = item
                        .get("status")
                        .and_then(Value::as_u64)
                        .and_then(|x| u16::try_from(x).ok())
                        .unwrap_or(500);
                    let item_body = item.get("body").cloned().unwrap_or(Value::Null);
                    if (200..300).contains(&status) {
                        s.job.answer(Ok(Response {
                            status,
                            body: (!item_body.is_null()).then_some(item_body),
                            request_id: raw.request_id.clone(),
                            location: None,
                            retry_after: None,
                        }));
                        continue;
                    }
                    let err = inner.api_error_from_value(
                        s.job.method.as_str(),
                        &s.job.shown(),
                        status,
                        &item_body,
                        raw.request_id.clone(),
                        &crid,
                        s.attempts,
                    );
                    match status {
                        408 | 429 | 500 | 502 | 503 | 504 | 424 => {
                            if status == 429 {
                                throttled += 1;
                            }
                            // 429: refused unprocessed; 424: its dependency failed, so
                            // it never ran. The others may have run.
                            if status != 424 && status != 429 {
                                s.unknown = true;
                            }
                            if let Some(w) = header(item, "Retry-After").and_then(parse_retry_after)
                            {
                                waits.push(w);
                            }
                            s.last = Some(err);
                        }
                        _ => s.job.answer(Err(err)),
                    }
                }
            }
            Ok(raw) => {
                let status = raw.status;
                let retryable = matches!(status.as_u16(), 408 | 424 | 429 | 500 | 502 | 503 | 504);
                // A batch refused as a whole (429, 503, 424) was not processed.
                let unprocessed = matches!(status.as_u16(), 424 | 429 | 503);
                if status == StatusCode::TOO_MANY_REQUESTS {
                    throttled += slots.len() as u64;
                }
                if let Some(w) = raw.retry_after {
                    waits.push(w);
                }
                for s in &mut slots {
                    let err =
                        inner.api_error(&Method::POST, &shown(&batch_url), &raw, &crid, s.attempts);
                    if retryable {
                        s.unknown |= !unprocessed;
                        s.last = Some(err);
                    } else {
                        s.job.answer(Err(err));
                    }
                }
            }
        }
        // Out of attempts: answer with the last error.
        for s in &mut slots {
            if s.job.reply.is_some() && s.attempts >= max_attempts {
                let e = s.last.take().unwrap_or_else(|| GraphError::Transport {
                    method: s.job.method.to_string(),
                    path: s.job.shown(),
                    message: "no answer".into(),
                    attempts: s.attempts,
                    maybe_executed: s.unknown,
                });
                s.job.answer(Err(e));
            }
        }
        slots.retain(|s| s.job.reply.is_some());
        if slots.is_empty() {
            return;
        }
        let longest = waits.iter().max().copied();
        if throttled > 0 {
            inner.throttled("DELETE", &write_path, longest, throttled);
        }
        let wait = longest
            .unwrap_or_else(|| inner.backoff(round))
            .min(inner.options.max_wait);
        for s in &mut slots {
            let last = s.last.as_ref().map(ToString::to_string).unwrap_or_default();
            if let Err(e) =
                inner.check_deadline(wait, s.job.method.as_str(), &s.job.shown(), &|| {
                    last.clone()
                })
            {
                s.job.answer(Err(e));
            }
        }
        slots.retain(|s| s.job.reply.is_some());
        if slots.is_empty() {
            return;
        }
        if let Err(e) = inner.pause(wait, "POST /$batch").await {
            for s in &mut slots {
                s.job.answer(Err(clone_cancelled(&e)));
            }
            return;
        }
    }
}

/// The same cancellation for every waiting caller.
fn clone_cancelled(e: &GraphError) -> GraphError {
    match e {
        GraphError::Cancelled { what } => GraphError::Cancelled { what: what.clone() },
        other => GraphError::Cancelled {
            what: other.to_string(),
        },
    }
}
