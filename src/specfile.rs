//! The closure spec file (`--spec FILE`): reading and validating it. The only place that
//! knows the spec's YAML layout; `examples/closeout.yaml` documents every key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::TenantState;
use crate::planner::{ApplicationPolicy, Billing, BillingChannel, ClosureSpec, ManualActions};

/// The spec format version this closeout reads.
pub const SPEC_VERSION: u32 = 1;

/// A spec that cannot be used, with the file and line where known.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not read: missing, not a regular file, over 1 MiB, not UTF-8.
    #[error("{0}")]
    Io(#[from] crate::input::InputError),
    #[error("{path}{location}: invalid closure spec: {message}")]
    Invalid {
        path: PathBuf,
        /// `:LINE:COLUMN` or `:LINE` where known.
        location: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    version: u32,
    #[serde(default)]
    keep: Vec<String>,
    #[serde(default = "yes")]
    purge_recycle_bin: bool,
    #[serde(default)]
    applications: Applications,
    #[serde(default)]
    manual_actions: ManualFile,
    /// `manual` (default), `cancel` or `none`.
    #[serde(default)]
    azure_subscriptions: crate::plan::AzurePolicy,
    #[serde(default)]
    data: DataFile,
    billing: Option<BillingFile>,
}

/// `billing:`, always a mapping (`billing: {channel: manual}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BillingFile {
    channel: BillingChannel,
    customer_tenant_id: Option<String>,
    billing_account: Option<String>,
    #[serde(default)]
    cancel: bool,
}

/// `data:`: what the administrator declares about the data the closure destroys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DataFile {
    #[serde(default)]
    backup_confirmed: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Applications {
    #[default]
    Delete,
    Keep,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualFile {
    #[serde(default = "yes")]
    cancel_subscriptions: bool,
    #[serde(default = "yes")]
    delete_subscriptions: bool,
    #[serde(default = "yes")]
    delete_tenant: bool,
}

impl Default for ManualFile {
    fn default() -> Self {
        ManualFile {
            cancel_subscriptions: true,
            delete_subscriptions: true,
            delete_tenant: true,
        }
    }
}

/// A parsed spec and its source text (kept to point at lines in later checks).
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub path: PathBuf,
    pub text: String,
    pub spec: ClosureSpec,
}

/// Reads and parses a spec file. Unknown keys and wrong types are errors with line and column.
pub fn read(path: &Path) -> Result<LoadedSpec, SpecError> {
    let text = crate::input::read_text(path, crate::input::FileKind::Spec)?;
    let spec = parse(path, &text)?;
    Ok(LoadedSpec {
        path: path.to_path_buf(),
        text,
        spec,
    })
}

