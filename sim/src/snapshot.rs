//! The tenant snapshot format (`shared/snapshot-format.md`): its serde model, loading with
//! located errors, and validation. Owns the snapshot bytes; knows nothing about HTTP.
//!
//! Objects are kept exactly as Graph serialises them (`serde_json` maps), so unknown
//! properties survive a load/export round trip.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One Graph object as Graph serialises it (property name -> JSON value).
pub type Object = Map<String, Value>;

/// The snapshot versions this crate reads and writes.
pub const SUPPORTED_VERSIONS: &[u64] = &[1];

/// Role template id of Global Administrator
/// (<https://learn.microsoft.com/graph/api/resources/directoryrole>).
pub const GLOBAL_ADMIN_TEMPLATE_ID: &str = "62e90394-69f5-4237-9190-012177145e10";

/// `appOwnerOrganizationId` of Microsoft's own (first-party) service principals.
pub const MICROSOFT_TENANT_ID: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// A tenant snapshot: the tenant as Microsoft Graph returns it.
///
/// Every collection holds objects as served by the Graph list endpoint named in its field doc.
/// `null` and an absent key both mean an empty collection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Format version; see [`SUPPORTED_VERSIONS`].
    pub snapshot_version: u64,
    /// `GET /v1.0/organization` -> `value[0]`.
    pub organization: Object,
    /// `GET /v1.0/users`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<Object>,
    /// `GET /v1.0/directory/deletedItems/microsoft.graph.user`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted_users: Vec<Object>,
    /// `GET /v1.0/directoryRoles`, each with its members' ids inlined.
    #[serde(default, deserialize_with = "null_as_default")]
    pub directory_roles: Vec<DirectoryRole>,
    /// `GET /v1.0/directory/subscriptions` (companySubscription).
    #[serde(default, deserialize_with = "null_as_default")]
    pub subscriptions: Vec<Object>,
    /// `GET /v1.0/subscribedSkus`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub subscribed_skus: Vec<Object>,
    /// `GET /v1.0/policies/identitySecurityDefaultsEnforcementPolicy`; absent = disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_defaults: Option<Object>,
    /// `GET /v1.0/identity/conditionalAccess/policies`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub conditional_access_policies: Vec<Object>,
    /// `GET /beta/users/{id}/authentication/requirements`, keyed by user id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub per_user_mfa: BTreeMap<String, Object>,
    /// `GET /v1.0/applications`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub applications: Vec<Object>,
    /// `GET /v1.0/directory/deletedItems/microsoft.graph.application`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted_applications: Vec<Object>,
    /// `GET /v1.0/servicePrincipals`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub service_principals: Vec<Object>,
    /// `GET /v1.0/directory/deletedItems/microsoft.graph.servicePrincipal`
    /// (graph-sim extension of the format: written only when non-empty).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub deleted_service_principals: Vec<Object>,
    /// `GET /v1.0/domains`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub domains: Vec<Object>,
    /// Azure Resource Manager's side (graph-sim's own section, `docs/snapshot-format.md`):
    /// subscriptions with their role assignments and resource groups, and role
    /// assignments at root scope `/`.
    #[serde(default, skip_serializing_if = "crate::arm::AzureSection::is_empty")]
    pub azure_subscriptions: crate::arm::AzureSection,
    /// Partner Center's side (graph-sim's own section, `docs/snapshot-format.md`): the CSP
    /// partner and this customer's subscriptions with windows, etags and renewal flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_center: Option<crate::commerce::PartnerCenterSection>,
    /// Microsoft.Billing's side (graph-sim's own section): billing accounts, profiles, billing
    /// roles, billing subscriptions with windows, and long-running operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<crate::commerce::BillingSection>,
    /// Top-level keys this crate does not know; kept and written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A directory role (`GET /v1.0/directoryRoles`) with the ids of its members
/// (`GET /v1.0/directoryRoles/{id}/members`), the one place the format inlines a second call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DirectoryRole {
    /// The role as Graph serialises it (`id`, `displayName`, `roleTemplateId`, ...).
    #[serde(flatten)]
    pub object: Object,
    /// Ids of member users.
    #[serde(default, deserialize_with = "null_as_default")]
    pub members: Vec<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Why a snapshot (or the op log replayed over it) could not be loaded.
