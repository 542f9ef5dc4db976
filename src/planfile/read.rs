//! The plan file's reader (format version 2): a strict, line-oriented reader of exactly the
//! layout [`super::yaml`] writes. Each piece it reads (the tenant, each kept user, each
//! pre-flight check, each action) is written again at once and compared with the bytes it
//! was read from, so a file is accepted only if it is byte for byte what closeout writes for
//! its content, while never holding a second copy of more than one action. No YAML library
//! is involved: anchors, aliases, tags, merge keys, comments, other quoting styles, unknown
//! or duplicate keys are simply not what the writer writes. Private to the file layer.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use serde_json::Value;

use super::yaml;
use crate::ident;
use crate::plan::{
    Action, ActionKind, Check, DataReport, DataTotal, Fields, KeptUser, Plan, SiteData, Tally,
    Target, TenantRef, UserData,
};

/// The deepest nesting of a `before`/`after` value the reader follows.
const MAX_VALUE_DEPTH: usize = 16;

/// Why the reader refused a file, at a byte offset of the text.
#[derive(Debug)]
pub enum Refusal {
    /// Not what closeout writes here: `expected` is the line closeout writes, where known.
    Edited {
        offset: usize,
        detail: String,
        expected: Option<String>,
    },
    /// What closeout writes, but a value it never writes (a non-canonical id, a duplicate).
    Invalid { offset: usize, message: String },
}

type R<T> = Result<T, Refusal>;

fn edited(offset: usize, detail: impl Into<String>) -> Refusal {
    Refusal::Edited {
        offset,
        detail: detail.into(),
        expected: None,
    }
}

/// A parsed file: the plan (with the actions the caller kept), the tally of all its
/// actions, the recorded digest's hex digits and their byte range.
pub struct Parsed {
    pub plan: Plan,
    pub tally: Tally,
    pub digest_hex: String,
    pub digest_span: (usize, usize),
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    scratch: String,
}

impl<'a> Reader<'a> {
    /// The current line without its `\n`.
    fn line(&self) -> R<&'a str> {
        let rest = &self.text[self.pos..];
        if rest.is_empty() {
            return Err(edited(self.pos, "the file ends early"));
        }
        match rest.find('\n') {
            Some(n) => Ok(&rest[..n]),
            None => Err(edited(self.pos, "the last line has no line break")),
        }
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn peek(&self, prefix: &str) -> bool {
        self.text[self.pos..].starts_with(prefix)
    }

    fn advance(&mut self, line: &str) {
        self.pos += line.len() + 1;
    }

    /// The line is exactly `expected`.
    fn exact(&mut self, expected: &str) -> R<()> {
        let l = self.line()?;
        if l != expected {
            return Err(Refusal::Edited {
                offset: self.pos,
                detail: "not what closeout writes here".into(),
                expected: Some(expected.to_string()),
            });
        }
        self.advance(l);
        Ok(())
    }

    /// The line starts with `prefix` (e.g. `  name: `): the rest of it, raw.
    fn raw_field(&mut self, prefix: &str) -> R<(&'a str, usize)> {
        let l = self.line()?;
        let at = self.pos;
        match l.strip_prefix(prefix) {
            Some(v) => {
                self.advance(l);
                Ok((v, at + prefix.len()))
            }
            None => Err(Refusal::Edited {
                offset: at,
                detail: format!("expected `{}` here", prefix.trim_end()),
                expected: None,
            }),
        }
    }

    /// A string field: `prefix` then one scalar.
    fn string_field(&mut self, prefix: &str) -> R<(String, usize)> {
        let (raw, at) = self.raw_field(prefix)?;
        Ok((string(raw, at)?, at))
    }

