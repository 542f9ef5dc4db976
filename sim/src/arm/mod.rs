//! graph-sim's Azure Resource Manager (ARM) surface, in the same process as Graph: the
//! snapshot section `azureSubscriptions` (subscriptions, their role assignments and
//! resource groups, role assignments at root scope `/`), and the routes closeout reads and
//! calls. Owns ARM's shapes and rules; the server routes here every path under
//! `/subscriptions` and `/providers/`. Knows nothing about Graph's routes.
//!
//! Rules, with their sources:
//! - `GET /subscriptions?api-version=2022-12-01` lists only the subscriptions the caller
//!   holds a role on (at the subscription or above it), pageable by `nextLink`
//!   (<https://learn.microsoft.com/rest/api/resources/subscriptions/list>; Microsoft Entra
//!   roles do not grant access to Azure resources:
//!   <https://learn.microsoft.com/azure/role-based-access-control/elevate-access-global-admin>);
//!   `Deleted` subscriptions are not listed.
//! - `GET {scope}/providers/Microsoft.Authorization/roleAssignments?...&$filter=atScope()`
//!   answers the assignments at or above `scope`
//!   (<https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope>);
//!   a caller without any role there gets 403 `AuthorizationFailed`.
//! - `GET /subscriptions/{id}/resourcegroups?api-version=...`
//!   (<https://learn.microsoft.com/rest/api/resources/resource-groups/list>).
//! - `POST /subscriptions/{id}/providers/Microsoft.Subscription/cancel?api-version=2021-10-01`
//!   answers 200 `{"value": id}` (<https://learn.microsoft.com/rest/api/subscription/subscription/cancel>);
//!   only subscription owners may (<https://learn.microsoft.com/azure/cost-management-billing/manage/cancel-azure-subscription>:
//!   "Subscription owners"; an assignment with a condition does not count), else 403;
//!   400 `ResourcesExistingOnSubscription` while resources exist (observed ARM behaviour,
//!   Azure/azure-sdk-for-python#10814, Azure/azure-rest-api-specs#9042: "by design").
//! - Errors are `{"error":{"code","message"}}` with `x-ms-request-id` and
//!   `x-ms-correlation-request-id`
//!   (<https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/common-api-details.md>);
//!   a missing `api-version` is 400 `MissingApiVersionParameter`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::GraphError;
use crate::wire::GraphResponse;

/// Built-in role definition ids by name
/// (<https://learn.microsoft.com/azure/role-based-access-control/built-in-roles>).
pub const ROLES: &[(&str, &str)] = &[
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    (
        "User Access Administrator",
        "18d7d88d-d35e-4fb5-a5c3-7773c4a72d9d",
    ),
];

/// Subscriptions per page of `GET /subscriptions` (small, so paging is exercised).
pub const PAGE_SIZE: usize = 2;

/// One role assignment of the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    /// A built-in role's name ([`ROLES`]) or a role definition GUID.
    pub role: String,
    /// Whom it is assigned to (an object id; `oid` of tokens). Default: graph-sim's
    /// simulated app ([`crate::token::DEFAULT_APP_ID`], which its minted tokens carry as `oid`).
    #[serde(default = "default_principal")]
    pub principal_id: String,
    /// An ABAC condition; such an Owner cannot cancel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

fn default_principal() -> String {
    crate::token::DEFAULT_APP_ID.to_string()
}

impl RoleAssignment {
    /// The role definition GUID.
    pub fn role_id(&self) -> String {
        ROLES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&self.role))
            .map_or_else(|| self.role.to_ascii_lowercase(), |(_, id)| id.to_string())
    }

    fn is_for(&self, principal: Option<&str>) -> bool {
        principal.is_some_and(|p| self.principal_id.eq_ignore_ascii_case(p))
    }

    fn json(&self, scope: &str, n: usize) -> Value {
        let name = format!("{:08x}-0000-4000-8000-{:012x}", n, scope.len());
        let prefix = if scope == "/" { "" } else { scope };
        json!({
            "id": format!("{prefix}/providers/Microsoft.Authorization/roleAssignments/{name}"),
            "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": format!("{prefix}/providers/Microsoft.Authorization/roleDefinitions/{}", self.role_id()),
                "principalId": self.principal_id,
                "principalType": "ServicePrincipal",
                "scope": scope,
                "condition": self.condition,
            }
        })
    }
}

/// One Azure subscription of the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureSubscription {
    /// A GUID.
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: String,
    /// `Enabled`, `Warned`, `PastDue`, `Disabled` or `Deleted`.
    pub state: String,
    /// Default: the snapshot's tenant (`organization.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Role assignments at the subscription's scope.
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignment>,
    /// Names of its resource groups.
    #[serde(default)]
    pub resource_groups: Vec<String>,
    /// When it was cancelled (graph-sim records it; ARM itself does not expose it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_date_time: Option<String>,
}

