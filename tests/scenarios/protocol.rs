//! Issue 3: closeout speaks Graph's protocol like a production client. The binary (and, for
//! the client's own contract, the library) against graph-sim with throttling, faults and
//! `$batch`, and against small fake endpoints that misbehave on purpose.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use closeout::graph::{ClientOptions, GraphClient, GraphError, StaticToken, TokenProvider};
use graph_sim::generate::{generate, GenerateOptions};
use graph_sim::{LogEntry, SimConfig, SimServer, Store, ThrottleConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{s, tenant, write_big_tenant, Run, Sandbox};

const CONTOSO_ADMIN: &str = "admin@contoso.com";
/// Recognisable fake credentials: none may ever appear in output or files.
/// The pre-acquired token (a JWT graph-sim accepts).
fn fake_token() -> &'static str {
    crate::common::token()
}
const FAKE_SECRET: &str = "FAKE-SECRET-9e107d9d372bb6826bd81d3542a419d6";
const FAKE_MI_HEADER: &str = "FAKE-MI-HEADER-e4d909c290d0fb1ca068ffaddf22cbd0";
/// The token the fake managed-identity endpoint issues (a JWT graph-sim accepts, distinct
/// from [`fake_token`]).
fn fake_mi_token() -> &'static str {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let all = graph_sim::permissions::all_permissions();
        crate::common::token_with(
            &all,
            &["62e90394-69f5-4237-9190-012177145e10"],
            "11111111-2222-3333-4444-555555555555",
        )
    })
}

/// Variables that would change which credential closeout picks: cleared for every run.
const AUTH_VARS: &[&str] = &[
    "CLOSEOUT_ACCESS_TOKEN",
    "CLOSEOUT_GRAPH_URL",
    "CLOSEOUT_AUTH",
    "CLOSEOUT_CLOUD",
    "CLOSEOUT_PACE_TIME_SCALE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
];

