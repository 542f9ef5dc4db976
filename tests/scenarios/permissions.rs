//! The permission pre-check (src/permissions.rs) against graph-sim: a read-only app plans but
//! its apply refuses before any write, naming what is missing; a narrower --simulate app
//! likewise; a token closeout cannot read is reported as "cannot check", not as a pass.

use crate::common::{s, tenant, token, token_with, Sandbox, Sim};

const ADMIN: &str = "admin@contoso.com";

/// The read-only app of issue 12, which also reads the usage reports (issue 13: the data
/// at risk; without them apply would refuse to delete users for another reason).
const READ_ONLY: &[&str] = &[
    "User.Read.All",
    "Organization.Read.All",
    "RoleManagement.Read.Directory",
    "Policy.Read.All",
    "Application.Read.All",
    "Domain.Read.All",
    "Reports.Read.All",
    "ReportSettings.Read.All",
];

#[test]
fn a_read_only_app_plans_but_apply_refuses_before_any_write() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("contoso"));
    let url = sim.url();
    let reader = token_with(READ_ONLY, &[], "22222222-0000-0000-0000-000000000001");
    let env = [("CLOSEOUT_ACCESS_TOKEN", reader.as_str())];
    let plan = sb.path("contoso.plan.yaml");
    let planned = sb
        .closeout_env(
            &["plan", "--keep", ADMIN, "--graph-url", &url, "-o", s(&plan)],
            &env,
        )
        .expect(0);
    assert!(
        planned.stderr.contains("apply will refuse this plan")
            && planned.stderr.contains("User.DeleteRestore.All"),
        "plan warns: {}",
        planned.stderr
    );
    let applied = sb
        .closeout_env(
            &["apply", s(&plan), "--graph-url", &url, "--auto-approve"],
            &env,
        )
        .expect(1);
    for part in [
        "lacks permissions",
        "nothing was changed",
        "User.DeleteRestore.All",
        "delete_user",
        "Application.ReadWrite.All",
    ] {
        assert!(
            applied.stderr.contains(part),
            "missing {part:?}: {}",
            applied.stderr
        );
    }
    assert!(
        sim.log().iter().all(|e| e.method == "GET"),
        "no write was sent: {:?}",
        sim.log()
            .iter()
            .filter(|e| e.method != "GET")
            .collect::<Vec<_>>()
    );

    // The full app applies the same plan.
    let full = [("CLOSEOUT_ACCESS_TOKEN", token())];
    let applied = sb.closeout_env(
        &["apply", s(&plan), "--graph-url", &url, "--auto-approve"],
        &full,
    );
    assert!(
        !applied.stderr.contains("lacks permissions"),
        "{}",
        applied.stderr
    );
    assert!(sim
        .log()
        .iter()
        .any(|e| e.method == "DELETE" && e.status == 204));
}

#[test]
fn privileged_users_need_a_directory_role_on_the_app() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("contoso"));
    let url = sim.url();
    let mut roles: Vec<&str> = graph_sim::permissions::all_permissions();
    roles.retain(|r| !r.is_empty());
    let no_role = token_with(&roles, &[], "22222222-0000-0000-0000-000000000002");
    let plan = sb.path("p.yaml");
    let env = [("CLOSEOUT_ACCESS_TOKEN", no_role.as_str())];
    let planned = sb
        .closeout_env(
            &["plan", "--keep", ADMIN, "--graph-url", &url, "-o", s(&plan)],
            &env,
        )
        .expect(0);
    // Plan checks like apply: no wids claim, so the app's roles are read through memberOf,
    // and the missing role is named (not "cannot check").
    assert!(
        sim.log().iter().any(|e| e.path.contains("memberOf")),
        "{:?}",
        sim.log()
    );
    assert!(
        planned.stderr.contains(
            "Privileged Authentication Administrator (or Global Administrator) on the app"
        ),
        "{}",
        planned.stderr
    );
    assert!(
        !planned.stderr.contains("no wids claim"),
        "{}",
        planned.stderr
    );
    let planfile = std::fs::read_to_string(&plan).unwrap();
    assert!(
        planfile.contains("privileged role"),
        "contoso deletes a user holding a privileged role"
    );
    let applied = sb
        .closeout_env(
            &["apply", s(&plan), "--graph-url", &url, "--auto-approve"],
            &env,
        )
        .expect(1);
    assert!(
        applied
            .stderr
            .contains("Privileged Authentication Administrator"),
        "{}",
        applied.stderr
    );
    assert!(sim.log().iter().all(|e| e.method == "GET"));
    // The token has no wids claim: the app's roles were read through Graph.
    assert!(
        sim.log().iter().any(|e| e.path.contains("memberOf")),
        "{:?}",
        sim.log()
    );

    // With the role in the token (wids) the same plan passes the check.
    let with_role = token_with(
        &roles,
        &["7be44c8a-adaf-4e2a-84d6-ab2649e08a13"],
        "22222222-0000-0000-0000-000000000002",
    );
    let applied = sb.closeout_env(
        &["apply", s(&plan), "--graph-url", &url, "--auto-approve"],
        &[("CLOSEOUT_ACCESS_TOKEN", with_role.as_str())],
    );
    assert!(
        !applied.stderr.contains("lacks permissions"),
        "{}",
        applied.stderr
    );
}

