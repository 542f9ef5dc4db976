//! Neutralises tenant text before it reaches a person's screen: the one place that decides
//! which characters are shown escaped. It owns no layout and knows nothing about plans;
//! the Markdown and JSON renderers build on [`is_unsafe`] for their own escaping.
//!
//! Names, userPrincipalNames, organization and role names and Graph error messages are
//! data. A terminal obeys some characters instead of showing them: C0 and C1 controls
//! (ESC starts CSI and OSC sequences, which move the cursor, retitle the window, write the
//! clipboard or draw hyperlinks), bidi overrides and isolates (which show text in another
//! order than it is stored: "Trojan Source", CVE-2021-42574), zero-width and other
//! invisible format characters (Unicode category Cf, which make two different names look
//! the same), and the Unicode line and paragraph separators. Each such character is shown
//! as `\u{202e}` (`\n`, `\r`, `\t` for the three common ones), so the text stays readable
//! and the escape is visible.

use std::borrow::Cow;
use std::fmt;

use unicode_general_category::{get_general_category, GeneralCategory};

/// Whether `c` must not reach a terminal raw: a control character (C0, DEL, C1), a format
/// character (category Cf: bidi marks, overrides and isolates, zero-width space, joiners,
/// word joiner, byte-order mark, invisible operators, tag characters), or a line or
/// paragraph separator (U+2028, U+2029).
pub fn is_unsafe(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || matches!(
            get_general_category(c),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// Writes the escaped form of one unsafe character.
fn escape_into(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn neutralise(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| is_unsafe(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            escape_into(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` with every unsafe character (see [`is_unsafe`]) escaped, newlines included: for a
/// value shown on one line (a name, a userPrincipalName, an address). Borrows when `s` is
/// already safe.
pub fn safe(s: &str) -> Cow<'_, str> {
    neutralise(s, false)
}

/// Like [`safe`], but keeps `\n`: for messages closeout composes over several lines (an
/// error with its hint). Every other control is escaped, carriage returns included, so a
/// line cannot overwrite the one before it.
pub fn safe_lines(s: &str) -> Cow<'_, str> {
    neutralise(s, true)
}

/// A `Display` wrapper that writes [`safe`]`(s)`: `format!("user {}", Safe(&upn))`.
#[derive(Debug, Clone, Copy)]
pub struct Safe<'a>(pub &'a str);

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&safe(self.0))
    }
}

/// A serde_json formatter that also writes every unsafe character (see [`is_unsafe`]) as a
/// `\uXXXX` escape (a surrogate pair above U+FFFF). serde_json escapes C0 controls itself
/// but writes DEL, C1 controls, bidi and zero-width characters raw; JSON printed to a
/// terminal (`--format json` without a pipe) must not carry them. The document means the
/// same to every JSON parser. `pretty` indents by two spaces as `to_writer_pretty` does.
pub struct SafeJson {
    pretty: Option<serde_json::ser::PrettyFormatter<'static>>,
}

impl SafeJson {
    /// Compact output (one line).
    pub fn compact() -> SafeJson {
        SafeJson { pretty: None }
    }

    /// Indented output.
    pub fn pretty() -> SafeJson {
        SafeJson {
            pretty: Some(serde_json::ser::PrettyFormatter::new()),
        }
    }
}

/// Writes `value` as JSON with [`SafeJson`] escaping.
///
/// # Errors
/// The writer's error, or serde's when `value` cannot be serialised.
pub fn write_json<W: std::io::Write, T: serde::Serialize + ?Sized>(
    out: W,
    value: &T,
    pretty: bool,
) -> std::io::Result<()> {
    let f = if pretty {
        SafeJson::pretty()
    } else {
        SafeJson::compact()
    };
    let mut ser = serde_json::Serializer::with_formatter(out, f);
    value.serialize(&mut ser).map_err(std::io::Error::other)
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(
            fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
                match &mut self.pretty {
                    Some(p) => serde_json::ser::Formatter::$name(p, w $(, $arg)*),
                    None => serde_json::ser::Formatter::$name(&mut serde_json::ser::CompactFormatter, w $(, $arg)*),
                }
            }
        )*
    };
}

impl serde_json::ser::Formatter for SafeJson {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        end_object_key(),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // Printable ASCII, nearly all of a plan (ids, userPrincipalNames, reasons), is safe.
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return w.write_all(fragment.as_bytes());
        }
        let mut last = 0;
        for (i, c) in fragment.char_indices() {
            if !is_unsafe(c) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[last..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{:04x}", u)?;
            }
            last = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[last..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_each_class_and_keeps_ordinary_text() {
        for (raw, shown) in [
            ("a\u{1b}[31mb", "a\\u{1b}[31mb"),
            ("\u{1b}]8;;https://x\u{7}", "\\u{1b}]8;;https://x\\u{7}"),
            ("x\u{9b}2J", "x\\u{9b}2J"),
            ("admin\u{202e}gpj.exe", "admin\\u{202e}gpj.exe"),
            ("a\u{2066}b\u{2069}", "a\\u{2066}b\\u{2069}"),
            (
                "a\u{200b}b\u{200d}c\u{2060}d\u{feff}",
                "a\\u{200b}b\\u{200d}c\\u{2060}d\\u{feff}",
            ),
            ("a\u{200e}\u{200f}\u{61c}", "a\\u{200e}\\u{200f}\\u{61c}"),
            ("tag\u{e0041}", "tag\\u{e0041}"),
            ("soft\u{ad}hyphen", "soft\\u{ad}hyphen"),
            ("l1\nl2\r\t", "l1\\nl2\\r\\t"),
            ("line\u{2028}sep\u{2029}", "line\\u{2028}sep\\u{2029}"),
            ("nel\u{85}", "nel\\u{85}"),
            ("del\u{7f}", "del\\u{7f}"),
        ] {
            assert_eq!(safe(raw), shown, "{raw:?}");
            assert_eq!(Safe(raw).to_string(), shown);
        }
        for ok in [
            "Contoso Ltd",
            "Zoë Åberg",
            "日本語",
            "admin@contoso.com",
            "emoji 🎉",
        ] {
            assert!(matches!(safe(ok), Cow::Borrowed(_)), "{ok}");
        }
    }

    #[test]
    fn json_escapes_what_serde_leaves_raw_and_still_parses() {
        let v = serde_json::json!({"name": "a\u{202e}b\u{85}c\u{7f}\u{1f600}\u{e0041}\u{1b}"});
        let mut out = Vec::new();
        write_json(&mut out, &v, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(is_unsafe), "{text}");
        assert!(
            text.contains("\\u202e") && text.contains("\\udb40\\udc41"),
            "{text}"
        );
        assert!(
            text.contains('\u{1f600}'),
            "ordinary characters stay: {text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let mut pretty = Vec::new();
        write_json(&mut pretty, &v, true).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&pretty).unwrap();
        assert_eq!(back, v);
        assert!(String::from_utf8(pretty).unwrap().contains("\n  \""));
    }

    #[test]
    fn lines_keep_newlines_only() {
        assert_eq!(safe_lines("a\nb\r\u{1b}c"), "a\nb\\r\\u{1b}c");
    }
}
