//! Errors of every service client, carrying what a person needs to act: the request, the
//! HTTP status, the service's `error.code` and `request-id`. Every string in them that came
//! from a server went through [`super::redact::server_text`] when the answer arrived, so
//! `Display` never carries a secret or a raw control character.
//! <https://learn.microsoft.com/en-us/graph/errors>

use std::fmt;

use super::auth::AuthError;
use super::root::SecretUrl;

/// A service's answer to a failed request (server text redacted, escaped and bounded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP method sent (`GET`, `PATCH`, ...).
    pub method: String,
    /// Path and query, without scheme and host.
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The service's `error.code`, e.g. `Request_ResourceNotFound` (else the status's
    /// reason phrase without spaces, e.g. `BadGateway`).
    pub code: String,
    /// The service's `error.message` (at most a few hundred characters), or a description
    /// of a body that was not the service's JSON (an HTML gateway page).
    pub message: String,
    /// The service's `request-id` (header, else `innerError`), for a support ticket.
    pub request_id: Option<String>,
    /// The `client-request-id` closeout sent (a GUID per request, kept across retries).
    pub client_request_id: String,
    /// Attempts made (retries included).
    pub attempts: u32,
    /// What to do next, where the service client knows (computed when the error is made).
    pub hint: Option<String>,
}

/// An error talking to a service (Graph today; ARM and Partner Center later).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// The service answered with an error status.
    #[error("{}", ApiDisplay(self))]
    Api(Box<ApiError>),
    /// The request did not get an HTTP answer (connection reset, timeout).
    #[error("{method} {path}: no answer after {attempts} attempt(s): {message}{}",
        if *maybe_executed { " (the request may have executed: run again, every action is safe to repeat)" } else { "; check --graph-url / --cloud and the network" })]
    Transport {
        method: String,
        path: String,
        message: String,
        attempts: u32,
        /// The request may have reached the service (the answer was lost, not the
        /// connection).
        maybe_executed: bool,
    },
    /// The service could not be reached at all before anything had worked in this run
    /// (connection refused, DNS failure, network unreachable): given up after about 10 s.
    #[error("cannot reach {host}: {message}; check {hint}")]
    Network {
        host: String,
        message: String,
        hint: &'static str,
    },
    /// The run's deadline (`--deadline`) passed while the request was still failing or
    /// still waiting for its answer.
    #[error(
        "{method} {path}: gave up, the run's deadline (--deadline) has passed; last error: {last}"
    )]
    Deadline {
        method: String,
        path: String,
        last: String,
    },
    /// No token could be had (the message names the service and what is missing).
    #[error("cannot sign in: {0}")]
    Auth(#[from] AuthError),
    /// Something on this machine is wrong (a token or header value that cannot be sent, a
    /// TLS set-up that fails): never retried.
    #[error("{0}")]
    Local(String),
    /// The answer was not the JSON the service documents.
    #[error("{method} {path}: unexpected response: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    /// A response body larger than the bound, refused while it streamed in.
    #[error("{method} {route}: the response is larger than {limit} bytes; refused (closeout bounds every response body)")]
    BodyTooLarge {
        method: String,
        /// The path, without the query.
        route: String,
        limit: u64,
    },
    /// A next-page link pointed back to a page already read.
    #[error(
        "GET {path}: paging stopped, the next-page link repeated a page already read ({next})"
    )]
    PagingLoop { path: String, next: String },
    /// Paging went on beyond what the collection can explain.
    #[error("GET {path}: paging stopped after {pages} pages with {items} items: {reason}")]
    PagingRunaway {
        path: String,
        pages: u64,
        items: u64,
        reason: String,
    },
    /// The service answered a redirect; closeout never follows one with its token.
    #[error("{method} {path}: the service answered HTTP {status}, a redirect to {target}; closeout does not follow redirects with its token")]
    Redirect {
        method: String,
        path: String,
        status: u16,
        /// Where it pointed, host only.
        target: String,
        /// The `Location`, kept as a secret, for the one caller that may fetch it without
        /// credentials (a usage report download).
        location: Option<Box<SecretUrl>>,
    },
    /// Interrupted (Ctrl-C) before or while waiting to send the request.
    #[error("{what}: interrupted before it was sent")]
    Cancelled { what: String },
    /// A configured URL closeout will not call.
    #[error("refusing {service} URL {url}: {reason}")]
    BadUrl {
        service: &'static str,
        url: String,
        reason: String,
    },
    /// A link the service handed out points somewhere its token must not go.
    #[error("refusing to follow {what} to {host}: the {service} token is sent only to {root}")]
    OffService {
        service: &'static str,
        what: &'static str,
        /// The host it pointed to (never its path or query).
        host: String,
        root: String,
    },
    /// A link the service handed out is not a URL closeout can follow.
    #[error("refusing to follow {what} from {service}: {reason}")]
    BadLink {
        service: &'static str,
        what: &'static str,
        reason: String,
    },
}

struct ApiDisplay<'a>(&'a ServiceError);

impl fmt::Display for ApiDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ServiceError::Api(api) = self.0 {
            let ApiError {
                method,
                path,
                status,
                code,
                message,
                request_id,
                client_request_id,
                attempts,
                hint,
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
            if let Some(hint) = hint {
                write!(f, "\n  hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl ServiceError {
    /// HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ServiceError::Api(a) => Some(a.status),
            _ => None,
        }
    }

    /// The service's `error.code`, when it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ServiceError::Api(a) => Some(&a.code),
            _ => None,
        }
    }

    /// `request-id` of the failed request (quote it in a support ticket).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ServiceError::Api(a) => a.request_id.as_deref(),
            _ => None,
        }
    }

    /// `true` for 404 (`Request_ResourceNotFound` and similar).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// What to do next, where closeout knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServiceError::Api(api) => api.hint.clone(),
            _ => None,
        }
    }
}
