//! Simulator settings: what graph-sim adds on top of a quiet Graph (throttling, faults,
//! latency, replication lag, page order). Plain data; the server interprets it.

use std::path::PathBuf;

/// How graph-sim behaves beyond the tenant data. `SimConfig::default()` is a quiet Graph:
/// no throttling, no faults, no latency, no lag, insertion page order.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Token-bucket throttling of the identity service limits; `None` = off.
    /// <https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>.
    pub throttle: Option<ThrottleConfig>,
    /// How much faster than real time Graph's clocks run (10.0: buckets refill 10x faster,
    /// `Retry-After` values and lags are 10x shorter). Values <= 0 are treated as 1.0.
    pub time_scale: f64,
    /// Seed of every random choice (faults, jitter): the same seed gives the same sequence.
    pub seed: u64,
    /// Fraction (0.0..=1.0) of requests answered 503 `serviceNotAvailable`.
    pub rate_503: f64,
    /// Fraction of requests answered 504 `gatewayTimeout`.
    pub rate_504: f64,
    /// Fraction of requests whose connection is closed without any response (not executed).
    pub rate_drop: f64,
    /// Fraction of requests that are executed but whose connection is then closed without a
    /// response (the client can't know the write happened).
    pub rate_lost_response: f64,
    /// Fixed added latency per request, milliseconds.
    pub latency_ms: u64,
    /// Extra random latency, uniformly 0..=jitter, milliseconds.
    pub latency_jitter_ms: u64,
    /// A deleted object stays listed in collection reads for this long (Graph milliseconds,
    /// divided by `time_scale`). 0 = reads see writes at once.
    pub read_after_write_lag_ms: u64,
    /// Shuffle page order with this seed (Graph guarantees no order); `None` = insertion order.
    pub shuffle_seed: Option<u64>,
    /// Append each request log entry as a JSON line to this file.
    pub log_file: Option<PathBuf>,
    /// Send `Retry-After` with millisecond precision instead of whole seconds (rounded up)
    /// as Graph does. Useful only with a large `time_scale`, where waits are sub-second;
    /// clients that read the header as an integer then ignore it.
    pub fractional_retry_after: bool,
    /// Fraction of `$batch` envelopes answered 429 `TooManyRequests` (with `Retry-After`)
    /// without running any item, as Graph sometimes answers a whole batch
    /// (<https://learn.microsoft.com/graph/json-batching>, "Handling errors").
    pub batch_rate_429: f64,
    /// Fraction of `$batch` envelopes answered 424 `FailedDependency` without running any item.
    pub batch_rate_424: f64,
    /// After a commerce cancellation (Partner Center `status: deleted`, or a finished
    /// Microsoft.Billing DELETE), Graph's companySubscription turns `Suspended` after this
    /// long (Graph milliseconds, divided by `time_scale`), and subscribedSkus follow.
    pub commerce_graph_delay_ms: u64,
    /// ... and `Deleted` this long after turning `Suspended`; `None` = it stays `Suspended`
    /// (the admin center's disabled state lasts 90 days).
    pub commerce_graph_deleted_after_ms: Option<u64>,
    /// Polls of a Microsoft.Billing operation's `Location` answered 202 before the one that
    /// answers 200 (the operation is done).
    pub billing_operation_polls: u32,
    /// A Microsoft.Billing operation also finishes this long after its DELETE (Graph
    /// milliseconds, divided by `time_scale`), polled or not; `None` = only by polls.
    pub billing_operation_ms: Option<u64>,
    /// `Retry-After` of Microsoft.Billing's 202 answers, seconds before `time_scale`
    /// (the spec's example says 10).
    pub billing_retry_after_s: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            throttle: None,
            time_scale: 1.0,
            seed: 0,
            rate_503: 0.0,
            rate_504: 0.0,
            rate_drop: 0.0,
            rate_lost_response: 0.0,
            latency_ms: 0,
            latency_jitter_ms: 0,
            read_after_write_lag_ms: 0,
            shuffle_seed: None,
            log_file: None,
            fractional_retry_after: false,
            batch_rate_429: 0.0,
            batch_rate_424: 0.0,
            commerce_graph_delay_ms: 0,
            commerce_graph_deleted_after_ms: None,
            billing_operation_polls: 1,
            billing_operation_ms: None,
            billing_retry_after_s: 10,
        }
    }
}

impl SimConfig {
    /// The effective time scale (> 0).
    pub fn time_scale(&self) -> f64 {
        if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        }
    }
}

/// Quotas of Graph's identity service limits, per application + tenant unless noted
/// (<https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>).
/// graph-sim serves one tenant and treats every caller as one application.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleConfig {
    /// Resource units per 10 s; `None` = by tenant size: 3,500 (< 50 users),
    /// 5,000 (50-500), 8,000 (> 500).
    pub resource_units_per_10s: Option<u64>,
    /// Writes per 150 s per application (Graph: 3,000).
    pub app_writes_per_150s: u64,
    /// Writes per 5 minutes per tenant, all applications (Graph: 18,000).
    pub tenant_writes_per_300s: u64,
    /// Conditional Access requests per second per tenant (Graph: 1); their 429s carry no
    /// `Retry-After`.
    pub conditional_access_per_second: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            resource_units_per_10s: None,
            app_writes_per_150s: 3_000,
            tenant_writes_per_300s: 18_000,
            conditional_access_per_second: 1.0,
        }
    }
}
