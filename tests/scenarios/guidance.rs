//! Honest guidance: apply's counts match the items it lists, a manual action waiting for
//! another is pending (not "skipped because of a failure"), subscription instructions fit
//! the subscription, and the plan says what data its deletions take with them.

use crate::common::{plan_doc, s, tenant, Sandbox};

/// The instructions of the plan's subscription actions on `sku`, by action kind.
fn instructions(doc: &serde_yaml::Value, sku: &str, kind: &str) -> String {
    doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|a| {
            a["action"].as_str() == Some(kind)
                && a["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("{sku} ")))
        })
        .and_then(|a| a["instructions"].as_str())
        .unwrap_or_else(|| panic!("no {kind} of {sku}"))
        .to_string()
}

#[test]
fn apply_counts_what_it_lists_and_waiting_is_pending_not_failed() {
    let sb = Sandbox::new();
    let snap = tenant("contoso");
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&snap),
        "--keep",
        "admin@contoso.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let run = sb
        .closeout(&["apply", s(&plan), "--simulate", s(&snap)])
        .expect(3);
    let out = &run.stdout;
    assert!(out.contains("0 failed, 0 skipped after a failure"), "{out}");
    assert!(!out.contains("skipped (because of"), "{out}");
    assert!(!out.contains("Skipped (they depend"), "{out}");
    assert!(
        out.contains("pending: waits for cancel_subscription."),
        "{out}"
    );
    // "N pending" equals the listed items: manual checkboxes, Microsoft's waits and the
    // counted automated waits.
    let summary = out
        .lines()
        .find(|l| l.starts_with("Apply finished:"))
        .unwrap();
    let pending: usize = summary
        .split(", ")
        .find_map(|p| {
            p.strip_suffix(" pending")
                .or_else(|| p.strip_suffix(" pending."))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pending count in {summary}"));
    let boxes = out.lines().filter(|l| l.starts_with("  [ ] ")).count();
    let waits: usize = out
        .lines()
        .filter_map(|l| l.trim().split_once(" action(s) wait for "))
        .map(|(n, _)| n.parse::<usize>().unwrap())
        .sum();
    let section = |title: &str| {
        out.split(title).nth(1).map_or(0, |rest| {
            rest.lines()
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .count()
        })
    };
    let on_microsoft = section("Waiting on Microsoft");
    assert_eq!(pending, boxes + waits + on_microsoft, "{out}");
    let json = sb
        .closeout(&[
            "apply",
            s(&plan),
            "--simulate",
            s(&snap),
            "--format",
            "json",
        ])
        .expect(3)
        .stdout;
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let waiting = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a.get("waits_for").is_some())
        .count();
    assert!(waiting > 0, "{json}");
    assert_eq!(doc["counts"]["waiting"], waiting, "{json}");
}

#[test]
fn subscription_instructions_fit_the_subscription() {
    let sb = Sandbox::new();
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&tenant("contoso")),
        "--keep",
        "admin@contoso.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let doc = plan_doc(&plan);
    for free in ["FLOW_FREE", "POWER_BI_STANDARD"] {
        let i = instructions(&doc, free, "delete_self_service_product");
        assert!(i.contains("Self-service sign-up products"), "{free}: {i}");
        assert!(
            !i.contains("licences") && !i.contains("Customer Agreement"),
            "{free}: {i}"
        );
    }
    let trial = instructions(&doc, "POWER_BI_PRO", "cancel_subscription");
    assert!(!trial.contains("reduce"), "{trial}");
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("mailboxes and OneDrive"),
        "the plan header names the data at risk"
    );
    assert!(text.contains("SharePoint Online sites"));
    let shown = sb.closeout(&["show", s(&plan)]).expect(0).stdout;
    assert!(
        shown.contains("Data at risk:") && shown.contains("Back up"),
        "{shown}"
    );
}

