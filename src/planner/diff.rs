//! The difference between the tenant and the closed target, as actions.
//!
//! Each action records the fields of its object that the decision depended on (`before`),
//! so apply can tell an unchanged object from drift.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::dag::step_dependency;
use super::spec::{ApplicationPolicy, ClosureSpec};
use crate::model::{
    Application, CompanySubscription, ConditionalAccessPolicy, Domain, PerUserMfaState,
    ServicePrincipal, TenantState, User, PRIVILEGED_ROLE_TEMPLATE_IDS,
};
use crate::plan::{Action, ActionKind, Fields, KeptUser, SharedText, Step};

/// Where people cancel and delete subscriptions.
const ADMIN_CENTER_BILLING: &str =
    "Microsoft 365 admin center (https://admin.microsoft.com) > Billing > Your products";
/// Where people delete the tenant.
const ENTRA_MANAGE_TENANTS: &str =
    "Microsoft Entra admin center (https://entra.microsoft.com) > Identity > Overview > Manage tenants";

fn action(kind: ActionKind, object_id: &str, name: &str, reason: impl Into<String>) -> Action {
    action_on(
        kind,
        SharedText::own(object_id),
        SharedText::own(name),
        reason,
    )
}

/// An action on an object whose id and name other actions share (a user's delete and purge).
fn action_on(
    kind: ActionKind,
    object_id: SharedText,
    name: SharedText,
    reason: impl Into<String>,
) -> Action {
    Action {
        address: SharedText::own(&Action::address_of(kind, &object_id)),
        kind,
        object_id,
        name,
        reason: SharedText::new(&reason.into()),
        before: Fields::new(),
        after: Fields::new(),
        depends_on: Default::default(),
        warnings: Default::default(),
        instructions: None,
        automated: !kind.is_manual(),
        commerce: Fields::new(),
    }
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().collect()
}

fn deleted() -> Fields {
    fields([("deleted", json!(true))])
}

/// The fields of a user that deciding to delete it depended on.
pub fn user_fields(state: &TenantState, u: &User) -> Fields {
    let mut skus: Vec<&str> = u
        .assigned_licenses
        .iter()
        .map(|l| l.sku_id.as_str())
        .collect();
    skus.sort();
    let roles: Vec<&str> = state
        .roles_of(&u.id)
        .iter()
        .map(|r| r.display_name.as_str())
        .collect();
    fields([
        ("userPrincipalName", json!(u.user_principal_name)),
        ("userType", json!(u.user_type)),
        ("accountEnabled", json!(u.account_enabled)),
        ("onPremisesSyncEnabled", json!(u.on_premises_sync_enabled)),
        ("assignedLicenses", json!(skus)),
        ("directoryRoles", json!(roles)),
    ])
}

/// The fields of a subscription that its manual actions depend on.
pub fn subscription_fields(s: &CompanySubscription) -> Fields {
    fields([
        ("skuPartNumber", json!(s.sku_part_number)),
        ("skuId", json!(s.sku_id)),
        ("status", json!(s.status)),
        ("isTrial", json!(s.is_trial.unwrap_or(false))),
        ("totalLicenses", json!(s.total_licenses)),
        ("nextLifecycleDateTime", json!(s.next_lifecycle_date_time)),
    ])
}

/// The fields of a user already in the recycle bin that purging it depended on.
pub fn deleted_user_fields(u: &User) -> Fields {
    fields([
        ("deleted", json!(true)),
        ("deletedDateTime", json!(u.deleted_date_time)),
    ])
}

/// The fields of the organization that turning off directory synchronization depended on.
pub fn directory_sync_fields(state: &TenantState) -> Fields {
    fields([(
        "onPremisesSyncEnabled",
        json!(state.organization.on_premises_sync_enabled),
    )])
}

/// The fields of the security defaults policy that turning it off depended on.
pub fn security_defaults_fields(state: &TenantState) -> Fields {
    fields([("isEnabled", json!(state.security_defaults.is_enabled))])
}

