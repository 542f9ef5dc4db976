//! Microsoft 365 usage reports and their pre-authenticated downloads: the three report
//! functions closeout reads (`/reports/getMailboxUsageDetail`, `getOneDriveUsageAccountDetail`,
//! `getSharePointSiteUsageDetail`), `GET /admin/reportSettings`, and the download listener,
//! a second loopback port that serves each report's CSV under an unguessable, expiring key
//! and rejects (and records) any `Authorization` header. Owns the snapshot's `usageReports`
//! section (kept in the tenant's extra keys); must not change the tenant.
//!
//! Graph's documented behaviour, copied here:
//! - each report function answers `302 Found` with a `Location` "to a preauthenticated
//!   download URL for the report", "only valid for a short period of time (a few minutes)"
//!   that does "not require an `Authorization` header"; the CSV's columns are listed per page
//!   (<https://learn.microsoft.com/en-us/graph/api/reportroot-getmailboxusagedetail>,
//!   <https://learn.microsoft.com/en-us/graph/api/reportroot-getonedriveusageaccountdetail>,
//!   <https://learn.microsoft.com/en-us/graph/api/reportroot-getsharepointsiteusagedetail>);
//!   `period` is one of D7, D30, D90, D180; permission `Reports.Read.All`;
//! - `displayConcealedNames` true: "all reports conceal user information such as usernames,
//!   groups, and sites" (<https://learn.microsoft.com/en-us/graph/api/resources/adminreportsettings>);
//!   Get needs `ReportSettings.Read.All` (<https://learn.microsoft.com/en-us/graph/api/adminreportsettings-get>);
//! - the reports exist in the global cloud only (the pages' national-cloud table).
//!
//! graph-sim writes the CSV as Graph's downloads are commonly observed: UTF-8 with a byte
//! order mark, a header row, `True`/`False`, dates `YYYY-MM-DD`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::GraphError;
use crate::snapshot::{object_id, str_prop, Object};
use crate::store::{Store, Tenant};
use crate::token::Grants;

/// The snapshot key of the section this module owns.
pub const SNAPSHOT_KEY: &str = "usageReports";

/// How long a download link works: "a few minutes".
pub const LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The snapshot's `usageReports` section (docs/snapshot-format.md, "Usage reports").
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageReports {
    /// `Report Refresh Date` of every report, `YYYY-MM-DD` (Graph's data lags a day or two).
    #[serde(default)]
    pub report_refresh_date: Option<String>,
    /// `GET /admin/reportSettings`; absent: names concealed (Microsoft's default since 2021).
    #[serde(default)]
    pub report_settings: Option<ReportSettings>,
    /// Mailbox usage per user.
    #[serde(default)]
    pub mailboxes: Vec<MailboxUsage>,
    /// OneDrive usage per account.
    #[serde(default)]
    pub one_drive: Vec<OneDriveUsage>,
    /// SharePoint site usage per site.
    #[serde(default)]
    pub share_point_sites: Vec<SiteUsage>,
}

/// `adminReportSettings`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportSettings {
    /// `true`: reports show hashes instead of user names, groups and sites.
    pub display_concealed_names: bool,
}

/// One user's mailbox (`getMailboxUsageDetail` row), by the user's object id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MailboxUsage {
    /// Object id of a user (or deleted user) of the snapshot.
    pub user_id: String,
    /// `Storage Used (Byte)`.
    pub storage_used_in_bytes: u64,
    /// `Item Count`.
    pub item_count: u64,
}

/// One user's OneDrive (`getOneDriveUsageAccountDetail` row), by the owner's object id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OneDriveUsage {
    /// Object id of a user (or deleted user) of the snapshot.
    pub user_id: String,
    /// `Storage Used (Byte)`.
    pub storage_used_in_bytes: u64,
    /// `File Count`.
    pub file_count: u64,
}

/// One SharePoint site (`getSharePointSiteUsageDetail` row).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteUsage {
    /// `Site Id` (a GUID).
    pub site_id: String,
    /// `Site URL`.
    pub site_url: String,
    /// `Owner Display Name`.
    #[serde(default)]
    pub owner_display_name: Option<String>,
    /// `Storage Used (Byte)`.
    pub storage_used_in_bytes: u64,
    /// `File Count`.
    pub file_count: u64,
    /// `Root Web Template`, e.g. `Team Site`, `Communication Site`.
    #[serde(default)]
    pub root_web_template: Option<String>,
}

