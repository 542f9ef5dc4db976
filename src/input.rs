//! Input files and untrusted text in messages: the one bounded reader of files closeout is
//! given (plan files, closure specs, snapshots, token files), the nesting-depth pre-scan run
//! before any YAML or JSON parser sees a file, and the one helper that makes untrusted text
//! safe to echo in an error message. Knows no file format beyond nesting; must not parse.

use std::io::Read;
use std::path::{Path, PathBuf};

/// What a file is for, which sets its size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A plan file: up to [`PLAN_MAX_BYTES`] (a 100,000-user tenant's plan is about 90 MB).
    Plan,
    /// A closure spec (`--spec`): up to 1 MiB.
    Spec,
    /// A tenant snapshot (`--simulate`, `closeout sim`): up to 512 MiB.
    Snapshot,
    /// A token or federated-credential file: up to 64 KiB.
    Token,
}

/// The largest plan file closeout reads: 1 GiB, about ten times a 100,000-user plan.
pub const PLAN_MAX_BYTES: u64 = 1 << 30;

/// The deepest nesting of YAML or JSON collections closeout lets a parser see. Every file
/// closeout reads nests less than 20 levels deep.
pub const MAX_NESTING: usize = 64;

/// How many characters of an untrusted value an error message shows.
pub const EXCERPT_CHARS: usize = 200;

impl FileKind {
    /// The size bound in bytes.
    pub fn max_bytes(self) -> u64 {
        match self {
            FileKind::Plan => PLAN_MAX_BYTES,
            FileKind::Spec => 1 << 20,
            FileKind::Snapshot => 512 << 20,
            FileKind::Token => 64 << 10,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            FileKind::Plan => "plan file",
            FileKind::Spec => "closure spec",
            FileKind::Snapshot => "snapshot",
            FileKind::Token => "token file",
        }
    }
}

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: cannot read the {kind}: {source}", path.display(), kind = kind.noun())]
    Io {
        path: PathBuf,
        kind: FileKind,
        source: std::io::Error,
    },
    #[error("{}: the {kind} is not a regular file (it is {what}); give the path of a file", path.display(), kind = kind.noun())]
    NotAFile {
        path: PathBuf,
        kind: FileKind,
        what: &'static str,
    },
    #[error("{}: the {kind} is larger than closeout reads ({size} bytes; at most {max})", path.display(), kind = kind.noun())]
    TooLarge {
        path: PathBuf,
        kind: FileKind,
        size: u64,
        max: u64,
    },
}

impl InputError {
    /// The underlying I/O error kind, where there is one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            InputError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

fn file_type_name(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads a whole input file as bytes. Symbolic links are followed (Kubernetes mounts
/// projected token files as links), but what they resolve to must be a regular file: a
/// FIFO, a device such as `/dev/zero`, a directory or a socket is refused at once, without
/// blocking (checked before opening, opened non-blocking, checked again on the open file).
/// Files over `kind`'s bound ([`FileKind::max_bytes`]) are refused before they are read, and
/// memory is reserved fallibly, so a huge file ends in an error, never an allocation abort.
///
/// Errors: [`InputError`] naming the path.
pub fn read_file(path: &Path, kind: FileKind) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        kind,
        source,
    };
    let not_file = |ft: std::fs::FileType| InputError::NotAFile {
        path: path.to_path_buf(),
        kind,
        what: file_type_name(ft),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(not_file(meta.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO swapped in after the check must not block the open.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_file(meta.file_type()));
    }
    let max = kind.max_bytes();
    let too_large = |size| InputError::TooLarge {
        path: path.to_path_buf(),
        kind,
        size,
        max,
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(meta.len() as usize + 1)
        .map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("not enough memory to read {} bytes", meta.len()),
            ))
        })?;
    // A file that grows while it is read stops at the bound.
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads a whole input file as UTF-8 text ([`read_file`], then a UTF-8 check).
pub fn read_text(path: &Path, kind: FileKind) -> Result<String, InputError> {
    let bytes = read_file(path, kind)?;
    String::from_utf8(bytes).map_err(|e| InputError::Io {
        path: path.to_path_buf(),
        kind,
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
        ),
    })
}

