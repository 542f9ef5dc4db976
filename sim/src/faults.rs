//! Seeded fault injection: 503/504 answers, dropped connections, lost responses, latency.
//! Owns the random stream; the server decides what a fault does to the wire.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::SimConfig;

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Close the connection without a response; the request is not executed.
    Drop,
    /// Execute the request, then close the connection without a response.
    LostResponse,
    /// Answer this status (503 or 504) without executing.
    Status(u16),
}

pub(crate) struct Faults {
    rng: Mutex<StdRng>,
    rate_503: f64,
    rate_504: f64,
    rate_drop: f64,
    rate_lost: f64,
    latency_ms: u64,
    jitter_ms: u64,
    time_scale: f64,
    fractional: bool,
    batch_429: f64,
    batch_424: f64,
}

fn rate(r: f64) -> f64 {
    if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

impl Faults {
    pub(crate) fn new(config: &SimConfig) -> Faults {
        Faults {
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            rate_503: rate(config.rate_503),
            rate_504: rate(config.rate_504),
            rate_drop: rate(config.rate_drop),
            rate_lost: rate(config.rate_lost_response),
            latency_ms: config.latency_ms,
            jitter_ms: config.latency_jitter_ms,
            time_scale: config.time_scale(),
            fractional: config.fractional_retry_after,
            batch_429: rate(config.batch_rate_429),
            batch_424: rate(config.batch_rate_424),
        }
    }

    fn active(&self) -> bool {
        self.rate_503 + self.rate_504 + self.rate_drop + self.rate_lost > 0.0
    }

    /// Draws the fault for the next request (one draw per request, in arrival order).
    pub(crate) fn roll(&self) -> Fault {
        if !self.active() {
            return Fault::None;
        }
        let x: f64 = self.rng.lock().unwrap_or_else(|p| p.into_inner()).random();
        let mut edge = self.rate_drop;
        if x < edge {
            return Fault::Drop;
        }
        edge += self.rate_lost;
        if x < edge {
            return Fault::LostResponse;
        }
        edge += self.rate_503;
        if x < edge {
            return Fault::Status(503);
        }
        edge += self.rate_504;
        if x < edge {
            return Fault::Status(504);
        }
        Fault::None
    }

    /// Draws the envelope answer of the next `$batch`: `Some(429 | 424)` answers the whole
    /// envelope with that status without running any item; `None` runs the batch.
    pub(crate) fn roll_batch_envelope(&self) -> Option<u16> {
        if self.batch_429 + self.batch_424 <= 0.0 {
            return None;
        }
        let x: f64 = self.rng.lock().unwrap_or_else(|p| p.into_inner()).random();
        if x < self.batch_429 {
            Some(429)
        } else if x < self.batch_429 + self.batch_424 {
            Some(424)
        } else {
            None
        }
    }

    /// `Retry-After` for a 503/504 (Graph may send one; seconds, time-scaled), or none.
    pub(crate) fn retry_after(&self) -> Option<String> {
        let seconds = 2.0 / self.time_scale;
        Some(crate::throttle::format_seconds(seconds, self.fractional))
    }

    /// Added latency for the next request, if any (real milliseconds, not time-scaled).
    pub(crate) fn latency(&self) -> Option<Duration> {
        if self.latency_ms == 0 && self.jitter_ms == 0 {
            return None;
        }
        let jitter = if self.jitter_ms > 0 {
            self.rng
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .random_range(0..=self.jitter_ms)
        } else {
            0
        };
        Some(Duration::from_millis(self.latency_ms + jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults_and_rates_roughly_hold() {
        let config = SimConfig {
            seed: 42,
            rate_503: 0.1,
            rate_drop: 0.1,
            ..SimConfig::default()
        };
        let a: Vec<Fault> = {
            let f = Faults::new(&config);
            (0..2000).map(|_| f.roll()).collect()
        };
        let b: Vec<Fault> = {
            let f = Faults::new(&config);
            (0..2000).map(|_| f.roll()).collect()
        };
        assert_eq!(a, b);
        let drops = a.iter().filter(|f| **f == Fault::Drop).count();
        let s503 = a.iter().filter(|f| **f == Fault::Status(503)).count();
        assert!((120..280).contains(&drops), "{drops}");
        assert!((120..280).contains(&s503), "{s503}");
    }

    #[test]
    fn quiet_by_default() {
        let f = Faults::new(&SimConfig::default());
        assert!((0..100).all(|_| f.roll() == Fault::None));
        assert!(f.latency().is_none());
    }
}
