//! clap definitions of every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0    success (plan --detailed-exitcode: no changes)
  1    error
  2    changes present (plan --detailed-exitcode)
  3    apply is waiting on manual actions
  4    stale plan: the tenant changed since the plan was made
  129  interrupted by SIGHUP
  130  interrupted by Ctrl-C (SIGINT)
  143  interrupted by SIGTERM";

const APPLY_HELP: &str = "\
Apply refuses a stale plan (the tenant changed since planning: exit 4), an edited plan, a
plan for another tenant, an unknown plan format, and a plan that would remove the access of
the application it signs in as before the rest of the plan. It shows the plan's review (per
step, the kept users, the data at risk), then asks you to type the tenant's initial
domain (e.g. contoso.onmicrosoft.com) before changing anything; --auto-approve skips that
(for CI), and without a terminal apply refuses unless given. Simulated tenants (--simulate)
are rehearsals and need no confirmation.

Each write is journaled (fsync) under --state-dir; after a crash, kill or Ctrl-C, run the
same command again to resume: no flag is needed after kill -9, an OOM kill, a reboot,
SIGTERM or Ctrl-C (the apply lock is an OS lock the kernel releases when the process ends).
Ctrl-C, SIGTERM and SIGHUP stop new actions, let requests in flight settle for a second
(what does not settle is recorded as uncertain and checked on resume) and exit 130, 143 or
129 respectively; a second signal exits at once, the journal intact.

Exit codes:
  0    every action done (or verified)
  1    error, or an action failed
  3    waiting on manual actions: do them, then apply the same plan again
  4    stale plan: plan again
  129  interrupted by SIGHUP (the terminal closed)
  130  interrupted by Ctrl-C (SIGINT)
  143  interrupted by SIGTERM (kill, timeout, docker stop, systemd, CI cancel)

Example:
  closeout apply contoso.plan.yaml --simulate examples/tenants/contoso.yaml";

/// Plan, review and apply the closure of a Microsoft 365 / Microsoft Entra ID tenant.
#[derive(Debug, Parser)]
#[command(name = "closeout", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No colour anywhere (text views, progress bars), on every command; also when NO_COLOR
    /// is set, TERM is dumb or the output is not a terminal.
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the tenant and compute the closure plan; -o saves it for review and apply.
    #[command(
        after_help = "Example:\n  closeout plan --simulate examples/tenants/contoso.yaml --keep admin@contoso.com -o contoso.plan.yaml"
    )]
    Plan(PlanArgs),
    /// Execute exactly a saved, reviewed plan; resumable, refuses stale plans.
    #[command(after_help = APPLY_HELP)]
    Apply(ApplyArgs),
    /// Render a saved plan: text for people, JSON for tools, Markdown for a pull request.
    #[command(
        after_help = "Examples:\n  closeout show plans/contoso.plan.yaml\n  closeout show plans/contoso.plan.yaml --format json | jq '.summary'\n  closeout show plans/contoso.plan.yaml --format markdown --redact > comment.md"
    )]
    Show(ShowArgs),
    /// Print a saved plan's action DAG in Graphviz dot.
    #[command(
        after_help = "Example:\n  closeout graph plans/contoso.plan.yaml | dot -Tsvg > plan.svg"
    )]
    Graph(GraphArgs),
    /// Work with the live tenant's state: export it as a snapshot to rehearse on.
    #[command(
        subcommand,
        after_help = "Example:\n  closeout state export -o contoso-copy.yaml"
    )]
    State(StateCommand),
    /// Where each action of a saved plan stands: done, pending (and why), uncertain,
    /// failed, from its apply journal and the tenant as read now (--offline: journal only).
    #[command(
        after_help = "Examples:\n  closeout status contoso.plan.yaml --simulate examples/tenants/contoso.yaml\n  closeout status contoso.plan.yaml --offline --format json"
    )]
    Status(StatusArgs),
    /// Check a plan, closure spec or tenant snapshot file offline (format, digest, guards,
    /// schema) and say which it is. Exits 0 when valid, 1 when not.
    #[command(after_help = "Example:\n  closeout validate contoso.plan.yaml")]
    Validate(ValidateArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  closeout completions bash > ~/.local/share/bash-completion/completions/closeout\n  closeout completions zsh > ~/.zfunc/_closeout"
    )]
    Completions(CompletionsArgs),
    /// Work with the simulated tenants of --simulate: reset them, play the administrator's
    /// admin-center steps.
    #[command(
        subcommand,
        after_help = "Example:\n  closeout sim reset --simulate examples/tenants/contoso.yaml"
    )]
    Sim(SimCommand),
}

