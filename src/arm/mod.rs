//! Azure Resource Manager (ARM): its routes, shapes and error hints, on the protocol core
//! ([`crate::protocol`]), which owns everything about HTTP (token per audience, URL policy,
//! retries, deadline, bounds, redaction, request-ids). This module must not know Graph's
//! routes, plans or files.
//!
//! - [`client`]: [`ArmClient`], `GET`/`POST` and `nextLink` paging under ARM's service root;
//! - [`subscriptions`]: reading the Azure subscriptions of a tenant into
//!   [`crate::model::AzureState`], the root-scope Reader proof, and cancelling one.

pub mod client;
pub mod subscriptions;

pub use client::{arm_pacer, ArmClient, ArmError};
pub use subscriptions::{cancel_subscription, read_azure};
