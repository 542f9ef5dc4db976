//! The plan file: closeout's YAML wire format for a [`Plan`] (format version 2), its
//! integrity digest, and the byte-exact check every reader goes through. The only place that
//! knows the file's bytes; must not know about Graph or apply.
//!
//! Layout: a comment header summarising the plan for reviewers, `format_version: 2`, one
//! `plan:` stamp line (`{id, created_at, digest}`), and the body. A file is accepted only if
//! its bytes are exactly what [`to_bytes`] writes for what was read (the reader writes each
//! piece again and compares, piece by piece, without a second copy of the file), with one
//! span excluded: the 64 hex digits of the stamp's digest, by byte offset. The digest is
//! SHA-256 over every other byte of the file, so any edit, comments included, is detected
//! (it is not a signature: a forger can recompute it; apply's guards hold whatever the file
//! says). One exception to byte-exactness: a file whose every line ends in CRLF (git's
//! `core.autocrlf` on Windows) is read as if its line breaks were LF.
//!
//! Identifiers have one spelling, written and required: directory object ids lower-case
//! hyphenated GUIDs, domain names lower-case ASCII (punycode), addresses `KIND.ID` built
//! from them ([`crate::ident`]).

mod read;
mod yaml;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::input::{self, FileKind};
use crate::plan::{Action, Plan, SharedText, Tally};

