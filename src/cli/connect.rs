//! Connects a command to its tenant: Microsoft Graph with a bearer token, or a simulated
//! tenant served by graph-sim in-process over loopback HTTP.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::args::TargetArgs;
use super::error::CliError;
use std::sync::Arc;

use crate::graph::auth::{self, AuthSettings};
use crate::graph::{ClientOptions, GraphClient, GraphError, PacingConfig, StaticToken};

/// A live connection; keeps the in-process simulator running while it lives.
pub struct Connection {
    pub client: GraphClient,
    /// Azure Resource Manager, on the same credential (its own token and service root:
    /// `--arm-url`, else the `--cloud`'s); `None` when `--graph-url` names a stand-in and
    /// `--arm-url` does not (closeout then never contacts the cloud's real ARM beside it).
    pub arm: Option<crate::arm::ArmClient>,
    sim: Option<graph_sim::SimServer>,
    /// `true` when the tenant is simulated (nothing irreversible can happen).
    pub simulated: bool,
    /// The application (client) id closeout signs in as, lower-case: the access token's
    /// `appid`/`azp` claim for `--auth token` (see [`crate::identity`]), else `--client-id`
    /// or AZURE_CLIENT_ID; `None` when unknown (managed identity, Azure CLI, simulated).
    pub signed_in_app: Option<String>,
    /// The credential's token provider (Graph and ARM audiences), for the billing channel's
    /// Microsoft.Billing client (`src/cli/commerce.rs`).
    pub tokens: Arc<dyn crate::protocol::auth::TokenProvider>,
}

impl Connection {
    /// The in-process simulator's base URL (it serves the commerce routes too), if any.
    pub fn sim_url(&self) -> Option<String> {
        self.sim.as_ref().map(|s| s.base_url())
    }

    /// Stops the in-process simulator, if any.
    pub async fn close(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }

    /// Picks up changes other processes made to a simulated tenant (e.g. `closeout sim
    /// cancel-subscription` in another terminal while `apply --wait` polls): the in-process
    /// simulator is restarted on the recorded state. A no-op for real Graph.
    pub async fn refresh(&mut self, target: &TargetArgs) -> Result<(), CliError> {
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
            *self = connect(target).await?;
        }
        Ok(())
    }
}

/// The state directory: `--state-dir`, else `$XDG_STATE_HOME/closeout`, else
/// `~/.local/state/closeout`, else the platform's local data directory.
pub fn state_dir(arg: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = arg {
        return Ok(p.to_path_buf());
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("closeout"))
        .ok_or_else(|| CliError::msg("cannot find a state directory: pass --state-dir DIR"))
}

/// Where a simulated tenant's changes are kept: one op log per snapshot path.
pub fn sim_state_file(snapshot: &Path, state_dir_arg: Option<&Path>) -> Result<PathBuf, CliError> {
    let canonical = snapshot.canonicalize().map_err(|e| {
        CliError::msg(format!(
            "{}: cannot open the snapshot: {e}",
            snapshot.display()
        ))
    })?;
    let hash = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let stem = snapshot
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tenant".to_string());
    Ok(state_dir(state_dir_arg)?
        .join("simulated")
        .join(format!("{stem}-{short}.oplog")))
}

/// Refuses a snapshot that is not a regular file, is over the snapshot bound, or nests
/// deeper than [`crate::input::MAX_NESTING`] ([`crate::input`]), before graph-sim parses it.
pub fn check_snapshot_file(snapshot: &Path) -> Result<(), CliError> {
    use crate::input::{self, FileKind, MAX_NESTING};
    let bytes =
        input::read_file(snapshot, FileKind::Snapshot).map_err(|e| CliError::msg(e.to_string()))?;
    let json = snapshot
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let depth = if json {
        input::check_json_depth(&bytes, MAX_NESTING)
    } else {
        input::check_yaml_depth(&String::from_utf8_lossy(&bytes), MAX_NESTING)
    };
    depth.map_err(|line| {
        CliError::msg(format!(
            "{}:{line}: the snapshot nests deeper than {MAX_NESTING} levels",
            snapshot.display()
        ))
    })
}