/// Parses spec text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<ClosureSpec, SpecError> {
    // Nesting is bounded before the YAML parser sees the text.
    if let Err(line) = crate::input::check_yaml_depth(text, crate::input::MAX_NESTING) {
        return Err(SpecError::Invalid {
            path: path.to_path_buf(),
            location: format!(":{line}"),
            message: format!(
                "nested deeper than {} levels; a closure spec is a flat list of options",
                crate::input::MAX_NESTING
            ),
        });
    }
    let invalid = |needle: &str, message: String| SpecError::Invalid {
        path: path.to_path_buf(),
        location: line_of(text, needle)
            .map(|l| format!(":{l}"))
            .unwrap_or_default(),
        message,
    };
    // `billing: manual` (a scalar) reads as an error naming the mapping it must be.
    if let Some(rest) = text
        .lines()
        .find_map(|l| l.strip_prefix("billing:"))
        .map(|r| r.split('#').next().unwrap_or("").trim())
    {
        if !rest.is_empty() && !rest.starts_with('{') {
            return Err(invalid(
                "billing:",
                format!(
                    "`billing` is a mapping, e.g. `billing: {{channel: {}}}`; channels: manual, partner_center, mca",
                    crate::input::excerpt(rest)
                ),
            ));
        }
    }
    let file: SpecFile = serde_yaml::from_str(text).map_err(|e| SpecError::Invalid {
        path: path.to_path_buf(),
        location: e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default(),
        message: crate::input::excerpt(&e.to_string()),
    })?;
    if file.version != SPEC_VERSION {
        return Err(SpecError::Invalid {
            path: path.to_path_buf(),
            location: line_of(text, "version:")
                .map(|l| format!(":{l}"))
                .unwrap_or_default(),
            message: format!(
                "spec version {} is not supported (this closeout reads version {SPEC_VERSION})",
                file.version
            ),
        });
    }
    let billing = match file.billing {
        None => Billing::default(),
        Some(b) => billing(b, &invalid)?,
    };
    Ok(ClosureSpec {
        billing,
        keep: file.keep,
        purge_recycle_bin: file.purge_recycle_bin,
        applications: match file.applications {
            Applications::Delete => ApplicationPolicy::Delete,
            Applications::Keep => ApplicationPolicy::Keep,
        },
        manual_actions: ManualActions {
            cancel_subscriptions: file.manual_actions.cancel_subscriptions,
            delete_subscriptions: file.manual_actions.delete_subscriptions,
            delete_tenant: file.manual_actions.delete_tenant,
        },
        azure_subscriptions: file.azure_subscriptions,
        backup_confirmed: file.data.backup_confirmed,
    })
}

/// Checks the keys a channel takes: `customer_tenant_id` (a GUID) only for
/// `partner_center`, where it is required; `billing_account` only for `mca`; `cancel`
/// not for `manual`.
fn billing(
    b: BillingFile,
    invalid: &dyn Fn(&str, String) -> SpecError,
) -> Result<Billing, SpecError> {
    let channel = b.channel.as_str();
    if b.customer_tenant_id.is_some() && b.channel != BillingChannel::PartnerCenter {
        return Err(invalid(
            "customer_tenant_id",
            format!("billing.customer_tenant_id is for channel partner_center, not {channel}"),
        ));
    }
    if b.billing_account.is_some() && b.channel != BillingChannel::Mca {
        return Err(invalid(
            "billing_account",
            format!("billing.billing_account is for channel mca, not {channel}"),
        ));
    }
    if b.cancel && b.channel == BillingChannel::Manual {
        return Err(invalid(
            "cancel:",
            "billing.cancel: true needs a channel with an API (partner_center or mca); with channel manual a person cancels in the admin center".to_string(),
        ));
    }
    let customer_tenant_id = match (b.channel, b.customer_tenant_id) {
        (BillingChannel::PartnerCenter, None) => {
            return Err(invalid(
                "channel:",
                "billing.channel partner_center needs billing.customer_tenant_id (the tenant id of the customer being closed)".to_string(),
            ))
        }
        (_, Some(t)) => Some(crate::ident::canonical_guid(&t).ok_or_else(|| {
            invalid(
                "customer_tenant_id",
                format!(
                    "billing.customer_tenant_id '{}' is not a tenant id (a GUID)",
                    crate::input::excerpt(&t)
                ),
            )
        })?),
        (_, None) => None,
    };
    let billing_account = match b.billing_account {
        Some(a) if a.trim().is_empty() || a.len() > 400 || a.chars().any(|c| c.is_control() || c == '/' || c == '?' || c == '#') => {
            return Err(invalid(
                "billing_account",
                format!(
                    "billing.billing_account '{}' is not a billing account name (like 00000000-0000-0000-0000-000000000000:00000000-0000-0000-0000-000000000000_2019-05-31)",
                    crate::input::excerpt(&a)
                ),
            ))
        }
        other => other,
    };
    Ok(Billing {
        channel: b.channel,
        customer_tenant_id,
        billing_account,
        cancel: b.cancel,
    })
}

/// The 1-based line of the first line containing `needle`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

