//! Retry decisions: which failures are retried for which kind of operation, how long to
//! wait (`Retry-After` as seconds or HTTP-date, else full-jitter exponential backoff).
//! Owns no I/O.
//!
//! Statuses retried follow the Azure SDKs' default retry policy (408, 429, 500, 502, 503,
//! 504), whatever the body (an HTML page from a gateway included), and Graph's throttling
//! guidance (<https://learn.microsoft.com/en-us/graph/throttling>).

use std::time::{Duration, SystemTime};

use rand::Rng;

/// May an operation be sent again after a failure whose outcome is unknown? Decided per
/// operation by the service client, not per HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Repeating it changes nothing (a read; a `DELETE`, whose repeat answers 404).
    Repeatable,
    /// May have taken effect; re-read first, re-sent only when the re-read shows it has
    /// not (a `PATCH` with absolute values).
    RereadFirst,
    /// May have taken effect and cannot be re-read: re-sent only when it surely never
    /// reached the service (a refused connection) or was refused unprocessed (429).
    Once,
}

/// Statuses whose request is retried (for [`Replay::Repeatable`] and
/// [`Replay::RereadFirst`]).
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Statuses that say the request was not processed at all (Graph throttles before it
/// executes anything): even [`Replay::Once`] may be sent again, and no re-read is needed.
pub fn unprocessed_status(status: u16) -> bool {
    status == 429
}

/// Longest `Retry-After` honoured (a larger one is cut to this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses `Retry-After` as (possibly fractional) seconds or as an HTTP-date (RFC 9110
/// section 10.2.3), relative to `now`; a date in the past is zero. `None` when neither.
pub fn parse_retry_after_at(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0)
            .then(|| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// [`parse_retry_after_at`] relative to the system clock.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    parse_retry_after_at(v, SystemTime::now())
}

/// Full-jitter exponential backoff: uniform in `[0, min(cap, base * 2^attempt))`.
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let top = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let secs = rand::rng().random_range(0.0..=top.as_secs_f64().max(0.001));
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_fractions_and_http_dates() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.25 "),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("1e9"), Some(MAX_RETRY_AFTER));
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after_at("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after_at("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retried_statuses_are_the_transient_ones() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s));
        }
        for s in [400, 401, 403, 404, 409, 412, 424, 501] {
            assert!(!retryable_status(s));
        }
    }
}
