//! Graph's knowledge of its errors: the hint for each status and code (the permission a
//! 403 needs comes from [`crate::permissions`], the one table). The error types themselves are the protocol
//! core's ([`crate::protocol::ServiceError`], named [`GraphError`] here).
//! <https://learn.microsoft.com/en-us/graph/errors>

pub use crate::protocol::{ApiError, ServiceError as GraphError};

/// What to do next for a Graph error, where closeout knows (the core's hint function).
pub(crate) fn hint(api: &ApiError) -> Option<String> {
    match (api.status, api.code.as_str()) {
        (401, _) => Some("the access token is missing, expired or for another tenant: sign in again (see --auth; a CLOSEOUT_ACCESS_TOKEN is not refreshed, the other credentials are)".into()),
        (403, _) => Some(format!(
            "the app lacks a permission for this call; it needs {}",
            crate::permissions::hint_403(&api.method, &api.path)
        )),
        (429, _) => Some("Graph throttled the request; closeout retried until its limit. Run again later (every action is safe to repeat), or slow down with --pace-time-scale below 1".into()),
        (500 | 502 | 503 | 504 | 408, _) => Some("Graph (or a gateway in front of it) is unavailable; closeout retried until its limit. Run again later: every action is safe to repeat".into()),
        (400, "Request_UnsupportedQuery") => Some("the query needs the ConsistencyLevel: eventual header and $count=true".into()),
        _ => None,
    }
}