    fn bool_field(&mut self, prefix: &str) -> R<bool> {
        let (raw, at) = self.raw_field(prefix)?;
        match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(edited(at, format!("`{}` is true or false", prefix.trim()))),
        }
    }

    /// A list of strings under `key` at `indent` (`""` or `"  "`): `key: []` or `key:` and
    /// `- item` lines.
    fn string_list(&mut self, indent: &str, key: &str) -> R<Vec<String>> {
        let l = self.line()?;
        let rest = l
            .strip_prefix(indent)
            .and_then(|r| r.strip_prefix(key))
            .and_then(|r| r.strip_prefix(':'));
        match rest {
            Some(" []") => {
                self.advance(l);
                return Ok(Vec::new());
            }
            Some("") => self.advance(l),
            _ => {
                return Err(Refusal::Edited {
                    offset: self.pos,
                    detail: "not what closeout writes here".into(),
                    expected: Some(format!("{indent}{key}:")),
                })
            }
        }
        let item = if indent.is_empty() { "- " } else { "  - " };
        let mut items = Vec::new();
        while self.peek(item) {
            items.push(self.string_field(item)?.0);
        }
        if items.is_empty() {
            return Err(edited(self.pos, format!("`{key}:` without items")));
        }
        Ok(items)
    }

    /// Writes a piece again and compares it with the bytes it was read from (`start..pos`).
    fn check(&mut self, start: usize, write: impl FnOnce(&mut String)) -> R<()> {
        self.scratch.clear();
        write(&mut self.scratch);
        compare(&self.text[start..self.pos], &self.scratch, start)
    }

    /// A list section: `key: []`, or `key:` and items each starting with `- `.
    fn section<T>(&mut self, key: &str, mut item: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        let l = self.line()?;
        if l == format!("{key}: []") {
            self.advance(l);
            return Ok(Vec::new());
        }
        self.exact(&format!("{key}:"))?;
        let mut items = Vec::new();
        while self.peek("- ") {
            items.push(item(self)?);
        }
        if items.is_empty() {
            return Err(edited(self.pos, format!("`{key}:` without items")));
        }
        Ok(items)
    }

    /// `key: value` entries of a JSON object at `indent` spaces.
    /// Collected into `M`: a JSON object for nested values, [`Fields`] for `before`/`after`.
    fn json_entries<M>(&mut self, indent: usize, depth: usize) -> R<M>
    where
        M: Default + Extend<(String, Value)>,
    {
        if depth > MAX_VALUE_DEPTH {
            return Err(edited(
                self.pos,
                "a value nested deeper than closeout writes",
            ));
        }
        let mut map = M::default();
        while !self.at_end() && self.indent_is(indent) {
            let l = self.line()?;
            let at = self.pos;
            let (key, rest) = split_key(&l[indent..], at + indent)?;
            self.advance(l);
            let value = self.json_rest(rest, at, (indent, indent + 2), depth)?;
            map.extend([(key, value)]);
        }
        Ok(map)
    }

    /// The line starts with exactly `indent` spaces and then something else.
    fn indent_is(&self, indent: usize) -> bool {
        let b = &self.text.as_bytes()[self.pos..];
        b.len() > indent && b[..indent].iter().all(|&c| c == b' ') && b[indent] != b' '
    }

    /// The value after `key:` or `-` (`rest` is the line's remainder): a nested array's
    /// items would be at `nested.0` spaces, a nested object's entries at `nested.1`.
    fn json_rest(
        &mut self,
        rest: &str,
        at: usize,
        nested: (usize, usize),
        depth: usize,
    ) -> R<Value> {
        match rest {
            " []" => Ok(Value::Array(Vec::new())),
            " {}" => Ok(Value::Object(serde_json::Map::new())),
            "" => {
                let (seq, map) = nested;
                if self.indent_is(seq) && self.peek(&format!("{}-", " ".repeat(seq))) {
                    self.json_items(seq, depth + 1).map(Value::Array)
                } else if self.indent_is(map) {
                    self.json_entries::<serde_json::Map<String, Value>>(map, depth + 1)
                        .map(Value::Object)
                } else {
                    Err(edited(self.pos, "a value is missing"))
                }
            }
            r => match r.strip_prefix(' ') {
                Some(v) => json_scalar(v, at),
                None => Err(edited(at, "expected `: ` after a key")),
            },
        }
    }

    /// `- value` items of a JSON array at `indent` spaces.
    fn json_items(&mut self, indent: usize, depth: usize) -> R<Vec<Value>> {
        if depth > MAX_VALUE_DEPTH {
            return Err(edited(
                self.pos,
                "a value nested deeper than closeout writes",
            ));
        }
        let dash = format!("{}-", " ".repeat(indent));
        let mut items = Vec::new();
        while self.indent_is(indent) && self.peek(&dash) {
            let l = self.line()?;
            let at = self.pos;
            let rest = &l[dash.len()..];
            self.advance(l);
            items.push(self.json_rest(rest, at + dash.len(), (indent + 2, indent + 2), depth)?);
        }
        Ok(items)
    }

    fn json_map(&mut self, key: &str) -> R<Fields> {
        let head = format!("  {key}:");
        if self.line()? != head {
            return Ok(Fields::new());
        }
        self.exact(&head)?;
        let mut map: Fields = self.json_entries(4, 1)?;
        map.shrink_to_fit();
        if map.is_empty() {
            return Err(edited(self.pos, format!("`{key}:` without entries")));
        }
        Ok(map)
    }
}

