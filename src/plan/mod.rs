//! The in-memory plan: the closure actions, their order and what each was decided from.
//! Shared by the planner (which builds it), the plan file layer (which stores it), the
//! renderers and the applier. Knows nothing about files, YAML or HTTP.

mod action;
mod data;
/// Units of the data views: bytes in binary units, counts with thousands separators.
pub mod data_units {
    pub use super::data::{bytes, thousands};
}
mod effects;
mod fields;
mod risk;
mod shared;
mod tally;

pub use action::*;
pub use data::{DataReport, DataTotal, SiteData, UserData, DATA_CHECK, DATA_REQUIREMENT};
pub use effects::{Change, Effect, Scope};
pub use fields::Fields;
pub use risk::Blocker;
pub use shared::SharedText;
pub use tally::Tally;

use serde::{Deserialize, Serialize};

/// Version of closeout that wrote a plan (`CARGO_PKG_VERSION`).
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The tenant a plan was computed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRef {
    /// Directory (tenant) id, a GUID.
    pub id: String,
    pub display_name: String,
    /// The initial `*.onmicrosoft.com` domain; typed by a person to confirm an apply.
    pub initial_domain: String,
}

/// A user the closure keeps (the Global Administrator who deletes the tenant at the end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptUser {
    pub id: String,
    pub user_principal_name: String,
    /// Display names of the directory roles the user holds, sorted.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// One line of the tenant-deletion pre-flight checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The prerequisite, e.g. `users`, `recycle bin`, `subscriptions`.
    pub name: String,
    pub passed: bool,
    /// What must be true, in words.
    pub requirement: String,
    /// The objects that stand in the way, as `kind name (id)` (at most a few dozen).
    #[serde(default)]
    pub blocking: Vec<String>,
    /// How many more blocking objects there are beyond those listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: usize,
    /// Why the line could not be evaluated (no access to the service that holds the answer,
    /// a report not served in this cloud): `passed` is then false, and the line is shown as
    /// "not checked: REASON", never as a pass. The tenant-deletion path is shown only when
    /// every blocking line passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
    /// Information for people (e.g. the data the closure destroys), not a prerequisite of
    /// tenant deletion: never blocks, whatever `passed` says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub informational: bool,
}

impl Check {
    /// A line that blocks the deletion path until it passes.
    pub fn new(name: &str, requirement: &str, blocking: Vec<String>, more: usize) -> Check {
        Check {
            name: name.to_string(),
            passed: blocking.is_empty() && more == 0,
            requirement: requirement.to_string(),
            blocking,
            more,
            not_checked: None,
            informational: false,
        }
    }

    /// A line that could not be evaluated, with the reason (shown as "not checked: REASON").
    pub fn not_checked(name: &str, requirement: &str, reason: &str) -> Check {
        Check {
            not_checked: Some(reason.to_string()),
            passed: false,
            ..Check::new(name, requirement, Vec::new(), 0)
        }
    }

    /// Whether this line stands between the tenant and its deletion: a failed or
    /// unchecked prerequisite (informational lines never block).
    pub fn blocks(&self) -> bool {
        !self.informational && !self.passed
    }
}

/// Shown instead of the tenant-deletion path (the `delete_tenant` action's instructions)
/// while the path is closed ([`deletion_path_open`]).
pub const DELETION_PATH_CLOSED: &str = "once every line of the pre-flight checklist passes (none failed, none not checked), `closeout apply` shows where to delete the tenant";

/// Whether the tenant-deletion path may be shown: a checklist was read and none of its
/// lines blocks ([`Check::blocks`]: none failed, none is "not checked"). No checklist, or
/// an empty one, keeps the path closed. Every view that shows instructions (plan, show in
/// every format, apply's report in text and JSON) asks this one function, through
/// [`shown_instructions`].
pub fn deletion_path_open(checklist: Option<&[Check]>) -> bool {
    checklist.is_some_and(|c| !c.is_empty() && !c.iter().any(Check::blocks))
}

