//! Errors from Graph, carrying what a person needs to act: the request, the HTTP status,
//! Graph's `error.code` and `request-id`.
//! <https://learn.microsoft.com/en-us/graph/errors>

use std::fmt;

/// Graph's answer to a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub method: String,
    /// Path and query, without scheme and host.
    pub path: String,
    pub status: u16,
    /// Graph's `error.code`, e.g. `Request_ResourceNotFound`.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub client_request_id: String,
    /// Attempts made (retries included).
    pub attempts: u32,
}

/// An error talking to Graph.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("{}", ApiDisplay(self))]
    Api(Box<ApiError>),
    /// The request did not get an HTTP answer (connection refused, reset, timeout).
    #[error("{method} {path}: no answer from Graph after {attempts} attempt(s): {message}{}",
        if *maybe_executed { " (the request may have executed: run again, every action is safe to repeat)" } else { "; check --graph-url / --cloud and the network" })]
    Transport {
        method: String,
        path: String,
        message: String,
        attempts: u32,
        /// The request may have reached Graph (the answer was lost, not the connection).
        maybe_executed: bool,
    },
    /// The run's deadline (`--deadline`) passed while the request was still failing.
    #[error(
        "{method} {path}: gave up, the run's deadline (--deadline) has passed; last error: {last}"
    )]
    Deadline {
        method: String,
        path: String,
        last: String,
    },
    /// No token could be had.
    #[error("cannot sign in to Microsoft Graph: {0}")]
    Auth(#[from] super::auth::AuthError),
    /// The answer was not the JSON Graph documents.
    #[error("{method} {path}: unexpected response from Graph: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    /// `@odata.nextLink` pointed back to a page already read.
    #[error("GET {path}: paging stopped, @odata.nextLink repeated a page already read ({next})")]
    PagingLoop { path: String, next: String },
    /// Interrupted (Ctrl-C) before or while waiting to send the request.
    #[error("{what}: interrupted before it was sent")]
    Cancelled { what: String },
    /// A URL closeout will not call.
    #[error("refusing Graph URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
}

struct ApiDisplay<'a>(&'a GraphError);

impl fmt::Display for ApiDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let GraphError::Api(api) = self.0 {
            let ApiError {
                method,
                path,
                status,
                code,
                message,
                request_id,
                client_request_id,
                attempts,
            } = api.as_ref();
            write!(f, "{method} {path}: HTTP {status} {code}: {message}")?;
            write!(
                f,
                " (request-id {}, client-request-id {client_request_id}",
                request_id.as_deref().unwrap_or("none")
            )?;
            if *attempts > 1 {
                write!(f, ", after {attempts} attempts")?;
            }
            write!(f, ")")?;
            if let Some(hint) = self.0.hint() {
                write!(f, "\n  hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl GraphError {
    /// HTTP status, when Graph answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Api(a) => Some(a.status),
            _ => None,
        }
    }

    /// Graph's `error.code`, when Graph answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Api(a) => Some(&a.code),
            _ => None,
        }
    }

    /// `request-id` of the failed request (quote it in a support ticket).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            GraphError::Api(a) => a.request_id.as_deref(),
            _ => None,
        }
    }

    /// `true` for 404 (`Request_ResourceNotFound` and similar).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// What to do next, where closeout knows.
    pub fn hint(&self) -> Option<String> {
        let GraphError::Api(api) = self else {
            return None;
        };
        match (api.status, api.code.as_str()) {
            (401, _) => Some("the access token is missing, expired or for another tenant: sign in again (see --auth; a CLOSEOUT_ACCESS_TOKEN is not refreshed, the other credentials are)".into()),
            (403, "Authorization_RequestDenied") | (403, _) => Some(format!(
                "the app lacks a permission for this call; it needs {}",
                crate::permissions::hint_403(&api.method, &api.path)
            )),
            (429, _) => Some("Graph throttled the request; closeout retried until its limit. Run again later (every action is safe to repeat), or slow down with --pace-time-scale below 1".into()),
            (503 | 504, _) => Some("Graph is unavailable; closeout retried until its limit. Run again later: every action is safe to repeat".into()),
            (400, "Request_UnsupportedQuery") => Some("the query needs the ConsistencyLevel: eventual header and $count=true".into()),
            _ => None,
        }
    }
}

/// The least-privileged Graph application permission for a path.
pub fn required_permission(path: &str) -> &'static str {
    if path.contains("/authentication/requirements") {
        "Policy.ReadWrite.AuthenticationMethod"
    } else if path.contains("conditionalaccess") {
        "Policy.ReadWrite.ConditionalAccess (and Policy.Read.All)"
    } else if path.contains("identitysecuritydefaults") {
        "Policy.ReadWrite.SecurityDefaults"
    } else if path.contains("deleteditems/microsoft.graph.application")
        || path.contains("/applications")
        || path.contains("/serviceprincipals")
    {
        "Application.ReadWrite.All"
    } else if path.contains("/users") || path.contains("deleteditems") {
        "User.DeleteRestore.All (deleting privileged users also needs a privileged directory role on the app)"
    } else if path.contains("/domains") {
        "Domain.ReadWrite.All"
    } else if path.contains("/organization") {
        "Organization.ReadWrite.All"
    } else if path.contains("/subscriptions") || path.contains("subscribedskus") {
        "LicenseAssignment.Read.All or Organization.Read.All"
    } else if path.contains("directoryroles") {
        "RoleManagement.Read.Directory"
    } else {
        "Directory.Read.All"
    }
}
