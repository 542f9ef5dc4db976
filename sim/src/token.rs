//! Bearer tokens as graph-sim reads them: JWT-shaped (`header.payload.signature`, base64url
//! JSON), never verified cryptographically. Owns decoding, the claims graph-sim uses
//! (`roles`, `wids`, `appid`, `exp`, `scp`) and minting test tokens; knows nothing about
//! routes (the permission table is [`crate::permissions`]).
//!
//! Claims: <https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>
//! (`roles` = application permissions granted, `wids` = directory role template ids of the
//! caller, `idtyp: app` for app-only tokens). Graph's answer to a token that is not a JWT is
//! 401 `InvalidAuthenticationToken` "IDX14100: JWT is not well formed, there are no dots (.)."
//! (quoted in microsoftgraph/microsoft-graph-docs-contrib issue #8457).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::GraphError;

/// What a token grants, as read from its claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `roles`: application permissions (app-only tokens), e.g. `User.Read.All`.
    pub roles: Vec<String>,
    /// `wids`: directory role template ids held by the caller (for an app: its service
    /// principal's directory roles).
    pub wids: Vec<String>,
    /// `scp`: delegated scopes, space-separated in the token (delegated tokens).
    pub scopes: Vec<String>,
    /// `appid` (v1 tokens) or `azp` (v2 tokens).
    pub app_id: Option<String>,
    /// `oid`: the caller's object id (an app's service principal), whom Azure role
    /// assignments name as `principalId`.
    pub object_id: Option<String>,
    /// `tid`: the tenant the caller signed in to.
    pub tenant_id: Option<String>,
}

impl Grants {
    /// Whether any of `permissions` is granted as an application role or delegated scope.
    pub fn has_any(&self, permissions: &[&str]) -> bool {
        permissions.iter().any(|p| {
            self.roles.iter().any(|r| r.eq_ignore_ascii_case(p))
                || self.scopes.iter().any(|s| s.eq_ignore_ascii_case(p))
        })
    }

    /// Whether the caller holds any of the directory role template ids `templates`.
    pub fn has_role(&self, templates: &[&str]) -> bool {
        templates
            .iter()
            .any(|t| self.wids.iter().any(|w| w.eq_ignore_ascii_case(t)))
    }
}

fn invalid(message: &str) -> GraphError {
    GraphError::new(401, "InvalidAuthenticationToken", message)
}

