//! closeout: plan, review and apply the closure of a Microsoft 365 / Microsoft Entra ID
//! tenant, the way Terraform plans and applies infrastructure changes.
//!
//! Data flows one way: [`graph`] reads the tenant into a [`model::TenantState`];
//! [`planner`] diffs it against the closed target and orders the actions in a DAG into a
//! [`plan::Plan`]; [`planfile`] stores it for review; [`apply`] executes exactly that plan.

pub mod apply;
pub mod arm;
pub mod cli;
pub mod commerce;
pub mod graph;
pub mod ident;
pub mod identity;
pub mod input;
pub mod model;
pub mod permissions;
pub mod plan;
pub mod planfile;
pub mod planner;
pub mod protocol;
pub mod render;
pub mod specfile;
