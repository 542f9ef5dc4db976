//! Issue 4: every example tenant closes completely, the administrator's portal steps
//! included; the spec's guards hold; the pre-flight checklist names what blocks.

use crate::common::{plan_doc, s, tenant, Run, Sandbox, Sim};

/// Example tenants and the Global Administrator each keeps.
const EXAMPLES: &[(&str, &str)] = &[
    ("contoso", "admin@contoso.com"),
    ("fabrikam", "admin@fabrikam.com"),
    ("hybrid", "admin@northwindtraders.onmicrosoft.com"),
    ("trial", "admin@tailspintoys.onmicrosoft.com"),
    ("stubborn", "admin@litware.onmicrosoft.com"),
];

/// Manual actions of a plan file as (action, object id, before.status).
fn manual_actions(doc: &serde_yaml::Value) -> Vec<(String, String, String)> {
    doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|a| a["manual"] == serde_yaml::Value::Bool(true))
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["id"].as_str().unwrap().to_string(),
                a["before"]["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every request the simulated tenant answered with an error status.
fn rejected_calls(sb: &Sandbox) -> Vec<String> {
    let dir = sb.dir.path().join("state/simulated");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".requests.jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            if e["status"].as_u64().unwrap() >= 400 {
                out.push(line.to_string());
            }
        }
    }
    out
}

fn close_completely(name: &str, admin: &str) {
    let sb = Sandbox::new();
    let snap = tenant(name);
    let snap = s(&snap);
    let plan = sb.path("plan.yaml");
    sb.closeout(&["plan", "--simulate", snap, "--keep", admin, "-o", s(&plan)])
        .expect(0);
    let doc = plan_doc(&plan);
    assert!(!doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "delete_user"
            && a["name"].as_str().unwrap().eq_ignore_ascii_case(admin)));

    // First apply: everything automated; waits on people.
    let first = sb
        .closeout(&["apply", s(&plan), "--simulate", snap])
        .expect(3);
    assert!(first.stdout.contains(" 0 failed"), "{}", first.stdout);

    // The administrator does the portal steps closeout listed.
    for (kind, id, status) in manual_actions(&doc) {
        let run: Option<Run> = match kind.as_str() {
            "cancel_subscription" => {
                Some(sb.closeout(&["sim", "cancel-subscription", &id, "--simulate", snap]))
            }
            "delete_subscription" if status == "LockedOut" => Some(sb.closeout(&[
                "sim",
                "support-delete-subscription",
                &id,
                "--simulate",
                snap,
            ])),
            "delete_subscription" => {
                Some(sb.closeout(&["sim", "delete-subscription", &id, "--simulate", snap]))
            }
            "delete_self_service_product" => Some(sb.closeout(&[
                "sim",
                "remove-self-service-product",
                &id,
                "--simulate",
                snap,
            ])),
            "remove_unexplained_sku" => {
                Some(sb.closeout(&["sim", "support-remove-sku", &id, "--simulate", snap]))
            }
            _ => None,
        };
        if let Some(r) = run {
            r.expect(0);
        }
    }
    // Apply verifies them; only the tenant deletion is left, and its checklist passes.
    let second = sb
        .closeout(&["apply", s(&plan), "--simulate", snap])
        .expect(3);
    assert!(
        second.stdout.contains("[ ] delete the tenant"),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains("[FAIL]"), "{}", second.stdout);
    assert!(
        second.stdout.contains("Manage tenants"),
        "admin center path shown once the checklist passes:\n{}",
        second.stdout
    );
    assert_eq!(
        rejected_calls(&sb),
        Vec::<String>::new(),
        "Graph calls the simulator rejected"
    );

    sb.closeout(&["sim", "delete-tenant", "--simulate", snap])
        .expect(0);
    let last = sb
        .closeout(&["apply", s(&plan), "--simulate", snap])
        .expect(0);
    assert!(last.stdout.contains("Closure complete"), "{}", last.stdout);
}

#[test]
fn every_example_tenant_closes_completely() {
    for (name, admin) in EXAMPLES {
        close_completely(name, admin);
    }
}

#[test]
fn the_tenant_cannot_be_deleted_before_the_plan_is_done() {
    let sb = Sandbox::new();
    let snap = tenant("hybrid");
    let refused = sb
        .closeout(&["sim", "delete-tenant", "--simulate", s(&snap)])
        .expect(1);
    assert!(refused.stderr.contains("blocking"), "{}", refused.stderr);
}

