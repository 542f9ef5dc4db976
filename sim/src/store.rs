//! The simulated tenant's state, every mutation Graph or the admin centers can make to it,
//! and its persistence as an append-only op log. Knows nothing about HTTP.
//!
//! Each mutation is an [`Op`]: validated and applied under one lock, then (when persistence
//! is on) appended as one JSON line and flushed before the lock is released, so a process
//! that is killed loses nothing it acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::collection::Collection;
use crate::error::{Blocker, GraphError, PortalError};
use crate::snapshot::{
    load_snapshot, object_id, str_prop, DirectoryRole, Object, Snapshot, SnapshotError,
    GLOBAL_ADMIN_TEMPLATE_ID, MICROSOFT_TENANT_ID, SUPPORTED_VERSIONS,
};

/// One mutation of the tenant, as written to the op log (one JSON object per line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "camelCase")]
pub(crate) enum Op {
    /// First line of every op log: which snapshot it applies to.
    Header {
        snapshot: String,
    },
    DeleteUser {
        id: String,
        at: String,
    },
    PatchUser {
        id: String,
        patch: Object,
    },
    PurgeDeletedItem {
        id: String,
    },
    PatchSecurityDefaults {
        patch: Object,
    },
    PatchConditionalAccessPolicy {
        id: String,
        patch: Object,
    },
    PatchPerUserMfa {
        id: String,
        state: String,
    },
    DeleteApplication {
        id: String,
        at: String,
    },
    DeleteServicePrincipal {
        id: String,
        at: String,
    },
    PatchServicePrincipal {
        id: String,
        patch: Object,
    },
    PatchDomain {
        id: String,
        patch: Object,
    },
    DeleteDomain {
        id: String,
    },
    PatchOrganization {
        patch: Object,
        beta: bool,
    },
    CancelSubscription {
        id: String,
    },
    DeleteSubscription {
        id: String,
    },
    SupportDeleteSubscription {
        id: String,
    },
    DeleteTenant,
    /// ARM's `Microsoft.Subscription/cancel` or the Azure portal's Cancel.
    CancelAzureSubscription {
        id: String,
        at: String,
    },
    /// The Azure portal's Delete subscription.
    DeleteAzureSubscription {
        id: String,
    },
    /// The Azure portal deletes a resource group.
    DeleteAzureResourceGroup {
        id: String,
        name: String,
    },
    /// Partner Center: PATCH of a customer's subscription (`status`, `autoRenewEnabled`),
    /// with the `If-Match` etag it was sent with ([`crate::commerce::partner_center`]).
    PartnerCenterPatch {
        id: String,
        etag: String,
        status: Option<String>,
        auto_renew: Option<bool>,
        at_ms: u64,
    },
    /// Microsoft.Billing: PATCH `autoRenew` of a billing subscription.
    BillingPatch {
        account: String,
        name: String,
        auto_renew: String,
    },
    /// Microsoft.Billing: DELETE of a billing subscription, starting `operation`.
    BillingCancel {
        account: String,
        name: String,
        operation: String,
        at_ms: u64,
    },
    /// Microsoft.Billing: `operation` was polled to its end.
    BillingOperationDone {
        operation: String,
        at_ms: u64,
    },
}

/// Why an [`Op`] was refused.
#[derive(Debug, Clone)]
pub(crate) enum OpError {
    Graph(GraphError),
    Portal(PortalError),
}

impl From<GraphError> for OpError {
    fn from(e: GraphError) -> Self {
        OpError::Graph(e)
    }
}

impl From<PortalError> for OpError {
    fn from(e: PortalError) -> Self {
        OpError::Portal(e)
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Graph(e) => e.fmt(f),
            OpError::Portal(e) => e.fmt(f),
        }
    }
}

/// The tenant: every collection graph-sim serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tenant {
    pub(crate) organization: Object,
    pub(crate) users: Collection,
    pub(crate) deleted_users: Collection,
    pub(crate) directory_roles: Vec<DirectoryRole>,
    pub(crate) subscriptions: Collection,
    pub(crate) subscribed_skus: Collection,
    pub(crate) security_defaults: Option<Object>,
    pub(crate) ca_policies: Collection,
    pub(crate) per_user_mfa: BTreeMap<String, Object>,
    pub(crate) applications: Collection,
    pub(crate) deleted_applications: Collection,
    pub(crate) service_principals: Collection,
    pub(crate) deleted_service_principals: Collection,
    pub(crate) domains: Collection,
    /// Azure Resource Manager's side ([`crate::arm`]).
    pub(crate) azure: crate::arm::AzureSection,
    /// Partner Center's and Microsoft.Billing's side ([`crate::commerce`]).
    pub(crate) commerce: crate::commerce::Commerce,
    pub(crate) extra: BTreeMap<String, Value>,
    /// Lower-cased userPrincipalName -> id, for `GET /users/{upn}`.
    upn_index: HashMap<String, String>,
    /// Set once the tenant is deleted in the portal.
    pub(crate) deleted: bool,
    /// Read-after-write lag for deletions (see `SimConfig::read_after_write_lag_ms`).
    pub(crate) lag: Option<Duration>,
}

