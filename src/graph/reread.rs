//! Which Graph requests may be sent again, and how a `PATCH` whose outcome is unknown is
//! re-read first (a `GET` with `$select` of the patched properties). Shared by the client
//! and the `$batch` writer; must not send anything but that re-read.

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::protocol::{Core, Replay, Reread};

/// Graph's replay rule per request: reads, `PUT` and `DELETE` (a repeat answers 404) are
/// repeatable; `PATCH` carries absolute values and is re-read first; a `POST` creates or
/// triggers something and is never sent twice.
pub(crate) fn replay_for(method: &Method) -> Replay {
    match *method {
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE => Replay::Repeatable,
        Method::PATCH => Replay::RereadFirst,
        _ => Replay::Once,
    }
}

/// Re-reads a Graph resource after a `PATCH` whose outcome is unknown.
pub(crate) struct ODataReread;

#[async_trait::async_trait]
impl Reread for ODataReread {
    /// Does the resource already carry every property of the `PATCH` body? (A `GET` on the
    /// same path, retried like any read; an answer that is still a failure says "no", and
    /// the `PATCH` is sent again, which is safe: its values are absolute.)
    async fn already_applied(&self, core: &Core, url: &Url, body: &Value) -> bool {
        let Some(fields) = body.as_object() else {
            return false;
        };
        let mut read = url.clone();
        if read.query().is_none() && !fields.is_empty() {
            let select: Vec<&str> = fields.keys().map(String::as_str).collect();
            read.set_query(Some(&format!("$select={}", select.join(","))));
        }
        // The re-read is itself retried (throttling, 5xx, a lost answer) until the
        // deadline: giving up on a transient failure would send the write twice.
        let Ok(answer) = core
            .send(Method::GET, &read, None, &[], Replay::Repeatable, None)
            .await
        else {
            return false;
        };
        let Some(live) = answer.body else {
            return false;
        };
        fields.iter().all(|(k, want)| match (live.get(k), want) {
            (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), b) => a == b,
            (None, _) => false,
        })
    }
}
