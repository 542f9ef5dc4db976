//! Azure subscriptions through Azure Resource Manager (ARM), against graph-sim's ARM
//! routes: the plan and checklist name each subscription by id and state, the automated
//! cancel only where the spec, Owner and an empty subscription allow it, the "not checked"
//! line whenever closeout cannot prove it sees every subscription, tokens kept to their
//! own service root, and a rehearsal that closes the example tenant completely.

use crate::common::{s, tenant, Sandbox, Sim};

const ADMIN: &str = "admin@wingtipazure.onmicrosoft.com";
const DEV: &str = "1c0d9a8e-0001-4f5e-8a7b-6c5d4e3f2a10";
const PROD: &str = "1c0d9a8e-0002-4f5e-8a7b-6c5d4e3f2a10";
const LEGACY: &str = "1c0d9a8e-0003-4f5e-8a7b-6c5d4e3f2a10";
const FINANCE: &str = "1c0d9a8e-0004-4f5e-8a7b-6c5d4e3f2a10";
const M365: &str = "5a2e0c1d-0005-4c8e-9d10-aa5e2b7c0d01";

/// A token for Azure Resource Manager (`aud` https://management.azure.com) of graph-sim's
/// simulated app (whom the example's role assignments name).
fn arm_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    graph_sim::token::mint(
        &graph_sim::token::MintOptions {
            lifetime_s: 3600,
            audience: graph_sim::token::ARM_AUDIENCES[0].to_string(),
            ..graph_sim::token::MintOptions::default()
        },
        now,
    )
}

fn spec(sb: &Sandbox, azure: &str) -> String {
    let p = sb.path(&format!("spec-{azure}.yaml"));
    std::fs::write(
        &p,
        format!("version: 1\nkeep: [{ADMIN}]\nazure_subscriptions: {azure}\n"),
    )
    .unwrap();
    s(&p).to_string()
}

/// The checklist line for Azure subscriptions in a plan's or apply's text.
fn azure_line(text: &str) -> String {
    text.lines()
        .find(|l| {
            l.contains("] Azure subscriptions:") || l.contains("Azure subscriptions: not checked")
        })
        .unwrap_or_else(|| panic!("no Azure subscriptions line in:\n{text}"))
        .to_string()
}