/// The fields of a Conditional Access policy that disabling it depended on.
pub fn conditional_access_fields(p: &ConditionalAccessPolicy) -> Fields {
    fields([
        ("displayName", json!(p.display_name)),
        ("state", json!(p.state)),
        ("requiresMfa", json!(p.requires_mfa())),
    ])
}

/// The per-user MFA field of a (kept) user.
pub fn per_user_mfa_fields(state: &TenantState, user_id: &str) -> Fields {
    fields([(
        "perUserMfaState",
        json!(state.per_user_mfa_of(user_id).as_str()),
    )])
}

/// The fields of a service principal that deleting (own and third-party apps) or
/// disabling it (Microsoft first-party apps, which also record `accountEnabled`) depended on.
pub fn service_principal_fields(sp: &ServicePrincipal) -> Fields {
    let mut f = fields([
        ("appId", json!(sp.app_id)),
        (
            "appOwnerOrganizationId",
            json!(sp.app_owner_organization_id),
        ),
    ]);
    if sp.is_first_party() {
        f.insert("accountEnabled", json!(sp.account_enabled));
    }
    f
}

/// The fields of an app registration that deleting it depended on.
pub fn application_fields(app: &Application) -> Fields {
    fields([("appId", json!(app.app_id))])
}

/// The fields of a custom domain that removing it depended on.
pub fn domain_fields(d: &Domain) -> Fields {
    fields([
        ("isDefault", json!(d.is_default)),
        ("isVerified", json!(d.is_verified)),
        ("authenticationType", json!(d.authentication_type)),
    ])
}

/// The live fields of the object an action of `kind` on `object_id` acts on, extracted
/// from `state` exactly as the planner records them in the action's `before`; `None` when
/// the object is not where the kind looks for it. Purge actions look in both places: an
/// active object gives `{"deleted": false}`, one in the recycle bin
/// `{"deleted": true, ...}`. Used by apply to tell an unchanged object from drift.
pub fn object_fields(state: &TenantState, kind: ActionKind, object_id: &str) -> Option<Fields> {
    let id = object_id;
    let same = |a: &str| a.eq_ignore_ascii_case(id);
    match kind {
        ActionKind::DisableDirectorySync => {
            same(&state.organization.id).then(|| directory_sync_fields(state))
        }
        ActionKind::DeleteUser => state.user(id).map(|u| user_fields(state, u)),
        ActionKind::PurgeUser => {
            if state.user(id).is_some() {
                Some(fields([("deleted", json!(false))]))
            } else {
                state.deleted_user(id).map(deleted_user_fields)
            }
        }
        ActionKind::CancelSubscription
        | ActionKind::DeleteSubscription
        | ActionKind::DisableAutoRenew => state
            .subscriptions
            .iter()
            .find(|s| same(&s.id))
            .map(subscription_fields),
        ActionKind::DisableSecurityDefaults => Some(security_defaults_fields(state)),
        ActionKind::DisableConditionalAccessPolicy => state
            .conditional_access_policies
            .iter()
            .find(|p| same(&p.id))
            .map(conditional_access_fields),
        ActionKind::DisablePerUserMfa => state.user(id).map(|u| per_user_mfa_fields(state, &u.id)),
        ActionKind::DeleteServicePrincipal | ActionKind::DisableServicePrincipal => state
            .service_principals
            .iter()
            .find(|sp| same(&sp.id))
            .map(service_principal_fields),
        ActionKind::DeleteApplication => state
            .applications
            .iter()
            .find(|a| same(&a.id))
            .map(application_fields),
        ActionKind::PurgeApplication => {
            if state.applications.iter().any(|a| same(&a.id)) {
                Some(fields([("deleted", json!(false))]))
            } else {
                state
                    .deleted_applications
                    .iter()
                    .any(|a| same(&a.id))
                    .then(|| fields([("deleted", json!(true))]))
            }
        }
        ActionKind::MoveUserToInitialDomain => state
            .user(id)
            .map(|u| fields([("userPrincipalName", json!(u.user_principal_name))])),
        ActionKind::SetDefaultDomain => state
            .domains
            .iter()
            .find(|d| same(&d.id))
            .map(|d| fields([("isDefault", json!(d.is_default))])),
        ActionKind::DeleteDomain => state
            .domains
            .iter()
            .find(|d| same(&d.id))
            .map(domain_fields),
        ActionKind::DeleteTenant => {
            same(&state.organization.id).then(|| fields([("exists", json!(true))]))
        }
        ActionKind::DeleteSelfServiceProduct | ActionKind::RemoveUnexplainedSku => {
            super::self_service::object_fields(state, kind, object_id)
        }
        ActionKind::CancelAzureSubscription
        | ActionKind::CancelAzureSubscriptionInPortal
        | ActionKind::DeleteAzureSubscription => super::azure::azure_object_fields(state, kind, id),
    }
}

