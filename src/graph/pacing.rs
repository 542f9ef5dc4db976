//! Client-side pacing (the protocol core's [`crate::protocol::Pacing`] hook for Graph): one
//! limiter shared by every worker of a [`super::GraphClient`] that
//! models Microsoft Graph's identity-service quotas, so a long apply runs at the ceiling
//! instead of bouncing off it with 429s. Owns the buckets and request costs; knows nothing
//! about plans or HTTP.
//!
//! Quotas and costs follow "Microsoft Graph service-specific throttling limits", section
//! "Identity and access service limits"
//! (<https://learn.microsoft.com/en-us/graph/throttling-limits#identity-and-access-service-limits>):
//! per application and tenant, 3,500 / 5,000 / 8,000 resource units (RU) per 10 seconds for
//! tenants of under 50 / 50-500 / over 500 users, and 3,000 writes per 150 seconds; per tenant
//! 18,000 writes per 5 minutes (all applications). A `GET` of users or applications costs
//! 2 RU, of `subscribedSkus` 3, any other `GET` 1; `$select` lowers a `GET` by 1, `$expand`
//! raises it by 1, `$top` under 20 lowers it by 1 (never below 1); a write costs 1 RU and one
//! write. Conditional Access policies are limited to about one request per second per tenant
//! and their 429s carry no `Retry-After`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What a [`Pacer`] enforces. Rates are Graph's; `time_scale` runs Graph's clocks faster
/// (10.0: buckets refill 10x faster), matching graph-sim's `--time-scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct PacingConfig {
    /// How much faster than real time the quotas refill (> 0; default 1.0).
    pub time_scale: f64,
    /// Resource units per 10 s; `None` = by tenant size (3,500 until the tenant size is
    /// known through [`Pacer::set_tenant_users`], then 3,500 / 5,000 / 8,000).
    pub resource_units_per_10s: Option<u32>,
    /// Writes per 150 s per application (Graph: 3,000).
    pub writes_per_150s: u32,
    /// Conditional Access requests per second per tenant (Graph: 1).
    pub conditional_access_per_second: f64,
    /// Fraction of each quota closeout allows itself (0 < headroom <= 1, default 0.97): room
    /// for other callers and for requests that arrive at Graph in another order than sent.
    pub headroom: f64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            time_scale: 1.0,
            resource_units_per_10s: None,
            writes_per_150s: 3_000,
            conditional_access_per_second: 1.0,
            headroom: 0.97,
        }
    }
}

/// Graph's resource-unit quota per 10 s for a tenant of `users` users.
pub fn resource_units_for_tenant(users: usize) -> u32 {
    match users {
        0..50 => 3_500,
        50..=500 => 5_000,
        _ => 8_000,
    }
}

/// The kind of request being paced, as far as the quotas care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Resource units (at least 1).
    pub resource_units: u32,
    /// `true` for POST, PATCH, PUT, DELETE (one write each).
    pub write: bool,
    /// `true` for Conditional Access policy requests (their own one-per-second limit).
    pub conditional_access: bool,
}

/// The cost of `method` on `path_and_query` (e.g. `/v1.0/users?$select=id`), per Graph's
/// identity-service cost table.
pub fn cost_of(method: &str, path_and_query: &str) -> Cost {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let lower = path.to_ascii_lowercase();
    let rest = lower
        .trim_start_matches('/')
        .split_once('/')
        .map_or("", |(_, r)| r)
        .trim_end_matches('/');
    let conditional_access = rest.starts_with("identity/conditionalaccess");
    let write = matches!(method, "POST" | "PATCH" | "PUT" | "DELETE");
    if write {
        return Cost {
            resource_units: 1,
            write,
            conditional_access,
        };
    }
    let mut ru: i32 = match rest {
        "users" | "applications" => 2,
        "subscribedskus" => 3,
        _ => 1,
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| p.replace("%24", "$").to_ascii_lowercase())
        .collect();
    let has = |name: &str| params.iter().any(|p| p.starts_with(&format!("${name}=")));
    if has("select") {
        ru -= 1;
    }
    if has("expand") {
        ru += 1;
    }
    if params.iter().any(|p| {
        p.strip_prefix("$top=")
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|n| n < 20)
    }) {
        ru -= 1;
    }
    Cost {
        resource_units: ru.max(1) as u32,
        write,
        conditional_access,
    }
}