#[test]
fn a_locked_out_subscription_is_a_support_request() {
    let sb = Sandbox::new();
    let plan = sb.path("plan.yaml");
    sb.closeout(&[
        "plan",
        "--simulate",
        s(&tenant("contoso")),
        "--keep",
        "admin@contoso.com",
        "-o",
        s(&plan),
    ])
    .expect(0);
    let doc = plan_doc(&plan);
    let locked = doc["actions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|a| {
            a["action"].as_str() == Some("delete_subscription")
                && a["before"]["status"].as_str() == Some("LockedOut")
        })
        .expect("contoso has a LockedOut subscription");
    let i = locked["instructions"].as_str().unwrap();
    assert!(i.starts_with("Open a Microsoft support request"), "{i}");
}

/// A spec that can never close the tenant says so at plan time, and the checklist names
/// what will still block.
#[test]
fn a_spec_that_cannot_close_the_tenant_warns_at_plan_time() {
    let sb = Sandbox::new();
    let spec = sb.path("spec.yaml");
    std::fs::write(
        &spec,
        "version: 1\nkeep: [admin@contoso.com]\npurge_recycle_bin: false\napplications: keep\n",
    )
    .unwrap();
    let run = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&tenant("contoso")),
            "--spec",
            s(&spec),
        ])
        .expect(0);
    for needle in [
        "warning: this plan cannot close the tenant: purge_recycle_bin is false",
        "warning: this plan cannot close the tenant: applications: keep",
    ] {
        assert!(
            run.stderr.contains(needle),
            "no {needle:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stdout.contains("This plan cannot close the tenant"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("still blocking after this plan: applications: keep"),
        "{}",
        run.stdout
    );
    let md = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&tenant("contoso")),
            "--spec",
            s(&spec),
            "--format",
            "markdown",
        ])
        .expect(0)
        .stdout;
    assert!(md.contains("> [!WARNING]"), "{md}");
    // The default spec closes the tenant: no such warning.
    let ok = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&tenant("contoso")),
            "--keep",
            "admin@contoso.com",
        ])
        .expect(0);
    assert!(!ok.stderr.contains("cannot close"), "{}", ok.stderr);
}

