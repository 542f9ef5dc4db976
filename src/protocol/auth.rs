//! Authentication, shared by every service client: which credential, from which flags and environment variables, and a
//! [`TokenProvider`] that hands the client a fresh bearer token for every request
//! (refreshed before it expires, so applies that run for hours keep working).
//! Never prints, logs or formats a token or secret: [`Bearer`] and the credential
//! descriptions redact them.
//!
//! The credentials are `azure_identity`'s (<https://docs.rs/azure_identity/1.0.0>); the
//! flow is OAuth 2.0 client credentials against
//! `https://{login host}/{tenant}/oauth2/v2.0/token` with
//! `scope=https://{graph host}/.default`
//! (<https://learn.microsoft.com/en-us/graph/auth-v2-service>). National cloud hosts follow
//! <https://learn.microsoft.com/en-us/graph/deployments>.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use azure_core::credentials::{Secret, SecretBytes, TokenCredential};
use tokio::sync::RwLock;

use super::redact;
use super::root::Audience;

/// A Microsoft cloud: where Graph and the sign-in service are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// Microsoft Graph global service.
    #[default]
    Global,
    /// Microsoft Graph for US Government L4.
    UsGov,
    /// Microsoft Graph for US Government L5 (DOD).
    UsGovDod,
    /// Microsoft Graph China operated by 21Vianet.
    China,
}

impl Cloud {
    /// Parses `global`, `usgov`, `usgov-dod`, `china`.
    pub fn parse(s: &str) -> Option<Cloud> {
        match s.to_ascii_lowercase().as_str() {
            "global" | "public" => Some(Cloud::Global),
            "usgov" | "usgovernment" => Some(Cloud::UsGov),
            "usgov-dod" | "dod" => Some(Cloud::UsGovDod),
            "china" => Some(Cloud::China),
            _ => None,
        }
    }

    /// The Graph service root, e.g. `https://graph.microsoft.com`.
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The sign-in (authority) host, e.g. `https://login.microsoftonline.com`.
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The OAuth scope for an app-only Graph token: `{graph root}/.default`.
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.graph_url())
    }

    /// The Azure Resource Manager root, e.g. `https://management.azure.com`
    /// (<https://learn.microsoft.com/en-us/azure/azure-government/compare-azure-government-global-azure>).
    pub fn arm_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://management.azure.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://management.usgovcloudapi.net",
            Cloud::China => "https://management.chinacloudapi.cn",
        }
    }

    /// The OAuth scope of an app-only token for `audience` in this cloud
    /// (`https://graph.microsoft.com/.default`, `https://management.azure.com/.default`).
    pub fn scope(self, audience: Audience) -> String {
        match audience {
            Audience::Graph => self.graph_scope(),
            Audience::Arm => format!("{}/.default", self.arm_url()),
            Audience::PartnerCenter => "https://api.partnercenter.microsoft.com/.default".into(),
        }
    }
}

/// How closeout signs in (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// App registration with a client secret (`AZURE_CLIENT_SECRET`).
    Secret,
    /// App registration with a certificate (`AZURE_CLIENT_CERTIFICATE_PATH`, PKCS #12).
    Certificate,
    /// Workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`, e.g. GitHub Actions OIDC).
    WorkloadIdentity,
    /// The account signed in to the Azure CLI (`az login`).
    AzureCli,
    /// The Azure managed identity of the machine running closeout.
    ManagedIdentity,
    /// A pre-acquired access token (`CLOSEOUT_ACCESS_TOKEN`); not refreshed.
    Token,
}

