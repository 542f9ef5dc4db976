//! Graph error values (status + `code` + `message`) and portal refusals. Owns no I/O: the
//! server renders a [`GraphError`] into Graph's error body with request ids.
//!
//! Body shape: <https://learn.microsoft.com/graph/errors>.

use serde::Serialize;

/// A Microsoft Graph error: HTTP status, Graph `code`, human `message`.
/// Rendered as `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
/// (<https://learn.microsoft.com/graph/errors>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status code.
    pub status: u16,
    /// Graph error code, e.g. `Request_ResourceNotFound`.
    pub code: String,
    /// Human-readable message (clients must not branch on it).
    pub message: String,
}

impl GraphError {
    /// A new error.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// 404 `Request_ResourceNotFound`, worded as Entra words it.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "Request_BadRequest", message)
    }

    /// 400 `Request_UnsupportedQuery`.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(400, "Request_UnsupportedQuery", message)
    }

    /// 400 `BadRequest` "Resource not found for the segment '...'" (unknown path segment).
    pub fn unknown_segment(segment: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 405 `Request_BadRequest` for a method the resource does not support.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for GraphError {}

/// One object that blocks a portal operation (for example tenant deletion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocker {
    /// Kind of object: `user`, `deletedUser`, `application`, `servicePrincipal`,
    /// `subscription`, `domain`, `organization`, `securityDefaults`,
    /// `conditionalAccessPolicy`, `perUserMfa`, ...
    pub kind: String,
    /// Object id (domain name for domains).
    pub id: String,
    /// Display name or userPrincipalName, when the object has one.
    pub name: String,
    /// Why it blocks.
    pub reason: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.kind, self.id, self.name, self.reason
        )
    }
}

/// Why an admin-center (portal) operation was refused. These operations have no Graph API;
/// see graph-facts.md steps 2, 3 and 5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    /// No such object.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Kind of object.
        kind: String,
        /// The id asked for.
        id: String,
    },
    /// The object is in a state the operation does not accept.
    #[error("{kind} {id}: {message}")]
    InvalidState {
        /// Kind of object.
        kind: String,
        /// Object id.
        id: String,
        /// What the admin center says.
        message: String,
    },
    /// Prerequisites are not met; every blocking object is listed.
    #[error("{} blocking object(s):\n{}", blockers.len(), blockers.iter().map(|b| format!("  - {b}")).collect::<Vec<_>>().join("\n"))]
    Blocked {
        /// Every object that blocks the operation.
        blockers: Vec<Blocker>,
    },
    /// The tenant was already deleted.
    #[error("the tenant has been deleted")]
    TenantDeleted,
    /// The operation was valid but could not be persisted to the op log.
    #[error("could not persist the operation: {0}")]
    Persist(String),
}