/// Parses the section from the snapshot's extra keys (`None` when absent or null).
///
/// # Errors
/// What is wrong with the section, naming the field (serde's message).
pub fn from_extra(
    extra: &std::collections::BTreeMap<String, Value>,
) -> Result<Option<UsageReports>, String> {
    match extra.get(SNAPSHOT_KEY) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("{SNAPSHOT_KEY}: {e}")),
    }
}

/// One request the download listener saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadLogEntry {
    /// Status answered.
    pub status: u16,
    /// Whether the request carried an `Authorization` header (closeout must never send one).
    pub authorization_sent: bool,
    /// Whether the key in the path was one graph-sim handed out (expired or not).
    pub known_key: bool,
}

/// The download listener's state: links handed out and what it was asked.
pub(crate) struct Downloads {
    addr: SocketAddr,
    /// Where `Location` points instead of the listener (tests: a canary server).
    location_base: Option<String>,
    links: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    log: Mutex<Vec<DownloadLogEntry>>,
}

impl Downloads {
    pub(crate) fn new(addr: SocketAddr, location_base: Option<String>) -> Downloads {
        Downloads {
            addr,
            location_base,
            links: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        }
    }

    /// `http://127.0.0.1:PORT` of the download listener.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn log_snapshot(&self) -> Vec<DownloadLogEntry> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stores `csv` under a new key; the `Location` that fetches it.
    fn hand_out(&self, csv: Vec<u8>) -> String {
        // Two random v4 UUIDs: 244 random bits, unguessable.
        let key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        links.retain(|_, (_, at)| now.duration_since(*at) < LINK_LIFETIME);
        links.insert(key.clone(), (csv, now));
        let base = self
            .location_base
            .clone()
            .unwrap_or_else(|| self.base_url());
        format!("{}/data/download/{key}", base.trim_end_matches('/'))
    }

    /// Answers one request to the download listener: (status, body).
    pub(crate) fn serve(&self, method: &str, path: &str, authorization: bool) -> (u16, Vec<u8>) {
        let key = path.strip_prefix("/data/download/").unwrap_or("");
        let found = {
            let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
            links.get(key).cloned()
        };
        let (status, body) = if authorization {
            // A pre-authenticated URL is itself the credential; a bearer token sent here
            // went to a host that must never see it.
            (
                400,
                b"This pre-authenticated download does not accept an Authorization header."
                    .to_vec(),
            )
        } else if method != "GET" {
            (405, b"Method not allowed.".to_vec())
        } else {
            match &found {
                Some((csv, at)) if at.elapsed() < LINK_LIFETIME => (200, csv.clone()),
                Some(_) => (403, b"The download link has expired.".to_vec()),
                None => (404, b"No such download.".to_vec()),
            }
        };
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(DownloadLogEntry {
                status,
                authorization_sent: authorization,
                known_key: found.is_some(),
            });
        (status, body)
    }
}

/// The application permissions of each route this module serves (least privileged first).
pub const REPORTS_READ: &[&str] = &["Reports.Read.All"];
/// `GET /admin/reportSettings`.
pub const REPORT_SETTINGS_READ: &[&str] =
    &["ReportSettings.Read.All", "ReportSettings.ReadWrite.All"];

/// Which report a path names, and its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Mailbox,
    OneDrive,
    Sites,
}

/// The answer to a request this module owns: `None` when the path is not a report route.
pub(crate) fn handle(
    store: &Store,
    downloads: &Arc<Downloads>,
    method: &str,
    path: &str,
    grants: &Grants,
) -> Option<Result<crate::wire::GraphResponse, GraphError>> {
    let lower = path.to_ascii_lowercase();
    if lower == "admin/reportsettings" {
        return Some(report_settings(store, method, grants));
    }
    let function = lower.strip_prefix("reports/")?;
    let (name, args) = function.split_once('(')?;
    let report = match name {
        "getmailboxusagedetail" => Report::Mailbox,
        "getonedriveusageaccountdetail" => Report::OneDrive,
        "getsharepointsiteusagedetail" => Report::Sites,
        _ => return None,
    };
    Some(report_function(
        store, downloads, method, report, args, grants,
    ))
}

fn report_settings(
    store: &Store,
    method: &str,
    grants: &Grants,
) -> Result<crate::wire::GraphResponse, GraphError> {
    if method != "GET" {
        return Err(GraphError::method_not_allowed());
    }
    if !grants.has_any(REPORT_SETTINGS_READ) {
        return Err(crate::permissions::denied());
    }
    let concealed = store.read(|t| section(t).is_none_or(|s| concealed(&s)));
    Ok(crate::wire::GraphResponse::ok(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#admin/reportSettings/$entity",
        "displayConcealedNames": concealed,
    })))
}