#[test]
fn hybrid_tenant_turns_sync_off_before_deleting_synced_users() {
    let sb = Sandbox::new();
    let snap = tenant("hybrid");
    let plan = sb.path("plan.yaml");
    let run = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "admin@northwindtraders.onmicrosoft.com",
            "-o",
            s(&plan),
        ])
        .expect(0);
    assert!(run.stdout.contains("72 hours"), "{}", run.stdout);
    let doc = plan_doc(&plan);
    let actions = doc["actions"].as_sequence().unwrap();
    let sync = actions
        .iter()
        .find(|a| a["action"] == "disable_directory_sync")
        .expect("a disable_directory_sync action");
    let sync_address = sync["address"].as_str().unwrap();
    let synced_deletes: Vec<_> = actions
        .iter()
        .filter(|a| {
            a["action"] == "delete_user"
                && a["before"]["onPremisesSyncEnabled"] == serde_yaml::Value::Bool(true)
        })
        .collect();
    assert!(!synced_deletes.is_empty());
    for a in synced_deletes {
        let deps: Vec<&str> = a["depends_on"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(deps.contains(&sync_address), "{a:?}");
    }
}

/// Plans contoso with a spec file holding `text`; expects exit 1 and returns stderr, which
/// must name the spec file at `line`.
fn refused_spec(sb: &Sandbox, text: &str, line: usize) -> String {
    let snap = tenant("contoso");
    let spec = sb.path("closeout.yaml");
    std::fs::write(&spec, text).unwrap();
    let run = sb
        .closeout(&["plan", "--simulate", s(&snap), "--spec", s(&spec)])
        .expect(1);
    assert!(
        run.stderr.contains(&format!("{}:{line}", spec.display())),
        "names the file and line {line}: {}",
        run.stderr
    );
    run.stderr
}

#[test]
fn a_spec_that_would_remove_the_last_global_administrator_is_refused() {
    let sb = Sandbox::new();
    let no_admin = refused_spec(
        &sb,
        "version: 1\n# keep a non-administrator only\nkeep:\n  - nestor.wilke@contoso.com\n",
        3,
    );
    assert!(no_admin.contains("Global Administrator"), "{no_admin}");
    let ghost = refused_spec(
        &sb,
        "version: 1\nkeep:\n  - admin@contoso.com\n  - ghost@contoso.com\n",
        4,
    );
    assert!(ghost.contains("ghost@contoso.com"), "{ghost}");
    let typo = refused_spec(
        &sb,
        "version: 1\nkeep: [admin@contoso.com]\npurge_recyclebin: false\n",
        3,
    );
    assert!(typo.contains("purge_recyclebin"), "{typo}");
}