/// Computes the actions (unsorted) that take `state` to the target.
pub fn actions(state: &TenantState, spec: &ClosureSpec, keep: &[KeptUser]) -> Vec<Action> {
    actions_except(state, spec, keep, &|_, _| false)
}

/// [`actions`], leaving out users all of whose actions `known(kind, object id)` already
/// knows (the drift check asks for what a saved plan lacks: building the 100,000s of user
/// actions it has would double its memory). Every other action is computed as usual.
pub fn actions_except(
    state: &TenantState,
    spec: &ClosureSpec,
    keep: &[KeptUser],
    known: &dyn Fn(ActionKind, &str) -> bool,
) -> Vec<Action> {
    let kept: BTreeSet<&str> = keep.iter().map(|k| k.id.as_str()).collect();
    // Reserved once: users and their purges are nearly all of a large plan, and a vector
    // grown by doubling would keep up to twice their space.
    let per_user = if spec.purge_recycle_bin { 2 } else { 1 };
    let mut out = Vec::with_capacity(
        state.users.len() * per_user
            + state.deleted_users.len()
            + 2 * (state.subscriptions.len() + state.applications.len())
            + state.service_principals.len()
            + state.deleted_applications.len()
            + state.conditional_access_policies.len()
            + state.domains.len()
            + 8,
    );

    // Step 1: directory sync, users, recycle bin.
    let sync_on = state.organization.on_premises_sync_enabled == Some(true);
    let sync_address = Action::address_of(ActionKind::DisableDirectorySync, &state.organization.id);
    if sync_on {
        let mut a = action(
            ActionKind::DisableDirectorySync,
            &state.organization.id,
            state.organization.display_name.as_deref().unwrap_or("organization"),
            "Users synchronized from on-premises Active Directory cannot be deleted in the cloud while directory synchronization is on.",
        );
        a.before = directory_sync_fields(state);
        a.after = fields([("onPremisesSyncEnabled", json!(false))]);
        a.warnings.push(
            "Turning off directory synchronization can take up to 72 hours to complete and cannot be turned back on for 72 hours. Stop the Entra Connect sync server first so it does not recreate objects.".to_string(),
        );
        out.push(a);
    }
    for u in &state.users {
        if kept.contains(u.id.as_str()) {
            continue;
        }
        if known(ActionKind::DeleteUser, &u.id)
            && (!spec.purge_recycle_bin || known(ActionKind::PurgeUser, &u.id))
        {
            continue;
        }
        // The user's id and name are shared with the tenant as read (no copy per action).
        let mut a = action_on(
            ActionKind::DeleteUser,
            u.id.clone(),
            u.user_principal_name.clone(),
            if u.is_guest() {
                "Guest users are directory objects: the tenant cannot be deleted while they exist."
            } else {
                "Only the kept Global Administrator may remain before the tenant is deleted."
            },
        );
        a.before = user_fields(state, u);
        a.after = deleted();
        let privileged: Vec<String> = state
            .roles_of(&u.id)
            .iter()
            .filter(|r| {
                PRIVILEGED_ROLE_TEMPLATE_IDS
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&r.role_template_id))
            })
            .map(|r| r.display_name.clone())
            .collect();
        if !privileged.is_empty() {
            a.warnings.push(format!(
                "holds privileged role(s) {}: deleting this user needs the caller to hold a privileged role too (Privileged Authentication Administrator or Global Administrator); User.DeleteRestore.All alone gets 403 Authorization_RequestDenied",
                privileged.join(", ")
            ));
        }
        if u.is_synced() {
            a.depends_on.push(sync_address.clone().into());
        }
        // The purge shares the user's id, name and the delete's address with the delete
        // (one copy per user).
        let (id, name, delete) = (a.object_id.clone(), a.name.clone(), a.address.clone());
        out.push(a);
        if spec.purge_recycle_bin {
            let mut p = action_on(
                ActionKind::PurgeUser,
                id,
                name,
                "Deleted users stay in the recycle bin for 30 days and block the tenant's deletion; purging is permanent.",
            );
            p.before = fields([("deleted", json!(false))]);
            p.after = fields([("purged", json!(true))]);
            // Exactly one entry: a vector grown by a push reserves four.
            p.depends_on = thin_vec::thin_vec![delete];
            out.push(p);
        }
    }
    if spec.purge_recycle_bin {
        for u in &state.deleted_users {
            if known(ActionKind::PurgeUser, &u.id) {
                continue;
            }
            let mut p = action_on(
                ActionKind::PurgeUser,
                u.id.clone(),
                u.user_principal_name.clone(),
                "Already in the recycle bin: deleted users block the tenant's deletion until purged.",
            );
            p.before = deleted_user_fields(u);
            p.after = fields([("purged", json!(true))]);
            out.push(p);
        }
    }

    // Steps 2 and 3: subscriptions (manual: Graph can only read them).
    // Self-service products and SKUs nothing explains have their own manual actions.
    super::self_service::actions(state, spec, &mut out);
    for s in &state.subscriptions {
        if s.is_deleted() || s.is_self_service_or_free() {
            continue;
        }
        let label = subscription_label(s);
        let cancel_address = Action::address_of(ActionKind::CancelSubscription, &s.id);
        if s.is_active() && spec.manual_actions.cancel_subscriptions {
            let mut a = action(
                ActionKind::CancelSubscription,
                &s.id,
                &label,
                "Active subscriptions must be cancelled before they can be deleted; Graph can read subscriptions but not cancel them.",
            );
            a.before = subscription_fields(s);
            a.after = fields([("status", json!("Suspended"))]);
            a.depends_on.push(step_dependency(Step::Users).into());
            a.instructions = Some(cancel_instructions(s, spec.billing.channel));
            if s.is_trial == Some(true) {
                a.warnings.push(match &s.next_lifecycle_date_time {
                    Some(when) => format!("trial subscription: it can also be left to expire (its status changes next at {when}, Graph's nextLifecycleDateTime)"),
                    None => "trial subscription: it can also be left to expire".to_string(),
                });
            }
            out.push(a);
        }
        if !spec.manual_actions.delete_subscriptions {
            continue;
        }
        let mut d = action(
            ActionKind::DeleteSubscription,
            &s.id,
            &label,
            "Every subscription must be deleted before the directory can be; Graph cannot delete subscriptions.",
        );
        d.before = subscription_fields(s);
        d.after = fields([("status", json!("Deleted"))]);
        if s.is_active() && spec.manual_actions.cancel_subscriptions {
            d.depends_on.push(cancel_address.into());
        }
        d.instructions = Some(delete_instructions(s));
        if s.status == "Suspended" {
            if let Some(when) = &s.next_lifecycle_date_time {
                d.warnings.push(format!(
                    "disabled: Microsoft deletes it on its own when its term ends; its status changes next at {when} (Graph's nextLifecycleDateTime), or delete it in the admin center now"
                ));
            }
        }
        out.push(d);
    }

    // Steps 2 and 3 for Azure subscriptions (Azure Resource Manager).
    super::azure::actions(state, spec, &mut out);

    // Step 4: multifactor authentication.
    if state.security_defaults.is_enabled {
        let mut a = action(
            ActionKind::DisableSecurityDefaults,
            &state.security_defaults.id,
            "(identitySecurityDefaultsEnforcementPolicy)",
            "Security defaults enforce MFA registration and sign-in for every user.",
        );
        a.before = security_defaults_fields(state);
        a.after = fields([("isEnabled", json!(false))]);
        a.depends_on.push(step_dependency(Step::Users).into());
        out.push(a);
    }
    for p in &state.conditional_access_policies {
        if !(p.is_on() && p.requires_mfa()) {
            continue;
        }
        let mut a = action(
            ActionKind::DisableConditionalAccessPolicy,
            &p.id,
            &p.display_name,
            format!(
                "Conditional Access policy in state '{}' requires multifactor authentication.",
                p.state
            ),
        );
        a.before = conditional_access_fields(p);
        a.after = fields([("state", json!("disabled"))]);
        a.depends_on.push(step_dependency(Step::Users).into());
        out.push(a);
    }
    for u in &state.users {
        if !kept.contains(u.id.as_str()) || u.is_guest() {
            continue;
        }
        let mfa = state.per_user_mfa_of(&u.id);
        if mfa == PerUserMfaState::Disabled {
            continue;
        }
        let mut a = action(
            ActionKind::DisablePerUserMfa,
            &u.id,
            &u.user_principal_name,
            format!("Per-user MFA is '{}' for a user who remains.", mfa.as_str()),
        );
        a.before = per_user_mfa_fields(state, &u.id);
        a.after = fields([("perUserMfaState", json!("disabled"))]);
        a.depends_on.push(step_dependency(Step::Users).into());
        out.push(a);
    }

    // Step 5 prerequisites: applications, domains.
    if spec.applications == ApplicationPolicy::Delete {
        application_actions(state, spec, &mut out);
    }
    domain_actions(state, spec, &kept, &mut out);

    // Step 5: the tenant itself.
    if !spec.manual_actions.delete_tenant {
        return out;
    }
    let mut t = action(
        ActionKind::DeleteTenant,
        &state.organization.id,
        state
            .initial_domain()
            .unwrap_or(state.organization.id.as_str()),
        "The last step: no API deletes a workforce tenant.",
    );
    t.before = fields([("exists", json!(true))]);
    t.after = fields([("exists", json!(false))]);
    for s in [
        Step::Users,
        Step::CancelSubscriptions,
        Step::DeleteSubscriptions,
        Step::Mfa,
    ] {
        t.depends_on.push(step_dependency(s).into());
    }
    t.depends_on.extend(
        out.iter()
            .filter(|a| a.step() == Step::DeleteDirectory)
            .map(|a| a.address.clone()),
    );
    t.instructions = Some(format!(
        "Sign in as a kept Global Administrator to the {ENTRA_MANAGE_TENANTS}, select the tenant, and choose Delete. The admin center checks the same prerequisites as closeout's pre-flight checklist. closeout verifies the tenant is gone by reading it."
    ));
    t.warnings.push(
        "Mandatory MFA for the admin portals cannot be turned off: the administrator signs in with MFA regardless of step 4".to_string(),
    );
    let admins = state.global_administrators();
    let kept_admins: Vec<&User> = state
        .users
        .iter()
        .filter(|u| kept.contains(u.id.as_str()) && admins.contains(&u.id.as_str()))
        .collect();
    if !kept_admins.is_empty() && kept_admins.iter().all(|u| u.is_guest()) {
        t.warnings.push(
            "the kept Global Administrator is a guest (B2B) account: confirm it can delete the tenant, or keep a member Global Administrator instead".to_string(),
        );
    }
    out.push(t);
    out
}