pub use yaml::FORMAT_VERSION;

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{0}")]
    Io(#[from] input::InputError),
    #[error("{path}: cannot write the plan file: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Closeout's own layout, but a value closeout never writes (a non-canonical id, a
    /// duplicate kept user or address); `location` is `:LINE`.
    #[error("{path}{location}: not a valid closeout plan file: {message}")]
    Invalid {
        path: PathBuf,
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
    /// The bytes are not what closeout writes: `found` is the file's line `line` with
    /// invisible characters made visible (cut to a few hundred characters), `expected` what
    /// closeout writes there, where known.
    #[error(
        "{path}:{line}: the plan file was edited after it was made: {detail}\n  line {line}: {found}{}\n\
         closeout applies only the plan that was reviewed: run `closeout plan` again",
        expected.as_ref().map(|e| format!("\n  closeout writes: {e}")).unwrap_or_default()
    )]
    Edited {
        path: PathBuf,
        line: usize,
        detail: String,
        found: String,
        expected: Option<String>,
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

/// Puts the plan's sets in their canonical order and its identifiers in their canonical
/// spelling, so the same tenant gives the same file whatever order or case Graph answered
/// in: object ids lower-case (GUIDs without braces; domain names as lower-case punycode),
/// addresses rebuilt from them, each action's `depends_on` (step gates first, then
/// addresses, sorted, without duplicates), the kept users (by userPrincipalName, compared
/// case-insensitively, then id) and their roles. The order of the actions is the planner's
/// (by step, then a stable key) and is kept. Ids that cannot be spelt canonically are left
/// as they are (the file then does not read back: [`parse`] names them).
pub fn canonicalize(plan: &mut Plan) {
    let fix_guid = |s: &mut String| {
        if let Some(c) = crate::ident::canonical_guid(s) {
            *s = c;
        }
    };
    fix_guid(&mut plan.tenant.id);
    if let Some(d) = crate::ident::canonical_domain(&plan.tenant.initial_domain) {
        plan.tenant.initial_domain = d;
    }
    for a in &mut plan.actions {
        if let Some(id) = a.kind.canonical_id(&a.object_id) {
            a.object_id = SharedText::own(&id);
        }
        a.address = SharedText::own(&Action::address_of(a.kind, &a.object_id));
        for d in &mut a.depends_on {
            if let Some((k, id)) = d.split_once('.') {
                let k = crate::plan::ActionKind::from_name(k);
                if let Some((k, id)) = k.and_then(|k| Some((k, k.canonical_id(id)?))) {
                    *d = Action::address_of(k, &id).into();
                }
            }
        }
        a.depends_on
            .sort_by(|x, y| (!x.starts_with("step:"), x).cmp(&(!y.starts_with("step:"), y)));
        a.depends_on.dedup();
    }
    for k in &mut plan.keep {
        fix_guid(&mut k.id);
        k.roles.sort();
        k.roles.dedup();
    }
    plan.keep.sort_by(|a, b| {
        crate::ident::cmp_upn(&a.user_principal_name, &b.user_principal_name)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Renders a plan as plan-file bytes, as it is (deterministic for a given plan; no
/// canonical order imposed, the digest computed). [`seal`] is what `closeout plan` uses.
pub fn to_bytes(plan: &Plan) -> Vec<u8> {
    let mut body = String::new();
    yaml::write_body(&mut body, plan);
    file_bytes(plan, &plan.plan_id, &body)
}

fn file_bytes(plan: &Plan, plan_id: &str, body: &str) -> Vec<u8> {
    let mut out = String::with_capacity(body.len() + 4096);
    yaml::write_header(&mut out, plan);
    out.push_str(&yaml::version_line());
    let zeros = "0".repeat(64);
    let (d0, d1) = yaml::write_stamp(&mut out, plan_id, &plan.created_at, &zeros);
    out.push_str(body);
    let digest = digest_of(out.as_bytes(), (d0, d1));
    out.replace_range(d0..d1, &digest);
    out.into_bytes()
}

/// SHA-256 over `text` without the byte range `span` (the digest's hex digits), in hex.
fn digest_of(text: &[u8], span: (usize, usize)) -> String {
    let mut h = Sha256::new();
    h.update(&text[..span.0]);
    h.update(&text[span.1..]);
    hex(&h.finalize())
}

/// The deterministic plan id for a plan body: the first 16 hex digits of its SHA-256.
pub fn plan_id_for(plan: &Plan) -> String {
    let mut body = String::new();
    yaml::write_body(&mut body, plan);
    id_of_body(&body)
}

fn id_of_body(body: &str) -> String {
    // The body holds neither the plan id nor the creation time (they are on the stamp line).
    hex(&Sha256::digest(body.as_bytes()))[..16].to_string()
}

/// Makes a computed plan ready to save: canonical order and spelling ([`canonicalize`]),
/// its id derived from its content, and the plan-file bytes. Equivalent to `canonicalize`,
/// `plan_id_for` and [`to_bytes`], serialising the body once.
pub fn seal(plan: &mut Plan) -> Vec<u8> {
    canonicalize(plan);
    let mut body = String::new();
    yaml::write_body(&mut body, plan);
    plan.plan_id = id_of_body(&body);
    file_bytes(plan, &plan.plan_id.clone(), &body)
}

/// [`seal`] without the bytes: canonical order and spelling, and the plan's id, hashing the
/// body piece by piece (for `closeout plan` without `-o`, and before [`seal_to_file`]).
pub fn seal_id(plan: &mut Plan) {
    canonicalize(plan);
    let mut h = Sha256::new();
    yaml::write_body_pieces(plan, &mut |piece| h.update(piece.as_bytes()));
    plan.plan_id = hex(&h.finalize())[..16].to_string();
}

/// [`seal`] and [`write_bytes`] in one, streamed: the file is written piece by piece while
/// its digest is computed, then the digest is written into the stamp, so a plan of
/// 100,000s of actions never exists as one string in memory. The file holds exactly the
/// bytes [`seal`] returns. Atomic (a temporary file renamed into place).
///
/// Errors: [`PlanFileError::Write`] when the file cannot be written.
pub fn seal_to_file(path: &Path, plan: &mut Plan) -> Result<(), PlanFileError> {
    seal_id(plan);
    write_streamed(path, plan)
}

/// Writes `plan` as it is (the bytes of [`to_bytes`]) to `path` without building them in
/// memory: header and stamp (digest zeroed), then the body in pieces, each hashed as it is
/// written; finally the digest over it all replaces the zeros in place.
fn write_streamed(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    use std::io::{Seek, SeekFrom, Write};
    let io = |source| PlanFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("yaml.tmp");
    let result = (|| -> std::io::Result<()> {
        let mut head = String::with_capacity(4096);
        yaml::write_header(&mut head, plan);
        head.push_str(&yaml::version_line());
        let zeros = "0".repeat(64);
        let (d0, d1) = yaml::write_stamp(&mut head, &plan.plan_id, &plan.created_at, &zeros);
        let mut h = Sha256::new();
        h.update(&head.as_bytes()[..d0]);
        h.update(&head.as_bytes()[d1..]);
        let mut w = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp)?);
        w.write_all(head.as_bytes())?;
        let mut failed = None;
        yaml::write_body_pieces(plan, &mut |piece| {
            if failed.is_none() {
                h.update(piece.as_bytes());
                failed = w.write_all(piece.as_bytes()).err();
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let mut file = w.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(d0 as u64))?;
        file.write_all(hex(&h.finalize()).as_bytes())?;
        file.flush()
    })();
    // A failed write or rename (disk full, a directory in the way) leaves no `*.tmp` behind.
    if let Err(e) = result.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// Checks what [`parse`] will require of a plan's identifiers before it is saved: canonical
/// tenant id, initial domain, kept user ids and action ids, no kept user or address twice.
/// A tenant whose ids closeout cannot spell canonically (a server answering something else
/// than GUIDs) gives a plan closeout would refuse to read, so it is not written.
///
/// Errors: the first offending field, as a message.
pub fn check_identifiers(plan: &Plan) -> Result<(), String> {
    use crate::ident::{is_domain, is_guid, same_upn};
    let bad = |field: &str, v: &str| {
        format!(
            "{field} '{}' cannot be written in its canonical spelling",
            input::excerpt(v)
        )
    };
    if !is_guid(&plan.tenant.id) {
        return Err(bad("tenant.id", &plan.tenant.id));
    }
    if !is_domain(&plan.tenant.initial_domain) {
        return Err(bad("tenant.initial_domain", &plan.tenant.initial_domain));
    }
    for (i, k) in plan.keep.iter().enumerate() {
        if !is_guid(&k.id) {
            return Err(bad("keep[].id", &k.id));
        }
        if plan.keep[..i]
            .iter()
            .any(|o| o.id == k.id || same_upn(&o.user_principal_name, &k.user_principal_name))
        {
            return Err(bad("keep[] (listed twice)", &k.user_principal_name));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for a in &plan.actions {
        if !a.kind.is_canonical_id(&a.object_id) {
            return Err(bad("actions[].id", &a.object_id));
        }
        if !seen.insert(a.address.as_str()) {
            return Err(bad("actions[].address (listed twice)", &a.address));
        }
    }
    Ok(())
}

/// Writes a plan file as it is (the bytes of [`to_bytes`], streamed; atomically: a
/// temporary file renamed into place).
pub fn write(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    write_streamed(path, plan)
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

/// Reads and verifies a plan file ([`input::read_file`] with the plan bound, then
/// [`parse`]).
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let bytes = input::read_file(path, FileKind::Plan)?;
    parse(path, &bytes)
}

/// Chooses, action by action in file order, those a partial read keeps ([`read_kept`]):
/// called with the plan as read so far (everything before the actions: tenant, kept
/// users, target, pre-flight checklist; no actions, no `data`) and the action just read
/// and verified, which it returns to keep (`None`: the plan does not keep it). A callback
/// may also count the action, or take it elsewhere (the JSON view renders it).
pub type KeepFn<'k> = dyn FnMut(&Plan, Action) -> Option<Action> + 'k;

/// A plan file's bytes, read once ([`input::read_file`] with the plan bound), for views
/// that read them more than once (a redacted view: the names first, then the view): every
/// pass reads the same bytes, whatever happens to the file meanwhile.
pub struct PlanBytes {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
}

impl PlanBytes {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> Result<PlanBytes, PlanFileError> {
        Ok(PlanBytes {
            path: path.to_path_buf(),
            bytes: input::read_file(path, FileKind::Plan)?,
        })
    }

    /// [`parse_kept`] of these bytes (each call verifies them whole again).
    pub fn read_kept(&self, keep: &mut KeepFn) -> Result<(Plan, Tally), PlanFileError> {
        parse_kept(&self.path, &self.bytes, keep)
    }
}

/// [`read`] for a view that shows only some actions: the file is verified exactly as by
/// [`read`] (every action read, written again and compared; the header, every refusal and
/// the digest), but the plan keeps only the actions for which `keep` is true, in file
/// order; the [`Tally`] counts all of them. Memory grows with what is kept, not with the
/// plan (`closeout show` of a 100,000-user plan keeps a few dozen actions).
pub fn read_kept(path: &Path, keep: &mut KeepFn) -> Result<(Plan, Tally), PlanFileError> {
    let bytes = input::read_file(path, FileKind::Plan)?;
    parse_kept(path, &bytes, keep)
}

/// The 1-based line of byte `offset` and that line of `text` made safe to show.
fn line_at(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let start = text.as_bytes()[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = text.as_bytes()[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| offset + i);
    let line = 1 + text.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    (line, input::excerpt(&text[start..end]))
}

/// Parses and verifies plan-file bytes; `path` is only used in messages.
///
/// Refuses, in this order: text that is not UTF-8 ([`PlanFileError::Edited`]); a version
/// other than [`FORMAT_VERSION`] ([`PlanFileError::UnknownVersion`]); any line break but
/// `\n` (lone CR, NEL, U+2028, U+2029, VT, FF; CRLF throughout the file is read as LF) and
/// any raw control or invisible character; bytes that are not what closeout writes for the
/// content read (unknown, missing, duplicate or reordered keys, comments, anchors, aliases,
/// tags, other quoting, a second document) — each [`PlanFileError::Edited`] naming the first
/// differing line; non-canonical ids and duplicate objects ([`PlanFileError::Invalid`]); a
/// digest that does not match ([`PlanFileError::Tampered`]).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Plan, PlanFileError> {
    parse_kept(path, bytes, &mut |_, a| Some(a)).map(|(plan, _)| plan)
}

/// [`parse`] keeping only the actions `keep` chooses ([`read_kept`]).
pub fn parse_kept(
    path: &Path,
    bytes: &[u8],
    keep: &mut KeepFn,
) -> Result<(Plan, Tally), PlanFileError> {
    let edited = |text: &str, offset: usize, detail: String, expected: Option<String>| {
        let (line, found) = line_at(text, offset);
        PlanFileError::Edited {
            path: path.to_path_buf(),
            line,
            detail,
            found,
            expected: expected.map(|e| input::excerpt(&e)),
        }
    };
    let raw = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let ok = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            return Err(edited(
                ok,
                ok.len(),
                format!("not UTF-8 text (byte {})", e.valid_up_to()),
                None,
            ));
        }
    };
    // CRLF throughout (git core.autocrlf) reads as LF; any other CR is refused below.
    let lf: String;
    let text: &str = if raw.contains('\r') && is_crlf_throughout(raw) {
        lf = raw.replace("\r\n", "\n");
        &lf
    } else {
        raw
    };
    // The version first, so a file of another version is "unknown version", not "edited".
    let version_at = text
        .split_inclusive('\n')
        .scan(0usize, |at, l| {
            let here = *at;
            *at += l.len();
            Some((here, l))
        })
        .find(|(_, l)| !l.starts_with('#'))
        .map(|(at, _)| at)
        .unwrap_or(text.len());
    let first = text[version_at..].split('\n').next().unwrap_or("");
    let first = match first.starts_with("format_version:") {
        true => first,
        // Another version may lay its file out otherwise: its version line wherever it is.
        false => text
            .split('\n')
            .find(|l| l.starts_with("format_version: "))
            .filter(|l| {
                let v = &l["format_version: ".len()..];
                !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && *v != FORMAT_VERSION.to_string()
            })
            .unwrap_or(first),
    };
    match first.strip_prefix("format_version: ") {
        Some(v) if v == FORMAT_VERSION.to_string() => {}
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(PlanFileError::UnknownVersion {
                path: path.to_path_buf(),
                found: v.to_string(),
                supported: FORMAT_VERSION,
                tool: crate::plan::TOOL_VERSION,
            })
        }
        _ if version_at == text.len() || !text.contains("format_version") => {
            return Err(PlanFileError::Invalid {
                path: path.to_path_buf(),
                location: String::new(),
                message: "no format_version line after the comment header: this is not a closeout plan file".into(),
            })
        }
        _ => {
            return Err(edited(
                text,
                version_at,
                format!("expected `format_version: {FORMAT_VERSION}` after the comment header"),
                None,
            ))
        }
    }
    // The search for raw control characters and the digest run on a second thread while
    // the text is read and compared (the passes over the file cost the time of the
    // longest). A control character is refused first, whatever the reader found after it.
    std::thread::scope(|scope| {
        let span = read::digest_span(text, version_at);
        let side = scope.spawn(move || {
            let hidden = input::first_hidden_or_control(text);
            let digest = match (hidden, span) {
                (None, Some(span)) => Some((span, digest_of(text.as_bytes(), span))),
                _ => None,
            };
            (hidden, digest)
        });
        let read = check_and_read(path, text, version_at, keep, &edited);
        let (hidden, digest) = side.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        if let Some((at, c)) = hidden {
            return Err(hidden_at(text, at, c, &edited));
        }
        let read = read?;
        let computed = match digest {
            Some((span, h)) if span == read.digest_span => h,
            _ => digest_of(text.as_bytes(), read.digest_span),
        };
        if computed != read.digest_hex {
            return Err(PlanFileError::Tampered {
                path: path.to_path_buf(),
                recorded: format!("sha256:{}", read.digest_hex),
                computed: format!("sha256:{computed}"),
            });
        }
        Ok((read.plan, read.tally))
    })
}

/// The refusal of a raw control or invisible character `c` at byte `at`.
fn hidden_at(text: &str, at: usize, c: char, edited: &EditedAt) -> PlanFileError {
    let what = match c {
        '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
            "a line break other than \\n"
        }
        _ => "a control or invisible character",
    };
    edited(
        text,
        at,
        format!(
            "{what} ({}); closeout writes such characters only escaped",
            input::excerpt(&c.to_string())
        ),
        None,
    )
}

/// Makes the [`PlanFileError::Edited`] of a text, an offset, the detail and what closeout writes.
type EditedAt<'e> = dyn Fn(&str, usize, String, Option<String>) -> PlanFileError + 'e;

/// The checks of [`parse`] after the version, but the digest and raw control characters
/// (the caller's): the reader's byte-exact compare piece by piece, then the header.
fn check_and_read(
    path: &Path,
    text: &str,
    version_at: usize,
    keep: &mut KeepFn,
    edited: &EditedAt,
) -> Result<read::Parsed, PlanFileError> {
    let parsed = read::read(text, version_at, keep).map_err(|r| match r {
        read::Refusal::Edited {
            offset,
            detail,
            expected,
        } => edited(text, offset, detail, expected),
        read::Refusal::Invalid { offset, message } => PlanFileError::Invalid {
            path: path.to_path_buf(),
            location: format!(":{}", line_at(text, offset).0),
            message,
        },
    })?;
    let mut header = String::new();
    yaml::write_header_with(&mut header, &parsed.plan, &parsed.tally);
    read::compare(&text[..version_at], &header, 0).map_err(|r| match r {
        read::Refusal::Edited {
            offset,
            detail,
            expected,
        } => edited(text, offset, detail, expected),
        read::Refusal::Invalid { offset, message } => edited(text, offset, message, None),
    })?;
    Ok(parsed)
}

/// Every `\n` is preceded by `\r` and every `\r` followed by `\n`.
fn is_crlf_throughout(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'\r' => b.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && b[i - 1] == b'\r',
        _ => true,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests;
