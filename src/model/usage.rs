//! Microsoft 365's usage reports as closeout reads them (rows of the mailbox, OneDrive and
//! SharePoint site reports). Pure data; filled by `crate::graph::reports`, summed by
//! `crate::planner::data_report`.

/// One row of the mailbox or OneDrive report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRow {
    /// `User Principal Name` (mailbox) or `Owner Principal Name` (OneDrive); a hash when the
    /// tenant conceals names.
    pub user_principal_name: String,
    /// `Is Deleted`.
    pub is_deleted: bool,
    /// `Storage Used (Byte)`.
    pub bytes: u64,
    /// `Item Count` (mailbox) or `File Count` (OneDrive).
    pub items: u64,
}

/// One row of the SharePoint site report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRow {
    /// `Site URL` (a hash when the tenant conceals names).
    pub url: String,
    /// `Is Deleted`.
    pub is_deleted: bool,
    /// `Storage Used (Byte)`.
    pub bytes: u64,
    /// `File Count`.
    pub files: u64,
}

/// The three reports as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageReports {
    /// `Report Refresh Date` of the mailbox report (`YYYY-MM-DD`), empty without rows.
    pub report_refresh_date: String,
    /// The tenant conceals user and site names: `displayConcealedNames`, or (when the
    /// setting could not be read) principal names that are not names (no `@`).
    pub names_concealed: bool,
    pub mailboxes: Vec<AccountRow>,
    pub onedrive: Vec<AccountRow>,
    pub sites: Vec<SiteRow>,
}
