//! The closure spec file (`--spec FILE`): reading and validating it. The only place that
//! knows the spec's YAML layout; `examples/closeout.yaml` documents every key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::TenantState;
use crate::planner::{ApplicationPolicy, ClosureSpec, ManualActions};

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
    Ok(ClosureSpec {
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
