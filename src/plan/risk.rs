//! What a plan destroys beyond the directory objects it names: the data at risk that every
//! view of a plan states (plan file header, text and Markdown views, apply's confirmation).
//! Pure: reads the plan, prints nothing.
//!
//! Microsoft's "Delete a Microsoft Entra tenant" and "Cancel your subscription" guidance
//! begins with backing up data: a user's deletion deletes their Exchange Online mailbox and
//! OneDrive once the recycle-bin period ends (or at once when purged), and the tenant's
//! deletion deletes its SharePoint Online sites.
//! <https://learn.microsoft.com/en-us/microsoft-365/commerce/close-your-account>

use super::{ActionKind, Plan, Tally};

/// A reason the tenant stays after this plan: the pre-flight check it keeps failing
/// ([`super::Check::name`]) and why, in the spec's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub check: &'static str,
    pub why: String,
}

impl Plan {
    /// What keeps the tenant from being deleted once every action of this plan is done:
    /// spec choices (`purge_recycle_bin: false`, `applications: keep`, subscriptions or
    /// the tenant deletion not planned) and objects the plan must leave (domains still
    /// used by what stays in the recycle bin). Empty when the plan can close the tenant.
    pub fn closure_blockers(&self) -> Vec<Blocker> {
        self.closure_blockers_with(&self.tally())
    }

    /// [`Plan::closure_blockers`] with the counts of `tally` (of all the plan's actions;
    /// for a plan file shown while it is read, `self.actions` holds only some of them).
    pub fn closure_blockers_with(&self, tally: &Tally) -> Vec<Blocker> {
        let t = self.target;
        let failing = |name: &str| {
            self.preflight
                .iter()
                .find(|c| c.name == name)
                .filter(|c| c.blocks())
                .map(|c| c.blocking.len() + c.more)
        };
        let count = |k: ActionKind| tally.count(k);
        let mut out = Vec::new();
        if !t.delete_tenant {
            out.push(Blocker {
                check: "tenant",
                why: "manual_actions.delete_tenant is false: this plan empties the tenant but does not delete it".into(),
            });
        }
        if !t.purge_recycle_bin {
            let binned = failing("recycle bin").unwrap_or(0) + count(ActionKind::DeleteUser);
            if binned > 0 || count(ActionKind::DeleteApplication) > 0 {
                out.push(Blocker {
                    check: "recycle bin",
                    why: format!(
                        "purge_recycle_bin is false: deleted users and applications (about {} objects) stay in the recycle bin for 30 days, and block the deletion until Microsoft purges them",
                        binned + count(ActionKind::DeleteApplication)
                    ),
                });
            }
        }
        if !t.delete_applications {
            for (check, what) in [
                ("applications", "app registrations"),
                ("service principals", "enterprise applications"),
            ] {
                if let Some(n) = failing(check) {
                    out.push(Blocker {
                        check,
                        why: format!("applications: keep: {n} {what} stay and block the deletion"),
                    });
                }
            }
        }
        if !(t.cancel_subscriptions && t.delete_subscriptions) {
            if let Some(n) = failing("subscriptions") {
                out.push(Blocker {
                    check: "subscriptions",
                    why: format!(
                        "manual_actions.{} is false: {n} subscription(s) stay and block the deletion",
                        if t.cancel_subscriptions { "delete_subscriptions" } else { "cancel_subscriptions" }
                    ),
                });
            }
        }
        if !t.delete_subscriptions {
            for (check, what) in [
                ("self-service products", "self-service sign-up product(s)"),
                (
                    "SKUs without a subscription",
                    "SKU(s) without a subscription",
                ),
            ] {
                if let Some(n) = failing(check) {
                    out.push(Blocker {
                        check,
                        why: format!("manual_actions.delete_subscriptions is false: {n} {what} stay and block the deletion"),
                    });
                }
            }
        }
        if let Some(n) = failing("domains") {
            let removed = count(ActionKind::DeleteDomain);
            if n > removed {
                out.push(Blocker {
                    check: "domains",
                    why: format!(
                        "{} domain(s) stay: objects left in the recycle bin still use them (purge_recycle_bin is false)",
                        n - removed
                    ),
                });
            }
        }
        out
    }

    /// The data this plan deletes with its objects, one sentence per kind of loss, and the
    /// advice to back up first; empty when the plan deletes no user and not the tenant.
    pub fn data_at_risk(&self) -> Vec<String> {
        self.data_at_risk_with(&self.tally())
    }

    /// [`Plan::data_at_risk`] with the counts of `tally` (of all the plan's actions;
    /// `self.actions` may hold only some of them, see [`crate::planfile::read_kept`]).
    pub fn data_at_risk_with(&self, tally: &Tally) -> Vec<String> {
        let users = tally.count(ActionKind::DeleteUser);
        let licensed = tally.licensed_users();
        let tenant = tally.count(ActionKind::DeleteTenant) > 0;
        let mut out = Vec::new();
        if users > 0 {
            out.push(format!(
                "Deleting {users} user{} deletes {} Exchange Online mailbox{} and OneDrive files \
                 ({licensed} of them licensed); purging them from the recycle bin makes that final.",
                if users == 1 { "" } else { "s" },
                if users == 1 { "its" } else { "their" },
                if users == 1 { "" } else { "es" },
            ));
        }
        if tenant {
            out.push(
                "Deleting the tenant deletes its SharePoint Online sites and everything else it still holds."
                    .to_string(),
            );
        }
        if !out.is_empty() {
            // What the usage reports counted (the plan's `data` section), then how to proceed.
            if let Some(d) = &self.data {
                out.push(match &d.not_checked {
                    Some(why) => format!("Data at risk not checked: {why}."),
                    None if !d.has_data() => "Microsoft 365's usage reports count no mailbox, OneDrive or SharePoint data.".to_string(),
                    None => format!("Microsoft 365's usage reports count {}.", d.totals_line()),
                });
                out.extend(d.notes());
            }
            out.push(
                "Back up what must be kept (mailboxes, OneDrive, SharePoint sites) before applying."
                    .to_string(),
            );
        }
        out
    }

    /// Whether apply must have the administrator's confirmation of a backup before it deletes
    /// users: the plan deletes users, and its `data` section counts data, could not read
    /// the reports, or is missing (a plan made before closeout read them), and the closure
    /// spec did not say `data: {backup_confirmed: true}`.
    pub fn needs_backup_confirmation(&self) -> bool {
        self.actions
            .iter()
            .any(|a| a.kind == ActionKind::DeleteUser)
            && self
                .data
                .as_ref()
                .is_none_or(super::DataReport::needs_backup_confirmation)
    }
}
