//! Issue 5: apply only what was reviewed. Stale plans (one test per drift kind), the typed
//! confirmation through a real pseudo-terminal, SIGKILL at random moments and resume,
//! Ctrl-C during a long Retry-After.
//!
//! These tests run graph-sim in the test process (`graph_sim::SimServer`) and the closeout
//! binary as a child process against it with `--graph-url` and `CLOSEOUT_ACCESS_TOKEN`, so
//! the simulator's request log shows exactly what each apply did to the tenant.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_sim::{LogEntry, SimConfig, Snapshot};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::common::{s, tenant, write_big_tenant, Run, Sandbox, Sim};

const CONTOSO_ADMIN: &str = "admin@contoso.com";
const BIG_ADMIN: &str = "admin@big.onmicrosoft.com";

fn load(path: &Path) -> Snapshot {
    graph_sim::load_snapshot(path).unwrap()
}

fn closeout(sb: &Sandbox, url: &str, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--graph-url", url]);
    sb.closeout_env(&all, &[("CLOSEOUT_ACCESS_TOKEN", crate::common::token())])
}

/// Plans `keep`'s closure of the tenant at `url` into the sandbox's `plan.yaml`.
fn plan(sb: &Sandbox, url: &str, keep: &str) -> PathBuf {
    let file = sb.path("plan.yaml");
    closeout(sb, url, &["plan", "--keep", keep, "-o", s(&file)]).expect(0);
    file
}

fn apply(sb: &Sandbox, url: &str, plan: &Path) -> Run {
    closeout(sb, url, &["apply", s(plan), "--auto-approve"])
}

/// Asserts that no write succeeded after the first `before` log entries.
fn no_writes_since(sim: &Sim, before: usize) {
    let w: Vec<LogEntry> = sim
        .log()
        .into_iter()
        .skip(before)
        .filter(|e| e.method != "GET" && (200..300).contains(&e.status))
        .collect();
    assert!(w.is_empty(), "a refused apply must change nothing: {w:?}");
}

fn no_writes(sim: &Sim) {
    no_writes_since(sim, 0);
}

// ---------------------------------------------------------------------------------------
// Stale plans: one test per drift kind.