/// Where and how a person cancels `s` (self-service products have their own action, in
/// `self_service.rs`): in the admin center's billing, with the licence and Microsoft
/// Customer Agreement caveats only where they apply.
fn cancel_instructions(s: &CompanySubscription, channel: super::BillingChannel) -> String {
    if channel == super::BillingChannel::PartnerCenter {
        // A CSP customer's subscriptions are the partner's to cancel, not the admin center's.
        return format!(
            "The CSP partner cancels it in Partner Center (Customers > the customer > Subscriptions > {} > Cancel subscription), inside its cancellation window; after the window, the partner turns auto-renew off and it ends with its term. closeout verifies the status becomes Suspended or Deleted in GET /v1.0/directory/subscriptions/{}.",
            s.sku_part_number, s.id
        );
    }
    let verify = format!(
        "closeout verifies the status becomes Suspended (disabled) in GET /v1.0/directory/subscriptions/{}.",
        s.id
    );
    let mut how = format!(
        "{ADMIN_CENTER_BILLING} > {} > Cancel subscription.",
        s.sku_part_number
    );
    if s.is_trial == Some(true) {
        how.push_str(" A trial can also be left to expire.");
    } else {
        if s.total_licenses.is_some_and(|n| n > 25) {
            how.push_str(&format!(
                " It has {} licences: the admin center cancels subscriptions of more than 25 licences only after you reduce them (or through Microsoft support).",
                s.total_licenses.unwrap_or(0)
            ));
        }
        how.push_str(" Under a Microsoft Customer Agreement a subscription can be cancelled only within 7 days of purchase or renewal; otherwise turn off recurring billing and let it end.");
    }
    format!("{how} {verify}")
}

