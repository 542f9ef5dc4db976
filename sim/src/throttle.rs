//! Token-bucket throttling modelled on Graph's identity service limits. (Stage 1 stub:
//! admits everything.)

use crate::config::SimConfig;
use crate::error::GraphError;
use crate::graph::GraphResponse;
use crate::server::{error_response, Ids};

/// Formats seconds for `Retry-After` (fractional allowed, at most 3 decimals).
pub(crate) fn format_seconds(s: f64) -> String {
    let ms = (s.max(0.0) * 1000.0).ceil() / 1000.0;
    let text = format!("{ms:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub(crate) struct Throttle;

pub(crate) struct Throttled {
    retry_after: Option<f64>,
}

impl Throttled {
    pub(crate) fn response(&self, ids: &Ids) -> GraphResponse {
        let mut r = error_response(
            &GraphError::new(429, "TooManyRequests", "Too many requests."),
            ids,
        );
        if let Some(s) = self.retry_after {
            r.headers.push(("Retry-After".into(), format_seconds(s)));
        }
        r
    }
}

impl Throttle {
    pub(crate) fn new(_config: &SimConfig, _users: usize) -> Throttle {
        Throttle
    }

    pub(crate) fn admit(
        &self,
        _method: &str,
        _path: &str,
        _query: Option<&str>,
    ) -> Option<Throttled> {
        None
    }

    pub(crate) fn annotate(
        &self,
        _resp: &mut GraphResponse,
        _method: &str,
        _path: &str,
        _query: Option<&str>,
    ) {
    }
}
