//! Issue 11, points 1 and 2: resuming never needs a flag. SIGTERM and SIGHUP stop an apply
//! like Ctrl-C (exit 143 and 129, journal intact) and a plain re-run converges with one
//! successful DELETE per user; the apply lock is the kernel's, so a live holder is refused
//! (even with `--break-lock`) and `--lock-timeout` waits for it.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{s, write_big_tenant, Run, Sandbox, Sim};

const BIG_ADMIN: &str = "admin@big.onmicrosoft.com";

fn closeout(sb: &Sandbox, url: &str, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--graph-url", url]);
    sb.closeout_env(&all, &[("CLOSEOUT_ACCESS_TOKEN", crate::common::token())])
}

fn spawn(sb: &Sandbox, url: &str, args: &[&str], n: &str) -> Child {
    let out = std::fs::File::create(sb.path(&format!("{n}.out"))).unwrap();
    let err = std::fs::File::create(sb.path(&format!("{n}.err"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(args)
        .args(["--graph-url", url])
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env("CLOSEOUT_ACCESS_TOKEN", crate::common::token())
        .env("NO_COLOR", "1")
        .env_remove("CLOSEOUT_GRAPH_URL")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

fn output(sb: &Sandbox, n: &str) -> String {
    let out = std::fs::read_to_string(sb.path(&format!("{n}.out"))).unwrap();
    let err = std::fs::read_to_string(sb.path(&format!("{n}.err"))).unwrap();
    format!("--- stdout\n{out}\n--- stderr\n{err}")
}

fn wait_exit(child: &mut Child, within: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < within,
            "the apply did not exit in {within:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every journal line is a whole JSON object.
fn journal_intact(sb: &Sandbox) {
    let dir = sb.path("state").join("journals");
    let mut files = 0;
    for tenant in std::fs::read_dir(&dir).unwrap() {
        for f in std::fs::read_dir(tenant.unwrap().path()).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            for line in text.lines() {
                serde_json::from_str::<Value>(line).expect("whole JSON lines");
            }
            files += 1;
        }
    }
    assert!(files > 0, "no journal in {}", dir.display());
}

/// `signal` during an apply of an 800-user tenant, once it is writing: the apply stops
/// with `code`, then the same plain command converges, one successful DELETE per user.
fn signal_then_plain_rerun(signal: i32, code: i32) {
    const USERS: usize = 800;
    let sb = Sandbox::new();
    let snap = sb.path("big.yaml");
    write_big_tenant(&snap, USERS);
    let sim = Sim::open(&snap);
    let plan = sb.path("plan.yaml");
    closeout(
        &sb,
        &sim.url(),
        &["plan", "--keep", BIG_ADMIN, "-o", s(&plan)],
    )
    .expect(0);
    let mut child = spawn(
        &sb,
        &sim.url(),
        &["apply", s(&plan), "--auto-approve"],
        "first",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.writes().is_empty() {
        assert!(Instant::now() < deadline, "apply never wrote");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            output(&sb, "first")
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let got = wait_exit(&mut child, Duration::from_secs(10));
    let first = output(&sb, "first");
    assert_eq!(got, code, "{first}");
    assert!(first.contains("Interrupted ("), "{first}");
    journal_intact(&sb);
    let done_first = sim.writes().len();
    assert!(
        done_first < 2 * USERS,
        "the signal came too late to test anything"
    );

    let rerun = closeout(&sb, &sim.url(), &["apply", s(&plan), "--auto-approve"]);
    assert_eq!(rerun.code, 3, "{}\n{}", rerun.stdout, rerun.stderr);
    let mut deletes: BTreeMap<String, usize> = BTreeMap::new();
    for e in sim.log() {
        if e.method == "DELETE" && e.path.starts_with("/v1.0/users/") {
            assert_eq!(e.status, 204, "a repeated or failed DELETE: {e:?}");
            *deletes.entry(e.path.clone()).or_default() += 1;
        }
    }
    assert_eq!(deletes.len(), USERS);
    assert!(deletes.values().all(|n| *n == 1), "{deletes:?}");
}

#[test]
fn sigterm_stops_an_apply_with_143_and_a_plain_rerun_converges() {
    signal_then_plain_rerun(libc::SIGTERM, 143);
}

#[test]
fn sighup_stops_an_apply_with_129_and_a_plain_rerun_converges() {
    signal_then_plain_rerun(libc::SIGHUP, 129);
}

/// A live holder (an apply waiting on the manual actions with `--wait`) is refused to a
/// second apply, with or without `--break-lock`; `--lock-timeout` waits for it.
#[test]
fn a_live_holder_is_never_broken_and_lock_timeout_waits_for_it() {
    let sb = Sandbox::new();
    let snap = sb.path("big.yaml");
    write_big_tenant(&snap, 3);
    let sim = Sim::open(&snap);
    let plan = sb.path("plan.yaml");
    closeout(
        &sb,
        &sim.url(),
        &["plan", "--keep", BIG_ADMIN, "-o", s(&plan)],
    )
    .expect(0);
    let args = [
        "apply",
        s(&plan),
        "--auto-approve",
        "--wait",
        "--poll-interval",
        "1s",
        "--timeout",
        "4s",
    ];
    let mut holder = spawn(&sb, &sim.url(), &args, "holder");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !output(&sb, "holder").contains("Waiting for the manual actions") {
        assert!(Instant::now() < deadline, "{}", output(&sb, "holder"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = holder.id().to_string();
    for extra in [&[][..], &["--break-lock"][..]] {
        let mut a = vec!["apply", s(&plan), "--auto-approve"];
        a.extend_from_slice(extra);
        let r = closeout(&sb, &sim.url(), &a);
        assert_eq!(r.code, 1, "{extra:?}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("another apply holds the lock"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains(&format!("process {pid}")), "{}", r.stderr);
        assert!(r.stderr.contains("--lock-timeout"), "{}", r.stderr);
    }
    let started = Instant::now();
    let waited = closeout(
        &sb,
        &sim.url(),
        &["apply", s(&plan), "--auto-approve", "--lock-timeout", "60s"],
    );
    assert_eq!(waited.code, 3, "{}\n{}", waited.stdout, waited.stderr);
    assert!(
        waited
            .stderr
            .contains("waiting up to 1m for the apply lock"),
        "{}",
        waited.stderr
    );
    assert_eq!(wait_exit(&mut holder, Duration::from_secs(30)), 3);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

/// A forged journal that claims every action done and the plan finished makes apply skip
/// nothing it has not verified on the tenant; a garbled one is refused naming file and line,
/// before anything is written.
#[test]
fn a_forged_journal_skips_nothing_and_a_garbled_one_is_refused_with_file_and_line() {
    let sb = Sandbox::new();
    let snap = sb.path("big.yaml");
    write_big_tenant(&snap, 5);
    let sim = Sim::open(&snap);
    let plan_file = sb.path("plan.yaml");
    closeout(
        &sb,
        &sim.url(),
        &["plan", "--keep", BIG_ADMIN, "-o", s(&plan_file)],
    )
    .expect(0);
    let plan = closeout::planfile::read(&plan_file).unwrap();
    let journal =
        closeout::apply::journal::journal_path(&sb.path("state"), &plan.tenant.id, &plan.plan_id);
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();

    std::fs::write(&journal, "{\"event\":\"start\",\"plan_id\":\"x\",\"pid\":1,\"at\":\"t\"}\n\u{1b}[2Jgarbage\n{\"event\":\"finished\",\"at\":\"t\"}\n").unwrap();
    let refused = closeout(&sb, &sim.url(), &["apply", s(&plan_file), "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("{}:2:", journal.display())),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains('\u{1b}'), "{:?}", refused.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let mut forged =
        String::from("{\"event\":\"start\",\"plan_id\":\"x\",\"pid\":1,\"at\":\"t\"}\n");
    for a in &plan.actions {
        forged.push_str(&format!(
            "{{\"event\":\"outcome\",\"address\":\"{}\",\"outcome\":\"done\",\"at\":\"t\"}}\n",
            a.address
        ));
    }
    forged.push_str("{\"event\":\"finished\",\"at\":\"t\"}\n");
    std::fs::write(&journal, forged).unwrap();
    let run = closeout(&sb, &sim.url(), &["apply", s(&plan_file), "--auto-approve"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let deletes = sim
        .writes()
        .iter()
        .filter(|e| e.method == "DELETE" && e.path.starts_with("/v1.0/users/"))
        .count();
    assert_eq!(
        deletes, 5,
        "every user deleted despite the journal's claims"
    );
}