/// Where and how a person deletes `s`; a LockedOut subscription's way is a support request.
fn delete_instructions(s: &CompanySubscription) -> String {
    let verify = format!(
        "closeout verifies the status becomes Deleted in GET /v1.0/directory/subscriptions/{}.",
        s.id
    );
    if s.status == "LockedOut" {
        return format!(
            "Open a Microsoft support request (Microsoft 365 admin center > Support > New service request) asking Microsoft to delete the LockedOut subscription {} (subscription id {}): LockedOut subscriptions are often invisible in the admin center and only support can delete them. {verify}",
            s.sku_part_number, s.id
        );
    }
    format!(
        "{ADMIN_CENTER_BILLING} > {} > Delete subscription (available once it is disabled). {verify}",
        s.sku_part_number
    )
}

/// Whether `a` removes the access of the application `app_id` (appId) closeout signs in
/// as: its service principal (deleted or disabled) or its registration (deleted, purged).
pub fn is_own_access(a: &Action, app_id: &str) -> bool {
    matches!(
        a.kind,
        ActionKind::DeleteServicePrincipal
            | ActionKind::DisableServicePrincipal
            | ActionKind::DeleteApplication
            | ActionKind::PurgeApplication
    ) && a
        .before
        .get("appId")
        .and_then(Value::as_str)
        .is_some_and(|id| id.eq_ignore_ascii_case(app_id))
}

