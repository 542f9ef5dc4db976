//! closeout's Graph permission table: for each request closeout makes (the tenant read and
//! each action kind's write), the application permissions that grant it, least privileged
//! first. The README's permission table, the 403 hint and the pre-check (before apply's first
//! write, and as a warning at plan time) all come from it. Owns token claim reading for that
//! check; must not touch the plan file, the apply journal or the Graph client's transport.
//!
//! Pages: each row cites the API page whose "Permissions" table (Application row) it copies;
//! reference: <https://learn.microsoft.com/graph/permissions-reference>.

use serde_json::Value;

use crate::plan::{ActionKind, Plan};

/// One request closeout makes and what grants it.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// The action kind whose write this is; `None` for the tenant read.
    pub kind: Option<ActionKind>,
    /// HTTP method.
    pub method: &'static str,
    /// Path as closeout sends it, `{id}` for keys (e.g. `/v1.0/users/{id}`).
    pub path: &'static str,
    /// Every group must be granted; within a group any one permission grants it (the first is
    /// the least privileged, the others higher privileged alternatives).
    pub permissions: &'static [&'static [&'static str]],
    /// The API page the permissions come from.
    pub source: &'static str,
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
const APP_WRITE: &[&str] = &["Application.ReadWrite.All"];
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
    "Directory.ReadWrite.All",
];
const POLICY_READ: &[&str] = &["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"];
const ROLE_READ: &[&str] = &[
    "RoleManagement.Read.Directory",
    "Directory.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "Directory.ReadWrite.All",
];
const DOMAIN_READ: &[&str] = &[
    "Domain.Read.All",
    "Domain.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

const fn read(
    method: &'static str,
    path: &'static str,
    permissions: &'static [&'static [&'static str]],
    source: &'static str,
) -> Need {
    Need {
        kind: None,
        method,
        path,
        permissions,
        source,
    }
}

const fn write(
    kind: ActionKind,
    method: &'static str,
    path: &'static str,
    permissions: &'static [&'static [&'static str]],
    source: &'static str,
) -> Need {
    Need {
        kind: Some(kind),
        method,
        path,
        permissions,
        source,
    }
}

/// Every request closeout makes.
pub const NEEDS: &[Need] = &[
    read("GET", "/v1.0/users", &[USER_READ], "https://learn.microsoft.com/graph/api/user-list"),
    read(
        "GET",
        "/v1.0/directory/deletedItems/microsoft.graph.user",
        &[USER_READ],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    read("GET", "/v1.0/organization", &[ORG_READ], "https://learn.microsoft.com/graph/api/organization-list"),
    read(
        "GET",
        "/v1.0/directory/subscriptions",
        &[LICENSE_READ],
        "https://learn.microsoft.com/graph/api/directory-list-subscriptions",
    ),
    read("GET", "/v1.0/subscribedSkus", &[LICENSE_READ], "https://learn.microsoft.com/graph/api/subscribedsku-list"),
    read("GET", "/v1.0/directoryRoles", &[ROLE_READ], "https://learn.microsoft.com/graph/api/directoryrole-list"),
    read(
        "GET",
        "/v1.0/directoryRoles/{id}/members",
        &[ROLE_READ],
        "https://learn.microsoft.com/graph/api/directoryrole-list-members",
    ),
    read(
        "GET",
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        &[POLICY_READ],
        "https://learn.microsoft.com/graph/api/identitysecuritydefaultsenforcementpolicy-get",
    ),
    read(
        "GET",
        "/v1.0/identity/conditionalAccess/policies",
        &[POLICY_READ],
        "https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies",
    ),
    read(
        "GET",
        "/beta/users/{id}/authentication/requirements",
        &[&["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"]],
        "https://learn.microsoft.com/graph/api/strongauthenticationrequirements-get?view=graph-rest-beta",
    ),
    read("GET", "/v1.0/applications", &[APP_READ], "https://learn.microsoft.com/graph/api/application-list"),
    read(
        "GET",
        "/v1.0/directory/deletedItems/microsoft.graph.application",
        &[APP_READ],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-list",
    ),
    read("GET", "/v1.0/servicePrincipals", &[APP_READ], "https://learn.microsoft.com/graph/api/serviceprincipal-list"),
    read("GET", "/v1.0/domains", &[DOMAIN_READ], "https://learn.microsoft.com/graph/api/domain-list"),
    read(
        "GET",
        "/v1.0/servicePrincipals/{id}/memberOf",
        &[&[
            "Application.Read.All",
            "Directory.Read.All",
            "Application.ReadWrite.All",
            "Directory.ReadWrite.All",
        ]],
        "https://learn.microsoft.com/graph/api/serviceprincipal-list-memberof",
    ),
    write(
        ActionKind::DisableDirectorySync,
        "PATCH",
        "/beta/organization/{id}",
        &[&["Organization.ReadWrite.All", "Directory.ReadWrite.All"]],
        "https://learn.microsoft.com/graph/api/organization-update?view=graph-rest-beta",
    ),
    write(
        ActionKind::DeleteUser,
        "DELETE",
        "/v1.0/users/{id}",
        &[&["User.DeleteRestore.All", "User.ReadWrite.All"]],
        "https://learn.microsoft.com/graph/api/user-delete",
    ),
    write(
        ActionKind::PurgeUser,
        "DELETE",
        "/v1.0/directory/deletedItems/{id}",
        &[&["User.DeleteRestore.All", "User.ReadWrite.All"]],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-delete",
    ),
    write(
        ActionKind::DisableSecurityDefaults,
        "PATCH",
        "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
        &[&["Policy.ReadWrite.SecurityDefaults"]],
        "https://learn.microsoft.com/graph/api/identitysecuritydefaultsenforcementpolicy-update",
    ),
    write(
        ActionKind::DisableConditionalAccessPolicy,
        "PATCH",
        "/v1.0/identity/conditionalAccess/policies/{id}",
        &[&["Policy.ReadWrite.ConditionalAccess"], &["Policy.Read.All"]],
        "https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update",
    ),
    write(
        ActionKind::DisablePerUserMfa,
        "PATCH",
        "/beta/users/{id}/authentication/requirements",
        &[&["Policy.ReadWrite.AuthenticationMethod"]],
        "https://learn.microsoft.com/graph/api/strongauthenticationrequirements-update?view=graph-rest-beta",
    ),
    write(
        ActionKind::DeleteServicePrincipal,
        "DELETE",
        "/v1.0/servicePrincipals/{id}",
        &[APP_WRITE],
        "https://learn.microsoft.com/graph/api/serviceprincipal-delete",
    ),
    write(
        ActionKind::DisableServicePrincipal,
        "PATCH",
        "/v1.0/servicePrincipals/{id}",
        &[APP_WRITE],
        "https://learn.microsoft.com/graph/api/serviceprincipal-update",
    ),
    write(
        ActionKind::DeleteApplication,
        "DELETE",
        "/v1.0/applications/{id}",
        &[APP_WRITE],
        "https://learn.microsoft.com/graph/api/application-delete",
    ),
    write(
        ActionKind::PurgeApplication,
        "DELETE",
        "/v1.0/directory/deletedItems/{id}",
        &[APP_WRITE],
        "https://learn.microsoft.com/graph/api/directory-deleteditems-delete",
    ),
    write(
        ActionKind::MoveUserToInitialDomain,
        "PATCH",
        "/v1.0/users/{id}",
        &[&["User.ReadWrite.All", "Directory.ReadWrite.All"]],
        "https://learn.microsoft.com/graph/api/user-update",
    ),
    write(
        ActionKind::SetDefaultDomain,
        "PATCH",
        "/v1.0/domains/{id}",
        &[&["Domain.ReadWrite.All", "Directory.ReadWrite.All"]],
        "https://learn.microsoft.com/graph/api/domain-update",
    ),
    write(
        ActionKind::DeleteDomain,
        "DELETE",
        "/v1.0/domains/{id}",
        &[&["Domain.ReadWrite.All", "Directory.ReadWrite.All"]],
        "https://learn.microsoft.com/graph/api/domain-delete",
    ),
];

/// Directory roles whose holders are privileged for deletion, by template id and display
/// name (<https://learn.microsoft.com/entra/identity/role-based-access-control/privileged-roles-permissions>).
pub const PRIVILEGED_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    (
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "Password Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
];

/// Roles that let an app delete a privileged user ("Who can perform sensitive actions":
/// Global Administrator, Privileged Authentication Administrator;
/// <https://learn.microsoft.com/graph/api/user-delete>).
pub const DELETE_PRIVILEGED_USER_ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
];

fn segments(path: &str) -> Vec<String> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = match path.find("://") {
        Some(i) => path[i + 3..].split_once('/').map_or("", |(_, p)| p),
        None => path,
    };
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether a sent path (`/v1.0/users/5f0c…?$select=id`, or a full URL) matches a table path.
fn matches(table: &str, sent: &str) -> bool {
    let (t, s) = (segments(table), segments(sent));
    t.len() == s.len() && t.iter().zip(&s).all(|(a, b)| a == "{id}" || a == b)
}

/// The row for a request closeout made, if any.
pub fn need_for(method: &str, path: &str) -> Option<&'static Need> {
    let m = method.to_ascii_uppercase();
    NEEDS
        .iter()
        .filter(|n| n.method == m)
        .find(|n| matches(n.path, path))
}

fn describe_group(group: &[&str]) -> String {
    match group {
        [] => String::new(),
        [one] => (*one).to_string(),
        [least, higher @ ..] => format!("{least} (or a higher one: {})", higher.join(", ")),
    }
}

/// What a 403 on `method path` asks for: the least privileged permission(s) of that request
/// and their higher alternatives. A read asks for a read permission, never a write one.
pub fn hint_403(method: &str, path: &str) -> String {
    match need_for(method, path) {
        Some(n) => {
            let groups: Vec<String> = n.permissions.iter().map(|g| describe_group(g)).collect();
            let mut s = groups.join(" and ");
            if n.kind == Some(ActionKind::DeleteUser) {
                s.push_str("; deleting a user who holds a privileged role also needs the app to hold Privileged Authentication Administrator or Global Administrator");
            }
            s
        }
        None => {
            "the permission this request's Graph API page lists (see the README's permission table)"
                .into()
        }
    }
}

/// The claims closeout reads from an access token (never verified here; Graph verifies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `roles`, `None` when absent.
    pub roles: Option<Vec<String>>,
    /// `wids`, `None` when absent.
    pub wids: Option<Vec<String>>,
    /// `scp` present (a delegated token).
    pub delegated: bool,
    /// `appid` / `azp`.
    pub app_id: Option<String>,
}

/// Reads a JWT's claims with closeout's one token decoder
/// ([`crate::identity::decode_unverified`]); `None` if it is not a JWT.
pub fn claims(token: &str) -> Option<Claims> {
    let c = crate::identity::decode_unverified(token)?;
    Some(Claims {
        delegated: c.scp.is_some(),
        app_id: c.appid.or(c.azp),
        roles: c.roles,
        wids: c.wids,
    })
}

/// The outcome of comparing a token with a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// One line per missing permission group: what to grant and which actions need it.
    pub missing: Vec<String>,
    /// Why (part of) the check could not be made, e.g. a delegated token.
    pub cannot_check: Vec<String>,
}