/// Compares bytes read at offset `start` with what the writer writes for them: the first
/// differing byte and the line closeout writes there.
pub fn compare(found: &str, wrote: &str, start: usize) -> R<()> {
    let (f, w) = (found.as_bytes(), wrote.as_bytes());
    if f == w {
        return Ok(());
    }
    let k = f
        .iter()
        .zip(w)
        .position(|(a, b)| a != b)
        .unwrap_or(f.len().min(w.len()));
    // Back to a character boundary of both texts.
    let mut k = k;
    while k > 0 && !(wrote.is_char_boundary(k) && found.is_char_boundary(k)) {
        k -= 1;
    }
    let line_start = wrote[..k].rfind('\n').map_or(0, |i| i + 1);
    let line_end = wrote[k..].find('\n').map_or(wrote.len(), |i| k + i);
    Err(Refusal::Edited {
        offset: start + k,
        detail: "not what closeout writes here".into(),
        expected: Some(wrote[line_start..line_end].to_string()),
    })
}

/// A plain or double-quoted scalar as a string.
fn string(raw: &str, at: usize) -> R<String> {
    if raw.starts_with('"') {
        let (s, used) = unquote(raw, at)?;
        if used != raw.len() {
            return Err(edited(at + used, "text after a quoted value"));
        }
        Ok(s)
    } else if raw.is_empty() {
        Err(edited(at, "a value is missing"))
    } else {
        Ok(raw.to_string())
    }
}

/// Decodes a double-quoted scalar at the start of `raw` (the escapes the writer uses);
/// returns it and the bytes it took.
fn unquote(raw: &str, at: usize) -> R<(String, usize)> {
    let mut out = String::new();
    let mut chars = raw.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let bad = || edited(at + i, "an escape closeout does not write");
                let (_, e) = chars.next().ok_or_else(bad)?;
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let hex: String =
                            (0..n).filter_map(|_| chars.next().map(|x| x.1)).collect();
                        let c = (hex.len() == n)
                            .then(|| u32::from_str_radix(&hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32)
                            .ok_or_else(bad)?;
                        out.push(c);
                    }
                    _ => return Err(bad()),
                }
            }
            c => out.push(c),
        }
    }
    Err(edited(at, "a quoted value does not end on its line"))
}

/// Splits `key: rest` (the key plain or double-quoted); `rest` starts after the colon.
fn split_key(l: &str, at: usize) -> R<(String, &str)> {
    if l.starts_with('"') {
        let (k, used) = unquote(l, at)?;
        return match l[used..].strip_prefix(':') {
            Some(rest) => Ok((k, rest)),
            None => Err(edited(at + used, "expected `:` after a key")),
        };
    }
    let end = match l.find(": ") {
        Some(i) => i,
        None if l.ends_with(':') => l.len() - 1,
        None => return Err(edited(at, "expected `key: value`")),
    };
    Ok((l[..end].to_string(), &l[end + 1..]))
}

/// A JSON scalar written by the writer: `null`, `true`, `false`, a number, or a string.
fn json_scalar(raw: &str, at: usize) -> R<Value> {
    if raw.starts_with('"') {
        return string(raw, at).map(Value::String);
    }
    Ok(match raw {
        "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "" => return Err(edited(at, "a value is missing")),
        _ => match serde_json::from_str::<serde_json::Number>(raw) {
            Ok(n) => Value::Number(n),
            Err(_) => Value::String(raw.to_string()),
        },
    })
}

fn invalid(offset: usize, message: String) -> Refusal {
    Refusal::Invalid { offset, message }
}

fn shown(s: &str) -> String {
    crate::input::excerpt(s)
}