/// Makes the actions that remove closeout's own access (see [`is_own_access`]; purges of
/// its registration follow their delete) wait for every other action but the tenant's
/// deletion, manual ones included: steps 1 to 4 through their gates, step 5's others by
/// address. Each gets a warning that says why.
pub fn own_access_last(actions: &mut [Action], app_id: &str) {
    let own_apps: BTreeSet<String> = actions
        .iter()
        .filter(|a| a.kind == ActionKind::DeleteApplication && is_own_access(a, app_id))
        .map(|a| a.object_id.to_string())
        .collect();
    let own = |a: &Action| {
        is_own_access(a, app_id)
            || (a.kind == ActionKind::PurgeApplication && own_apps.contains(&*a.object_id))
    };
    let own_addresses: BTreeSet<String> = actions
        .iter()
        .filter(|a| own(a))
        .map(|a| a.address.to_string())
        .collect();
    // What waited for the own app (a domain its identifierUris may use) waits no more:
    // closeout keeps its access until the end, and says what to change if Graph refuses.
    for a in actions.iter_mut().filter(|a| {
        a.kind != ActionKind::DeleteTenant && !own_addresses.contains(a.address.as_str())
    }) {
        let before = a.depends_on.len();
        a.depends_on.retain(|d| !own_addresses.contains(d.as_str()));
        if a.depends_on.len() < before {
            a.warnings.push(format!(
                "does not wait for the registration of the application closeout signs in as (appId {app_id}), which goes last: if its identifierUris use this domain, change them (for example to api://{app_id}) first"
            ));
        }
    }
    let others: Vec<SharedText> = actions
        .iter()
        .filter(|a| {
            a.step() == Step::DeleteDirectory && a.kind != ActionKind::DeleteTenant && !own(a)
        })
        .map(|a| a.address.clone())
        .collect();
    for a in actions.iter_mut().filter(|a| own(a)) {
        for s in [
            Step::Users,
            Step::CancelSubscriptions,
            Step::DeleteSubscriptions,
            Step::Mfa,
        ] {
            let gate = step_dependency(s);
            if !a.depends_on.iter().any(|d| *d == gate) {
                a.depends_on.push(gate.into());
            }
        }
        for o in &others {
            if !a.depends_on.iter().any(|d| d == o) {
                a.depends_on.push(o.clone());
            }
        }
        a.warnings.push(format!(
            "closeout signs in as this application (appId {app_id}): it is removed last, once every other action is done and verified (manual ones included), because afterwards closeout can no longer read the tenant; the tenant's deletion is then confirmed by the sign-in error that names the missing tenant or application"
        ));
    }
}

