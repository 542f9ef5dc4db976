//! Token-bucket throttling modelled on Graph's identity and access service limits
//! (<https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>)
//! and the Conditional Access limit (one request per second per tenant, 429 without
//! `Retry-After`). Owns the buckets and request costs; the server applies the verdict.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::{SimConfig, ThrottleConfig};
use crate::error::GraphError;
use crate::wire::{error_response, GraphResponse, Ids};

/// Formats seconds for `Retry-After`: whole seconds rounded up (at least 1), as Graph sends
/// them, or with `fractional` millisecond precision, rounded up.
pub(crate) fn format_seconds(s: f64, fractional: bool) -> String {
    if !fractional {
        return format!("{}", s.max(0.0).ceil().max(1.0) as u64);
    }
    let ms = (s.max(0.0) * 1000.0).ceil() / 1000.0;
    let text = format!("{ms:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Application id graph-sim reports in `x-ms-throttle-scope` (it serves one caller).
const SIM_APP_ID: &str = "00000000-0000-0000-0000-00000000c105";

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    /// Tokens per real second (already multiplied by the time scale).
    refill: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, window_seconds: f64, time_scale: f64) -> Bucket {
        let capacity = capacity.max(1.0);
        Bucket {
            capacity,
            tokens: capacity,
            refill: capacity / window_seconds * time_scale,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.refill).min(self.capacity);
        self.last = now;
    }

    /// Real seconds until `n` tokens are available (0 when they are now).
    fn wait_for(&self, n: f64) -> f64 {
        let n = n.min(self.capacity);
        if self.tokens >= n {
            0.0
        } else {
            (n - self.tokens) / self.refill
        }
    }

    fn used(&self) -> f64 {
        1.0 - self.tokens / self.capacity
    }
}

#[derive(Debug)]
struct Buckets {
    resource_units: Bucket,
    app_writes: Bucket,
    tenant_writes: Bucket,
    conditional_access: Bucket,
}

/// A refused request: the 429 to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Throttled {
    /// Seconds to wait; `None` for Conditional Access (Graph sends no Retry-After there).
    pub(crate) retry_after: Option<f64>,
    scope: String,
    information: &'static str,
    fractional: bool,
}

impl Throttled {
    pub(crate) fn response(&self, ids: &Ids) -> GraphResponse {
        let mut r = error_response(
            &GraphError::new(
                429,
                "TooManyRequests",
                "Too many requests. Please retry after the time specified in the Retry-After header, if any.",
            ),
            ids,
        );
        if let Some(s) = self.retry_after {
            r.headers
                .push(("Retry-After".into(), format_seconds(s, self.fractional)));
        }
        r.headers
            .push(("x-ms-throttle-scope".into(), self.scope.clone()));
        r.headers.push((
            "x-ms-throttle-information".into(),
            self.information.to_string(),
        ));
        r
    }
}

/// An admitted request: headers Graph adds to a normal response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Admitted {
    resource_units: u32,
    limit_percentage: Option<f64>,
}

impl Admitted {
    /// Adds `x-ms-resource-unit` and, above 80 % use, `x-ms-throttle-limit-percentage`.
    pub(crate) fn annotate(&self, resp: &mut GraphResponse) {
        if self.resource_units > 0 {
            resp.headers
                .push(("x-ms-resource-unit".into(), self.resource_units.to_string()));
        }
        if let Some(p) = self.limit_percentage {
            resp.headers
                .push(("x-ms-throttle-limit-percentage".into(), format!("{p:.1}")));
        }
    }
}

/// What the throttle decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Admission {
    Admitted(Admitted),
    Throttled(Throttled),
}

pub(crate) struct Throttle {
    buckets: Option<Mutex<Buckets>>,
    tenant_id: String,
    fractional: bool,
}

fn is_conditional_access(path: &str) -> bool {
    path.to_ascii_lowercase()
        .starts_with("identity/conditionalaccess")
}

fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PATCH" | "PUT" | "DELETE")
}

/// Resource-unit cost of a request (throttling-limits: identity and access request costs).
pub(crate) fn cost(method: &str, path: &str, query: Option<&str>) -> u32 {
    let path = path.trim_matches('/').to_ascii_lowercase();
    if is_write(method) {
        return 1;
    }
    let base: i32 = match path.as_str() {
        "users" | "applications" => 2,
        "subscribedskus" => 3,
        _ => 1,
    };
    let params: Vec<String> = query
        .unwrap_or("")
        .split('&')
        .map(|p| crate::query::decode(p, true).to_ascii_lowercase())
        .collect();
    let has = |name: &str| {
        params
            .iter()
            .any(|p| p.starts_with(&format!("${name}=")) || p.starts_with(&format!("{name}=")))
    };
    let mut c = base;
    if has("select") {
        c -= 1;
    }
    if has("expand") {
        c += 1;
    }
    let small_top = params.iter().any(|p| {
        p.strip_prefix("$top=")
            .or_else(|| p.strip_prefix("top="))
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|n| n < 20)
    });
    if small_top {
        c -= 1;
    }
    c.max(1) as u32
}

impl Throttle {
    /// `users`: tenant size, which picks the resource-unit quota (S/M/L).
    pub(crate) fn new(config: &SimConfig, users: usize, tenant_id: &str) -> Throttle {
        let scale = config.time_scale();
        let buckets = config.throttle.as_ref().map(|t: &ThrottleConfig| {
            let ru = t.resource_units_per_10s.unwrap_or(match users {
                0..50 => 3_500,
                50..=500 => 5_000,
                _ => 8_000,
            });
            Mutex::new(Buckets {
                resource_units: Bucket::new(ru as f64, 10.0, scale),
                app_writes: Bucket::new(t.app_writes_per_150s as f64, 150.0, scale),
                tenant_writes: Bucket::new(t.tenant_writes_per_300s as f64, 300.0, scale),
                conditional_access: Bucket::new(
                    1.0,
                    1.0 / t.conditional_access_per_second.max(0.001),
                    scale,
                ),
            })
        });
        Throttle {
            fractional: config.fractional_retry_after,
            buckets,
            tenant_id: tenant_id.to_string(),
        }
    }

