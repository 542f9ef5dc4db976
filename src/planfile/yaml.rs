//! The plan file's writer (format version 2): every byte of a plan file is written here, and
//! the reader ([`super::read`]) accepts a file only if this writer gives back its exact bytes.
//! Private to the file layer; must not be used for any other file.
//!
//! Scalars are written plain when that is unambiguous, otherwise as one-line double-quoted
//! YAML scalars in which `"`, `\`, line breaks, tabs, every control character and every
//! invisible formatting character ([`crate::input::is_hidden_or_control`]) are escaped
//! (`\n`, `\t`, `\u202E`, `\U000E0041`). So tenant text (names, UPNs, messages) never breaks
//! the one-line-per-value layout, and the file holds no raw control or invisible character.

use std::fmt::Write;

use serde_json::Value;

use crate::input::is_hidden_or_control;
use crate::plan::{
    Action, ActionKind, Check, DataReport, DataTotal, Fields, KeptUser, Plan, Step, Tally, Target,
    TenantRef,
};

/// The plan-file format version this closeout reads and writes. Any change to the bytes the
/// writer emits bumps it, so a file of another version is "unknown version", never "edited".
pub const FORMAT_VERSION: u32 = 2;

/// Words that YAML readers (1.1 and 1.2 schemas) resolve to something else than a string.
const SPECIAL_WORDS: &[&str] = &[
    "~",
    "null",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    ".inf",
    "+.inf",
    "-.inf",
    ".nan",
    "inf",
    "+inf",
    "-inf",
    "nan",
    "infinity",
    "+infinity",
    "-infinity",
    "<<",
    "=",
];

/// `true` when a plain scalar `s` could be read as something else than the string `s` (a
/// null, boolean, number, date or merge key, in YAML 1.1 or 1.2).
fn resolves_to_non_string(s: &str) -> bool {
    // Fast path: text starting with a letter that begins no special word and no number.
    if s.as_bytes()
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() && !b"nNtTfFyYoOiI".contains(c))
    {
        return false;
    }
    if SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) || s.parse::<f64>().is_ok() {
        return true;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let radix = unsigned
        .get(..2)
        .is_some_and(|p| matches!(p, "0x" | "0X" | "0o" | "0O" | "0b" | "0B"));
    // YAML 1.1 integers with `_`, sexagesimal numbers and dates: digits with `_:.+-`.
    let digits_only = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '_' | ':' | '.' | '+' | '-'));
    radix || digits_only
}

/// `true` when `s` can be written as a plain scalar that every YAML reader reads back as
/// exactly the string `s`.
fn plain_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if b"-?:,[]{}#&*!|>'\"%@`\\ ".contains(&first) || matches!(last, b' ' | b':') {
        return false;
    }
    // One pass over the bytes (every scalar of a plan file is written twice: when it is
    // made, and when it is read and compared): `: ` and ` #` are refused, printable ASCII
    // passes, anything else is decided per character below. A UTF-8 continuation or lead
    // byte is never `:`, ` ` or `#`, so the pairs are found in multi-byte text too.
    let mut prev = 0u8;
    let mut ascii = true;
    for &c in b {
        if (prev == b':' && c == b' ') || (prev == b' ' && c == b'#') {
            return false;
        }
        if !(b' '..=b'~').contains(&c) {
            ascii = false;
        }
        prev = c;
    }
    (ascii
        || s.chars()
            .all(|c| matches!(c, ' '..='~') || (c >= '\u{a0}' && !is_hidden_or_control(c))))
        && !resolves_to_non_string(s)
}

/// Appends `s` as a YAML scalar that reads back as the string `s`, on one line: plain when
/// unambiguous, otherwise [`quoted`].
pub fn scalar(out: &mut String, s: &str) {
    if plain_ok(s) {
        out.push_str(s);
    } else {
        quoted(out, s);
    }
}