/// Runs closeout with the sandbox's state directory and only the credentials in `env`.
fn closeout(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_closeout"));
    cmd.args(args)
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    for k in AUTH_VARS {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run closeout");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// graph-sim on its own runtime, serving a snapshot with a configuration.
struct SimHost {
    rt: tokio::runtime::Runtime,
    server: Option<SimServer>,
}

impl SimHost {
    fn start(snapshot: &Path, config: SimConfig) -> SimHost {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::open(snapshot, None).expect("snapshot loads");
        let server = rt.block_on(SimServer::start(store, config, 0)).unwrap();
        SimHost {
            rt,
            server: Some(server),
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().unwrap().base_url()
    }

    fn log(&self) -> Vec<LogEntry> {
        self.server.as_ref().unwrap().request_log()
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// Graph with 10% of requests failing (503, 504, connections reset before and after the
/// request executed) and its identity quotas on, `scale` times faster than real time.
fn hostile(scale: f64, seed: u64) -> SimConfig {
    SimConfig {
        throttle: Some(ThrottleConfig::default()),
        time_scale: scale,
        seed,
        rate_503: 0.03,
        rate_504: 0.03,
        rate_drop: 0.02,
        rate_lost_response: 0.02,
        // Time-scaled waits are sub-second; Graph's whole seconds would dwarf them.
        fractional_retry_after: true,
        ..SimConfig::default()
    }
}

fn is_write(e: &LogEntry) -> bool {
    matches!(e.method.as_str(), "DELETE" | "PATCH" | "POST" | "PUT") && !e.path.contains("$batch")
}

/// Successful writes per object (method and path), from graph-sim's request log.
fn successful_writes(log: &[LogEntry]) -> HashMap<(String, String), usize> {
    let mut m = HashMap::new();
    for e in log {
        if is_write(e) && (200..300).contains(&e.status) {
            *m.entry((e.method.clone(), e.path.clone())).or_insert(0) += 1;
        }
    }
    m
}

#[track_caller]
fn assert_each_object_written_once(log: &[LogEntry]) -> usize {
    let writes = successful_writes(log);
    let twice: Vec<_> = writes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "objects written more than once: {twice:?}"
    );
    writes.len()
}

/// Asserts that a fresh plan has only manual actions left.
#[track_caller]
fn assert_only_manual_left(plan_file: &Path, stdout: &str) {
    let plan: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(plan_file).unwrap()).unwrap();
    for a in plan["actions"].as_sequence().unwrap() {
        assert_eq!(
            a["manual"],
            serde_yaml::Value::Bool(true),
            "automated action left after apply: {a:?}\n{stdout}"
        );
    }
}

#[test]
fn contoso_apply_under_faults_and_throttling_does_everything_once() {
    let sb = Sandbox::new();
    let sim = SimHost::start(&tenant("contoso"), hostile(20.0, 7));
    let url = sim.url();
    let env = [("CLOSEOUT_ACCESS_TOKEN", fake_token())];
    let common = ["--graph-url", &url, "--pace-time-scale", "20"];
    let plan = sb.path("contoso.plan.yaml");
    let mut args = vec!["plan", "--keep", CONTOSO_ADMIN, "-o", s(&plan)];
    args.extend(common);
    closeout(&sb, &args, &env).expect(0);

    let mut args = vec!["apply", s(&plan), "--auto-approve"];
    args.extend(common);
    let applied = closeout(&sb, &args, &env).expect(3);
    assert!(applied.stdout.contains(" 0 failed"), "{}", applied.stdout);

    let log = sim.log();
    assert!(
        log.iter()
            .any(|e| e.status == 0 || e.status == 503 || e.status == 504),
        "the simulator injected no faults"
    );
    let written = assert_each_object_written_once(&log);
    assert!(written >= 40, "only {written} objects written");
    assert!(log.iter().any(|e| e.via_batch), "writes were not batched");

    let again = sb.path("again.plan.yaml");
    let mut args = vec!["plan", "--keep", CONTOSO_ADMIN, "-o", s(&again)];
    args.extend(common);
    let replanned = closeout(&sb, &args, &env).expect(0);
    assert_only_manual_left(&again, &replanned.stdout);
    assert_each_object_written_once(&sim.log());
}

#[test]
fn ten_thousand_user_apply_under_faults_and_throttling_does_everything_once() {
    let sb = Sandbox::new();
    let snapshot = sb.path("tenant10k.json");
    generate(&GenerateOptions {
        users: 10_000,
        guests: 0,
        seed: 3,
    })
    .write(&snapshot)
    .unwrap();
    let admin = "admin@simtenant3.onmicrosoft.com";
    // Graph's 3,000 writes per 150 s, 400 times faster: 8,000 writes a second at most.
    let scale = "400";
    let sim = SimHost::start(&snapshot, hostile(400.0, 11));
    let url = sim.url();
    let env = [("CLOSEOUT_ACCESS_TOKEN", fake_token())];
    let common = ["--graph-url", &url, "--pace-time-scale", scale];
    let plan = sb.path("big.plan.yaml");
    let mut args = vec!["plan", "--keep", admin, "-o", s(&plan)];
    args.extend(common);
    let planned = closeout(&sb, &args, &env).expect(0);
    assert!(
        planned.stdout.contains("9999 users to delete"),
        "{}",
        planned.stdout
    );

    let mut args = vec!["apply", s(&plan), "--auto-approve", "--parallelism", "64"];
    args.extend(common);
    let applied = closeout(&sb, &args, &env).expect(3);
    assert!(applied.stdout.contains(" 0 failed"), "{}", applied.stdout);

    let log = sim.log();
    let written = assert_each_object_written_once(&log);
    // 9,999 deletions and 9,999 purges, give or take the ones whose answer was lost (their
    // repeat found them already done).
    assert!(written >= 19_998, "{written} objects written");
    let again = sb.path("again.plan.yaml");
    let mut args = vec!["plan", "--keep", admin, "-o", s(&again)];
    args.extend(common);
    let replanned = closeout(&sb, &args, &env).expect(0);
    assert_only_manual_left(&again, &replanned.stdout);
}

/// A tiny HTTP/1.1 server on loopback whose answers a test scripts; it records requests.
struct FakeEndpoint {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    stop: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
struct FakeRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl FakeRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct FakeAnswer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

type Script = dyn Fn(&FakeRequest, usize) -> FakeAnswer + Send + Sync;

impl FakeEndpoint {
    /// `script(request, n)` answers the `n`th request (from 0).
    fn start(script: impl Fn(&FakeRequest, usize) -> FakeAnswer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<FakeRequest>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (reqs, halt) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (reqs, script) = (reqs.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &reqs, &*script));
            }
        });
        FakeEndpoint {
            addr,
            requests,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<FakeRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, reqs: &Mutex<Vec<FakeRequest>>, script: &Script) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let Some(crate::common::RawRequest {
            method,
            path,
            headers,
            ..
        }) = crate::common::read_request(&mut reader)
        else {
            return;
        };
        let req = FakeRequest {
            method,
            path,
            headers,
        };
        let n = {
            let mut r = reqs.lock().unwrap();
            r.push(req.clone());
            r.len() - 1
        };
        let a = script(&req, n);
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\n",
            a.status,
            a.body.len()
        );
        for (k, v) in &a.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&a.body);
        if stream.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(status: u16, body: Value) -> FakeAnswer {
    FakeAnswer {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

fn graph_error(status: u16, code: &str, message: &str, request_id: &str) -> FakeAnswer {
    FakeAnswer {
        status,
        headers: vec![("request-id", request_id.to_string())],
        body: json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": request_id, "date": "2025-01-01T00:00:00"}}})
        .to_string(),
    }
}

fn quick_options() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(20),
        max_attempts: 4,
        pacing: None,
        ..ClientOptions::default()
    }
}

