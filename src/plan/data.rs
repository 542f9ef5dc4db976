//! The data a closure destroys, as Microsoft 365's usage reports counted it when the plan
//! was made: mailboxes and OneDrive accounts (deleted with their users) and SharePoint
//! sites (deleted with the tenant), with totals, per-user and per-site figures, and the
//! administrator's `data: {backup_confirmed: true}`. Information for people: recorded in
//! the plan (and so covered by its digest), never part of the drift check. Pure data; knows
//! nothing about Graph, CSV or files.
//!
//! Sources: <https://learn.microsoft.com/en-us/graph/api/reportroot-getmailboxusagedetail>,
//! <https://learn.microsoft.com/en-us/graph/api/reportroot-getonedriveusageaccountdetail>,
//! <https://learn.microsoft.com/en-us/graph/api/reportroot-getsharepointsiteusagedetail>.

use serde::{Deserialize, Serialize};

use super::Check;

/// The name of the checklist line [`DataReport::check`] gives.
pub const DATA_CHECK: &str = "data at risk";
/// What the line asks of people.
pub const DATA_REQUIREMENT: &str =
    "mailboxes, OneDrive and SharePoint data backed up before users and the tenant are deleted";

/// A count of things, their storage in bytes and how many items (mail items, files) they hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataTotal {
    /// Mailboxes, OneDrive accounts or sites.
    pub count: u64,
    /// `Storage Used (Byte)`, summed.
    pub bytes: u64,
    /// `Item Count` (mailboxes) or `File Count` (OneDrive, sites), summed.
    pub items: u64,
}

/// One user's data, as the reports name them (`User Principal Name`, `Owner Principal Name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    pub user_principal_name: String,
    /// The user's object id when a user of the tenant has that userPrincipalName, else empty.
    pub id: String,
    pub mailbox_bytes: u64,
    pub mailbox_items: u64,
    pub onedrive_bytes: u64,
    pub onedrive_files: u64,
}

/// One SharePoint site's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteData {
    /// `Site URL`.
    pub url: String,
    pub bytes: u64,
    pub files: u64,
}

/// The plan's `data` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataReport {
    /// The closure spec's `data: {backup_confirmed: true}`: the administrator declares the
    /// data is backed up (or not needed), so apply deletes users without asking.
    pub backup_confirmed: bool,
    /// Why the reports could not be read (another cloud than the global one, a 403, ...):
    /// the figures below are then all zero and mean nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
    /// The reports' `Report Refresh Date` (`YYYY-MM-DD`), empty when not checked or unknown.
    pub report_refresh_date: String,
    /// The tenant's `displayConcealedNames`: reports show hashes instead of names, so only
    /// totals are known (closeout never guesses which hash is which user).
    pub names_concealed: bool,
    pub mailboxes: DataTotal,
    pub onedrive: DataTotal,
    pub sites: DataTotal,
    /// Per user with any data, sorted by userPrincipalName; empty when names are concealed.
    #[serde(default)]
    pub users: Vec<UserData>,
    /// Per site with any data, sorted by URL; empty when names are concealed.
    #[serde(default)]
    pub site_list: Vec<SiteData>,
}

impl DataReport {
    /// A report that could not be read, with the reason.
    pub fn not_checked(reason: &str, backup_confirmed: bool) -> DataReport {
        DataReport {
            backup_confirmed,
            not_checked: Some(reason.to_string()),
            ..DataReport::default()
        }
    }

    /// Whether the reports count any mailbox, OneDrive or site content.
    pub fn has_data(&self) -> bool {
        [self.mailboxes, self.onedrive, self.sites]
            .iter()
            .any(|t| t.bytes > 0 || t.items > 0)
    }

    /// Whether apply must have the administrator's confirmation before deleting users: the
    /// reports count data, or could not be read, and the spec does not say
    /// `data: {backup_confirmed: true}`.
    pub fn needs_backup_confirmation(&self) -> bool {
        !self.backup_confirmed && (self.not_checked.is_some() || self.has_data())
    }