#[test]
fn simulate_app_roles_rehearses_a_narrower_app() {
    let sb = Sandbox::new();
    let snapshot = tenant("contoso");
    let plan = sb.path("p.yaml");
    let roles = READ_ONLY.join(",");
    let planned = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snapshot),
            "--simulate-app-roles",
            &roles,
            "--keep",
            ADMIN,
            "-o",
            s(&plan),
        ])
        .expect(0);
    assert!(
        planned.stderr.contains("User.DeleteRestore.All"),
        "{}",
        planned.stderr
    );
    let applied = sb
        .closeout(&[
            "apply",
            s(&plan),
            "--simulate",
            s(&snapshot),
            "--simulate-app-roles",
            &roles,
        ])
        .expect(1);
    assert!(
        applied.stderr.contains("User.DeleteRestore.All"),
        "{}",
        applied.stderr
    );
    // Without the narrowing, the rehearsal's app has what closeout needs.
    sb.closeout(&["apply", s(&plan), "--simulate", s(&snapshot)])
        .expect(3);
}

#[test]
fn a_roles_less_app_gets_a_read_hint_and_a_delegated_token_is_cannot_check() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("contoso"));
    let url = sim.url();
    // An app-only token with no roles at all: graph-sim refuses the reads (403), and the
    // hint asks for the read permission of the request that failed, never a write one.
    let none = token_with(&[], &[], "22222222-0000-0000-0000-000000000003");
    let run = sb
        .closeout_env(
            &["plan", "--keep", ADMIN, "--graph-url", &url],
            &[("CLOSEOUT_ACCESS_TOKEN", none.as_str())],
        )
        .expect(1);
    assert!(run.stderr.contains("HTTP 403"), "{}", run.stderr);
    let needs = run
        .stderr
        .split("it needs ")
        .nth(1)
        .unwrap_or_else(|| panic!("a permission hint: {}", run.stderr));
    let least = needs.split_whitespace().next().unwrap();
    assert!(
        least.contains(".Read.") && !least.contains("ReadWrite"),
        "{least}: {}",
        run.stderr
    );

    // A delegated token (scp, no roles): closeout cannot read what the user may do, says so,
    // and does not pretend it checked.
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let scopes = graph_sim::permissions::all_permissions().join(" ");
    let delegated = format!(
        "{}.{}.",
        b64(serde_json::json!({"typ": "JWT", "alg": "none"})),
        b64(
            serde_json::json!({"aud": "https://graph.microsoft.com", "scp": scopes,
                                "wids": ["62e90394-69f5-4237-9190-012177145e10"]})
        )
    );
    let plan = sb.path("p.yaml");
    let env = [("CLOSEOUT_ACCESS_TOKEN", delegated.as_str())];
    let planned = sb
        .closeout_env(
            &["plan", "--keep", ADMIN, "--graph-url", &url, "-o", s(&plan)],
            &env,
        )
        .expect(0);
    assert!(
        planned
            .stderr
            .contains("cannot check the app's permissions")
            && planned.stderr.contains("delegated"),
        "{}",
        planned.stderr
    );
    let applied = sb.closeout_env(
        &["apply", s(&plan), "--graph-url", &url, "--auto-approve"],
        &env,
    );
    assert!(
        applied.stderr.contains("cannot check"),
        "{}",
        applied.stderr
    );
    assert!(
        !applied.stderr.contains("lacks permissions"),
        "{}",
        applied.stderr
    );
}
