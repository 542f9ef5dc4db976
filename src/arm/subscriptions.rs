//! The tenant's Azure subscriptions through ARM: the list, who may see them all (Reader at
//! root scope `/`), Owner per subscription, resource groups, and the cancel action. Reads
//! into [`crate::model::AzureState`]; knows nothing about plans.
//!
//! - list: `GET /subscriptions?api-version=2022-12-01`, `nextLink` paging
//!   (<https://learn.microsoft.com/rest/api/resources/subscriptions/list>); ARM lists only
//!   subscriptions the caller holds a role on, so an empty list proves nothing by itself;
//! - the proof of seeing them all: `GET /providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()`
//!   at scope `/` ("Use $filter=atScope() to return all role assignments at or above the
//!   scope": <https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope>),
//!   looking for an assignment to the signed-in principal (the token's `oid`) at scope `/`
//!   of a built-in role that includes Reader's `*/read`;
//! - Owner: the same list at the subscription's scope (at or above it);
//! - resource groups: `GET /subscriptions/{id}/resourcegroups?api-version=2021-04-01`
//!   (<https://learn.microsoft.com/rest/api/resources/resource-groups/list>);
//! - cancel: `POST /subscriptions/{id}/providers/Microsoft.Subscription/cancel?api-version=2021-10-01`
//!   (<https://learn.microsoft.com/rest/api/subscription/subscription/cancel>).

use serde_json::Value;

use super::client::{ArmClient, ArmError};
use crate::model::{AzureRead, AzureState, AzureSubscription};

/// `api-version` of the subscription list.
pub const SUBSCRIPTIONS_API: &str = "2022-12-01";
/// `api-version` of role assignments.
pub const ROLE_ASSIGNMENTS_API: &str = "2022-04-01";
/// `api-version` of resource groups.
pub const RESOURCE_GROUPS_API: &str = "2021-04-01";
/// `api-version` of `Microsoft.Subscription/cancel`.
pub const CANCEL_API: &str = "2021-10-01";

/// Built-in role definition ids
/// (<https://learn.microsoft.com/azure/role-based-access-control/built-in-roles>).
pub const OWNER_ROLE: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// Reader.
pub const READER_ROLE: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// Contributor.
pub const CONTRIBUTOR_ROLE: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
/// User Access Administrator (its actions include `*/read`).
pub const USER_ACCESS_ADMINISTRATOR_ROLE: &str = "18d7d88d-d35e-4fb5-a5c3-7773c4a72d9d";

/// The roles whose `*/read` lets their holder at `/` see every subscription.
const READS_EVERYTHING: &[&str] = &[
    READER_ROLE,
    CONTRIBUTOR_ROLE,
    OWNER_ROLE,
    USER_ACCESS_ADMINISTRATOR_ROLE,
];

/// The path of the subscription list.
pub fn subscriptions_path() -> String {
    format!("/subscriptions?api-version={SUBSCRIPTIONS_API}")
}

/// The path of role assignments at or above `scope` (`""` = root scope `/`).
pub fn role_assignments_path(scope: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments?api-version={ROLE_ASSIGNMENTS_API}&$filter=atScope()")
}

/// The path of a subscription's resource groups.
pub fn resource_groups_path(id: &str) -> String {
    format!("/subscriptions/{id}/resourcegroups?api-version={RESOURCE_GROUPS_API}")
}