impl Check {
    /// Nothing missing (parts may still be unchecked).
    pub fn passes(&self) -> bool {
        self.missing.is_empty()
    }
}

fn is_privileged_deletion(a: &crate::plan::Action) -> bool {
    a.kind == ActionKind::DeleteUser
        && a.before
            .get("directoryRoles")
            .and_then(Value::as_array)
            .is_some_and(|roles| {
                roles.iter().filter_map(Value::as_str).any(|r| {
                    PRIVILEGED_ROLES
                        .iter()
                        .any(|(_, name)| name.eq_ignore_ascii_case(r))
                })
            })
}

/// Compares the token's `roles` (and, for privileged users, `wids`) with what `plan` needs:
/// the tenant read, and the write of each automated action. A token that is not a JWT, a
/// delegated token and a token without `roles` are reported in `cannot_check`, never as a
/// pass of the missing list's kind.
pub fn check(plan: &Plan, token: &str) -> Check {
    match claims(token) {
        Some(c) => check_claims(plan, &c),
        None => Check {
            missing: Vec::new(),
            cannot_check: vec![
                "the access token is not a JWT (header.payload.signature), so closeout cannot read its permissions".into(),
            ],
        },
    }
}

/// Whether `plan` deletes a user who holds a privileged directory role.
pub fn deletes_privileged_users(plan: &Plan) -> bool {
    plan.actions.iter().any(is_privileged_deletion)
}

