//! Benchmark of closeout's Graph protocol against graph-sim: prints figures, asserts nothing.
//!
//! ```sh
//! cargo bench -p closeout --bench protocol                      # defaults below
//! cargo bench -p closeout --bench protocol -- --users 2000 --time-scale 20 --plan-users 0
//! ```
//!
//! 1. Apply: generates a tenant of `--users` users (default 10,000), plans its closure, then
//!    times `closeout apply` (delete and purge every user but the admin) against graph-sim
//!    with Graph's default identity quotas running `--time-scale` times faster (default 10)
//!    and `--latency-ms` (default 100) plus up to `--jitter-ms` (default 50) of latency per
//!    HTTP request. Prints HTTP requests sent, 429s received, wall time and write throughput
//!    as a fraction of the simulator's write ceiling (3,000 writes of burst plus
//!    20 x time-scale writes per second).
//! 2. Plan: times `closeout plan` of a `--plan-users` tenant (default 100,000; 0 skips it):
//!    wall time, requests, peak memory (VmHWM of the closeout process, Linux).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use graph_sim::generate::{generate, GenerateOptions};
use graph_sim::{LogEntry, SimConfig, SimServer, Store, ThrottleConfig};

struct Args {
    users: usize,
    time_scale: f64,
    latency_ms: u64,
    jitter_ms: u64,
    parallelism: usize,
    plan_users: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        users: 10_000,
        time_scale: 10.0,
        latency_ms: 100,
        jitter_ms: 50,
        parallelism: 64,
        plan_users: 100_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = || argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--users" => a.users = value().parse().expect("--users N"),
            "--time-scale" => a.time_scale = value().parse().expect("--time-scale F"),
            "--latency-ms" => a.latency_ms = value().parse().expect("--latency-ms N"),
            "--jitter-ms" => a.jitter_ms = value().parse().expect("--jitter-ms N"),
            "--parallelism" => a.parallelism = value().parse().expect("--parallelism N"),
            "--plan-users" => a.plan_users = value().parse().expect("--plan-users N"),
            // cargo bench passes --bench; ignore anything else.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// Runs closeout, returning (exit code, wall time, peak RSS in KiB, stdout).
fn run_closeout(args: &[&str], state: &Path) -> (i32, Duration, u64, String) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(args)
        .env("CLOSEOUT_STATE_DIR", state)
        .env("CLOSEOUT_ACCESS_TOKEN", graph_sim::token::full_access())
        .env_remove("AZURE_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run closeout");
    let status_file = format!("/proc/{}/status", child.id());
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let mut stdout = stdout;
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak_kib = peak_kib.max(kib);
                }
            }
        }
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader.join().unwrap_or_default();
    (status.code().unwrap_or(-1), start.elapsed(), peak_kib, out)
}

fn write_tenant(dir: &Path, users: usize) -> (PathBuf, String) {
    let path = dir.join(format!("tenant-{users}.json"));
    generate(&GenerateOptions {
        users,
        guests: 0,
        seed: 1,
    })
    .write(&path)
    .expect("write snapshot");
    (path, "admin@simtenant1.onmicrosoft.com".to_string())
}

fn is_write(e: &LogEntry) -> bool {
    matches!(e.method.as_str(), "DELETE" | "PATCH" | "POST" | "PUT") && !e.path.contains("$batch")
}

fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scale = format!("{}", args.time_scale);

    // 1. Apply.
    let (snapshot, admin) = write_tenant(dir.path(), args.users);
    let config = SimConfig {
        throttle: Some(ThrottleConfig::default()),
        time_scale: args.time_scale,
        latency_ms: args.latency_ms,
        latency_jitter_ms: args.jitter_ms,
        fractional_retry_after: true,
        ..SimConfig::default()
    };
    let store = Store::open(&snapshot, None).expect("snapshot");
    let sim = rt
        .block_on(SimServer::start(store, config, 0))
        .expect("graph-sim");
    let url = sim.base_url();
    let plan = dir.path().join("bench.plan.yaml");
    let state = dir.path().join("state");
    let (code, plan_time, _, _) = run_closeout(
        &[
            "plan",
            "--keep",
            &admin,
            "-o",
            plan.to_str().unwrap(),
            "--graph-url",
            &url,
            "--pace-time-scale",
            &scale,
        ],
        &state,
    );
    assert_eq!(code, 0, "plan failed");
    let before = sim.request_log().len();
    let parallelism = args.parallelism.to_string();
    let (code, wall, peak, out) = run_closeout(
        &[
            "apply",
            plan.to_str().unwrap(),
            "--auto-approve",
            "--graph-url",
            &url,
            "--pace-time-scale",
            &scale,
            "--parallelism",
            &parallelism,
        ],
        &state,
    );
    let log: Vec<LogEntry> = sim.request_log().split_off(before);
    let summary = out
        .lines()
        .find(|l| l.starts_with("Apply finished"))
        .unwrap_or("(no summary)")
        .to_string();
    let http = log.iter().filter(|e| !e.via_batch).count();
    let batches = log.iter().filter(|e| e.path.ends_with("$batch")).count();
    let items = log.iter().filter(|e| e.via_batch).count();
    let throttled = log.iter().filter(|e| e.status == 429).count();
    let ok_writes: Vec<&LogEntry> = log
        .iter()
        .filter(|e| is_write(e) && (200..300).contains(&e.status))
        .collect();
    let first = ok_writes.first().map_or(0, |e| e.unix_ms);
    let last = ok_writes.last().map_or(0, |e| e.unix_ms);
    let write_phase = Duration::from_millis(last.saturating_sub(first).max(1));
    let rate = 20.0 * args.time_scale; // 3,000 writes per 150 s, time-scaled
    let ceiling = |t: Duration| 3_000.0 + rate * t.as_secs_f64();
    let n = ok_writes.len() as f64;
    println!("closeout apply: {} users, graph-sim with Graph's default quotas x{} and {}+0..{} ms latency, --parallelism {}",
        args.users, args.time_scale, args.latency_ms, args.jitter_ms, args.parallelism);
    println!("  exit code {code}; {summary}");
    println!("  plan before it: {:.2} s", plan_time.as_secs_f64());
    println!(
        "  HTTP requests sent: {http} ({batches} $batch carrying {items} items, {} other)",
        http - batches
    );
    println!(
        "  429s received: {throttled} ({:.2}% of {} requests and batch items)",
        100.0 * throttled as f64 / (http - batches + items).max(1) as f64,
        http - batches + items
    );
    println!("  successful writes: {}", ok_writes.len());
    println!(
        "  wall time: {:.2} s (write phase {:.2} s); peak memory {} MiB",
        wall.as_secs_f64(),
        write_phase.as_secs_f64(),
        peak / 1024
    );
    println!(
        "  write throughput: {:.0} writes/s over the write phase = {:.1}% of the ceiling ({:.0} writes possible: 3,000 burst + {:.0}/s); over the whole apply {:.1}%",
        n / write_phase.as_secs_f64(),
        100.0 * n / ceiling(write_phase),
        ceiling(write_phase),
        rate,
        100.0 * n / ceiling(wall),
    );
    rt.block_on(sim.shutdown());

    // 2. Plan of a big tenant.
    if args.plan_users > 0 {
        let (snapshot, admin) = write_tenant(dir.path(), args.plan_users);
        let store = Store::open(&snapshot, None).expect("snapshot");
        let config = SimConfig {
            throttle: Some(ThrottleConfig::default()),
            time_scale: args.time_scale,
            latency_ms: args.latency_ms,
            latency_jitter_ms: args.jitter_ms,
            fractional_retry_after: true,
            ..SimConfig::default()
        };
        let sim = rt
            .block_on(SimServer::start(store, config, 0))
            .expect("graph-sim");
        let url = sim.base_url();
        let out_plan = dir.path().join("big.plan.yaml");
        let (code, wall, peak, _) = run_closeout(
            &[
                "plan",
                "--keep",
                &admin,
                "-o",
                out_plan.to_str().unwrap(),
                "--graph-url",
                &url,
                "--pace-time-scale",
                &scale,
            ],
            &state,
        );
        let log = sim.request_log();
        let plan_bytes = std::fs::metadata(&out_plan).map_or(0, |m| m.len());
        println!("closeout plan: {} users", args.plan_users);
        println!(
            "  exit code {code}; wall time {:.2} s; {} requests ({} throttled); peak memory {} MiB; plan file {} MiB",
            wall.as_secs_f64(),
            log.len(),
            log.iter().filter(|e| e.status == 429).count(),
            peak / 1024,
            plan_bytes / (1024 * 1024)
        );
        rt.block_on(sim.shutdown());
    }
}