#[test]
fn stale_user_changed() {
    let sb = Sandbox::new();
    let sim = Sim::start(load(&tenant("contoso")));
    let plan = plan(&sb, &sim.url(), CONTOSO_ADMIN);
    // Another administrator disables Megan between plan and apply.
    let status = sim.graph(
        reqwest::Method::PATCH,
        "/v1.0/users/megan.bowen@contoso.com",
        json!({"accountEnabled": false}),
    );
    assert_eq!(status, 204);
    let before = sim.log().len();
    let run = apply(&sb, &sim.url(), &plan).expect(4);
    assert!(run.stderr.contains("Stale plan"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("delete user megan.bowen@contoso.com: changed since planning"),
        "{}",
        run.stderr
    );
    // A similar diff of planned versus live fields.
    assert!(
        run.stderr.contains("- accountEnabled: true"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("+ accountEnabled: false"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Plan again"), "{}", run.stderr);
    no_writes_since(&sim, before);
}

#[test]
fn stale_user_added() {
    let sb = Sandbox::new();
    let snap = load(&tenant("contoso"));
    let plan = {
        let sim = Sim::start(snap.clone());
        plan(&sb, &sim.url(), CONTOSO_ADMIN)
    };
    // The same tenant, a day later: someone created a user.
    let mut later = snap;
    let mut newcomer = later.users[1].clone();
    newcomer.insert("id".into(), json!("9e0d1c2b-0000-4000-8000-00000000beef"));
    newcomer.insert("userPrincipalName".into(), json!("newcomer@contoso.com"));
    newcomer.insert("displayName".into(), json!("Newcomer"));
    later.users.push(newcomer);
    let sim = Sim::start(later);
    let run = apply(&sb, &sim.url(), &plan).expect(4);
    assert!(
        run.stderr.contains("newcomer@contoso.com"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("appeared or changed since planning"),
        "{}",
        run.stderr
    );
    no_writes(&sim);
    // --format json gives the same as a document on stdout.
    let json_run = closeout(
        &sb,
        &sim.url(),
        &[
            "apply",
            s(&plan),
            "--auto-approve",
            "--batch-size",
            "1",
            "--format",
            "json",
        ],
    )
    .expect(4);
    let doc: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(doc["result"], "stale_plan");
    assert_eq!(doc["exit_code"], 4);
    assert_eq!(doc["drift"][0]["name"], "newcomer@contoso.com");
    assert_eq!(doc["drift"][0]["reason"]["kind"], "not_in_plan");
}

#[test]
fn stale_subscription_status_changed() {
    let sb = Sandbox::new();
    let snap = load(&tenant("contoso"));
    let plan = {
        let sim = Sim::start(snap.clone());
        plan(&sb, &sim.url(), CONTOSO_ADMIN)
    };
    // ENTERPRISEPACK expired (Enabled -> Warning) after planning.
    let mut later = snap;
    let sub = later
        .subscriptions
        .iter_mut()
        .find(|s| s["skuPartNumber"] == "ENTERPRISEPACK")
        .unwrap();
    sub.insert("status".into(), json!("Warning"));
    let sim = Sim::start(later);
    let run = apply(&sb, &sim.url(), &plan).expect(4);
    assert!(
        run.stderr.contains("cancel subscription ENTERPRISEPACK"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("-status: \"Enabled\"") || run.stderr.contains("- status: \"Enabled\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("+ status: \"Warning\""),
        "{}",
        run.stderr
    );
    no_writes(&sim);
}

#[test]
fn stale_policy_added() {
    let sb = Sandbox::new();
    let snap = load(&tenant("contoso"));
    let plan = {
        let sim = Sim::start(snap.clone());
        plan(&sb, &sim.url(), CONTOSO_ADMIN)
    };
    let mut later = snap;
    let mut policy = later.conditional_access_policies[0].clone();
    policy.insert("id".into(), json!("4f1c0a52-0000-4000-8000-0000000000ca"));
    policy.insert(
        "displayName".into(),
        json!("MFA for partners (added later)"),
    );
    policy.insert("state".into(), json!("enabledForReportingButNotEnforced"));
    later.conditional_access_policies.push(policy);
    let sim = Sim::start(later);
    let run = apply(&sb, &sim.url(), &plan).expect(4);
    assert!(
        run.stderr.contains("MFA for partners (added later)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("disable conditional access policy"),
        "{}",
        run.stderr
    );
    no_writes(&sim);
}

#[test]
fn plan_for_another_tenant_is_refused() {
    let sb = Sandbox::new();
    let plan = {
        let sim = Sim::start(load(&tenant("contoso")));
        plan(&sb, &sim.url(), CONTOSO_ADMIN)
    };
    let other = Sim::start(load(&tenant("fabrikam")));
    let run = apply(&sb, &other.url(), &plan).expect(1);
    assert!(
        run.stderr.contains("this plan is for tenant"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("contoso.onmicrosoft.com"),
        "{}",
        run.stderr
    );
    no_writes(&other);
}

#[test]
fn edited_plan_is_refused() {
    let sb = Sandbox::new();
    let sim = Sim::start(load(&tenant("contoso")));
    let plan = plan(&sb, &sim.url(), CONTOSO_ADMIN);
    // One character: a reviewer's approval must cover exactly what runs.
    let text = std::fs::read_to_string(&plan).unwrap();
    let at = text.find("reason: Only").unwrap() + "reason: O".len();
    let mut edited = text.clone();
    edited.replace_range(at..at + 1, "x");
    std::fs::write(&plan, edited).unwrap();
    let before = sim.log().len();
    let run = apply(&sb, &sim.url(), &plan).expect(1);
    assert!(
        run.stderr.contains("edited after it was made"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(s(&plan)),
        "names the file: {}",
        run.stderr
    );
    assert_eq!(sim.log().len(), before, "refused before reading the tenant");
}

#[test]
fn unknown_plan_format_version_is_refused() {
    let sb = Sandbox::new();
    let sim = Sim::start(load(&tenant("contoso")));
    let plan = plan(&sb, &sim.url(), CONTOSO_ADMIN);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("format_version: 2\n", "format_version: 3\n");
    std::fs::write(&plan, text).unwrap();
    let before = sim.log().len();
    let run = apply(&sb, &sim.url(), &plan).expect(1);
    assert!(
        run.stderr
            .contains("plan file format version 3 is not supported"),
        "{}",
        run.stderr
    );
    assert_eq!(sim.log().len(), before, "refused before reading the tenant");
}

// ---------------------------------------------------------------------------------------
// Confirmation through a pseudo-terminal (util-linux `script`).

/// Runs closeout under `script -qec` (a real pseudo-terminal) and types `typed`.
fn closeout_in_terminal(sb: &Sandbox, url: &str, args: &[&str], typed: &str) -> (i32, String) {
    let mut line = String::from(env!("CARGO_BIN_EXE_closeout"));
    for a in args.iter().copied().chain(["--graph-url", url]) {
        line.push_str(&format!(" '{a}'"));
    }
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("CLOSEOUT_ACCESS_TOKEN", crate::common::token())
        .env_remove("CLOSEOUT_GRAPH_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs the prompt in a pseudo-terminal");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    // Give the prompt time to appear, then type the answer; keep stdin open until the end.
    std::thread::sleep(Duration::from_millis(1500));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(typed.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "closeout did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    (status.code().unwrap_or(-1), reader.join().unwrap())
}

#[test]
fn confirmation_accepts_only_the_initial_domain() {
    let sb = Sandbox::new();
    let snap = sb.path("small.yaml");
    write_big_tenant(&snap, 3);
    let sim = Sim::start(load(&snap));
    let plan = plan(&sb, &sim.url(), BIG_ADMIN);
    let args = ["apply", s(&plan)];

    let (code, out) = closeout_in_terminal(&sb, &sim.url(), &args, "yes");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Type the tenant's initial domain (big.onmicrosoft.com)"),
        "{out}"
    );
    assert!(
        out.contains("'yes' is not the tenant's initial domain"),
        "{out}"
    );
    no_writes(&sim);

    let (code, out) = closeout_in_terminal(&sb, &sim.url(), &args, "other.onmicrosoft.com");
    assert_eq!(code, 1, "{out}");
    no_writes(&sim);

    let (code, out) = closeout_in_terminal(&sb, &sim.url(), &args, "big.onmicrosoft.com");
    // Users deleted and purged; the tenant deletion waits on a person.
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("Apply finished: 6 done"), "{out}");

    // Without a terminal and without --auto-approve, apply refuses.
    sb.closeout(&["sim", "reset", "--simulate", s(&snap)]);
    let sim2 = Sim::start(load(&snap));
    let run = closeout(&sb, &sim2.url(), &["apply", s(&plan)]).expect(1);
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    no_writes(&sim2);
}

// ---------------------------------------------------------------------------------------
// Crashes: SIGKILL at random moments, then resume.

fn spawn_apply(sb: &Sandbox, url: &str, plan: &Path, n: usize) -> Child {
    let out = std::fs::File::create(sb.path(&format!("run{n}.out"))).unwrap();
    let err = std::fs::File::create(sb.path(&format!("run{n}.err"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(["apply", s(plan), "--auto-approve", "--graph-url", url])
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("CLOSEOUT_ACCESS_TOKEN", crate::common::token())
        .env_remove("CLOSEOUT_GRAPH_URL")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

/// Successful deletes and purges per object id.
fn successes(log: &[LogEntry], prefix: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in log {
        if e.method == "DELETE" && e.status == 204 {
            if let Some(id) = e.path.strip_prefix(prefix) {
                *m.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    m
}

#[test]
fn sigkill_at_random_moments_then_resume_converges_with_one_delete_per_user() {
    const USERS: usize = 800;
    const KILLS: usize = 8;
    let sb = Sandbox::new();
    let snap_file = sb.path("big.yaml");
    write_big_tenant(&snap_file, USERS);
    let sim = Sim::start(load(&snap_file));
    let plan = plan(&sb, &sim.url(), BIG_ADMIN);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut kills = 0;
    let mut finished = None;
    for n in 0..40 {
        let mut child = spawn_apply(&sb, &sim.url(), &plan, n);
        if kills < KILLS {
            // At a random moment once this run has started writing (or, one time in four,
            // at a random moment of its start-up).
            let writes_before = sim.writes().len();
            if rng.random_range(0..4) > 0 {
                while sim.writes().len() == writes_before && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let status = child.wait().unwrap();
        let err = std::fs::read_to_string(sb.path(&format!("run{n}.err"))).unwrap();
        let out = std::fs::read_to_string(sb.path(&format!("run{n}.out"))).unwrap();
        // Converged: only the manual tenant deletion remains.
        assert_eq!(status.code(), Some(3), "run {n}\n{out}\n{err}");
        finished = Some(out);
        break;
    }
    let out = finished.expect("the apply converged");
    assert!(kills >= 3, "the apply was killed {kills} times only");
    assert!(out.contains("0 failed"), "{out}");
    assert!(out.contains("Resumed: "), "{out}");
    let log = sim.log();
    let deletes = successes(&log, "/v1.0/users/");
    let purges = successes(&log, "/v1.0/directory/deletedItems/");
    assert_eq!(deletes.len(), USERS, "every user deleted");
    assert_eq!(purges.len(), USERS, "every user purged");
    for (id, n) in deletes.iter().chain(&purges) {
        assert_eq!(*n, 1, "{id} changed {n} times");
    }
    // Nothing was repeated either: a resumed run checks the tenant instead of re-sending
    // (a repeated DELETE would be answered 404).
    let repeated: Vec<&LogEntry> = log
        .iter()
        .filter(|e| e.method == "DELETE" && e.status != 204)
        .collect();
    assert!(repeated.is_empty(), "{repeated:?}");
    eprintln!("{kills} SIGKILLs, {} requests", log.len());
    let now = sim.server().store().snapshot();
    assert_eq!(now.users.len(), 1, "only the kept administrator remains");
    assert!(now.deleted_users.is_empty(), "recycle bin purged");

    // Applying the converged plan again is a verified no-op: no writes.
    let before = sim.writes().len();
    let again = closeout(&sb, &sim.url(), &["apply", s(&plan), "--auto-approve"]).expect(3);
    assert!(again.stdout.contains("0 done"), "{}", again.stdout);
    assert_eq!(sim.writes().len(), before);
}

// ---------------------------------------------------------------------------------------
// Ctrl-C during a 120-second Retry-After.

/// A canned answer: status, extra header lines, body.
type Canned = (u16, String, Vec<u8>);
type Rule = Arc<dyn Fn(&str, &str) -> Option<Canned> + Send + Sync>;

/// A loopback stand-in for Graph that forwards every request to graph-sim, except those
/// its rule answers itself (a 429 with a long Retry-After, a 403, ...). Counts the
/// requests the rule answered.
struct FaultProxy {
    url: String,
    answered: Arc<AtomicUsize>,
}

async fn read_request(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut first = lines.next()?.split(' ');
            let method = first.next()?.to_string();
            let path = first.next()?.to_string();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((method, path, headers, body));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl FaultProxy {
    fn start(rt: &tokio::runtime::Runtime, upstream: String, rule: Rule) -> FaultProxy {
        let answered = Arc::new(AtomicUsize::new(0));
        let counter = answered.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let http = http.clone();
                let upstream = upstream.clone();
                let counter = counter.clone();
                let rule = rule.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut buf = Vec::new();
                    while let Some((method, path, headers, body)) =
                        read_request(&mut stream, &mut buf).await
                    {
                        let (status, extra, bytes) = if let Some(c) = rule(&method, &path) {
                            counter.fetch_add(1, Ordering::SeqCst);
                            c
                        } else {
                            let mut req =
                                http.request(method.parse().unwrap(), format!("{upstream}{path}"));
                            for (k, v) in &headers {
                                if k == "authorization" || k == "content-type" {
                                    req = req.header(k.as_str(), v.as_str());
                                }
                            }
                            let resp = req.body(body).send().await.unwrap();
                            let status = resp.status().as_u16();
                            (status, String::new(), resp.bytes().await.unwrap().to_vec())
                        };
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
                            bytes.len()
                        );
                        if stream.write_all(head.as_bytes()).await.is_err()
                            || stream.write_all(&bytes).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        FaultProxy { url, answered }
    }
}

#[test]
fn ctrl_c_during_a_long_retry_after_exits_130_within_two_seconds_journal_intact() {
    let sb = Sandbox::new();
    let snap_file = sb.path("small.yaml");
    write_big_tenant(&snap_file, 6);
    let sim = Sim::start(load(&snap_file));
    // Every user deletion is throttled with a 120-second Retry-After.
    let rule: Rule = Arc::new(|method, path| {
        (method == "DELETE" && path.starts_with("/v1.0/users/")).then(|| {
            let body = br#"{"error":{"code":"TooManyRequests","message":"Too many requests."}}"#;
            (429, "Retry-After: 120\r\n".to_string(), body.to_vec())
        })
    });
    let proxy = FaultProxy::start(&sim.rt, sim.url(), rule);
    let plan = plan(&sb, &sim.url(), BIG_ADMIN);
    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args([
            "apply",
            s(&plan),
            "--auto-approve",
            // One request per write, so the proxy's rule sees each DELETE.
            "--batch-size",
            "1",
            "--graph-url",
            &proxy.url,
        ])
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("CLOSEOUT_ACCESS_TOKEN", crate::common::token())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.answered.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "apply never sent a DELETE");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Now in a 120-second Retry-After wait.
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = interrupt(&mut child);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{out}\n{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(out.contains("Apply interrupted"), "{out}");

    // The journal is intact: whole JSON lines, the throttled deletes are uncertain.
    let journals = sb.path("state").join("journals");
    let file = std::fs::read_dir(
        std::fs::read_dir(&journals)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap()
    .path();
    let text = std::fs::read_to_string(&file).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
        .collect();
    assert!(text.ends_with('\n'));
    let intents = records.iter().filter(|r| r["event"] == "intent").count();
    let outcomes = records.iter().filter(|r| r["event"] == "outcome").count();
    assert!(
        intents > outcomes,
        "throttled deletes stay uncertain: {text}"
    );

    // Resume straight against graph-sim: the uncertain deletes are checked, then done once.
    let resumed = apply(&sb, &sim.url(), &plan).expect(3);
    assert!(
        resumed.stdout.contains("left uncertain"),
        "{}",
        resumed.stdout
    );
    let deletes = successes(&sim.log(), "/v1.0/users/");
    assert_eq!(deletes.len(), 6);
    assert!(deletes.values().all(|n| *n == 1));
}

#[test]
fn failed_action_skips_its_dependents_and_reports_the_root_cause_with_request_id() {
    let sb = Sandbox::new();
    let snap_file = sb.path("small.yaml");
    write_big_tenant(&snap_file, 3);
    let sim = Sim::start(load(&snap_file));
    // Graph refuses to delete user 2 (as it does for a privileged user).
    let user2 = "b0000000-0000-4000-8000-000000000002";
    let rule: Rule = Arc::new(move |method, path| {
        (method == "DELETE" && path == format!("/v1.0/users/{user2}")).then(|| {
            let body = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"5e1f0000-0000-4000-8000-00000000f00d"}}}"#;
            (403, "request-id: 5e1f0000-0000-4000-8000-00000000f00d\r\n".to_string(), body.to_vec())
        })
    });
    let proxy = FaultProxy::start(&sim.rt, sim.url(), rule);
    let plan = plan(&sb, &sim.url(), BIG_ADMIN);
    let run = closeout(
        &sb,
        &proxy.url,
        &["apply", s(&plan), "--auto-approve", "--batch-size", "1"],
    )
    .expect(1);
    let failed = format!("delete_user.{user2}");
    assert!(
        run.stdout.contains(&format!("Failed:\n  {failed}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Graph code Authorization_RequestDenied, request-id 5e1f0000-0000-4000-8000-00000000f00d"),
        "{}",
        run.stdout
    );
    // Its purge and the tenant deletion (which waits for step 1) are skipped because of it;
    // the other users are deleted and purged.
    assert!(
        run.stdout
            .contains(&format!("2 action(s) because of {failed}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("4 done"), "{}", run.stdout);
    assert!(run.stdout.contains("1 failed, 2 skipped"), "{}", run.stdout);

    // The same as JSON.
    let json_run = closeout(
        &sb,
        &proxy.url,
        &[
            "apply",
            s(&plan),
            "--auto-approve",
            "--batch-size",
            "1",
            "--format",
            "json",
        ],
    )
    .expect(1);
    let doc: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(doc["result"], "failed");
    let actions = doc["actions"].as_array().unwrap();
    let f = actions
        .iter()
        .find(|a| a["address"] == failed.as_str())
        .unwrap();
    assert_eq!(f["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        f["error"]["request_id"],
        "5e1f0000-0000-4000-8000-00000000f00d"
    );
    let skipped: Vec<&Value> = actions
        .iter()
        .filter(|a| a["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped
        .iter()
        .all(|a| a["skipped_because"] == failed.as_str()));
}

/// Ctrl-C while `$batch` items wait out Graph's write quota: graph-sim throttles writes at
/// two per 150 s, so the batched deletes come back 429 with a Retry-After of a minute or
/// more; apply must still stop within two seconds and leave the journal whole.
#[test]
fn ctrl_c_while_batched_writes_wait_out_the_write_quota() {
    let sb = Sandbox::new();
    let snap_file = sb.path("small.yaml");
    write_big_tenant(&snap_file, 6);
    let config = SimConfig {
        throttle: Some(graph_sim::ThrottleConfig {
            app_writes_per_150s: 2,
            ..graph_sim::ThrottleConfig::default()
        }),
        ..SimConfig::default()
    };
    let sim = Sim::start_with(load(&snap_file), config);
    let url = sim.url();
    let plan = plan(&sb, &url, BIG_ADMIN);
    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(["apply", s(&plan), "--auto-approve", "--graph-url", &url])
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("CLOSEOUT_ACCESS_TOKEN", crate::common::token())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sim.log().iter().any(|e| e.via_batch && e.status == 429) {
        assert!(Instant::now() < deadline, "no batched write was throttled");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = interrupt(&mut child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let journal_dir = sb.path("state").join("journals");
    let mut journals = Vec::new();
    for tenant in std::fs::read_dir(&journal_dir).unwrap() {
        for f in std::fs::read_dir(tenant.unwrap().path()).unwrap() {
            journals.push(f.unwrap().path());
        }
    }
    assert_eq!(journals.len(), 1);
    let text = std::fs::read_to_string(&journals[0]).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<Value>(line).expect("whole JSON lines");
    }
}

/// Sends SIGINT (Ctrl-C) to a running apply and waits for it to exit (at most 10 s):
/// its exit status and how long it took after the signal.
fn interrupt(child: &mut std::process::Child) -> (std::process::ExitStatus, Duration) {
    let pid = i32::try_from(child.id()).unwrap();
    let sent = Instant::now();
    // SAFETY: sends SIGINT to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, sent.elapsed());
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "apply ignored Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
