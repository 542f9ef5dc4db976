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
    #[error("{path}: cannot write the plan file: {source}")]
    Write {
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
    file_bytes(plan, &wire::body_yaml(plan))
}

/// The file for `plan` with its body already serialised (the body is the costly part of a
/// large plan: serialise it once).
fn file_bytes(plan: &Plan, body: &str) -> Vec<u8> {
    let header = header(plan);
    let mut h = Sha256::new();
    h.update(header.as_bytes());
    h.update(format!("format_version: {FORMAT_VERSION}\n").as_bytes());
    h.update(body.as_bytes());
    let digest = finish_digest(h, &plan.plan_id, &plan.created_at);
    let stamp = format!(
        "plan: {{id: {}, created_at: '{}', digest: 'sha256:{digest}'}}\n",
        plan.plan_id, plan.created_at
    );
    let mut out = String::with_capacity(header.len() + stamp.len() + body.len() + 32);
    out.push_str(&header);
    out.push_str(&format!("format_version: {FORMAT_VERSION}\n"));
    out.push_str(&stamp);
    out.push_str(body);
    out.into_bytes()
}

/// The deterministic plan id for a plan body: the first 16 hex digits of its SHA-256.
pub fn plan_id_for(plan: &Plan) -> String {
    id_of_body(&wire::body_yaml(plan))
}

fn id_of_body(body: &str) -> String {
    // The body holds neither the plan id nor the creation time (they are on the stamp line).
    hex(&Sha256::digest(body.as_bytes()))[..16].to_string()
}

/// Makes a computed plan ready to save: puts it in canonical order ([`canonicalize`]),
/// derives its id from its content, and returns the plan-file bytes. Equivalent to
/// `canonicalize`, `plan_id_for` and [`to_bytes`], serialising the body once.
pub fn seal(plan: &mut Plan) -> Vec<u8> {
    canonicalize(plan);
    let body = wire::body_yaml(plan);
    plan.plan_id = id_of_body(&body);
    file_bytes(plan, &body)
}

/// Writes a plan file (atomically: a temporary file renamed into place).
pub fn write(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    write_bytes(path, &to_bytes(plan))
}

/// Writes plan-file bytes made by [`seal`] or [`to_bytes`] (atomically).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), PlanFileError> {
    let io = |source| PlanFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("yaml.tmp");
    // A failed write (disk full, a directory in the way) leaves no `*.tmp` behind.
    if let Err(e) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
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
    let raw = std::str::from_utf8(bytes)
        .map_err(|e| invalid(String::new(), format!("not UTF-8 text: {e}")))?;
    let text: std::borrow::Cow<str> = if raw.contains('\r') {
        raw.replace("\r\n", "\n").into()
    } else {
        raw.into()
    };
    let text = text.as_ref();
    let version = match wire::scan_version(text) {
        Some(v) => v,
        None => wire::peek_version(text).map_err(|(loc, m)| invalid(loc, m))?,
    };
    if version != FORMAT_VERSION.to_string() {
        return Err(PlanFileError::UnknownVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
            tool: crate::plan::TOOL_VERSION,
        });
    }
    let (plan, stamp_digest) = wire::parse_body(text).map_err(|(loc, m)| invalid(loc, m))?;
    // SHA-256 over every line but the `plan:` stamp, hashed in place (no copy of the file).
    let mut h = Sha256::new();
    let mut from = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("plan:") {
            h.update(&text.as_bytes()[from..at]);
            from = at + line.len();
        }
        at += line.len();
    }
    h.update(&text.as_bytes()[from..]);
    let computed = format!(
        "sha256:{}",
        finish_digest(h, &plan.plan_id, &plan.created_at)
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

/// Ends the digest of a plan file's unsigned text (already fed to `h`): then the plan id
/// and creation time, each after a NUL.
fn finish_digest(mut h: Sha256, plan_id: &str, created_at: &str) -> String {
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
    use std::collections::BTreeMap;
    use std::fmt::Write;
    // Tenant text in a comment: escaped (`\u{1b}`, `\n`), so no control or line break of
    // a name reaches the file raw and the file always reads back.
    use crate::render::safe;
    // Counts per step and kind, in one pass (plans can hold 100,000s of actions).
    let mut counts: BTreeMap<(Step, crate::plan::ActionKind), usize> = BTreeMap::new();
    for a in &plan.actions {
        *counts.entry((a.step(), a.kind)).or_default() += 1;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# closeout plan: close tenant {} ({}, {})",
        safe(&plan.tenant.display_name),
        safe(&plan.tenant.initial_domain),
        safe(&plan.tenant.id)
    );
    let kept: Vec<String> = plan
        .keep
        .iter()
        .map(|k| match k.roles.is_empty() {
            true => safe(&k.user_principal_name).into_owned(),
            false => format!(
                "{} ({})",
                safe(&k.user_principal_name),
                safe(&k.roles.join(", "))
            ),
        })
        .collect();
    let _ = writeln!(out, "# Kept: {}\n#", kept.join(", "));
    for step in Step::ALL {
        let kinds: Vec<(crate::plan::ActionKind, usize)> = counts
            .range((step, crate::plan::ActionKind::DisableDirectorySync)..)
            .take_while(|((s, _), _)| *s == step)
            .map(|((_, k), n)| (*k, *n))
            .collect();
        let manual: usize = kinds
            .iter()
            .filter(|(k, _)| k.is_manual())
            .map(|(_, n)| n)
            .sum();
        let auto = kinds.iter().map(|(_, n)| n).sum::<usize>() - manual;
        let what = match (auto, manual) {
            (0, 0) => "nothing to do".to_string(),
            (a, 0) => format!("{a} automated"),
            (0, m) => format!("{m} manual"),
            (a, m) => format!("{a} automated, {m} manual"),
        };
        let detail: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{n} {}", k.describe()))
            .collect();
        let _ = writeln!(
            out,
            "#   step {}  {:<36} {what}",
            step.number(),
            step.title()
        );
        // The kinds below, wrapped at about 90 columns.
        let mut line = String::new();
        for (i, d) in detail.iter().enumerate() {
            let piece = if i + 1 < detail.len() {
                format!("{d},")
            } else {
                d.clone()
            };
            if !line.is_empty() && line.len() + piece.len() > 78 {
                let _ = writeln!(out, "#            {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&piece);
        }
        if !line.is_empty() {
            let _ = writeln!(out, "#            {line}");
        }
    }
    let _ = writeln!(out, "#\n# {}", plan.summary().line());
    // What the plan destroys beyond its objects, wrapped at about 90 columns.
    for sentence in plan.data_at_risk() {
        let mut line = String::new();
        for word in sentence.split(' ') {
            if !line.is_empty() && line.len() + word.len() > 86 {
                let _ = writeln!(out, "# {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        let _ = writeln!(out, "# {line}");
    }
    out.push_str(
        "#\n# Manual actions are done by a person in the admin centers; closeout verifies them by\n\
         # reading the tenant. `closeout apply` executes exactly the actions below and refuses\n\
         # this file if it is edited or if the tenant changed since it was planned (stale plan).\n\
         # Read it as a table: closeout show THIS_FILE [--format markdown|json] [--redact]\n",
    );
    out
}