/// Characters closeout never writes raw into a file or a message, and refuses raw in a plan
/// file: every control character (C0 but `\n`, DEL, C1 including NEL), the Unicode line and
/// paragraph separators, bidirectional embeddings, overrides and isolates, zero-width and
/// other invisible formatting characters (soft hyphen, joiners, word joiner, invisible
/// operators, byte-order mark, interlinear annotations, tag characters, Hangul fillers), and
/// the characters YAML does not allow in a stream (U+FFFE, U+FFFF).
pub fn is_hidden_or_control(c: char) -> bool {
    let n = c as u32;
    // Printable ASCII first: almost every character of every file.
    if (0x20..0x7F).contains(&n) {
        return false;
    }
    matches!(n,
        0x00..=0x09 | 0x0B..=0x1F | 0x7F..=0x9F
        | 0xAD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x2028..=0x202E | 0x205F..=0x206F
        | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0xFFFE | 0xFFFF
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF
        | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890 | 0x0891 | 0x08E2 | 0x110BD | 0x110CD
    )
}

/// The first character of `text` other than `\n` that [`is_hidden_or_control`] refuses,
/// with its byte offset. One pass over the bytes; only non-ASCII bytes are decoded.
pub fn first_hidden_or_control(text: &str) -> Option<(usize, char)> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Printable ASCII and `\n` are never refused: skip them without decoding.
        i += b[i..]
            .iter()
            .position(|&c| (c < 0x20 && c != b'\n') || c >= 0x7f)?;
        let c = text[i..].chars().next()?;
        if is_hidden_or_control(c) {
            return Some((i, c));
        }
        i += c.len_utf8();
    }
    None
}

