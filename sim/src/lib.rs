//! graph-sim: a loopback Microsoft Graph simulator that serves tenant snapshots.
//!
//! It stands in for `https://graph.microsoft.com` in closeout's tests and rehearsals:
//! load a [`Snapshot`] into a [`Store`], serve it with [`SimServer`], point a Graph client at
//! [`SimServer::base_url`]. Admin-center operations that have no Graph API (cancel/delete a
//! subscription, delete the tenant) are [`Store`] methods and `/_sim/portal/...` routes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use graph_sim::{SimConfig, SimServer, Store};
//! let store = Store::open(std::path::Path::new("tenant.yaml"), None)?;
//! let server = SimServer::start(store, SimConfig::default(), 0).await?;
//! println!("Graph at {}/v1.0", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
pub mod arm;
mod batch;
mod collection;
pub mod commerce;
mod config;
mod error;
mod faults;
mod filter;
pub mod generate;
mod graph;
pub mod permissions;
mod query;
pub mod schema;
mod server;
pub mod snapshot;
mod state;
mod store;
mod throttle;
pub mod token;
mod wire;

pub use config::{SimConfig, ThrottleConfig};
pub use error::{Blocker, GraphError, PortalError};
pub use server::SimServer;
pub use snapshot::{load_snapshot, Snapshot, SnapshotError};
pub use state::LogEntry;
pub use store::Store;