    /// The totals in one sentence, e.g. `3 mailboxes (5.0 GiB, 48,211 items), 2 OneDrive
    /// accounts (20.0 GiB, 9,120 files) and 1 SharePoint site (1.0 GiB, 3,100 files)`;
    /// "not checked: REASON" or "no mailbox, OneDrive or SharePoint data" otherwise.
    pub fn totals_line(&self) -> String {
        if let Some(why) = &self.not_checked {
            return format!("not checked: {why}");
        }
        if !self.has_data() {
            return "the usage reports count no mailbox, OneDrive or SharePoint data".to_string();
        }
        let part = |t: &DataTotal, one: &str, many: &str, items: &str| {
            format!(
                "{} {} ({}, {} {items})",
                t.count,
                if t.count == 1 { one } else { many },
                bytes(t.bytes),
                thousands(t.items)
            )
        };
        format!(
            "{}, {} and {}",
            part(&self.mailboxes, "mailbox", "mailboxes", "items"),
            part(
                &self.onedrive,
                "OneDrive account",
                "OneDrive accounts",
                "files"
            ),
            part(&self.sites, "SharePoint site", "SharePoint sites", "files"),
        )
    }

    /// The informational checklist line "data at risk": the totals, "not checked: REASON",
    /// or a pass when the reports count nothing. Never blocks the deletion path (the data is
    /// for people to back up, not a prerequisite). Made from the `data` section by the views,
    /// not stored in the plan's `preflight` (which would then change daily).
    pub fn check(&self) -> Check {
        let mut c = match &self.not_checked {
            Some(why) => Check::not_checked(DATA_CHECK, DATA_REQUIREMENT, why),
            None if self.has_data() => {
                Check::new(DATA_CHECK, DATA_REQUIREMENT, vec![self.totals_line()], 0)
            }
            None => Check::new(DATA_CHECK, DATA_REQUIREMENT, Vec::new(), 0),
        };
        c.informational = true;
        c
    }

    /// The sentences every view states about this data (after the totals): where the figures
    /// come from, concealed names, and what apply asks.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.not_checked.is_some() {
            out.push("closeout could not read Microsoft 365's usage reports, so it cannot say how much mail and files this plan destroys.".to_string());
        } else if self.has_data() {
            out.push(if self.report_refresh_date.is_empty() {
                "The reports lag a day or two behind the tenant.".to_string()
            } else {
                format!(
                    "Report refresh date {}: the reports lag a day or two behind the tenant.",
                    self.report_refresh_date
                )
            });
            if self.names_concealed {
                out.push("The reports conceal user and site names (displayConcealedNames), so closeout shows totals only; for per-user figures, turn off \"Display concealed user, group, and site names in all reports\" in the Microsoft 365 admin center (Settings > Org settings > Reports) and plan again.".to_string());
            }
        }
        if self.backup_confirmed {
            out.push("The closure spec says data: {backup_confirmed: true}: apply deletes users without asking about backups.".to_string());
        } else if self.needs_backup_confirmation() {
            out.push("apply asks to confirm the backup before deleting users (with --auto-approve it refuses unless the closure spec says data: {backup_confirmed: true}).".to_string());
        }
        out
    }
}

/// Bytes in binary units with one decimal (`5.0 GiB`), plain bytes below 1 KiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A count with thousands separators (`48,211`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_totals() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(48211), "48,211");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let mut d = DataReport::default();
        assert!(!d.needs_backup_confirmation());
        d.mailboxes = DataTotal {
            count: 1,
            bytes: 0,
            items: 3,
        };
        assert!(d.needs_backup_confirmation());
        d.backup_confirmed = true;
        assert!(!d.needs_backup_confirmation());
        assert!(DataReport::not_checked("403", false).needs_backup_confirmation());
        assert!(!DataReport::not_checked("403", true).needs_backup_confirmation());
    }
}
