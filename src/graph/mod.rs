//! Talks to Microsoft Graph: authentication, request building, pacing at Graph's quotas,
//! retries with `Retry-After`, `$batch`, paging, and reading a tenant into
//! [`crate::model::TenantState`]. Knows nothing about plans.

pub mod auth;
mod batch;
mod client;
mod error;
mod export;
pub mod pacing;
mod read;

pub use auth::{AuthError, AuthKind, Bearer, Cloud, StaticToken, TokenProvider};
pub use batch::MAX_BATCH;
pub use client::{needs_eventual_consistency, ClientOptions, ClientStats, GraphClient, Response};
pub use error::{required_permission, ApiError, GraphError};
pub use export::{read_raw_tenant, RawTenant, SNAPSHOT_VERSION};
pub use pacing::PacingConfig;
pub use read::{read_tenant, ReadProgress, USER_SELECT};
