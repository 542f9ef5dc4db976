//! Redaction at the trust boundary: the one function that makes server text (error bodies,
//! `$batch` item errors, echoed headers, identity-endpoint errors) safe to keep or show.
//! Owns the registry of secrets closeout holds and the shapes of secrets it does not know;
//! must not touch success bodies (tenant data), which the renderers neutralise.
//!
//! [`server_text`] is applied once, where server text enters closeout, so nothing
//! downstream (journal, JSON report, progress lines, error messages) can carry a secret, a
//! raw control character or an unbounded string.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

use regex::Regex;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Longest server message kept, in characters (longer ones are cut with a note).
pub const MESSAGE_CHARS: usize = 400;

/// Longest echoed header value kept (`request-id`, `client-request-id`), in characters.
pub const HEADER_CHARS: usize = 100;

/// Secrets shorter than this are not searched for inside text (they would match words).
const MIN_SECRET: usize = 8;

/// How many registered secrets are remembered (the newest ones; tokens rotate).
const MAX_SECRETS: usize = 64;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shapes of secrets closeout does not hold itself: bearer credentials, JWTs (access tokens,
/// client assertions, federated tokens), `key=value` secrets in query strings (SAS `sig=`,
/// OAuth `code=`), and `name: value` / `"name": "value"` secrets in echoed headers or JSON.
static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let r = |p: &str| Regex::new(p).expect("redaction pattern");
    vec![
        (
            r(r"eyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*"),
            REDACTED,
        ),
        (
            r(r"(?i)\b(bearer|basic|pop)(\s+)[A-Za-z0-9\-._~+/]{16,}=*"),
            "${1}${2}<redacted>",
        ),
        (
            r(
                r#"(?i)\b(sig|signature|code|token|access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|passwd|pwd|secret|api[-_]?key|key|sv_token|skoid)=([^&\s"'<>,;]+)"#,
            ),
            "${1}=<redacted>",
        ),
        (
            r(
                r#"(?i)\b(authorization|x-identity-header|identity_header|x-ms-identity-header|secret|client_secret|password|access_token|refresh_token|id_token|assertion|client_assertion|cookie|set-cookie|x-api-key)("?\s*:\s*"?)([^"\r\n,;}]+)"#,
            ),
            "${1}${2}<redacted>",
        ),
    ]
});

/// Remembers `secret` (a token closeout obtained, a client secret, managed identity's
/// `IDENTITY_HEADER`) so that [`redact`] removes it wherever it appears. Values shorter
/// than 8 characters are ignored; the newest 64 are kept.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET {
        return;
    }
    if SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .any(|s| s == secret)
    {
        return;
    }
    let mut all = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if all.len() >= MAX_SECRETS {
        all.remove(0);
    }
    all.push(secret.to_string());
}

/// `text` with every registered secret and every secret-shaped span replaced by
/// `<redacted>`. Pure text in, text out; the same function for every kind of server text.
pub fn redact(text: &str) -> String {
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    {
        let secrets = SECRETS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), REDACTED));
            }
        }
    }
    for (re, with) in SHAPES.iter() {
        if let Cow::Owned(s) = re.replace_all(&out, *with) {
            out = Cow::Owned(s);
        }
    }
    out.into_owned()
}

/// `true` for characters that must not reach a terminal raw: C0 and C1 controls, bidi
/// controls, zero-width and invisible formatting characters, line and paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{180e}' | '\u{00ad}')
}

