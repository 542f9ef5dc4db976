//! Which application permissions each route graph-sim serves requires, as Graph's API pages
//! list them ("Permissions" table, Application row: the least privileged permission first,
//! then the higher privileged ones that also grant it), and the directory-role rule for
//! deleting privileged users. Owns the table and the 403 refusals; knows nothing about the
//! store beyond the role membership it is given.
//!
//! Reference: <https://learn.microsoft.com/graph/permissions-reference>.

use crate::error::GraphError;
use crate::token::Grants;

/// One route: method, path pattern (lower case, `{id}` for a key segment), the permissions
/// that grant it (least privileged first), and the page that lists them.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path after the version, lower case, `{id}` for keys.
    pub path: &'static str,
    /// Application permissions, least privileged first; any one grants the route.
    pub permissions: &'static [&'static str],
    /// The API page whose Permissions table this copies.
    pub source: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    permissions: &'static [&'static str],
    source: &'static str,
) -> Route {
    Route {
        method,
        path,
        permissions,
        source,
    }
}

const USER_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const APP_READ: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.OwnedBy",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const APP_WRITE: &[&str] = &["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"];
const ROLE_READ: &[&str] = &[
    "RoleManagement.Read.Directory",
    "Directory.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.ReadWrite.All",
];
const ORG_READ: &[&str] = &[
    "Organization.Read.All",
    "Directory.Read.All",
    "Organization.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const LICENSE_READ: &[&str] = &[
    "LicenseAssignment.Read.All",
    "Organization.Read.All",
    "Directory.Read.All",
    "Organization.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const POLICY_READ: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.SecurityDefaults",
];
const DOMAIN_READ: &[&str] = &[
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const DELETED_READ: &[&str] = &[
    "User.Read.All",
    "Application.Read.All",
    "User.ReadWrite.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Every route graph-sim serves.
pub const ROUTES: &[Route] = &[
    r("GET", "", &[], "https://learn.microsoft.com/graph/use-the-api (service root)"),
    r("GET", "users", USER_READ, "https://learn.microsoft.com/graph/api/user-list"),
    r("GET", "users/$count", USER_READ, "https://learn.microsoft.com/graph/api/user-list"),
    r("GET", "users/{id}", USER_READ, "https://learn.microsoft.com/graph/api/user-get"),
    r(
        "PATCH",
        "users/{id}",
        &["User.ReadWrite.All", "Directory.ReadWrite.All"],
        "https://learn.microsoft.com/graph/api/user-update",
    ),
    r(
        "DELETE",
        "users/{id}",
        &["User.DeleteRestore.All", "User.ReadWrite.All"],
        "https://learn.microsoft.com/graph/api/user-delete",
    ),
    r(
        "GET",
        "users/{id}/authentication/requirements",
        &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
        "https://learn.microsoft.com/graph/api/strongauthenticationrequirements-get?view=graph-rest-beta",
    ),
    r(
        "PATCH",
        "users/{id}/authentication/requirements",
        &["Policy.ReadWrite.AuthenticationMethod"],
        "https://learn.microsoft.com/graph/api/strongauthenticationrequirements-update?view=graph-rest-beta",
    ),
    r(
        "GET",
        "directory/deleteditems/microsoft.graph.user",
        USER_READ,
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    r(
        "GET",
        "directory/deleteditems/microsoft.graph.application",
        APP_READ,
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    r(
        "GET",
        "directory/deleteditems/microsoft.graph.serviceprincipal",
        APP_READ,
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    r(
        "GET",
        "directory/deleteditems/microsoft.graph.group",
        &["Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    r(
        "GET",
        "directory/deleteditems",
        DELETED_READ,
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    r(
        "GET",
        "directory/deleteditems/{id}",
        DELETED_READ,
        "https://learn.microsoft.com/graph/api/directory-deleteditems-get",
    ),
    r(
        "DELETE",
        "directory/deleteditems/{id}",
        &[
            "User.DeleteRestore.All",
            "Application.ReadWrite.OwnedBy",
            "User.ReadWrite.All",
            "Application.ReadWrite.All",
        ],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-delete",
    ),
    // Per object type the page asks for User.ReadWrite.All (users; newer versions also
    // User.DeleteRestore.All) or Application.ReadWrite.OwnedBy / .All (applications and
    // service principals); the route accepts any of them and the handler checks the type.
    r(
        "POST",
        "directory/deleteditems/{id}/restore",
        &[
            "User.DeleteRestore.All",
            "User.ReadWrite.All",
            "Application.ReadWrite.OwnedBy",
            "Application.ReadWrite.All",
        ],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-restore",
    ),
    r(
        "GET",
        "directory/subscriptions",
        LICENSE_READ,
        "https://learn.microsoft.com/graph/api/directory-list-subscriptions",
    ),
    r(
        "GET",
        "directory/subscriptions/{id}",
        LICENSE_READ,
        "https://learn.microsoft.com/graph/api/companysubscription-get",
    ),
    r("GET", "subscribedskus", LICENSE_READ, "https://learn.microsoft.com/graph/api/subscribedsku-list"),
    r("GET", "subscribedskus/{id}", LICENSE_READ, "https://learn.microsoft.com/graph/api/subscribedsku-get"),
    r("GET", "organization", ORG_READ, "https://learn.microsoft.com/graph/api/organization-list"),
    r("GET", "organization/{id}", ORG_READ, "https://learn.microsoft.com/graph/api/organization-get"),
    r(
        "PATCH",
        "organization/{id}",
        &["Organization.ReadWrite.All", "Directory.ReadWrite.All"],
        "https://learn.microsoft.com/graph/api/organization-update",
    ),
    r("GET", "directoryroles", ROLE_READ, "https://learn.microsoft.com/graph/api/directoryrole-list"),
    r("GET", "directoryroles/{id}", ROLE_READ, "https://learn.microsoft.com/graph/api/directoryrole-get"),
    r(
        "GET",
        "directoryroles/{id}/members",
        ROLE_READ,
        "https://learn.microsoft.com/graph/api/directoryrole-list-members",
    ),
    r(
        "GET",
        "policies/identitysecuritydefaultsenforcementpolicy",
        POLICY_READ,
        "https://learn.microsoft.com/graph/api/identitysecuritydefaultsenforcementpolicy-get",
    ),
    r(
        "PATCH",
        "policies/identitysecuritydefaultsenforcementpolicy",
        &["Policy.ReadWrite.SecurityDefaults"],
        "https://learn.microsoft.com/graph/api/identitysecuritydefaultsenforcementpolicy-update",
    ),
    r(
        "GET",
        "identity/conditionalaccess/policies",
        POLICY_READ,
        "https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies",
    ),
    r(
        "GET",
        "identity/conditionalaccess/policies/{id}",
        POLICY_READ,
        "https://learn.microsoft.com/graph/api/conditionalaccesspolicy-get",
    ),
    r(
        "PATCH",
        "identity/conditionalaccess/policies/{id}",
        &["Policy.ReadWrite.ConditionalAccess"],
        "https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update",
    ),
    r("GET", "applications", APP_READ, "https://learn.microsoft.com/graph/api/application-list"),
    r("GET", "applications/$count", APP_READ, "https://learn.microsoft.com/graph/api/application-list"),
    r("GET", "applications/{id}", APP_READ, "https://learn.microsoft.com/graph/api/application-get"),
    r("DELETE", "applications/{id}", APP_WRITE, "https://learn.microsoft.com/graph/api/application-delete"),
    r("GET", "serviceprincipals", APP_READ, "https://learn.microsoft.com/graph/api/serviceprincipal-list"),
    r(
        "GET",
        "serviceprincipals/$count",
        APP_READ,
        "https://learn.microsoft.com/graph/api/serviceprincipal-list",
    ),
    r("GET", "serviceprincipals/{id}", APP_READ, "https://learn.microsoft.com/graph/api/serviceprincipal-get"),
    r(
        "GET",
        "serviceprincipals/{id}/memberof",
        &[
            "Application.Read.All",
            "Directory.Read.All",
            "Application.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        "https://learn.microsoft.com/graph/api/serviceprincipal-list-memberof",
    ),
    r(
        "PATCH",
        "serviceprincipals/{id}",
        APP_WRITE,
        "https://learn.microsoft.com/graph/api/serviceprincipal-update",
    ),
    r(
        "DELETE",
        "serviceprincipals/{id}",
        APP_WRITE,
        "https://learn.microsoft.com/graph/api/serviceprincipal-delete",
    ),
    r("GET", "domains", DOMAIN_READ, "https://learn.microsoft.com/graph/api/domain-list"),
    r("GET", "domains/{id}", DOMAIN_READ, "https://learn.microsoft.com/graph/api/domain-get"),
    r(
        "PATCH",
        "domains/{id}",
        &["Domain.ReadWrite.All", "Directory.ReadWrite.All"],
        "https://learn.microsoft.com/graph/api/domain-update",
    ),
    r(
        "DELETE",
        "domains/{id}",
        &["Domain.ReadWrite.All", "Directory.ReadWrite.All"],
        "https://learn.microsoft.com/graph/api/domain-delete",
    ),
    // Usage reports (served by crate::reports, which checks these same lists).
    r(
        "GET",
        "reports/getmailboxusagedetail",
        crate::reports::REPORTS_READ,
        "https://learn.microsoft.com/graph/api/reportroot-getmailboxusagedetail",
    ),
    r(
        "GET",
        "reports/getonedriveusageaccountdetail",
        crate::reports::REPORTS_READ,
        "https://learn.microsoft.com/graph/api/reportroot-getonedriveusageaccountdetail",
    ),
    r(
        "GET",
        "reports/getsharepointsiteusagedetail",
        crate::reports::REPORTS_READ,
        "https://learn.microsoft.com/graph/api/reportroot-getsharepointsiteusagedetail",
    ),
    r(
        "GET",
        "admin/reportsettings",
        crate::reports::REPORT_SETTINGS_READ,
        "https://learn.microsoft.com/graph/api/adminreportsettings-get",
    ),
];

/// Every permission any route names: what a full-permission test token carries.
pub fn all_permissions() -> Vec<&'static str> {
    let mut v: Vec<&str> = ROUTES
        .iter()
        .flat_map(|r| r.permissions.iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The route pattern of a request path (lower-cased segments after the version).
pub fn route_key(low: &[&str]) -> String {
    let keyed = |i: usize| -> bool {
        match (low.first().copied(), i) {
            (
                Some(
                    "users" | "directoryroles" | "organization" | "applications"
                    | "serviceprincipals" | "domains" | "subscribedskus",
                ),
                1,
            ) => low[1] != "$count",
            (Some("directory"), 2) => {
                low.get(1) == Some(&"subscriptions")
                    || (low.get(1) == Some(&"deleteditems")
                        && !low[2].starts_with("microsoft.graph.")
                        && !low[2].starts_with("graph."))
            }
            (Some("identity"), 3) => true,
            _ => false,
        }
    };
    low.iter()
        .enumerate()
        .map(|(i, s)| {
            if keyed(i) {
                "{id}".to_string()
            } else if let Some(t) = s.strip_prefix("graph.") {
                format!("microsoft.graph.{t}")
            } else {
                (*s).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The route `method path` names, if graph-sim serves it.
pub fn route(method: &str, key: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.method == method && r.path == key)
}

/// 403 `Authorization_RequestDenied` "Insufficient privileges to complete the operation."
/// (Graph's answer when the token lacks the permission;
/// <https://learn.microsoft.com/graph/resolve-auth-errors>).
pub fn denied() -> GraphError {
    GraphError::new(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// Checks that `grants` hold one of the permissions route `key` needs. Routes outside the
/// table pass (the router answers them 400/405 as Graph does).
pub fn check(grants: &Grants, method: &str, key: &str) -> Result<(), GraphError> {
    match route(method, key) {
        Some(r) if !r.permissions.is_empty() && !grants.has_any(r.permissions) => Err(denied()),
        _ => Ok(()),
    }
}

/// Directory roles whose holders are "privileged" for deletion
/// (<https://learn.microsoft.com/entra/identity/role-based-access-control/privileged-roles-permissions>):
/// template ids of the roles marked PRIVILEGED that graph-sim's snapshots use.
pub const PRIVILEGED_ROLE_TEMPLATES: &[&str] = &[
    "62e90394-69f5-4237-9190-012177145e10", // Global Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", // Privileged Authentication Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
    "c4e39bd9-1100-46d3-8c65-fb160da0071f", // Authentication Administrator
    "729827e3-9c14-49f7-bb1b-9608f156bbb8", // Helpdesk Administrator
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
    "158c047a-c907-4556-b7ef-446551a6b5f7", // Cloud Application Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d", // Security Administrator
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", // Conditional Access Administrator
    "966707d0-3269-4727-9be2-8c3a10f19b9d", // Password Administrator
];

/// Roles an app needs to delete a user who holds a privileged role: "In app-only scenarios,
/// the User.ReadWrite.All application permission isn't enough privilege to delete users with
/// privileged administrative roles. The app must be assigned a higher privileged
/// administrator role as indicated in Who can perform sensitive actions."
/// (<https://learn.microsoft.com/graph/api/user-delete>). Global Administrator and
/// Privileged Authentication Administrator can delete any user
/// (<https://learn.microsoft.com/entra/identity/role-based-access-control/privileged-roles-permissions#who-can-perform-sensitive-actions>).
pub const DELETE_PRIVILEGED_USER_ROLES: &[&str] = &[
    "62e90394-69f5-4237-9190-012177145e10",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
];

/// Checks the privileged-user deletion rule: `target_roles` are the role template ids the
/// user to delete holds.
pub fn check_delete_user(grants: &Grants, target_roles: &[String]) -> Result<(), GraphError> {
    let privileged = target_roles.iter().any(|t| {
        PRIVILEGED_ROLE_TEMPLATES
            .iter()
            .any(|p| p.eq_ignore_ascii_case(t))
    });
    if privileged && !grants.has_role(DELETE_PRIVILEGED_USER_ROLES) {
        return Err(denied());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_keys() {
        assert_eq!(route_key(&["users", "abc"]), "users/{id}");
        assert_eq!(route_key(&["users", "$count"]), "users/$count");
        assert_eq!(
            route_key(&["directory", "deleteditems", "graph.user"]),
            "directory/deleteditems/microsoft.graph.user"
        );
        assert_eq!(
            route_key(&["directory", "deleteditems", "x"]),
            "directory/deleteditems/{id}"
        );
        assert_eq!(
            route_key(&["identity", "conditionalaccess", "policies", "p"]),
            "identity/conditionalaccess/policies/{id}"
        );
        let read_only = Grants {
            roles: vec!["User.Read.All".into()],
            ..Grants::default()
        };
        assert!(check(&read_only, "GET", "users").is_ok());
        let e = check(&read_only, "DELETE", "users/{id}").unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "Authorization_RequestDenied")
        );
        for r in ROUTES {
            assert!(
                r.source.starts_with("https://learn.microsoft.com/"),
                "{}",
                r.path
            );
        }
        let writer = Grants {
            roles: vec!["User.ReadWrite.All".into()],
            ..Grants::default()
        };
        assert!(check_delete_user(&writer, &[]).is_ok());
        assert!(
            check_delete_user(&writer, &["62e90394-69f5-4237-9190-012177145e10".into()]).is_err()
        );
        let ga = Grants {
            wids: vec!["62e90394-69f5-4237-9190-012177145e10".into()],
            ..writer
        };
        assert!(check_delete_user(&ga, &["62e90394-69f5-4237-9190-012177145e10".into()]).is_ok());
    }
}
