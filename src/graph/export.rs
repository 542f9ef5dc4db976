//! Reads a tenant raw, for `closeout state export`: every object exactly as Graph returned
//! it (all its properties, Graph's names and JSON shapes), in the snapshot format of
//! `shared/snapshot-format.md`, so a person can rehearse a closure on a copy of the tenant
//! with `--simulate`. Unlike [`super::read_tenant`] it decodes nothing into the model.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::GraphClient;
use super::error::GraphError;
use super::read::{paths, ReadProgress};

/// The snapshot format version [`RawTenant::to_snapshot`] writes.
pub const SNAPSHOT_VERSION: u64 = 1;

/// Per-user MFA requests in flight at once (one beta request per member user).
const MFA_CONCURRENCY: usize = 8;

/// A tenant as Graph returned it, collection by collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawTenant {
    /// `GET /v1.0/organization` -> `value[0]`.
    pub organization: Map<String, Value>,
    pub users: Vec<Value>,
    pub deleted_users: Vec<Value>,
    /// `GET /v1.0/directoryRoles`, each with `members`: the ids of
    /// `GET /v1.0/directoryRoles/{id}/members` (the one place the format inlines a call).
    pub directory_roles: Vec<Value>,
    pub subscriptions: Vec<Value>,
    pub subscribed_skus: Vec<Value>,
    pub security_defaults: Option<Value>,
    pub conditional_access_policies: Vec<Value>,
    /// `GET /beta/users/{id}/authentication/requirements` by user id, for the member users
    /// whose state is not `disabled` (absent means `disabled` in the format).
    pub per_user_mfa: BTreeMap<String, Value>,
    pub applications: Vec<Value>,
    pub deleted_applications: Vec<Value>,
    pub service_principals: Vec<Value>,
    pub domains: Vec<Value>,
}

/// Drops the response envelope's `@odata.context` from a single-object answer.
fn without_context(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("@odata.context");
    }
    v
}

