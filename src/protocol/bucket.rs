//! A client-side token bucket ([`BucketPacer`]): the [`Pacing`] of services whose quota is
//! a plain rate per kind of request (Azure Resource Manager, Microsoft.Billing under it,
//! Partner Center), so that closeout stays under the quota instead of learning it from 429s.
//! Knows no service: each client passes its documented [`Quota`]s. Graph has its own pacer
//! (`graph::pacing`), which knows Graph's per-resource costs.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

use super::Pacing;

/// A token bucket's size and refill: up to `capacity` requests at once, then
/// `refill_per_s` requests per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub capacity: f64,
    pub refill_per_s: f64,
}

#[derive(Debug)]
struct Bucket {
    quota: Quota,
    /// Tokens left at `at`; negative while reservations wait for the refill.
    tokens: f64,
    at: Instant,
    /// A 429's `Retry-After`: nothing is sent before it.
    blocked_until: Instant,
}

impl Bucket {
    fn new(quota: Quota, now: Instant) -> Bucket {
        Bucket {
            quota,
            tokens: quota.capacity,
            at: now,
            blocked_until: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.quota.refill_per_s).min(self.quota.capacity);
        self.at = now.max(self.at);
    }

    /// Takes `n` tokens and says when the requests may go: at once while the bucket holds
    /// them, else when the refill has paid the debt (and never before a 429's pause ends).
    fn reserve(&mut self, n: u32, now: Instant) -> Instant {
        self.refill(now);
        self.tokens -= f64::from(n);
        let wait = if self.tokens >= 0.0 || self.quota.refill_per_s <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.quota.refill_per_s)
        };
        (now + wait).max(self.blocked_until)
    }

    /// The service answered 429: pause for its `Retry-After` (1 s without one), and empty
    /// the bucket (the service's count is ahead of ours).
    fn throttled(&mut self, retry_after: Option<Duration>, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.min(0.0);
        let until = now + retry_after.unwrap_or(Duration::from_secs(1));
        self.blocked_until = self.blocked_until.max(until);
    }
}

/// Reads (`GET`, `HEAD`) and writes (every other method) from separate buckets, or from one
/// when the service counts them together ([`BucketPacer::shared`]).
#[derive(Debug)]
pub struct BucketPacer {
    reads: Mutex<Bucket>,
    /// `None`: writes take from `reads` too.
    writes: Option<Mutex<Bucket>>,
}

impl BucketPacer {
    /// Separate quotas for reads and writes.
    pub fn new(reads: Quota, writes: Quota) -> BucketPacer {
        let now = Instant::now();
        BucketPacer {
            reads: Mutex::new(Bucket::new(reads, now)),
            writes: Some(Mutex::new(Bucket::new(writes, now))),
        }
    }

    /// One quota for every request.
    pub fn shared(quota: Quota) -> BucketPacer {
        BucketPacer {
            reads: Mutex::new(Bucket::new(quota, Instant::now())),
            writes: None,
        }
    }

    fn bucket(&self, method: &str) -> &Mutex<Bucket> {
        match (&self.writes, method) {
            (Some(w), m) if !m.eq_ignore_ascii_case("GET") && !m.eq_ignore_ascii_case("HEAD") => w,
            _ => &self.reads,
        }
    }

    fn reserve_at(&self, method: &str, count: u32, now: Instant) -> Instant {
        let mut b = self
            .bucket(method)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        b.reserve(count, now)
    }
}

impl Pacing for BucketPacer {
    fn reserve(&self, method: &str, _path_and_query: &str, count: u32) -> Instant {
        self.reserve_at(method, count, Instant::now())
    }

    fn throttled(&self, method: &str, _path: &str, retry_after: Option<Duration>, _n: u64) {
        let mut b = self
            .bucket(method)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        b.throttled(retry_after, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quota = Quota {
        capacity: 3.0,
        refill_per_s: 2.0,
    };

    #[test]
    fn a_full_bucket_sends_at_once_then_paces_at_the_refill_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Q, t0);
        for _ in 0..3 {
            assert_eq!(b.reserve(1, t0), t0);
        }
        // The 4th waits half a second (2 per second), the 5th a whole one.
        assert_eq!(b.reserve(1, t0), t0 + Duration::from_millis(500));
        assert_eq!(b.reserve(1, t0), t0 + Duration::from_millis(1000));
        // Refilled over time, never beyond the capacity.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.reserve(1, later), later);
        }
        assert!(b.reserve(1, later) > later);
    }

    #[test]
    fn a_429_pauses_the_bucket_for_its_retry_after() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Q, t0);
        b.throttled(Some(Duration::from_secs(7)), t0);
        assert_eq!(b.reserve(1, t0), t0 + Duration::from_secs(7));
        // A shorter second Retry-After does not shorten the pause.
        b.throttled(Some(Duration::from_secs(1)), t0);
        assert!(b.reserve(1, t0) >= t0 + Duration::from_secs(7));
    }

    #[test]
    fn reads_and_writes_draw_on_their_own_buckets_unless_shared() {
        let one = Quota {
            capacity: 1.0,
            refill_per_s: 1.0,
        };
        let p = BucketPacer::new(one, one);
        let s = BucketPacer::shared(one);
        let t0 = Instant::now();
        assert_eq!(p.reserve_at("GET", 1, t0), t0);
        assert_eq!(
            p.reserve_at("PATCH", 1, t0),
            t0,
            "writes have their own bucket"
        );
        assert!(p.reserve_at("DELETE", 1, t0) > t0);
        assert_eq!(s.reserve_at("GET", 1, t0), t0);
        assert!(s.reserve_at("PATCH", 1, t0) > t0, "one bucket for both");
    }
}
