//! Small things a new user hit: `-o -`, no `*.tmp` after a failed write, a sane
//! `--poll-interval`, `--no-color` everywhere, one `--simulate` style across `closeout sim`,
//! `sim reset` forgetting journals and refusing what is not a snapshot, `closeout graph`
//! labels and edges.

use crate::common::{s, tenant, Sandbox};

const KEEP: &str = "admin@contoso.com";

#[test]
fn dash_o_writes_the_plan_to_stdout_and_the_view_to_stderr() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let run = sb
        .closeout(&["plan", "--simulate", s(&snap), "--keep", KEEP, "-o", "-"])
        .expect(0);
    assert!(
        run.stdout.starts_with("# closeout plan: close tenant"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Pre-flight checklist"),
        "{}",
        run.stderr
    );
    assert!(!sb.dir.path().join("-").exists(), "no file named '-'");
    // What went to stdout is a plan closeout reads.
    let plan = sb.path("piped.plan.yaml");
    std::fs::write(&plan, &run.stdout).unwrap();
    sb.closeout(&["show", s(&plan)]).expect(0);
}

#[test]
fn a_failed_plan_write_leaves_no_tmp_file() {
    let sb = Sandbox::new();
    let target = sb.path("taken.plan.yaml");
    std::fs::create_dir(&target).unwrap(); // a directory where the plan should go
    let run = sb.closeout(&[
        "plan",
        "--simulate",
        s(&tenant("contoso")),
        "--keep",
        KEEP,
        "-o",
        s(&target),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let left: Vec<_> = std::fs::read_dir(sb.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn poll_interval_has_a_minimum_and_no_color_is_on_every_command() {
    let sb = Sandbox::new();
    let run = sb.closeout(&["apply", "x.plan.yaml", "--wait", "--poll-interval", "10ms"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("too short"), "{}", run.stderr);
    for args in [
        &["--no-color", "show", "--help"][..],
        &["graph", "--no-color", "--help"],
        &["sim", "reset", "--no-color", "--help"],
        &["apply", "--no-color", "--help"],
        &["state", "export", "--no-color", "--help"],
    ] {
        sb.closeout(args).expect(0);
    }
}

#[test]
fn sim_subcommands_take_simulate_and_reset_forgets_journals() {
    let sb = Sandbox::new();
    let snap = tenant("trial");
    let plan = sb.path("plan.yaml");
    let keep = "admin@tailspintoys.onmicrosoft.com";
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        keep,
        "-o",
        s(&plan),
    ])
    .expect(0);
    sb.closeout(&["apply", s(&plan), "--simulate", s(&snap)]);
    let journals = sb.path("state/journals");
    let count = |dir: &std::path::Path| {
        walk(dir)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .count()
    };
    let before = count(&journals);
    assert!(before > 0, "apply journals its run");

    // Not a snapshot: refused, nothing forgotten.
    let refused = sb.closeout(&["sim", "reset", "--simulate", s(&plan)]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("not a tenant snapshot"),
        "{}",
        refused.stderr
    );
    assert_eq!(count(&journals), before);
    // The old positional style is gone: one style everywhere.
    let positional = sb.closeout(&["sim", "reset", s(&snap)]);
    assert_eq!(positional.code, 1);
    assert!(
        positional.stderr.contains("--simulate"),
        "{}",
        positional.stderr
    );

    let reset = sb
        .closeout(&["sim", "reset", "--simulate", s(&snap)])
        .expect(0);
    assert!(
        reset.stdout.contains("journals were moved aside"),
        "{}",
        reset.stdout
    );
    let live: usize = walk(&journals)
        .iter()
        .filter(|p| !p.to_string_lossy().contains(".forgotten"))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .count();
    assert_eq!(live, 0, "the tenant's journals are forgotten");
    // A fresh apply starts from the snapshot, not as a resumed run.
    let again = sb.closeout(&["apply", s(&plan), "--simulate", s(&snap)]);
    assert!(!again.stdout.contains("Resuming plan"), "{}", again.stdout);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn graph_labels_nodes_by_name_and_draws_membership_apart() {
    let dot = Sandbox::new()
        .closeout(&[
            "graph",
            s(&crate::common::root().join("plans/contoso.plan.yaml")),
        ])
        .expect(0)
        .stdout;
    assert!(
        dot.contains("delete user adele.vance@contoso.com\\n"),
        "{dot}"
    );
    assert!(
        dot.contains("style=dotted"),
        "step membership is drawn apart: {dot}"
    );
    assert!(
        dot.lines()
            .any(|l| l.contains(" -> ") && !l.contains("style=")),
        "{dot}"
    );
}