/// Opens a simulated tenant's store (snapshot plus its recorded changes).
pub fn open_sim_store(
    snapshot: &Path,
    state_dir_arg: Option<&Path>,
) -> Result<graph_sim::Store, CliError> {
    check_snapshot_file(snapshot)?;
    let state_file = sim_state_file(snapshot, state_dir_arg)?;
    if let Some(parent) = state_file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            CliError::msg(format!(
                "{}: cannot create the state directory: {e}",
                parent.display()
            ))
        })?;
    }
    graph_sim::Store::open(snapshot, Some(&state_file)).map_err(|e| CliError::msg(e.to_string()))
}

/// The client options the protocol flags ask for. `simulated`: graph-sim in-process has no
/// quotas, so nothing is paced.
pub fn client_options(target: &TargetArgs, simulated: bool) -> ClientOptions {
    let p = &target.protocol;
    let pacing = (!p.no_pace && !simulated).then(|| PacingConfig {
        time_scale: p.pace_time_scale,
        ..PacingConfig::default()
    });
    ClientOptions {
        pacing,
        batch_size: p.batch_size,
        deadline: Some(p.deadline),
        ..ClientOptions::default()
    }
}

/// The core options of the ARM client (ARM is not paced client-side; its 429s carry
/// `Retry-After`, which the core honours).
fn arm_options(target: &TargetArgs) -> crate::protocol::CoreOptions {
    crate::protocol::CoreOptions {
        deadline: Some(target.protocol.deadline),
        ..crate::protocol::CoreOptions::default()
    }
}

