//! The commerce services that cancel subscriptions or turn their renewal off where Graph
//! cannot: Partner Center for CSP partners ([`partner_center`]) and Microsoft.Billing for
//! Microsoft Customer Agreement accounts ([`billing`]). Owns their clients, the partner's
//! credential and reading them into [`crate::model::CommerceRead`]; must not touch Graph
//! or decide what a plan contains (the planner does, from the read).

pub mod billing;
pub mod partner_center;

use std::sync::Arc;

pub use billing::BillingClient;
pub use partner_center::PartnerCenterClient;

use crate::model::{CommerceRead, CommerceSubscription};
use crate::planner::{Billing, BillingChannel};
use crate::protocol::auth::{self, AuthSettings, CredentialSpec, TokenProvider};
use crate::protocol::ServiceError;

/// The partner's own credential: the partner signs in to its own tenant.
pub const ENV_PARTNER_TENANT_ID: &str = "CLOSEOUT_PARTNER_TENANT_ID";
/// The partner's app (its admin agent app).
pub const ENV_PARTNER_CLIENT_ID: &str = "CLOSEOUT_PARTNER_CLIENT_ID";
/// With `--auth token`: a pre-acquired Partner Center token.
pub const ENV_PARTNER_CENTER_ACCESS_TOKEN: &str = "CLOSEOUT_PARTNER_CENTER_ACCESS_TOKEN";

/// The client of the billing channel a plan uses.
#[derive(Debug, Clone)]
pub enum Commerce {
    PartnerCenter(PartnerCenterClient),
    Mca {
        client: BillingClient,
        /// The billing account named in the spec; `None` = discovered.
        account: Option<String>,
    },
}

impl Commerce {
    /// The channel's name in plans and messages.
    pub fn channel(&self) -> BillingChannel {
        match self {
            Commerce::PartnerCenter(_) => BillingChannel::PartnerCenter,
            Commerce::Mca { .. } => BillingChannel::Mca,
        }
    }

    /// Stops waits and retries when `token` fires.
    pub fn set_cancellation(&self, token: tokio_util::sync::CancellationToken) {
        match self {
            Commerce::PartnerCenter(c) => c.set_cancellation(token),
            Commerce::Mca { client, .. } => client.set_cancellation(token),
        }
    }

    /// Reads the tenant's subscriptions from the channel. Never fails: an error becomes
    /// [`CommerceRead::NotRead`] with its message (a "not checked" checklist line).
    pub async fn read(&self, tenant_id: &str) -> CommerceRead {
        let channel = self.channel().as_str().to_string();
        let result: Result<(String, Vec<CommerceSubscription>), ServiceError> = async {
            match self {
                Commerce::PartnerCenter(pc) => {
                    let items = pc.list().await?;
                    Ok((
                        pc.customer().to_string(),
                        items.iter().map(partner_center::parse).collect(),
                    ))
                }
                Commerce::Mca { client, account } => {
                    let account = client.account(account.as_deref()).await?;
                    let subs = client.subscriptions(&account, tenant_id).await?;
                    Ok((account, subs))
                }
            }
        }
        .await;
        match result {
            Ok((account, mut subscriptions)) => {
                subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
                CommerceRead::Read {
                    channel,
                    account,
                    subscriptions,
                }
            }
            Err(e) => CommerceRead::NotRead {
                channel,
                reason: e.to_string(),
            },
        }
    }
}

/// The partner's sign-in settings: the same credential kinds as closeout's own
/// (`--auth`), read from `CLOSEOUT_PARTNER_*` instead of `AZURE_*`
/// (`CLOSEOUT_PARTNER_TENANT_ID`, `CLOSEOUT_PARTNER_CLIENT_ID`,
/// `CLOSEOUT_PARTNER_CLIENT_SECRET`, `CLOSEOUT_PARTNER_CLIENT_CERTIFICATE_PATH`,
/// `CLOSEOUT_PARTNER_FEDERATED_TOKEN_FILE`), or `CLOSEOUT_PARTNER_CENTER_ACCESS_TOKEN` for
/// `--auth token`.
///
/// # Errors
/// [`auth::AuthError`] naming the missing variable.
pub fn partner_tokens(
    kind: Option<auth::AuthKind>,
    cloud: auth::Cloud,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn TokenProvider>, auth::AuthError> {
    let partner_env = |k: &str| -> Option<String> {
        if k == auth::ENV_ACCESS_TOKEN {
            return env(ENV_PARTNER_CENTER_ACCESS_TOKEN);
        }
        match k.strip_prefix("AZURE_") {
            Some(rest) => env(&format!("CLOSEOUT_PARTNER_{rest}")),
            None => None,
        }
    };
    let settings = AuthSettings {
        kind,
        tenant: None,
        client_id: None,
        cloud,
    };
    let spec = auth::resolve(&settings, &partner_env).map_err(|e| match e {
        auth::AuthError::NoCredentials => auth::AuthError::Missing {
            kind: kind.unwrap_or(auth::AuthKind::Secret),
            what: format!(
                "the CSP partner's own credential: {ENV_PARTNER_TENANT_ID}, {ENV_PARTNER_CLIENT_ID} and CLOSEOUT_PARTNER_CLIENT_SECRET (or _CLIENT_CERTIFICATE_PATH, _FEDERATED_TOKEN_FILE), or {ENV_PARTNER_CENTER_ACCESS_TOKEN} with --auth token"
            ),
        },
        other => other,
    })?;
    if let CredentialSpec::Token(t) = &spec {
        return Ok(partner_center_token(t));
    }
    auth::provider(&spec, cloud, &partner_env)
}

/// A fixed Partner Center token (`CLOSEOUT_PARTNER_CENTER_ACCESS_TOKEN`, or the
/// simulator's), given to Partner Center only and never to Graph or ARM; registered for
/// redaction.
pub fn partner_center_token(token: &str) -> Arc<dyn TokenProvider> {
    crate::protocol::redact::register_secret(token.trim());
    Arc::new(PartnerToken(auth::Bearer::new(token.trim())))
}

/// `CLOSEOUT_PARTNER_CENTER_ACCESS_TOKEN`: for Partner Center only (never sent to Graph).
#[derive(Debug)]
struct PartnerToken(auth::Bearer);

#[async_trait::async_trait]
impl TokenProvider for PartnerToken {
    async fn token(
        &self,
        audience: crate::protocol::Audience,
    ) -> Result<auth::Bearer, auth::AuthError> {
        if audience == crate::protocol::Audience::PartnerCenter {
            Ok(self.0.clone())
        } else {
            Err(auth::AuthError::Missing {
                kind: auth::AuthKind::Token,
                what: format!("an access token for {}", audience.name()),
            })
        }
    }
    fn kind(&self) -> auth::AuthKind {
        auth::AuthKind::Token
    }
}

/// Parses an RFC 3339 time (`2026-12-08T10:00:00Z`), or a date alone (`2026-12-08`, taken
/// as its midnight UTC), as Partner Center and Microsoft.Billing send them.
pub fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        let d = time::Date::parse(
            s.get(..10)?,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        Some(d.midnight().assume_utc())
    })
}

/// Whether the spec asks for commerce reads at all: a channel with an API, and step 2 on.
pub fn wanted(billing: &Billing, cancel_subscriptions: bool) -> bool {
    billing.channel != BillingChannel::Manual && cancel_subscriptions
}