/// Every variant names the file; line and column are given where the parser knows them.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read or written.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid YAML/JSON, or a value of the wrong type.
    #[error("{}: {message}", located(file, *line, *column))]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// `snapshotVersion` is missing or not one this crate reads.
    #[error("{}: unsupported snapshotVersion {found}; supported versions: {}", file.display(), versions())]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found (as written), or `missing`.
        found: String,
    },
    /// Well-formed but not a possible tenant (duplicate ids, a role member that is not a user...).
    #[error("{}: {message}", located(file, *line, *column))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, naming the object.
        message: String,
    },
    /// The op log (`--state FILE`) is corrupt or does not belong to this snapshot.
    #[error("{}:{line}: {message}", file.display())]
    OpLog {
        /// The op log file.
        file: PathBuf,
        /// 1-based line of the bad record.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn versions() -> String {
    SUPPORTED_VERSIONS
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn located(file: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", file.display()),
        (Some(l), None) => format!("{}:{l}", file.display()),
        _ => file.display().to_string(),
    }
}

/// The largest snapshot file read: 512 MiB (closeout's bound for snapshots too).
pub const MAX_SNAPSHOT_BYTES: u64 = 512 << 20;

/// Loads and validates a snapshot file. JSON is recognised by a `.json` extension or by
/// content starting with `{`; anything else is read as YAML.
///
/// The path must resolve (symlinks followed) to a regular file of at most
/// [`MAX_SNAPSHOT_BYTES`]: a FIFO, a device or a directory is refused before it is opened.
pub fn load_snapshot(path: &Path) -> Result<Snapshot, SnapshotError> {
    let io = |source| SnapshotError::Io {
        file: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() || meta.len() > MAX_SNAPSHOT_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            if meta.is_file() {
                format!(
                    "larger than a snapshot may be ({} bytes; at most {MAX_SNAPSHOT_BYTES})",
                    meta.len()
                )
            } else {
                "not a regular file".to_string()
            },
        )));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse_snapshot(&text, path)
}

/// Parses and validates snapshot text; `path` only names the source in errors.
pub fn parse_snapshot(text: &str, path: &Path) -> Result<Snapshot, SnapshotError> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    let parsed: Result<Snapshot, SnapshotError> = if is_json {
        serde_json::from_str(text).map_err(|e| SnapshotError::Parse {
            file: path.to_path_buf(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: e.to_string(),
        })
    } else {
        serde_yaml::from_str(text).map_err(|e| {
            let loc = e.location();
            SnapshotError::Parse {
                file: path.to_path_buf(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: e.to_string(),
            }
        })
    };
    let snapshot = match parsed {
        Ok(s) if SUPPORTED_VERSIONS.contains(&s.snapshot_version) => s,
        Ok(s) => {
            return Err(SnapshotError::UnsupportedVersion {
                file: path.to_path_buf(),
                found: s.snapshot_version.to_string(),
            })
        }
        Err(e) => {
            // A wrong or missing version explains a failed parse better than the parse error.
            check_version(text, is_json, path)?;
            return Err(e);
        }
    };
    validate(&snapshot, text, path)?;
    Ok(snapshot)
}

fn check_version(text: &str, is_json: bool, path: &Path) -> Result<(), SnapshotError> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "snapshotVersion")]
        snapshot_version: Option<Value>,
    }
    let probe: Option<Probe> = if is_json {
        serde_json::from_str(text).ok()
    } else {
        serde_yaml::from_str(text).ok()
    };
    // Unparseable text: the parse error will say why.
    let Some(probe) = probe else { return Ok(()) };
    let found = match &probe.snapshot_version {
        None | Some(Value::Null) => "missing".to_string(),
        Some(v) => {
            if v.as_u64().is_some_and(|n| SUPPORTED_VERSIONS.contains(&n)) {
                return Ok(());
            }
            v.to_string()
        }
    };
    Err(SnapshotError::UnsupportedVersion {
        file: path.to_path_buf(),
        found,
    })
}

/// Best-effort location of the `nth` (0-based) occurrence of `needle` in `text`.
fn locate(text: &str, needle: &str, nth: usize) -> (Option<usize>, Option<usize>) {
    if needle.is_empty() {
        return (None, None);
    }
    // Whole tokens only: `u1` must not match inside `users` or `u10`.
    let part_of_token = |c: Option<char>| {
        c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    };
    let Some((offset, _)) = text
        .match_indices(needle)
        .filter(|(at, m)| {
            !part_of_token(text[..*at].chars().next_back())
                && !part_of_token(text[at + m.len()..].chars().next())
        })
        .nth(nth)
    else {
        return (None, None);
    };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (Some(line), Some(column))
}

fn invalid(text: &str, path: &Path, needle: &str, nth: usize, message: String) -> SnapshotError {
    let (line, column) = locate(text, needle, nth);
    SnapshotError::Invalid {
        file: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// The `id` of an object, if it is a string.
pub fn object_id(o: &Object) -> Option<&str> {
    o.get("id").and_then(Value::as_str)
}

/// A string property, if present and a string.
pub fn str_prop<'a>(o: &'a Object, name: &str) -> Option<&'a str> {
    o.get(name).and_then(Value::as_str)
}

