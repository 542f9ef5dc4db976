//! Test support: run the closeout binary like a person would, read its output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use graph_sim::{LogEntry, SimConfig, SimServer, Snapshot, Store};
use serde_json::Value;
use std::process::{Command, Output};

/// A JWT-shaped bearer token with every application permission graph-sim checks and the
/// Global Administrator role (minted once per test process by graph_sim's library).
/// Not a secret: graph-sim does not verify signatures, real Graph refuses it.
pub fn token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(graph_sim::token::full_access)
}

/// A token carrying exactly these application permissions and directory roles
/// (role template ids), for tests about what a narrower app may do.
pub fn token_with(app_roles: &[&str], directory_roles: &[&str], app_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            app_roles: app_roles.iter().map(|r| r.to_string()).collect(),
            directory_roles: directory_roles.iter().map(|r| r.to_string()).collect(),
            app_id: app_id.to_string(),
            lifetime_s: 24 * 3600,
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

/// A token with every permission graph-sim checks and the Global Administrator role, for
/// the app `app_id` (tests about which app closeout signs in as).
pub fn token_for_app(app_id: &str) -> String {
    let perms = graph_sim::permissions::all_permissions();
    token_with(&perms, &["62e90394-69f5-4237-9190-012177145e10"], app_id)
}

/// A token for another service's audience (`graph_sim::token::PARTNER_CENTER_AUDIENCES[0]`,
/// `graph_sim::token::ARM_AUDIENCES[0]`) signed in to `tenant_id` as `app_id`: graph-sim's
/// Partner Center takes only its audience from the partner's own tenant
/// (`partnerCenter.partnerTenantId`), Microsoft.Billing only ARM's audience.
pub fn token_for_service(audience: &str, tenant_id: &str, app_id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            app_id: app_id.to_string(),
            tenant_id: tenant_id.to_string(),
            audience: audience.to_string(),
            lifetime_s: 24 * 3600,
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

/// A token for Azure Resource Manager (`aud` https://management.azure.com) of graph-sim's
/// simulated app (whom snapshots' Azure role assignments name by default), for
/// `CLOSEOUT_ARM_ACCESS_TOKEN`.
pub fn arm_token() -> String {
    let d = graph_sim::token::MintOptions::default();
    token_for_service(graph_sim::token::ARM_AUDIENCES[0], &d.tenant_id, &d.app_id)
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An example tenant snapshot by name, e.g. `contoso`.
pub fn tenant(name: &str) -> PathBuf {
    root().join("examples/tenants").join(format!("{name}.yaml"))
}

/// The result of one closeout run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics with the whole transcript unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A sandbox: its own state directory, so simulated tenants never leak between tests.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs closeout with the sandbox's state directory.
    pub fn closeout(&self, args: &[&str]) -> Run {
        self.closeout_env(args, &[])
    }

    pub fn closeout_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_closeout"));
        cmd.args(args)
            .env("CLOSEOUT_STATE_DIR", self.dir.path().join("state"))
            .env_remove("CLOSEOUT_ACCESS_TOKEN")
            .env_remove("CLOSEOUT_GRAPH_URL")
            .env_remove("CLOSEOUT_ARM_ACCESS_TOKEN")
            .env_remove("CLOSEOUT_ARM_URL")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run closeout"))
    }
}

/// Path as &str (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes a synthetic tenant snapshot with `members` member users (plus one Global
/// Administrator `admin@big.onmicrosoft.com`) for paging tests.
pub fn write_big_tenant(path: &Path, members: usize) {
    let tenant_id = "0b7d3c4e-1111-4a2b-9c3d-000000000001";
    let admin_id = "a0000000-0000-4000-8000-000000000000";
    let mut y = String::new();
    y.push_str("snapshotVersion: 1\norganization:\n");
    y.push_str(&format!(
        "  id: {tenant_id}\n  displayName: Big Co\n  onPremisesSyncEnabled: null\n"
    ));
    y.push_str("  verifiedDomains:\n  - {name: big.onmicrosoft.com, isInitial: true, isDefault: true, type: Managed}\n");
    y.push_str("users:\n");
    y.push_str(&format!(
        "- {{id: {admin_id}, userPrincipalName: admin@big.onmicrosoft.com, displayName: Admin, userType: Member, accountEnabled: true, onPremisesSyncEnabled: null, assignedLicenses: []}}\n"
    ));
    for i in 1..=members {
        y.push_str(&format!(
            "- {{id: b0000000-0000-4000-8000-{i:012x}, userPrincipalName: user{i}@big.onmicrosoft.com, displayName: User {i}, userType: Member, accountEnabled: true, onPremisesSyncEnabled: null, assignedLicenses: []}}\n"
        ));
    }
    y.push_str(&format!(
        "directoryRoles:\n- {{id: c0000000-0000-4000-8000-000000000001, displayName: Global Administrator, roleTemplateId: 62e90394-69f5-4237-9190-012177145e10, members: [{admin_id}]}}\n"
    ));
    y.push_str("domains:\n- {id: big.onmicrosoft.com, isInitial: true, isDefault: true, isVerified: true, authenticationType: Managed}\n");
    std::fs::write(path, y).expect("write snapshot");
}

/// graph-sim served from the test process, on its own runtime, over loopback HTTP; shut
/// down when dropped.
pub struct Sim {
    pub rt: tokio::runtime::Runtime,
    server: Option<SimServer>,
}

impl Sim {
    /// A quiet Graph serving `snapshot`.
    pub fn start(snapshot: Snapshot) -> Sim {
        Sim::start_with(snapshot, SimConfig::default())
    }

    /// graph-sim serving `snapshot` with `config` (throttling, faults, page order).
    pub fn start_with(snapshot: Snapshot, config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(SimServer::start(Store::from_snapshot(snapshot), config, 0))
            .unwrap();
        Sim {
            rt,
            server: Some(server),
        }
    }

    /// graph-sim serving the snapshot file at `path`.
    pub fn open(path: &Path) -> Sim {
        Sim::start(graph_sim::load_snapshot(path).unwrap())
    }

    pub fn server(&self) -> &SimServer {
        self.server.as_ref().unwrap()
    }

    pub fn url(&self) -> String {
        self.server().base_url()
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.server().request_log()
    }

    /// Successful (2xx) requests by method, path prefix.
    pub fn writes(&self) -> Vec<LogEntry> {
        self.log()
            .into_iter()
            .filter(|e| e.method != "GET" && (200..300).contains(&e.status))
            .collect()
    }

    /// A Graph request to the simulator, as another administrator would make it.
    pub fn graph(&self, method: reqwest::Method, path: &str, body: Value) -> u16 {
        let url = format!("{}{path}", self.url());
        self.rt.block_on(async {
            reqwest::Client::new()
                .request(method, url)
                .bearer_auth(token())
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// A plan file (or any YAML file) as a YAML value; panics with the file named.
pub fn plan_doc(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One HTTP/1.1 request as the hand-written test servers read it.
pub struct RawRequest {
    pub method: String,
    pub path: String,
    /// Header names and values, trimmed, in order.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` bytes of body.
    pub body: Vec<u8>,
}

/// Reads the next request from `reader`: the request line, the headers, a body of
/// `Content-Length` bytes. `None` at the end of the connection or on a malformed request.
pub fn read_request(reader: &mut impl std::io::BufRead) -> Option<RawRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(RawRequest {
        method,
        path,
        headers,
        body,
    })
}