/// Appends `s` as a one-line double-quoted YAML scalar: `"` and `\` escaped, `\n`, `\t`,
/// and `\uXXXX` / `\UXXXXXXXX` (upper-case hex) for every other control or invisible
/// character; everything else raw.
pub fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if is_hidden_or_control(c) => {
                if (c as u32) <= 0xFFFF {
                    let _ = write!(out, "\\u{:04X}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08X}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Tenant text in a header comment: line breaks, control and invisible characters escaped
/// as `\u{202e}`, so a comment stays one line and shows what is there.
fn comment_text(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '\n' || is_hidden_or_control(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn line(out: &mut String, indent: usize, key: &str, value: &str) {
    out.extend(std::iter::repeat_n(' ', indent));
    out.push_str(key);
    out.push_str(": ");
    scalar(out, value);
    out.push('\n');
}

fn raw_line(out: &mut String, indent: usize, key: &str, value: &str) {
    out.extend(std::iter::repeat_n(' ', indent));
    out.push_str(key);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

/// A list of strings as the value of `key`: `key: []`, or `key:` then `- item` lines at the
/// key's own indentation.
fn string_list<T: AsRef<str>>(out: &mut String, indent: usize, key: &str, items: &[T]) {
    out.extend(std::iter::repeat_n(' ', indent));
    out.push_str(key);
    if items.is_empty() {
        out.push_str(": []\n");
        return;
    }
    out.push_str(":\n");
    for i in items {
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str("- ");
        scalar(out, i.as_ref());
        out.push('\n');
    }
}

/// A JSON scalar as YAML: `null`, `true`, a number as serde_json prints it, or a string
/// scalar (quoted when it would read as one of the others).
fn json_scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(bool_str(*b)),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => scalar(out, s),
        Value::Array(_) | Value::Object(_) => unreachable!("collections are written in blocks"),
    }
}

/// `key: value` for a JSON value in block style, at `indent`.
pub fn json_entry(out: &mut String, indent: usize, key: &str, v: &Value) {
    out.extend(std::iter::repeat_n(' ', indent));
    scalar(out, key);
    match v {
        Value::Array(items) if items.is_empty() => out.push_str(": []\n"),
        Value::Object(m) if m.is_empty() => out.push_str(": {}\n"),
        Value::Array(items) => {
            out.push_str(":\n");
            for i in items {
                json_item(out, indent, i);
            }
        }
        Value::Object(m) => {
            out.push_str(":\n");
            for (k, v) in m {
                json_entry(out, indent + 2, k, v);
            }
        }
        v => {
            out.push_str(": ");
            json_scalar(out, v);
            out.push('\n');
        }
    }
}

/// `- value` for a JSON value in a block sequence at `indent`; a non-empty collection
/// follows on the next lines, two columns deeper.
fn json_item(out: &mut String, indent: usize, v: &Value) {
    out.extend(std::iter::repeat_n(' ', indent));
    match v {
        Value::Array(items) if items.is_empty() => out.push_str("- []\n"),
        Value::Object(m) if m.is_empty() => out.push_str("- {}\n"),
        Value::Array(items) => {
            out.push_str("-\n");
            for i in items {
                json_item(out, indent + 2, i);
            }
        }
        Value::Object(m) => {
            out.push_str("-\n");
            for (k, v) in m {
                json_entry(out, indent + 2, k, v);
            }
        }
        v => {
            out.push_str("- ");
            json_scalar(out, v);
            out.push('\n');
        }
    }
}

fn json_map(out: &mut String, key: &str, m: &Fields) {
    if m.is_empty() {
        return;
    }
    out.push_str("  ");
    out.push_str(key);
    out.push_str(":\n");
    for (k, v) in m {
        json_entry(out, 4, k, v);
    }
}

/// `closeout_version` and `tenant`.
pub fn write_tenant(out: &mut String, tool_version: &str, t: &TenantRef) {
    line(out, 0, "closeout_version", tool_version);
    out.push_str("tenant:\n");
    line(out, 2, "id", &t.id);
    line(out, 2, "display_name", &t.display_name);
    line(out, 2, "initial_domain", &t.initial_domain);
}

/// One item of `keep`.
pub fn write_kept(out: &mut String, k: &KeptUser) {
    line(out, 0, "- id", &k.id);
    line(out, 2, "user_principal_name", &k.user_principal_name);
    string_list(out, 2, "roles", &k.roles);
}

/// `target`.
pub fn write_target(out: &mut String, t: &Target) {
    out.push_str("target:\n");
    raw_line(out, 2, "purge_recycle_bin", bool_str(t.purge_recycle_bin));
    raw_line(
        out,
        2,
        "delete_applications",
        bool_str(t.delete_applications),
    );
    raw_line(
        out,
        2,
        "cancel_subscriptions",
        bool_str(t.cancel_subscriptions),
    );
    raw_line(
        out,
        2,
        "delete_subscriptions",
        bool_str(t.delete_subscriptions),
    );
    raw_line(out, 2, "delete_tenant", bool_str(t.delete_tenant));
    if t.azure_subscriptions != crate::plan::AzurePolicy::Manual {
        raw_line(
            out,
            2,
            "azure_subscriptions",
            t.azure_subscriptions.as_str(),
        );
    }
    if t.billing != crate::planner::BillingChannel::Manual || t.cancel_in_window {
        raw_line(out, 2, "billing", t.billing.as_str());
        raw_line(out, 2, "cancel_in_window", bool_str(t.cancel_in_window));
    }
}

/// One item of `preflight`.
pub fn write_check(out: &mut String, c: &Check) {
    line(out, 0, "- name", &c.name);
    raw_line(out, 2, "passed", bool_str(c.passed));
    line(out, 2, "requirement", &c.requirement);
    string_list(out, 2, "blocking", &c.blocking);
    if c.more > 0 {
        raw_line(out, 2, "more", &c.more.to_string());
    }
    if let Some(why) = &c.not_checked {
        line(out, 2, "not_checked", why);
    }
    if c.informational {
        raw_line(out, 2, "informational", "true");
    }
}

/// One item of `actions`.
pub fn write_action(out: &mut String, a: &Action) {
    line(out, 0, "- address", &a.address);
    raw_line(out, 2, "step", &a.step().number().to_string());
    raw_line(out, 2, "action", a.kind.as_str());
    line(out, 2, "name", &a.name);
    line(out, 2, "id", &a.object_id);
    if a.is_manual() {
        raw_line(out, 2, "manual", "true");
    }
    line(out, 2, "reason", &a.reason);
    if !a.warnings.is_empty() {
        string_list(out, 2, "warnings", &a.warnings);
    }
    if let Some(i) = &a.instructions {
        line(out, 2, "instructions", i);
    }
    if !a.depends_on.is_empty() {
        string_list(out, 2, "depends_on", &a.depends_on);
    }
    json_map(out, "commerce", &a.commerce);
    json_map(out, "before", &a.before);
    json_map(out, "after", &a.after);
}

/// The body: everything after the `plan:` stamp line.
pub fn write_body(out: &mut String, plan: &Plan) {
    write_body_pieces(plan, &mut |piece| out.push_str(piece));
}

/// The body as [`write_body`] writes it, handed to `sink` piece by piece (the tenant, each
/// section head, each item), so a large plan is hashed or written to disk without the whole
/// body in memory: the concatenation of the pieces is exactly `write_body`'s text.
pub fn write_body_pieces(plan: &Plan, sink: &mut dyn FnMut(&str)) {
    let mut piece = String::with_capacity(4096);
    let mut flush = |piece: &mut String| {
        sink(piece);
        piece.clear();
    };
    write_tenant(&mut piece, &plan.tool_version, &plan.tenant);
    flush(&mut piece);
    section_pieces(&mut piece, &mut flush, "keep", &plan.keep, write_kept);
    write_target(&mut piece, &plan.target);
    flush(&mut piece);
    section_pieces(
        &mut piece,
        &mut flush,
        "preflight",
        &plan.preflight,
        write_check,
    );
    section_pieces(
        &mut piece,
        &mut flush,
        "actions",
        &plan.actions,
        write_action,
    );
    // The data the closure destroys: last, so that a staleness check can leave it out
    // (it changes daily) by cutting the file at `data:`.
    if let Some(d) = &plan.data {
        write_data(&mut piece, d);
        flush(&mut piece);
    }
}

/// `name: {count: N, bytes: N, items: N}` at indent 2.
pub fn write_data_total(out: &mut String, name: &str, t: &DataTotal) {
    let _ = writeln!(
        out,
        "  {name}: {{count: {}, bytes: {}, items: {}}}",
        t.count, t.bytes, t.items
    );
}

/// The `data` section (the plan's [`DataReport`]).
pub fn write_data(out: &mut String, d: &DataReport) {
    out.push_str("data:\n");
    raw_line(out, 2, "backup_confirmed", bool_str(d.backup_confirmed));
    if let Some(why) = &d.not_checked {
        line(out, 2, "not_checked", why);
    }
    line(out, 2, "report_refresh_date", &d.report_refresh_date);
    raw_line(out, 2, "names_concealed", bool_str(d.names_concealed));
    write_data_total(out, "mailboxes", &d.mailboxes);
    write_data_total(out, "onedrive", &d.onedrive);
    write_data_total(out, "sites", &d.sites);
    out.push_str(if d.users.is_empty() {
        "  users: []\n"
    } else {
        "  users:\n"
    });
    for u in &d.users {
        line(out, 2, "- user_principal_name", &u.user_principal_name);
        line(out, 4, "id", &u.id);
        raw_line(out, 4, "mailbox_bytes", &u.mailbox_bytes.to_string());
        raw_line(out, 4, "mailbox_items", &u.mailbox_items.to_string());
        raw_line(out, 4, "onedrive_bytes", &u.onedrive_bytes.to_string());
        raw_line(out, 4, "onedrive_files", &u.onedrive_files.to_string());
    }
    out.push_str(if d.site_list.is_empty() {
        "  site_list: []\n"
    } else {
        "  site_list:\n"
    });
    for s in &d.site_list {
        line(out, 2, "- url", &s.url);
        raw_line(out, 4, "bytes", &s.bytes.to_string());
        raw_line(out, 4, "files", &s.files.to_string());
    }
}

/// A list section (`keep`, `preflight`, `actions`): `key: []`, or `key:` and the items,
/// handed on in pieces of about 64 KiB.
fn section_pieces<T>(
    piece: &mut String,
    flush: &mut dyn FnMut(&mut String),
    key: &str,
    items: &[T],
    item: fn(&mut String, &T),
) {
    piece.push_str(key);
    piece.push_str(if items.is_empty() { ": []\n" } else { ":\n" });
    for i in items {
        item(piece, i);
        // Pieces of about 64 KiB: few calls, little memory.
        if piece.len() >= 1 << 16 {
            flush(piece);
        }
    }
    flush(piece);
}

/// `format_version: 2`.
pub fn version_line() -> String {
    format!("format_version: {FORMAT_VERSION}\n")
}

/// The stamp line, `plan: {id: "ID", created_at: "TIME", digest: "sha256:HEX"}`, with `hex`
/// as the digest; returns the byte range of `hex` within `out`.
pub fn write_stamp(out: &mut String, id: &str, created_at: &str, hex: &str) -> (usize, usize) {
    out.push_str("plan: {id: ");
    quoted(out, id);
    out.push_str(", created_at: ");
    quoted(out, created_at);
    out.push_str(", digest: \"sha256:");
    let start = out.len();
    out.push_str(hex);
    let end = out.len();
    out.push_str("\"}\n");
    (start, end)
}

/// The comment header: what a reviewer sees first in a pull request.
pub fn write_header(out: &mut String, plan: &Plan) {
    write_header_with(out, plan, &plan.tally());
}

/// [`write_header`] with the counts of `tally` (of every action of the plan, where
/// `plan.actions` may hold only some of them: a file checked while it is read).
pub fn write_header_with(out: &mut String, plan: &Plan, tally: &Tally) {
    out.push_str("# closeout plan: close tenant ");
    comment_text(out, &plan.tenant.display_name);
    out.push_str(" (");
    comment_text(out, &plan.tenant.initial_domain);
    out.push_str(", ");
    comment_text(out, &plan.tenant.id);
    out.push_str(")\n# Kept: ");
    for (i, k) in plan.keep.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        comment_text(out, &k.user_principal_name);
        if !k.roles.is_empty() {
            out.push_str(" (");
            comment_text(out, &k.roles.join(", "));
            out.push(')');
        }
    }
    out.push_str("\n#\n");
    for step in Step::ALL {
        let kinds: Vec<(ActionKind, usize)> = tally.kinds_of(step);
        let manual: usize = tally.manual_of(step);
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
        let mut l = String::new();
        for (i, d) in detail.iter().enumerate() {
            let piece = if i + 1 < detail.len() {
                format!("{d},")
            } else {
                d.clone()
            };
            if !l.is_empty() && l.len() + piece.len() > 78 {
                let _ = writeln!(out, "#            {l}");
                l.clear();
            }
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(&piece);
        }
        if !l.is_empty() {
            let _ = writeln!(out, "#            {l}");
        }
    }
    let _ = writeln!(out, "#\n# {}", crate::plan::Summary::of(tally).line());
    // What the plan destroys beyond its objects, wrapped at about 90 columns.
    for sentence in plan.data_at_risk_with(tally) {
        let mut l = String::new();
        for word in sentence.split(' ') {
            if !l.is_empty() && l.len() + word.len() > 86 {
                out.push_str("# ");
                comment_text(out, &l);
                out.push('\n');
                l.clear();
            }
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
        out.push_str("# ");
        comment_text(out, &l);
        out.push('\n');
    }
    out.push_str(
        "#\n# Manual actions are done by a person in the admin centers; closeout verifies them by\n\
         # reading the tenant. `closeout apply` executes exactly the actions below and refuses\n\
         # this file if it is edited or if the tenant changed since it was planned (stale plan).\n\
         # Read it as a table: closeout show THIS_FILE [--format markdown|json] [--redact]\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn s(v: &str) -> String {
        let mut o = String::new();
        scalar(&mut o, v);
        o
    }

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        assert_eq!(s("admin@contoso.com"), "admin@contoso.com");
        assert_eq!(s("Contoso Ltd"), "Contoso Ltd");
        assert_eq!(
            s("0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd"),
            "0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd"
        );
        for (raw, written) in [
            ("", "\"\""),
            ("true", "\"true\""),
            ("No", "\"No\""),
            ("12", "\"12\""),
            ("1e5", "\"1e5\""),
            ("2026-01-01", "\"2026-01-01\""),
            ("0x1F", "\"0x1F\""),
            ("a: b", "\"a: b\""),
            ("a #b", "\"a #b\""),
            ("'q'", "\"'q'\""),
            ("*alias", "\"*alias\""),
            ("a\nb", "\"a\\nb\""),
            ("x\u{202e}y", "\"x\\u202Ey\""),
            ("tag\u{e0041}", "\"tag\\U000E0041\""),
            ("back\\slash \"q\"", "back\\slash \"q\""),
            ("\"q\"", "\"\\\"q\\\"\""),
        ] {
            assert_eq!(s(raw), written, "{raw:?}");
        }
    }

    /// The byte-wise `plain_ok` decides as the character-wise rule it replaced.
    #[test]
    fn plain_ok_is_the_character_rule() {
        fn by_chars(s: &str) -> bool {
            let Some(first) = s.chars().next() else {
                return false;
            };
            if "-?:,[]{}#&*!|>'\"%@`\\ ".contains(first)
                || s.ends_with([' ', ':'])
                || s.contains(": ")
                || s.contains(" #")
            {
                return false;
            }
            s.chars()
                .all(|c| matches!(c, ' '..='~') || (c >= '\u{a0}' && !is_hidden_or_control(c)))
                && !resolves_to_non_string(s)
        }
        use rand::{Rng, SeedableRng};
        let pool = [
            'a',
            'Z',
            '1',
            ' ',
            ':',
            '#',
            '-',
            '"',
            '\\',
            '\n',
            '\t',
            '\u{7f}',
            '\u{a0}',
            'é',
            '\u{202e}',
            '\u{85}',
            '\u{e0041}',
            '@',
            '.',
            'n',
            'y',
            '~',
            '[',
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        for _ in 0..20_000 {
            let n = rng.random_range(0..7);
            let s: String = (0..n)
                .map(|_| pool[rng.random_range(0..pool.len())])
                .collect();
            assert_eq!(plain_ok(&s), by_chars(&s), "{s:?}");
        }
    }

    #[test]
    fn every_written_scalar_reads_back_with_serde_yaml() {
        for raw in [
            "",
            "true",
            "~",
            "a: b",
            "x\u{2028}y",
            "\u{feff}",
            "tab\there",
            "é\u{85}",
            "- x",
            "? x",
            "%x",
            "@x",
            "`x",
            "a'b",
            "a\"b",
            "\\",
            "null",
            ".5",
            "1_000",
            "12:30",
        ] {
            let yaml = format!("k: {}\n", s(raw));
            let v: BTreeMap<String, String> =
                serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(v["k"], raw, "{yaml}");
        }
    }
}