/// closeout never cuts off its own access: the app it signs in as (the token's `appid`)
/// goes last, after every other action (manual ones included) but the tenant deletion.
#[test]
fn the_app_closeout_signs_in_as_goes_last() {
    let own_app = "3a1f8358-9658-496d-8ef5-cd7175905fd7"; // contoso's "Contoso Expenses"
    let sb = Sandbox::new();
    let sim = crate::common::Sim::open(&tenant("contoso"));
    let url = sim.url();
    let token = crate::common::token_for_app(own_app);
    let env = [("CLOSEOUT_ACCESS_TOKEN", token.as_str())];
    let plan = sb.path("plan.yaml");
    sb.closeout_env(
        &[
            "plan",
            "--graph-url",
            &url,
            "--auth",
            "token",
            "--keep",
            "admin@contoso.com",
            "-o",
            s(&plan),
        ],
        &env,
    )
    .expect(0);
    let doc = plan_doc(&plan);
    let actions = doc["actions"].as_sequence().unwrap();
    let pos = |pred: &dyn Fn(&serde_yaml::Value) -> bool| actions.iter().position(pred);
    let own = |a: &serde_yaml::Value| a["before"]["appId"].as_str() == Some(own_app);
    let own_sp = pos(&|a| a["action"].as_str() == Some("delete_service_principal") && own(a))
        .expect("the own service principal is in the plan");
    let own_reg = pos(&|a| a["action"].as_str() == Some("delete_application") && own(a))
        .expect("the own registration is in the plan");
    let tenant_at = pos(&|a| a["action"].as_str() == Some("delete_tenant")).unwrap();
    for (i, a) in actions.iter().enumerate() {
        let kind = a["action"].as_str().unwrap();
        if i == own_sp
            || i == own_reg
            || kind == "delete_tenant"
            || kind.starts_with("purge_application")
        {
            continue;
        }
        assert!(
            i < own_sp.min(own_reg),
            "{kind} {} comes after the own app",
            a["name"].as_str().unwrap_or("")
        );
    }
    assert!(own_reg < tenant_at);
    let deps: Vec<&str> = actions[own_reg]["depends_on"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    for gate in ["step:1", "step:2", "step:3", "step:4"] {
        assert!(deps.contains(&gate), "{deps:?}");
    }
    let warnings = format!("{:?}", actions[own_reg]["warnings"]);
    assert!(
        warnings.contains("closeout signs in as this application"),
        "{warnings}"
    );

    // Applied while the subscriptions wait on a person: the own app is pending, untouched.
    let run = sb
        .closeout_env(
            &[
                "apply",
                s(&plan),
                "--graph-url",
                &url,
                "--auth",
                "token",
                "--auto-approve",
            ],
            &env,
        )
        .expect(3);
    let id_of = |i: usize| {
        let address = actions[i]["address"].as_str().unwrap();
        address.split_once('.').unwrap().1.to_string()
    };
    let (sp_id, app_id) = (id_of(own_sp), id_of(own_reg));
    let writes = sim.writes();
    assert!(
        writes
            .iter()
            .any(|w| w.method == "DELETE" && w.path.contains("/applications/")),
        "the other app registration is deleted"
    );
    for w in writes {
        assert!(
            !w.path.contains(&sp_id) && !w.path.contains(&app_id),
            "closeout removed its own access: {} {}\n{}",
            w.method,
            w.path,
            run.stdout
        );
    }
    assert!(
        run.stdout.contains(&format!("delete_application.{app_id}"))
            || run.stdout.contains("wait for"),
        "{}",
        run.stdout
    );
}

/// `apply --wait` says until when it expects to wait: the latest future
/// `nextLifecycleDateTime` of the plan's subscriptions.
#[test]
fn apply_wait_names_the_date_it_expects_to_wait_until() {
    let sb = Sandbox::new();
    let text = std::fs::read_to_string(tenant("trial")).unwrap();
    let when = "2099-06-19T16:04:38Z";
    let snap = sb.path("trial-later.yaml");
    std::fs::write(&snap, text.replace("2025-06-19T16:04:38Z", when)).unwrap();
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
    let shown = sb.closeout(&["show", s(&plan)]).expect(0).stdout;
    assert!(
        shown.contains(when),
        "the plan shows nextLifecycleDateTime: {shown}"
    );
    let run = sb
        .closeout(&[
            "apply",
            s(&plan),
            "--simulate",
            s(&snap),
            "--wait",
            "--poll-interval",
            "1s",
            "--timeout",
            "3s",
        ])
        .expect(3);
    assert!(
        run.stdout
            .contains(&format!("changes status next at {when}")),
        "{}",
        run.stdout
    );
}

/// A plan made as another identity would remove the applying app's access early: refused.
#[test]
fn apply_refuses_a_plan_that_removes_its_own_access_early() {
    let own_app = "3a1f8358-9658-496d-8ef5-cd7175905fd7";
    let sb = Sandbox::new();
    let sim = crate::common::Sim::open(&tenant("contoso"));
    let url = sim.url();
    let planner = crate::common::token_for_app("11111111-1111-4111-8111-111111111111");
    let applier = crate::common::token_for_app(own_app);
    let plan = sb.path("plan.yaml");
    sb.closeout_env(
        &[
            "plan",
            "--graph-url",
            &url,
            "--auth",
            "token",
            "--keep",
            "admin@contoso.com",
            "-o",
            s(&plan),
        ],
        &[("CLOSEOUT_ACCESS_TOKEN", planner.as_str())],
    )
    .expect(0);
    let run = sb
        .closeout_env(
            &[
                "apply",
                s(&plan),
                "--graph-url",
                &url,
                "--auth",
                "token",
                "--auto-approve",
            ],
            &[("CLOSEOUT_ACCESS_TOKEN", applier.as_str())],
        )
        .expect(1);
    assert!(
        run.stderr.contains("cut off closeout's access"),
        "{}",
        run.stderr
    );
    assert!(sim.writes().is_empty(), "nothing was changed");
}