impl AuthKind {
    /// The `--auth` values, in the order of [`AuthKind::parse`].
    pub const NAMES: &'static [&'static str] = &[
        "secret",
        "certificate",
        "workload-identity",
        "azure-cli",
        "managed-identity",
        "token",
    ];

    /// Parses an `--auth` value.
    pub fn parse(s: &str) -> Option<AuthKind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "secret" | "client-secret" => AuthKind::Secret,
            "certificate" | "client-certificate" => AuthKind::Certificate,
            "workload-identity" | "federated" => AuthKind::WorkloadIdentity,
            "azure-cli" | "az" => AuthKind::AzureCli,
            "managed-identity" | "msi" => AuthKind::ManagedIdentity,
            "token" | "access-token" => AuthKind::Token,
            _ => return None,
        })
    }

    /// The `--auth` value naming this kind.
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::Secret => "secret",
            AuthKind::Certificate => "certificate",
            AuthKind::WorkloadIdentity => "workload-identity",
            AuthKind::AzureCli => "azure-cli",
            AuthKind::ManagedIdentity => "managed-identity",
            AuthKind::Token => "token",
        }
    }
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no token provider could be made or no token obtained. Messages name the credential
/// and the variable to set; they never contain a secret or a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No `--auth` and no credential found in the environment.
    #[error(
        "no credentials: set CLOSEOUT_ACCESS_TOKEN, or AZURE_TENANT_ID and AZURE_CLIENT_ID with \
         AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE; or \
         choose one with --auth (secret, certificate, workload-identity, azure-cli, \
         managed-identity, token); or rehearse on a simulated tenant with --simulate SNAPSHOT"
    )]
    NoCredentials,
    /// A value the chosen credential needs is missing.
    #[error("--auth {kind} needs {what}")]
    Missing { kind: AuthKind, what: String },
    /// A credential file could not be read.
    #[error("--auth {kind}: cannot read {}: {message}", path.display())]
    File {
        kind: AuthKind,
        path: PathBuf,
        message: String,
    },
    /// azure_identity refused the configuration or the sign-in service refused the request.
    #[error("--auth {kind}: {message}")]
    Credential { kind: AuthKind, message: String },
}

/// A bearer token. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Bearer(String);

impl Bearer {
    /// Wraps a token value.
    pub fn new(token: impl Into<String>) -> Bearer {
        Bearer(token.into())
    }

    /// The value, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

/// Gives the clients a valid bearer token for each request, per audience (one credential,
/// one token per service: Graph, Azure Resource Manager, ...).
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token for `audience`, valid for at least a few more minutes.
    async fn token(&self, audience: Audience) -> Result<Bearer, AuthError>;
    /// The service refused the last token for `audience` (401): forget any cached one.
    async fn invalidate(&self, _audience: Audience) {}
    /// `true` when [`TokenProvider::token`] can return a different token after
    /// [`TokenProvider::invalidate`] (a fixed token cannot).
    fn refreshes(&self) -> bool {
        false
    }
    /// The credential kind, for messages.
    fn kind(&self) -> AuthKind;
}

/// Fixed, pre-acquired tokens, one per audience (`CLOSEOUT_ACCESS_TOKEN` for Graph, or the
/// simulator's).
#[derive(Debug, Clone)]
pub struct StaticToken(Vec<(Audience, Bearer)>);

impl StaticToken {
    /// A fixed token for Microsoft Graph.
    pub fn new(token: impl Into<String>) -> StaticToken {
        StaticToken(Vec::new()).with(Audience::Graph, token)
    }

    /// These tokens and `token` for `audience` (replacing one given before).
    pub fn with(mut self, audience: Audience, token: impl Into<String>) -> StaticToken {
        let token = Bearer::new(token);
        redact::register_secret(token.secret());
        self.0.retain(|(a, _)| *a != audience);
        self.0.push((audience, token));
        self
    }
}

#[async_trait::async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self, audience: Audience) -> Result<Bearer, AuthError> {
        self.0
            .iter()
            .find(|(a, _)| *a == audience)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| AuthError::Missing {
                kind: AuthKind::Token,
                what: format!(
                    "an access token for {} ({})",
                    audience.name(),
                    audience.token_variable()
                ),
            })
    }
    fn kind(&self) -> AuthKind {
        AuthKind::Token
    }
}

/// How long before its expiry a cached token is replaced (azure_identity's own caches use
/// the same margin).
pub const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// An `azure_identity` credential with a token cache that refreshes [`REFRESH_MARGIN`]
/// before expiry.
pub struct AzureTokenProvider {
    kind: AuthKind,
    credential: Arc<dyn TokenCredential>,
    cloud: Cloud,
    cached: RwLock<Vec<(Audience, Bearer, time::OffsetDateTime)>>,
}

impl fmt::Debug for AzureTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureTokenProvider")
            .field("kind", &self.kind)
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}

