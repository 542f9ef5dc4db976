//! Reads a tenant's state through Graph: one refresh, every page of every collection.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{needs_eventual_consistency, GraphClient};
use super::error::GraphError;
use crate::model::{DirectoryRole, Organization, PerUserMfaState, TenantState, User};

/// The user properties closeout reads (most come back only when named in `$select`).
/// <https://learn.microsoft.com/en-us/graph/api/user-list>
pub const USER_SELECT: &str =
    "id,userPrincipalName,displayName,userType,accountEnabled,onPremisesSyncEnabled,assignedLicenses";

/// The collections a tenant read covers, in one place for the typed read and the raw
/// export (<https://learn.microsoft.com/en-us/graph/api/overview>).
pub(crate) mod paths {
    use super::USER_SELECT;

    pub const ORGANIZATION: &str = "/v1.0/organization";
    pub const DIRECTORY_ROLES: &str = "/v1.0/directoryRoles";
    pub const SUBSCRIPTIONS: &str = "/v1.0/directory/subscriptions";
    pub const SUBSCRIBED_SKUS: &str = "/v1.0/subscribedSkus";
    pub const SECURITY_DEFAULTS: &str = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy";
    pub const CONDITIONAL_ACCESS_POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
    pub const APPLICATIONS: &str = "/v1.0/applications?$top=999";
    pub const DELETED_APPLICATIONS: &str =
        "/v1.0/directory/deletedItems/microsoft.graph.application?$top=999";
    pub const SERVICE_PRINCIPALS: &str = "/v1.0/servicePrincipals?$top=999";
    pub const DOMAINS: &str = "/v1.0/domains";

    /// `GET /users` with the properties closeout needs, 999 per page (Graph's maximum).
    pub fn users() -> String {
        format!("/v1.0/users?$select={USER_SELECT}&$top=999")
    }

    /// The recycle bin's users (the type cast is mandatory).
    pub fn deleted_users() -> String {
        format!(
            "/v1.0/directory/deletedItems/microsoft.graph.user?$select={USER_SELECT},deletedDateTime&$top=999"
        )
    }
}

/// Receives progress while a tenant is read (library code never prints).
pub trait ReadProgress: Send + Sync {
    /// `what` was read: `count` objects.
    fn collection_read(&self, what: &str, count: usize);
}

impl ReadProgress for () {
    fn collection_read(&self, _: &str, _: usize) {}
}

/// Decodes one Graph object; an error names the object (by id) and what was wrong with it.
fn decode<T: DeserializeOwned>(path: &str, v: Value) -> Result<T, GraphError> {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .map(|id| format!("object {id}: "))
        .unwrap_or_default();
    serde_json::from_value(v).map_err(|e| GraphError::Decode {
        method: "GET".into(),
        path: path.to_string(),
        message: format!("{id}{e}"),
    })
}

async fn list<T: DeserializeOwned>(
    client: &GraphClient,
    path: &str,
    what: &str,
    progress: &dyn ReadProgress,
) -> Result<Vec<T>, GraphError> {
    // Decoded page by page: a large tenant is never held as raw JSON all at once.
    let mut out = Vec::new();
    client
        .for_each_page(path, needs_eventual_consistency(path), |items| {
            out.reserve(items.len());
            for v in items {
                out.push(decode(path, v)?);
            }
            Ok(())
        })
        .await?;
    // Grown page by page, the vector may hold up to twice the space its items need.
    out.shrink_to_fit();
    progress.collection_read(what, out.len());
    Ok(out)
}

/// Reads the whole tenant. Per-user MFA (a beta endpoint, one request per user) is read
/// for the member users named in `mfa_users` (object ids or userPrincipalNames) only: the
/// users a closure keeps; all others are deleted, which removes their MFA settings.
///
/// # Errors
/// The first [`GraphError`] of any read.
pub async fn read_tenant(
    client: &GraphClient,
    mfa_users: &[String],
    progress: &dyn ReadProgress,
) -> Result<TenantState, GraphError> {
    const ORG: &str = paths::ORGANIZATION;
    let users_path = paths::users();
    let deleted_path = paths::deleted_users();
    let (orgs, users, deleted_users, roles, subscriptions, skus) = tokio::try_join!(
        list::<Organization>(client, ORG, "organization", progress),
        list::<User>(client, &users_path, "users", progress),
        list::<User>(client, &deleted_path, "deleted users", progress),
        list::<DirectoryRole>(client, paths::DIRECTORY_ROLES, "directory roles", progress),
        list(client, paths::SUBSCRIPTIONS, "subscriptions", progress),
        list(client, paths::SUBSCRIBED_SKUS, "subscribed SKUs", progress),
    )?;
    // Graph sizes the resource-unit quota by the tenant's number of users.
    client.set_tenant_users(users.len());
    let (policies, applications, deleted_applications, service_principals, domains) = tokio::try_join!(
        list(
            client,
            paths::CONDITIONAL_ACCESS_POLICIES,
            "conditional access policies",
            progress
        ),
        list(client, paths::APPLICATIONS, "applications", progress),
        list(
            client,
            paths::DELETED_APPLICATIONS,
            "deleted applications",
            progress
        ),
        list(
            client,
            paths::SERVICE_PRINCIPALS,
            "service principals",
            progress
        ),
        list(client, paths::DOMAINS, "domains", progress),
    )?;
    const SD: &str = paths::SECURITY_DEFAULTS;
    let security_defaults = decode(SD, client.get(SD).await?)?;
    let organization = orgs.into_iter().next().ok_or_else(|| GraphError::Decode {
        method: "GET".into(),
        path: ORG.into(),
        message: "no organization in the response".into(),
    })?;

    let mut directory_roles: Vec<DirectoryRole> = roles;
    for role in &mut directory_roles {
        let path = format!("/v1.0/directoryRoles/{}/members?$select=id", role.id);
        let members = client.get_all(&path).await?;
        role.members = members
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
    }
    progress.collection_read(
        "role members",
        directory_roles.iter().map(|r| r.members.len()).sum(),
    );

    let mut state = TenantState {
        organization,
        users,
        deleted_users,
        directory_roles,
        subscriptions,
        subscribed_skus: skus,
        security_defaults,
        conditional_access_policies: policies,
        per_user_mfa: BTreeMap::new(),
        applications,
        deleted_applications,
        service_principals,
        domains,
        azure: Default::default(),
        commerce: Default::default(),
    };
    let mut per_user_mfa: BTreeMap<String, PerUserMfaState> = BTreeMap::new();
    for wanted in mfa_users {
        let Some(user) = state.find_kept_user(wanted) else {
            continue;
        };
        if user.is_guest() {
            continue;
        }
        let id = &user.id;
        let path = format!("/beta/users/{id}/authentication/requirements");
        match client.get(&path).await {
            Ok(v) => {
                let mfa = v
                    .get("perUserMfaState")
                    .cloned()
                    .map(|s| decode::<PerUserMfaState>(&path, s))
                    .transpose()?
                    .unwrap_or_default();
                if mfa != PerUserMfaState::Disabled {
                    per_user_mfa.insert(id.to_string(), mfa);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }

    state.per_user_mfa = per_user_mfa;
    state.normalize();
    Ok(state)
}