/// [`check`] on claims already read.
pub fn check_claims(plan: &Plan, c: &Claims) -> Check {
    let mut out = Check::default();
    let roles = match (&c.roles, c.delegated) {
        (Some(r), _) if !r.is_empty() => r.clone(),
        (_, true) => {
            out.cannot_check.push(
                "a delegated token (it has scp, no roles): what it may do depends on the signed-in user's own roles, which the token does not list; closeout checks application permissions only".into(),
            );
            return out;
        }
        _ => {
            out.cannot_check
                .push("the access token carries no roles claim (no application permissions granted, or not an app-only token)".into());
            return out;
        }
    };
    let granted = |p: &str| roles.iter().any(|r| r.eq_ignore_ascii_case(p));
    // Missing groups, keyed by their description, with the action kinds (or "read") needing them.
    let mut missing: Vec<(String, Vec<String>)> = Vec::new();
    let mut note = |group: &[&str], who: String| {
        let d = describe_group(group);
        match missing.iter_mut().find(|(g, _)| *g == d) {
            Some((_, whos)) if !whos.contains(&who) => whos.push(who),
            Some(_) => {}
            None => missing.push((d, vec![who])),
        }
    };
    for n in NEEDS.iter().filter(|n| n.kind.is_none()) {
        for g in n.permissions {
            if !g.iter().any(|p| granted(p)) {
                note(g, "reading the tenant".into());
            }
        }
    }
    let mut privileged = 0;
    for a in plan.actions.iter().filter(|a| !a.kind.is_manual()) {
        for n in NEEDS.iter().filter(|n| n.kind == Some(a.kind)) {
            for g in n.permissions {
                if !g.iter().any(|p| granted(p)) {
                    note(g, a.kind.as_str().to_string());
                }
            }
        }
        if is_privileged_deletion(a) {
            privileged += 1;
        }
    }
    let mut lines: Vec<String> = missing
        .into_iter()
        .map(|(g, who)| format!("{g}: needed for {}", who.join(", ")))
        .collect();
    if privileged > 0 {
        match &c.wids {
            Some(w) => {
                let ok = DELETE_PRIVILEGED_USER_ROLES
                    .iter()
                    .any(|(id, _)| w.iter().any(|x| x.eq_ignore_ascii_case(id)));
                if !ok {
                    lines.push(format!(
                        "the directory role Privileged Authentication Administrator (or Global Administrator) on the app: needed for delete_user of {privileged} user(s) holding a privileged role"
                    ));
                }
            }
            None => out.cannot_check.push(format!(
                "the token has no wids claim, so the app's directory roles are unknown: deleting the {privileged} user(s) holding a privileged role needs Privileged Authentication Administrator or Global Administrator on the app"
            )),
        }
    }
    out.missing = lines;
    out
}

