//! Reads Microsoft 365's usage reports through Graph: mailbox storage and items per user,
//! OneDrive storage per account, SharePoint sites and their storage, and whether the tenant
//! conceals names in reports. Graph answers each report function with `302 Found` and a
//! pre-authenticated download URL on another host; closeout fetches it through
//! [`crate::protocol::Core::download`] (no `Authorization` header; the URL is a secret, never
//! shown, logged or written) and parses the CSV with the `csv` crate. Knows nothing about
//! plans.
//!
//! - <https://learn.microsoft.com/en-us/graph/api/reportroot-getmailboxusagedetail>
//! - <https://learn.microsoft.com/en-us/graph/api/reportroot-getonedriveusageaccountdetail>
//! - <https://learn.microsoft.com/en-us/graph/api/reportroot-getsharepointsiteusagedetail>
//! - <https://learn.microsoft.com/en-us/graph/api/adminreportsettings-get>
//!
//! Each page: "returns a `302 Found` response that redirects to a preauthenticated download
//! URL ... do not require an `Authorization` header", permission `Reports.Read.All`, global
//! service only (no US Government or China deployment).

use super::client::GraphClient;
use super::error::GraphError;

/// `GET /admin/reportSettings`.
pub const REPORT_SETTINGS: &str = "/v1.0/admin/reportSettings";
/// The mailbox report of the last 7 days.
pub const MAILBOX_USAGE: &str = "/v1.0/reports/getMailboxUsageDetail(period='D7')";
/// The OneDrive report of the last 7 days.
pub const ONEDRIVE_USAGE: &str = "/v1.0/reports/getOneDriveUsageAccountDetail(period='D7')";
/// The SharePoint site report of the last 7 days.
pub const SITE_USAGE: &str = "/v1.0/reports/getSharePointSiteUsageDetail(period='D7')";

pub use crate::model::usage::{AccountRow, SiteRow, UsageReports};

/// Why the reports could not be read, in words for the "not checked: ..." line.
pub type NotChecked = String;

/// Reads the three usage reports and the report settings. `Err` is the reason for a
/// "not checked" line (a 403: the permission to grant; anything else: what went wrong,
/// with the Graph error code and request-id); never the download URL.
pub async fn read_usage_reports(client: &GraphClient) -> Result<UsageReports, NotChecked> {
    let settings = client.get(REPORT_SETTINGS).await;
    let concealed_setting = match &settings {
        Ok(v) => v.get("displayConcealedNames").and_then(|b| b.as_bool()),
        Err(_) => None,
    };
    let mailbox = report(client, MAILBOX_USAGE, "mailbox usage").await?;
    let onedrive = report(client, ONEDRIVE_USAGE, "OneDrive usage").await?;
    let sites = report(client, SITE_USAGE, "SharePoint site usage").await?;
    let mut out = UsageReports {
        mailboxes: accounts(&mailbox, "User Principal Name", "Item Count")?,
        onedrive: accounts(&onedrive, "Owner Principal Name", "File Count")?,
        sites: site_rows(&sites)?,
        report_refresh_date: first_value(&mailbox, "Report Refresh Date")
            .or_else(|| first_value(&onedrive, "Report Refresh Date"))
            .or_else(|| first_value(&sites, "Report Refresh Date"))
            .unwrap_or_default(),
        names_concealed: false,
    };
    let looks_concealed = out
        .mailboxes
        .iter()
        .chain(&out.onedrive)
        .any(|r| !r.user_principal_name.is_empty() && !r.user_principal_name.contains('@'));
    out.names_concealed = concealed_setting.unwrap_or(false) || looks_concealed;
    Ok(out)
}

/// Why a Graph error keeps the reports unread.
fn reason(what: &str, e: &GraphError) -> NotChecked {
    let request = e
        .request_id()
        .map_or_else(String::new, |r| format!(", request-id {r}"));
    match e.status() {
        Some(403) => format!(
            "the app may not read the {what} report: Graph answered 403 {}{request}; grant the application permission Reports.Read.All",
            e.code().unwrap_or("Forbidden")
        ),
        _ => format!("the {what} report could not be read: {e}"),
    }
}