impl LoadedSpec {
    /// Checks the spec against the tenant: every kept user exists, one is a Global
    /// Administrator. Errors point at the spec's line.
    pub fn validate(&self, state: &TenantState) -> Result<(), SpecError> {
        let invalid = |line: Option<usize>, message: String| SpecError::Invalid {
            path: self.path.clone(),
            location: line.map(|l| format!(":{l}")).unwrap_or_default(),
            message,
        };
        for k in &self.spec.keep {
            if state.find_kept_user(k).is_none() {
                return Err(invalid(
                    line_of(&self.text, k),
                    format!(
                        "kept user '{k}' does not exist in tenant {}",
                        state.organization.id
                    ),
                ));
            }
        }
        if let Some(t) = &self.spec.billing.customer_tenant_id {
            if !t.eq_ignore_ascii_case(&state.organization.id) {
                return Err(invalid(
                    line_of(&self.text, "customer_tenant_id"),
                    format!(
                        "billing.customer_tenant_id {t} is not the tenant being closed ({}): Partner Center would cancel another customer's subscriptions",
                        state.organization.id
                    ),
                ));
            }
        }
        let admins = state.global_administrators();
        let kept_admin = self
            .spec
            .keep
            .iter()
            .filter_map(|k| state.find_kept_user(k))
            .any(|u| admins.contains(&u.id.as_str()));
        if !kept_admin {
            return Err(invalid(
                line_of(&self.text, "keep:"),
                "no kept user is a Global Administrator: the tenant can only be deleted by a Global Administrator who remains until the end".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<ClosureSpec, String> {
        parse(Path::new("spec.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn billing_is_a_mapping_with_channel_keys_checked_and_lines_named() {
        let ok = parse_str("version: 1\nbilling: {channel: partner_center, customer_tenant_id: 0B5C3C61-6A4A-4C56-9C0E-1A2B3C4D5E6F, cancel: true}\n").unwrap();
        assert_eq!(ok.billing.channel, BillingChannel::PartnerCenter);
        assert_eq!(
            ok.billing.customer_tenant_id.as_deref(),
            Some("0b5c3c61-6a4a-4c56-9c0e-1a2b3c4d5e6f")
        );
        assert!(ok.billing.cancel);
        let mca = parse_str("version: 1\nbilling:\n  channel: mca\n").unwrap();
        assert_eq!(mca.billing.channel, BillingChannel::Mca);
        assert!(!mca.billing.cancel, "cancel defaults to false");
        assert_eq!(mca.billing.billing_account, None, "discovery");
        assert_eq!(
            parse_str("version: 1\n").unwrap().billing,
            Billing::default()
        );
        for (text, line, says) in [
            ("version: 1\nbilling: manual\n", ":2", "is a mapping"),
            ("version: 1\nbilling:\n  channel: csp\n", ":3", "unknown variant"),
            ("version: 1\nbilling:\n  channel: partner_center\n", ":3", "needs billing.customer_tenant_id"),
            ("version: 1\nbilling:\n  channel: partner_center\n  customer_tenant_id: contoso\n", ":4", "not a tenant id"),
            ("version: 1\nbilling:\n  channel: mca\n  customer_tenant_id: 0b5c3c61-6a4a-4c56-9c0e-1a2b3c4d5e6f\n", ":4", "for channel partner_center"),
            ("version: 1\nbilling:\n  channel: manual\n  billing_account: a\n", ":4", "for channel mca"),
            ("version: 1\nbilling:\n  channel: manual\n  cancel: true\n", ":4", "needs a channel with an API"),
            ("version: 1\nbilling:\n  channel: mca\n  billing_account: a/../b\n", ":4", "not a billing account name"),
            ("version: 1\nbilling:\n  channel: mca\n  cancle: true\n", ":4", "unknown field"),
        ] {
            let e = parse_str(text).unwrap_err();
            assert!(e.starts_with(&format!("spec.yaml{line}")), "{text:?}: {e}");
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
