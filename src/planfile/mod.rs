//! The plan file: closeout's YAML wire format for a [`Plan`], its version, its integrity
//! digest, and validation while reading. The only place that knows the file's bytes.
//!
//! Layout: a comment header summarising the plan for reviewers, then `format_version`, one
//! `plan:` line (`{id, created_at, digest}`), and the body. The digest is SHA-256 over the
//! file's bytes with the `plan:` line left out (line endings normalised to `\n`), followed
//! by the plan id and creation time, so any edit, comments included, is detected. The plan
//! id is derived from the body, so two plans of the same tenant differ only in the `plan:`
//! line.

mod wire;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plan::{Plan, Step};

pub use wire::FORMAT_VERSION;

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{path}: cannot read the plan file: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}{location}: not a valid closeout plan file: {message}")]
    Invalid {
        path: PathBuf,
        /// `:LINE:COLUMN` where known.
        location: String,
        message: String,
    },
    #[error(
        "{path}: plan file format version {found} is not supported by closeout {tool} \
         (it reads version {supported}); plan again with this closeout, or use the closeout that wrote it"
    )]
    UnknownVersion {
        path: PathBuf,
        found: String,
        supported: u32,
        tool: &'static str,
    },
    #[error(
        "{path}: the plan file was edited after it was made (digest mismatch: recorded {recorded}, \
         computed {computed}). closeout applies only the plan that was reviewed: run `closeout plan` again"
    )]
    Tampered {
        path: PathBuf,
        recorded: String,
        computed: String,
    },
}

/// Puts the plan's sets in their canonical order, so the same tenant gives the same file
/// whatever order Graph's pages arrived in: each action's `depends_on` (step gates first,
/// then addresses, sorted, without duplicates), the kept users (by userPrincipalName,
/// compared case-insensitively, then id) and their roles. The order of the actions is the
/// planner's (by step, then a stable key) and is kept.
pub fn canonicalize(plan: &mut Plan) {
    for a in &mut plan.actions {
        a.depends_on
            .sort_by(|x, y| (!x.starts_with("step:"), x).cmp(&(!y.starts_with("step:"), y)));
        a.depends_on.dedup();
    }
    for k in &mut plan.keep {
        k.roles.sort();
        k.roles.dedup();
    }
    plan.keep.sort_by(|a, b| {
        (a.user_principal_name.to_lowercase(), &a.id)
            .cmp(&(b.user_principal_name.to_lowercase(), &b.id))
    });
}

/// Renders a plan as plan-file bytes (deterministic for a given plan).
pub fn to_bytes(plan: &Plan) -> Vec<u8> {
    let body = wire::body_yaml(plan);
    let header = header(plan);
    let unsigned = format!("{header}format_version: {FORMAT_VERSION}\n{body}");
    let digest = digest_of(&unsigned, &plan.plan_id, &plan.created_at);
    let stamp = format!(
        "plan: {{id: {}, created_at: '{}', digest: 'sha256:{digest}'}}\n",
        plan.plan_id, plan.created_at
    );
    format!("{header}format_version: {FORMAT_VERSION}\n{stamp}{body}").into_bytes()
}

/// The deterministic plan id for a plan body: the first 16 hex digits of its SHA-256.
pub fn plan_id_for(plan: &Plan) -> String {
    let mut probe = plan.clone();
    probe.plan_id = String::new();
    probe.created_at = String::new();
    let body = wire::body_yaml(&probe);
    let hash = Sha256::digest(body.as_bytes());
    hex(&hash)[..16].to_string()
}

/// Writes a plan file (atomically: a temporary file renamed into place).
pub fn write(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    let io = |source| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, to_bytes(plan)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads and validates a plan file: version, digest, structure.
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let bytes = std::fs::read(path).map_err(|source| PlanFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes)
}

/// Parses plan-file bytes; `path` is only used in messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Plan, PlanFileError> {
    let invalid = |location: String, message: String| PlanFileError::Invalid {
        path: path.to_path_buf(),
        location,
        message,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|e| invalid(String::new(), format!("not UTF-8 text: {e}")))?
        .replace("\r\n", "\n");
    let version = match wire::scan_version(&text) {
        Some(v) => v,
        None => wire::peek_version(&text).map_err(|(loc, m)| invalid(loc, m))?,
    };
    if version != FORMAT_VERSION.to_string() {
        return Err(PlanFileError::UnknownVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
            tool: crate::plan::TOOL_VERSION,
        });
    }
    let (plan, stamp_digest) = wire::parse_body(&text).map_err(|(loc, m)| invalid(loc, m))?;
    let unsigned: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("plan:"))
        .collect();
    let computed = format!(
        "sha256:{}",
        digest_of(&unsigned, &plan.plan_id, &plan.created_at)
    );
    if computed != stamp_digest {
        return Err(PlanFileError::Tampered {
            path: path.to_path_buf(),
            recorded: stamp_digest,
            computed,
        });
    }
    Ok(plan)
}

fn digest_of(unsigned: &str, plan_id: &str, created_at: &str) -> String {
    let mut h = Sha256::new();
    h.update(unsigned.as_bytes());
    h.update(b"\0");
    h.update(plan_id.as_bytes());
    h.update(b"\0");
    h.update(created_at.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The comment header: what a reviewer sees first in a pull request.
fn header(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# closeout plan: close tenant {} ({}, {})\n#\n",
        plan.tenant.display_name, plan.tenant.initial_domain, plan.tenant.id
    ));
    for step in Step::ALL {
        let actions: Vec<_> = plan.actions.iter().filter(|a| a.step() == step).collect();
        let manual = actions.iter().filter(|a| a.kind.is_manual()).count();
        let auto = actions.len() - manual;
        let what = match (auto, manual) {
            (0, 0) => "nothing to do".to_string(),
            (a, 0) => format!("{a} automated"),
            (0, m) => format!("{m} manual"),
            (a, m) => format!("{a} automated, {m} manual"),
        };
        out.push_str(&format!(
            "#   step {}  {:<36} {what}\n",
            step.number(),
            step.title()
        ));
    }
    out.push_str(&format!("#\n# {}\n", plan.summary().line()));
    let kept: Vec<&str> = plan
        .keep
        .iter()
        .map(|k| k.user_principal_name.as_str())
        .collect();
    out.push_str(&format!("# Kept: {}\n", kept.join(", ")));
    out.push_str(
        "#\n# `closeout apply` executes exactly the actions below and refuses this file if it\n\
         # is edited or if the tenant changed since it was planned (stale plan).\n",
    );
    out
}
