//! Prints the protocol core's wait events as one line each on stderr (on a terminal and
//! without one), so a long `Retry-After`, a backoff or a silent server never looks like a
//! hang. Reports of requests still without an answer that arrive together (a silent
//! server, six concurrent reads) are combined into one line with their count. Decides
//! nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::protocol::{WaitEvent, WaitReason, WaitReporter};

/// How long in-flight reports are gathered before their combined line is printed.
const GATHER: Duration = Duration::from_millis(100);

/// Writes `closeout: waiting 30 s: Graph answered 503 serviceNotAvailable (attempt 3 of
/// 10)` and similar lines to stderr. Every part of the line that came from a server was
/// made safe by the protocol core (redacted, control characters escaped).
pub struct StderrWaits {
    lines: Coalescer,
}

impl Default for StderrWaits {
    fn default() -> Self {
        StderrWaits {
            lines: Coalescer::new(Arc::new(|l: &str| eprintln!("closeout: {l}"))),
        }
    }
}

impl std::fmt::Debug for StderrWaits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StderrWaits")
    }
}

impl WaitReporter for StderrWaits {
    fn waiting(&self, event: &WaitEvent) {
        self.lines.report(event);
    }
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Gathers [`WaitReason::InFlight`] reports of one host for [`GATHER`] and writes them as
/// one line: the first report's text, and `(N requests)` when there were several. Every
/// other event is written at once.
struct Coalescer {
    sink: Sink,
    /// The gathered report: (host, its line, how many requests).
    pending: Arc<Mutex<Option<(String, String, usize)>>>,
}

fn flush(sink: &Sink, pending: &Mutex<Option<(String, String, usize)>>) {
    let taken = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((_, line, n)) = taken {
        if n > 1 {
            sink(&format!("{line} ({n} requests)"));
        } else {
            sink(&line);
        }
    }
}

impl Coalescer {
    fn new(sink: Sink) -> Coalescer {
        Coalescer {
            sink,
            pending: Arc::new(Mutex::new(None)),
        }
    }

    fn report(&self, event: &WaitEvent) {
        let WaitReason::InFlight { host, .. } = &event.reason else {
            (self.sink)(&event.to_string());
            return;
        };
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((h, _, n)) = p.as_mut() {
            if h == host {
                *n += 1;
                return;
            }
        }
        let previous = p.replace((host.clone(), event.to_string(), 1));
        drop(p);
        if let Some((_, line, n)) = previous {
            (self.sink)(&if n > 1 {
                format!("{line} ({n} requests)")
            } else {
                line
            });
        }
        // Without a runtime there is nothing to gather with: write at once.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            flush(&self.sink, &self.pending);
            return;
        };
        let (sink, pending) = (self.sink.clone(), self.pending.clone());
        rt.spawn(async move {
            tokio::time::sleep(GATHER).await;
            flush(&sink, &pending);
        });
    }
}

/// What is still gathered is written when the reporter goes (the run ends).
impl Drop for Coalescer {
    fn drop(&mut self) {
        flush(&self.sink, &self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_flight(host: &str, secs: u64) -> WaitEvent {
        WaitEvent {
            duration: Duration::ZERO,
            reason: WaitReason::InFlight {
                host: host.into(),
                elapsed: Duration::from_secs(secs),
                timeout: Duration::from_secs(100),
            },
            attempt: None,
        }
    }

    fn collector() -> (Coalescer, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        (
            Coalescer::new(Arc::new(move |s: &str| {
                l.lock().unwrap().push(s.to_string())
            })),
            lines,
        )
    }

    #[tokio::test]
    async fn six_silent_requests_make_one_line() {
        let (c, lines) = collector();
        for i in 0..6 {
            c.report(&in_flight("graph.microsoft.com", 10 + i % 2));
        }
        tokio::time::sleep(GATHER * 3).await;
        assert_eq!(
            *lines.lock().unwrap(),
            ["no answer from graph.microsoft.com in 10 s, still waiting (gives up after 100 s) (6 requests)"]
        );
        // A later report is a new line; another host's report ends the gathering.
        c.report(&in_flight("graph.microsoft.com", 30));
        c.report(&in_flight("management.azure.com", 30));
        tokio::time::sleep(GATHER * 3).await;
        let l = lines.lock().unwrap();
        assert_eq!(l.len(), 3, "{l:?}");
        assert!(l[1].contains("graph.microsoft.com in 30 s") && !l[1].contains("requests"));
        assert!(l[2].contains("management.azure.com"));
    }

    #[test]
    fn other_waits_are_written_at_once() {
        let (c, lines) = collector();
        c.report(&WaitEvent {
            duration: Duration::from_secs(30),
            reason: WaitReason::Pacing { service: "Graph" },
            attempt: None,
        });
        c.report(&in_flight("h", 10));
        assert_eq!(lines.lock().unwrap().len(), 2);
    }
}
