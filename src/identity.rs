//! Who closeout signs in as: the claims of an access token (`appid`/`azp`, `tid`, `roles`,
//! `wids`, `idtyp`), decoded from the JWT payload WITHOUT verifying the signature. Only for
//! closeout's own decisions about itself (never to delete its own app registration while it
//! still needs it); never for authorisation, and the token itself is never kept or printed.
//! Owns no I/O.
//!
//! Microsoft identity platform access token claims:
//! <https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference>

use base64::Engine as _;
use serde::Deserialize;

/// The claims closeout reads from an access token. Every field is optional: a token of
/// another shape simply has fewer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TokenClaims {
    /// v1.0 tokens: the application (client) id that signed in.
    #[serde(default)]
    pub appid: Option<String>,
    /// v2.0 tokens: the application (client) id that signed in.
    #[serde(default)]
    pub azp: Option<String>,
    /// The tenant id the token was issued in.
    #[serde(default)]
    pub tid: Option<String>,
    /// Application permissions (app roles) granted, e.g. `User.ReadWrite.All`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Directory role template ids of the signed-in user or service principal.
    #[serde(default)]
    pub wids: Vec<String>,
    /// `app` for an application identity, `user` for a person.
    #[serde(default)]
    pub idtyp: Option<String>,
    /// The object id of the signed-in principal (an app's service principal): whom Azure
    /// role assignments name as `principalId`.
    #[serde(default)]
    pub oid: Option<String>,
}

impl TokenClaims {
    /// The application (client) id that signed in: `appid`, else `azp`, lower-cased.
    pub fn app_id(&self) -> Option<String> {
        self.appid
            .as_deref()
            .or(self.azp.as_deref())
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
    }
}

/// Upper bound of a token's length (bytes) this decoder looks at; Entra tokens are a few KB.
const MAX_TOKEN: usize = 64 * 1024;

/// Decodes the payload of a compact JWT (`header.payload.signature`, base64url without
/// padding) without checking its signature. `None` for anything that is not such a token
/// (an opaque token, a malformed one, one over 64 KiB): callers then fall back to the
/// configured client id.
pub fn decode_unverified(token: &str) -> Option<TokenClaims> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.trim().split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"none"}"#), e(payload))
    }

    #[test]
    fn reads_the_claims_and_falls_back_to_azp() {
        let c = decode_unverified(&jwt(
            r#"{"appid":"3A1F8358-9658-496D-8EF5-CD7175905FD7","tid":"t","roles":["User.ReadWrite.All"],"wids":["w"],"idtyp":"app"}"#,
        ))
        .unwrap();
        assert_eq!(
            c.app_id().as_deref(),
            Some("3a1f8358-9658-496d-8ef5-cd7175905fd7")
        );
        assert_eq!(c.roles, ["User.ReadWrite.All"]);
        assert_eq!(c.idtyp.as_deref(), Some("app"));
        let v2 = decode_unverified(&jwt(r#"{"azp":"abc"}"#)).unwrap();
        assert_eq!(v2.app_id().as_deref(), Some("abc"));
    }

    #[test]
    fn anything_else_is_none() {
        for t in ["", "opaque-token", "a.b", "a.!!!.c", "a.b.c.d", &jwt("[1]")] {
            assert_eq!(decode_unverified(t), None, "{t}");
        }
        assert_eq!(decode_unverified(&jwt("{}")).unwrap().app_id(), None);
    }
}
