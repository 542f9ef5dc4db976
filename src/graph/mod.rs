//! Talks to Microsoft Graph: request building, authentication header, retries with
//! `Retry-After`, paging, and reading a tenant into [`crate::model::TenantState`].
//! Knows nothing about plans.

mod client;
mod error;
mod export;
mod read;

pub use client::{AccessToken, ClientOptions, GraphClient, Response};
pub use error::{required_permission, ApiError, GraphError};
pub use export::{read_raw_tenant, RawTenant, SNAPSHOT_VERSION};
pub use read::{read_tenant, ReadProgress, USER_SELECT};