impl AzureSubscription {
    fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "Enabled" | "Warned" | "PastDue")
    }
}

/// The snapshot section `azureSubscriptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureSection {
    /// Role assignments at root scope `/`.
    #[serde(default)]
    pub root_role_assignments: Vec<RoleAssignment>,
    #[serde(default)]
    pub subscriptions: Vec<AzureSubscription>,
}

impl AzureSection {
    /// `true` when the section holds nothing (it is then not written back).
    pub fn is_empty(&self) -> bool {
        self.root_role_assignments.is_empty() && self.subscriptions.is_empty()
    }

    fn find(&self, id: &str) -> Option<&AzureSubscription> {
        self.subscriptions
            .iter()
            .find(|s| s.subscription_id.eq_ignore_ascii_case(id) && s.state != "Deleted")
    }

    pub(crate) fn find_mut(&mut self, id: &str) -> Option<&mut AzureSubscription> {
        self.subscriptions
            .iter_mut()
            .find(|s| s.subscription_id.eq_ignore_ascii_case(id) && s.state != "Deleted")
    }

    /// Whether `principal` holds any role on `sub` (at it or at root).
    fn can_see(&self, sub: &AzureSubscription, principal: Option<&str>) -> bool {
        self.root_role_assignments
            .iter()
            .chain(&sub.role_assignments)
            .any(|a| a.is_for(principal))
    }

    /// Whether `principal` is an unconditional Owner of `sub` (at it or at root).
    fn is_owner(&self, sub: &AzureSubscription, principal: Option<&str>) -> bool {
        self.root_role_assignments
            .iter()
            .chain(&sub.role_assignments)
            .any(|a| a.is_for(principal) && a.role_id() == ROLES[0].1 && a.condition.is_none())
    }
}

fn arm_error(status: u16, code: &str, message: impl Into<String>) -> GraphError {
    GraphError::new(status, code, message)
}

fn not_found(id: &str) -> GraphError {
    arm_error(
        404,
        "SubscriptionNotFound",
        format!("The subscription '{id}' could not be found."),
    )
}

fn forbidden(principal: Option<&str>, action: &str, scope: &str) -> GraphError {
    arm_error(
        403,
        "AuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            principal.unwrap_or(""),
            principal.unwrap_or("")
        ),
    )
}

/// An ARM request as the server hands it over.
pub(crate) struct ArmRequest<'a> {
    pub method: &'a str,
    /// The path, e.g. `/subscriptions/{id}/resourcegroups`.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The caller's object id (token `oid`).
    pub principal: Option<String>,
    /// `http://127.0.0.1:PORT`, for `nextLink`.
    pub origin: String,
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| {
            k.eq_ignore_ascii_case(name) || k.replace("%24", "$").eq_ignore_ascii_case(name)
        })
        .map(|(_, v)| v)
}

/// What an ARM route may change: asks the store to apply it (`cancel`).
pub(crate) enum ArmWrite {
    Cancel(String),
}