/// Where the tenant is: real Graph, or a simulated tenant.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Run against a simulated tenant loaded from this snapshot (graph-sim in-process,
    /// over loopback HTTP). Its state persists between runs under --state-dir; reset it with
    /// `closeout sim reset --simulate SNAPSHOT`.
    #[arg(long, value_name = "SNAPSHOT", global = false)]
    pub simulate: Option<PathBuf>,
    /// With --simulate: the application permissions the simulated app holds, comma-separated
    /// (default: every permission closeout needs), to rehearse a narrower app registration,
    /// e.g. a read-only one. graph-sim answers 403 like Graph for what they do not grant.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        requires = "simulate"
    )]
    pub simulate_app_roles: Option<Vec<String>>,
    /// Microsoft Graph service root. Default: the --cloud's (https://graph.microsoft.com).
    /// Plain http:// is refused except on loopback.
    #[arg(long, value_name = "URL", env = "CLOSEOUT_GRAPH_URL")]
    pub graph_url: Option<String>,
    /// Azure Resource Manager service root (Azure subscriptions). Default: the --cloud's
    /// (https://management.azure.com). Same URL policy as --graph-url: its own token only.
    #[arg(long, value_name = "URL", env = "CLOSEOUT_ARM_URL")]
    pub arm_url: Option<String>,
    /// Partner Center service root, for `billing: {channel: partner_center}`. Default:
    /// https://api.partnercenter.microsoft.com (the simulator's with --simulate). Same URL
    /// policy: only the partner's Partner Center token goes there.
    #[arg(long, value_name = "URL", env = "CLOSEOUT_PARTNER_CENTER_URL")]
    pub partner_center_url: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Where closeout keeps simulated tenants' state (and apply journals).
    /// Default: $XDG_STATE_HOME/closeout or ~/.local/state/closeout.
    #[arg(long, value_name = "DIR", env = "CLOSEOUT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// How closeout signs in to Microsoft Graph.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// The credential: secret, certificate, workload-identity, azure-cli, managed-identity,
    /// token. Default: detected from the environment, first of CLOSEOUT_ACCESS_TOKEN (token),
    /// AZURE_CLIENT_SECRET (secret), AZURE_CLIENT_CERTIFICATE_PATH (certificate),
    /// AZURE_FEDERATED_TOKEN_FILE (workload-identity), IDENTITY_ENDPOINT/MSI_ENDPOINT
    /// (managed-identity).
    #[arg(help_heading = "Sign-in", long, value_name = "KIND", env = "CLOSEOUT_AUTH", value_parser = parse_auth_kind)]
    pub auth: Option<crate::graph::AuthKind>,
    /// The tenant to sign in to (tenant id or a verified domain). Default: AZURE_TENANT_ID.
    #[arg(help_heading = "Sign-in", long, value_name = "ID_OR_DOMAIN")]
    pub tenant: Option<String>,
    /// The application (client) id. Default: AZURE_CLIENT_ID.
    #[arg(help_heading = "Sign-in", long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The Microsoft cloud: global, usgov, usgov-dod, china. Sets the Graph, Azure Resource
    /// Manager and sign-in hosts.
    #[arg(help_heading = "Sign-in", long, value_name = "CLOUD", env = "CLOSEOUT_CLOUD", default_value = "global", value_parser = parse_cloud)]
    pub cloud: crate::graph::Cloud,
}

fn parse_auth_kind(s: &str) -> Result<crate::graph::AuthKind, String> {
    crate::graph::AuthKind::parse(s).ok_or_else(|| {
        format!(
            "unknown credential '{s}'; use one of: {}",
            crate::graph::AuthKind::NAMES.join(", ")
        )
    })
}

fn parse_cloud(s: &str) -> Result<crate::graph::Cloud, String> {
    crate::graph::Cloud::parse(s)
        .ok_or_else(|| format!("unknown cloud '{s}'; use one of: global, usgov, usgov-dod, china"))
}