fn id_of(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

async fn list(
    client: &GraphClient,
    path: &str,
    what: &str,
    progress: &dyn ReadProgress,
) -> Result<Vec<Value>, GraphError> {
    let items = client.get_all(path).await?;
    progress.collection_read(what, items.len());
    Ok(items)
}

/// Reads every collection of the snapshot format, raw.
///
/// Users are read with the `$select` closeout's reader uses (Graph returns most user
/// properties only when named); every other collection with Graph's defaults. Per-user MFA
/// (beta, one request per member user, [`MFA_CONCURRENCY`] at a time) is read for every
/// member user: <https://learn.microsoft.com/en-us/graph/api/authentication-get>.
///
/// # Errors
/// The first [`GraphError`] of any read (a 404 on a user's MFA requirements is not one:
/// Graph answers it for users without the setting).
pub async fn read_raw_tenant(
    client: &GraphClient,
    progress: &dyn ReadProgress,
) -> Result<RawTenant, GraphError> {
    const ORG: &str = paths::ORGANIZATION;
    let users_path = paths::users();
    let deleted_path = paths::deleted_users();
    let (orgs, users, mut deleted_users, roles, mut subscriptions, mut subscribed_skus) = tokio::try_join!(
        list(client, ORG, "organization", progress),
        list(client, &users_path, "users", progress),
        list(client, &deleted_path, "deleted users", progress),
        list(client, paths::DIRECTORY_ROLES, "directory roles", progress),
        list(client, paths::SUBSCRIPTIONS, "subscriptions", progress),
        list(client, paths::SUBSCRIBED_SKUS, "subscribed SKUs", progress),
    )?;
    let (
        mut policies,
        mut applications,
        mut deleted_applications,
        mut service_principals,
        mut domains,
    ) = tokio::try_join!(
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
    let security_defaults = without_context(client.get(SD).await?);
    let organization = match orgs.into_iter().next() {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(GraphError::Decode {
                method: "GET".into(),
                path: ORG.into(),
                message: "no organization in the response".into(),
            })
        }
    };

    let mut directory_roles = Vec::with_capacity(roles.len());
    let mut members_read = 0;
    for mut role in roles {
        let Some(id) = id_of(&role).map(str::to_string) else {
            continue;
        };
        let path = format!("/v1.0/directoryRoles/{id}/members?$select=id");
        let mut members: Vec<String> = client
            .get_all(&path)
            .await?
            .iter()
            .filter_map(|m| id_of(m).map(str::to_string))
            .collect();
        members.sort();
        members_read += members.len();
        if let Value::Object(m) = &mut role {
            m.insert(
                "members".into(),
                Value::Array(members.into_iter().map(Value::String).collect()),
            );
        }
        directory_roles.push(role);
    }
    progress.collection_read("role members", members_read);

    let per_user_mfa = read_per_user_mfa(client, &users).await?;
    progress.collection_read("per-user MFA settings", per_user_mfa.len());

    // Graph guarantees no order; by id, two exports of one tenant compare equal.
    let mut users = users;
    let mut collections = [
        &mut users,
        &mut deleted_users,
        &mut directory_roles,
        &mut subscriptions,
        &mut subscribed_skus,
        &mut policies,
        &mut applications,
        &mut deleted_applications,
        &mut service_principals,
        &mut domains,
    ];
    for c in &mut collections {
        c.sort_by(|a, b| id_of(a).cmp(&id_of(b)));
    }

    Ok(RawTenant {
        organization,
        users,
        deleted_users,
        directory_roles,
        subscriptions,
        subscribed_skus,
        security_defaults: Some(security_defaults),
        conditional_access_policies: policies,
        per_user_mfa,
        applications,
        deleted_applications,
        service_principals,
        domains,
    })
}

async fn read_per_user_mfa(
    client: &GraphClient,
    users: &[Value],
) -> Result<BTreeMap<String, Value>, GraphError> {
    let members: Vec<String> = users
        .iter()
        .filter(|u| u.get("userType").and_then(Value::as_str) != Some("Guest"))
        .filter_map(|u| id_of(u).map(str::to_string))
        .collect();
    let limit = Arc::new(Semaphore::new(MFA_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for id in members {
        let client = client.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let path = format!("/beta/users/{id}/authentication/requirements");
            match client.get(&path).await {
                Ok(v) => Ok(Some((id, without_context(v)))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| GraphError::Decode {
            method: "GET".into(),
            path: "/beta/users/{id}/authentication/requirements".into(),
            message: format!("reading task failed: {e}"),
        })?;
        if let Some((id, v)) = result? {
            let state = v.get("perUserMfaState").and_then(Value::as_str);
            if state.is_some_and(|s| !s.eq_ignore_ascii_case("disabled")) {
                out.insert(id, v);
            }
        }
    }
    Ok(out)
}

impl RawTenant {
    /// The snapshot document (`snapshotVersion` first, then the collections in the order
    /// of the format's description), ready to serialise as YAML or JSON.
    pub fn to_snapshot(&self) -> Value {
        let mut m = Map::new();
        m.insert("snapshotVersion".into(), Value::from(SNAPSHOT_VERSION));
        m.insert(
            "organization".into(),
            Value::Object(self.organization.clone()),
        );
        let list = |v: &Vec<Value>| Value::Array(v.clone());
        m.insert("users".into(), list(&self.users));
        m.insert("deletedUsers".into(), list(&self.deleted_users));
        m.insert("directoryRoles".into(), list(&self.directory_roles));
        m.insert("subscriptions".into(), list(&self.subscriptions));
        m.insert("subscribedSkus".into(), list(&self.subscribed_skus));
        if let Some(sd) = &self.security_defaults {
            m.insert("securityDefaults".into(), sd.clone());
        }
        m.insert(
            "conditionalAccessPolicies".into(),
            list(&self.conditional_access_policies),
        );
        m.insert(
            "perUserMfa".into(),
            Value::Object(
                self.per_user_mfa
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
        m.insert("applications".into(), list(&self.applications));
        m.insert(
            "deletedApplications".into(),
            list(&self.deleted_applications),
        );
        m.insert("servicePrincipals".into(), list(&self.service_principals));
        m.insert("domains".into(), list(&self.domains));
        Value::Object(m)
    }
}