/// Answers a read, or says which write to make. `Err` is an ARM error.
pub(crate) fn route(
    section: &AzureSection,
    tenant_id: &str,
    r: &ArmRequest<'_>,
) -> Result<Result<GraphResponse, ArmWrite>, GraphError> {
    if query_param(r.query, "api-version").is_none_or(str::is_empty) {
        return Err(arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    }
    let principal = r.principal.as_deref();
    let segs: Vec<String> = r
        .path
        .trim_matches('/')
        .split('/')
        .map(str::to_ascii_lowercase)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let ok = |v: Value| Ok(Ok(GraphResponse::ok(v)));
    match (r.method, segs.as_slice()) {
        ("GET", ["subscriptions"]) => {
            let visible: Vec<&AzureSubscription> = section
                .subscriptions
                .iter()
                .filter(|s| s.state != "Deleted" && section.can_see(s, principal))
                .collect();
            let skip: usize = query_param(r.query, "$skiptoken")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = visible
                .iter()
                .skip(skip)
                .take(PAGE_SIZE)
                .map(|s| subscription_json(s, tenant_id))
                .collect();
            let mut body = json!({ "value": page });
            if skip + PAGE_SIZE < visible.len() {
                body["nextLink"] = json!(format!(
                    "{}/subscriptions?api-version=2022-12-01&$skiptoken={}",
                    r.origin,
                    skip + PAGE_SIZE
                ));
            }
            ok(body)
        }
        ("GET", ["subscriptions", id]) => {
            let s = section.find(id).ok_or_else(|| not_found(id))?;
            if !section.can_see(s, principal) {
                return Err(forbidden(
                    principal,
                    "Microsoft.Resources/subscriptions/read",
                    &format!("/subscriptions/{id}"),
                ));
            }
            ok(subscription_json(s, tenant_id))
        }
        ("GET", ["providers", "microsoft.authorization", "roleassignments"]) => {
            if !section
                .root_role_assignments
                .iter()
                .any(|a| a.is_for(principal))
            {
                return Err(forbidden(
                    principal,
                    "Microsoft.Authorization/roleAssignments/read",
                    "/",
                ));
            }
            let v: Vec<Value> = section
                .root_role_assignments
                .iter()
                .enumerate()
                .map(|(n, a)| a.json("/", n))
                .collect();
            ok(json!({ "value": v }))
        }
        (
            "GET",
            ["subscriptions", id, "providers", "microsoft.authorization", "roleassignments"],
        ) => {
            let s = section.find(id).ok_or_else(|| not_found(id))?;
            let scope = format!("/subscriptions/{}", s.subscription_id);
            if !section.can_see(s, principal) {
                return Err(forbidden(
                    principal,
                    "Microsoft.Authorization/roleAssignments/read",
                    &scope,
                ));
            }
            let mut v: Vec<Value> = section
                .root_role_assignments
                .iter()
                .enumerate()
                .map(|(n, a)| a.json("/", n))
                .collect();
            v.extend(
                s.role_assignments
                    .iter()
                    .enumerate()
                    .map(|(n, a)| a.json(&scope, n)),
            );
            ok(json!({ "value": v }))
        }
        ("GET", ["subscriptions", id, "resourcegroups"]) => {
            let s = section.find(id).ok_or_else(|| not_found(id))?;
            let scope = format!("/subscriptions/{}", s.subscription_id);
            if !section.can_see(s, principal) {
                return Err(forbidden(
                    principal,
                    "Microsoft.Resources/subscriptions/resourceGroups/read",
                    &scope,
                ));
            }
            let v: Vec<Value> = s
                .resource_groups
                .iter()
                .map(|g| {
                    json!({
                        "id": format!("{scope}/resourceGroups/{g}"),
                        "name": g,
                        "type": "Microsoft.Resources/resourceGroups",
                        "location": "westeurope",
                        "properties": {"provisioningState": "Succeeded"},
                    })
                })
                .collect();
            ok(json!({ "value": v }))
        }
        ("POST", ["subscriptions", id, "providers", "microsoft.subscription", "cancel"]) => {
            let s = section.find(id).ok_or_else(|| not_found(id))?;
            let scope = format!("/subscriptions/{}", s.subscription_id);
            if !section.can_see(s, principal) {
                return Err(forbidden(
                    principal,
                    "Microsoft.Subscription/cancel/action",
                    &scope,
                ));
            }
            if !section.is_owner(s, principal) {
                // Azure/azure-rest-api-specs#15635 quotes this answer to a non-owner.
                return Err(arm_error(
                    403,
                    "AuthorizationFailed",
                    "Only subscription owners can perform this operation. Contact your subscription owner to perform this operation.",
                ));
            }
            if !s.is_active() {
                return Err(arm_error(
                    409,
                    "ReadOnlyDisabledSubscription",
                    format!("The subscription '{}' is disabled and therefore marked as read only. You cannot perform any write actions on this subscription until it is re-enabled.", s.subscription_id),
                ));
            }
            if !s.resource_groups.is_empty() {
                return Err(arm_error(
                    400,
                    "ResourcesExistingOnSubscription",
                    "There are existing resources associated with subscription. Delete them before cancelling the subscription",
                ));
            }
            Ok(Err(ArmWrite::Cancel(s.subscription_id.clone())))
        }
        _ => Err(arm_error(
            404,
            "InvalidResourceType",
            "The resource type could not be found in the namespace for api version.",
        )),
    }
}

fn subscription_json(s: &AzureSubscription, tenant_id: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.subscription_id),
        "subscriptionId": s.subscription_id,
        "tenantId": s.tenant_id.as_deref().unwrap_or(tenant_id),
        "displayName": s.display_name,
        "state": s.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off"
        },
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
    })
}

/// The state changes the portal and ARM make, applied by the store under its lock.
impl AzureSection {
    /// ARM's or the portal's cancel: active -> `Disabled`, with the time recorded.
    /// The portal cancels with resources present (it warns instead: Azure/azure-rest-api-specs#9042).
    pub(crate) fn cancel(&mut self, id: &str, at: &str) -> Result<(), String> {
        let s = self
            .find_mut(id)
            .ok_or_else(|| format!("Azure subscription {id} not found"))?;
        if !s.is_active() {
            return Err(format!("Azure subscription {id} is {}; only an active (Enabled, Warned, PastDue) subscription can be cancelled", s.state));
        }
        s.state = "Disabled".into();
        s.cancelled_date_time = Some(at.to_string());
        Ok(())
    }