/// A parsed CSV: the header row and the records.
struct Table {
    what: &'static str,
    headers: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

/// One report function: the 302, then its download, parsed.
async fn report(client: &GraphClient, path: &str, what: &'static str) -> Result<Table, NotChecked> {
    let link = match client.get(path).await {
        Err(GraphError::Redirect {
            location: Some(link),
            ..
        }) => link,
        Err(GraphError::Redirect { target, .. }) => {
            return Err(format!(
                "the {what} report answered a redirect to {target}, not a download link closeout can use"
            ))
        }
        Err(e) => return Err(reason(what, &e)),
        Ok(_) => {
            return Err(format!(
                "the {what} report answered 200 instead of the documented 302 to its download"
            ))
        }
    };
    let bytes = client
        .core()
        .download(&link)
        .await
        .map_err(|e| format!("the {what} report's download failed: {e}"))?;
    parse(what, &bytes).map_err(|m| format!("the {what} report: {m}"))
}

/// Parses a report's CSV: UTF-8, an optional byte order mark (Graph writes one), a header
/// row. `Err` names the line.
fn parse(what: &'static str, bytes: &[u8]) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| format!("the CSV header cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("line {line} of the CSV cannot be read: {e}")
        })?;
        rows.push(rec);
    }
    Ok(Table {
        what,
        headers,
        rows,
    })
}

impl Table {
    fn column(&self, name: &str) -> Result<usize, String> {
        self.headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("the {} CSV has no column '{name}'", self.what))
    }

    /// The CSV line of record `i` (the header is line 1).
    fn line(i: usize) -> usize {
        i + 2
    }
}

fn first_value(t: &Table, column: &str) -> Option<String> {
    let c = t.column(column).ok()?;
    t.rows
        .iter()
        .filter_map(|r| r.get(c))
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

fn number(t: &Table, row: usize, column: &str, raw: Option<&str>) -> Result<u64, String> {
    let raw = raw.unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(0);
    }
    raw.parse::<u64>().map_err(|_| {
        format!(
            "line {} of the {} CSV: '{column}' is not a count ({:?})",
            Table::line(row),
            t.what,
            crate::input::excerpt(raw)
        )
    })
}

fn is_true(raw: Option<&str>) -> bool {
    raw.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn accounts(t: &Table, upn: &str, items: &str) -> Result<Vec<AccountRow>, String> {
    let (c_upn, c_del, c_bytes, c_items) = (
        t.column(upn)?,
        t.column("Is Deleted")?,
        t.column("Storage Used (Byte)")?,
        t.column(items)?,
    );
    t.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(AccountRow {
                user_principal_name: r.get(c_upn).unwrap_or("").trim().to_string(),
                is_deleted: is_true(r.get(c_del)),
                bytes: number(t, i, "Storage Used (Byte)", r.get(c_bytes))?,
                items: number(t, i, items, r.get(c_items))?,
            })
        })
        .collect()
}

fn site_rows(t: &Table) -> Result<Vec<SiteRow>, String> {
    let (c_url, c_del, c_bytes, c_files) = (
        t.column("Site URL")?,
        t.column("Is Deleted")?,
        t.column("Storage Used (Byte)")?,
        t.column("File Count")?,
    );
    t.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(SiteRow {
                url: r.get(c_url).unwrap_or("").trim().to_string(),
                is_deleted: is_true(r.get(c_del)),
                bytes: number(t, i, "Storage Used (Byte)", r.get(c_bytes))?,
                files: number(t, i, "File Count", r.get(c_files))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_quotes_and_graph_columns() {
        let csv = "\u{feff}Report Refresh Date,User Principal Name,Display Name,Is Deleted,Item Count,Storage Used (Byte),Report Period\n\
                   2026-11-29,a@x.com,\"Doe, Jane\",False,12,3000,7\n\
                   2026-11-29,b@x.com,Bob,True,,,7\n";
        let t = parse("mailbox usage", csv.as_bytes()).unwrap();
        let rows = accounts(&t, "User Principal Name", "Item Count").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            AccountRow {
                user_principal_name: "a@x.com".into(),
                is_deleted: false,
                bytes: 3000,
                items: 12
            }
        );
        assert!(rows[1].is_deleted && rows[1].bytes == 0);
        assert_eq!(
            first_value(&t, "Report Refresh Date").as_deref(),
            Some("2026-11-29")
        );
    }

    #[test]
    fn bad_csv_names_the_line_and_column() {
        let csv =
            "User Principal Name,Is Deleted,Item Count,Storage Used (Byte)\na@x.com,False,1,lots\n";
        let t = parse("mailbox usage", csv.as_bytes()).unwrap();
        let e = accounts(&t, "User Principal Name", "Item Count").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("Storage Used (Byte)"),
            "{e}"
        );
        let t = parse("mailbox usage", b"User,Is Deleted\n").unwrap();
        let e = accounts(&t, "User Principal Name", "Item Count").unwrap_err();
        assert!(e.contains("no column 'User Principal Name'"), "{e}");
        assert!(parse("x", b"a,b\n1,2,3\n").is_err());
    }
}
