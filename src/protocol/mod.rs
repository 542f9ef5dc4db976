//! The protocol core shared by every service client (Graph today; Azure Resource Manager
//! and Partner Center beside it later): the credential and a token per audience, service
//! roots and the URL policy, transport, timeouts, retries with `Retry-After`, the run's
//! deadline, pacing hooks, paging, body and depth bounds, redaction of server text, error
//! bodies and request-ids, wait events. This is the trust boundary for server bytes:
//! service clients above it never see an unbounded body, an unchecked URL or unredacted
//! server text. Knows no service's routes, shapes or quotas.

pub mod auth;
pub mod body;
pub mod bucket;
mod core;
pub mod error;
pub mod redact;
pub mod retry;
pub mod root;
pub mod wait;

pub(crate) use self::core::Counters;
pub use self::core::{
    check_header_value, ClientStats, Core, CoreOptions, HintFn, Pacing, PagingLimits, Reread,
    Response,
};
pub use error::{ApiError, ServiceError};
pub use retry::Replay;
pub use root::{Audience, SecretUrl, ServiceRoot};
pub use wait::{WaitEvent, WaitReason, WaitReporter};