/// How closeout paces, batches and bounds its requests.
#[derive(Debug, Clone, Args)]
pub struct ProtocolArgs {
    /// Run Graph's quotas this many times faster in the client-side pacer (match
    /// graph-sim's --time-scale when benchmarking against it).
    #[arg(
        help_heading = "Protocol",
        long,
        value_name = "FACTOR",
        env = "CLOSEOUT_PACE_TIME_SCALE",
        default_value_t = 1.0
    )]
    pub pace_time_scale: f64,
    /// Don't pace requests at Graph's quotas (rely on 429 and Retry-After alone).
    #[arg(help_heading = "Protocol", long)]
    pub no_pace: bool,
    /// Writes sent together in one $batch request (1 = no batching; at most 20).
    #[arg(help_heading = "Protocol", long, value_name = "N", default_value_t = crate::graph::MAX_BATCH, value_parser = parse_batch_size)]
    pub batch_size: usize,
    /// Give up on requests still failing after this long since the start (e.g. 90s, 30m,
    /// 8h, 2days), the time spent waiting inside a request included. Each request also has
    /// a 10 s connect timeout and a 100 s total timeout (as Graph's SDKs); a wait of more
    /// than about 3 s is said on stderr. Waiting for manual actions under --wait is
    /// bounded by --timeout instead.
    #[arg(help_heading = "Protocol", long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub deadline: std::time::Duration,
}

fn parse_batch_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=crate::graph::MAX_BATCH).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a batch size from 1 to 20")),
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep this user (userPrincipalName or object id); repeatable; adds to the spec's
    /// `keep`. At least one kept user must be a Global Administrator: the one who deletes
    /// the tenant at the end.
    #[arg(long, value_name = "UPN")]
    pub keep: Vec<String>,
    /// The closure spec: the declared target (kept users, recycle bin, applications,
    /// manual actions). See examples/closeout.yaml for every key and its default.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Save the plan to this file for review and `closeout apply`.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show every action, not the first ones of each step.
    #[arg(long)]
    pub full: bool,
    /// Exit 2 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub render: RenderArgs,
}

/// How a plan is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// For people: per step, Terraform-like symbols, colour on a terminal.
    #[default]
    Text,
    /// For tools: the documented schema docs/plan-json.schema.json.
    Json,
    /// For a pull-request comment: summary table per step, long lists folded.
    Markdown,
}

/// Rendering flags shared by `plan` and `show`.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Replace names, userPrincipalNames, display names and domains with stable short
    /// hashes in the output (for public pull requests); object ids are kept.
    #[arg(long)]
    pub redact: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The saved plan file.
    pub plan: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Don't ask for confirmation (for CI). Without a terminal, apply refuses unless given.
    #[arg(long)]
    pub auto_approve: bool,
    /// Actions in flight at once (concurrent writes share $batch requests).
    #[arg(long, value_name = "N", default_value_t = crate::apply::DEFAULT_PARALLELISM,
          value_parser = parse_parallelism)]
    pub parallelism: usize,
    /// Wait for the manual actions: poll the tenant until a person has done them (or
    /// --timeout passes), instead of exiting 3.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 30m, 72h); exits 3.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "wait")]
    pub timeout: Option<std::time::Duration>,
    /// With --wait: how often to read the tenant again (at least 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_poll_interval, default_value = "30s")]
    pub poll_interval: std::time::Duration,
    /// Take over an apply lock recorded by a holder on another host that shares this
    /// state directory (this host cannot tell whether it still runs). Never needed to
    /// resume on the same host; a live holder is never broken.
    #[arg(long)]
    pub break_lock: bool,
    /// Wait up to this long for another apply of the tenant that holds the lock (e.g.
    /// 30s, 10m), printing a waiting line, instead of exiting 1 at once.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
    /// Report format: `text` for people, `json` for one JSON document on stdout (progress
    /// lines then go to stderr).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The saved plan file.
    pub plan: PathBuf,
    /// Read only the journal; do not sign in or read the tenant.
    #[arg(long)]
    pub offline: bool,
    /// `text` for people, `json` for one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A plan, closure spec or tenant snapshot file.
    pub file: PathBuf,
}