impl Check {
    /// Apply's refusal when something is missing: every missing permission, what needs it,
    /// and that nothing was changed.
    pub fn refusal(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        Some(format!(
            "the app's access token lacks permissions this plan needs; nothing was changed. Missing:\n{}\nGrant them to the app registration (admin consent), get a new token, and run apply again.",
            self.missing
                .iter()
                .map(|m| format!("  - {m}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }

    /// Plan-time warnings: what apply will refuse, and what could not be checked.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .missing
            .iter()
            .map(|m| format!("apply will refuse this plan with this token: missing {m}"))
            .collect();
        out.extend(
            self.cannot_check
                .iter()
                .map(|c| format!("cannot check the app's permissions: {c}")),
        );
        out
    }
}

/// [`check`] with the token of `client`'s credential; a credential that cannot give a token
/// now is reported as "cannot check" (the requests themselves will say why).
///
/// When the plan deletes privileged users and the token has no `wids` claim, the app's
/// directory roles are read through Graph instead:
/// `GET /v1.0/servicePrincipals(appId='{appid}')/memberOf` (directoryRole items;
/// <https://learn.microsoft.com/graph/api/serviceprincipal-list-memberof>).
pub async fn check_client(plan: &Plan, client: &crate::graph::GraphClient) -> Check {
    let token = match client.access_token().await {
        Ok(t) => t,
        Err(e) => {
            return Check {
                missing: Vec::new(),
                cannot_check: vec![format!("no access token yet ({e})")],
            }
        }
    };
    let Some(mut c) = claims(token.secret()) else {
        return check(plan, token.secret());
    };
    drop(token);
    if c.wids.is_none() && c.roles.is_some() && deletes_privileged_users(plan) {
        if let Some(app_id) = c.app_id.clone() {
            let path = format!("/v1.0/servicePrincipals(appId='{app_id}')/memberOf");
            if let Ok(items) = client.get_all(&path).await {
                c.wids = Some(
                    items
                        .iter()
                        .filter(|o| {
                            o.get("@odata.type").and_then(Value::as_str)
                                == Some("#microsoft.graph.directoryRole")
                        })
                        .filter_map(|o| o.get("roleTemplateId").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect(),
                );
            }
        }
    }
    check_claims(plan, &c)
}

/// The Azure Resource Manager side of the pre-check: a plan with `cancel_azure_subscription`
/// actions needs a token for ARM (`aud` https://management.azure.com), and the identity
/// must be Owner of each subscription. Azure roles are not in tokens: Owner was read from
/// ARM's role assignments at plan time and is part of the action's `before`, so the drift
/// check refuses the plan if it changed; here only the ARM token is checked.
pub async fn check_arm(plan: &Plan, arm: Option<&crate::arm::ArmClient>) -> Check {
    let cancels: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::CancelAzureSubscription)
        .map(|a| a.object_id.as_str())
        .collect();
    let mut out = Check::default();
    if cancels.is_empty() {
        return out;
    }
    let need = format!(
        "an Azure Resource Manager token (CLOSEOUT_ARM_ACCESS_TOKEN with --auth token, or a credential; and --arm-url beside --graph-url): needed for cancel_azure_subscription of {} subscription(s)",
        cancels.len()
    );
    let Some(arm) = arm else {
        out.missing.push(need);
        return out;
    };
    match arm.access_token().await {
        Err(_) => out.missing.push(need),
        Ok(t) => {
            let aud = crate::identity::decode_unverified(t.secret())
                .and_then(|c| c.aud)
                .and_then(|a| a.as_str().map(str::to_string));
            if let Some(aud) = aud {
                let arm_aud = aud.trim_end_matches('/').to_ascii_lowercase();
                if !matches!(
                    arm_aud.as_str(),
                    "https://management.azure.com"
                        | "https://management.core.windows.net"
                        | "https://management.usgovcloudapi.net"
                        | "https://management.core.usgovcloudapi.net"
                        | "https://management.chinacloudapi.cn"
                        | "https://management.core.chinacloudapi.cn"
                ) {
                    out.missing.push(format!(
                        "an Azure Resource Manager token: the one given is for {aud}; needed for cancel_azure_subscription"
                    ));
                }
            }
        }
    }
    out
}

/// The README's "Graph permissions" table, rendered from [`NEEDS`].
pub fn readme_table() -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |what: String, perms: String| match rows
        .iter_mut()
        .find(|(_, p)| p.first() == Some(&perms))
    {
        Some((w, _)) if what.starts_with('`') && w.starts_with('`') => {
            if !w.contains(&what) {
                w.push_str(", ");
                w.push_str(&what);
            }
        }
        _ => rows.push((what, vec![perms])),
    };
    let mut reads: Vec<String> = Vec::new();
    for n in NEEDS.iter().filter(|n| n.kind.is_none()) {
        // A group already granted by a listed permission adds nothing (Organization.Read.All
        // also lists subscriptions, though LicenseAssignment.Read.All is their least).
        for g in n.permissions {
            if !g.iter().any(|p| reads.contains(&format!("`{p}`"))) {
                reads.push(format!("`{}`", g[0]));
            }
        }
    }
    add(
        "read the tenant (plan, state export)".into(),
        reads.join(", "),
    );
    for n in NEEDS.iter() {
        let Some(kind) = n.kind else { continue };
        let perms: Vec<String> = n
            .permissions
            .iter()
            .map(|g| {
                let mut s = format!("`{}`", g[0]);
                if g.len() > 1 {
                    s.push_str(&format!(
                        " (or {})",
                        g[1..]
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                s
            })
            .collect();
        let mut perms = perms.join(" and ");
        if kind == ActionKind::DeleteUser {
            perms.push_str("; users holding a privileged role also need the app to hold Privileged Authentication Administrator or Global Administrator");
        }
        let beta = if n.path.starts_with("/beta/") {
            " (beta)"
        } else {
            ""
        };
        add(format!("`{}`{beta}", kind.as_str()), perms);
    }
    let mut out =
        String::from("| what | permission (least privileged first) |\n|------|------------|\n");
    for (what, perms) in rows {
        out.push_str(&format!("| {what} | {} |\n", perms[0]));
    }
    out.push_str("| `cancel_subscription`, `delete_subscription`, `delete_self_service_product`, `remove_unexplained_sku`, `delete_tenant` | none: manual, verified by reading |\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_method_aware() {
        let h = hint_403("GET", "/v1.0/users?$select=id&$top=999");
        assert!(h.starts_with("User.Read.All"), "{h}");
        assert!(!h.contains("DeleteRestore"), "{h}");
        let h = hint_403("DELETE", "/v1.0/users/5f0c");
        assert!(h.starts_with("User.DeleteRestore.All"), "{h}");
        let h = hint_403(
            "PATCH",
            "https://graph.microsoft.com/beta/users/x/authentication/requirements",
        );
        assert!(
            h.starts_with("Policy.ReadWrite.AuthenticationMethod"),
            "{h}"
        );
        let h = hint_403("GET", "/beta/users/x/authentication/requirements");
        assert!(h.starts_with("Policy.Read.All"), "{h}");
        let h = hint_403("PATCH", "/v1.0/identity/conditionalAccess/policies/p");
        assert!(
            h.contains("Policy.ReadWrite.ConditionalAccess and Policy.Read.All"),
            "{h}"
        );
    }

    /// graph-sim's route table and closeout's agree: every permission closeout names for a
    /// request is one graph-sim accepts for it (closeout may ask for more than the least
    /// privileged one, e.g. Application.ReadWrite.All where OwnedBy covers only owned apps).
    #[test]
    fn table_agrees_with_graph_sim() {
        for n in NEEDS {
            let segs = segments(n.path);
            let low: Vec<&str> = segs.iter().skip(1).map(String::as_str).collect();
            let key = graph_sim::permissions::route_key(&low);
            let route = graph_sim::permissions::route(n.method, &key)
                .unwrap_or_else(|| panic!("graph-sim serves {} {}", n.method, n.path));
            // graph-sim checks one any-of group per route: the first (a second group, such as
            // Policy.Read.All beside Policy.ReadWrite.ConditionalAccess, is not modelled).
            for p in n.permissions[0] {
                assert!(
                    route.permissions.contains(p),
                    "{} {}: graph-sim refuses {p}",
                    n.method,
                    n.path
                );
            }
            assert!(n.source.starts_with("https://learn.microsoft.com/"));
        }
    }

    /// The other direction, on every route both tables know: graph-sim's least-privileged
    /// permission for the route is one closeout names for it (in one of its needs of the
    /// route: `DELETE deletedItems/{id}` purges users and applications), so closeout never
    /// tells a reader to grant more than needed without naming the least; and both tables
    /// cite the same page.
    #[test]
    fn every_route_both_know_agrees_both_ways() {
        let page = |u: &str| {
            u.trim_start_matches("https://learn.microsoft.com/")
                .trim_start_matches("en-us/")
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        let mut both = 0;
        for route in graph_sim::permissions::ROUTES {
            let needs: Vec<&Need> = NEEDS
                .iter()
                .filter(|n| n.method == route.method)
                .filter(|n| {
                    let segs = segments(n.path);
                    let low: Vec<&str> = segs.iter().skip(1).map(String::as_str).collect();
                    graph_sim::permissions::route_key(&low) == route.path
                })
                .collect();
            if needs.is_empty() {
                continue;
            }
            both += needs.len();
            // `Application.ReadWrite.OwnedBy` covers only the apps the caller owns; closeout
            // removes apps it does not own, so the least it can name is the next one.
            let least = route
                .permissions
                .iter()
                .copied()
                .find(|p| !p.ends_with(".OwnedBy"))
                .unwrap_or_default();
            assert!(
                needs.iter().any(|n| n.permissions[0].contains(&least)),
                "{} {}: graph-sim's least-privileged {least} is not among closeout's",
                route.method,
                route.path
            );
            for n in needs {
                assert_eq!(
                    page(n.source),
                    page(route.source),
                    "{} {}: the tables cite different pages",
                    n.method,
                    n.path
                );
            }
        }
        assert_eq!(
            both,
            NEEDS.len(),
            "every need of closeout is a graph-sim route"
        );
    }

    #[test]
    fn readme_table_is_the_readme_s() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(&readme_table()),
            "README's permission table differs; paste:\n{}",
            readme_table()
        );
    }

    /// closeout's planner, its pre-check and graph-sim call the same roles privileged.
    #[test]
    fn privileged_roles_are_one_list() {
        let mut ours: Vec<&str> = PRIVILEGED_ROLES.iter().map(|(id, _)| *id).collect();
        let mut model: Vec<&str> = crate::model::PRIVILEGED_ROLE_TEMPLATE_IDS.to_vec();
        let mut sim: Vec<&str> = graph_sim::permissions::PRIVILEGED_ROLE_TEMPLATES.to_vec();
        ours.sort_unstable();
        model.sort_unstable();
        sim.sort_unstable();
        assert_eq!(ours, model);
        assert_eq!(ours, sim);
        let deleters: Vec<&str> = DELETE_PRIVILEGED_USER_ROLES
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(
            deleters,
            graph_sim::permissions::DELETE_PRIVILEGED_USER_ROLES
        );
    }

    #[test]
    fn claims_of_tokens() {
        let t = graph_sim::token::mint(
            &graph_sim::token::MintOptions {
                app_roles: vec!["User.Read.All".into()],
                ..Default::default()
            },
            0,
        );
        let c = claims(&t).unwrap();
        assert_eq!(c.roles.as_deref(), Some(&["User.Read.All".to_string()][..]));
        assert!(!c.delegated);
        assert!(claims("not-a-jwt").is_none());
    }
}