/// Reads the stamp line: the plan id, creation time, and the digest's hex digits with
/// their byte range.
fn stamp(r: &mut Reader) -> R<(String, String, String, (usize, usize))> {
    let l = r.line()?;
    let at = r.pos;
    let bad = |detail: &str| Refusal::Edited {
        offset: at,
        detail: detail.to_string(),
        expected: None,
    };
    let rest = l
        .strip_prefix("plan: {id: \"")
        .ok_or_else(|| bad("expected the `plan:` stamp"))?;
    let (id, rest) = rest
        .split_once("\", created_at: \"")
        .ok_or_else(|| bad("the stamp is not what closeout writes"))?;
    let (created, rest) = rest
        .split_once("\", digest: \"sha256:")
        .ok_or_else(|| bad("the stamp is not what closeout writes"))?;
    let hex = rest
        .strip_suffix("\"}")
        .ok_or_else(|| bad("the stamp is not what closeout writes"))?;
    let hex_start = at + l.len() - 2 - hex.len();
    if id.len() != 16
        || !id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err(bad("the plan id is not 16 lower-case hex digits"));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return Err(bad("the digest is not 64 lower-case hex digits"));
    }
    if !is_utc_time(created) {
        return Err(bad("created_at is not a UTC time YYYY-MM-DDTHH:MM:SSZ"));
    }
    r.advance(l);
    Ok((
        id.to_string(),
        created.to_string(),
        hex.to_string(),
        (hex_start, hex_start + 64),
    ))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form closeout writes.
fn is_utc_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// The byte range of the stamp's digest digits, when the stamp line follows the version
/// line at `version_at` as closeout writes it (so the digest can be computed while the
/// rest is read); `None` otherwise (the reader then refuses the stamp).
pub fn digest_span(text: &str, version_at: usize) -> Option<(usize, usize)> {
    let mut r = Reader {
        text,
        pos: version_at,
        scratch: String::new(),
    };
    r.exact(&yaml::version_line()[..yaml::version_line().len() - 1])
        .ok()?;
    stamp(&mut r).ok().map(|s| s.3)
}

