//! The `graph-sim` binary: serve a snapshot, generate synthetic tenants, drive the admin
//! (portal) routes of a running simulator, manage persisted state.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use graph_sim::generate::{generate, GenerateOptions};
use graph_sim::{load_snapshot, SimConfig, SimServer, Store, ThrottleConfig};

/// A loopback Microsoft Graph simulator that serves tenant snapshots.
#[derive(Parser, Debug)]
#[command(
    name = "graph-sim",
    version,
    after_help = "\
Examples:
  graph-sim generate --users 1000 --guests 50 --seed 7 -o tenant.yaml
  graph-sim serve tenant.yaml --port 8765 --state tenant.state.jsonl
  curl -H \"Authorization: Bearer $(graph-sim token --all)\" 'http://127.0.0.1:8765/v1.0/users?$top=5'
  graph-sim serve tenant.yaml --throttle --time-scale 10 --fault-503 0.01 --seed 1
  graph-sim portal cancel-subscription --url http://127.0.0.1:8765 <subscription-id>
  graph-sim portal delete-tenant --url http://127.0.0.1:8765
  graph-sim state export tenant.yaml --state tenant.state.jsonl -o now.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve SNAPSHOT as Microsoft Graph on 127.0.0.1 until SIGINT/SIGTERM.
    ///
    /// The first stdout line is exactly `graph-sim listening on http://127.0.0.1:PORT`.
    Serve(ServeArgs),
    /// Write a synthetic, valid tenant snapshot (YAML, or JSON for a .json file).
    Generate {
        /// Member users, including the Global Administrator admin@<domain>.
        #[arg(long)]
        users: usize,
        /// Guest users, in addition to --users.
        #[arg(long, default_value_t = 0)]
        guests: usize,
        /// Seed: the same arguments give the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Admin-center operations on a running graph-sim (no Graph API exists for them).
    #[command(subcommand)]
    Portal(PortalCommand),
    /// Check that a snapshot loads (exit status 0) or print why not.
    Check {
        /// Snapshot file.
        snapshot: PathBuf,
    },
    /// Persisted state (the op log written by `serve --state`).
    #[command(subcommand)]
    State(StateCommand),
    /// Print an unsigned app-only access token graph-sim accepts (never real Graph).
    ///
    /// graph-sim reads its `roles` (application permissions) and `wids` (directory roles of
    /// the app's service principal) claims to decide what the caller may do.
    Token {
        /// Application permissions, comma-separated (e.g. User.Read.All,Domain.Read.All).
        #[arg(long, value_delimiter = ',', required_unless_present = "all")]
        app_roles: Vec<String>,
        /// Every permission graph-sim checks and the Global Administrator role (for tests
        /// and benchmarks where permissions are not the subject).
        #[arg(long, conflicts_with_all = ["app_roles", "directory_roles"])]
        all: bool,
        /// Directory roles held by the app, comma-separated names or role template ids
        /// (e.g. "Privileged Authentication Administrator").
        #[arg(long, value_delimiter = ',')]
        directory_roles: Vec<String>,
        /// The app's application (client) id (`appid` claim).
        #[arg(long, default_value = graph_sim::token::DEFAULT_APP_ID)]
        app_id: String,
        /// The tenant id (`tid` claim).
        #[arg(long, default_value = "00000000-0000-0000-0000-000000000000")]
        tenant_id: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        lifetime: u64,
    },
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Snapshot file (YAML or JSON).
    snapshot: PathBuf,
    /// Port on 127.0.0.1 (0 = ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Op log: replayed at start, one JSON line appended per mutation.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Append one JSON line per request to this file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Throttle like Graph's identity service limits (429 + Retry-After).
    #[arg(long)]
    throttle: bool,
    /// Resource units per 10 s (default: by tenant size, 3500/5000/8000).
    #[arg(long, requires = "throttle")]
    ru_per_10s: Option<u64>,
    /// Writes per 150 s per application.
    #[arg(long, default_value_t = 3000, requires = "throttle")]
    app_writes_per_150s: u64,
    /// Writes per 5 minutes per tenant.
    #[arg(long, default_value_t = 18000, requires = "throttle")]
    tenant_writes_per_5min: u64,
    /// Conditional Access requests per second.
    #[arg(long, default_value_t = 1.0, requires = "throttle")]
    ca_per_second: f64,
    /// Graph's clocks run this many times faster (buckets, Retry-After, lag).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed for faults and jitter.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    fault_503: f64,
    /// Fraction of requests answered 504.
    #[arg(long, default_value_t = 0.0)]
    fault_504: f64,
    /// Fraction of connections closed without a response (request not executed).
    #[arg(long, default_value_t = 0.0)]
    fault_drop: f64,
    /// Fraction of requests executed whose response is then lost (connection closed).
    #[arg(long, default_value_t = 0.0)]
    fault_lost_response: f64,
    /// Added latency per request, ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Extra random latency 0..=N ms.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Deleted objects stay listed in collection reads this long (Graph ms).
    #[arg(long, default_value_t = 0)]
    lag_ms: u64,
    /// After a Partner Center or Microsoft.Billing cancellation, Graph's companySubscription
    /// turns Suspended after this long (Graph ms).
    #[arg(long, default_value_t = 0)]
    commerce_graph_delay_ms: u64,
    /// Polls of a Microsoft.Billing operation answered 202 before it is done.
    #[arg(long, default_value_t = 1)]
    billing_operation_polls: u32,
    /// Shuffle page order with this seed.
    #[arg(long)]
    shuffle_seed: Option<u64>,
    /// Send Retry-After with millisecond precision instead of whole seconds (as Graph
    /// does); only useful with a large --time-scale.
    #[arg(long)]
    fractional_retry_after: bool,
    /// Fraction of $batch envelopes answered 429 TooManyRequests (with Retry-After) without
    /// running any item.
    #[arg(long, default_value_t = 0.0)]
    batch_429: f64,
    /// Fraction of $batch envelopes answered 424 FailedDependency without running any item.
    #[arg(long, default_value_t = 0.0)]
    batch_424: f64,
}