const SUBSCRIPTION_STATUSES: &[&str] = &["Enabled", "Warning", "Suspended", "LockedOut", "Deleted"];
const CA_STATES: &[&str] = &["enabled", "disabled", "enabledForReportingButNotEnforced"];
const MFA_STATES: &[&str] = &["disabled", "enabled", "enforced"];

fn validate(s: &Snapshot, text: &str, path: &Path) -> Result<(), SnapshotError> {
    if object_id(&s.organization).is_none() {
        return Err(invalid(
            text,
            path,
            "organization",
            0,
            "organization has no string `id` (the tenant id)".into(),
        ));
    }
    // Directory objects share one id space; other collections are checked on their own.
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let directory: [(&str, Vec<&Object>); 7] = [
        ("users", s.users.iter().collect()),
        ("deletedUsers", s.deleted_users.iter().collect()),
        (
            "directoryRoles",
            s.directory_roles.iter().map(|r| &r.object).collect(),
        ),
        ("applications", s.applications.iter().collect()),
        (
            "deletedApplications",
            s.deleted_applications.iter().collect(),
        ),
        ("servicePrincipals", s.service_principals.iter().collect()),
        (
            "deletedServicePrincipals",
            s.deleted_service_principals.iter().collect(),
        ),
    ];
    for (collection, objects) in &directory {
        for (i, o) in objects.iter().enumerate() {
            let Some(id) = object_id(o) else {
                return Err(invalid(
                    text,
                    path,
                    collection,
                    0,
                    format!("{collection}[{i}] has no string `id`"),
                ));
            };
            let n = occurrences.entry(id).or_insert(0);
            *n += 1;
            if let Some(first) = seen.insert(id, collection) {
                return Err(invalid(
                    text,
                    path,
                    id,
                    *n - 1,
                    format!("duplicate id {id}: in {first} and again in {collection}[{i}]"),
                ));
            }
        }
    }
    let others: [(&str, &Vec<Object>); 4] = [
        ("subscriptions", &s.subscriptions),
        ("subscribedSkus", &s.subscribed_skus),
        ("conditionalAccessPolicies", &s.conditional_access_policies),
        ("domains", &s.domains),
    ];
    for (collection, objects) in others {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, o) in objects.iter().enumerate() {
            let Some(id) = object_id(o) else {
                return Err(invalid(
                    text,
                    path,
                    collection,
                    0,
                    format!("{collection}[{i}] has no string `id`"),
                ));
            };
            if let Some(first) = ids.insert(id, i) {
                return Err(invalid(
                    text,
                    path,
                    id,
                    1,
                    format!("duplicate id {id} in {collection} (items {first} and {i})"),
                ));
            }
        }
    }
    let users: HashMap<&str, &Object> = s
        .users
        .iter()
        .filter_map(|u| object_id(u).map(|id| (id, u)))
        .collect();
    for role in &s.directory_roles {
        let role_name = str_prop(&role.object, "displayName")
            .or(object_id(&role.object))
            .unwrap_or("?");
        for member in &role.members {
            if !users.contains_key(member.as_str()) {
                let what = if seen.contains_key(member.as_str()) {
                    format!("a {} object, not a user", seen[member.as_str()])
                } else {
                    "not a user in `users`".to_string()
                };
                return Err(invalid(
                    text,
                    path,
                    member,
                    0,
                    format!("directory role {role_name}: member {member} is {what}"),
                ));
            }
        }
    }
    for (i, sub) in s.subscriptions.iter().enumerate() {
        let status = str_prop(sub, "status").unwrap_or("");
        if !SUBSCRIPTION_STATUSES.contains(&status) {
            return Err(invalid(
                text,
                path,
                object_id(sub).unwrap_or("subscriptions"),
                0,
                format!(
                    "subscriptions[{i}]: status {status:?} is not one of {}",
                    SUBSCRIPTION_STATUSES.join(", ")
                ),
            ));
        }
    }
    for (id, entry) in &s.per_user_mfa {
        let Some(user) = users.get(id.as_str()) else {
            return Err(invalid(
                text,
                path,
                id,
                0,
                format!("perUserMfa: {id} is not a user in `users`"),
            ));
        };
        if str_prop(user, "userType") == Some("Guest") {
            return Err(invalid(
                text,
                path,
                id,
                0,
                format!("perUserMfa: {id} is a guest; guests have no per-user MFA state"),
            ));
        }
        let state = str_prop(entry, "perUserMfaState").unwrap_or("");
        if !MFA_STATES.contains(&state) {
            return Err(invalid(
                text,
                path,
                id,
                0,
                format!(
                    "perUserMfa.{id}.perUserMfaState {state:?} is not one of {}",
                    MFA_STATES.join(", ")
                ),
            ));
        }
    }
    if let Some(p) = &s.partner_center {
        crate::commerce::validate_partner_center(p)
            .map_err(|(needle, m)| invalid(text, path, &needle, 0, m))?;
    }
    if let Some(b) = &s.billing {
        crate::commerce::validate_billing(b)
            .map_err(|(needle, m)| invalid(text, path, &needle, 0, m))?;
    }
    let sd_on = s
        .security_defaults
        .as_ref()
        .and_then(|p| p.get("isEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for policy in &s.conditional_access_policies {
        let id = object_id(policy).unwrap_or("?");
        let state = str_prop(policy, "state").unwrap_or("");
        if !CA_STATES.contains(&state) {
            return Err(invalid(
                text,
                path,
                id,
                0,
                format!(
                    "conditional access policy {id}: state {state:?} is not one of {}",
                    CA_STATES.join(", ")
                ),
            ));
        }
        if sd_on && state == "enabled" {
            return Err(invalid(
                text,
                path,
                id,
                0,
                format!(
                    "conditional access policy {id} is enabled while security defaults are on; \
                     Entra does not allow both (turn security defaults off first)"
                ),
            ));
        }
    }
    Ok(())
}