/// The protocol core's pacing hook: Graph's quotas, costed per request.
impl crate::protocol::Pacing for Pacer {
    fn reserve(&self, method: &str, path_and_query: &str, count: u32) -> Instant {
        Pacer::reserve(self, cost_of(method, path_and_query), count)
    }

    fn throttled(
        &self,
        method: &str,
        path_and_query: &str,
        retry_after: Option<Duration>,
        _n: u64,
    ) {
        Pacer::throttled(self, cost_of(method, path_and_query), retry_after);
    }

    fn time_scale(&self) -> f64 {
        self.config.time_scale
    }
}

/// A token bucket that hands out reservations: a caller takes its tokens at once (the
/// balance may go negative) and waits until the balance it took from has refilled. Callers
/// are served in the order they asked, whatever their number.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    /// Tokens per real second.
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, window: Duration, time_scale: f64, headroom: f64) -> Bucket {
        let capacity = (capacity * headroom).max(1.0);
        Bucket {
            capacity,
            tokens: capacity,
            rate: capacity / window.as_secs_f64() * time_scale,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        self.last = now;
    }

    /// Takes `n` tokens; returns how long the caller must wait before using them.
    fn reserve(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Graph said the quota is spent: nothing is left until it refills.
    fn drain(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.min(0.0);
    }

    fn resize(&mut self, capacity: f64, window: Duration, time_scale: f64, headroom: f64) {
        let capacity = (capacity * headroom).max(1.0);
        let used = self.capacity - self.tokens;
        self.capacity = capacity;
        self.tokens = capacity - used;
        self.rate = capacity / window.as_secs_f64() * time_scale;
    }
}

#[derive(Debug)]
struct Buckets {
    resource_units: Bucket,
    writes: Bucket,
    conditional_access: Bucket,
    /// No request leaves before this instant (set from a 429's `Retry-After`).
    paused_until: Option<Instant>,
}

/// The limiter shared by all workers of one client. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Pacer {
    config: PacingConfig,
    buckets: Mutex<Buckets>,
}

const RU_WINDOW: Duration = Duration::from_secs(10);
const WRITE_WINDOW: Duration = Duration::from_secs(150);