/// The path of the cancel action.
pub fn cancel_path(id: &str) -> String {
    format!("/subscriptions/{id}/providers/Microsoft.Subscription/cancel?api-version={CANCEL_API}")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Last segment of a role definition id
/// (`/subscriptions/…/providers/Microsoft.Authorization/roleDefinitions/{guid}` or
/// `/providers/Microsoft.Authorization/roleDefinitions/{guid}`), lower-cased.
fn role_guid(definition_id: &str) -> String {
    definition_id
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Whether `assignments` (a role assignment list) give `principal` one of `roles` at a
/// scope `scope_ok` accepts, without an ABAC condition (an Owner with a condition cannot
/// cancel, as the cancel page notes).
fn holds(
    assignments: &[Value],
    principal: &str,
    roles: &[&str],
    scope_ok: impl Fn(&str) -> bool,
) -> bool {
    assignments.iter().any(|a| {
        let p = &a["properties"];
        s(p, "principalId").eq_ignore_ascii_case(principal)
            && roles.contains(&role_guid(s(p, "roleDefinitionId")).as_str())
            && scope_ok(s(p, "scope"))
            && p.get("condition").is_none_or(Value::is_null)
    })
}

fn why(e: &ArmError) -> String {
    match (e.status(), e.code()) {
        (Some(st), Some(c)) => format!(
            "Azure Resource Manager answered {st} {c} (request-id {})",
            e.request_id().unwrap_or("none")
        ),
        _ => e.to_string(),
    }
}

/// Reads the Azure subscriptions of tenant `tenant_id` and what closeout can prove about
/// the list's completeness. Never fails: what could not be read is recorded in
/// [`AzureState::read`] (the checklist then says "not checked"), and a subscription whose
/// resource groups or role assignments could not be read is recorded as such.
pub async fn read_azure(client: &ArmClient, tenant_id: &str) -> AzureState {
    let principal = match client.access_token().await {
        Ok(t) => crate::identity::decode_unverified(t.secret())
            .and_then(|c| c.oid)
            .map(|o| o.trim().to_ascii_lowercase()),
        Err(e) => {
            return AzureState {
                read: AzureRead::Unreadable(format!("no Azure Resource Manager token: {e}")),
                subscriptions: Vec::new(),
            }
        }
    };
    let listed = match client.get_all(&subscriptions_path()).await {
        Ok(v) => v,
        Err(e) => {
            return AzureState {
                read: AzureRead::Unreadable(why(&e)),
                subscriptions: Vec::new(),
            }
        }
    };
    let (root_reader, why_incomplete) = match &principal {
        None => (
            false,
            Some("the Azure Resource Manager token names no principal (no oid claim), so its role assignments at root scope / cannot be checked".to_string()),
        ),
        Some(p) => match client.get_all(&role_assignments_path("")).await {
            Ok(a) if holds(&a, p, READS_EVERYTHING, |sc| sc == "/") => (true, None),
            Ok(_) => (false, Some(format!("the identity ({p}) holds no Reader (or Contributor, Owner, User Access Administrator) role assignment at root scope /, so ARM lists only the subscriptions it has a role on"))),
            Err(e) => (false, Some(format!("the role assignments at root scope / could not be read: {}", why(&e)))),
        },
    };
    let mut subscriptions = Vec::new();
    for v in &listed {
        let id = s(v, "subscriptionId").trim().to_ascii_lowercase();
        if id.is_empty() || !s(v, "tenantId").eq_ignore_ascii_case(tenant_id) {
            continue;
        }
        let state = s(v, "state").to_string();
        if state == "Deleted" {
            continue;
        }
        let scope = format!("/subscriptions/{id}");
        let owner = match &principal {
            Some(p) => client
                .get_all(&role_assignments_path(&scope))
                .await
                .map(|a| {
                    holds(&a, p, &[OWNER_ROLE], |sc| {
                        sc == "/"
                            || sc.eq_ignore_ascii_case(&scope)
                            || sc
                                .to_ascii_lowercase()
                                .starts_with("/providers/microsoft.management/managementgroups/")
                    })
                })
                .unwrap_or(false),
            None => false,
        };
        let (resource_groups, resource_groups_read) =
            match client.get_all(&resource_groups_path(&id)).await {
                Ok(groups) => {
                    let mut names: Vec<String> =
                        groups.iter().map(|g| s(g, "name").to_string()).collect();
                    names.sort();
                    (names, true)
                }
                Err(_) => (Vec::new(), false),
            };
        subscriptions.push(AzureSubscription {
            subscription_id: id,
            display_name: s(v, "displayName").to_string(),
            state,
            tenant_id: s(v, "tenantId").to_ascii_lowercase(),
            owner,
            resource_groups,
            resource_groups_read,
        });
    }
    subscriptions.sort_by(|a, b| a.subscription_id.cmp(&b.subscription_id));
    AzureState {
        read: AzureRead::Read {
            root_reader,
            why_incomplete,
        },
        subscriptions,
    }
}

/// Cancels subscription `id` (`POST …/Microsoft.Subscription/cancel`). ARM answers 200
/// with `{"value": "<id>"}`; it refuses with 400 `ResourcesExistingOnSubscription` while
/// resources exist and 403 without Owner.
///
/// # Errors
/// [`ArmError::Api`] with ARM's code and `x-ms-request-id`.
pub async fn cancel_subscription(client: &ArmClient, id: &str) -> Result<(), ArmError> {
    client.post(&cancel_path(id), None).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_unconditional_assignment_to_the_principal_at_the_scope_counts() {
        let a = |p: &str, role: &str, scope: &str, cond: Value| json!({"properties": {"principalId": p, "roleDefinitionId": format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"), "scope": scope, "condition": cond}});
        let me = "aaaa";
        let root = |sc: &str| sc == "/";
        assert!(holds(
            &[a(me, READER_ROLE, "/", Value::Null)],
            me,
            READS_EVERYTHING,
            root
        ));
        assert!(!holds(
            &[a("other", READER_ROLE, "/", Value::Null)],
            me,
            READS_EVERYTHING,
            root
        ));
        assert!(!holds(
            &[a(me, READER_ROLE, "/subscriptions/x", Value::Null)],
            me,
            READS_EVERYTHING,
            root
        ));
        assert!(!holds(
            &[a(me, "0000", "/", Value::Null)],
            me,
            READS_EVERYTHING,
            root
        ));
        assert!(!holds(
            &[a(me, OWNER_ROLE, "/", json!("@Resource[x] == 'y'"))],
            me,
            &[OWNER_ROLE],
            root
        ));
    }
}