impl Snapshot {
    /// The snapshot as YAML (the canonical on-disk form).
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }

    /// The snapshot as pretty JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Writes the snapshot to `path`: JSON when the extension is `.json`, YAML otherwise.
    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let text = if is_json {
            self.to_json().map_err(|e| e.to_string())
        } else {
            self.to_yaml().map_err(|e| e.to_string())
        }
        .map_err(|message| SnapshotError::Invalid {
            file: path.to_path_buf(),
            line: None,
            column: None,
            message,
        })?;
        std::fs::write(path, text).map_err(|source| SnapshotError::Io {
            file: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Snapshot, SnapshotError> {
        parse_snapshot(text, Path::new("t.yaml"))
    }

    const MINIMAL: &str = "snapshotVersion: 1\norganization: {id: t1, displayName: C}\n";

    #[test]
    fn minimal_snapshot_loads_with_empty_collections() {
        let s = parse(MINIMAL).unwrap();
        assert!(s.users.is_empty());
        assert!(s.security_defaults.is_none());
    }

    #[test]
    fn null_collection_is_empty() {
        let s = parse(&format!("{MINIMAL}users: null\n")).unwrap();
        assert!(s.users.is_empty());
    }

    #[test]
    fn unknown_version_names_supported_ones() {
        let e = parse("snapshotVersion: 7\norganization: {id: t}\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("unsupported snapshotVersion 7"), "{msg}");
        assert!(msg.contains("supported versions: 1"), "{msg}");
    }

    #[test]
    fn type_error_has_line_and_column() {
        let e = parse(&format!("{MINIMAL}users: 5\n")).unwrap_err();
        match e {
            SnapshotError::Parse { line, column, .. } => {
                assert_eq!(line, Some(3));
                assert!(column.is_some());
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn duplicate_ids_are_rejected_with_location() {
        let text = format!("{MINIMAL}users:\n  - {{id: u1}}\n  - {{id: u1}}\n");
        let e = parse(&text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("duplicate id u1"), "{msg}");
        assert!(msg.starts_with("t.yaml:5:"), "{msg}");
    }

    #[test]
    fn role_member_must_be_a_user() {
        let text = format!(
            "{MINIMAL}applications: [{{id: a1}}]\ndirectoryRoles:\n  - {{id: r1, displayName: GA, members: [a1]}}\n"
        );
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains("member a1 is a applications object"), "{msg}");
    }

    #[test]
    fn security_defaults_and_enabled_ca_policy_conflict() {
        let text = format!(
            "{MINIMAL}securityDefaults: {{isEnabled: true}}\nconditionalAccessPolicies: [{{id: p1, state: enabled}}]\n"
        );
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains("security defaults"), "{msg}");
    }

    #[test]
    fn json_is_accepted_and_unknown_properties_kept() {
        let text = r#"{"snapshotVersion":1,"organization":{"id":"t"},"users":[{"id":"u","x-custom":3}],"futureKey":{"a":1}}"#;
        let s = parse_snapshot(text, Path::new("s.json")).unwrap();
        assert_eq!(s.users[0]["x-custom"], 3);
        assert_eq!(s.extra["futureKey"]["a"], 1);
        let back = s.to_json().unwrap();
        assert!(back.contains("futureKey"));
    }
}
