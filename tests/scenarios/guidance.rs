//! Honest guidance: apply's counts match the items it lists, a manual action waiting for
//! another is pending (not "skipped because of a failure"), subscription instructions fit
//! the subscription, and the plan says what data its deletions take with them.

use crate::common::{s, tenant, Sandbox};

fn plan_doc(path: &std::path::Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

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
        let i = instructions(&doc, free, "cancel_subscription");
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