fn client(url: &str, options: ClientOptions) -> GraphClient {
    let token: Arc<dyn TokenProvider> = Arc::new(StaticToken::new(fake_token()));
    GraphClient::new(url, token, options).unwrap()
}

#[test]
fn an_error_shows_status_code_request_id_request_and_what_to_do() {
    let sb = Sandbox::new();
    let graph = FakeEndpoint::start(|r, _| {
        if r.path.starts_with("/v1.0/users") {
            graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
                "7c1f0a2e-0000-4000-8000-0000000000aa",
            )
        } else {
            answer(200, json!({"value": []}))
        }
    });
    let run = closeout(
        &sb,
        &["plan", "--keep", CONTOSO_ADMIN, "--graph-url", &graph.url()],
        &[("CLOSEOUT_ACCESS_TOKEN", fake_token())],
    )
    .expect(1);
    for part in [
        "GET /v1.0/users?",
        "HTTP 403",
        "Authorization_RequestDenied",
        "Insufficient privileges",
        "request-id 7c1f0a2e-0000-4000-8000-0000000000aa",
        "User.",
    ] {
        assert!(
            run.stderr.contains(part),
            "missing {part:?}: {}",
            run.stderr
        );
    }
    // Every request carried its own client-request-id GUID.
    let reqs = graph.requests();
    assert!(reqs.iter().all(|r| r.method == "GET"), "{reqs:?}");
    let mut ids = std::collections::HashSet::new();
    for r in &reqs {
        let id = r
            .header("client-request-id")
            .expect("client-request-id sent");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        ids.insert(id.to_string());
        assert_eq!(
            r.header("authorization"),
            Some(&*format!("Bearer {}", fake_token()))
        );
    }
    assert_eq!(ids.len(), reqs.len());
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let sb = Sandbox::new();
    let env = [("CLOSEOUT_ACCESS_TOKEN", fake_token())];
    for url in [
        "http://graph.microsoft.com",
        "http://10.1.2.3:8080",
        "ftp://127.0.0.1",
    ] {
        let run = closeout(
            &sb,
            &["plan", "--keep", CONTOSO_ADMIN, "--graph-url", url],
            &env,
        )
        .expect(1);
        assert!(
            run.stderr.contains("refusing Graph URL"),
            "{url}: {}",
            run.stderr
        );
    }
    // Loopback over http is allowed (graph-sim), and so is https anywhere.
    assert!(GraphClient::new(
        "http://127.0.0.1:9",
        Arc::new(StaticToken::new("x")),
        quick_options()
    )
    .is_ok());
    assert!(GraphClient::new(
        "http://[::1]:9",
        Arc::new(StaticToken::new("x")),
        quick_options()
    )
    .is_ok());
}