fn subscription_label(s: &CompanySubscription) -> String {
    format!(
        "{} ({}{}, {} licences)",
        s.sku_part_number,
        s.status,
        if s.is_trial == Some(true) {
            ", trial"
        } else {
            ""
        },
        s.total_licenses.unwrap_or(0)
    )
}

fn application_actions(state: &TenantState, spec: &ClosureSpec, out: &mut Vec<Action>) {
    let tenant = state.organization.id.as_str();
    for sp in &state.service_principals {
        let name = sp.display_name.as_deref().unwrap_or(&sp.app_id);
        if sp.is_first_party() {
            if sp.account_enabled == Some(false) {
                continue;
            }
            let mut a = action(
                ActionKind::DisableServicePrincipal,
                &sp.id,
                name,
                "Microsoft first-party service principals refuse deletion; Microsoft's documented workaround is to disable them.",
            );
            a.before = service_principal_fields(sp);
            a.after = fields([("accountEnabled", json!(false))]);
            out.push(a);
            continue;
        }
        let own = sp
            .app_owner_organization_id
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(tenant));
        let mut a = action(
            ActionKind::DeleteServicePrincipal,
            &sp.id,
            name,
            if own {
                "Enterprise applications block the tenant's deletion."
            } else {
                "Third-party enterprise applications block the tenant's deletion."
            },
        );
        a.before = service_principal_fields(sp);
        a.after = deleted();
        out.push(a);
    }
    for app in &state.applications {
        let name = app.display_name.as_deref().unwrap_or(&app.app_id);
        let mut a = action(
            ActionKind::DeleteApplication,
            &app.id,
            name,
            "App registrations block the tenant's deletion.",
        );
        a.before = application_fields(app);
        a.after = deleted();
        // Its service principal goes first, so nothing signs in as a half-removed app.
        for sp in state
            .service_principals
            .iter()
            .filter(|sp| sp.app_id == app.app_id)
        {
            if !sp.is_first_party() {
                a.depends_on
                    .push(Action::address_of(ActionKind::DeleteServicePrincipal, &sp.id).into());
            }
        }
        out.push(a);
        if spec.purge_recycle_bin {
            let mut p = action(
                ActionKind::PurgeApplication,
                &app.id,
                name,
                "Deleted app registrations stay in the recycle bin for 30 days and block the tenant's deletion.",
            );
            p.before = fields([("deleted", json!(false))]);
            p.after = fields([("purged", json!(true))]);
            p.depends_on
                .push(Action::address_of(ActionKind::DeleteApplication, &app.id).into());
            out.push(p);
        }
    }
    if spec.purge_recycle_bin {
        for app in &state.deleted_applications {
            let name = app.display_name.as_deref().unwrap_or(&app.app_id);
            let mut p = action(
                ActionKind::PurgeApplication,
                &app.id,
                name,
                "Already in the recycle bin: deleted app registrations block the tenant's deletion until purged.",
            );
            p.before = fields([("deleted", json!(true))]);
            p.after = fields([("purged", json!(true))]);
            out.push(p);
        }
    }
}

