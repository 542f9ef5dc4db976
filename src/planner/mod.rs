//! Computes the closure plan from a tenant's state and the closure spec: the target
//! ("closed") tenant, the difference to it, and the action DAG. Pure: no HTTP, no files.

mod azure;
mod commerce;
mod dag;
mod data;
mod diff;
mod preflight;
mod self_service;
mod spec;

pub use dag::{ActionGraph, DagError, EDGE_RULES};
pub use diff::{
    application_fields, conditional_access_fields, deleted_user_fields, directory_sync_fields,
    domain_fields, is_own_access, object_fields, own_access_last, per_user_mfa_fields,
    security_defaults_fields, service_principal_fields, subscription_fields, user_fields,
};

/// The DAG's node type.
pub mod dag_node {
    pub use super::dag::Node;
}
pub use azure::{
    azure_cancel_fields, azure_delete_fields, azure_object_fields, AZURE_PORTAL_SUBSCRIPTIONS,
};
pub use data::data_report;
pub use preflight::preflight;
pub use self_service::{is_explained, self_service_products, unexplained_skus};
pub use spec::{ApplicationPolicy, Billing, BillingChannel, ClosureSpec, ManualActions};

use crate::model::TenantState;
use crate::plan::{Action, ActionKind, KeptUser, Plan, TenantRef, TOOL_VERSION};

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
    #[error(
        "no kept Global Administrator can sign in: {disabled} is disabled (accountEnabled false). \
         Enable the account first, or keep another Global Administrator (enabled ones here: {candidates})"
    )]
    KeptAdministratorDisabled {
        disabled: String,
        candidates: String,
    },
    #[error(
        "{count} users are kept ({names}), but Microsoft deletes a tenant only when exactly one user, \
         a Global Administrator, is left. Keep one, or set manual_actions.delete_tenant: false in the \
         closure spec to only empty the tenant"
    )]
    TooManyKept { count: usize, names: String },
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
    plan_as(state, spec, None, plan_id, created_at)
}

/// [`plan`] for a closeout signed in as the application `signed_in_app` (its appId, from
/// the access token's `appid`/`azp` claim or the configured client id; see
/// [`crate::identity`]). closeout never cuts off its own access: that app's service
/// principal and registration (and its purge) wait for every other action but the
/// tenant's deletion, manual ones included, so they go last, with the reason in a warning.
///
/// # Errors
/// As [`plan`].
pub fn plan_as(
    state: &TenantState,
    spec: &ClosureSpec,
    signed_in_app: Option<&str>,
    plan_id: String,
    created_at: String,
) -> Result<Plan, PlanError> {
    plan_unchecked_as(state, spec, signed_in_app, plan_id, created_at)?.check()
}

/// [`plan_as`] without the dependency check ([`Unchecked::check`]).
///
/// # Errors
/// As [`plan`], but for [`PlanError::Cycle`].
pub fn plan_unchecked_as(
    state: &TenantState,
    spec: &ClosureSpec,
    signed_in_app: Option<&str>,
    plan_id: String,
    created_at: String,
) -> Result<Unchecked, PlanError> {
    let keep = resolve_keep(state, spec)?;
    let initial_domain = state
        .initial_domain()
        .ok_or(PlanError::NoInitialDomain)?
        .to_string();
    let mut actions = diff::actions(state, spec, &keep);
    let billing_check = commerce::apply_channel(&mut actions, state, spec, &created_at);
    if let Some(app) = signed_in_app {
        diff::own_access_last(&mut actions, app);
    }
    sort_actions(&mut actions, signed_in_app);
    Ok(Unchecked(Plan {
        tenant: TenantRef {
            id: state.organization.id.clone(),
            display_name: state.organization.display_name.clone().unwrap_or_default(),
            initial_domain,
        },
        plan_id,
        created_at,
        tool_version: TOOL_VERSION.to_string(),
        keep,
        target: spec.target(),
        actions,
        preflight: {
            let mut checks = preflight(state, &spec_keep_ids(state, spec));
            checks.extend(billing_check);
            checks
        },
        data: None,
    }))
}

/// A plan whose dependency graph is not checked yet: [`Unchecked::check`] gives the plan.
/// (The check builds the DAG; a caller that holds the tenant as read can drop it first, so
/// the two are never in memory together.)
#[must_use]
pub struct Unchecked(Plan);

impl Unchecked {
    /// Checks that the actions form a DAG (every dependency names an action, no cycle).
    ///
    /// # Errors
    /// [`PlanError::Cycle`].
    pub fn check(self) -> Result<Plan, PlanError> {
        let graph = ActionGraph::build(&self.0.actions).map_err(|e| match e {
            DagError::Cycle(a) => PlanError::Cycle(a),
            DagError::UnknownDependency { from, to } => PlanError::Cycle(format!("{from} -> {to}")),
        })?;
        drop(graph);
        Ok(self.0)
    }