impl AzureTokenProvider {
    /// Wraps `credential`, asking it for tokens for each audience's scope in `cloud`
    /// ([`Cloud::scope`], e.g. `https://graph.microsoft.com/.default`).
    pub fn new(
        kind: AuthKind,
        credential: Arc<dyn TokenCredential>,
        cloud: Cloud,
    ) -> AzureTokenProvider {
        AzureTokenProvider {
            kind,
            credential,
            cloud,
            cached: RwLock::new(Vec::new()),
        }
    }
}

/// azure_core's error text, redacted at the boundary (an identity endpoint may echo the
/// `IDENTITY_HEADER`, a client secret or an assertion), escaped and bounded.
fn credential_message(e: &azure_core::Error) -> String {
    redact::server_text(
        &credential_chain(e).replace(['\r', '\n'], " "),
        2 * redact::MESSAGE_CHARS,
    )
}

fn credential_chain(e: &azure_core::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let next = s.to_string();
        if !msg.contains(&next) {
            msg.push_str(": ");
            msg.push_str(&next);
        }
        src = s.source();
    }
    msg
}

#[async_trait::async_trait]
impl TokenProvider for AzureTokenProvider {
    async fn token(&self, audience: Audience) -> Result<Bearer, AuthError> {
        let now = time::OffsetDateTime::now_utc();
        let fresh = |all: &[(Audience, Bearer, time::OffsetDateTime)]| {
            all.iter()
                .find(|(a, _, exp)| *a == audience && *exp - REFRESH_MARGIN > now)
                .map(|(_, t, _)| t.clone())
        };
        if let Some(t) = fresh(&self.cached.read().await) {
            return Ok(t);
        }
        let mut slot = self.cached.write().await;
        if let Some(t) = fresh(&slot) {
            return Ok(t);
        }
        let scope = self.cloud.scope(audience);
        let token = self
            .credential
            .get_token(&[scope.as_str()], None)
            .await
            .map_err(|e| AuthError::Credential {
                kind: self.kind,
                message: credential_message(&e),
            })?;
        let bearer = Bearer::new(token.token.secret());
        redact::register_secret(bearer.secret());
        slot.retain(|(a, _, _)| *a != audience);
        slot.push((audience, bearer.clone(), token.expires_on));
        Ok(bearer)
    }

    async fn invalidate(&self, audience: Audience) {
        self.cached.write().await.retain(|(a, _, _)| *a != audience);
    }

    fn refreshes(&self) -> bool {
        true
    }

    fn kind(&self) -> AuthKind {
        self.kind
    }
}

/// What the command line says about signing in (`--auth`, `--tenant`, `--client-id`,
/// `--cloud`).
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// `--auth`; `None` = detect from the environment (see [`resolve`]).
    pub kind: Option<AuthKind>,
    /// `--tenant` (a tenant id or a verified domain); else `AZURE_TENANT_ID`.
    pub tenant: Option<String>,
    /// `--client-id`; else `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `--cloud`.
    pub cloud: Cloud,
}

/// A credential chosen and configured, not yet constructed. `Debug` redacts secrets.
#[derive(Clone)]
pub enum CredentialSpec {
    Token(String),
    Secret {
        tenant: String,
        client_id: String,
        secret: String,
    },
    Certificate {
        tenant: String,
        client_id: String,
        path: PathBuf,
        password: Option<String>,
    },
    WorkloadIdentity {
        tenant: String,
        client_id: String,
        token_file: PathBuf,
    },
    AzureCli {
        tenant: Option<String>,
    },
    ManagedIdentity {
        /// A user-assigned identity's client id; `None` = system-assigned.
        client_id: Option<String>,
    },
}

impl CredentialSpec {
    /// The kind of credential.
    pub fn kind(&self) -> AuthKind {
        match self {
            CredentialSpec::Token(_) => AuthKind::Token,
            CredentialSpec::Secret { .. } => AuthKind::Secret,
            CredentialSpec::Certificate { .. } => AuthKind::Certificate,
            CredentialSpec::WorkloadIdentity { .. } => AuthKind::WorkloadIdentity,
            CredentialSpec::AzureCli { .. } => AuthKind::AzureCli,
            CredentialSpec::ManagedIdentity { .. } => AuthKind::ManagedIdentity,
        }
    }
}