fn report_function(
    store: &Store,
    downloads: &Arc<Downloads>,
    method: &str,
    report: Report,
    args: &str,
    grants: &Grants,
) -> Result<crate::wire::GraphResponse, GraphError> {
    if method != "GET" {
        return Err(GraphError::method_not_allowed());
    }
    if !grants.has_any(REPORTS_READ) {
        return Err(crate::permissions::denied());
    }
    let args = args.strip_suffix(')').unwrap_or(args);
    let period = crate::query::decode(args, false);
    let period = period
        .strip_prefix("period=")
        .map(|p| p.trim_matches('\'').to_ascii_uppercase());
    if !matches!(period.as_deref(), Some("D7" | "D30" | "D90" | "D180")) {
        return Err(GraphError::bad_request(
            "Invalid value for the period parameter: the supported values are D7, D30, D90 and D180.",
        ));
    }
    let period_days = period.as_deref().unwrap_or("D7")[1..].to_string();
    let csv = store.read(|t| render_csv(t, report, &period_days));
    let location = downloads.hand_out(csv);
    Ok(crate::wire::GraphResponse {
        status: 302,
        headers: vec![
            ("Location".into(), location),
            ("Content-Type".into(), "text/plain".into()),
        ],
        body: None,
    })
}

fn section(t: &Tenant) -> Option<UsageReports> {
    // Validated at load; a section that no longer parses serves as absent.
    from_extra(&t.extra).ok().flatten()
}

fn concealed(s: &UsageReports) -> bool {
    s.report_settings
        .as_ref()
        .is_none_or(|r| r.display_concealed_names)
}

/// What a concealed report shows instead of a name: 32 upper-case hex digits, the same for
/// the same name (FNV-1a, 128 bits).
fn conceal(s: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.to_ascii_lowercase().bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("{h:032X}")
}

/// The user `id` as the report names them: (userPrincipalName, displayName, deleted date).
fn user_of(t: &Tenant, id: &str) -> Option<(String, String, Option<String>)> {
    let shown = |o: &Object, deleted: Option<String>| {
        (
            str_prop(o, "userPrincipalName")
                .unwrap_or_default()
                .to_string(),
            str_prop(o, "displayName").unwrap_or_default().to_string(),
            deleted,
        )
    };
    if let Some(u) = t.users.get(id) {
        return Some(shown(u, None));
    }
    t.deleted_users.get(id).map(|u| {
        let at = str_prop(u, "deletedDateTime")
            .map(|d| d.get(..10).unwrap_or(d).to_string())
            .unwrap_or_default();
        shown(u, Some(at))
    })
}

