//! What a plan destroys beyond the directory objects it names: the data at risk that every
//! view of a plan states (plan file header, text and Markdown views, apply's confirmation).
//! Pure: reads the plan, prints nothing.
//!
//! Microsoft's "Delete a Microsoft Entra tenant" and "Cancel your subscription" guidance
//! begins with backing up data: a user's deletion deletes their Exchange Online mailbox and
//! OneDrive once the recycle-bin period ends (or at once when purged), and the tenant's
//! deletion deletes its SharePoint Online sites.
//! <https://learn.microsoft.com/en-us/microsoft-365/commerce/close-your-account>

use super::{ActionKind, Plan};

impl Plan {
    /// The data this plan deletes with its objects, one sentence per kind of loss, and the
    /// advice to back up first; empty when the plan deletes no user and not the tenant.
    pub fn data_at_risk(&self) -> Vec<String> {
        let mut users = 0usize;
        let mut licensed = 0usize;
        let mut tenant = false;
        for a in &self.actions {
            match a.kind {
                ActionKind::DeleteUser => {
                    users += 1;
                    if a.before
                        .get("assignedLicenses")
                        .and_then(|v| v.as_array())
                        .is_some_and(|l| !l.is_empty())
                    {
                        licensed += 1;
                    }
                }
                ActionKind::DeleteTenant => tenant = true,
                _ => {}
            }
        }
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
            out.push(
                "Back up what must be kept (mailboxes, OneDrive, SharePoint sites) before applying."
                    .to_string(),
            );
        }
        out
    }
}