/// Output format of `closeout apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan file.
    pub plan: PathBuf,
    /// Show every action.
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub render: RenderArgs,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The saved plan file.
    pub plan: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Write the live tenant as a snapshot (objects exactly as Graph returned them), to
    /// rehearse the whole closure on a copy with --simulate before touching the tenant.
    #[command(
        after_help = "Example:\n  closeout state export -o contoso-copy.yaml\n  closeout plan --simulate contoso-copy.yaml --keep admin@contoso.com"
    )]
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The snapshot file to write (YAML).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Forget the changes made to a simulated tenant and the apply journals of its plans:
    /// the next run starts from the snapshot.
    #[command(
        after_help = "Example:\n  closeout sim reset --simulate examples/tenants/contoso.yaml"
    )]
    Reset(SimTarget),
    /// Admin center: cancel a subscription (Billing > Your products > Cancel).
    #[command(
        after_help = "Example:\n  closeout sim cancel-subscription <subscription id> --simulate examples/tenants/contoso.yaml"
    )]
    CancelSubscription(SimObject),
    /// Admin center: delete a disabled subscription.
    #[command(
        after_help = "Example:\n  closeout sim delete-subscription <subscription id> --simulate examples/tenants/contoso.yaml"
    )]
    DeleteSubscription(SimObject),
    /// Microsoft support: delete a LockedOut subscription.
    #[command(
        after_help = "Example:\n  closeout sim support-delete-subscription <subscription id> --simulate examples/tenants/stubborn.yaml"
    )]
    SupportDeleteSubscription(SimObject),
    /// Entra admin center: Licenses > Self-service sign-up products > Delete (the product's
    /// status becomes Deleted at once).
    #[command(
        after_help = "Example:\n  closeout sim remove-self-service-product <subscription id> --simulate examples/tenants/contoso.yaml"
    )]
    RemoveSelfServiceProduct(SimObject),
    /// Microsoft support: remove a SKU that only subscribedSkus shows (no subscription
    /// behind it); the id is its skuId.
    #[command(
        after_help = "Example:\n  closeout sim support-remove-sku <skuId> --simulate examples/tenants/contoso.yaml"
    )]
    SupportRemoveSku(SimObject),
    /// Entra admin center: Manage tenants > Delete (checks Microsoft's prerequisites).
    #[command(
        after_help = "Example:\n  closeout sim delete-tenant --simulate examples/tenants/contoso.yaml"
    )]
    DeleteTenant(SimTarget),
    /// Azure portal: cancel an Azure subscription (Subscriptions > Cancel subscription),
    /// resource groups or not.
    #[command(
        after_help = "Example:\n  closeout sim cancel-azure-subscription <subscription id> --simulate examples/tenants/azure.yaml"
    )]
    CancelAzureSubscription(SimObject),
    /// Azure portal: delete a cancelled Azure subscription that holds no resource groups.
    #[command(
        after_help = "Example:\n  closeout sim delete-azure-subscription <subscription id> --simulate examples/tenants/azure.yaml"
    )]
    DeleteAzureSubscription(SimObject),
    /// Azure portal: delete a resource group of an Azure subscription.
    #[command(
        after_help = "Example:\n  closeout sim delete-azure-resource-group <subscription id> <name> --simulate examples/tenants/azure.yaml"
    )]
    DeleteAzureResourceGroup(SimResourceGroup),
}

#[derive(Debug, Args)]
pub struct SimResourceGroup {
    /// The Azure subscription's id.
    pub id: String,
    /// The resource group's name.
    pub name: String,
    /// The snapshot the simulated tenant was started from.
    #[arg(long, value_name = "SNAPSHOT")]
    pub simulate: PathBuf,
    #[arg(long, value_name = "DIR", env = "CLOSEOUT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimTarget {
    /// The snapshot the simulated tenant was started from (as given to `plan --simulate`).
    #[arg(long, value_name = "SNAPSHOT")]
    pub simulate: PathBuf,
    #[arg(long, value_name = "DIR", env = "CLOSEOUT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimObject {
    /// The subscription's id (companySubscription id, or an Azure subscription's id); for
    /// `support-remove-sku`, the SKU's skuId.
    pub id: String,
    /// The snapshot the simulated tenant was started from.
    #[arg(long, value_name = "SNAPSHOT")]
    pub simulate: PathBuf,
    #[arg(long, value_name = "DIR", env = "CLOSEOUT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `--poll-interval`: a duration of at least one second (each poll reads the whole tenant).
fn parse_poll_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("'{s}' is not a duration: {e}"))?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!(
            "'{s}' is too short: each poll reads the whole tenant, so poll at most once a second (e.g. 30s)"
        ));
    }
    Ok(d)
}

/// `--parallelism`: 1 to 1000.
fn parse_parallelism(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a number from 1 to 1000")),
    }
}