fn is_true(o: &Object, name: &str) -> bool {
    o.get(name).and_then(Value::as_bool) == Some(true)
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

fn display_name(o: &Object) -> String {
    str_prop(o, "userPrincipalName")
        .or(str_prop(o, "displayName"))
        .or(str_prop(o, "skuPartNumber"))
        .unwrap_or("")
        .to_string()
}

fn blocker(kind: &str, o: &Object, reason: &str) -> Blocker {
    Blocker {
        kind: kind.to_string(),
        id: object_id(o).unwrap_or("").to_string(),
        name: display_name(o),
        reason: reason.to_string(),
    }
}

fn azure_refusal(id: &str, message: String) -> OpError {
    PortalError::InvalidState {
        kind: "Azure subscription".into(),
        id: id.to_string(),
        message,
    }
    .into()
}

/// The domain part of a userPrincipalName, lower-cased.
fn upn_domain(upn: &str) -> Option<String> {
    upn.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

impl Tenant {
    fn from_snapshot(mut s: Snapshot) -> Tenant {
        let commerce = crate::commerce::Commerce::load(
            s.partner_center.take(),
            s.billing.take(),
            object_id(&s.organization).unwrap_or(""),
            crate::commerce::now_ms(),
        );
        let mut t = Tenant {
            organization: s.organization,
            users: Collection::from_objects(s.users),
            deleted_users: Collection::from_objects(s.deleted_users),
            directory_roles: s.directory_roles,
            subscriptions: Collection::from_objects(s.subscriptions),
            subscribed_skus: Collection::from_objects(s.subscribed_skus),
            security_defaults: s.security_defaults,
            ca_policies: Collection::from_objects(s.conditional_access_policies),
            per_user_mfa: s.per_user_mfa,
            applications: Collection::from_objects(s.applications),
            deleted_applications: Collection::from_objects(s.deleted_applications),
            service_principals: Collection::from_objects(s.service_principals),
            deleted_service_principals: Collection::from_objects(s.deleted_service_principals),
            domains: Collection::from_objects(s.domains),
            azure: s.azure_subscriptions,
            commerce,
            extra: s.extra,
            ..Tenant::default()
        };
        t.upn_index = t
            .users
            .iter()
            .filter_map(|u| {
                Some((
                    str_prop(u, "userPrincipalName")?.to_ascii_lowercase(),
                    object_id(u)?.to_string(),
                ))
            })
            .collect();
        t
    }

    pub(crate) fn to_snapshot(&self) -> Snapshot {
        Snapshot {
            snapshot_version: SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1],
            organization: self.organization.clone(),
            users: self.users.in_insertion_order(),
            deleted_users: self.deleted_users.in_insertion_order(),
            directory_roles: self.directory_roles.clone(),
            subscriptions: self.subscriptions.in_insertion_order(),
            subscribed_skus: self.subscribed_skus.in_insertion_order(),
            security_defaults: self.security_defaults.clone(),
            conditional_access_policies: self.ca_policies.in_insertion_order(),
            per_user_mfa: self.per_user_mfa.clone(),
            applications: self.applications.in_insertion_order(),
            deleted_applications: self.deleted_applications.in_insertion_order(),
            service_principals: self.service_principals.in_insertion_order(),
            deleted_service_principals: self.deleted_service_principals.in_insertion_order(),
            domains: self.domains.in_insertion_order(),
            azure_subscriptions: self.azure.clone(),
            partner_center: self.commerce.partner_center.clone(),
            billing: self.commerce.billing.clone(),
            extra: self.extra.clone(),
        }
    }

    pub(crate) fn set_shuffle(&mut self, seed: Option<u64>) {
        for c in [
            &mut self.users,
            &mut self.deleted_users,
            &mut self.applications,
            &mut self.deleted_applications,
            &mut self.service_principals,
            &mut self.deleted_service_principals,
        ] {
            c.set_shuffle(seed);
        }
    }

    /// Tenant id (`organization.id`).
    pub(crate) fn tenant_id(&self) -> &str {
        object_id(&self.organization).unwrap_or("")
    }

    /// Resolves `{id | userPrincipalName}` to a user id.
    pub(crate) fn resolve_user(&self, key: &str) -> Option<String> {
        if self.users.contains(key) {
            return Some(key.to_string());
        }
        self.upn_index.get(&key.to_ascii_lowercase()).cloned()
    }

    pub(crate) fn sync_enabled(&self) -> bool {
        is_true(&self.organization, "onPremisesSyncEnabled")
    }

    pub(crate) fn security_defaults_on(&self) -> bool {
        self.security_defaults
            .as_ref()
            .is_some_and(|p| is_true(p, "isEnabled"))
    }

    fn global_admin_role(&self) -> Option<&DirectoryRole> {
        self.directory_roles
            .iter()
            .find(|r| str_prop(&r.object, "roleTemplateId") == Some(GLOBAL_ADMIN_TEMPLATE_ID))
    }

    /// Ids of active users holding Global Administrator.
    pub(crate) fn global_admins(&self) -> Vec<String> {
        self.global_admin_role()
            .map(|r| {
                r.members
                    .iter()
                    .filter(|m| self.users.contains(m))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Applies one op: validates it against the current state, then mutates.
    /// Returns nothing on success; on refusal nothing has changed.
    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), OpError> {
        if self.deleted && !matches!(op, Op::Header { .. }) {
            return Err(PortalError::TenantDeleted.into());
        }
        match op {
            Op::Header { .. } => Ok(()),
            Op::DeleteUser { id, at } => self.delete_user(id, at),
            Op::PatchUser { id, patch } => self.patch_user(id, patch),
            Op::PurgeDeletedItem { id } => self.purge(id),
            Op::PatchSecurityDefaults { patch } => self.patch_security_defaults(patch),
            Op::PatchConditionalAccessPolicy { id, patch } => self.patch_ca_policy(id, patch),
            Op::PatchPerUserMfa { id, state } => self.patch_per_user_mfa(id, state),
            Op::DeleteApplication { id, at } => self.delete_application(id, at),
            Op::DeleteServicePrincipal { id, at } => self.delete_service_principal(id, at, true),
            Op::PatchServicePrincipal { id, patch } => self.patch_service_principal(id, patch),
            Op::PatchDomain { id, patch } => self.patch_domain(id, patch),
            Op::DeleteDomain { id } => self.delete_domain(id),
            Op::PatchOrganization { patch, beta } => self.patch_organization(patch, *beta),
            Op::CancelSubscription { id } => self.cancel_subscription(id),
            Op::DeleteSubscription { id } => self.delete_subscription(id, false),
            Op::SupportDeleteSubscription { id } => self.delete_subscription(id, true),
            Op::DeleteTenant => self.delete_tenant(),
            Op::CancelAzureSubscription { id, at } => {
                self.azure.cancel(id, at).map_err(|m| azure_refusal(id, m))
            }
            Op::DeleteAzureSubscription { id } => {
                self.azure.delete(id).map_err(|m| azure_refusal(id, m))
            }
            Op::PartnerCenterPatch {
                id,
                etag,
                status,
                auto_renew,
                at_ms,
            } => {
                self.commerce
                    .partner_patch(id, etag, status.as_deref(), *auto_renew, *at_ms)?;
                self.settle_commerce(crate::commerce::now_ms());
                Ok(())
            }
            Op::BillingPatch {
                account,
                name,
                auto_renew,
            } => Ok(self.commerce.billing_patch(account, name, auto_renew)?),
            Op::BillingCancel {
                account,
                name,
                operation,
                at_ms,
            } => Ok(self
                .commerce
                .billing_cancel(account, name, operation, *at_ms)?),
            Op::BillingOperationDone { operation, at_ms } => {
                self.commerce.finish_operation(operation, *at_ms)?;
                self.settle_commerce(crate::commerce::now_ms());
                Ok(())
            }
            Op::DeleteAzureResourceGroup { id, name } => self
                .azure
                .delete_resource_group(id, name)
                .map_err(|m| azure_refusal(id, m)),
        }
    }

    /// `DELETE /users/{id}`: <https://learn.microsoft.com/graph/api/user-delete>.
    fn delete_user(&mut self, key: &str, at: &str) -> Result<(), OpError> {
        let id = self
            .resolve_user(key)
            .ok_or_else(|| GraphError::not_found(key))?;
        let user = self
            .users
            .get(&id)
            .ok_or_else(|| GraphError::not_found(key))?;
        if is_true(user, "onPremisesSyncEnabled") && self.sync_enabled() {
            return Err(GraphError::bad_request(
                "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
            )
            .into());
        }
        let admins = self.global_admins();
        if admins.len() == 1 && admins[0] == id {
            return Err(GraphError::bad_request(
                "The last Global Administrator of the organization cannot be deleted. Assign the Global Administrator role to another user first.",
            )
            .into());
        }
        let mut user = self
            .users
            .remove(&id, self.lag)
            .ok_or_else(|| GraphError::not_found(key))?;
        if let Some(upn) = str_prop(&user, "userPrincipalName").map(str::to_string) {
            self.upn_index.remove(&upn.to_ascii_lowercase());
            user.insert(
                "userPrincipalName".into(),
                Value::String(format!("{}{}", id.replace('-', ""), upn)),
            );
        }
        user.insert("deletedDateTime".into(), Value::String(at.to_string()));
        for role in &mut self.directory_roles {
            role.members.retain(|m| m != &id);
        }
        self.deleted_users.insert(user);
        Ok(())
    }

    /// `PATCH /users/{id}`: <https://learn.microsoft.com/graph/api/user-update>.
    fn patch_user(&mut self, key: &str, patch: &Object) -> Result<(), OpError> {
        let id = self
            .resolve_user(key)
            .ok_or_else(|| GraphError::not_found(key))?;
        let synced = self.sync_enabled();
        let user = self
            .users
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(key))?;
        for ro in ["id", "onPremisesSyncEnabled", "deletedDateTime"] {
            if patch.contains_key(ro) {
                return Err(GraphError::bad_request(format!(
                    "Property '{ro}' is read-only and cannot be set."
                ))
                .into());
            }
        }
        if synced && is_true(user, "onPremisesSyncEnabled") {
            return Err(GraphError::bad_request(
                "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
            )
            .into());
        }
        let old_upn = str_prop(user, "userPrincipalName").map(str::to_ascii_lowercase);
        if let Some(upn) = patch.get("userPrincipalName").and_then(Value::as_str) {
            // <https://learn.microsoft.com/graph/api/resources/user>: the domain must be one
            // of the tenant's verified domains, and the name unique.
            let lower = upn.to_ascii_lowercase();
            let domain = lower.rsplit_once('@').map(|(_, d)| d.to_string());
            let verified = domain.as_deref().is_some_and(|d| {
                self.domains.iter().any(|o| {
                    object_id(o).is_some_and(|x| x.eq_ignore_ascii_case(d))
                        && o.get("isVerified").and_then(Value::as_bool) != Some(false)
                })
            });
            if !verified {
                return Err(GraphError::bad_request(format!(
                    "Property userPrincipalName is invalid: the domain of '{upn}' is not a verified domain of this tenant."
                ))
                .into());
            }
            if self.upn_index.get(&lower).is_some_and(|other| *other != id) {
                return Err(GraphError::bad_request(
                    "Another object with the same value for property userPrincipalName already exists.",
                )
                .into());
            }
        }
        let user = self
            .users
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(key))?;
        for (k, v) in patch {
            user.insert(k.clone(), v.clone());
        }
        let new_upn = str_prop(user, "userPrincipalName").map(str::to_ascii_lowercase);
        if old_upn != new_upn {
            if let Some(old) = old_upn {
                self.upn_index.remove(&old);
            }
            if let Some(new) = new_upn {
                self.upn_index.insert(new, id);
            }
        }
        Ok(())
    }

    /// `DELETE /directory/deletedItems/{id}`:
    /// <https://learn.microsoft.com/graph/api/directory-deleteditems-delete>.
    fn purge(&mut self, id: &str) -> Result<(), OpError> {
        if self.deleted_users.remove(id, None).is_some() {
            self.per_user_mfa.remove(id);
            return Ok(());
        }
        for c in [
            &mut self.deleted_applications,
            &mut self.deleted_service_principals,
        ] {
            if c.remove(id, None).is_some() {
                return Ok(());
            }
        }
        Err(GraphError::not_found(id).into())
    }

    /// `PATCH /policies/identitySecurityDefaultsEnforcementPolicy`:
    /// <https://learn.microsoft.com/graph/api/identitysecuritydefaultsenforcementpolicy-update>.
    fn patch_security_defaults(&mut self, patch: &Object) -> Result<(), OpError> {
        if let Some(v) = patch.get("isEnabled") {
            let Some(on) = v.as_bool() else {
                return Err(
                    GraphError::bad_request("Invalid value for property 'isEnabled'.").into(),
                );
            };
            if on {
                if let Some(p) = self
                    .ca_policies
                    .iter()
                    .find(|p| str_prop(p, "state") == Some("enabled"))
                {
                    return Err(GraphError::new(
                        400,
                        "BadRequest",
                        format!(
                            "Security defaults can't be enabled while Conditional Access policies are enabled (policy {}).",
                            object_id(p).unwrap_or("?")
                        ),
                    )
                    .into());
                }
            }
        }
        let policy = self.security_defaults.get_or_insert_with(|| {
            let mut o = Map::new();
            o.insert(
                "id".into(),
                Value::String("00000000-0000-0000-0000-000000000005".into()),
            );
            o.insert("isEnabled".into(), Value::Bool(false));
            o
        });
        for (k, v) in patch {
            if k != "id" {
                policy.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    /// `PATCH /identity/conditionalAccess/policies/{id}`:
    /// <https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update>.
    fn patch_ca_policy(&mut self, id: &str, patch: &Object) -> Result<(), OpError> {
        let sd_on = self.security_defaults_on();
        let policy = self.ca_policies.get_mut(id).ok_or_else(|| {
            GraphError::new(404, "ResourceNotFound", format!("Policy '{id}' not found."))
        })?;
        if let Some(state) = patch.get("state") {
            let Some(state) = state.as_str() else {
                return Err(
                    GraphError::new(400, "BadRequest", "Invalid value for 'state'.").into(),
                );
            };
            if !["enabled", "disabled", "enabledForReportingButNotEnforced"].contains(&state) {
                return Err(GraphError::new(
                    400,
                    "BadRequest",
                    format!("Requested value '{state}' was not found."),
                )
                .into());
            }
            if state == "enabled" && sd_on {
                return Err(GraphError::new(
                    400,
                    "BadRequest",
                    "Security Defaults is enabled in the tenant. Disable Security Defaults before enabling Conditional Access policies.",
                )
                .into());
            }
        }
        for (k, v) in patch {
            if k != "id" {
                policy.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    /// `PATCH /beta/users/{id}/authentication/requirements`:
    /// <https://learn.microsoft.com/graph/api/strongauthenticationrequirements-update?view=graph-rest-beta>.
    fn patch_per_user_mfa(&mut self, key: &str, state: &str) -> Result<(), OpError> {
        let id = self
            .resolve_user(key)
            .ok_or_else(|| GraphError::not_found(key))?;
        let user = self
            .users
            .get(&id)
            .ok_or_else(|| GraphError::not_found(key))?;
        if str_prop(user, "userType") == Some("Guest") {
            return Err(GraphError::not_found(key).into());
        }
        if !["disabled", "enabled", "enforced"].contains(&state) {
            return Err(GraphError::bad_request(format!(
                "Invalid value '{state}' for property 'perUserMfaState'."
            ))
            .into());
        }
        let mut o = Map::new();
        o.insert("perUserMfaState".into(), Value::String(state.to_string()));
        self.per_user_mfa.insert(id, o);
        Ok(())
    }

    /// `DELETE /applications/{id}`: <https://learn.microsoft.com/graph/api/application-delete>.
    /// Deleting an app registration also deletes its service principal in the home tenant.
    fn delete_application(&mut self, id: &str, at: &str) -> Result<(), OpError> {
        let mut app = self
            .applications
            .remove(id, self.lag)
            .ok_or_else(|| GraphError::not_found(id))?;
        app.insert("deletedDateTime".into(), Value::String(at.to_string()));
        let app_id = str_prop(&app, "appId").map(str::to_string);
        self.deleted_applications.insert(app);
        if let Some(app_id) = app_id {
            let tenant = self.tenant_id().to_string();
            let home: Vec<String> = self
                .service_principals
                .iter()
                .filter(|sp| {
                    str_prop(sp, "appId") == Some(app_id.as_str())
                        && str_prop(sp, "appOwnerOrganizationId").is_none_or(|o| o == tenant)
                })
                .filter_map(|sp| object_id(sp).map(str::to_string))
                .collect();
            for sp in home {
                self.delete_service_principal(&sp, at, false)?;
            }
        }
        Ok(())
    }

    fn is_first_party(sp: &Object) -> bool {
        str_prop(sp, "appOwnerOrganizationId") == Some(MICROSOFT_TENANT_ID)
    }

    /// `DELETE /servicePrincipals/{id}`: <https://learn.microsoft.com/graph/api/serviceprincipal-delete>.
    fn delete_service_principal(&mut self, id: &str, at: &str, guard: bool) -> Result<(), OpError> {
        let sp = self
            .service_principals
            .get(id)
            .ok_or_else(|| GraphError::not_found(id))?;
        if guard && Self::is_first_party(sp) {
            return Err(GraphError::new(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
            .into());
        }
        let mut sp = self
            .service_principals
            .remove(id, self.lag)
            .ok_or_else(|| GraphError::not_found(id))?;
        sp.insert("deletedDateTime".into(), Value::String(at.to_string()));
        self.deleted_service_principals.insert(sp);
        Ok(())
    }

    /// `PATCH /servicePrincipals/{id}`: <https://learn.microsoft.com/graph/api/serviceprincipal-update>.
    fn patch_service_principal(&mut self, id: &str, patch: &Object) -> Result<(), OpError> {
        let sp = self
            .service_principals
            .get_mut(id)
            .ok_or_else(|| GraphError::not_found(id))?;
        if Self::is_first_party(sp) && patch.keys().any(|k| k != "accountEnabled") {
            return Err(GraphError::new(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
            .into());
        }
        if let Some(v) = patch.get("accountEnabled") {
            if !v.is_boolean() {
                return Err(GraphError::bad_request(
                    "Invalid value specified for property 'accountEnabled' of resource 'ServicePrincipal'.",
                )
                .into());
            }
        }
        for (k, v) in patch {
            if k != "id" {
                sp.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    /// `PATCH /domains/{id}`: <https://learn.microsoft.com/graph/api/domain-update>.
    fn patch_domain(&mut self, id: &str, patch: &Object) -> Result<(), OpError> {
        let domain_id = self
            .domain_key(id)
            .ok_or_else(|| GraphError::not_found(id))?;
        let domain = self
            .domains
            .get(&domain_id)
            .ok_or_else(|| GraphError::not_found(id))?;
        let make_default = patch.get("isDefault").and_then(Value::as_bool) == Some(true);
        if patch.get("isDefault").and_then(Value::as_bool) == Some(false)
            && is_true(domain, "isDefault")
        {
            return Err(GraphError::bad_request(
                "The default domain cannot be unset. Set another verified domain as the default instead.",
            )
            .into());
        }
        if make_default && !is_true(domain, "isVerified") {
            return Err(GraphError::bad_request(
                "Only a verified domain can be set as the default domain.",
            )
            .into());
        }
        if make_default {
            let others: Vec<String> = self
                .domains
                .iter()
                .filter_map(|d| object_id(d).map(str::to_string))
                .filter(|d| d != &domain_id)
                .collect();
            for other in others {
                if let Some(d) = self.domains.get_mut(&other) {
                    d.insert("isDefault".into(), Value::Bool(false));
                }
            }
            self.sync_verified_domains(&domain_id);
        }
        if let Some(d) = self.domains.get_mut(&domain_id) {
            for (k, v) in patch {
                if k != "id" {
                    d.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(())
    }

    /// Mirrors a default-domain change into `organization.verifiedDomains`.
    fn sync_verified_domains(&mut self, default: &str) {
        if let Some(Value::Array(list)) = self.organization.get_mut("verifiedDomains") {
            for d in list.iter_mut().filter_map(Value::as_object_mut) {
                let is = d
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(default));
                d.insert("isDefault".into(), Value::Bool(is));
            }
        }
    }

    /// Domain ids are names; Graph matches them case-insensitively.
    pub(crate) fn domain_key(&self, name: &str) -> Option<String> {
        if self.domains.contains(name) {
            return Some(name.to_string());
        }
        self.domains
            .iter()
            .filter_map(object_id)
            .find(|d| d.eq_ignore_ascii_case(name))
            .map(str::to_string)
    }

    /// Objects whose userPrincipalName uses `domain` (active users, then the recycle bin).
    fn domain_references(&self, domain: &str) -> Vec<(&'static str, &Object)> {
        let domain = domain.to_ascii_lowercase();
        let uses = |o: &&Object| {
            str_prop(o, "userPrincipalName")
                .and_then(upn_domain)
                .as_deref()
                == Some(domain.as_str())
        };
        let mut refs: Vec<(&'static str, &Object)> = self
            .users
            .iter()
            .filter(uses)
            .map(|o| ("user", o))
            .collect();
        refs.extend(
            self.deleted_users
                .iter()
                .filter(uses)
                .map(|o| ("deletedUser", o)),
        );
        refs
    }

    /// `DELETE /domains/{id}`: <https://learn.microsoft.com/graph/api/domain-delete>.
    fn delete_domain(&mut self, id: &str) -> Result<(), OpError> {
        let domain_id = self
            .domain_key(id)
            .ok_or_else(|| GraphError::not_found(id))?;
        let domain = self
            .domains
            .get(&domain_id)
            .ok_or_else(|| GraphError::not_found(id))?;
        if is_true(domain, "isInitial") {
            return Err(GraphError::bad_request(format!(
                "The initial domain '{domain_id}' cannot be deleted."
            ))
            .into());
        }
        if is_true(domain, "isDefault") {
            return Err(GraphError::bad_request(format!(
                "The default domain '{domain_id}' cannot be deleted. Set another verified domain as the default domain first."
            ))
            .into());
        }
        let refs = self.domain_references(&domain_id);
        if !refs.is_empty() {
            let shown: Vec<String> = refs
                .iter()
                .take(10)
                .map(|(kind, o)| {
                    format!(
                        "{kind} {} ({})",
                        object_id(o).unwrap_or("?"),
                        display_name(o)
                    )
                })
                .collect();
            return Err(GraphError::bad_request(format!(
                "Domain '{domain_id}' has {} dependent object(s) and cannot be deleted; remove or rename them first (see domainNameReferences): {}{}",
                refs.len(),
                shown.join(", "),
                if refs.len() > shown.len() { ", ..." } else { "" }
            ))
            .into());
        }
        self.domains.remove(&domain_id, None);
        if let Some(Value::Array(list)) = self.organization.get_mut("verifiedDomains") {
            list.retain(|d| {
                !d.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(&domain_id))
            });
        }
        Ok(())
    }

    /// `PATCH /organization/{id}`: <https://learn.microsoft.com/graph/api/organization-update>.
    /// `onPremisesSyncEnabled` is writable only in beta (v1.0 rejects it as read-only).
    fn patch_organization(&mut self, patch: &Object, beta: bool) -> Result<(), OpError> {
        if let Some(v) = patch.get("onPremisesSyncEnabled") {
            if !beta {
                return Err(GraphError::bad_request(
                    "Property 'onPremisesSyncEnabled' is read-only and cannot be set.",
                )
                .into());
            }
            let Some(on) = v.as_bool() else {
                return Err(GraphError::bad_request(
                    "Invalid value specified for property 'onPremisesSyncEnabled' of resource 'Organization'.",
                )
                .into());
            };
            if !on {
                // Turning sync off converts synced users into cloud users ("was synced" = false).
                let synced: Vec<String> = self
                    .users
                    .iter()
                    .filter(|u| is_true(u, "onPremisesSyncEnabled"))
                    .filter_map(|u| object_id(u).map(str::to_string))
                    .collect();
                for id in synced {
                    if let Some(u) = self.users.get_mut(&id) {
                        u.insert("onPremisesSyncEnabled".into(), Value::Bool(false));
                    }
                }
            }
        }
        for ro in ["id", "verifiedDomains"] {
            if patch.contains_key(ro) {
                return Err(GraphError::bad_request(format!(
                    "Property '{ro}' is read-only and cannot be set."
                ))
                .into());
            }
        }
        for (k, v) in patch {
            self.organization.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn subscription_status(&self, id: &str) -> Result<String, PortalError> {
        let sub = self
            .subscriptions
            .get(id)
            .ok_or_else(|| PortalError::NotFound {
                kind: "subscription".into(),
                id: id.to_string(),
            })?;
        Ok(str_prop(sub, "status").unwrap_or("").to_string())
    }

    fn set_subscription_status(&mut self, id: &str, status: &str) {
        let sku = match self.subscriptions.get_mut(id) {
            Some(sub) => {
                sub.insert("status".into(), Value::String(status.to_string()));
                str_prop(sub, "skuId").map(str::to_string)
            }
            None => None,
        };
        if let Some(sku) = sku {
            self.recompute_sku(&sku);
        }
    }

    /// Brings commerce's time-driven state up to `now_ms` and shows its cancellations in
    /// Graph: the companySubscription whose `commerceSubscriptionId` is the commerce id moves
    /// forward (`Enabled`/`Warning` -> `Suspended` -> `Deleted`), never back.
    pub(crate) fn settle_commerce(&mut self, now_ms: u64) {
        for m in self.commerce.settle(now_ms) {
            let ids: Vec<String> = self
                .subscriptions
                .iter()
                .filter(|s| {
                    str_prop(s, "commerceSubscriptionId")
                        .is_some_and(|c| c.eq_ignore_ascii_case(&m.commerce_id))
                })
                .filter_map(|s| object_id(s).map(str::to_string))
                .collect();
            for id in ids {
                let current = self.subscription_status(&id).unwrap_or_default();
                let forward = match m.status {
                    "Suspended" => matches!(current.as_str(), "Enabled" | "Warning"),
                    _ => current != "Deleted",
                };
                if forward {
                    self.set_subscription_status(&id, m.status);
                }
            }
        }
    }

    /// Recomputes a subscribedSku's `capabilityStatus` and `prepaidUnits` from the
    /// subscriptions of that SKU (<https://learn.microsoft.com/graph/api/resources/subscribedsku>).
    fn recompute_sku(&mut self, sku_id: &str) {
        let mut units: BTreeMap<&str, i64> = BTreeMap::new();
        for sub in self.subscriptions.iter() {
            if str_prop(sub, "skuId") != Some(sku_id) {
                continue;
            }
            let n = sub
                .get("totalLicenses")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let status = match str_prop(sub, "status") {
                Some("Enabled") => "enabled",
                Some("Warning") => "warning",
                Some("Suspended") => "suspended",
                Some("LockedOut") => "lockedOut",
                _ => continue,
            };
            *units.entry(status).or_insert(0) += n;
        }
        let capability = ["enabled", "warning", "suspended", "lockedOut"]
            .into_iter()
            .find(|s| units.contains_key(s))
            .map(|s| match s {
                "enabled" => "Enabled",
                "warning" => "Warning",
                "suspended" => "Suspended",
                _ => "LockedOut",
            })
            .unwrap_or("Deleted");
        let ids: Vec<String> = self
            .subscribed_skus
            .iter()
            .filter(|s| str_prop(s, "skuId") == Some(sku_id))
            .filter_map(|s| object_id(s).map(str::to_string))
            .collect();
        for id in ids {
            if let Some(sku) = self.subscribed_skus.get_mut(&id) {
                sku.insert("capabilityStatus".into(), Value::String(capability.into()));
                let mut prepaid = Map::new();
                for k in ["enabled", "warning", "suspended", "lockedOut"] {
                    prepaid.insert(k.into(), Value::from(units.get(k).copied().unwrap_or(0)));
                }
                sku.insert("prepaidUnits".into(), Value::Object(prepaid));
            }
        }
    }

    /// Admin center > Billing > Your products > Cancel subscription.
    fn cancel_subscription(&mut self, id: &str) -> Result<(), OpError> {
        let status = self.subscription_status(id)?;
        if status != "Enabled" && status != "Warning" {
            return Err(PortalError::InvalidState {
                kind: "subscription".into(),
                id: id.to_string(),
                message: format!("is {status}; only an active (Enabled or Warning) subscription can be cancelled"),
            }
            .into());
        }
        self.set_subscription_status(id, "Suspended");
        Ok(())
    }

    /// Admin center > Your products > Delete (disabled subscriptions only); support for LockedOut.
    fn delete_subscription(&mut self, id: &str, support: bool) -> Result<(), OpError> {
        let status = self.subscription_status(id)?;
        let refuse = |message: String| -> Result<(), OpError> {
            Err(PortalError::InvalidState {
                kind: "subscription".into(),
                id: id.to_string(),
                message,
            }
            .into())
        };
        match status.as_str() {
            "Enabled" | "Warning" => refuse(format!(
                "is {status} (active); cancel the subscription before deleting it"
            )),
            "Deleted" => refuse("is already Deleted".into()),
            "LockedOut" if !support => refuse(
                "is LockedOut; it can't be deleted in the admin center: contact Microsoft support"
                    .into(),
            ),
            _ => {
                self.set_subscription_status(id, "Deleted");
                Ok(())
            }
        }
    }

    /// Everything that blocks "Delete tenant" in the Entra admin center
    /// (<https://learn.microsoft.com/entra/identity/users/directory-delete-howto>), plus the
    /// closure targets of graph-facts.md (recycle bin, domains, sync, MFA).
    pub(crate) fn tenant_deletion_blockers(&self) -> Vec<Blocker> {
        let mut out = Vec::new();
        let admins = self.global_admins();
        for u in self.users.iter() {
            let id = object_id(u).unwrap_or("");
            if !admins.iter().any(|a| a == id) {
                out.push(blocker(
                    "user",
                    u,
                    "only one Global Administrator may remain; delete every other user",
                ));
            }
        }
        match admins.len() {
            0 => out.push(Blocker {
                kind: "globalAdministrator".into(),
                id: String::new(),
                name: String::new(),
                reason: "no Global Administrator remains to delete the tenant".into(),
            }),
            1 => {}
            n => {
                for a in &admins {
                    if let Some(u) = self.users.get(a) {
                        out.push(blocker(
                            "user",
                            u,
                            &format!("{n} Global Administrators remain; keep exactly one (the one deleting the tenant)"),
                        ));
                    }
                }
            }
        }
        for u in self.deleted_users.iter() {
            out.push(blocker("deletedUser", u, "in the recycle bin; purge it"));
        }
        for s in self.azure.blocking() {
            out.push(Blocker {
                kind: "azureSubscription".into(),
                id: s.subscription_id.clone(),
                name: s.display_name.clone(),
                reason: format!(
                    "Azure subscription in state {}: active or cancelled Azure subscriptions block the tenant's deletion until they are Deleted",
                    s.state
                ),
            });
        }
        for a in self.deleted_applications.iter() {
            out.push(blocker(
                "deletedApplication",
                a,
                "in the recycle bin; purge it",
            ));
        }
        for a in self.applications.iter() {
            out.push(blocker("application", a, "applications must be removed"));
        }
        for sp in self.service_principals.iter() {
            if Self::is_first_party(sp) {
                if sp.get("accountEnabled").and_then(Value::as_bool) != Some(false) {
                    out.push(blocker(
                        "servicePrincipal",
                        sp,
                        "Microsoft first-party service principal is enabled; disable it (accountEnabled: false)",
                    ));
                }
            } else {
                out.push(blocker(
                    "servicePrincipal",
                    sp,
                    "enterprise applications must be removed",
                ));
            }
        }
        for s in self.subscriptions.iter() {
            let status = str_prop(s, "status").unwrap_or("");
            if status != "Deleted" {
                out.push(blocker(
                    "subscription",
                    s,
                    &format!(
                        "is {status}; subscriptions must be cancelled and deleted (Deprovisioned)"
                    ),
                ));
            }
        }
        for d in self.domains.iter() {
            if !is_true(d, "isInitial") {
                out.push(blocker(
                    "domain",
                    d,
                    "custom domains must be removed; only the initial onmicrosoft.com domain may remain",
                ));
            }
        }
        if self.sync_enabled() {
            out.push(blocker(
                "organization",
                &self.organization,
                "directory synchronization is on; turn it off",
            ));
        }
        if self.security_defaults_on() {
            if let Some(p) = &self.security_defaults {
                out.push(blocker(
                    "securityDefaults",
                    p,
                    "security defaults are on; turn them off",
                ));
            }
        }
        for p in self.ca_policies.iter() {
            let state = str_prop(p, "state").unwrap_or("");
            if (state == "enabled" || state == "enabledForReportingButNotEnforced")
                && requires_mfa(p)
            {
                out.push(blocker(
                    "conditionalAccessPolicy",
                    p,
                    &format!("is {state} and requires MFA; disable it"),
                ));
            }
        }
        for (id, entry) in &self.per_user_mfa {
            let state = str_prop(entry, "perUserMfaState").unwrap_or("disabled");
            if state != "disabled" {
                if let Some(u) = self.users.get(id) {
                    out.push(blocker(
                        "perUserMfa",
                        u,
                        &format!("per-user MFA is {state}; set it to disabled"),
                    ));
                }
            }
        }
        out
    }

    /// Entra admin center > Manage tenants > Delete.
    fn delete_tenant(&mut self) -> Result<(), OpError> {
        let blockers = self.tenant_deletion_blockers();
        if !blockers.is_empty() {
            return Err(PortalError::Blocked { blockers }.into());
        }
        self.deleted = true;
        Ok(())
    }
}

/// A conditional access policy requires MFA when its grant controls name `mfa` or an
/// authentication strength (<https://learn.microsoft.com/graph/api/resources/conditionalaccessgrantcontrols>).
pub(crate) fn requires_mfa(policy: &Object) -> bool {
    let Some(grant) = policy.get("grantControls").and_then(Value::as_object) else {
        return false;
    };
    let builtin = grant
        .get("builtInControls")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|v| v.as_str() == Some("mfa")));
    builtin
        || grant
            .get("authenticationStrength")
            .is_some_and(|s| !s.is_null())
}

struct OpLog {
    file: File,
    path: PathBuf,
}

struct Inner {
    tenant: Tenant,
    log: Option<OpLog>,
}

/// The tenant state, shared by the server and in-process callers (`closeout --simulate`).
/// Cloning a `Store` shares the same tenant.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// FNV-1a of the snapshot bytes: ties an op log to the snapshot it was recorded on.
fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}

impl Store {
    /// A store holding `s`, without persistence.
    pub fn from_snapshot(s: Snapshot) -> Store {
        Store {
            inner: Arc::new(Mutex::new(Inner {
                tenant: Tenant::from_snapshot(s),
                log: None,
            })),
        }
    }

    /// Opens a snapshot with optional persistence.
    ///
    /// If `state_file` exists it is an append-only op log (one JSON line per mutation),
    /// replayed on top of the snapshot; every later mutation appends one line and flushes.
    /// A truncated or corrupt *last* line (a torn write) is ignored with a warning on stderr;
    /// corruption elsewhere, or a log recorded on another snapshot, is an error.
    pub fn open(snapshot_path: &Path, state_file: Option<&Path>) -> Result<Store, SnapshotError> {
        let snapshot = load_snapshot(snapshot_path)?;
        let Some(state_file) = state_file else {
            return Ok(Store::from_snapshot(snapshot));
        };
        let bytes = std::fs::read(snapshot_path).map_err(|source| SnapshotError::Io {
            file: snapshot_path.to_path_buf(),
            source,
        })?;
        let print = fingerprint(&bytes);
        let mut tenant = Tenant::from_snapshot(snapshot);
        let io = |source| SnapshotError::Io {
            file: state_file.to_path_buf(),
            source,
        };
        let mut need_header = true;
        let mut missing_newline = false;
        if state_file.exists() {
            let reader = BufReader::new(File::open(state_file).map_err(io)?);
            let lines: Vec<String> = reader.lines().collect::<Result<_, _>>().map_err(io)?;
            let n = lines.len();
            let mut good_bytes: u64 = 0;
            for (i, line) in lines.iter().enumerate() {
                let lineno = i + 1;
                let is_last = lineno == n;
                if line.trim().is_empty() {
                    good_bytes += line.len() as u64 + 1;
                    continue;
                }
                let op: Op = match serde_json::from_str(line) {
                    Ok(op) => op,
                    Err(e) if is_last => {
                        eprintln!(
                            "graph-sim: warning: {}:{lineno}: ignoring a torn last record ({e})",
                            state_file.display()
                        );
                        break;
                    }
                    Err(e) => {
                        return Err(SnapshotError::OpLog {
                            file: state_file.to_path_buf(),
                            line: lineno,
                            message: format!("corrupt record: {e}"),
                        })
                    }
                };
                if let Op::Header { snapshot } = &op {
                    if *snapshot != print {
                        return Err(SnapshotError::OpLog {
                            file: state_file.to_path_buf(),
                            line: lineno,
                            message: format!(
                                "this op log was recorded on another snapshot ({snapshot}, this one is {print}); \
                                 use the snapshot it was recorded on, or reset the state (`closeout sim reset SNAPSHOT`, or `graph-sim state reset --state FILE`)"
                            ),
                        });
                    }
                    need_header = false;
                }
                tenant.apply(&op).map_err(|e| SnapshotError::OpLog {
                    file: state_file.to_path_buf(),
                    line: lineno,
                    message: format!("replaying {line} failed: {e}"),
                })?;
                good_bytes += line.len() as u64 + 1;
            }
            // Drop a torn tail so the next append starts on a clean line; a last record
            // that is complete but lacks its newline gets one.
            let len = std::fs::metadata(state_file).map_err(io)?.len();
            if good_bytes < len {
                let f = OpenOptions::new()
                    .write(true)
                    .open(state_file)
                    .map_err(io)?;
                f.set_len(good_bytes).map_err(io)?;
            } else if good_bytes > len {
                missing_newline = true;
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(state_file)
            .map_err(io)?;
        if missing_newline {
            file.write_all(b"\n").map_err(io)?;
        }
        if need_header {
            let header = serde_json::to_string(&Op::Header { snapshot: print })
                .map_err(|e| io(std::io::Error::other(e)))?;
            file.write_all(format!("{header}\n").as_bytes())
                .map_err(io)?;
            file.flush().map_err(io)?;
        }
        Ok(Store {
            inner: Arc::new(Mutex::new(Inner {
                tenant,
                log: Some(OpLog {
                    file,
                    path: state_file.to_path_buf(),
                }),
            })),
        })
    }

    /// Deletes the op log at `state_file` (a missing file is not an error).
    pub fn reset(state_file: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(state_file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock can't leave a half-applied op (ops validate first),
        // so the state is still consistent: recover it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current state in the snapshot format (for `state export` and rehearsals).
    pub fn snapshot(&self) -> Snapshot {
        let mut inner = self.lock();
        inner.tenant.settle_commerce(crate::commerce::now_ms());
        inner.tenant.to_snapshot()
    }

    /// Brings commerce's time-driven changes (and Graph's view of them) up to now.
    pub(crate) fn settle_commerce(&self) {
        self.lock()
            .tenant
            .settle_commerce(crate::commerce::now_ms());
    }

    /// Runs `f` on the commerce state (for what is not persisted: poll counts).
    pub(crate) fn configure_commerce<R>(
        &self,
        f: impl FnOnce(&mut crate::commerce::Commerce) -> R,
    ) -> R {
        f(&mut self.lock().tenant.commerce)
    }

    /// Whether the tenant has been deleted through [`Store::portal_delete_tenant`].
    pub fn is_tenant_deleted(&self) -> bool {
        self.lock().tenant.deleted
    }

    /// The tenant id (the organization object's `id`), as tokens for it carry in `tid`.
    pub fn tenant_id(&self) -> String {
        self.read(|t| t.tenant_id().to_string())
    }

    /// Objects that currently block [`Store::portal_delete_tenant`] (empty = it would succeed).
    pub fn tenant_deletion_blockers(&self) -> Vec<Blocker> {
        self.lock().tenant.tenant_deletion_blockers()
    }

    pub(crate) fn read<R>(&self, f: impl FnOnce(&Tenant) -> R) -> R {
        f(&self.lock().tenant)
    }

    pub(crate) fn configure(&self, f: impl FnOnce(&mut Tenant)) {
        f(&mut self.lock().tenant)
    }

    /// Validates and applies `op`, then appends it to the op log (if any) before returning.
    pub(crate) fn execute(&self, op: Op) -> Result<(), OpError> {
        let mut inner = self.lock();
        inner.tenant.apply(&op)?;
        if let Some(log) = inner.log.as_mut() {
            let line =
                serde_json::to_string(&op).map_err(|e| PortalError::Persist(e.to_string()))?;
            // One write per record, so a kill can tear at most the last line.
            let written = log
                .file
                .write_all(format!("{line}\n").as_bytes())
                .and_then(|_| log.file.flush());
            if let Err(e) = written {
                return Err(PortalError::Persist(format!("{}: {e}", log.path.display())).into());
            }
        }
        Ok(())
    }

    fn portal(&self, op: Op) -> Result<(), PortalError> {
        self.execute(op).map_err(|e| match e {
            OpError::Portal(p) => p,
            OpError::Graph(g) => PortalError::InvalidState {
                kind: "request".into(),
                id: String::new(),
                message: g.to_string(),
            },
        })
    }

    /// Admin center: cancel a subscription (`Enabled`/`Warning` -> `Suspended`, i.e. disabled);
    /// updates the SKU's `capabilityStatus` and `prepaidUnits`.
    pub fn portal_cancel_subscription(&self, id: &str) -> Result<(), PortalError> {
        self.portal(Op::CancelSubscription { id: id.to_string() })
    }

    /// Admin center: delete a cancelled (disabled) subscription -> `Deleted`.
    /// Active subscriptions must be cancelled first; `LockedOut` ones need Microsoft support.
    pub fn portal_delete_subscription(&self, id: &str) -> Result<(), PortalError> {
        self.portal(Op::DeleteSubscription { id: id.to_string() })
    }

    /// Microsoft support deletes a subscription the admin center can't (e.g. `LockedOut`).
    pub fn portal_support_delete_subscription(&self, id: &str) -> Result<(), PortalError> {
        self.portal(Op::SupportDeleteSubscription { id: id.to_string() })
    }

    /// Entra admin center > Manage tenants > Delete: checks the prerequisites and, when none
    /// blocks, deletes the tenant. Afterwards every Graph request answers 401.
    pub fn portal_delete_tenant(&self) -> Result<(), PortalError> {
        self.portal(Op::DeleteTenant)
    }

    /// Azure portal: cancel an Azure subscription (Enabled, Warned, PastDue -> Disabled),
    /// resource groups or not.
    pub fn portal_cancel_azure_subscription(&self, id: &str) -> Result<(), PortalError> {
        self.portal(Op::CancelAzureSubscription {
            id: id.to_string(),
            at: now_rfc3339(),
        })
    }

    /// ARM's cancel, after [`crate::arm::route`] checked the caller and the subscription.
    pub(crate) fn arm_cancel_azure_subscription(&self, id: &str) -> Result<(), PortalError> {
        self.portal_cancel_azure_subscription(id)
    }

    /// Azure portal: delete a cancelled Azure subscription without resources -> Deleted.
    pub fn portal_delete_azure_subscription(&self, id: &str) -> Result<(), PortalError> {
        self.portal(Op::DeleteAzureSubscription { id: id.to_string() })
    }

    /// Azure portal: delete a resource group of an Azure subscription.
    pub fn portal_delete_azure_resource_group(
        &self,
        id: &str,
        name: &str,
    ) -> Result<(), PortalError> {
        self.portal(Op::DeleteAzureResourceGroup {
            id: id.to_string(),
            name: name.to_string(),
        })
    }

    pub(crate) fn now() -> String {
        now_rfc3339()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::parse_snapshot;

    fn store(extra: &str) -> Store {
        let text = format!(
            "snapshotVersion: 1\norganization: {{id: t1}}\nusers:\n  - {{id: ga, userPrincipalName: admin@c.onmicrosoft.com}}\n  - {{id: u1, userPrincipalName: u1@contoso.com}}\ndirectoryRoles:\n  - {{id: r1, roleTemplateId: {GLOBAL_ADMIN_TEMPLATE_ID}, members: [ga]}}\n{extra}"
        );
        Store::from_snapshot(parse_snapshot(&text, Path::new("t.yaml")).unwrap())
    }

    #[test]
    fn deleted_user_gets_prefixed_upn_and_date() {
        let s = store("");
        s.execute(Op::DeleteUser {
            id: "u1".into(),
            at: "2024-01-01T00:00:00Z".into(),
        })
        .unwrap();
        let snap = s.snapshot();
        assert_eq!(
            snap.deleted_users[0]["userPrincipalName"],
            "u1u1@contoso.com"
        );
        assert_eq!(
            snap.deleted_users[0]["deletedDateTime"],
            "2024-01-01T00:00:00Z"
        );
    }

    #[test]
    fn last_global_admin_cannot_be_deleted() {
        let s = store("");
        let e = s
            .execute(Op::DeleteUser {
                id: "ga".into(),
                at: "x".into(),
            })
            .unwrap_err();
        assert!(matches!(e, OpError::Graph(g) if g.status == 400));
    }

    #[test]
    fn subscription_lifecycle() {
        let s = store(
            "subscriptions:\n  - {id: s1, skuId: k, status: Enabled, totalLicenses: 5}\n  - {id: s2, skuId: k, status: LockedOut, totalLicenses: 1}\nsubscribedSkus:\n  - {id: t1_k, skuId: k, capabilityStatus: Enabled}\n",
        );
        assert!(s.portal_delete_subscription("s1").is_err());
        s.portal_cancel_subscription("s1").unwrap();
        let snap = s.snapshot();
        assert_eq!(snap.subscriptions[0]["status"], "Suspended");
        assert_eq!(snap.subscribed_skus[0]["capabilityStatus"], "Suspended");
        assert_eq!(snap.subscribed_skus[0]["prepaidUnits"]["suspended"], 5);
        s.portal_delete_subscription("s1").unwrap();
        let e = s.portal_delete_subscription("s2").unwrap_err();
        assert!(e.to_string().contains("Microsoft support"), "{e}");
        s.portal_support_delete_subscription("s2").unwrap();
        assert_eq!(
            s.snapshot().subscribed_skus[0]["capabilityStatus"],
            "Deleted"
        );
    }
}
