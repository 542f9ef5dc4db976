//! Issue 10, point 6 (files): every input file closeout reads (plan files, closure specs,
//! snapshots) must resolve to a regular file within its size bound. A FIFO, `/dev/zero`, a
//! directory are refused at once; a huge or deeply nested file is refused in well under a
//! second, with a clear message and exit 1, never a hang or an allocation abort.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{root, s, tenant, Sandbox};

/// Runs closeout with `args`; kills it and fails if it takes more than five seconds.
fn quick(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(args)
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env_remove("CLOSEOUT_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            return (status.code().unwrap_or(-1), stderr);
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("closeout {args:?} did not return within 5 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn plan_files_that_are_not_regular_files_are_refused_at_once() {
    let sb = Sandbox::new();
    let fifo = sb.path("fifo.plan.yaml");
    mkfifo(&fifo);
    let link = sb.path("link.plan.yaml");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let dir = sb.path("dir.plan.yaml");
    std::fs::create_dir(&dir).unwrap();
    for (what, path, says) in [
        ("FIFO", s(&fifo), "a FIFO"),
        ("link to a FIFO", s(&link), "a FIFO"),
        ("/dev/zero", "/dev/zero", "a character device"),
        ("directory", s(&dir), "a directory"),
    ] {
        for cmd in ["show", "apply", "graph"] {
            let (code, err) = quick(&sb, &[cmd, path]);
            assert_eq!(code, 1, "{what} {cmd}: {err}");
            assert!(
                err.contains("not a regular file") && err.contains(says),
                "{what} {cmd}: {err}"
            );
        }
    }
    // A symbolic link to a good plan is followed (Kubernetes mounts files as links).
    let good = sb.path("good.plan.yaml");
    std::os::unix::fs::symlink(root().join("plans/trial.plan.yaml"), &good).unwrap();
    let (code, err) = quick(&sb, &["show", s(&good)]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn huge_and_junk_plan_files_are_refused_quickly() {
    let sb = Sandbox::new();
    // Over the 1 GiB bound (sparse: no disk used): refused before reading.
    let huge = sb.path("huge.plan.yaml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let (code, err) = quick(&sb, &["show", s(&huge)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("larger than closeout reads"), "{err}");
    // 64 MiB of junk within the bound: refused as not a plan, quickly.
    let junk = sb.path("junk.plan.yaml");
    std::fs::write(&junk, "[".repeat(64 << 20)).unwrap();
    let t = Instant::now();
    let (code, err) = quick(&sb, &["show", s(&junk)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a closeout plan file"), "{err}");
    assert!(
        err.len() < 2000,
        "the message is short: {} bytes",
        err.len()
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // A plan-looking header followed by junk: the first differing line, cut short.
    let text = std::fs::read_to_string(root().join("plans/trial.plan.yaml")).unwrap();
    let header_end = text.find("format_version").unwrap();
    std::fs::write(
        &junk,
        format!(
            "{}format_version: 2\n{}",
            &text[..header_end],
            "{".repeat(32 << 20)
        ),
    )
    .unwrap();
    let (code, err) = quick(&sb, &["show", s(&junk)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("edited after it was made"), "{err}");
    assert!(
        err.len() < 2000,
        "the message is short: {} bytes",
        err.len()
    );
}

#[test]
fn specs_and_snapshots_are_bounded_too() {
    let sb = Sandbox::new();
    let fifo = sb.path("fifo.yaml");
    mkfifo(&fifo);
    let snap = tenant("trial");
    let (code, err) = quick(&sb, &["plan", "--simulate", s(&snap), "--spec", s(&fifo)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let (code, err) = quick(&sb, &["plan", "--simulate", s(&fifo), "--keep", "a@b.c"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let (code, err) = quick(&sb, &["plan", "--simulate", "/dev/zero", "--keep", "a@b.c"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    // A spec over 1 MiB, and one nested a million levels deep.
    let big = sb.path("big.yaml");
    std::fs::write(&big, format!("version: 1\n#{}\n", "x".repeat(2 << 20))).unwrap();
    let (code, err) = quick(&sb, &["plan", "--simulate", s(&snap), "--spec", s(&big)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("larger than closeout reads"), "{err}");
    let deep = sb.path("deep.yaml");
    std::fs::write(
        &deep,
        format!("version: 1\nkeep: {}\n", "[".repeat(1 << 19)),
    )
    .unwrap();
    let (code, err) = quick(&sb, &["plan", "--simulate", s(&snap), "--spec", s(&deep)]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nested deeper"), "{err}");
    // A snapshot nested a million levels deep.
    let deep = sb.path("deep.json");
    std::fs::write(&deep, "[".repeat(1 << 20)).unwrap();
    let (code, err) = quick(&sb, &["plan", "--simulate", s(&deep), "--keep", "a@b.c"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nests deeper"), "{err}");
}