impl fmt::Debug for CredentialSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSpec::Token(_) => f.write_str("Token(<redacted>)"),
            CredentialSpec::Secret {
                tenant, client_id, ..
            } => f
                .debug_struct("Secret")
                .field("tenant", tenant)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            CredentialSpec::Certificate {
                tenant,
                client_id,
                path,
                ..
            } => f
                .debug_struct("Certificate")
                .field("tenant", tenant)
                .field("client_id", client_id)
                .field("path", path)
                .finish_non_exhaustive(),
            CredentialSpec::WorkloadIdentity {
                tenant,
                client_id,
                token_file,
            } => f
                .debug_struct("WorkloadIdentity")
                .field("tenant", tenant)
                .field("client_id", client_id)
                .field("token_file", token_file)
                .finish(),
            CredentialSpec::AzureCli { tenant } => {
                f.debug_struct("AzureCli").field("tenant", tenant).finish()
            }
            CredentialSpec::ManagedIdentity { client_id } => f
                .debug_struct("ManagedIdentity")
                .field("client_id", client_id)
                .finish(),
        }
    }
}

/// Environment variables closeout reads to sign in.
pub const ENV_ACCESS_TOKEN: &str = "CLOSEOUT_ACCESS_TOKEN";
/// With `--auth token`: a fixed token for Azure Resource Manager
/// (`https://management.azure.com`), beside the Graph one. Without it, ARM is not read.
pub const ENV_ARM_ACCESS_TOKEN: &str = "CLOSEOUT_ARM_ACCESS_TOKEN";
pub const ENV_TENANT_ID: &str = "AZURE_TENANT_ID";
pub const ENV_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub const ENV_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
pub const ENV_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
pub const ENV_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Set by Azure App Service, Functions, Container Apps, Arc and Cloud Shell for their
/// managed identity endpoint.
pub const ENV_IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
pub const ENV_MSI_ENDPOINT: &str = "MSI_ENDPOINT";

/// Chooses and configures the credential. `env` looks up an environment variable (empty
/// values count as unset).
///
/// Without `--auth`, the first of these that is present wins:
/// 1. `CLOSEOUT_ACCESS_TOKEN` -> `token`;
/// 2. `AZURE_CLIENT_SECRET` -> `secret`;
/// 3. `AZURE_CLIENT_CERTIFICATE_PATH` -> `certificate`;
/// 4. `AZURE_FEDERATED_TOKEN_FILE` -> `workload-identity`;
/// 5. `IDENTITY_ENDPOINT` or `MSI_ENDPOINT` -> `managed-identity`.
///
/// The Azure CLI and a virtual machine's managed identity leave no variable behind: choose
/// them with `--auth azure-cli` / `--auth managed-identity`.
///
/// # Errors
/// [`AuthError::NoCredentials`] when nothing is found; [`AuthError::Missing`] naming the
/// flag or variable a chosen credential lacks.
pub fn resolve(
    settings: &AuthSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CredentialSpec, AuthError> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let kind = match settings.kind {
        Some(k) => k,
        None => {
            if var(ENV_ACCESS_TOKEN).is_some() {
                AuthKind::Token
            } else if var(ENV_CLIENT_SECRET).is_some() {
                AuthKind::Secret
            } else if var(ENV_CLIENT_CERTIFICATE_PATH).is_some() {
                AuthKind::Certificate
            } else if var(ENV_FEDERATED_TOKEN_FILE).is_some() {
                AuthKind::WorkloadIdentity
            } else if var(ENV_IDENTITY_ENDPOINT).is_some() || var(ENV_MSI_ENDPOINT).is_some() {
                AuthKind::ManagedIdentity
            } else {
                return Err(AuthError::NoCredentials);
            }
        }
    };
    let missing = |what: &str| AuthError::Missing {
        kind,
        what: what.to_string(),
    };
    let tenant = settings.tenant.clone().or_else(|| var(ENV_TENANT_ID));
    let client_id = settings.client_id.clone().or_else(|| var(ENV_CLIENT_ID));
    let need_tenant = || {
        tenant
            .clone()
            .ok_or_else(|| missing("--tenant ID_OR_DOMAIN or AZURE_TENANT_ID"))
    };
    let need_client = || {
        client_id
            .clone()
            .ok_or_else(|| missing("--client-id ID or AZURE_CLIENT_ID"))
    };
    Ok(match kind {
        AuthKind::Token => CredentialSpec::Token(var(ENV_ACCESS_TOKEN).ok_or_else(|| {
            missing("CLOSEOUT_ACCESS_TOKEN (an access token for Microsoft Graph)")
        })?),
        AuthKind::Secret => CredentialSpec::Secret {
            tenant: need_tenant()?,
            client_id: need_client()?,
            secret: var(ENV_CLIENT_SECRET).ok_or_else(|| missing("AZURE_CLIENT_SECRET"))?,
        },
        AuthKind::Certificate => CredentialSpec::Certificate {
            tenant: need_tenant()?,
            client_id: need_client()?,
            path: var(ENV_CLIENT_CERTIFICATE_PATH)
                .map(PathBuf::from)
                .ok_or_else(|| missing("AZURE_CLIENT_CERTIFICATE_PATH (a PKCS #12 .pfx file)"))?,
            password: var(ENV_CLIENT_CERTIFICATE_PASSWORD),
        },
        AuthKind::WorkloadIdentity => CredentialSpec::WorkloadIdentity {
            tenant: need_tenant()?,
            client_id: need_client()?,
            token_file: var(ENV_FEDERATED_TOKEN_FILE)
                .map(PathBuf::from)
                .ok_or_else(|| missing("AZURE_FEDERATED_TOKEN_FILE"))?,
        },
        AuthKind::AzureCli => CredentialSpec::AzureCli { tenant },
        AuthKind::ManagedIdentity => CredentialSpec::ManagedIdentity { client_id },
    })
}