/// The unsigned ARM-audience token the in-process graph-sim accepts for a rehearsal: the
/// simulated app (its `oid` is the app id the snapshot's role assignments name by default).
fn simulated_arm_token(tenant_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            tenant_id: tenant_id.to_string(),
            lifetime_s: 30 * 24 * 3600,
            audience: graph_sim::token::ARM_AUDIENCES[0].to_string(),
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

/// The application permissions closeout's apply app needs (README, "Graph permissions"):
/// what `--simulate` grants unless `--simulate-app-roles` narrows it.
pub const SIMULATED_APP_ROLES: &[&str] = &[
    "User.Read.All",
    "Organization.Read.All",
    "RoleManagement.Read.Directory",
    "Policy.Read.All",
    "Application.Read.All",
    "Domain.Read.All",
    "User.DeleteRestore.All",
    "User.ReadWrite.All",
    "Organization.ReadWrite.All",
    "Policy.ReadWrite.SecurityDefaults",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.AuthenticationMethod",
    "Application.ReadWrite.All",
    "Domain.ReadWrite.All",
    "Reports.Read.All",
    "ReportSettings.Read.All",
];

/// Privileged Authentication Administrator: the directory role that lets an app delete
/// users who hold privileged roles (<https://learn.microsoft.com/graph/api/user-delete>).
const SIMULATED_DIRECTORY_ROLE: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";

/// The unsigned token the in-process graph-sim accepts for a rehearsal: the default apply
/// app's permissions, or exactly `--simulate-app-roles` (then without a directory role).
fn simulated_token(target: &TargetArgs, tenant_id: &str) -> String {
    let (app_roles, directory_roles) = match &target.simulate_app_roles {
        Some(roles) => (
            roles
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
            Vec::new(),
        ),
        None => (
            SIMULATED_APP_ROLES.iter().map(|r| r.to_string()).collect(),
            vec![SIMULATED_DIRECTORY_ROLE.to_string()],
        ),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            app_roles,
            directory_roles,
            tenant_id: tenant_id.to_string(),
            // A rehearsal of a long apply --wait must not outlive its token.
            lifetime_s: 30 * 24 * 3600,
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

/// Connects to the tenant `target` names: a simulated tenant, or Graph in the `--cloud`
/// with the credential `--auth` names or the environment provides.
pub async fn connect(target: &TargetArgs) -> Result<Connection, CliError> {
    if !(target.protocol.pace_time_scale.is_finite() && target.protocol.pace_time_scale > 0.0) {
        return Err(CliError::msg(format!(
            "--pace-time-scale must be a positive number (got {})",
            target.protocol.pace_time_scale
        )));
    }
    if let Some(snapshot) = &target.simulate {
        let store = open_sim_store(snapshot, target.state_dir.as_deref())?;
        let config = graph_sim::SimConfig {
            // Every Graph call of a rehearsal, for review: one JSON line each.
            log_file: Some(
                sim_state_file(snapshot, target.state_dir.as_deref())?
                    .with_extension("requests.jsonl"),
            ),
            ..graph_sim::SimConfig::default()
        };
        let sim = graph_sim::SimServer::start(store, config, 0)
            .await
            .map_err(|e| CliError::msg(format!("cannot start the simulated tenant: {e}")))?;
        let tenant_id = sim.store().tenant_id();
        let tokens: Arc<dyn crate::protocol::auth::TokenProvider> =
            Arc::new(StaticToken::new(simulated_token(target, &tenant_id)).with(
                crate::protocol::Audience::Arm,
                simulated_arm_token(&tenant_id),
            ));
        let client = GraphClient::new(
            &sim.base_url(),
            tokens.clone(),
            client_options(target, true),
        )?
        .with_wait_reporter(Arc::new(super::waits::StderrWaits::default()));
        // graph-sim serves ARM's routes in the same process.
        let arm = crate::arm::ArmClient::new(&sim.base_url(), tokens.clone(), arm_options(target))?;
        return Ok(Connection {
            tokens,
            client,
            arm: Some(arm),
            sim: Some(sim),
            simulated: true,
            // A rehearsal of a closure signed in as an app names it with --client-id.
            signed_in_app: target
                .auth
                .client_id
                .as_ref()
                .map(|c| c.trim().to_ascii_lowercase()),
        });
    }
    let a = &target.auth;
    let settings = AuthSettings {
        kind: a.auth,
        tenant: a.tenant.clone(),
        client_id: a.client_id.clone(),
        cloud: a.cloud,
    };
    let env = |k: &str| std::env::var(k).ok();
    let spec = auth::resolve(&settings, &env).map_err(GraphError::from)?;
    let tokens = auth::provider(&spec, a.cloud, &env).map_err(GraphError::from)?;
    let graph_url = target
        .graph_url
        .clone()
        .unwrap_or_else(|| a.cloud.graph_url().to_string());
    // A fixed token is at hand without a sign-in: read who it is for from its claims.
    let from_token = if tokens.kind() == crate::graph::AuthKind::Token {
        match tokens.token(crate::protocol::Audience::Graph).await {
            Ok(t) => crate::identity::decode_unverified(t.secret()).and_then(|c| c.app_id()),
            Err(_) => None,
        }
    } else {
        None
    };
    let signed_in_app = from_token.or_else(|| {
        a.client_id
            .clone()
            .or_else(|| env("AZURE_CLIENT_ID"))
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
    });
    let arm_url = match (&target.arm_url, &target.graph_url) {
        (Some(u), _) => Some(u.clone()),
        (None, None) => Some(a.cloud.arm_url().to_string()),
        (None, Some(_)) => None,
    };
    let arm = match arm_url {
        Some(u) => Some(
            crate::arm::ArmClient::new(&u, tokens.clone(), arm_options(target))?
                .with_wait_reporter(Arc::new(super::waits::StderrWaits::default())),
        ),
        None => None,
    };
    let client = GraphClient::new(&graph_url, tokens.clone(), client_options(target, false))?
        .with_wait_reporter(Arc::new(super::waits::StderrWaits::default()));
    Ok(Connection {
        tokens,
        client,
        arm,
        sim: None,
        simulated: false,
        signed_in_app,
    })
}

/// Reads the tenant's Azure subscriptions into `state` through `arm`, as `policy` (the
/// closure spec's, or the plan's `azure_subscriptions`) asks: not at all when the
/// administrator declared there are none. Never fails: what ARM would not tell is
/// recorded for the checklist ("not checked: ...").
pub async fn read_azure(
    arm: Option<&crate::arm::ArmClient>,
    policy: crate::plan::AzurePolicy,
    state: &mut crate::model::TenantState,
) {
    state.azure = if policy == crate::plan::AzurePolicy::None {
        crate::model::AzureState {
            read: crate::model::AzureRead::DeclaredNone,
            subscriptions: Vec::new(),
        }
    } else if let Some(arm) = arm {
        crate::arm::read_azure(arm, &state.organization.id).await
    } else {
        crate::model::AzureState {
            read: crate::model::AzureRead::Unreadable(
                "--graph-url names a Graph stand-in and --arm-url names none, so Azure Resource Manager was not contacted".into(),
            ),
            subscriptions: Vec::new(),
        }
    };
}