    /// Charges one request (top-level or `$batch` item) or refuses it. Refused requests
    /// consume nothing. `path` is relative to the version (`users/{id}`).
    pub(crate) fn admit(&self, method: &str, path: &str, query: Option<&str>) -> Admission {
        let ru = cost(method, path, query);
        let Some(buckets) = &self.buckets else {
            return Admission::Admitted(Admitted {
                resource_units: ru,
                limit_percentage: None,
            });
        };
        let mut b = buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if is_conditional_access(path) {
            b.conditional_access.refill(now);
            if b.conditional_access.wait_for(1.0) > 0.0 {
                return Admission::Throttled(Throttled {
                    retry_after: None,
                    scope: format!("Tenant/ReadWrite/{SIM_APP_ID}/{}", self.tenant_id),
                    information: "ResourceUnitLimitExceeded",
                    fractional: self.fractional,
                });
            }
            b.conditional_access.tokens -= 1.0;
            return Admission::Admitted(Admitted {
                resource_units: 0,
                limit_percentage: None,
            });
        }
        b.resource_units.refill(now);
        b.app_writes.refill(now);
        b.tenant_writes.refill(now);
        let write = is_write(method);
        let mut refusals: Vec<(f64, String, &'static str)> = Vec::new();
        let wait = b.resource_units.wait_for(f64::from(ru));
        if wait > 0.0 {
            refusals.push((
                wait,
                format!(
                    "Tenant_Application/ReadWrite/{SIM_APP_ID}/{}",
                    self.tenant_id
                ),
                "ResourceUnitLimitExceeded",
            ));
        }
        if write {
            let wait = b.app_writes.wait_for(1.0);
            if wait > 0.0 {
                refusals.push((
                    wait,
                    format!("Application/Write/{SIM_APP_ID}/{}", self.tenant_id),
                    "WriteLimitExceeded",
                ));
            }
            let wait = b.tenant_writes.wait_for(1.0);
            if wait > 0.0 {
                refusals.push((
                    wait,
                    format!("Tenant/Write/{SIM_APP_ID}/{}", self.tenant_id),
                    "WriteLimitExceeded",
                ));
            }
        }
        if let Some((wait, scope, information)) =
            refusals.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))
        {
            return Admission::Throttled(Throttled {
                retry_after: Some(wait),
                scope,
                information,
                fractional: self.fractional,
            });
        }
        b.resource_units.tokens -= f64::from(ru);
        if write {
            b.app_writes.tokens -= 1.0;
            b.tenant_writes.tokens -= 1.0;
        }
        let used = b
            .resource_units
            .used()
            .max(if write { b.app_writes.used() } else { 0.0 })
            .max(if write { b.tenant_writes.used() } else { 0.0 });
        Admission::Admitted(Admitted {
            resource_units: ru,
            limit_percentage: (used >= 0.8).then_some(used.min(1.8)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_table() {
        assert_eq!(cost("GET", "users", None), 2);
        assert_eq!(cost("GET", "users", Some("$select=id")), 1);
        assert_eq!(cost("GET", "users", Some("$select=id&$top=5")), 1);
        assert_eq!(cost("GET", "subscribedSkus", None), 3);
        assert_eq!(cost("GET", "domains", None), 1);
        assert_eq!(cost("DELETE", "users/x", None), 1);
    }

    #[test]
    fn retry_after_formatting() {
        assert_eq!(format_seconds(2.0, true), "2");
        assert_eq!(format_seconds(0.25, true), "0.25");
        assert_eq!(format_seconds(0.00001, true), "0.001");
        assert_eq!(format_seconds(0.25, false), "1");
        assert_eq!(format_seconds(2.0, false), "2");
        assert_eq!(format_seconds(2.1, false), "3");
    }

    fn config(ru: u64, writes: u64) -> SimConfig {
        SimConfig {
            throttle: Some(ThrottleConfig {
                resource_units_per_10s: Some(ru),
                app_writes_per_150s: writes,
                ..ThrottleConfig::default()
            }),
            ..SimConfig::default()
        }
    }

    #[test]
    fn resource_units_run_out_and_say_how_long_to_wait() {
        let t = Throttle::new(&config(10, 3000), 1, "t");
        for _ in 0..5 {
            assert!(matches!(
                t.admit("GET", "users", None),
                Admission::Admitted(_)
            ));
        }
        match t.admit("GET", "users", None) {
            Admission::Throttled(th) => {
                let s = th.retry_after.unwrap();
                assert!(s > 1.5 && s <= 2.0, "{s}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn write_quota_is_separate() {
        let t = Throttle::new(&config(1000, 3), 1, "t");
        for _ in 0..3 {
            assert!(matches!(
                t.admit("DELETE", "users/x", None),
                Admission::Admitted(_)
            ));
        }
        assert!(matches!(
            t.admit("DELETE", "users/x", None),
            Admission::Throttled(_)
        ));
        assert!(matches!(
            t.admit("GET", "users", None),
            Admission::Admitted(_)
        ));
    }

    #[test]
    fn conditional_access_is_one_per_second_without_retry_after() {
        let t = Throttle::new(&config(1000, 3000), 1, "t");
        assert!(matches!(
            t.admit("GET", "identity/conditionalAccess/policies", None),
            Admission::Admitted(_)
        ));
        match t.admit("GET", "identity/conditionalAccess/policies", None) {
            Admission::Throttled(th) => assert_eq!(th.retry_after, None),
            other => panic!("{other:?}"),
        }
    }
}
