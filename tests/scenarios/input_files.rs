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
    quick_env(sb, args, &[])
}

/// [`quick`] with extra environment variables.
fn quick_env(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args(args)
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .env_remove("CLOSEOUT_ACCESS_TOKEN")
        .envs(env.iter().copied())
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

/// Every other input-file role goes through the same bounds: `closeout sim reset`'s
/// snapshot, the certificate file (`AZURE_CLIENT_CERTIFICATE_PATH`) and the federated token
/// file (`AZURE_FEDERATED_TOKEN_FILE`, which azure_identity would otherwise read unbounded).
/// Each is given a FIFO, `/dev/zero`, a file over its bound and (for the snapshot) a deeply
/// nested file; each is refused at once with exit 1 (the red team found `sim reset` hanging
/// on a FIFO and a deep flow mapping, the credential files blocking on a FIFO and reading
/// `/dev/urandom` until memory ran out).
#[test]
fn every_input_file_role_is_bounded() {
    let sb = Sandbox::new();
    let fifo = sb.path("fifo");
    mkfifo(&fifo);
    let big = sb.path("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(600 << 20)
        .unwrap();
    let deep = sb.path("deep.yaml");
    std::fs::write(&deep, format!("a: {}\n", "{b: ".repeat(1 << 17))).unwrap();
    for file in [s(&fifo), "/dev/zero", s(&big), s(&deep)] {
        let (code, err) = quick(&sb, &["sim", "reset", "--simulate", file]);
        assert_eq!(code, 1, "sim reset {file}: {err}");
        assert!(
            ["not a regular file", "larger than", "nests deeper"]
                .iter()
                .any(|m| err.contains(m)),
            "sim reset {file}: {err}"
        );
    }
    let tenant_id = "0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd";
    let client = "00000000-0000-4000-8000-000000000001";
    for file in [s(&fifo), "/dev/zero", s(&big)] {
        for (auth, var) in [
            ("certificate", "AZURE_CLIENT_CERTIFICATE_PATH"),
            ("workload-identity", "AZURE_FEDERATED_TOKEN_FILE"),
        ] {
            let (code, err) = quick_env(
                &sb,
                &[
                    "plan",
                    "--keep",
                    "a@b.c",
                    "--graph-url",
                    "http://127.0.0.1:9/",
                ],
                &[
                    ("CLOSEOUT_AUTH", auth),
                    ("AZURE_TENANT_ID", tenant_id),
                    ("AZURE_CLIENT_ID", client),
                    (var, file),
                ],
            );
            assert_eq!(code, 1, "{auth} {file}: {err}");
            assert!(
                err.contains("not a regular file") || err.contains("larger than"),
                "{auth} {file}: {err}"
            );
        }
    }
}