/// azure_identity's client options for `cloud`, or for `AZURE_AUTHORITY_HOST` when set (a
/// sovereign or test authority).
fn client_options(cloud: Cloud, authority_host: Option<String>) -> azure_core::http::ClientOptions {
    let config = match (authority_host, cloud) {
        (Some(host), _) => {
            let mut custom = azure_core::cloud::CustomConfiguration::default();
            custom.authority_host = host;
            azure_core::cloud::CloudConfiguration::Custom(custom)
        }
        (None, Cloud::Global) => azure_core::cloud::CloudConfiguration::AzurePublic,
        (None, Cloud::UsGov | Cloud::UsGovDod) => {
            azure_core::cloud::CloudConfiguration::AzureGovernment
        }
        (None, Cloud::China) => azure_core::cloud::CloudConfiguration::AzureChina,
    };
    azure_core::http::ClientOptions {
        cloud: Some(Arc::new(config)),
        // A sign-in that fails for 30 s is reported rather than retried for minutes.
        retry: azure_core::http::RetryOptions::exponential(
            azure_core::http::ExponentialRetryOptions {
                max_retries: 4,
                max_total_elapsed: azure_core::time::Duration::seconds(30),
                ..Default::default()
            },
        ),
        ..Default::default()
    }
}

/// Reads a credential file (certificate, federated token) through the input-file bounds
/// ([`crate::input::read_file`] with [`crate::input::FileKind::Token`]: a regular file once
/// symlinks are followed, at most 64 KiB), so a FIFO, `/dev/zero` or a huge file is refused
/// at once.
///
/// Errors: [`AuthError::File`] naming the path, never the file's content.
fn read_credential_file(kind: AuthKind, path: &std::path::Path) -> Result<Vec<u8>, AuthError> {
    crate::input::read_file(path, crate::input::FileKind::Token).map_err(|e| AuthError::File {
        kind,
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Constructs the token provider for `spec` in `cloud` (no network call: the first token
/// is requested by the first Graph request). `env` is consulted for
/// `AZURE_AUTHORITY_HOST` only.
///
/// # Errors
/// [`AuthError`] when azure_identity refuses the configuration (e.g. a malformed tenant id)
/// or a certificate or federated token file can't be read (not a regular file, over 64
/// KiB) or parsed.
pub fn provider(
    spec: &CredentialSpec,
    cloud: Cloud,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    use azure_identity as id;
    let kind = spec.kind();
    // Secrets an identity endpoint might echo back in an error.
    for v in ["IDENTITY_HEADER", "MSI_SECRET"] {
        if let Some(s) = env(v) {
            redact::register_secret(&s);
        }
    }
    match spec {
        CredentialSpec::Token(t) | CredentialSpec::Secret { secret: t, .. } => {
            redact::register_secret(t)
        }
        CredentialSpec::Certificate {
            password: Some(p), ..
        } => redact::register_secret(p),
        _ => {}
    }
    let authority = env("AZURE_AUTHORITY_HOST").filter(|v| !v.trim().is_empty());
    let options = || client_options(cloud, authority.clone());
    let err = |e: azure_core::Error| AuthError::Credential {
        kind,
        message: credential_message(&e),
    };
    let credential: Arc<dyn TokenCredential> = match spec {
        CredentialSpec::Token(t) => {
            let mut tokens = StaticToken::new(t.clone());
            if let Some(arm) = env(ENV_ARM_ACCESS_TOKEN).filter(|v| !v.trim().is_empty()) {
                tokens = tokens.with(Audience::Arm, arm.trim());
            }
            return Ok(Arc::new(tokens));
        }
        CredentialSpec::Secret {
            tenant,
            client_id,
            secret,
        } => id::ClientSecretCredential::new(
            tenant,
            client_id.clone(),
            Secret::new(secret.clone()),
            Some(id::ClientSecretCredentialOptions {
                client_options: options(),
            }),
        )
        .map_err(err)?,
        CredentialSpec::Certificate {
            tenant,
            client_id,
            path,
            password,
        } => {
            let bytes = read_credential_file(kind, path)?;
            id::ClientCertificateCredential::new(
                tenant.clone(),
                client_id.clone(),
                SecretBytes::new(bytes),
                Some(id::ClientCertificateCredentialOptions {
                    client_options: options(),
                    password: password.clone().map(Secret::new),
                }),
            )
            .map_err(|e| AuthError::File {
                kind,
                path: path.clone(),
                message: format!(
                    "{} (azure_identity 1.0 reads PKCS #12 .pfx files with an RSA key; convert a PEM pair with `openssl pkcs12 -export`)",
                    credential_message(&e)
                ),
            })?
        }
        CredentialSpec::WorkloadIdentity {
            tenant,
            client_id,
            token_file,
        } => {
            // azure_identity reads the file itself (again at each refresh, the way projected
            // tokens rotate), without bounds: it is checked here first, so a FIFO, a device
            // or a huge file is refused at once rather than blocking or exhausting memory.
            read_credential_file(kind, token_file)?;
            id::WorkloadIdentityCredential::new(Some(id::WorkloadIdentityCredentialOptions {
                credential_options: id::ClientAssertionCredentialOptions {
                    client_options: options(),
                },
                client_id: Some(client_id.clone()),
                tenant_id: Some(tenant.clone()),
                token_file_path: Some(token_file.clone()),
            }))
            .map_err(err)?
        }
        CredentialSpec::AzureCli { tenant } => {
            id::AzureCliCredential::new(Some(id::AzureCliCredentialOptions {
                tenant_id: tenant.clone(),
                ..Default::default()
            }))
            .map_err(err)?
        }
        CredentialSpec::ManagedIdentity { client_id } => {
            id::ManagedIdentityCredential::new(Some(id::ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(id::UserAssignedId::ClientId),
                client_options: options(),
            }))
            .map_err(err)?
        }
    };
    Ok(Arc::new(AzureTokenProvider::new(kind, credential, cloud)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    const SECRET: &str = "s3cr3t-VALUE-never-shown";

    /// A token missing for one service names that service and its variable, whichever
    /// service it is (the sign-in error once always said "Microsoft Graph").
    #[tokio::test]
    async fn a_missing_token_names_its_service_and_variable() {
        let tokens = StaticToken::new("graph-token-1234567890abcdef");
        for audience in [Audience::Arm, Audience::PartnerCenter] {
            let err = tokens.token(audience).await.unwrap_err();
            let shown = crate::protocol::ServiceError::Auth(err).to_string();
            assert!(shown.contains(audience.name()), "{shown}");
            assert!(shown.contains(audience.token_variable()), "{shown}");
            assert!(!shown.contains("Microsoft Graph"), "{shown}");
        }
        assert!(tokens.token(Audience::Graph).await.is_ok());
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const TENANT: &str = "0b7d3c4e-1111-4a2b-9c3d-000000000001";
    const CLIENT: &str = "11111111-2222-4333-8444-555555555555";

    /// A self-signed RSA certificate with its key, as PKCS #12 (what azure_identity reads).
    fn pkcs12(password: &str) -> Vec<u8> {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "closeout-test").unwrap();
        let name = name.build();
        let mut b = x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        openssl::pkcs12::Pkcs12::builder()
            .name("closeout-test")
            .pkey(&key)
            .cert(&cert)
            .build2(password)
            .unwrap()
            .to_der()
            .unwrap()
    }

    fn build(settings: &AuthSettings, env: &[(&str, &str)]) -> Arc<dyn TokenProvider> {
        let env = env_of(env);
        let spec = resolve(settings, &env).unwrap();
        let provider = provider(&spec, settings.cloud, &env).unwrap();
        assert_eq!(provider.kind(), spec.kind());
        let shown = format!("{spec:?} {provider:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        provider
    }

    #[test]
    fn each_credential_is_detected_and_constructed_from_its_variables() {
        let dir = tempfile::tempdir().unwrap();
        let none = AuthSettings::default();

        let p = build(&none, &[(ENV_ACCESS_TOKEN, SECRET)]);
        assert_eq!(p.kind(), AuthKind::Token);
        assert!(!p.refreshes());

        let p = build(
            &none,
            &[
                (ENV_TENANT_ID, TENANT),
                (ENV_CLIENT_ID, CLIENT),
                (ENV_CLIENT_SECRET, SECRET),
            ],
        );
        assert_eq!(p.kind(), AuthKind::Secret);
        assert!(p.refreshes());

        let cert = dir.path().join("app.pfx");
        std::fs::write(&cert, pkcs12(SECRET)).unwrap();
        let p = build(
            &none,
            &[
                (ENV_TENANT_ID, TENANT),
                (ENV_CLIENT_ID, CLIENT),
                (ENV_CLIENT_CERTIFICATE_PATH, cert.to_str().unwrap()),
                (ENV_CLIENT_CERTIFICATE_PASSWORD, SECRET),
            ],
        );
        assert_eq!(p.kind(), AuthKind::Certificate);

        let federated = dir.path().join("oidc-token");
        std::fs::write(&federated, "eyJhbGciOi.fake.jwt").unwrap();
        let p = build(
            &none,
            &[
                (ENV_TENANT_ID, TENANT),
                (ENV_CLIENT_ID, CLIENT),
                (ENV_FEDERATED_TOKEN_FILE, federated.to_str().unwrap()),
            ],
        );
        assert_eq!(p.kind(), AuthKind::WorkloadIdentity);

        let p = build(
            &none,
            &[(ENV_IDENTITY_ENDPOINT, "http://127.0.0.1:41234/msi/token")],
        );
        assert_eq!(p.kind(), AuthKind::ManagedIdentity);

        let cli = AuthSettings {
            kind: Some(AuthKind::AzureCli),
            tenant: Some("contoso.onmicrosoft.com".into()),
            ..AuthSettings::default()
        };
        assert_eq!(build(&cli, &[]).kind(), AuthKind::AzureCli);
        let msi = AuthSettings {
            kind: Some(AuthKind::ManagedIdentity),
            ..AuthSettings::default()
        };
        let p = build(&msi, &[(ENV_CLIENT_ID, CLIENT)]);
        assert_eq!(p.kind(), AuthKind::ManagedIdentity);
    }

    #[test]
    fn detection_order_and_missing_values_are_explained() {
        let none = AuthSettings::default();
        // A pre-acquired token wins over app credentials; a secret over a certificate.
        let env = env_of(&[
            (ENV_ACCESS_TOKEN, SECRET),
            (ENV_CLIENT_SECRET, SECRET),
            (ENV_CLIENT_CERTIFICATE_PATH, "/x.pfx"),
        ]);
        assert_eq!(resolve(&none, &env).unwrap().kind(), AuthKind::Token);
        let env = env_of(&[
            (ENV_CLIENT_SECRET, SECRET),
            (ENV_CLIENT_CERTIFICATE_PATH, "/x.pfx"),
            (ENV_TENANT_ID, TENANT),
            (ENV_CLIENT_ID, CLIENT),
        ]);
        assert_eq!(resolve(&none, &env).unwrap().kind(), AuthKind::Secret);

        assert!(matches!(
            resolve(&none, &env_of(&[])),
            Err(AuthError::NoCredentials)
        ));
        let e = resolve(&none, &env_of(&[(ENV_CLIENT_SECRET, SECRET)])).unwrap_err();
        assert!(e.to_string().contains("AZURE_TENANT_ID"), "{e}");
        assert!(!e.to_string().contains(SECRET));
        // --tenant and --client-id stand in for the variables.
        let flags = AuthSettings {
            kind: Some(AuthKind::Secret),
            tenant: Some("contoso.onmicrosoft.com".into()),
            client_id: Some(CLIENT.into()),
            cloud: Cloud::China,
        };
        let spec = resolve(&flags, &env_of(&[(ENV_CLIENT_SECRET, SECRET)])).unwrap();
        assert!(
            matches!(&spec, CredentialSpec::Secret { tenant, .. } if tenant == "contoso.onmicrosoft.com")
        );
        // A certificate that isn't PKCS #12 is refused with the file named, not a panic.
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("app.pem");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let spec = CredentialSpec::Certificate {
            tenant: TENANT.into(),
            client_id: CLIENT.into(),
            path: pem.clone(),
            password: None,
        };
        let e = provider(&spec, Cloud::Global, &env_of(&[])).unwrap_err();
        assert!(
            e.to_string().contains("app.pem") && e.to_string().contains("PKCS #12"),
            "{e}"
        );
    }

    #[test]
    fn clouds_name_their_graph_and_sign_in_hosts() {
        let hosts = |c: &str| {
            let c = Cloud::parse(c).unwrap();
            (c.graph_url(), c.login_url())
        };
        assert_eq!(
            hosts("global"),
            (
                "https://graph.microsoft.com",
                "https://login.microsoftonline.com"
            )
        );
        assert_eq!(
            hosts("usgov"),
            (
                "https://graph.microsoft.us",
                "https://login.microsoftonline.us"
            )
        );
        assert_eq!(
            hosts("usgov-dod"),
            (
                "https://dod-graph.microsoft.us",
                "https://login.microsoftonline.us"
            )
        );
        assert_eq!(
            hosts("china"),
            (
                "https://microsoftgraph.chinacloudapi.cn",
                "https://login.chinacloudapi.cn"
            )
        );
        assert_eq!(
            Cloud::UsGov.graph_scope(),
            "https://graph.microsoft.us/.default"
        );
        assert!(Cloud::parse("mars").is_none());
    }

    /// A credential that counts its calls and issues tokens living `lifetime`.
    #[derive(Debug)]
    struct Counting {
        calls: AtomicU32,
        lifetime: time::Duration,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Counting {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            assert_eq!(scopes, ["https://graph.microsoft.com/.default"]);
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(azure_core::credentials::AccessToken::new(
                format!("token-{n}"),
                time::OffsetDateTime::now_utc() + self.lifetime,
            ))
        }
    }

    #[tokio::test]
    async fn tokens_are_cached_and_refreshed_before_expiry() {
        let long = Arc::new(Counting {
            calls: AtomicU32::new(0),
            lifetime: time::Duration::hours(1),
        });
        let p = AzureTokenProvider::new(AuthKind::Secret, long.clone(), Cloud::Global);
        for _ in 0..10 {
            assert_eq!(p.token(Audience::Graph).await.unwrap().secret(), "token-1");
        }
        assert_eq!(long.calls.load(Ordering::SeqCst), 1);
        // After a 401 the next request signs in again.
        p.invalidate(Audience::Graph).await;
        assert_eq!(p.token(Audience::Graph).await.unwrap().secret(), "token-2");

        // A token within the refresh margin of its expiry is replaced before use.
        let short = Arc::new(Counting {
            calls: AtomicU32::new(0),
            lifetime: REFRESH_MARGIN - time::Duration::seconds(1),
        });
        let p = AzureTokenProvider::new(AuthKind::Secret, short.clone(), Cloud::Global);
        assert_eq!(p.token(Audience::Graph).await.unwrap().secret(), "token-1");
        assert_eq!(p.token(Audience::Graph).await.unwrap().secret(), "token-2");
        assert_eq!(short.calls.load(Ordering::SeqCst), 2);
    }
}