#[test]
fn the_bundled_spec_plans_like_the_command_line() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let spec = crate::common::root().join("examples/closeout.yaml");
    let with_spec = sb
        .closeout(&["plan", "--simulate", s(&snap), "--spec", s(&spec)])
        .expect(0);
    let with_flag = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "admin@contoso.com",
        ])
        .expect(0);
    // The two runs may straddle a second: the creation time is the one line allowed to differ.
    let timeless = |t: &str| -> String {
        t.lines()
            .map(|l| {
                let b = l.as_bytes();
                let mut out = String::new();
                let mut i = 0;
                while i < l.len() {
                    let stamp = b.len() >= i + 20
                        && b[i + 4] == b'-'
                        && b[i + 10] == b'T'
                        && b[i + 19] == b'Z'
                        && b[i..i + 4].iter().all(u8::is_ascii_digit);
                    if stamp {
                        out.push_str("<time>");
                        i += 20;
                    } else {
                        let c = l[i..].chars().next().unwrap_or(' ');
                        out.push(c);
                        i += c.len_utf8();
                    }
                }
                out
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(timeless(&with_spec.stdout), timeless(&with_flag.stdout));
}

#[test]
fn a_spec_can_leave_tenant_deletion_to_someone_else() {
    let sb = Sandbox::new();
    let snap = tenant("trial");
    let spec = sb.path("closeout.yaml");
    std::fs::write(
        &spec,
        "version: 1\nkeep: [admin@tailspintoys.onmicrosoft.com]\nmanual_actions:\n  delete_tenant: false\n",
    )
    .unwrap();
    let run = sb
        .closeout(&["plan", "--simulate", s(&snap), "--spec", s(&spec)])
        .expect(0);
    assert!(!run.stdout.contains("delete the tenant"), "{}", run.stdout);
}

/// A tenant with one leftover of each kind that blocks deletion.
const LEFTOVERS: &str = r#"
snapshotVersion: 1
organization:
  id: 7e1d0c3a-5b2f-4c8e-9a6d-1f0e2d3c4b5a
  displayName: Leftovers Inc
  onPremisesSyncEnabled: true
  verifiedDomains:
    - {name: leftovers.onmicrosoft.com, isInitial: true, isDefault: false, type: Managed}
    - {name: leftovers.example, isInitial: false, isDefault: true, type: Managed}
users:
  - {id: 11111111-1111-4111-8111-111111111111, userPrincipalName: admin@leftovers.onmicrosoft.com, displayName: Admin, userType: Member, accountEnabled: true, onPremisesSyncEnabled: null, assignedLicenses: []}
  - {id: 22222222-2222-4222-8222-222222222222, userPrincipalName: leftover.user@leftovers.example, displayName: Leftover User, userType: Member, accountEnabled: true, onPremisesSyncEnabled: true, assignedLicenses: []}
deletedUsers:
  - {id: 33333333-3333-4333-8333-333333333333, userPrincipalName: 33333333333343338333333333333333binned@leftovers.example, displayName: Binned User, userType: Member, accountEnabled: true, deletedDateTime: "2026-11-01T10:00:00Z", assignedLicenses: []}
directoryRoles:
  - {id: 44444444-4444-4444-8444-444444444444, displayName: Global Administrator, roleTemplateId: 62e90394-69f5-4237-9190-012177145e10, members: [11111111-1111-4111-8111-111111111111]}
subscriptions:
  - {id: 55555555-5555-4555-8555-555555555555, commerceSubscriptionId: 55555555-aaaa-4555-8555-555555555555, skuId: 6fd2c87f-b296-42f0-b197-1e91e994b900, skuPartNumber: ENTERPRISEPACK, status: Enabled, isTrial: false, totalLicenses: 5, createdDateTime: "2025-01-01T00:00:00Z", nextLifecycleDateTime: "2026-12-31T00:00:00Z", ownerType: null, serviceStatus: []}
subscribedSkus:
  - {id: 7e1d0c3a-5b2f-4c8e-9a6d-1f0e2d3c4b5a_6fd2c87f-b296-42f0-b197-1e91e994b900, skuId: 6fd2c87f-b296-42f0-b197-1e91e994b900, skuPartNumber: ENTERPRISEPACK, capabilityStatus: Enabled, consumedUnits: 0, appliesTo: User, prepaidUnits: {enabled: 5, suspended: 0, warning: 0, lockedOut: 0}}
securityDefaults: {id: 00000000-0000-0000-0000-000000000005, isEnabled: true}
applications:
  - {id: 66666666-6666-4666-8666-666666666666, appId: 66666666-aaaa-4666-8666-666666666666, displayName: Leftover App, signInAudience: AzureADMyOrg}
deletedApplications:
  - {id: 77777777-7777-4777-8777-777777777777, appId: 77777777-aaaa-4777-8777-777777777777, displayName: Binned App, deletedDateTime: "2026-11-01T10:00:00Z"}
servicePrincipals:
  - {id: 88888888-8888-4888-8888-888888888888, appId: 66666666-aaaa-4666-8666-666666666666, displayName: Leftover App, appOwnerOrganizationId: 7e1d0c3a-5b2f-4c8e-9a6d-1f0e2d3c4b5a, accountEnabled: true, servicePrincipalType: Application}
  - {id: 99999999-9999-4999-8999-999999999999, appId: 00000003-0000-0000-c000-000000000000, displayName: Microsoft Graph, appOwnerOrganizationId: f8cdef31-a31e-4b4a-93e4-5f571e91255a, accountEnabled: true, servicePrincipalType: Application}
domains:
  - {id: leftovers.onmicrosoft.com, isInitial: true, isDefault: false, isVerified: true, authenticationType: Managed}
  - {id: leftovers.example, isInitial: false, isDefault: true, isVerified: true, authenticationType: Managed}
"#;

#[test]
fn the_checklist_names_every_blocking_object() {
    let sb = Sandbox::new();
    let snap = sb.path("leftovers.yaml");
    std::fs::write(&snap, LEFTOVERS).unwrap();
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        "admin@leftovers.onmicrosoft.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let doc = plan_doc(&plan);
    let checks = doc["preflight"].as_sequence().unwrap();
    let blocking = |name: &str| -> Vec<String> {
        let c = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}"));
        assert_eq!(
            c["passed"],
            serde_yaml::Value::Bool(false),
            "{name} should fail"
        );
        c["blocking"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap().to_string())
            .collect()
    };
    let has = |name: &str, needle: &str| {
        let b = blocking(name);
        assert!(
            b.iter().any(|x| x.contains(needle)),
            "{name} does not name {needle}: {b:?}"
        );
    };
    has("users", "leftover.user@leftovers.example");
    has("recycle bin", "33333333-3333-4333-8333-333333333333");
    has("recycle bin", "Binned App");
    has("applications", "Leftover App");
    has("service principals", "Leftover App");
    has("service principals", "Microsoft Graph");
    has("subscriptions", "ENTERPRISEPACK");
    has("domains", "leftovers.example");
    has("directory sync", "onPremisesSyncEnabled");
    has("MFA", "security defaults");
}

/// `apply --wait` polls until a person has done the manual steps, then finishes.
#[test]
fn apply_wait_polls_until_the_administrator_is_done() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("trial"));
    let url = sim.url();
    let token = [("CLOSEOUT_ACCESS_TOKEN", crate::common::token())];
    let plan = sb.path("plan.yaml");
    sb.closeout_env(
        &[
            "plan",
            "--graph-url",
            &url,
            "--keep",
            "admin@tailspintoys.onmicrosoft.com",
            "-o",
            s(&plan),
        ],
        &token,
    )
    .expect(0);

    // Without --wait, and with --wait but a short timeout: exit 3.
    let timed = sb
        .closeout_env(
            &[
                "apply",
                s(&plan),
                "--graph-url",
                &url,
                "--auto-approve",
                "--wait",
                "--poll-interval",
                "1s",
                "--timeout",
                "1s",
            ],
            &token,
        )
        .expect(3);
    assert!(timed.stdout.contains("Gave up waiting"), "{}", timed.stdout);

    let mut child = Command::new(env!("CARGO_BIN_EXE_closeout"))
        .args([
            "apply",
            s(&plan),
            "--graph-url",
            &url,
            "--auto-approve",
            "--wait",
            "--poll-interval",
            "1s",
            "--timeout",
            "60s",
        ])
        .env("CLOSEOUT_ACCESS_TOKEN", crate::common::token())
        .env("CLOSEOUT_STATE_DIR", sb.path("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The administrator: cancel, then delete the subscription, then the tenant.
    let store = sim.server().store().clone();
    let doc = plan_doc(&plan);
    let subs: Vec<String> = manual_actions(&doc)
        .into_iter()
        .filter(|(k, _, _)| k == "cancel_subscription")
        .map(|(_, id, _)| id)
        .collect();
    assert!(!subs.is_empty());
    std::thread::sleep(Duration::from_millis(700));
    for id in &subs {
        store.portal_cancel_subscription(id).unwrap();
        store.portal_delete_subscription(id).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !store.tenant_deletion_blockers().is_empty() {
        assert!(
            Instant::now() < deadline,
            "blockers remain: {:?}",
            store.tenant_deletion_blockers()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    store.portal_delete_tenant().unwrap();

    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("apply --wait did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Waiting for the manual actions"),
        "{stdout}"
    );
    assert!(stdout.contains("Closure complete"), "{stdout}");
}

/// A plan made with a spec is applied against the same target: the drift check plans
/// again with the options recorded in the plan file, not closeout's defaults.
#[test]
fn a_plan_made_with_a_spec_applies_without_false_drift() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let spec = sb.path("closeout.yaml");
    std::fs::write(
        &spec,
        "version: 1\nkeep: [admin@contoso.com]\npurge_recycle_bin: false\napplications: keep\nmanual_actions:\n  cancel_subscriptions: false\n  delete_subscriptions: false\n  delete_tenant: false\n",
    )
    .unwrap();
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--spec",
        s(&spec),
        "-o",
        s(&plan),
    ])
    .expect(0);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("purge_recycle_bin: false"),
        "the plan records its target"
    );
    assert!(!text.contains("action: purge_user"));
    assert!(!text.contains("action: delete_application"));
    let run = sb
        .closeout(&["apply", s(&plan), "--simulate", s(&snap)])
        .expect(0);
    assert!(run.stdout.contains(" 0 failed"), "{}", run.stdout);
}

