//! The shapes every layer shares, below the handlers: one Graph request split from its
//! transport, one response before transport, request ids, and Graph's error body. Owns no
//! I/O and no Graph semantics; must not import the server, the areas or `$batch`.
//!
//! Error body: <https://learn.microsoft.com/graph/errors>.

use serde_json::{json, Value};

use crate::error::{GraphError, PortalError};

/// The `Content-Type` of Graph's JSON responses (top level and `$batch` items).
pub(crate) const JSON_CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// One Graph request, already split from its transport.
#[derive(Debug, Clone)]
pub(crate) struct GraphRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// `v1.0` or `beta`.
    pub version: String,
    /// Path after the version, without leading `/`, still percent-encoded.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: Option<String>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// The request's `Content-Type` header (top level or `$batch` item), if any.
    pub content_type: Option<String>,
    /// Request body.
    pub body: Vec<u8>,
    /// `scheme://host[:port]` as the client addressed us (for `@odata.nextLink`).
    pub origin: String,
    /// What the bearer token grants (application permissions and directory roles).
    pub grants: crate::token::Grants,
}

/// A Graph response before transport: status, extra headers, optional JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl GraphResponse {
    /// 200 with a JSON body.
    pub(crate) fn ok(body: Value) -> Self {
        GraphResponse {
            status: 200,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// 204, no body.
    pub(crate) fn no_content() -> Self {
        GraphResponse {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// What a handler returns: a response, or a Graph error the caller renders with ids.
pub(crate) type Outcome = Result<GraphResponse, GraphError>;

/// Request ids of one request: ours, and the client's (echoed; ours when absent).
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub(crate) request_id: String,
    pub(crate) client_request_id: String,
}

impl Ids {
    pub(crate) fn new(client: Option<&str>) -> Ids {
        let request_id = uuid::Uuid::new_v4().to_string();
        Ids {
            client_request_id: client.map_or_else(|| request_id.clone(), str::to_string),
            request_id,
        }
    }
}

/// Graph's `innerError.date` / `Date`-like timestamp, UTC, second precision.
pub(crate) fn graph_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    now.format(&format).unwrap_or_default()
}

/// Graph's error body (<https://learn.microsoft.com/graph/errors>).
pub(crate) fn error_body(e: &GraphError, ids: &Ids) -> Value {
    json!({
        "error": {
            "code": e.code,
            "message": e.message,
            "innerError": {
                "date": graph_date(),
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        }
    })
}

/// A [`GraphError`] as a response with Graph's error body.
pub(crate) fn error_response(e: &GraphError, ids: &Ids) -> GraphResponse {
    GraphResponse {
        status: e.status,
        headers: Vec::new(),
        body: Some(error_body(e, ids)),
    }
}

/// Renders a portal refusal for the admin routes: 404 for unknown objects, 409 otherwise,
/// with every blocking object listed.
pub(crate) fn portal_error(e: &PortalError) -> GraphResponse {
    let (status, code, blockers) = match e {
        PortalError::NotFound { .. } => (404, "NotFound", Vec::new()),
        PortalError::Blocked { blockers } => (409, "PrerequisitesNotMet", blockers.clone()),
        PortalError::TenantDeleted => (409, "TenantDeleted", Vec::new()),
        PortalError::InvalidState { .. } => (409, "InvalidState", Vec::new()),
        PortalError::Persist(_) => (500, "PersistFailed", Vec::new()),
    };
    GraphResponse {
        status,
        headers: Vec::new(),
        body: Some(json!({
            "error": {"code": code, "message": e.to_string()},
            "blockers": blockers,
        })),
    }
}