    /// The plan, for adding what the caller knows (the data report) before the check.
    pub fn plan_mut(&mut self) -> &mut Plan {
        &mut self.0
    }
}

/// The file order: by step, then kind, then name; the DAG guarantees it is executable.
/// Kind and object id make each key unique (one address per action), so an unstable sort
/// gives the one order, in place (no buffer of half the plan).
fn sort_actions(actions: &mut [Action], signed_in_app: Option<&str>) {
    // closeout's own app, when it is in the plan, comes last but for the tenant deletion.
    let own = |a: &Action| signed_in_app.is_some_and(|app| diff::is_own_access(a, app));
    let last = |a: &Action| a.kind == ActionKind::DeleteTenant;
    actions.sort_unstable_by(|a, b| {
        (a.step(), last(a), own(a), a.kind)
            .cmp(&(b.step(), last(b), own(b), b.kind))
            .then_with(|| cmp_lowercase(&a.name, &b.name))
            .then_with(|| a.object_id.cmp(&b.object_id))
    });
}

/// The actions [`plan`] would plan for `state` that `known(kind, object id)` does not
/// already know, in plan order, or why no plan can be made ([`plan`]'s errors but a
/// cycle: no DAG is built). Users whose every action is known are not computed at all, so
/// the drift check of a saved plan of 100,000s of users holds no second copy of them. The
/// result may still hold known actions of other objects: callers filter.
///
/// # Errors
/// As [`plan`]: no kept Global Administrator, a kept user that does not exist, no initial
/// domain.
pub fn actions_not_known(
    state: &TenantState,
    spec: &ClosureSpec,
    known: &dyn Fn(ActionKind, &str) -> bool,
) -> Result<Vec<Action>, PlanError> {
    let keep = resolve_keep(state, spec)?;
    state.initial_domain().ok_or(PlanError::NoInitialDomain)?;
    let mut actions = diff::actions_except(state, spec, &keep, known);
    actions.retain(|a| !known(a.kind, &a.object_id));
    sort_actions(&mut actions, None);
    Ok(actions)
}

/// `a.to_lowercase().cmp(&b.to_lowercase())`, without allocating when both are ASCII (a
/// plan of 100,000s of actions compares names millions of times while sorting).
fn cmp_lowercase(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.to_lowercase().cmp(&b.to_lowercase())
    }
}