impl Pacer {
    /// A pacer with full buckets (a fresh application's quotas).
    pub fn new(config: PacingConfig) -> Pacer {
        let scale = if config.time_scale.is_finite() && config.time_scale > 0.0 {
            config.time_scale
        } else {
            1.0
        };
        let headroom = if config.headroom > 0.0 && config.headroom <= 1.0 {
            config.headroom
        } else {
            1.0
        };
        let config = PacingConfig {
            time_scale: scale,
            headroom,
            ..config
        };
        let ru = config
            .resource_units_per_10s
            .unwrap_or_else(|| resource_units_for_tenant(0));
        let ca_window =
            Duration::from_secs_f64(1.0 / config.conditional_access_per_second.max(0.001));
        let buckets = Buckets {
            resource_units: Bucket::new(ru as f64, RU_WINDOW, scale, headroom),
            writes: Bucket::new(config.writes_per_150s as f64, WRITE_WINDOW, scale, headroom),
            // One request per window, never a burst: the limit is per second, not per minute.
            conditional_access: Bucket::new(1.0, ca_window.mul_f64(1.0 / headroom), scale, 1.0),
            paused_until: None,
        };
        Pacer {
            config,
            buckets: Mutex::new(buckets),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &PacingConfig {
        &self.config
    }

    /// Sizes the resource-unit quota for a tenant of `users` users (unless configured).
    pub fn set_tenant_users(&self, users: usize) {
        if self.config.resource_units_per_10s.is_some() {
            return;
        }
        let ru = resource_units_for_tenant(users) as f64;
        let mut b = self.lock();
        b.resource_units
            .resize(ru, RU_WINDOW, self.config.time_scale, self.config.headroom);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `count` requests of cost `cost` may be sent. Each bucket is reserved at
    /// once, so concurrent callers queue in order instead of racing.
    pub async fn acquire(&self, cost: Cost, count: u32) {
        tokio::time::sleep_until(self.reserve(cost, count)).await;
    }

    /// Reserves room for `count` requests of cost `cost` at once and returns when they may
    /// be sent (the caller waits, and may say so first).
    pub fn reserve(&self, cost: Cost, count: u32) -> Instant {
        if count == 0 {
            return Instant::now();
        }
        {
            let mut b = self.lock();
            let now = Instant::now();
            let n = f64::from(count);
            let mut wait = b
                .resource_units
                .reserve(f64::from(cost.resource_units) * n, now);
            if cost.write {
                wait = wait.max(b.writes.reserve(n, now));
            }
            if cost.conditional_access {
                wait = wait.max(b.conditional_access.reserve(n, now));
            }
            let at = now + wait;
            match b.paused_until {
                Some(p) if p > at => p,
                _ => at,
            }
        }
    }

    /// Graph answered 429 for a request of `cost`: its quota is spent. Every worker pauses
    /// for `retry_after` (when given) and the bucket is emptied, so the next requests wait
    /// for it to refill instead of being refused too.
    pub fn throttled(&self, cost: Cost, retry_after: Option<Duration>) {
        let mut b = self.lock();
        let now = Instant::now();
        if cost.conditional_access {
            b.conditional_access.drain(now);
            return;
        }
        b.resource_units.drain(now);
        if cost.write {
            b.writes.drain(now);
        }
        if let Some(wait) = retry_after {
            let until = now + wait;
            if b.paused_until.is_none_or(|p| p < until) {
                b.paused_until = Some(until);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_graphs_table() {
        let c = |m: &str, p: &str| cost_of(m, p).resource_units;
        assert_eq!(c("GET", "/v1.0/users"), 2);
        assert_eq!(c("GET", "/v1.0/users?$select=id&$top=999"), 1);
        assert_eq!(c("GET", "/v1.0/subscribedSkus"), 3);
        assert_eq!(c("GET", "/v1.0/organization"), 1);
        assert_eq!(c("GET", "/v1.0/users?$top=5"), 1);
        assert_eq!(c("GET", "/v1.0/applications?$expand=owners"), 3);
        assert_eq!(c("DELETE", "/v1.0/users/1"), 1);
        assert!(cost_of("DELETE", "/v1.0/users/1").write);
        assert!(!cost_of("GET", "/v1.0/users/1").write);
        assert!(cost_of("PATCH", "/v1.0/identity/conditionalAccess/policies/x").conditional_access);
        assert_eq!(resource_units_for_tenant(49), 3_500);
        assert_eq!(resource_units_for_tenant(50), 5_000);
        assert_eq!(resource_units_for_tenant(501), 8_000);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_run_at_the_quota_after_the_burst() {
        let pacer = Pacer::new(PacingConfig {
            writes_per_150s: 300,
            headroom: 1.0,
            ..PacingConfig::default()
        });
        let write = cost_of("DELETE", "/v1.0/users/1");
        let start = Instant::now();
        // 300 in the burst, then 2 per second: 100 more take 50 s.
        for _ in 0..400 {
            pacer.acquire(write, 1).await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((49.0..51.0).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn time_scale_and_retry_after_pause_everyone() {
        let pacer = Pacer::new(PacingConfig {
            time_scale: 10.0,
            headroom: 1.0,
            ..PacingConfig::default()
        });
        let ca = cost_of("PATCH", "/v1.0/identity/conditionalAccess/policies/p");
        let start = Instant::now();
        for _ in 0..11 {
            pacer.acquire(ca, 1).await;
        }
        // One per second at 10x: 10 waits of 0.1 s.
        let took = start.elapsed().as_secs_f64();
        assert!((0.99..1.01).contains(&took), "{took}");

        let read = cost_of("GET", "/v1.0/organization");
        pacer.throttled(read, Some(Duration::from_secs(3)));
        let start = Instant::now();
        pacer.acquire(read, 1).await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }
}