/// `text` with unsafe characters (see [`is_unsafe_char`]) written as `\u{…}`, and cut to
/// `max_chars` characters (with the number of characters left out).
pub fn escape_and_bound(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    let mut chars = text.chars();
    for (kept, c) in chars.by_ref().enumerate() {
        if kept >= max_chars {
            let rest = 1 + chars.count();
            out.push_str(&format!("… ({rest} more characters)"));
            return out;
        }
        if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Server text made safe to keep and show: at most 64 KiB read, secrets redacted (before
/// any cut, so a secret is never half kept), unsafe characters escaped, cut to `max_chars`.
pub fn server_text(text: &str, max_chars: usize) -> String {
    let mut end = text.len().min(64 * 1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    escape_and_bound(&redact(&text[..end]), max_chars)
}

/// [`server_text`] of raw bytes (invalid UTF-8 shown as U+FFFD).
pub fn server_bytes(bytes: &[u8], max_chars: usize) -> String {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    server_text(&String::from_utf8_lossy(head), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "FAKE-TOKEN-redact-unit-0123456789";

    #[test]
    fn registered_secrets_and_secret_shapes_are_redacted() {
        register_secret(TOKEN);
        register_secret("short");
        let cases = [
            format!("echo: {TOKEN}"),
            "Authorization: Bearer abc.def-ghi-jkl-mno".to_string(),
            "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln here".to_string(),
            "https://x.blob.core.windows.net/r.csv?sv=2020&sig=AbC%2Fdef&se=1".to_string(),
            "redirect_uri=x&code=0.AAAbbb&state=1".to_string(),
            r#"{"client_secret":"hunter2hunter2"}"#.to_string(),
            "X-IDENTITY-HEADER: 3f6c1d2e-mi-header".to_string(),
        ];
        for c in &cases {
            let r = redact(c);
            assert!(r.contains(REDACTED), "{c} -> {r}");
            for secret in [
                TOKEN,
                "abc.def-ghi",
                "eyJzdWIiOiIxIn0",
                "AbC%2Fdef",
                "0.AAAbbb",
                "hunter2",
                "3f6c1d2e",
            ] {
                assert!(!r.contains(secret), "{c} -> {r}");
            }
        }
        // Graph's own error JSON keeps its code.
        let body = r#"{"error":{"code":"Request_ResourceNotFound","message":"x"}}"#;
        assert_eq!(redact(body), body);
        assert_eq!(redact("a short word"), "a short word");
        // Words after "Basic" or "Bearer" in Graph's prose are not credentials.
        let prose = "Basic authentication is disabled; the Bearer token is invalid";
        assert_eq!(redact(prose), prose);
    }

    #[test]
    fn unsafe_characters_are_escaped_and_text_is_bounded() {
        let t = server_text("a\u{1b}[31mb\u{202e}c\r\nd\u{200b}", 100);
        assert_eq!(t, "a\\u{1b}[31mb\\u{202e}c\\u{d}\\u{a}d\\u{200b}");
        let long = "x".repeat(10_000);
        let t = server_text(&long, 400);
        assert!(t.starts_with(&"x".repeat(400)));
        assert!(t.ends_with("(9600 more characters)"), "{}", &t[390..]);
        // A secret at the cut is redacted before the cut, never half kept.
        register_secret("SECRET-AT-THE-EDGE-abcdef");
        let t = server_text(
            &format!("{}SECRET-AT-THE-EDGE-abcdef", "y".repeat(395)),
            400,
        );
        assert!(!t.contains("SECRET-AT"), "{t}");
    }

    /// Seeded: a registered secret embedded anywhere in server text, amid any characters,
    /// cut at any bound, never survives whole or as a prefix of 8 characters or more.
    #[test]
    fn a_registered_secret_never_survives_server_text() {
        use rand::{Rng, SeedableRng};
        let secret = "SeCrEt-TOKEN-4b1d9f0e2a7c";
        register_secret(secret);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let noise = [
            "a", " ", "\u{1b}", "\u{202e}", "é", "\n", "=", "&", "\"", "<b>", "%",
        ];
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..rng.random_range(0..60) {
                text.push_str(noise[rng.random_range(0..noise.len())]);
            }
            let at = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .nth(rng.random_range(0..=text.chars().count()))
                .unwrap_or(0);
            text.insert_str(at, secret);
            let max = rng.random_range(1..120);
            let out = server_text(&text, max);
            assert!(!out.contains(&secret[..8]), "{text:?} -> {out:?}");
            assert!(!out.chars().any(is_unsafe_char), "{out:?}");
        }
    }
}