#[test]
fn rehearsal_closes_the_azure_tenant_with_closeout_sim_playing_the_azure_portal() {
    let sb = Sandbox::new();
    let t = tenant("azure");
    let t = s(&t);
    let spec = spec(&sb, "cancel");
    let plan = sb.path("azure.plan.yaml");
    let p = sb
        .closeout(&["plan", "--simulate", t, "--spec", &spec, "-o", s(&plan)])
        .expect(0);
    // Every subscription by id and state; the automated cancel only for Dev (Owner, empty).
    let line = azure_line(&p.stdout);
    assert!(line.contains("[FAIL]"), "{line}");
    for (id, state) in [
        (DEV, "Enabled"),
        (PROD, "Enabled"),
        (LEGACY, "Disabled"),
        (FINANCE, "Enabled"),
    ] {
        assert!(
            p.stdout.contains(&format!("[{state}] ({id})")),
            "{id} {state}:\n{}",
            p.stdout
        );
    }
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains(&format!("cancel_azure_subscription.{DEV}")),
        "{text}"
    );
    for id in [PROD, FINANCE] {
        assert!(
            text.contains(&format!("cancel_azure_subscription_in_portal.{id}")),
            "{id}"
        );
        assert!(
            !text.contains(&format!("address: cancel_azure_subscription.{id}")),
            "{id}"
        );
    }
    assert!(!text.contains(&format!("cancel_azure_subscription_in_portal.{LEGACY}")));
    for id in [DEV, PROD, LEGACY, FINANCE] {
        assert!(
            text.contains(&format!("delete_azure_subscription.{id}")),
            "{id}"
        );
    }
    // ARM's refusal is said at plan time, with the resource groups.
    assert!(
        p.stdout.contains("ResourcesExistingOnSubscription")
            && p.stdout.contains("rg-data, rg-web"),
        "{}",
        p.stdout
    );
    assert!(
        text.contains("azure_subscriptions: cancel"),
        "recorded in the plan's target"
    );

    // First apply: the directory is emptied, Dev is cancelled through ARM; the rest waits.
    let a = sb.closeout(&["apply", s(&plan), "--simulate", t]).expect(3);
    assert!(
        a.stdout.contains(&format!("[Disabled] ({DEV})")),
        "Dev cancelled by ARM:\n{}",
        a.stdout
    );
    assert!(!a.stdout.contains("Manage tenants"), "{}", a.stdout);
    // closeout cancelled Dev, so it knows from when the portal allows deleting it, in this
    // run and (from the journal) in the next; of Legacy, cancelled before, it does not.
    for run in [
        a.stdout.clone(),
        sb.closeout(&["apply", s(&plan), "--simulate", t])
            .expect(3)
            .stdout,
    ] {
        let dev = run
            .lines()
            .find(|l| l.contains(&format!("[delete_azure_subscription.{DEV}]")))
            .unwrap_or_else(|| panic!("{run}"));
        assert!(
            dev.contains("closeout cancelled it at") && dev.contains("allows deleting it from"),
            "{dev}"
        );
        let legacy = run
            .lines()
            .find(|l| l.contains(&format!("[delete_azure_subscription.{LEGACY}]")))
            .unwrap_or_else(|| panic!("{run}"));
        assert!(!legacy.contains("closeout cancelled it"), "{legacy}");
    }

    // The administrator in the admin center and the Azure portal.
    for args in [
        vec!["sim", "cancel-subscription", M365],
        vec!["sim", "delete-subscription", M365],
        vec!["sim", "cancel-azure-subscription", PROD],
        vec!["sim", "cancel-azure-subscription", FINANCE],
        vec!["sim", "delete-azure-resource-group", PROD, "rg-web"],
        vec!["sim", "delete-azure-resource-group", PROD, "rg-data"],
    ] {
        let mut args = args.clone();
        args.extend(["--simulate", t]);
        sb.closeout(&args).expect(0);
    }
    // Deleting is refused while a resource group remains, and for active ones.
    let mut refused = vec!["sim", "cancel-azure-subscription", LEGACY, "--simulate", t];
    assert!(sb.closeout(&refused).expect(1).stderr.contains("Disabled"));
    for id in [DEV, PROD, LEGACY, FINANCE] {
        sb.closeout(&["sim", "delete-azure-subscription", id, "--simulate", t])
            .expect(0);
    }
    refused = vec!["sim", "delete-azure-subscription", DEV, "--simulate", t];
    sb.closeout(&refused).expect(1);

    // Everything verified by reading; the checklist passes and the deletion path is shown.
    let a = sb.closeout(&["apply", s(&plan), "--simulate", t]).expect(3);
    let line = azure_line(&a.stdout);
    assert!(line.contains("[pass]"), "{}", a.stdout);
    assert!(a.stdout.contains("Manage tenants"), "{}", a.stdout);

    sb.closeout(&["sim", "delete-tenant", "--simulate", t])
        .expect(0);
    let done = sb.closeout(&["apply", s(&plan), "--simulate", t]).expect(0);
    assert!(done.stdout.contains("Closure complete"), "{}", done.stdout);
}

#[test]
fn the_portal_cannot_delete_the_tenant_while_an_azure_subscription_remains() {
    let sb = Sandbox::new();
    let t = tenant("azure");
    let e = sb
        .closeout(&["sim", "delete-tenant", "--simulate", s(&t)])
        .expect(1);
    assert!(
        e.stderr.contains(LEGACY) && e.stderr.contains("Azure subscription"),
        "{}",
        e.stderr
    );
}

