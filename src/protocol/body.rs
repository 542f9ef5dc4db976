//! Bounded response bodies: a body is read chunk by chunk and refused as soon as it passes
//! its bound (never buffered first), and JSON nesting is capped before parsing. Owns the
//! bounds; must not interpret any service's JSON.

use serde_json::Value;

/// Default bound of a response body: 64 MiB (a Graph page of 999 users is well under 10 MiB).
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// How much of an error body is read (the rest is dropped unread): 64 KiB.
pub const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// Deepest JSON nesting accepted (Graph's bodies nest fewer than 10 levels; serde_json
/// itself stops at 128).
pub const MAX_JSON_DEPTH: usize = 64;

/// Why a body was not read.
pub(crate) enum BodyError {
    /// More than the bound.
    TooLarge,
    /// The connection failed while the body streamed in.
    Transport(reqwest::Error),
}

/// Reads `resp`'s body, at most `limit` bytes. With `truncate`, the first `limit` bytes are
/// kept and the rest left unread (error bodies); without, a larger body is
/// [`BodyError::TooLarge`], decided from `Content-Length` when given, else while streaming.
pub(crate) async fn read_bounded(
    mut resp: reqwest::Response,
    limit: u64,
    truncate: bool,
) -> Result<Vec<u8>, BodyError> {
    if !truncate && resp.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        let room = limit.saturating_sub(out.len() as u64) as usize;
        if chunk.len() > room {
            if truncate {
                out.extend_from_slice(&chunk[..room]);
                return Ok(out);
            }
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `Err` with a message when `bytes` nest JSON arrays or objects deeper than `max` (a
/// linear scan that skips strings; it does not validate the JSON).
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), String> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
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
                    return Err(format!("JSON nested deeper than {max} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a JSON body after the depth check.
///
/// # Errors
/// A message naming the problem (depth, syntax with line and column), never the body.
pub fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    check_depth(bytes, MAX_JSON_DEPTH)?;
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_json_fails_fast_and_strings_do_not_count() {
        let deep = "[".repeat(1_000_000);
        let t = std::time::Instant::now();
        assert!(parse_json(deep.as_bytes())
            .unwrap_err()
            .contains("deeper than 64"));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        let ok = format!("{}{}", "[".repeat(60), "]".repeat(60));
        assert!(parse_json(ok.as_bytes()).is_ok());
        let in_string = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(200), "{".repeat(200));
        assert!(parse_json(in_string.as_bytes()).is_ok());
        assert!(parse_json(b"{\"a\":").unwrap_err().contains("invalid JSON"));
    }
}