fn segment(s: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Reads a bearer token: 401 `InvalidAuthenticationToken` unless it is a JWT (three
/// base64url segments, the first two JSON objects) whose `exp` (seconds since the epoch),
/// when present, is in the future, and whose `aud`, when present, is Microsoft Graph.
pub fn read(token: &str, now_unix: u64) -> Result<Grants, GraphError> {
    read_as(token, now_unix, GRAPH_AUDIENCES, || {
        invalid("Invalid audience.")
    })
}

/// The `aud` values of Microsoft Graph tokens.
pub const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

/// The `aud` values of Azure Resource Manager tokens (v1 tokens carry the resource URI,
/// with or without the trailing `/`).
pub const ARM_AUDIENCES: &[&str] = &[
    "https://management.azure.com",
    "https://management.azure.com/",
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
];

/// Reads a bearer token for Azure Resource Manager, as [`read`] does for Graph: a token
/// whose `aud` is another service's gets 401 `InvalidAuthenticationTokenAudience`, ARM's
/// answer ("The access token has been obtained for wrong audience or resource", quoted in
/// Azure/azure-cli issues and
/// <https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/invalidauthenticationtokenaudience>).
/// A token without `aud` is accepted (graph-sim's test tokens may omit it).
pub fn read_arm(token: &str, now_unix: u64) -> Result<Grants, GraphError> {
    read_as(token, now_unix, ARM_AUDIENCES, || {
        GraphError::new(
            401,
            "InvalidAuthenticationTokenAudience",
            "The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
        )
    })
}

/// The `aud` values of Partner Center tokens: its resource URI (scope
/// `https://api.partnercenter.microsoft.com/.default`) or its application id
/// (<https://learn.microsoft.com/partner-center/developer/partner-center-authentication>).
pub const PARTNER_CENTER_AUDIENCES: &[&str] = &[
    "https://api.partnercenter.microsoft.com",
    "https://api.partnercenter.microsoft.com/",
    "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd",
];

/// Reads a bearer token for Partner Center, as [`read`] does for Graph: another service's
/// audience is refused (401). Which tenant may call is the caller's rule
/// ([`crate::commerce`]: the partner's own tenant only).
pub fn read_partner_center(token: &str, now_unix: u64) -> Result<Grants, GraphError> {
    read_as(token, now_unix, PARTNER_CENTER_AUDIENCES, || {
        invalid("The access token is not for Partner Center (audience https://api.partnercenter.microsoft.com).")
    })
}

fn read_as(
    token: &str,
    now_unix: u64,
    audiences: &[&str],
    wrong_audience: impl Fn() -> GraphError,
) -> Result<Grants, GraphError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(invalid(
            "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EncodedPayload.EncodedSignature'.",
        ));
    }
    let (Some(_header), Some(claims)) = (segment(parts[0]), segment(parts[1])) else {
        return Err(invalid(
            "IDX14102: Unable to decode the header or payload of the JWT as Base64Url encoded JSON.",
        ));
    };
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        if exp <= now_unix {
            return Err(invalid("Lifetime validation failed, the token is expired."));
        }
    }
    if let Some(aud) = claims.get("aud").and_then(Value::as_str) {
        if !audiences.contains(&aud) {
            return Err(wrong_audience());
        }
    }
    Ok(Grants {
        roles: strings(claims.get("roles")),
        wids: strings(claims.get("wids")),
        scopes: claims
            .get("scp")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        app_id: claims
            .get("appid")
            .or_else(|| claims.get("azp"))
            .and_then(Value::as_str)
            .map(str::to_string),
        object_id: claims
            .get("oid")
            .and_then(Value::as_str)
            .map(str::to_string),
        tenant_id: claims
            .get("tid")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// What to put in a minted token.
#[derive(Debug, Clone)]
pub struct MintOptions {
    /// Application permissions (`roles`).
    pub app_roles: Vec<String>,
    /// Directory role template ids (`wids`).
    pub directory_roles: Vec<String>,
    /// `appid` / `azp`.
    pub app_id: String,
    /// `tid`.
    pub tenant_id: String,
    /// Lifetime from now, seconds.
    pub lifetime_s: u64,
    /// `aud`: whom the token is for ([`GRAPH_AUDIENCES`] or [`ARM_AUDIENCES`]);
    /// default `https://graph.microsoft.com`.
    pub audience: String,
}

/// The application id minted tokens carry unless told otherwise.
pub const DEFAULT_APP_ID: &str = "00000000-0000-0000-0000-00000000c105";

impl Default for MintOptions {
    fn default() -> Self {
        MintOptions {
            app_roles: Vec::new(),
            directory_roles: Vec::new(),
            app_id: DEFAULT_APP_ID.to_string(),
            tenant_id: "00000000-0000-0000-0000-000000000000".to_string(),
            lifetime_s: 3600,
            audience: GRAPH_AUDIENCES[0].to_string(),
        }
    }
}

/// Mints an unsigned app-only token (`alg: none`, empty signature) graph-sim accepts:
/// `aud`, `iss`, `tid`, `appid`, `azp`, `idtyp: app`, `iat`, `nbf`, `exp`, `roles`, and
/// `wids` when `directory_roles` is not empty.
/// Real Graph refuses it (no signature); it is for the simulator only.
pub fn mint(o: &MintOptions, now_unix: u64) -> String {
    let header = json!({"typ": "JWT", "alg": "none"});
    let claims = json!({
        "aud": o.audience,
        "iss": format!("https://sts.windows.net/{}/", o.tenant_id),
        "iat": now_unix,
        "nbf": now_unix,
        "exp": now_unix + o.lifetime_s,
        "tid": o.tenant_id,
        "appid": o.app_id,
        "azp": o.app_id,
        "idtyp": "app",
        "oid": o.app_id,
        "roles": o.app_roles,
        "ver": "1.0",
    });
    // Entra puts `wids` in a token only when the caller holds directory roles.
    let mut claims = claims;
    if !o.directory_roles.is_empty() {
        claims["wids"] = json!(o.directory_roles);
    }
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
    format!("{}.{}.", enc(&header), enc(&claims))
}

/// Directory role template ids by display name, for `graph-sim token --directory-roles`
/// (<https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference>).
pub const ROLE_TEMPLATES: &[(&str, &str)] = &[
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    (
        "Privileged Authentication Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ),
    (
        "Privileged Role Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    ),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    (
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
    (
        "Cloud Application Administrator",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ),
    (
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    (
        "Conditional Access Administrator",
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    ),
    (
        "Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    ),
    (
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
];

/// A role's template id from its display name (case-insensitive) or the id itself.
pub fn role_template(name_or_id: &str) -> Option<String> {
    let s = name_or_id.trim();
    if crate::schema::is_guid(s) {
        return Some(s.to_ascii_lowercase());
    }
    ROLE_TEMPLATES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, id)| (*id).to_string())
}

/// A token with every application permission graph-sim checks and the Global Administrator
/// role: what tests use when permissions are not the subject. Valid for 24 hours.
pub fn full_access() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    mint(
        &MintOptions {
            app_roles: crate::permissions::all_permissions()
                .into_iter()
                .map(str::to_string)
                .collect(),
            directory_roles: vec!["62e90394-69f5-4237-9190-012177145e10".into()],
            lifetime_s: 24 * 3600,
            ..MintOptions::default()
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_read_back_and_garbage_is_refused() {
        let t = mint(
            &MintOptions {
                app_roles: vec!["User.Read.All".into()],
                directory_roles: vec!["62e90394-69f5-4237-9190-012177145e10".into()],
                ..MintOptions::default()
            },
            1_000,
        );
        let g = read(&t, 1_001).unwrap();
        assert!(g.has_any(&["user.read.all"]));
        assert!(!g.has_any(&["User.ReadWrite.All"]));
        assert!(g.has_role(&["62e90394-69f5-4237-9190-012177145e10"]));
        assert_eq!(g.app_id.as_deref(), Some(DEFAULT_APP_ID));
        assert!(read(&t, 1_000 + 3600).is_err(), "expired");
        for bad in ["test-token", "a.b", "a.b.c", "e30.e30", "..."] {
            let e = read(bad, 0).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str()),
                (401, "InvalidAuthenticationToken"),
                "{bad}"
            );
        }
        assert!(read("e30.e30.", 0).is_ok(), "{{}}.{{}}. is JWT-shaped");
    }
}
