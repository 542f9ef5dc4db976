//! Prints the protocol core's wait events as one line each on stderr (on a terminal and
//! without one), so a long `Retry-After`, a backoff or a silent server never looks like a
//! hang. Decides nothing.

use crate::protocol::{WaitEvent, WaitReporter};

/// Writes `closeout: waiting 30 s: Graph answered 503 serviceNotAvailable (attempt 3 of
/// 10)` and similar lines to stderr. Every part of the line that came from a server was
/// made safe by the protocol core (redacted, control characters escaped).
#[derive(Debug, Default)]
pub struct StderrWaits;

impl WaitReporter for StderrWaits {
    fn waiting(&self, event: &WaitEvent) {
        eprintln!("closeout: {event}");
    }
}