#[derive(Subcommand, Debug)]
enum PortalCommand {
    /// Billing > Your products > Cancel (Enabled/Warning -> Suspended).
    CancelSubscription {
        /// graph-sim base URL, e.g. http://127.0.0.1:8765.
        #[arg(long)]
        url: String,
        /// companySubscription id.
        id: String,
    },
    /// Your products > Delete a cancelled subscription (-> Deleted).
    DeleteSubscription {
        /// graph-sim base URL.
        #[arg(long)]
        url: String,
        /// companySubscription id.
        id: String,
        /// As Microsoft support (deletes LockedOut subscriptions too).
        #[arg(long)]
        support: bool,
    },
    /// Entra admin center > Manage tenants > Delete (checks the prerequisites).
    DeleteTenant {
        /// graph-sim base URL.
        #[arg(long)]
        url: String,
    },
    /// List what currently blocks tenant deletion.
    Blockers {
        /// graph-sim base URL.
        #[arg(long)]
        url: String,
    },
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// Delete the op log (back to the snapshot).
    Reset {
        /// Op log file.
        #[arg(long)]
        state: PathBuf,
    },
    /// Write snapshot + op log as a new snapshot.
    Export {
        /// Snapshot the op log was recorded on.
        snapshot: PathBuf,
        /// Op log file.
        #[arg(long)]
        state: PathBuf,
        /// Output file (YAML, or JSON for .json).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}

/// Prints a line to stdout, ignoring a closed pipe (`graph-sim ... | head`).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("graph-sim: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Generate {
            users,
            guests,
            seed,
            output,
        } => {
            let snapshot = generate(&GenerateOptions {
                users,
                guests,
                seed,
            });
            snapshot.write(&output).map_err(|e| e.to_string())?;
            say(&format!(
                "wrote {} ({} users, {} guests)",
                output.display(),
                users.max(1),
                guests
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { snapshot } => {
            let s = load_snapshot(&snapshot).map_err(|e| e.to_string())?;
            say(&format!(
                "{}: ok ({} users, {} subscriptions)",
                snapshot.display(),
                s.users.len(),
                s.subscriptions.len()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::Reset { state }) => {
            Store::reset(&state).map_err(|e| format!("{}: {e}", state.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::State(StateCommand::Export {
            snapshot,
            state,
            output,
        }) => {
            let store = Store::open(&snapshot, Some(&state)).map_err(|e| e.to_string())?;
            store.snapshot().write(&output).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Portal(cmd) => portal(cmd),
        Command::Token {
            app_roles,
            all,
            directory_roles,
            app_id,
            tenant_id,
            lifetime,
        } => {
            let (app_roles, directory_roles) = if all {
                (
                    graph_sim::permissions::all_permissions()
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    vec!["Global Administrator".to_string()],
                )
            } else {
                (app_roles, directory_roles)
            };
            let mut wids = Vec::new();
            for r in &directory_roles {
                wids.push(graph_sim::token::role_template(r).ok_or_else(|| {
                    format!(
                        "unknown directory role '{r}': give a role template id or one of: {}",
                        graph_sim::token::ROLE_TEMPLATES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?);
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let token = graph_sim::token::mint(
                &graph_sim::token::MintOptions {
                    app_roles: app_roles
                        .iter()
                        .map(|r| r.trim().to_string())
                        .filter(|r| !r.is_empty())
                        .collect(),
                    directory_roles: wids,
                    app_id,
                    tenant_id,
                    lifetime_s: lifetime,
                    ..graph_sim::token::MintOptions::default()
                },
                now,
            );
            say(&token);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let store = Store::open(&args.snapshot, args.state.as_deref()).map_err(|e| e.to_string())?;
    let config = SimConfig {
        throttle: args.throttle.then_some(ThrottleConfig {
            resource_units_per_10s: args.ru_per_10s,
            app_writes_per_150s: args.app_writes_per_150s,
            tenant_writes_per_300s: args.tenant_writes_per_5min,
            conditional_access_per_second: args.ca_per_second,
        }),
        time_scale: args.time_scale,
        seed: args.seed,
        rate_503: args.fault_503,
        rate_504: args.fault_504,
        rate_drop: args.fault_drop,
        rate_lost_response: args.fault_lost_response,
        latency_ms: args.latency_ms,
        latency_jitter_ms: args.jitter_ms,
        read_after_write_lag_ms: args.lag_ms,
        shuffle_seed: args.shuffle_seed,
        log_file: args.log,
        fractional_retry_after: args.fractional_retry_after,
        batch_rate_429: args.batch_429,
        batch_rate_424: args.batch_424,
        commerce_graph_delay_ms: args.commerce_graph_delay_ms,
        billing_operation_polls: args.billing_operation_polls,
        ..SimConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let server = SimServer::start(store, config, args.port)
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
        say(&format!("graph-sim listening on {}", server.base_url()));
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        server.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A minimal HTTP/1.1 POST/GET to a graph-sim admin route; returns (status, body).
fn admin_call(url: &str, method: &str, path: &str) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url must start with http:// (got {url})"))?;
    let host = rest.trim_end_matches('/');
    if host.contains('/') {
        return Err(format!(
            "--url must be a base URL like http://127.0.0.1:8765 (got {url})"
        ));
    }
    let mut stream = TcpStream::connect(host).map_err(|e| format!("{url}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("{url}: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: not an HTTP response"))?;
    Ok((status, body.to_string()))
}

fn portal(cmd: PortalCommand) -> Result<ExitCode, String> {
    let (url, method, path) = match &cmd {
        PortalCommand::CancelSubscription { url, id } => (
            url,
            "POST",
            format!("/_sim/portal/subscriptions/{id}/cancel"),
        ),
        PortalCommand::DeleteSubscription { url, id, support } => (
            url,
            "POST",
            format!(
                "/_sim/portal/subscriptions/{id}/{}",
                if *support { "support-delete" } else { "delete" }
            ),
        ),
        PortalCommand::DeleteTenant { url } => {
            (url, "POST", "/_sim/portal/tenant/delete".to_string())
        }
        PortalCommand::Blockers { url } => (url, "GET", "/_sim/portal/tenant/blockers".to_string()),
    };
    let (status, body) = admin_call(url, method, &path)?;
    if (200..300).contains(&status) {
        if !body.is_empty() {
            say(&body);
        }
        say("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(body);
        Err(format!("refused ({status}): {message}"))
    }
}