#[test]
fn a_tenant_the_app_cannot_see_into_never_passes_the_azure_line() {
    let sb = Sandbox::new();
    let t = tenant("azure-blind");
    let t = s(&t);
    let spec = spec(&sb, "cancel");
    let plan = sb.path("blind.plan.yaml");
    let p = sb
        .closeout(&["plan", "--simulate", t, "--spec", &spec, "-o", s(&plan)])
        .expect(0);
    assert!(azure_line(&p.stdout).contains("[FAIL]"), "{}", p.stdout);
    assert!(
        !p.stdout.contains(FINANCE),
        "ARM hides Finance from the app"
    );
    // Closing everything the app can see leaves a line that is "not checked", never "pass".
    sb.closeout(&["apply", s(&plan), "--simulate", t]).expect(3);
    sb.closeout(&["sim", "delete-azure-subscription", DEV, "--simulate", t])
        .expect(0);
    for _ in 0..2 {
        let a = sb.closeout(&["apply", s(&plan), "--simulate", t]);
        let line = azure_line(&a.stdout);
        assert!(
            line.contains("not checked") && line.contains("root scope"),
            "{}",
            a.stdout
        );
        assert!(
            !a.stdout.contains("[pass] Azure subscriptions"),
            "{}",
            a.stdout
        );
        assert!(!a.stdout.contains("Manage tenants"), "{}", a.stdout);
    }
    let again = sb.path("again.plan.yaml");
    let p = sb
        .closeout(&["plan", "--simulate", t, "--spec", &spec, "-o", s(&again)])
        .expect(0);
    assert!(
        azure_line(&p.stdout).contains("not checked"),
        "{}",
        p.stdout
    );
}

#[test]
fn tokens_stay_with_their_service_root_and_the_wrong_audience_is_refused() {
    // Graph on one graph-sim, ARM on another: each sees only its own routes and its own
    // token (graph-sim refuses a token for the other audience with 401, so a token sent to
    // the wrong root would show up as a 401 in that simulator's log).
    let graph = Sim::open(&tenant("azure"));
    let arm = Sim::open(&tenant("azure"));
    let sb = Sandbox::new();
    let spec = spec(&sb, "manual");
    let plan = sb.path("p.plan.yaml");
    let arm_token = arm_token();
    let env = [
        ("CLOSEOUT_ACCESS_TOKEN", crate::common::token()),
        ("CLOSEOUT_ARM_ACCESS_TOKEN", arm_token.as_str()),
    ];
    let p = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &graph.url(),
                "--arm-url",
                &arm.url(),
                "--spec",
                &spec,
                "-o",
                s(&plan),
            ],
            &env,
        )
        .expect(0);
    assert!(
        p.stdout.contains(&format!("[Enabled] ({PROD})")),
        "{}",
        p.stdout
    );
    // The apply command plan suggests names both service roots: without --arm-url apply
    // reads no Azure subscription and refuses every Azure action as drifted.
    assert!(
        p.stdout.contains(&format!(
            "closeout apply {} --graph-url {} --arm-url {}",
            s(&plan),
            graph.url(),
            arm.url()
        )),
        "{}",
        p.stdout
    );
    let is_arm = |path: &str| {
        let p = path.to_ascii_lowercase();
        p.starts_with("/subscriptions") || p.starts_with("/providers/")
    };
    let g = graph.log();
    let a = arm.log();
    assert!(!g.is_empty() && !a.is_empty());
    assert!(
        g.iter().all(|e| !is_arm(&e.path) && e.status != 401),
        "{g:?}"
    );
    assert!(
        a.iter().all(|e| is_arm(&e.path) && e.status == 200),
        "{a:?}"
    );
    // nextLink paging happened on ARM's root (4 subscriptions, 2 per page).
    assert!(a.iter().any(|e| e.path.contains("skiptoken=2")), "{a:?}");

    // A Graph token given as the ARM token: ARM answers 401 InvalidAuthenticationTokenAudience,
    // and the line says "not checked" with that reason.
    let wrong = [
        ("CLOSEOUT_ACCESS_TOKEN", crate::common::token()),
        ("CLOSEOUT_ARM_ACCESS_TOKEN", crate::common::token()),
    ];
    let p = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &graph.url(),
                "--arm-url",
                &arm.url(),
                "--spec",
                &spec,
                "-o",
                s(&plan),
            ],
            &wrong,
        )
        .expect(0);
    let line = azure_line(&p.stdout);
    assert!(
        line.contains("not checked") && line.contains("InvalidAuthenticationTokenAudience"),
        "{}",
        p.stdout
    );
    // And an ARM token at the Graph root is refused there: closeout stops with Graph's 401.
    let arm_as_graph = [("CLOSEOUT_ACCESS_TOKEN", arm_token.as_str())];
    let e = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &graph.url(),
                "--arm-url",
                &arm.url(),
                "--spec",
                &spec,
                "-o",
                s(&plan),
            ],
            &arm_as_graph,
        )
        .expect(1);
    assert!(e.stderr.contains("401"), "{}", e.stderr);
}

