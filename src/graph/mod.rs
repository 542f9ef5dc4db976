//! Talks to Microsoft Graph: Graph's routes, shapes, quotas (pacing), replay rules,
//! `$batch`, and reading a tenant into [`crate::model::TenantState`]. Everything about HTTP
//! is the protocol core's ([`crate::protocol`]). Knows nothing about plans.

pub use crate::protocol::auth;
mod batch;
mod client;
mod error;
mod export;
pub mod pacing;
mod read;
pub mod reports;
mod reread;

pub use crate::protocol::auth::{AuthError, AuthKind, Bearer, Cloud, StaticToken, TokenProvider};
pub use crate::protocol::{ClientStats, Response};
pub use batch::MAX_BATCH;
pub use client::{needs_eventual_consistency, ClientOptions, GraphClient};
pub use error::{ApiError, GraphError};
pub use export::{read_raw_tenant, RawTenant, SNAPSHOT_VERSION};
pub use pacing::PacingConfig;
pub use read::{read_tenant, ReadProgress, USER_SELECT};
