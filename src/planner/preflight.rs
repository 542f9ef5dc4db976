//! The tenant-deletion pre-flight checklist: Microsoft's documented prerequisites of
//! "Delete a Microsoft Entra tenant", evaluated against a tenant's state.
//! <https://learn.microsoft.com/en-us/entra/identity/users/directory-delete-howto>

use crate::model::{PerUserMfaState, TenantState};
use crate::plan::Check;

/// Blocking objects named per check; the rest are counted (they are actions of the plan).
pub const BLOCKING_LIST_LIMIT: usize = 20;

fn check(name: &str, requirement: &str, blocking: Vec<String>) -> Check {
    let mut named = Blocking::default();
    for b in blocking {
        named.push(|| b);
    }
    check_named(name, requirement, named)
}

fn check_named(name: &str, requirement: &str, blocking: Blocking) -> Check {
    Check {
        passed: blocking.named.is_empty(),
        ..Check::new(name, requirement, blocking.named, blocking.more)
    }
}

/// The blocking objects of a check: the first [`BLOCKING_LIST_LIMIT`] named, the others
/// counted, never written (a check of 100,000 users names 20 of them).
#[derive(Default)]
struct Blocking {
    named: Vec<String>,
    more: usize,
}

impl Blocking {
    /// One more blocking object, `name` written only if it is listed.
    fn push(&mut self, name: impl FnOnce() -> String) {
        if self.named.len() < BLOCKING_LIST_LIMIT {
            self.named.push(name());
        } else {
            self.more += 1;
        }
    }

    /// The blocking objects `items`, each written by `name` if listed.
    fn of<T>(items: impl IntoIterator<Item = T>, name: impl Fn(T) -> String) -> Blocking {
        let mut b = Blocking::default();
        for i in items {
            b.push(|| name(i));
        }
        b
    }
}

/// Evaluates every prerequisite; `keep` holds the ids of the users allowed to remain.
pub fn preflight(state: &TenantState, keep: &[String]) -> Vec<Check> {
    let admins = state.global_administrators();
    let mut users = Blocking::of(
        state
            .users
            .iter()
            .filter(|u| !(keep.iter().any(|k| *k == u.id) && admins.contains(&u.id.as_str()))),
        |u| format!("user {} ({})", u.user_principal_name, u.id),
    );
    let kept_admins: Vec<&str> = state
        .users
        .iter()
        .filter(|u| keep.iter().any(|k| *k == u.id) && admins.contains(&u.id.as_str()))
        .map(|u| u.user_principal_name.as_str())
        .collect();
    match kept_admins.len() {
        0 => users.push(|| "no Global Administrator remains to delete the tenant".to_string()),
        1 => {}
        n => users.push(|| {
            format!(
                "{n} Global Administrators remain ({}); the tenant can be deleted with exactly one user left",
                kept_admins.join(", ")
            )
        }),
    }
    let mut recycle = Blocking::of(&state.deleted_users, |u| {
        format!("deleted user {} ({})", u.user_principal_name, u.id)
    });
    for a in &state.deleted_applications {
        recycle.push(|| {
            format!(
                "deleted application {} ({})",
                a.display_name.as_deref().unwrap_or(&a.app_id),
                a.id
            )
        });
    }
    let apps: Vec<String> = state
        .applications
        .iter()
        .map(|a| {
            format!(
                "application {} ({})",
                a.display_name.as_deref().unwrap_or(&a.app_id),
                a.id
            )
        })
        .collect();
    let sps: Vec<String> = state
        .service_principals
        .iter()
        .filter(|sp| !(sp.is_first_party() && sp.account_enabled == Some(false)))
        .map(|sp| {
            format!(
                "service principal {}{} ({})",
                sp.display_name.as_deref().unwrap_or(&sp.app_id),
                if sp.is_first_party() {
                    " [Microsoft, enabled]"
                } else {
                    ""
                },
                sp.id
            )
        })
        .collect();
    let subs: Vec<String> = state
        .subscriptions
        .iter()
        .filter(|s| !s.is_deleted() && !s.is_self_service_or_free())
        .map(|s| {
            format!(
                "subscription {} [{}] ({})",
                s.sku_part_number, s.status, s.id
            )
        })
        .collect();
    let initial = state
        .initial_domain()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let domains: Vec<String> = state
        .domains
        .iter()
        .filter(|d| !d.is_initial && d.id.to_ascii_lowercase() != initial)
        .map(|d| format!("domain {}", d.id))
        .collect();
    let sync: Vec<String> = if state.organization.on_premises_sync_enabled == Some(true) {
        vec!["organization onPremisesSyncEnabled is true".to_string()]
    } else {
        Vec::new()
    };
    let mut mfa: Vec<String> = Vec::new();
    if state.security_defaults.is_enabled {
        mfa.push("security defaults are on".to_string());
    }
    mfa.extend(
        state
            .conditional_access_policies
            .iter()
            .filter(|p| p.is_on() && p.requires_mfa())
            .map(|p| {
                format!(
                    "conditional access policy {} [{}] ({})",
                    p.display_name, p.state, p.id
                )
            }),
    );
    // Per-user MFA of the tenant's users (a state kept for a user no longer listed is
    // not the tenant's): their names looked up once, not per state.
    let upn_of: std::collections::HashMap<&str, &str> = if state.per_user_mfa.is_empty() {
        Default::default()
    } else {
        state
            .users
            .iter()
            .map(|u| (u.id.as_str(), u.user_principal_name.as_str()))
            .collect()
    };
    let mut mfa = Blocking::of(mfa, |m| m);
    for (id, s) in &state.per_user_mfa {
        if *s == PerUserMfaState::Disabled {
            continue;
        }
        if let Some(upn) = upn_of.get(id.as_str()) {
            mfa.push(|| format!("per-user MFA {} for {upn}", s.as_str()));
        }
    }
    let mut lines = vec![
        check_named(
            "users",
            "exactly one user left: the kept Global Administrator",
            users,
        ),
        check_named(
            "recycle bin",
            "no deleted users or applications waiting in the recycle bin",
            recycle,
        ),
        check("applications", "no app registrations", apps),
        check(
            "service principals",
            "no enterprise applications (Microsoft first-party ones disabled)",
            sps,
        ),
        check("subscriptions", "every subscription Deleted", subs),
        super::azure::check(state),
        check(
            "domains",
            "only the initial *.onmicrosoft.com domain",
            domains,
        ),
        check("directory sync", "directory synchronization off", sync),
        check_named(
            "MFA",
            "security defaults off, no Conditional Access policy requiring MFA, no per-user MFA",
            mfa,
        ),
    ];
    lines.extend(super::self_service::checks(state));
    lines
}
