//! What one running simulator shares between its connections, below the handlers: the
//! store, the throttle buckets, the fault stream and the request log. Must not import the
//! server, the Graph areas or `$batch`.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::faults::Faults;
use crate::store::Store;
use crate::throttle::Throttle;

/// One request as the simulator saw it (top-level requests and each `$batch` item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query as sent (`$batch` items: `/v1.0` + the item's relative url).
    pub path: String,
    /// Status answered; 0 when the connection was dropped without a response.
    pub status: u16,
    /// Whether this was an item of a `$batch` request.
    pub via_batch: bool,
    /// When the request was answered, Unix epoch milliseconds.
    pub unix_ms: u64,
}

/// Now, Unix epoch milliseconds.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// State of one running simulator.
pub(crate) struct Shared {
    pub(crate) addr: SocketAddr,
    pub(crate) store: Store,
    pub(crate) log: Mutex<Vec<LogEntry>>,
    pub(crate) log_file: Option<Mutex<File>>,
    pub(crate) throttle: Throttle,
    pub(crate) faults: Faults,
    /// The usage reports' download listener (a second loopback port).
    pub(crate) downloads: std::sync::Arc<crate::reports::Downloads>,
}

impl Shared {
    pub(crate) fn log_snapshot(&self) -> Vec<LogEntry> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn record(&self, entry: LogEntry) {
        if let Some(f) = &self.log_file {
            if let Ok(line) = serde_json::to_string(&entry) {
                let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
                // The log file is a diagnostic aid: a failed write must not fail the request.
                let _ = writeln!(f, "{line}");
            }
        }
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
    }
}
