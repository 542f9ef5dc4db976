//! The `graph-sim` binary as a user runs it: generate, serve (first stdout line), portal, state.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_graph-sim");

#[test]
fn generate_check_serve_portal_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("t.yaml");
    let state = dir.path().join("t.state.jsonl");
    let out = Command::new(BIN)
        .args([
            "generate", "--users", "30", "--guests", "2", "--seed", "4", "-o",
        ])
        .arg(&snap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(Command::new(BIN)
        .arg("check")
        .arg(&snap)
        .status()
        .unwrap()
        .success());

    let mut child = Command::new(BIN)
        .arg("serve")
        .arg(&snap)
        .arg("--state")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("graph-sim listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let sub = graph_sim::load_snapshot(&snap).unwrap().subscriptions[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cancel = Command::new(BIN)
        .args(["portal", "cancel-subscription", "--url", &url, &sub])
        .output()
        .unwrap();
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    let again = Command::new(BIN)
        .args(["portal", "cancel-subscription", "--url", &url, &sub])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"));
    let tenant = Command::new(BIN)
        .args(["portal", "delete-tenant", "--url", &url])
        .output()
        .unwrap();
    assert!(!tenant.status.success());
    assert!(String::from_utf8_lossy(&tenant.stderr).contains("blocking"));

    // SIGTERM ends the server cleanly.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let exported = dir.path().join("after.yaml");
    let out = Command::new(BIN)
        .args(["state", "export"])
        .arg(&snap)
        .arg("--state")
        .arg(&state)
        .arg("-o")
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = graph_sim::load_snapshot(&exported).unwrap();
    let s = after
        .subscriptions
        .iter()
        .find(|s| s["id"] == sub.as_str())
        .unwrap();
    assert_eq!(s["status"], "Suspended");

    assert!(Command::new(BIN)
        .args(["state", "reset", "--state"])
        .arg(&state)
        .status()
        .unwrap()
        .success());
    assert!(!state.exists());
}

#[test]
fn bad_snapshot_is_reported_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("bad.yaml");
    std::fs::write(
        &snap,
        "snapshotVersion: 1\norganization: {id: t}\nusers:\n  - {id: u}\n  - {id: u}\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("serve").arg(&snap).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:5:"), "{err}");
    assert!(err.contains("duplicate id u"), "{err}");
}

#[test]
fn token_prints_a_jwt_with_the_asked_roles() {
    let out = Command::new(BIN)
        .args([
            "token",
            "--app-roles",
            "User.Read.All,Domain.Read.All",
            "--directory-roles",
            "Privileged Authentication Administrator",
            "--app-id",
            "11111111-2222-3333-4444-555555555555",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let grants = graph_sim::token::read(token.trim(), 0).expect("graph-sim accepts it");
    assert_eq!(grants.roles, ["User.Read.All", "Domain.Read.All"]);
    assert_eq!(grants.wids, ["7be44c8a-adaf-4e2a-84d6-ab2649e08a13"]);
    assert_eq!(
        grants.app_id.as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    let all = Command::new(BIN).args(["token", "--all"]).output().unwrap();
    let grants = graph_sim::token::read(String::from_utf8(all.stdout).unwrap().trim(), 0).unwrap();
    assert!(grants.has_any(&["User.DeleteRestore.All"]));
    let bad = Command::new(BIN)
        .args([
            "token",
            "--app-roles",
            "x",
            "--directory-roles",
            "Chief Wizard",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown directory role"));
}