/// The first label of the tenant's initial domain (`contoso` of `contoso.onmicrosoft.com`),
/// which names its SharePoint hosts.
fn initial_domain_prefix(t: &Tenant) -> String {
    t.organization
        .get("verifiedDomains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|d| d.get("isInitial").and_then(Value::as_bool) == Some(true))
        .and_then(|d| d.get("name").and_then(Value::as_str))
        .and_then(|n| n.split('.').next())
        .unwrap_or("tenant")
        .to_ascii_lowercase()
}

fn tf(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn render_csv(t: &Tenant, report: Report, period: &str) -> Vec<u8> {
    let s = section(t).unwrap_or_default();
    let hide = concealed(&s);
    let name = |n: &str| {
        if hide && !n.is_empty() {
            conceal(n)
        } else {
            n.to_string()
        }
    };
    let refreshed = s
        .report_refresh_date
        .clone()
        .unwrap_or_else(|| "2026-11-29".to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |fields: &[&str]| {
        // Writing to memory cannot fail.
        let _ = w.write_record(fields);
    };
    match report {
        Report::Mailbox => {
            row(&[
                "Report Refresh Date",
                "User Principal Name",
                "Display Name",
                "Is Deleted",
                "Deleted Date",
                "Created Date",
                "Last Activity Date",
                "Item Count",
                "Storage Used (Byte)",
                "Issue Warning Quota (Byte)",
                "Prohibit Send Quota (Byte)",
                "Prohibit Send/Receive Quota (Byte)",
                "Deleted Item Count",
                "Deleted Item Size (Byte)",
                "Deleted Item Quota (Byte)",
                "Has Archive",
                "Report Period",
            ]);
            for m in &s.mailboxes {
                let Some((upn, display, deleted)) = user_of(t, &m.user_id) else {
                    continue;
                };
                row(&[
                    &refreshed,
                    &name(&upn),
                    &name(&display),
                    tf(deleted.is_some()),
                    deleted.as_deref().unwrap_or(""),
                    "",
                    &refreshed,
                    &m.item_count.to_string(),
                    &m.storage_used_in_bytes.to_string(),
                    "105226698752",
                    "106300440576",
                    "107374182400",
                    "0",
                    "0",
                    "32212254720",
                    "False",
                    period,
                ]);
            }
        }
        Report::OneDrive => {
            row(&[
                "Report Refresh Date",
                "Site URL",
                "Owner Display Name",
                "Is Deleted",
                "Last Activity Date",
                "File Count",
                "Active File Count",
                "Storage Used (Byte)",
                "Storage Allocated (Byte)",
                "Owner Principal Name",
                "Report Period",
            ]);
            let prefix = initial_domain_prefix(t);
            for o in &s.one_drive {
                let Some((upn, display, deleted)) = user_of(t, &o.user_id) else {
                    continue;
                };
                let url = format!(
                    "https://{prefix}-my.sharepoint.com/personal/{}",
                    upn.replace(['.', '@'], "_").to_ascii_lowercase()
                );
                row(&[
                    &refreshed,
                    &name(&url),
                    &name(&display),
                    tf(deleted.is_some()),
                    &refreshed,
                    &o.file_count.to_string(),
                    "0",
                    &o.storage_used_in_bytes.to_string(),
                    "1099511627776",
                    &name(&upn),
                    period,
                ]);
            }
        }
        Report::Sites => {
            row(&[
                "Report Refresh Date",
                "Site Id",
                "Site URL",
                "Owner Display Name",
                "Is Deleted",
                "Last Activity Date",
                "File Count",
                "Active File Count",
                "Page View Count",
                "Visited Page Count",
                "Storage Used (Byte)",
                "Storage Allocated (Byte)",
                "Root Web Template",
                "Owner Principal Name",
                "Report Period",
            ]);
            for site in &s.share_point_sites {
                row(&[
                    &refreshed,
                    &site.site_id,
                    &name(&site.site_url),
                    &name(site.owner_display_name.as_deref().unwrap_or("")),
                    "False",
                    &refreshed,
                    &site.file_count.to_string(),
                    "0",
                    "0",
                    "0",
                    &site.storage_used_in_bytes.to_string(),
                    "27487790694400",
                    site.root_web_template.as_deref().unwrap_or("Team Site"),
                    "",
                    period,
                ]);
            }
        }
    }
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend(w.into_inner().unwrap_or_default());
    out
}

/// Checks the section against the tenant: every `userId` names a user or deleted user, no
/// user twice per report, no site id twice. `Err` names the field.
pub(crate) fn validate(
    extra: &std::collections::BTreeMap<String, Value>,
    users: &[&Object],
) -> Result<(), String> {
    let Some(s) = from_extra(extra)? else {
        return Ok(());
    };
    let known = |id: &str| users.iter().any(|u| object_id(u) == Some(id));
    let mut seen = std::collections::HashSet::new();
    for (i, m) in s.mailboxes.iter().enumerate() {
        if !known(&m.user_id) {
            return Err(format!(
                "{SNAPSHOT_KEY}.mailboxes[{i}].userId {} is not a user of the snapshot",
                m.user_id
            ));
        }
        if !seen.insert(("m", m.user_id.as_str())) {
            return Err(format!(
                "{SNAPSHOT_KEY}.mailboxes[{i}]: user {} twice",
                m.user_id
            ));
        }
    }
    for (i, o) in s.one_drive.iter().enumerate() {
        if !known(&o.user_id) {
            return Err(format!(
                "{SNAPSHOT_KEY}.oneDrive[{i}].userId {} is not a user of the snapshot",
                o.user_id
            ));
        }
        if !seen.insert(("o", o.user_id.as_str())) {
            return Err(format!(
                "{SNAPSHOT_KEY}.oneDrive[{i}]: user {} twice",
                o.user_id
            ));
        }
    }
    for (i, site) in s.share_point_sites.iter().enumerate() {
        if !seen.insert(("s", site.site_id.as_str())) {
            return Err(format!(
                "{SNAPSHOT_KEY}.sharePointSites[{i}]: site {} twice",
                site.site_id
            ));
        }
    }
    if let Some(d) = &s.report_refresh_date {
        let ok = d.len() == 10
            && d.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            return Err(format!(
                "{SNAPSHOT_KEY}.reportRefreshDate {d:?} is not YYYY-MM-DD"
            ));
        }
    }
    Ok(())
}