/// Untrusted text made safe to echo in an error message: every character of
/// [`is_hidden_or_control`] and `\n` shown escaped as `\u{202e}`, and the text cut to
/// [`EXCERPT_CHARS`] characters (the cut says how many more there were).
pub fn excerpt(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == EXCERPT_CHARS {
            let more = s.chars().count() - i;
            out.push_str(&format!("… ({more} more characters)"));
            break;
        }
        if c == '\n' || is_hidden_or_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Refuses JSON nested deeper than `max` arrays and objects, in one pass without parsing, so
/// a hostile document fails in milliseconds. Returns the 1-based line of the first byte past
/// the bound.
pub fn check_json_depth(bytes: &[u8], max: usize) -> Result<(), usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses YAML nested deeper than `max` levels, in one pass without parsing: block levels
/// (each deeper indentation and each `- ` or `? ` on a line) plus flow levels (`[` and `{`
/// at the start of a token, outside quoted scalars and comments), so a hostile document fails
/// in milliseconds instead of feeding a parser millions of events. Block scalar contents
/// (`|`, `>`) are skipped. Returns the 1-based line where the bound was passed.
pub fn check_yaml_depth(text: &str, max: usize) -> Result<(), usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // An open quoted scalar carried over to the next line: its quote character.
    let mut quote: Option<u8> = None;
    // Inside a block scalar whose parent line had this indentation.
    let mut block_scalar: Option<usize> = None;
    for (i, line) in text.split('\n').enumerate() {
        let no = i + 1;
        let b = line.as_bytes();
        let indent = b.iter().take_while(|&&c| c == b' ').count();
        let blank = b[indent..].iter().all(|c| c.is_ascii_whitespace());
        if let Some(parent) = block_scalar {
            if blank || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        if blank {
            continue;
        }
        let mut at = indent;
        if quote.is_none() && flow == 0 {
            if b[at] == b'#' {
                continue;
            }
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // Compact nested sequences and complex keys on one line: `- - - x`.
            while at + 1 < b.len() && matches!(b[at], b'-' | b'?') && b[at + 1] == b' ' {
                at += 2;
                while at < b.len() && b[at] == b' ' {
                    at += 1;
                }
                indents.push(at);
            }
            if indents.len() > max {
                return Err(no);
            }
        }
        let mut token_start = true;
        let mut last_value_start = at;
        while at < b.len() {
            let c = b[at];
            if let Some(q) = quote {
                if c == b'\\' && q == b'"' {
                    at += 2;
                    continue;
                }
                if c == q {
                    if q == b'\'' && b.get(at + 1) == Some(&b'\'') {
                        at += 2;
                        continue;
                    }
                    quote = None;
                    token_start = false;
                }
                at += 1;
                continue;
            }
            match c {
                b'#' if at == 0 || b[at - 1] == b' ' || b[at - 1] == b'\t' => break,
                b'\'' | b'"' if token_start => quote = Some(c),
                b'[' | b'{' if token_start || flow > 0 => {
                    flow += 1;
                    if indents.len() + flow > max {
                        return Err(no);
                    }
                    token_start = true;
                    at += 1;
                    continue;
                }
                b']' | b'}' if flow > 0 => {
                    flow -= 1;
                    token_start = false;
                }
                b',' if flow > 0 => {
                    token_start = true;
                    at += 1;
                    continue;
                }
                b' ' | b'\t' => {
                    if flow > 0 || b.get(at.wrapping_sub(1)) == Some(&b':') {
                        token_start = true;
                    }
                    at += 1;
                    continue;
                }
                b':' if b.get(at + 1).is_none_or(|&n| n == b' ') => {
                    last_value_start = at + 1;
                }
                _ => token_start = false,
            }
            at += 1;
        }
        // `key: |` or `- >-` opens a block scalar: its lines are text, not structure.
        if quote.is_none() && flow == 0 {
            let rest = line[last_value_start.min(line.len())..].trim();
            let rest = rest.split(" #").next().unwrap_or("").trim();
            if rest.starts_with(['|', '>'])
                && rest[1..]
                    .bytes()
                    .all(|c| matches!(c, b'-' | b'+' | b'0'..=b'9'))
            {
                block_scalar = Some(indent);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_escapes_and_cuts() {
        assert_eq!(excerpt("a\u{202e}b\nc\u{1b}"), "a\\u{202e}b\\u{a}c\\u{1b}");
        let long = "x".repeat(1000);
        let e = excerpt(&long);
        assert!(e.starts_with(&"x".repeat(EXCERPT_CHARS)));
        assert!(e.ends_with("(800 more characters)"), "{e}");
    }

    #[test]
    fn hidden_characters_are_classified() {
        for c in [
            '\r',
            '\t',
            '\u{b}',
            '\u{c}',
            '\u{85}',
            '\u{2028}',
            '\u{2029}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{200b}',
            '\u{200f}',
            '\u{feff}',
            '\u{7f}',
            '\u{e0041}',
        ] {
            assert!(is_hidden_or_control(c), "{:x}", c as u32);
        }
        for c in ['a', ' ', 'é', '€', '中', '😀', '\u{a0}'] {
            assert!(!is_hidden_or_control(c), "{c}");
        }
    }

    #[test]
    fn depth_scans_refuse_deep_nesting_fast() {
        let deep = "[".repeat(10_000_000);
        let t = std::time::Instant::now();
        assert_eq!(check_json_depth(deep.as_bytes(), MAX_NESTING), Err(1));
        assert!(check_yaml_depth(&deep, MAX_NESTING).is_err());
        let dashes = "- ".repeat(100_000) + "x";
        assert!(check_yaml_depth(&dashes, MAX_NESTING).is_err());
        let mut indented = String::new();
        for i in 0..200 {
            indented.push_str(&" ".repeat(i));
            indented.push_str("k:\n");
        }
        assert_eq!(
            check_yaml_depth(&indented, MAX_NESTING),
            Err(MAX_NESTING + 1)
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        // Ordinary documents pass, brackets in strings and plain scalars do not count.
        assert_eq!(
            check_json_depth(br#"{"a":[{"b":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]}"#, 4),
            Ok(())
        );
        let yaml = format!(
            "version: 1\nkeep:\n- '{}'\n- a[b\nname: |\n{}\nx: {{a: [1, 2]}}\n",
            "[".repeat(100),
            " ".repeat(400) + "deep\n"
        );
        assert_eq!(check_yaml_depth(&yaml, 4), Ok(()));
    }
}
