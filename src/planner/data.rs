//! The plan's `data` section from the usage reports as read. Pure: no HTTP, no files.
//!
//! Per-user figures are given only when the reports name users: with concealed names
//! (`displayConcealedNames`) a row holds a hash, and closeout never guesses which user a
//! hash stands for (<https://learn.microsoft.com/en-us/graph/api/resources/adminreportsettings>).

use std::collections::BTreeMap;

use crate::model::usage::UsageReports;
use crate::model::TenantState;
use crate::plan::{DataReport, DataTotal, SiteData, UserData};

/// The `data` section: totals over every row of each report (a mailbox or OneDrive of a
/// user in the recycle bin is destroyed by the purge, a site by the tenant's deletion),
/// per-user and per-site figures when names are not concealed. `reports` is `Err(reason)`
/// when they could not be read.
pub fn data_report(
    reports: Result<&UsageReports, &str>,
    state: &TenantState,
    backup_confirmed: bool,
) -> DataReport {
    let r = match reports {
        Ok(r) => r,
        Err(why) => return DataReport::not_checked(why, backup_confirmed),
    };
    let total = |rows: &mut dyn Iterator<Item = (u64, u64)>| {
        rows.fold(DataTotal::default(), |t, (b, i)| DataTotal {
            count: t.count + 1,
            bytes: t.bytes.saturating_add(b),
            items: t.items.saturating_add(i),
        })
    };
    let mut out = DataReport {
        backup_confirmed,
        not_checked: None,
        report_refresh_date: r.report_refresh_date.clone(),
        names_concealed: r.names_concealed,
        mailboxes: total(&mut r.mailboxes.iter().map(|m| (m.bytes, m.items))),
        onedrive: total(&mut r.onedrive.iter().map(|m| (m.bytes, m.items))),
        sites: total(&mut r.sites.iter().map(|s| (s.bytes, s.files))),
        users: Vec::new(),
        site_list: Vec::new(),
    };
    if r.names_concealed {
        return out;
    }
    // Lower-cased userPrincipalName -> object id, users and deleted users.
    let ids: BTreeMap<String, &str> = state
        .users
        .iter()
        .chain(&state.deleted_users)
        .map(|u| (u.user_principal_name.to_ascii_lowercase(), u.id.as_str()))
        .collect();
    let mut users: BTreeMap<String, UserData> = BTreeMap::new();
    let entry = |users: &mut BTreeMap<String, UserData>, upn: &str| -> String {
        let key = upn.to_ascii_lowercase();
        users.entry(key.clone()).or_insert_with(|| UserData {
            user_principal_name: upn.to_string(),
            id: ids.get(&key).map_or_else(String::new, |id| id.to_string()),
            ..UserData::default()
        });
        key
    };
    for m in r.mailboxes.iter().filter(|m| m.bytes > 0 || m.items > 0) {
        let key = entry(&mut users, &m.user_principal_name);
        if let Some(u) = users.get_mut(&key) {
            u.mailbox_bytes = u.mailbox_bytes.saturating_add(m.bytes);
            u.mailbox_items = u.mailbox_items.saturating_add(m.items);
        }
    }
    for o in r.onedrive.iter().filter(|o| o.bytes > 0 || o.items > 0) {
        let key = entry(&mut users, &o.user_principal_name);
        if let Some(u) = users.get_mut(&key) {
            u.onedrive_bytes = u.onedrive_bytes.saturating_add(o.bytes);
            u.onedrive_files = u.onedrive_files.saturating_add(o.items);
        }
    }
    out.users = users.into_values().collect();
    out.site_list = r
        .sites
        .iter()
        .filter(|s| s.bytes > 0 || s.files > 0)
        .map(|s| SiteData {
            url: s.url.clone(),
            bytes: s.bytes,
            files: s.files,
        })
        .collect();
    out.site_list.sort_by(|a, b| a.url.cmp(&b.url));
    out
}