/// Reads a whole file (LF line breaks; raw control characters are the caller's to refuse,
/// searched for while this reads) whose
/// `format_version` line is at `version_at`; every action is verified, counted, and kept
/// in the plan when `keep` says so (a view of a large plan needs only some of them).
pub fn read(text: &str, version_at: usize, keep_action: &mut super::KeepFn) -> R<Parsed> {
    let mut r = Reader {
        text,
        pos: version_at,
        scratch: String::new(),
    };
    // The comment header: every line before the version line starts with `#` (it is
    // compared with the header written for the plan once the plan is read).
    r.exact(&yaml::version_line()[..yaml::version_line().len() - 1])?;
    let (plan_id, created_at, digest_hex, digest_span) = stamp(&mut r)?;

    let start = r.pos;
    let (tool_version, _) = r.string_field("closeout_version: ")?;
    r.exact("tenant:")?;
    let (tenant_id, id_at) = r.string_field("  id: ")?;
    let (display_name, _) = r.string_field("  display_name: ")?;
    let (initial_domain, domain_at) = r.string_field("  initial_domain: ")?;
    let tenant = TenantRef {
        id: tenant_id,
        display_name,
        initial_domain,
    };
    r.check(start, |o| yaml::write_tenant(o, &tool_version, &tenant))?;
    if !ident::is_guid(&tenant.id) {
        return Err(invalid(
            id_at,
            format!("tenant.id '{}' is not a lower-case GUID", shown(&tenant.id)),
        ));
    }
    if !ident::is_domain(&tenant.initial_domain) {
        return Err(invalid(
            domain_at,
            format!(
                "tenant.initial_domain '{}' is not a lower-case ASCII (punycode) domain name",
                shown(&tenant.initial_domain)
            ),
        ));
    }

    let keep = r.section("keep", |r| {
        let start = r.pos;
        let (id, id_at) = r.string_field("- id: ")?;
        let (upn, _) = r.string_field("  user_principal_name: ")?;
        let roles = r.string_list("  ", "roles")?;
        let k = KeptUser {
            id,
            user_principal_name: upn,
            roles,
        };
        r.check(start, |o| yaml::write_kept(o, &k))?;
        if let Some(w) = k.roles.windows(2).find(|w| w[0] >= w[1]) {
            return Err(invalid(
                id_at,
                format!(
                    "keep[].roles names '{}' twice or out of order (closeout writes them sorted, each once)",
                    shown(&w[1])
                ),
            ));
        }
        if !ident::is_guid(&k.id) {
            return Err(invalid(
                id_at,
                format!("keep[].id '{}' is not a lower-case GUID", shown(&k.id)),
            ));
        }
        Ok((k, id_at))
    })?;
    for (i, (k, at)) in keep.iter().enumerate() {
        if let Some((j, _)) = keep[..i].iter().enumerate().find(|(_, (o, _))| {
            o.id == k.id || ident::same_upn(&o.user_principal_name, &k.user_principal_name)
        }) {
            return Err(invalid(
                *at,
                format!(
                    "keep[{i}] names the same user as keep[{j}] ({}, {})",
                    shown(&k.id),
                    shown(&k.user_principal_name)
                ),
            ));
        }
    }
    let keep: Vec<KeptUser> = keep.into_iter().map(|(k, _)| k).collect();

    let start = r.pos;
    r.exact("target:")?;
    let target = Target {
        purge_recycle_bin: r.bool_field("  purge_recycle_bin: ")?,
        delete_applications: r.bool_field("  delete_applications: ")?,
        cancel_subscriptions: r.bool_field("  cancel_subscriptions: ")?,
        delete_subscriptions: r.bool_field("  delete_subscriptions: ")?,
        delete_tenant: r.bool_field("  delete_tenant: ")?,
        azure_subscriptions: if r.peek("  azure_subscriptions: ") {
            let (raw, at) = r.raw_field("  azure_subscriptions: ")?;
            crate::plan::AzurePolicy::parse(raw).ok_or_else(|| {
                edited(
                    at,
                    "`azure_subscriptions` is manual, cancel or none".to_string(),
                )
            })?
        } else {
            crate::plan::AzurePolicy::Manual
        },
        billing: crate::planner::BillingChannel::Manual,
        cancel_in_window: false,
    };
    let mut target = target;
    if r.peek("  billing: ") {
        let (raw, at) = r.raw_field("  billing: ")?;
        target.billing = crate::planner::BillingChannel::from_name(raw)
            .ok_or_else(|| edited(at, format!("unknown billing channel `{}`", shown(raw))))?;
        target.cancel_in_window = r.bool_field("  cancel_in_window: ")?;
    }
    r.check(start, |o| yaml::write_target(o, &target))?;

    let preflight = r.section("preflight", |r| {
        let start = r.pos;
        let (name, _) = r.string_field("- name: ")?;
        let passed = r.bool_field("  passed: ")?;
        let (requirement, _) = r.string_field("  requirement: ")?;
        let blocking = r.string_list("  ", "blocking")?;
        let more = if r.peek("  more: ") {
            let (raw, at) = r.raw_field("  more: ")?;
            raw.parse::<usize>()
                .map_err(|_| edited(at, "`more` is a count"))?
        } else {
            0
        };
        let not_checked = if r.peek("  not_checked: ") {
            Some(r.string_field("  not_checked: ")?.0)
        } else {
            None
        };
        let informational = r.peek("  informational: ") && r.bool_field("  informational: ")?;
        let c = Check {
            name,
            passed,
            requirement,
            blocking,
            more,
            not_checked,
            informational,
        };
        r.check(start, |o| yaml::write_check(o, &c))?;
        Ok(c)
    })?;

    // What the plan says before its actions, shown to `keep_action` with each action.
    let mut plan = Plan {
        tenant,
        plan_id,
        created_at,
        tool_version,
        keep,
        target,
        actions: Vec::new(),
        preflight,
        data: None,
    };
    // An address twice: the first action (in file order) whose address an earlier one has,
    // refused once every action is read (as before any other refusal of a later action).
    // The set holds a 128-bit keyed hash of each address, not the address: the actions not
    // kept are gone. Equal addresses always collide, so no duplicate passes; two different
    // addresses collide with odds of about n^2 / 2^129 (keys drawn per run).
    let hashers = (RandomState::new(), RandomState::new());
    let mut seen: HashSet<u128> = HashSet::new();
    let mut twice: Option<(usize, usize, String)> = None;
    let mut tally = Tally::default();
    let mut actions = Vec::new();
    // The kept actions by a hash of their address (see `share_with_prerequisites`).
    let mut kept_at: std::collections::HashMap<u64, u32> = Default::default();
    let mut scratch = String::new();
    let mut i = 0usize;
    read_actions(&mut r, &mut |p| {
        verify_action(text, &mut scratch, &p, i)?;
        let a = p.action;
        let h = (u128::from(hashers.0.hash_one(&a.address)) << 64)
            | u128::from(hashers.1.hash_one(&a.address));
        if !seen.insert(h) && twice.is_none() {
            twice = Some((i, p.address_at, a.address.to_string()));
        }
        tally.add(&a);
        i += 1;
        if let Some(mut a) = keep_action(&plan, a) {
            share_with_prerequisites(&mut a, &actions, &kept_at);
            kept_at.insert(address_key(&a.address), actions.len() as u32);
            actions.push(a);
        }
        Ok(())
    })?;
    drop(seen);
    if let Some((i, at, address)) = twice {
        return Err(invalid(
            at,
            format!("actions[{i}]: address {} appears twice", shown(&address)),
        ));
    }
    plan.actions = actions;
    plan.data = if r.peek("data:\n") {
        Some(data_section(&mut r)?)
    } else {
        None
    };
    if !r.at_end() {
        return Err(edited(
            r.pos,
            "not what closeout writes after the last action",
        ));
    }
    Ok(Parsed {
        plan,
        tally,
        digest_hex,
        digest_span,
    })
}