fn domain_actions(
    state: &TenantState,
    spec: &ClosureSpec,
    kept: &BTreeSet<&str>,
    out: &mut Vec<Action>,
) {
    let Some(initial) = state.initial_domain().map(str::to_string) else {
        return;
    };
    // Graph refuses to remove a domain that objects still use, in the recycle bin too. When
    // the recycle bin is not purged, domains that deleted users will keep using are left
    // (the pre-flight checklist reports them).
    let stays_referenced = |domain: &str| {
        !spec.purge_recycle_bin
            && state
                .users
                .iter()
                .filter(|u| !kept.contains(u.id.as_str()))
                .chain(state.deleted_users.iter())
                .any(|u| u.upn_domain().as_deref() == Some(&domain.to_ascii_lowercase()))
    };
    let custom: Vec<_> = state
        .domains
        .iter()
        .filter(|d| !d.is_initial && !d.id.eq_ignore_ascii_case(&initial))
        .filter(|d| !stays_referenced(&d.id))
        .collect();
    let default_is_custom = custom.iter().any(|d| d.is_default);
    let set_default = Action::address_of(ActionKind::SetDefaultDomain, &initial);
    if default_is_custom {
        let mut a = action(
            ActionKind::SetDefaultDomain,
            &initial,
            &initial,
            "The default domain cannot be removed; the initial domain becomes the default first.",
        );
        a.before = fields([("isDefault", json!(false))]);
        a.after = fields([("isDefault", json!(true))]);
        out.push(a);
    }
    let mut moved: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in state.users.iter().filter(|u| kept.contains(u.id.as_str())) {
        let Some(domain) = u.upn_domain() else {
            continue;
        };
        if !custom.iter().any(|d| d.id.eq_ignore_ascii_case(&domain)) {
            continue;
        }
        let local = u
            .user_principal_name
            .rsplit_once('@')
            .map_or("", |(l, _)| l);
        let new_upn = format!("{local}@{initial}");
        let mut a = action(
            ActionKind::MoveUserToInitialDomain,
            &u.id,
            &u.user_principal_name,
            format!("A kept user signs in with domain {domain}, which is removed; the user signs in as {new_upn} afterwards."),
        );
        a.before = fields([("userPrincipalName", json!(u.user_principal_name))]);
        a.after = fields([("userPrincipalName", json!(new_upn))]);
        a.warnings
            .push(format!("after this action, sign in as {new_upn}"));
        moved.entry(domain).or_default().push(a.address.to_string());
        out.push(a);
    }
    for d in custom {
        let mut a = action(
            ActionKind::DeleteDomain,
            &d.id,
            &d.id,
            "Custom domains must be removed before the tenant can be deleted; objects using them (users, also in the recycle bin) go first.",
        );
        a.before = domain_fields(d);
        a.after = deleted();
        a.depends_on.push(step_dependency(Step::Users).into());
        if default_is_custom {
            a.depends_on.push(set_default.clone().into());
        }
        if let Some(m) = moved.get(&d.id.to_ascii_lowercase()) {
            a.depends_on.extend(m.iter().map(SharedText::from));
        }
        // App registrations may use the domain in identifierUris.
        for app in &state.applications {
            a.depends_on
                .push(Action::address_of(ActionKind::DeleteApplication, &app.id).into());
        }
        a.depends_on.retain(|dep| {
            !dep.starts_with("delete_application.") || out.iter().any(|x| &x.address == dep)
        });
        out.push(a);
    }
}
