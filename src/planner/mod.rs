//! Computes the closure plan from a tenant's state and the closure spec: the target
//! ("closed") tenant, the difference to it, and the action DAG. Pure: no HTTP, no files.

mod dag;
mod diff;
mod preflight;
mod spec;

pub use dag::{ActionGraph, DagError, EDGE_RULES};
pub use diff::{
    application_fields, conditional_access_fields, deleted_user_fields, directory_sync_fields,
    domain_fields, object_fields, per_user_mfa_fields, security_defaults_fields,
    service_principal_fields, subscription_fields, user_fields,
};

/// The DAG's node type.
pub mod dag_node {
    pub use super::dag::Node;
}
pub use preflight::preflight;
pub use spec::{ApplicationPolicy, ClosureSpec};

use crate::model::TenantState;
use crate::plan::{KeptUser, Plan, TenantRef, TOOL_VERSION};

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "no Global Administrator is kept: the tenant can only be deleted by a Global Administrator \
         who remains until the end.\n  Keep one with --keep UPN (Global Administrators here: {candidates})"
    )]
    NoKeptGlobalAdministrator { candidates: String },
    #[error(
        "kept user '{0}' does not exist in the tenant (give a userPrincipalName or an object id)"
    )]
    KeptUserNotFound(String),
    #[error("the tenant has no initial *.onmicrosoft.com domain in organization.verifiedDomains")]
    NoInitialDomain,
    #[error("internal: the action graph has a cycle through {0}")]
    Cycle(String),
}

/// Computes the plan that takes `state` to the closed tenant `spec` declares.
///
/// `plan_id` and `created_at` are passed in so the function stays pure and deterministic.
///
/// # Errors
/// [`PlanError::NoKeptGlobalAdministrator`] when no kept user holds the Global
/// Administrator role (the tenant could then never be deleted), [`PlanError::KeptUserNotFound`]
/// for a kept user that does not exist.
pub fn plan(
    state: &TenantState,
    spec: &ClosureSpec,
    plan_id: String,
    created_at: String,
) -> Result<Plan, PlanError> {
    let keep = resolve_keep(state, spec)?;
    let initial_domain = state
        .initial_domain()
        .ok_or(PlanError::NoInitialDomain)?
        .to_string();
    let mut actions = diff::actions(state, spec, &keep);
    let graph = ActionGraph::build(&actions).map_err(|e| match e {
        DagError::Cycle(a) => PlanError::Cycle(a),
        DagError::UnknownDependency { from, to } => PlanError::Cycle(format!("{from} -> {to}")),
    })?;
    // The file order: by step, then kind, then name; the DAG guarantees it is executable.
    actions.sort_by(|a, b| {
        (a.step(), a.kind, a.name.to_lowercase(), &a.object_id).cmp(&(
            b.step(),
            b.kind,
            b.name.to_lowercase(),
            &b.object_id,
        ))
    });
    drop(graph);
    Ok(Plan {
        tenant: TenantRef {
            id: state.organization.id.clone(),
            display_name: state.organization.display_name.clone().unwrap_or_default(),
            initial_domain,
        },
        plan_id,
        created_at,
        tool_version: TOOL_VERSION.to_string(),
        keep,
        actions,
        preflight: preflight(state, &spec_keep_ids(state, spec)),
    })
}

fn spec_keep_ids(state: &TenantState, spec: &ClosureSpec) -> Vec<String> {
    spec.keep
        .iter()
        .filter_map(|k| state.find_kept_user(k).map(|u| u.id.clone()))
        .collect()
}

/// Resolves the kept users and checks that a Global Administrator is among them.
fn resolve_keep(state: &TenantState, spec: &ClosureSpec) -> Result<Vec<KeptUser>, PlanError> {
    let mut keep: Vec<KeptUser> = Vec::new();
    for k in &spec.keep {
        let user = state
            .find_kept_user(k)
            .ok_or_else(|| PlanError::KeptUserNotFound(k.clone()))?;
        if keep.iter().any(|x| x.id == user.id) {
            continue;
        }
        keep.push(KeptUser {
            id: user.id.clone(),
            user_principal_name: user.user_principal_name.clone(),
            roles: state
                .roles_of(&user.id)
                .iter()
                .map(|r| r.display_name.clone())
                .collect(),
        });
    }
    keep.sort_by(|a, b| {
        a.user_principal_name
            .to_lowercase()
            .cmp(&b.user_principal_name.to_lowercase())
    });
    let admins = state.global_administrators();
    if !keep.iter().any(|k| admins.contains(&k.id.as_str())) {
        let mut candidates: Vec<&str> = admins
            .iter()
            .filter_map(|id| state.users.iter().find(|u| &u.id == id))
            .map(|u| u.user_principal_name.as_str())
            .collect();
        candidates.sort_by_key(|s| s.to_lowercase());
        return Err(PlanError::NoKeptGlobalAdministrator {
            candidates: if candidates.is_empty() {
                "none found".to_string()
            } else {
                candidates.join(", ")
            },
        });
    }
    Ok(keep)
}