    /// The portal's "Delete subscription" (no ARM operation exists: Azure/azure-rest-api-specs#22307):
    /// only a cancelled one whose resources are all removed
    /// (<https://learn.microsoft.com/azure/cost-management-billing/manage/cancel-azure-subscription#delete-subscriptions>).
    pub(crate) fn delete(&mut self, id: &str) -> Result<(), String> {
        let s = self
            .find_mut(id)
            .ok_or_else(|| format!("Azure subscription {id} not found"))?;
        if s.state != "Disabled" {
            return Err(format!(
                "Azure subscription {id} is {}; cancel it before deleting it",
                s.state
            ));
        }
        if !s.resource_groups.is_empty() {
            return Err(format!(
                "Azure subscription {id} still holds resource groups ({}); delete every resource before deleting the subscription",
                s.resource_groups.join(", ")
            ));
        }
        s.state = "Deleted".into();
        Ok(())
    }

    /// The portal deletes a resource group of a subscription.
    pub(crate) fn delete_resource_group(&mut self, id: &str, name: &str) -> Result<(), String> {
        let s = self
            .find_mut(id)
            .ok_or_else(|| format!("Azure subscription {id} not found"))?;
        let before = s.resource_groups.len();
        s.resource_groups.retain(|g| !g.eq_ignore_ascii_case(name));
        if s.resource_groups.len() == before {
            return Err(format!(
                "Azure subscription {id} has no resource group {name}"
            ));
        }
        Ok(())
    }

    /// Subscriptions that block the tenant's deletion ("Directory has one or more Azure
    /// subscriptions": active or cancelled ones,
    /// <https://learn.microsoft.com/entra/identity/users/directory-delete-howto>).
    pub fn blocking(&self) -> impl Iterator<Item = &AzureSubscription> {
        self.subscriptions.iter().filter(|s| s.state != "Deleted")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> AzureSection {
        serde_yaml::from_str(
            "rootRoleAssignments: []\nsubscriptions:\n  - {subscriptionId: s1, state: Enabled, roleAssignments: [{role: Owner}]}\n  - {subscriptionId: s2, state: Enabled, roleAssignments: [{role: Owner}], resourceGroups: [rg]}\n  - {subscriptionId: s3, state: Enabled, roleAssignments: [{role: Reader}]}\n  - {subscriptionId: s4, state: Enabled}\n",
        )
        .unwrap()
    }

    fn call(
        s: &AzureSection,
        method: &str,
        path: &str,
    ) -> Result<Result<GraphResponse, ArmWrite>, GraphError> {
        route(
            s,
            "t",
            &ArmRequest {
                method,
                path,
                query: Some("api-version=x"),
                principal: Some(crate::token::DEFAULT_APP_ID.into()),
                origin: "http://h".into(),
            },
        )
    }

    #[test]
    fn cancel_needs_owner_and_no_resource_groups_and_the_list_hides_the_unseen() {
        let s = section();
        assert!(matches!(
            call(
                &s,
                "POST",
                "/subscriptions/s1/providers/Microsoft.Subscription/cancel"
            ),
            Ok(Err(ArmWrite::Cancel(_)))
        ));
        let e = call(
            &s,
            "POST",
            "/subscriptions/s2/providers/Microsoft.Subscription/cancel",
        )
        .err()
        .unwrap();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "ResourcesExistingOnSubscription")
        );
        let e = call(
            &s,
            "POST",
            "/subscriptions/s3/providers/Microsoft.Subscription/cancel",
        )
        .err()
        .unwrap();
        assert_eq!(e.status, 403);
        let e = call(
            &s,
            "POST",
            "/subscriptions/s4/providers/Microsoft.Subscription/cancel",
        )
        .err()
        .unwrap();
        assert_eq!(e.status, 403);
        let page1 = call(&s, "GET", "/subscriptions")
            .unwrap()
            .ok()
            .unwrap()
            .body
            .unwrap();
        assert_eq!(page1["value"].as_array().unwrap().len(), 2);
        assert!(page1["nextLink"].as_str().unwrap().contains("skiptoken=2"));
        let e = call(
            &s,
            "GET",
            "/providers/Microsoft.Authorization/roleAssignments",
        )
        .err()
        .unwrap();
        assert_eq!(e.status, 403, "no role at root");
    }
}
