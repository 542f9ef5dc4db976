//! How plan files and their renderers scale: a generated tenant of
//! `CLOSEOUT_BENCH_USERS` users (default 100,000) is read through graph-sim over loopback,
//! planned, written, read back and rendered in every format. Prints one line per stage with
//! its wall time and size; not a pass/fail test.
//!
//! Run: `cargo bench --bench plan_scale` (or `CLOSEOUT_BENCH_USERS=20000 cargo bench ...`).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use closeout::graph::{read_tenant, ClientOptions, GraphClient, StaticToken};
use closeout::planfile;
use closeout::planner::{self, ClosureSpec};
use closeout::render::{
    plan_view, render_plan_json, render_plan_markdown, render_plan_text, MarkdownOptions,
    TextOptions, ViewOptions,
};
use graph_sim::generate::{generate, GenerateOptions};

/// Counts bytes written, discards them.
#[derive(Default)]
struct Count(usize);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn report(stage: &str, took: Duration, what: &str) {
    println!("{stage:<34} {:>9.3} s   {what}", took.as_secs_f64());
}

fn timed<T>(stage: &str, f: impl FnOnce() -> (T, String)) -> T {
    let start = Instant::now();
    let (value, what) = f();
    report(stage, start.elapsed(), &what);
    value
}

fn main() {
    let users: usize = std::env::var("CLOSEOUT_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let snapshot_path = dir.path().join("tenant.yaml");
    let opts = GenerateOptions {
        users,
        guests: 0,
        seed: 1,
    };
    let keep = format!("admin@simtenant{}.onmicrosoft.com", opts.seed);
    timed("generate snapshot", || {
        let snap = generate(&opts);
        let yaml = serde_yaml::to_string(&snap).expect("snapshot YAML");
        std::fs::write(&snapshot_path, &yaml).expect("write snapshot");
        ((), format!("{users} users, {} MB", yaml.len() / 1_000_000))
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt.block_on(async {
        let store = graph_sim::Store::open(&snapshot_path, None).expect("snapshot loads");
        graph_sim::SimServer::start(store, graph_sim::SimConfig::default(), 0)
            .await
            .expect("graph-sim starts")
    });
    let client = GraphClient::new(
        &sim.base_url(),
        std::sync::Arc::new(StaticToken::new(graph_sim::token::full_access())),
        ClientOptions::default(),
    )
    .expect("client");
    let state = timed("read tenant (graph-sim, loopback)", || {
        let s = rt
            .block_on(read_tenant(&client, std::slice::from_ref(&keep), &()))
            .expect("read");
        let n = s.users.len();
        (s, format!("{n} users"))
    });
    rt.block_on(sim.shutdown());
    let mut plan = timed("plan (diff, DAG, order)", || {
        let spec = ClosureSpec {
            keep: vec![keep.clone()],
            ..ClosureSpec::default()
        };
        let p = planner::plan(&state, &spec, String::new(), "2026-01-01T00:00:00Z".into())
            .expect("plan");
        let n = p.actions.len();
        (p, format!("{n} actions"))
    });
    let plan_path = dir.path().join("tenant.plan.yaml");
    let bytes = timed("seal and write plan file (YAML)", || {
        let b = planfile::seal(&mut plan);
        std::fs::write(&plan_path, &b).expect("write plan");
        let mb = b.len() as f64 / 1e6;
        (b, format!("{mb:.1} MB"))
    });
    timed("  of which: YAML parse alone", || {
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        let v: serde::de::IgnoredAny = serde_yaml::from_str(text).expect("yaml");
        let _ = v;
        ((), String::new())
    });
    timed("  of which: SHA-256 alone", || {
        use sha2::Digest;
        let d = sha2::Sha256::digest(&bytes);
        ((), format!("{:x}", d[0]))
    });
    let read_back = timed("read plan file (parse, digest)", || {
        let p = planfile::parse(Path::new("tenant.plan.yaml"), &bytes).expect("plan reads");
        let n = p.actions.len();
        (p, format!("{n} actions"))
    });
    assert_eq!(read_back.actions.len(), plan.actions.len());
    let render =
        |stage: &str, redact: bool, f: &dyn Fn(&closeout::render::PlanView, &mut Count)| {
            timed(stage, || {
                let view = plan_view(&read_back, ViewOptions { redact });
                let mut out = Count::default();
                f(&view, &mut out);
                let kb = out.0 as f64 / 1e3;
                ((), format!("{kb:.0} kB"))
            })
        };
    render("render text", false, &|v, o| {
        render_plan_text(v, TextOptions::default(), o).expect("text")
    });
    render("render text --full", false, &|v, o| {
        let opts = TextOptions {
            full: true,
            ..TextOptions::default()
        };
        render_plan_text(v, opts, o).expect("text")
    });
    render("render json", false, &|v, o| {
        render_plan_json(v, o).expect("json")
    });
    render("render markdown", false, &|v, o| {
        render_plan_markdown(v, MarkdownOptions::default(), o).expect("markdown")
    });
    render("render markdown --redact", true, &|v, o| {
        render_plan_markdown(v, MarkdownOptions::default(), o).expect("markdown")
    });
    render("render json --redact", true, &|v, o| {
        render_plan_json(v, o).expect("json")
    });
}
