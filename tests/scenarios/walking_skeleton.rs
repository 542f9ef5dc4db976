//! Issue 2: plan, apply and plan again on the example tenant; guards; paging.

use crate::common::{s, tenant, write_big_tenant, Sandbox, Sim};

const CONTOSO_ADMIN: &str = "admin@contoso.com";
const CONTOSO_ADMIN_ID: &str = "5623a5ba-7b18-4291-909b-8bfc60f096b7";
const CONTOSO_OTHER_GA: &str = "megan.bowen@contoso.com";

#[test]
fn contoso_plan_deletes_everyone_but_the_kept_admin() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let plan_file = sb.path("p.yaml");
    let run = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            CONTOSO_ADMIN,
            "-o",
            s(&plan_file),
        ])
        .expect(0);
    // 25 users, one kept: 24 deleted; 24 purged plus the one already in the recycle bin.
    assert!(
        run.stdout
            .contains("Plan: 24 users to delete, 25 to purge,"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains(&format!("delete user {CONTOSO_OTHER_GA}")));
    assert!(!run.stdout.contains(&format!("delete user {CONTOSO_ADMIN}")));
    assert!(run.stdout.contains("turn off security defaults"));
    let yaml = std::fs::read_to_string(&plan_file).unwrap();
    assert!(
        yaml.starts_with("# closeout plan: close tenant Contoso"),
        "{yaml}"
    );
    assert!(!yaml.contains(&format!("address: delete_user.{CONTOSO_ADMIN_ID}")));
    assert!(yaml.contains("address: delete_tenant."));
    // The plan file is plain YAML a reviewer (or another tool) can read.
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(doc["format_version"], serde_yaml::Value::from(2));
    assert_eq!(doc["tenant"]["initial_domain"], "contoso.onmicrosoft.com");
}

#[test]
fn apply_then_plan_again_leaves_only_manual_actions() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let plan_file = sb.path("p.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        CONTOSO_ADMIN,
        "-o",
        s(&plan_file),
    ])
    .expect(0);
    let applied = sb.closeout(&["apply", s(&plan_file), "--simulate", s(&snap)]);
    // Subscriptions and the tenant deletion wait on a person: exit 3.
    let applied = applied.expect(3);
    assert!(
        applied.stdout.contains("Manual actions pending"),
        "{}",
        applied.stdout
    );
    assert!(applied.stdout.contains("0 failed"), "{}", applied.stdout);

    let again = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            CONTOSO_ADMIN,
            "-o",
            s(&sb.path("p2.yaml")),
        ])
        .expect(0);
    let plan2: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(sb.path("p2.yaml")).unwrap()).unwrap();
    let actions = plan2["actions"].as_sequence().unwrap();
    assert!(!actions.is_empty());
    for a in actions {
        assert_eq!(
            a["manual"],
            serde_yaml::Value::Bool(true),
            "automated action left after apply: {a:?}\n{}",
            again.stdout
        );
    }
    assert!(again
        .stdout
        .contains("Plan: 0 users to delete, 0 to purge, 0 MFA settings to disable"));

    // The state persists; reset goes back to the snapshot.
    sb.closeout(&["sim", "reset", "--simulate", s(&snap)])
        .expect(0);
    let fresh = sb
        .closeout(&["plan", "--simulate", s(&snap), "--keep", CONTOSO_ADMIN])
        .expect(0);
    assert!(
        fresh.stdout.contains("24 users to delete"),
        "{}",
        fresh.stdout
    );
}

#[test]
fn plan_without_a_kept_global_administrator_is_refused() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let none = sb.closeout(&["plan", "--simulate", s(&snap)]).expect(1);
    assert!(none.stderr.contains("--keep"), "{}", none.stderr);
    assert!(
        none.stderr.contains(CONTOSO_ADMIN),
        "names the candidates: {}",
        none.stderr
    );
    // Keeping only a non-administrator is refused too.
    let guest = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "nestor.wilke@contoso.com",
        ])
        .expect(1);
    assert!(
        guest.stderr.contains("no Global Administrator is kept"),
        "{}",
        guest.stderr
    );
    let missing = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "nobody@contoso.com",
        ])
        .expect(1);
    assert!(
        missing.stderr.contains("nobody@contoso.com"),
        "{}",
        missing.stderr
    );
}

#[test]
fn plan_reads_every_page_of_users() {
    let sb = Sandbox::new();
    let snap = sb.path("big.yaml");
    // $top=999 is Graph's maximum page: 2,100 users need three pages.
    write_big_tenant(&snap, 2100);
    let run = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snap),
            "--keep",
            "admin@big.onmicrosoft.com",
        ])
        .expect(0);
    assert!(
        run.stdout
            .contains("Plan: 2100 users to delete, 2100 to purge"),
        "{}",
        run.stdout
    );
}

#[test]
fn plan_against_graph_url_follows_next_links_over_loopback() {
    let sb = Sandbox::new();
    let snap = sb.path("big.yaml");
    write_big_tenant(&snap, 1500);
    let sim = Sim::open(&snap);
    let url = sim.url();
    let run = sb
        .closeout_env(
            &[
                "plan",
                "--graph-url",
                &url,
                "--keep",
                "admin@big.onmicrosoft.com",
            ],
            &[("CLOSEOUT_ACCESS_TOKEN", crate::common::token())],
        )
        .expect(0);
    assert!(
        run.stdout.contains("1500 users to delete"),
        "{}",
        run.stdout
    );
    let user_pages = sim
        .log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.starts_with("/v1.0/users"))
        .count();
    assert_eq!(user_pages, 2, "1,501 users at $top=999 are two pages");
}

#[test]
fn plan_without_credentials_says_what_to_do() {
    let sb = Sandbox::new();
    let run = sb
        .closeout(&["plan", "--keep", "admin@contoso.com"])
        .expect(1);
    assert!(
        run.stderr.contains("CLOSEOUT_ACCESS_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--simulate"), "{}", run.stderr);
}