#[tokio::test]
async fn retries_follow_retry_after_and_backoff_and_give_up_naming_the_request() {
    // 429 with a fractional Retry-After, then 503 without one, then success.
    let graph = FakeEndpoint::start(|_, n| match n {
        0 => FakeAnswer {
            headers: vec![("Retry-After", "0.4".into())],
            ..graph_error(429, "TooManyRequests", "slow down", "r0")
        },
        1 => graph_error(503, "serviceNotAvailable", "busy", "r1"),
        _ => answer(200, json!({"id": "org"})),
    });
    let c = client(&graph.url(), quick_options());
    let start = Instant::now();
    let v = c.get("/v1.0/organization/org").await.unwrap();
    assert_eq!(v["id"], "org");
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert_eq!(graph.requests().len(), 3);
    assert_eq!(c.stats().throttled, 1);

    // Always 504: gives up after the attempt cap, naming the request and the last error.
    let down = FakeEndpoint::start(|_, _| graph_error(504, "gatewayTimeout", "no", "r-504"));
    let c = client(&down.url(), quick_options());
    let e = c.get("/v1.0/domains").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("GET /v1.0/domains") && text.contains("504"),
        "{text}"
    );
    assert!(text.contains("after 4 attempts"), "{text}");
    assert_eq!(down.requests().len(), 4);

    // A POST is never sent twice: its outcome is unknown after a 503.
    let c = client(&down.url(), quick_options());
    let before = down.requests().len();
    let e = c
        .request(Method::POST, "/v1.0/invitations", Some(&json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(504));
    assert_eq!(down.requests().len(), before + 1);

    // The run's deadline: a request that would wait past it gives up at once.
    let busy = FakeEndpoint::start(|_, _| FakeAnswer {
        headers: vec![("Retry-After", "5".into())],
        ..graph_error(429, "TooManyRequests", "slow down", "r-429")
    });
    let c = client(
        &busy.url(),
        ClientOptions {
            deadline: Some(Duration::from_secs(2)),
            ..quick_options()
        },
    );
    let start = Instant::now();
    let e = c.get("/v1.0/subscribedSkus").await.unwrap_err();
    assert!(matches!(e, GraphError::Deadline { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("GET /v1.0/subscribedSkus") && text.contains("TooManyRequests"),
        "{text}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn paging_follows_next_links_resends_consistency_level_and_stops_on_a_loop() {
    // graph-sim refuses an advanced filter (ne) without ConsistencyLevel on any page
    // (a bare $count=true without the header is ignored, as Graph documents).
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("big.yaml");
    write_big_tenant(&snap, 120);
    let store = Store::open(&snap, None).unwrap();
    let sim = SimServer::start(store, SimConfig::default(), 0)
        .await
        .unwrap();
    let c = client(&sim.base_url(), quick_options());
    let path = "/v1.0/users?$count=true&$filter=userType%20ne%20'None'&$select=id&$top=25";
    let users = c.get_all(path).await.unwrap();
    assert_eq!(users.len(), 121);
    let pages = sim
        .request_log()
        .iter()
        .filter(|e| e.path.starts_with("/v1.0/users"))
        .count();
    assert_eq!(pages, 5);
    // Without the header Graph (and graph-sim) refuse the query: the test above is real.
    let e = c.get_all_with(path, false).await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    sim.shutdown().await;

    // Empty pages are fine; a nextLink that repeats a page stops with a clear error.
    let looping = FakeEndpoint::start(move |r, _| {
        let host = r.header("host").unwrap_or_default().to_string();
        match r.path.as_str() {
            "/v1.0/domains" => answer(
                200,
                json!({"value": [], "@odata.nextLink": format!("http://{host}/v1.0/domains?$skiptoken=a")}),
            ),
            _ => answer(
                200,
                json!({"value": [{"id": "x"}], "@odata.nextLink": format!("http://{host}/v1.0/domains?$skiptoken=a")}),
            ),
        }
    });
    let c = client(&looping.url(), quick_options());
    let e = c.get_all("/v1.0/domains").await.unwrap_err();
    assert!(matches!(e, GraphError::PagingLoop { .. }), "{e}");
    assert!(e.to_string().contains("$skiptoken=a"), "{e}");
    assert_eq!(looping.requests().len(), 2);

    // A nextLink to another host is not followed (the token would go with it).
    let elsewhere = FakeEndpoint::start(|_, _| {
        answer(
            200,
            json!({"value": [], "@odata.nextLink": "https://evil.example.com/v1.0/domains?$skiptoken=b"}),
        )
    });
    let c = client(&elsewhere.url(), quick_options());
    let e = c.get_all("/v1.0/domains").await.unwrap_err();
    assert!(matches!(e, GraphError::OffService { .. }), "{e}");
    // The refusal names the host only: the query may carry a secret.
    assert!(e.to_string().contains("evil.example.com"), "{e}");
    assert!(!e.to_string().contains("skiptoken"), "{e}");
}

#[tokio::test]
async fn concurrent_writes_share_batches_and_only_throttled_items_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("big.yaml");
    write_big_tenant(&snap, 60);
    let store = Store::open(&snap, None).unwrap();
    // A tiny write quota that refills fast, and no client-side pacing: items get 429s.
    let config = SimConfig {
        throttle: Some(ThrottleConfig {
            app_writes_per_150s: 15,
            ..ThrottleConfig::default()
        }),
        time_scale: 150.0,
        ..SimConfig::default()
    };
    let sim = SimServer::start(store, config, 0).await.unwrap();
    let c = client(
        &sim.base_url(),
        ClientOptions {
            max_attempts: 100,
            ..quick_options()
        },
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 1..=60u32 {
        let c = c.clone();
        tasks.spawn(async move {
            let path = format!("/v1.0/users/b0000000-0000-4000-8000-{i:012x}");
            (i, c.request(Method::DELETE, &path, None).await)
        });
    }
    // And one that does not exist: its own 404, as if sent alone.
    let missing = {
        let c = c.clone();
        tokio::spawn(async move {
            c.request(
                Method::DELETE,
                "/v1.0/users/b0000000-0000-4000-8000-0000000fffff",
                None,
            )
            .await
        })
    };
    while let Some(r) = tasks.join_next().await {
        let (i, r) = r.unwrap();
        let r = r.unwrap_or_else(|e| panic!("user {i}: {e}"));
        assert_eq!(r.status, 204);
    }
    let e = missing.await.unwrap().unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e
        .to_string()
        .contains("DELETE /v1.0/users/b0000000-0000-4000-8000-0000000fffff"));

    let log = sim.request_log();
    let batches = log.iter().filter(|e| e.path.ends_with("$batch")).count();
    let items = log.iter().filter(|e| e.via_batch).count();
    let throttled = log
        .iter()
        .filter(|e| e.via_batch && e.status == 429)
        .count();
    assert!(
        batches >= 3 && batches < items,
        "{batches} batches, {items} items"
    );
    assert!(throttled > 0, "the quota never throttled an item");
    // Each user deleted exactly once; retried items were only the throttled ones.
    assert_each_object_written_once(&log);
    assert_eq!(
        log.iter()
            .filter(|e| e.via_batch && e.status == 204)
            .count(),
        60
    );
    assert_eq!(items, 61 + throttled);
    assert_eq!(c.stats().throttled as usize, throttled);
    sim.shutdown().await;
}

/// Every file under `dir`, as text.
fn all_files(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
}

#[track_caller]
fn assert_never_shown(secrets: &[&str], runs: &[&Run], sb: &Sandbox) {
    let mut places: Vec<(String, String)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        places.push((format!("run {i} stdout"), r.stdout.clone()));
        places.push((format!("run {i} stderr"), r.stderr.clone()));
    }
    all_files(sb.dir.path(), &mut places);
    for secret in secrets {
        for (where_, text) in &places {
            assert!(!text.contains(secret), "{secret} leaked into {where_}");
        }
    }
}

#[test]
fn no_token_or_secret_appears_in_output_logs_plan_or_state() {
    let sb = Sandbox::new();
    // 1. A pre-acquired token: plan and apply against a failing graph-sim.
    let sim = SimHost::start(&tenant("contoso"), hostile(50.0, 5));
    let url = sim.url();
    let token_env = [("CLOSEOUT_ACCESS_TOKEN", fake_token())];
    let plan = sb.path("p.yaml");
    let planned = closeout(
        &sb,
        &[
            "plan",
            "--keep",
            CONTOSO_ADMIN,
            "-o",
            s(&plan),
            "--graph-url",
            &url,
            "--pace-time-scale",
            "50",
        ],
        &token_env,
    )
    .expect(0);
    let applied = closeout(
        &sb,
        &[
            "apply",
            s(&plan),
            "--auto-approve",
            "--graph-url",
            &url,
            "--pace-time-scale",
            "50",
        ],
        &token_env,
    )
    .expect(3);

    // 2. An endpoint that echoes the Authorization header back in its errors.
    let echo = FakeEndpoint::start(|r, _| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let status = if r.path.contains("users") { 401 } else { 500 };
        graph_error(
            status,
            "InvalidAuthenticationToken",
            &format!("bad token {auth}"),
            "r-echo",
        )
    });
    let echoed = closeout(
        &sb,
        &["plan", "--keep", CONTOSO_ADMIN, "--graph-url", &echo.url()],
        &token_env,
    )
    .expect(1);
    assert!(echoed.stderr.contains("<redacted>"), "{}", echoed.stderr);

    // 3. A client secret whose sign-in endpoint fails.
    let signin = FakeEndpoint::start(|_, _| answer(500, json!({})));
    let authority = format!("https://{}", signin.addr);
    let secret = closeout(
        &sb,
        &[
            "plan",
            "--keep",
            CONTOSO_ADMIN,
            "--auth",
            "secret",
            "--graph-url",
            &url,
        ],
        &[
            ("AZURE_TENANT_ID", "0b7d3c4e-1111-4a2b-9c3d-000000000001"),
            ("AZURE_CLIENT_ID", "11111111-2222-4333-8444-555555555555"),
            ("AZURE_CLIENT_SECRET", FAKE_SECRET),
            ("AZURE_AUTHORITY_HOST", &authority),
        ],
    )
    .expect(1);
    assert!(secret.stderr.contains("--auth secret"), "{}", secret.stderr);

    // 4. A managed identity (App Service's endpoint) that issues tokens: the whole flow.
    let mi = FakeEndpoint::start(|r, _| {
        if r.header("x-identity-header") != Some(FAKE_MI_HEADER) {
            return answer(401, json!({"error": "missing header"}));
        }
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        answer(
            200,
            json!({"access_token": fake_mi_token(), "expires_on": expires.to_string(),
                   "token_type": "Bearer", "resource": "https://graph.microsoft.com"}),
        )
    });
    let mi_endpoint = format!("{}/msi/token", mi.url());
    let managed = closeout(
        &sb,
        &[
            "plan",
            "--keep",
            CONTOSO_ADMIN,
            "--graph-url",
            &url,
            "--pace-time-scale",
            "50",
        ],
        &[
            ("IDENTITY_ENDPOINT", &mi_endpoint),
            ("IDENTITY_HEADER", FAKE_MI_HEADER),
        ],
    )
    .expect(0);
    let mi_requests = mi.requests();
    assert_eq!(mi_requests.len(), 1, "one token for the whole run (cached)");
    assert!(
        mi_requests[0].path.contains("resource=https"),
        "{:?}",
        mi_requests[0]
    );

    assert_never_shown(
        &[fake_token(), FAKE_SECRET, FAKE_MI_HEADER, fake_mi_token()],
        &[&planned, &applied, &echoed, &secret, &managed],
        &sb,
    );
}
