//! Issue 11, point 5: `closeout status PLAN` and `closeout validate FILE`, as transcripts.

use crate::common::{s, tenant, write_big_tenant, Run, Sandbox};

/// Replaces the run-dependent parts of a transcript (plan id, sandbox path).
fn stable(sb: &Sandbox, plan_id: &str, text: &str) -> String {
    text.replace(plan_id, "PLAN")
        .replace(&sb.dir.path().display().to_string(), "SANDBOX")
}

fn planned(sb: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let snap = sb.path("small.yaml");
    write_big_tenant(&snap, 2);
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        "admin@big.onmicrosoft.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let id = closeout::planfile::read(&plan).unwrap().plan_id;
    (snap, plan, id)
}

const USER1: &str = "b0000000-0000-4000-8000-000000000001";

#[test]
fn status_before_and_after_an_apply_and_with_an_uncertain_action() {
    let sb = Sandbox::new();
    let (snap, plan, id) = planned(&sb);
    let before = sb.closeout(&["status", s(&plan), "--offline"]).expect(0);
    let journal = "SANDBOX/state/journals/0b7d3c4e-1111-4a2b-9c3d-000000000001/PLAN.jsonl";
    assert_eq!(
        stable(&sb, &id, &before.stdout),
        format!(
            "Plan PLAN for tenant Big Co (big.onmicrosoft.com): from the journal only (--offline: the tenant was not read); 0 run(s) recorded in {journal}.

step 1  Delete users: 4 pending
  pending   delete user user1@big.onmicrosoft.com [delete_user.{USER1}]: ready: the next apply does it
  pending   delete user user2@big.onmicrosoft.com [delete_user.b0000000-0000-4000-8000-000000000002]: ready: the next apply does it
  pending   purge deleted user user1@big.onmicrosoft.com [purge_user.{USER1}]: after delete_user.{USER1} (pending)
  pending   purge deleted user user2@big.onmicrosoft.com [purge_user.b0000000-0000-4000-8000-000000000002]: after delete_user.b0000000-0000-4000-8000-000000000002 (pending)

step 5  Delete the directory: 1 pending
  pending   delete the tenant big.onmicrosoft.com [delete_tenant.0b7d3c4e-1111-4a2b-9c3d-000000000001]: after delete_user.{USER1} (pending)

0 done, 5 pending, 0 uncertain, 0 failed, 0 drifted.
"
        )
    );

    sb.closeout(&["apply", s(&plan), "--simulate", s(&snap)])
        .expect(3);
    // An interrupted run's write without outcome: uncertain, whatever the tenant says.
    let path = sb
        .path("state/journals/0b7d3c4e-1111-4a2b-9c3d-000000000001")
        .join(format!("{id}.jsonl"));
    let mut j = std::fs::read_to_string(&path).unwrap();
    j.push_str(&format!(
        "{{\"event\":\"intent\",\"address\":\"purge_user.{USER1}\",\"at\":\"t\"}}\n"
    ));
    std::fs::write(&path, j).unwrap();
    let offline = sb.closeout(&["status", s(&plan), "--offline"]).expect(0);
    assert!(
        offline.stdout.contains(&format!("  uncertain purge deleted user user1@big.onmicrosoft.com [purge_user.{USER1}]: an interrupted run sent it without recording the outcome; the next apply checks the tenant first\n")),
        "{}",
        offline.stdout
    );
    assert!(
        offline
            .stdout
            .ends_with("3 done, 1 pending, 1 uncertain, 0 failed, 0 drifted.\n"),
        "{}",
        offline.stdout
    );
    // Live: the tenant shows the purge done; the tenant deletion waits on a person.
    let live = sb
        .closeout(&["status", s(&plan), "--simulate", s(&snap)])
        .expect(0);
    assert!(
        live.stdout
            .contains("from the journal and the tenant as read now; 1 run(s)"),
        "{}",
        live.stdout
    );
    assert!(
        live.stdout.contains("  pending   delete the tenant big.onmicrosoft.com [delete_tenant.0b7d3c4e-1111-4a2b-9c3d-000000000001]: once every line of the pre-flight checklist passes (none failed, none not checked), `closeout apply` shows where to delete the tenant\n"),
        "{}",
        live.stdout
    );
    // status reads no checklist: it never shows the tenant-deletion path.
    assert!(!live.stdout.contains("Manage tenants"), "{}", live.stdout);
    assert!(
        live.stdout
            .ends_with("4 done, 1 pending, 0 uncertain, 0 failed, 0 drifted.\n"),
        "{}",
        live.stdout
    );
    let json: serde_json::Value = serde_json::from_str(
        &sb.closeout(&["status", s(&plan), "--offline", "--format", "json"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(json["report"], "closeout-status/1");
    assert_eq!(json["source"], "journal");
    assert_eq!(json["counts"]["uncertain"], 1);
    assert_eq!(json["actions"][2]["status"], "uncertain");
}

fn validate(sb: &Sandbox, file: &std::path::Path) -> Run {
    sb.closeout(&["validate", s(file)])
}

#[test]
fn validate_names_the_kind_and_refuses_what_is_invalid() {
    let sb = Sandbox::new();
    let (_, plan, id) = planned(&sb);
    let ok = validate(&sb, &plan).expect(0);
    assert_eq!(
        stable(&sb, &id, &ok.stdout),
        "SANDBOX/plan.yaml: valid plan PLAN for tenant Big Co (big.onmicrosoft.com): format, digest, schema and guards check; 5 action(s).\n"
    );
    let snap = validate(&sb, &tenant("contoso")).expect(0);
    assert!(
        snap.stdout
            .ends_with("contoso.yaml: valid tenant snapshot: 25 user(s), 1 deleted user(s).\n"),
        "{}",
        snap.stdout
    );
    let spec = validate(&sb, &crate::common::root().join("examples/closeout.yaml")).expect(0);
    assert!(
        spec.stdout.contains("valid closure spec: keeps 1 user(s)"),
        "{}",
        spec.stdout
    );

    // An edited plan, a spec with an unknown key, a broken snapshot, something else.
    let edited = sb.path("edited.yaml");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("Big Co", "Big Cx"),
    )
    .unwrap();
    let r = validate(&sb, &edited).expect(1);
    assert!(
        r.stderr.contains("edited.yaml: invalid plan: "),
        "{}",
        r.stderr
    );
    let bad_spec = sb.path("spec.yaml");
    std::fs::write(
        &bad_spec,
        "version: 1\nkeep: [admin@big.onmicrosoft.com]\nkeeep: 1\n",
    )
    .unwrap();
    let r = validate(&sb, &bad_spec).expect(1);
    assert!(
        r.stderr.contains("spec.yaml: invalid spec: "),
        "{}",
        r.stderr
    );
    let bad_snap = sb.path("snap.yaml");
    std::fs::write(&bad_snap, "snapshotVersion: 1\nusers: 7\n").unwrap();
    let r = validate(&sb, &bad_snap).expect(1);
    assert!(
        r.stderr.contains("snap.yaml: invalid snapshot: "),
        "{}",
        r.stderr
    );
    let other = sb.path("notes.txt");
    std::fs::write(&other, "hello\n").unwrap();
    let r = validate(&sb, &other).expect(1);
    assert!(
        r.stderr.contains("notes.txt: not a closeout file"),
        "{}",
        r.stderr
    );
    let r = validate(&sb, sb.dir.path()).expect(1);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}