/// A count field: `prefix` then digits.
fn count_field(r: &mut Reader, prefix: &str) -> R<u64> {
    let (raw, at) = r.raw_field(prefix)?;
    raw.parse::<u64>().map_err(|_| {
        edited(
            at,
            format!("`{}` is a count", prefix.trim().trim_end_matches(':')),
        )
    })
}

/// `  NAME: {count: N, bytes: N, items: N}`.
fn data_total(r: &mut Reader, name: &str) -> R<DataTotal> {
    let (raw, at) = r.raw_field(&format!("  {name}: "))?;
    let bad = || edited(at, format!("`{name}` is {{count: N, bytes: N, items: N}}"));
    let inner = raw
        .strip_prefix("{count: ")
        .and_then(|x| x.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut parts = inner.split(", ");
    let count = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let bytes = parts
        .next()
        .and_then(|p| p.strip_prefix("bytes: "))
        .and_then(|p| p.parse().ok())
        .ok_or_else(bad)?;
    let items = parts
        .next()
        .and_then(|p| p.strip_prefix("items: "))
        .and_then(|p| p.parse().ok())
        .ok_or_else(bad)?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(DataTotal {
        count,
        bytes,
        items,
    })
}

/// The `data` section, compared byte for byte with what the writer gives for it.
fn data_section(r: &mut Reader) -> R<DataReport> {
    let start = r.pos;
    r.exact("data:")?;
    let backup_confirmed = r.bool_field("  backup_confirmed: ")?;
    let not_checked = if r.peek("  not_checked: ") {
        Some(r.string_field("  not_checked: ")?.0)
    } else {
        None
    };
    let (report_refresh_date, _) = r.string_field("  report_refresh_date: ")?;
    let names_concealed = r.bool_field("  names_concealed: ")?;
    let mailboxes = data_total(r, "mailboxes")?;
    let onedrive = data_total(r, "onedrive")?;
    let sites = data_total(r, "sites")?;
    let mut users = Vec::new();
    if r.peek("  users: []\n") {
        r.exact("  users: []")?;
    } else {
        r.exact("  users:")?;
        while r.peek("  - user_principal_name: ") {
            users.push(UserData {
                user_principal_name: r.string_field("  - user_principal_name: ")?.0,
                id: r.string_field("    id: ")?.0,
                mailbox_bytes: count_field(r, "    mailbox_bytes: ")?,
                mailbox_items: count_field(r, "    mailbox_items: ")?,
                onedrive_bytes: count_field(r, "    onedrive_bytes: ")?,
                onedrive_files: count_field(r, "    onedrive_files: ")?,
            });
        }
    }
    let mut site_list = Vec::new();
    if r.peek("  site_list: []\n") {
        r.exact("  site_list: []")?;
    } else {
        r.exact("  site_list:")?;
        while r.peek("  - url: ") {
            site_list.push(SiteData {
                url: r.string_field("  - url: ")?.0,
                bytes: count_field(r, "    bytes: ")?,
                files: count_field(r, "    files: ")?,
            });
        }
    }
    let d = DataReport {
        backup_confirmed,
        not_checked,
        report_refresh_date,
        names_concealed,
        mailboxes,
        onedrive,
        sites,
        users,
        site_list,
    };
    r.check(start, |o| yaml::write_data(o, &d))?;
    Ok(d)
}

/// A fixed hash of an address (equal addresses, equal keys; a collision is told apart by
/// comparing the addresses).
fn address_key(address: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    address.hash(&mut h);
    h.finish()
}

/// Makes `a` share the strings of the kept actions it depends on, as the planner's plan
/// does: a prerequisite is the kept action's own address, and an object id or name equal
/// to a prerequisite's is its copy (a `purge_user` and its `delete_user`: one id, one name,
/// one address; 20 MB of a 100,000-user plan). Nothing changes but where the bytes are.
fn share_with_prerequisites(
    a: &mut Action,
    kept: &[Action],
    kept_at: &std::collections::HashMap<u64, u32>,
) {
    let Action {
        depends_on,
        object_id,
        name,
        ..
    } = a;
    for d in depends_on.iter_mut() {
        let Some(b) = kept_at.get(&address_key(d)).map(|&i| &kept[i as usize]) else {
            continue;
        };
        if *b.address != **d {
            continue;
        }
        *d = b.address.clone();
        if b.object_id == *object_id {
            *object_id = b.object_id.clone();
        }
        if b.name == *name {
            *name = b.name.clone();
        }
    }
}

/// An action as read, before it is verified ([`verify_action`]): where it is in the file.
struct ReadAction {
    action: Action,
    /// Its bytes: `start..end`.
    start: usize,
    end: usize,
    address_at: usize,
    id_at: usize,
}

/// Actions read by [`read_actions`] per message between its two threads.
const BATCH: usize = 256;

/// The `actions` section: `actions: []`, or `actions:` and items each starting with `- `,
/// each read by [`read_action`] and given to `verify` (which verifies it and takes it) in
/// file order; the first refusal, of either, in file order, ends the read.
///
/// A large section is read on a second thread while this one verifies (the two costs
/// are about even, and the file's digest and control-character scan run on a third):
/// the reader stops at its first refusal, after the actions before it; a refusal of
/// `verify` stops the reader. The outcome is the one-thread reader's, in the same order.
fn read_actions(r: &mut Reader, verify: &mut dyn FnMut(ReadAction) -> R<()>) -> R<()> {
    let l = r.line()?;
    if l == "actions: []" {
        r.advance(l);
        return Ok(());
    }
    r.exact("actions:")?;
    if !r.peek("- ") {
        return Err(edited(r.pos, "`actions:` without items"));
    }
    // The reader's half: every action up to the first refusal, to `take`; `false` from
    // `take` stops it.
    fn read_all(r: &mut Reader, take: &mut dyn FnMut(ReadAction) -> bool) -> R<()> {
        while r.peek("- ") {
            let a = read_action(r)?;
            if !take(a) {
                return Ok(());
            }
        }
        Ok(())
    }
    if !pipelined(r) {
        let mut refused = None;
        let read = read_all(r, &mut |a| match verify(a) {
            Ok(()) => true,
            Err(e) => {
                refused = Some(e);
                false
            }
        });
        return match refused {
            Some(e) => Err(e),
            None => read,
        };
    }
    let (to_verify, batches) = std::sync::mpsc::sync_channel::<Vec<ReadAction>>(8);
    let mut reader = Reader {
        text: r.text,
        pos: r.pos,
        scratch: String::new(),
    };
    std::thread::scope(|scope| {
        let reading = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let read = read_all(&mut reader, &mut |a| {
                batch.push(a);
                if batch.len() < BATCH {
                    return true;
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                to_verify.send(full).is_ok()
            });
            if !batch.is_empty() {
                let _ = to_verify.send(batch);
            }
            (read, reader.pos)
        });
        let mut refused = None;
        'batches: for batch in batches.iter() {
            for a in batch {
                if let Err(e) = verify(a) {
                    refused = Some(e);
                    break 'batches;
                }
            }
        }
        // The reader stops at its next send once the channel is gone.
        drop(batches);
        let (read, pos) = reading
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        r.pos = pos;
        match refused {
            Some(e) => Err(e),
            None => read,
        }
    })
}