fn spec_keep_ids(state: &TenantState, spec: &ClosureSpec) -> Vec<String> {
    spec.keep
        .iter()
        .filter_map(|k| state.find_kept_user(k).map(|u| u.id.to_string()))
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
            id: user.id.to_string(),
            user_principal_name: user.user_principal_name.to_string(),
            roles: state
                .roles_of(&user.id)
                .iter()
                .map(|r| r.display_name.clone())
                .collect(),
        });
    }
    keep.sort_by(|a, b| crate::ident::cmp_upn(&a.user_principal_name, &b.user_principal_name));
    let admins = state.global_administrators();
    let enabled = |id: &str| {
        state
            .users
            .iter()
            .any(|u| u.id == id && u.account_enabled != Some(false))
    };
    let mut candidates: Vec<&str> = admins
        .iter()
        .filter(|id| enabled(id))
        .filter_map(|id| state.users.iter().find(|u| &u.id == id))
        .map(|u| u.user_principal_name.as_str())
        .collect();
    candidates.sort_by_key(|s| s.to_lowercase());
    let candidates = if candidates.is_empty() {
        "none found".to_string()
    } else {
        candidates.join(", ")
    };
    let kept_admins: Vec<&KeptUser> = keep
        .iter()
        .filter(|k| admins.contains(&k.id.as_str()))
        .collect();
    if kept_admins.is_empty() {
        return Err(PlanError::NoKeptGlobalAdministrator { candidates });
    }
    // The one who deletes the tenant must be able to sign in.
    if !kept_admins.iter().any(|k| enabled(&k.id)) {
        return Err(PlanError::KeptAdministratorDisabled {
            disabled: kept_admins
                .iter()
                .map(|k| k.user_principal_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            candidates,
        });
    }
    if spec.manual_actions.delete_tenant && keep.len() > 1 {
        return Err(PlanError::TooManyKept {
            count: keep.len(),
            names: keep
                .iter()
                .map(|k| k.user_principal_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::plan::ActionKind;

    fn user(id: &str, upn: &str) -> User {
        User {
            id: id.into(),
            user_principal_name: upn.into(),
            user_type: Some("Member".into()),
            account_enabled: Some(true),
            ..User::default()
        }
    }

    fn tenant() -> TenantState {
        let mut t = TenantState {
            organization: Organization {
                id: "t".into(),
                display_name: Some("T".into()),
                on_premises_sync_enabled: Some(true),
                verified_domains: vec![VerifiedDomain {
                    name: "t.onmicrosoft.com".into(),
                    is_initial: true,
                    ..VerifiedDomain::default()
                }],
            },
            users: vec![
                user("ga1", "one@t.example"),
                user("ga2", "two@t.onmicrosoft.com"),
                user("u1", "u1@t.example"),
            ],
            directory_roles: vec![DirectoryRole {
                id: "r".into(),
                display_name: "Global Administrator".into(),
                role_template_id: GLOBAL_ADMINISTRATOR_TEMPLATE_ID.into(),
                members: vec!["ga1".into(), "ga2".into()],
            }],
            subscriptions: vec![CompanySubscription {
                id: "s".into(),
                sku_id: "k".into(),
                sku_part_number: "E3".into(),
                status: "Enabled".into(),
                ..CompanySubscription::default()
            }],
            domains: vec![
                Domain {
                    id: "t.onmicrosoft.com".into(),
                    is_initial: true,
                    ..Domain::default()
                },
                Domain {
                    id: "t.example".into(),
                    is_default: true,
                    ..Domain::default()
                },
            ],
            security_defaults: SecurityDefaults {
                id: "sd".into(),
                is_enabled: true,
            },
            ..TenantState::default()
        };
        t.users[2].on_premises_sync_enabled = Some(true);
        t.normalize();
        t
    }

    fn spec(keep: &[&str]) -> ClosureSpec {
        ClosureSpec {
            keep: keep.iter().map(|k| k.to_string()).collect(),
            ..ClosureSpec::default()
        }
    }

    #[test]
    fn never_plans_without_a_kept_global_administrator() {
        let t = tenant();
        for keep in [&[][..], &["u1@t.example"][..]] {
            let err = plan(&t, &spec(keep), String::new(), String::new()).unwrap_err();
            assert!(
                matches!(err, PlanError::NoKeptGlobalAdministrator { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn kept_users_are_never_deleted_and_matching_is_case_insensitive() {
        let t = tenant();
        let p = plan(&t, &spec(&["ONE@T.EXAMPLE"]), String::new(), String::new()).unwrap();
        let deleted: Vec<&str> = p
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::DeleteUser)
            .map(|a| a.object_id.as_str())
            .collect();
        assert_eq!(deleted, vec!["ga2", "u1"]);
    }

    #[test]
    fn every_dependency_points_backwards_in_step_order_and_the_dag_is_acyclic() {
        let t = tenant();
        let p = plan(&t, &spec(&["ga1"]), String::new(), String::new()).unwrap();
        let g = ActionGraph::build(&p.actions).unwrap();
        assert_eq!(g.order.len(), p.actions.len());
        for a in &p.actions {
            for d in &a.depends_on {
                let step = match d.strip_prefix("step:") {
                    Some(n) => n.parse::<u8>().unwrap(),
                    None => p.action(d).unwrap().step().number(),
                };
                assert!(
                    step <= a.step().number(),
                    "{} depends on later {d}",
                    a.address
                );
            }
        }
        // The synced user waits for sync to be off; the domain for the kept user's move.
        let u1 = p.action("delete_user.u1").unwrap();
        assert!(u1
            .depends_on
            .iter()
            .any(|d| d == "disable_directory_sync.t"));
        let dom = p.action("delete_domain.t.example").unwrap();
        assert!(dom
            .depends_on
            .iter()
            .any(|d| d == "move_user_to_initial_domain.ga1"));
        assert!(dom
            .depends_on
            .iter()
            .any(|d| d == "set_default_domain.t.onmicrosoft.com"));
        let tenant_deletion = p.actions.last().unwrap();
        assert_eq!(tenant_deletion.kind, ActionKind::DeleteTenant);
    }

    #[test]
    fn a_kept_upn_on_a_removed_domain_only_falls_back_to_an_administrator() {
        let mut t = tenant();
        t.users.push(user("u2", "u2@t.onmicrosoft.com"));
        // t.gone is not a domain of the tenant: the administrator moved to the initial
        // domain is found, an ordinary user with the same name is not.
        assert_eq!(
            t.find_kept_user("TWO@t.gone").map(|u| u.id.as_str()),
            Some("ga2")
        );
        assert!(t.find_kept_user("u2@t.gone").is_none());
        // A domain the tenant still has is never substituted.
        assert!(t.find_kept_user("two@t.example").is_none());
    }

    #[test]
    fn a_cycle_is_reported() {
        let t = tenant();
        let mut p = plan(&t, &spec(&["ga1"]), String::new(), String::new()).unwrap();
        let purge = p
            .actions
            .iter()
            .position(|a| a.address == "purge_user.u1")
            .unwrap();
        let delete = p
            .actions
            .iter()
            .position(|a| a.address == "delete_user.u1")
            .unwrap();
        p.actions[delete].depends_on.push("purge_user.u1".into());
        assert!(matches!(
            ActionGraph::build(&p.actions),
            Err(DagError::Cycle(_))
        ));
        p.actions[purge].depends_on.push("nonexistent".into());
        assert!(ActionGraph::build(&p.actions).is_err());
    }
}