/// The Global Administrator who deletes the tenant must be able to sign in: a plan keeping
/// a disabled one is refused, and a plan whose kept admin is disabled after planning is
/// refused by apply before anything is deleted.
#[test]
fn a_disabled_kept_administrator_is_refused_at_plan_and_at_apply() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("contoso"));
    let url = sim.url();
    let token = [("CLOSEOUT_ACCESS_TOKEN", crate::common::token())];
    let plan = sb.path("plan.yaml");
    sb.closeout_env(
        &[
            "plan",
            "--graph-url",
            &url,
            "--keep",
            "admin@contoso.com",
            "-o",
            s(&plan),
        ],
        &token,
    )
    .expect(0);
    // Someone disables the kept administrator after the plan was reviewed.
    let admin = "5623a5ba-7b18-4291-909b-8bfc60f096b7";
    let status = sim.graph(
        reqwest::Method::PATCH,
        &format!("/v1.0/users/{admin}"),
        serde_json::json!({"accountEnabled": false}),
    );
    assert_eq!(status, 204);
    let run = sb.closeout_env(
        &["apply", s(&plan), "--graph-url", &url, "--auto-approve"],
        &token,
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("no enabled Global Administrator") || run.code == 4,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let deletes = sim
        .log()
        .iter()
        .filter(|e| e.method == "DELETE" && e.status < 300)
        .count();
    assert_eq!(deletes, 0, "nothing may be deleted");

    // Planning with the disabled administrator kept is refused, naming the enabled ones.
    let refused = sb
        .closeout_env(
            &["plan", "--graph-url", &url, "--keep", "admin@contoso.com"],
            &token,
        )
        .expect(1);
    assert!(refused.stderr.contains("disabled"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("megan.bowen@contoso.com"),
        "{}",
        refused.stderr
    );
}

/// A forged plan (an action added and the digest recomputed) that deletes the kept
/// administrator is refused by apply's own guard.
#[test]
fn apply_refuses_a_plan_that_deletes_a_kept_user_whatever_its_digest() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let plan_path = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        "admin@contoso.com",
        "-o",
        s(&plan_path),
    ])
    .expect(0);
    let mut plan = closeout::planfile::read(&plan_path).unwrap();
    let mut forged = plan
        .actions
        .iter()
        .find(|a| a.kind == closeout::plan::ActionKind::DeleteUser)
        .unwrap()
        .clone();
    let admin = plan.keep[0].id.clone();
    forged.object_id = admin.clone().into();
    forged.address = closeout::plan::Action::address_of(forged.kind, &admin).into();
    forged.name = "harmless.looking@contoso.com".into();
    plan.actions.insert(0, forged);
    let bytes = closeout::planfile::seal(&mut plan);
    closeout::planfile::write_bytes(&plan_path, &bytes).unwrap();
    let run = sb
        .closeout(&["apply", s(&plan_path), "--simulate", s(&snap)])
        .expect(1);
    assert!(
        run.stderr.contains("which the same plan keeps"),
        "{}",
        run.stderr
    );
    // The tenant is untouched: a fresh plan still deletes 24 users.
    let again = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "admin@contoso.com",
        ])
        .expect(0);
    assert!(
        again.stdout.contains("24 users to delete") || again.stdout.contains("24 delete user"),
        "{}",
        again.stdout
    );
}

#[test]
fn keeping_two_users_with_tenant_deletion_planned_is_refused() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let run = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "admin@contoso.com",
            "--keep",
            "megan.bowen@contoso.com",
        ])
        .expect(1);
    assert!(run.stderr.contains("exactly one user"), "{}", run.stderr);
    assert!(
        run.stderr.contains("delete_tenant: false"),
        "{}",
        run.stderr
    );
}

/// `apply --format json` gives CI one JSON document on stdout even when apply cannot start.
#[test]
fn apply_json_reports_an_error_that_stops_it_before_the_report() {
    let sb = Sandbox::new();
    let snap = tenant("trial");
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        "admin@tailspintoys.onmicrosoft.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, text.replacen("nina@", "nona@", 1)).unwrap();
    let run = sb
        .closeout(&[
            "apply",
            s(&plan),
            "--simulate",
            s(&snap),
            "--format",
            "json",
        ])
        .expect(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(doc["result"], "error");
    assert_eq!(doc["exit_code"], 1);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("edited after it was made"),
        "{doc}"
    );
}