#[test]
fn without_an_arm_token_the_line_is_not_checked_and_none_is_the_administrators_declaration() {
    let graph = Sim::open(&tenant("azure"));
    let sb = Sandbox::new();
    let plan = sb.path("p.plan.yaml");
    let env = [("CLOSEOUT_ACCESS_TOKEN", crate::common::token())];
    let manual = spec(&sb, "manual");
    // A Graph stand-in without --arm-url: the cloud's real ARM is never contacted.
    let p = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &graph.url(),
                "--spec",
                &manual,
                "-o",
                s(&plan),
            ],
            &env,
        )
        .expect(0);
    let line = azure_line(&p.stdout);
    assert!(
        line.contains("not checked") && line.contains("--arm-url"),
        "{line}"
    );
    // An ARM root but no ARM token: nothing is sent to it.
    let before = graph.log().len();
    let p = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &graph.url(),
                "--arm-url",
                &graph.url(),
                "--spec",
                &manual,
                "-o",
                s(&plan),
            ],
            &env,
        )
        .expect(0);
    let line = azure_line(&p.stdout);
    assert!(
        line.contains("not checked") && line.contains("no Azure Resource Manager token"),
        "{line}"
    );
    assert!(
        graph.log()[before..]
            .iter()
            .all(|e| !e.path.starts_with("/subscriptions") && !e.path.starts_with("/providers")),
        "no ARM request without an ARM token"
    );

    let none = spec(&sb, "none");
    let p = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &graph.url(),
                "--spec",
                &none,
                "-o",
                s(&plan),
            ],
            &env,
        )
        .expect(0);
    let line = azure_line(&p.stdout);
    assert!(
        line.contains("[pass]") && line.contains("declared by the administrator"),
        "{line}"
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("azure_subscriptions: none"), "{text}");
    assert!(
        !text.contains("azure_subscription."),
        "no Azure action: {text}"
    );
}

#[test]
fn apply_refuses_an_arm_cancel_without_an_arm_token_before_any_write() {
    let graph = Sim::open(&tenant("azure"));
    let sb = Sandbox::new();
    let spec = spec(&sb, "cancel");
    let plan = sb.path("p.plan.yaml");
    let arm = arm_token();
    let both = [
        ("CLOSEOUT_ACCESS_TOKEN", crate::common::token()),
        ("CLOSEOUT_ARM_ACCESS_TOKEN", arm.as_str()),
    ];
    let url = graph.url();
    sb.closeout_env(
        &[
            "plan",
            "--graph-url",
            &url,
            "--arm-url",
            &url,
            "--spec",
            &spec,
            "-o",
            s(&plan),
        ],
        &both,
    )
    .expect(0);
    assert!(std::fs::read_to_string(&plan)
        .unwrap()
        .contains(&format!("cancel_azure_subscription.{DEV}")));
    let graph_only = [("CLOSEOUT_ACCESS_TOKEN", crate::common::token())];
    let e = sb
        .closeout_env(
            &[
                "apply",
                s(&plan),
                "--graph-url",
                &url,
                "--arm-url",
                &url,
                "--auto-approve",
            ],
            &graph_only,
        )
        .expect(1);
    assert!(
        e.stderr.contains("Azure Resource Manager token")
            && e.stderr.contains("nothing was changed"),
        "{}",
        e.stderr
    );
    assert!(graph.writes().is_empty(), "{:?}", graph.writes());
}