/// The instructions a view may show for `a`: its own, except the tenant deletion's while
/// the path is closed (`open` is [`deletion_path_open`]'s answer), which is
/// [`DELETION_PATH_CLOSED`] instead.
pub fn shown_instructions(a: &Action, open: bool) -> Option<&str> {
    match &a.instructions {
        Some(_) if a.kind == ActionKind::DeleteTenant && !open => Some(DELETION_PATH_CLOSED),
        other => other.as_deref(),
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The closure target a plan was computed for (the closure spec's options, without the
/// kept users, which are in [`Plan::keep`]). Recorded in the plan file so that apply checks
/// drift against the same target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub purge_recycle_bin: bool,
    pub delete_applications: bool,
    pub cancel_subscriptions: bool,
    pub delete_subscriptions: bool,
    pub delete_tenant: bool,
    /// The closure spec's `billing.channel`: which API cancels subscriptions or turns
    /// their renewal off (`manual`: none).
    pub billing: crate::planner::BillingChannel,
    /// The closure spec's `billing.cancel`: cancel inside each subscription's window.
    pub cancel_in_window: bool,
    /// The closure spec's `azure_subscriptions` (written to the plan file only when it is
    /// not the default, `manual`).
    #[serde(default)]
    pub azure_subscriptions: AzurePolicy,
}

/// The closure spec's `azure_subscriptions`: what to do with Azure subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AzurePolicy {
    /// Read them through Azure Resource Manager; cancelling and deleting is done in the
    /// Azure portal (manual actions).
    #[default]
    Manual,
    /// Read them, and cancel through ARM those the identity owns and that hold no
    /// resource groups; the rest stay manual.
    Cancel,
    /// The administrator declares the tenant has no Azure subscription: ARM is not read,
    /// and the checklist shows the declaration as such.
    None,
}

impl AzurePolicy {
    /// The spelling in specs and plan files.
    pub fn as_str(self) -> &'static str {
        match self {
            AzurePolicy::Manual => "manual",
            AzurePolicy::Cancel => "cancel",
            AzurePolicy::None => "none",
        }
    }

    /// The policy spelt `s`.
    pub fn parse(s: &str) -> Option<AzurePolicy> {
        [AzurePolicy::Manual, AzurePolicy::Cancel, AzurePolicy::None]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

impl Default for Target {
    fn default() -> Self {
        Target {
            purge_recycle_bin: true,
            delete_applications: true,
            cancel_subscriptions: true,
            delete_subscriptions: true,
            delete_tenant: true,
            azure_subscriptions: AzurePolicy::Manual,
            billing: crate::planner::BillingChannel::Manual,
            cancel_in_window: false,
        }
    }
}

/// A computed closure plan: the actions to reach the closed tenant, in a stable order
/// (by step, then kind, then object name), each naming what it depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tenant: TenantRef,
    /// The plan's id: the first 16 hex digits of SHA-256 over its body (see
    /// `planfile::plan_id_for`); the apply journal is kept per plan id.
    pub plan_id: String,
    /// RFC 3339 UTC time the plan was made.
    pub created_at: String,
    pub tool_version: String,
    pub keep: Vec<KeptUser>,
    /// The closure options the plan was computed with.
    pub target: Target,
    pub actions: Vec<Action>,
    /// The tenant-deletion pre-flight checklist as evaluated at planning time.
    pub preflight: Vec<Check>,
    /// The data the closure destroys, from the usage reports (see [`DataReport`]); `None`
    /// in plans made before closeout read them.
    pub data: Option<DataReport>,
}

impl Plan {
    /// Counts of actions per step and kind, for summaries.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.tally())
    }

    /// The counts every summary of the plan is made of ([`Tally::of`] its actions).
    pub fn tally(&self) -> Tally {
        Tally::of(&self.actions)
    }

    /// Finds an action by address.
    pub fn action(&self, address: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.address == address)
    }
}

/// Action counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub users_to_delete: usize,
    pub users_to_purge: usize,
    pub subscriptions_to_cancel: usize,
    pub subscriptions_to_delete: usize,
    pub mfa_settings: usize,
    /// Applications, service principals, domains, directory sync.
    pub other: usize,
    pub automated: usize,
    pub manual: usize,
}

impl Summary {
    /// The counts of a [`Tally`] (of a whole plan, or of a plan file as it is read).
    pub fn of(t: &Tally) -> Summary {
        let mut s = Summary::default();
        for (_, kind, n) in t.iter() {
            match kind {
                ActionKind::DeleteUser => s.users_to_delete += n,
                ActionKind::PurgeUser => s.users_to_purge += n,
                ActionKind::DisableSecurityDefaults
                | ActionKind::DisableConditionalAccessPolicy
                | ActionKind::DisablePerUserMfa => s.mfa_settings += n,
                ActionKind::CancelSubscription => s.subscriptions_to_cancel += n,
                ActionKind::DeleteSubscription => s.subscriptions_to_delete += n,
                ActionKind::DisableAutoRenew => s.subscriptions_to_cancel += n,
                _ if kind.is_manual() => {}
                _ => s.other += n,
            }
        }
        s.manual = t.manual();
        s.automated = t.total() - s.manual;
        s
    }

    /// The one-line summary printed after a plan, e.g.
    /// `Plan: 23 users to delete, 24 to purge, 4 MFA settings to disable, 5 manual actions.`
    pub fn line(&self) -> String {
        if self.automated + self.manual == 0 {
            return "No changes. The tenant matches the closed target.".to_string();
        }
        let mut parts = vec![
            format!("{} users to delete", self.users_to_delete),
            format!("{} to purge", self.users_to_purge),
            format!("{} MFA settings to disable", self.mfa_settings),
        ];
        if self.other > 0 {
            parts.push(format!("{} other objects to remove or disable", self.other));
        }
        parts.push(format!(
            "{} manual action{}",
            self.manual,
            if self.manual == 1 { "" } else { "s" }
        ));
        format!("Plan: {}.", parts.join(", "))
    }
}
