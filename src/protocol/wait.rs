//! Wait events: whenever a client is about to wait noticeably (a `Retry-After`, a backoff,
//! pacing at a quota, a request with no answer yet), it tells a [`WaitReporter`]; the CLI
//! prints one line per event on stderr. Library code never prints.

use std::fmt;
use std::time::Duration;

/// Waits shorter than this are not reported (about 3 s).
pub const REPORT_WAITS_OVER: Duration = Duration::from_secs(3);

/// After this long without an answer, a request in flight is reported (and again every
/// twice as long: at 10 s, 30 s, 50 s, ...).
pub const NO_ANSWER_AFTER: Duration = Duration::from_secs(10);

/// Why a client waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// The service answered a retryable status (`429`, `503`, ...).
    Answered {
        service: &'static str,
        status: u16,
        code: String,
    },
    /// No HTTP answer (a reset, a timeout, a refused connection), described.
    NoAnswer { host: String, what: String },
    /// A request is on the wire and its answer has not come yet.
    InFlight {
        host: String,
        elapsed: Duration,
        timeout: Duration,
    },
    /// Client-side pacing at the service's quotas.
    Pacing { service: &'static str },
}

/// One wait, reported before it starts (or, for [`WaitReason::InFlight`], while it lasts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitEvent {
    /// How long the wait will last (zero for in-flight reports).
    pub duration: Duration,
    pub reason: WaitReason,
    /// The attempt just made and the cap, for retries.
    pub attempt: Option<(u32, u32)>,
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{} s", s.round())
    } else {
        format!("{s:.1} s")
    }
}

impl fmt::Display for WaitEvent {
    /// `waiting 30 s: Graph answered 503 serviceNotAvailable (attempt 3 of 10)`,
    /// `no answer from graph.microsoft.com in 60 s, still waiting (gives up after 100 s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            WaitReason::InFlight {
                host,
                elapsed,
                timeout,
            } => {
                return write!(
                    f,
                    "no answer from {host} in {}, still waiting (gives up after {})",
                    secs(*elapsed),
                    secs(*timeout)
                )
            }
            WaitReason::Answered {
                service,
                status,
                code,
            } => write!(
                f,
                "waiting {}: {service} answered {status} {code}",
                secs(self.duration)
            )?,
            WaitReason::NoAnswer { host, what } => write!(
                f,
                "waiting {}: no answer from {host} ({what}), retrying",
                secs(self.duration)
            )?,
            WaitReason::Pacing { service } => write!(
                f,
                "waiting {}: pacing requests at {service}'s quotas",
                secs(self.duration)
            )?,
        }
        if let Some((n, max)) = self.attempt {
            write!(f, " (attempt {n} of {max})")?;
        }
        Ok(())
    }
}

/// Receives wait events (the CLI prints them; tests collect them).
pub trait WaitReporter: Send + Sync {
    /// Called before a wait of at least [`REPORT_WAITS_OVER`], and while a request has been
    /// without an answer for [`NO_ANSWER_AFTER`] (then every twice as long).
    fn waiting(&self, event: &WaitEvent);
}