#[cfg(test)]
thread_local! {
    /// Tests choose the one-thread or the two-thread reader (`None`: by size).
    pub(crate) static PIPELINE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether [`read_actions`] reads the rest of `r` on a second thread: from a few hundred
/// KB on (about 500 bytes per action; a thread pays from about a hundred actions).
fn pipelined(r: &Reader) -> bool {
    #[cfg(test)]
    if let Some(p) = PIPELINE.with(|c| c.get()) {
        return p;
    }
    r.text.len() - r.pos >= BATCH * 1024
}

/// One action as written, parsed (not yet verified: [`verify_action`]).
fn read_action(r: &mut Reader) -> R<ReadAction> {
    let start = r.pos;
    let (address, address_at) = r.string_field("- address: ")?;
    let (_step, _) = r.raw_field("  step: ")?;
    let (kind, kind_at) = r.raw_field("  action: ")?;
    let kind = ActionKind::from_name(kind)
        .ok_or_else(|| edited(kind_at, format!("unknown action `{}`", shown(kind))))?;
    // `step` and `manual` follow from the kind: the compare below holds them to it.
    let (name, _) = r.string_field("  name: ")?;
    let (object_id, id_at) = r.string_field("  id: ")?;
    let automated = !r.peek("  manual: ");
    if !automated {
        r.exact("  manual: true")?;
    }
    let (reason, _) = r.string_field("  reason: ")?;
    let warnings = if r.peek("  warnings:") {
        r.string_list("  ", "warnings")?
    } else {
        Vec::new()
    };
    let instructions = if r.peek("  instructions: ") {
        Some(r.string_field("  instructions: ")?.0)
    } else {
        None
    };
    let depends_on = if r.peek("  depends_on:") {
        r.string_list("  ", "depends_on")?
    } else {
        Vec::new()
    };
    let commerce = if r.at_end() {
        Fields::new()
    } else {
        r.json_map("commerce")?
    };
    let before = if r.at_end() {
        Fields::new()
    } else {
        r.json_map("before")?
    };
    let after = if r.at_end() {
        Fields::new()
    } else {
        r.json_map("after")?
    };
    let a = Action {
        address: crate::plan::SharedText::own(&address),
        kind,
        object_id: crate::plan::SharedText::own(&object_id),
        name: crate::plan::SharedText::own(&name),
        reason: crate::plan::SharedText::new(&reason),
        before,
        after,
        depends_on: depends_on
            .into_iter()
            .map(crate::plan::SharedText::from)
            .collect(),
        warnings: warnings.into(),
        instructions,
        automated,
        commerce,
    };
    Ok(ReadAction {
        action: a,
        start,
        end: r.pos,
        address_at,
        id_at,
    })
}

/// Verifies action `i` read by [`read_action`]: its bytes are what closeout writes for
/// it, and its id, address and prerequisites are canonical.
fn verify_action(text: &str, scratch: &mut String, p: &ReadAction, i: usize) -> R<()> {
    let (a, kind, id_at, address_at) = (&p.action, p.action.kind, p.id_at, p.address_at);
    scratch.clear();
    yaml::write_action(scratch, a);
    compare(&text[p.start..p.end], scratch, p.start)?;
    if !kind.is_canonical_id(&a.object_id) {
        return Err(invalid(
            id_at,
            format!(
                "actions[{i}].id '{}' is not {}",
                shown(&a.object_id),
                if kind.object_id_is_domain() {
                    "a lower-case ASCII (punycode) domain name"
                } else {
                    "a lower-case GUID"
                }
            ),
        ));
    }
    let canonical_address = a
        .address
        .strip_prefix(kind.as_str())
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|id| id == &*a.object_id);
    if !canonical_address {
        return Err(invalid(
            address_at,
            format!(
                "actions[{i}].address must be {}",
                shown(&Action::address_of(kind, &a.object_id))
            ),
        ));
    }
    for d in &a.depends_on {
        if !is_canonical_dependency(d) {
            return Err(invalid(
                address_at,
                format!(
                    "actions[{i}].depends_on '{}' is neither step:N nor an action address",
                    shown(d)
                ),
            ));
        }
    }
    // One spelling of the list too: step gates first, then addresses, sorted, each once
    // (what `canonicalize` writes); a prerequisite named twice is refused.
    fn key(d: &str) -> (bool, &str) {
        (!d.starts_with("step:"), d)
    }
    if let Some(w) = a.depends_on.windows(2).find(|w| key(&w[0]) >= key(&w[1])) {
        return Err(invalid(
            address_at,
            format!(
                "actions[{i}].depends_on names '{}' twice or out of order (closeout writes step gates first, then addresses, sorted, each once)",
                shown(&w[1])
            ),
        ));
    }
    Ok(())
}

/// `step:1` to `step:5`, or `KIND.ID` with the kind's canonical id.
fn is_canonical_dependency(d: &str) -> bool {
    if let Some(n) = d.strip_prefix("step:") {
        return matches!(n, "1" | "2" | "3" | "4" | "5");
    }
    d.split_once('.')
        .is_some_and(|(k, id)| ActionKind::from_name(k).is_some_and(|k| k.is_canonical_id(id)))
}
