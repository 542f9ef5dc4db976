//! The tenant-deletion path (the `delete_tenant` action's instructions) is shown by every
//! view only when every blocking line of the pre-flight checklist passes and none is "not
//! checked" (issue 13 point 6). Each line of the checklist is made to fail, then to be
//! unchecked, in turn; every view is rendered each time.

use crate::apply::{ApplyReport, Outcome};
use crate::model::{
    DirectoryRole, Organization, TenantState, User, VerifiedDomain,
    GLOBAL_ADMINISTRATOR_TEMPLATE_ID,
};
use crate::plan::{ActionKind, Check, Plan};
use crate::planner::{plan, preflight, ClosureSpec};

use super::*;

/// A tenant with nothing left but its kept Global Administrator: every line passes.
fn closed_tenant() -> TenantState {
    let mut t = TenantState {
        organization: Organization {
            id: "0a7cd3ea-d201-4ae7-918f-afbe0ea70bdd".into(),
            display_name: Some("Closed".into()),
            on_premises_sync_enabled: None,
            verified_domains: vec![VerifiedDomain {
                name: "closed.onmicrosoft.com".into(),
                is_initial: true,
                is_default: true,
                kind: None,
            }],
        },
        users: vec![User {
            id: "40aa94f8-8fd5-4e86-811a-34eefcc9477e".into(),
            user_principal_name: "admin@closed.onmicrosoft.com".into(),
            ..User::default()
        }],
        directory_roles: vec![DirectoryRole {
            id: "15e256d0-ea1c-4c27-91ce-823e3fa83525".into(),
            display_name: "Global Administrator".into(),
            role_template_id: GLOBAL_ADMINISTRATOR_TEMPLATE_ID.into(),
            members: vec!["40aa94f8-8fd5-4e86-811a-34eefcc9477e".into()],
        }],
        ..TenantState::default()
    };
    // ARM read with Reader proven at root scope and nothing listed: the Azure line passes.
    t.azure.read = crate::model::AzureRead::Read {
        root_reader: true,
        why_incomplete: None,
    };
    t.normalize();
    t
}

fn closed_plan() -> Plan {
    let t = closed_tenant();
    let spec = ClosureSpec {
        keep: vec!["admin@closed.onmicrosoft.com".into()],
        ..ClosureSpec::default()
    };
    let p = plan(
        &t,
        &spec,
        "0123456789abcdef".into(),
        "2026-12-01T00:00:00Z".into(),
    )
    .unwrap();
    assert_eq!(
        p.actions.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![ActionKind::DeleteTenant]
    );
    p
}

/// Every view of `plan` whose checklist is `checklist` (plan, show in text, Markdown and
/// JSON with the checklist as planned; apply's report in text and JSON with it as read
/// after the run), as (view name, output).
fn views(plan: &Plan, checklist: &[Check]) -> Vec<(&'static str, String)> {
    let mut p = plan.clone();
    p.preflight = checklist.to_vec();
    let mut out = Vec::new();
    let view = plan_view(&p, ViewOptions::default());
    let mut b = Vec::new();
    render_plan_text(&view, TextOptions::default(), &mut b).unwrap();
    out.push(("text", String::from_utf8(b).unwrap()));
    let mut b = Vec::new();
    render_plan_markdown(&view, MarkdownOptions::default(), &mut b).unwrap();
    out.push(("markdown", String::from_utf8(b).unwrap()));
    let mut b = Vec::new();
    render_plan_json(&view, &mut b).unwrap();
    out.push(("json", String::from_utf8(b).unwrap()));
    let report = ApplyReport {
        outcomes: p
            .actions
            .iter()
            .map(|a| {
                (
                    a.address.to_string(),
                    Outcome::Pending("the tenant still exists".into()),
                )
            })
            .collect(),
        ..ApplyReport::default()
    };
    let mut b = Vec::new();
    render_report_text(&p, &report, Some(checklist), &mut b).unwrap();
    out.push(("apply report", String::from_utf8(b).unwrap()));
    let doc = report_json_with_checklist(
        &p,
        Some(&report),
        &[],
        "waiting_on_manual",
        3,
        Some(checklist),
    );
    out.push(("apply json", doc.to_string()));
    out
}

/// The part of the deletion path no other text has.
const PATH: &str = "Manage tenants";

fn assert_hidden(plan: &Plan, checklist: &[Check], why: &str) {
    for (name, text) in views(plan, checklist) {
        assert!(
            !text.contains(PATH),
            "{name} shows the deletion path although {why}:\n{text}"
        );
    }
}

#[test]
fn the_path_shows_only_when_every_blocking_line_passes() {
    let plan = closed_plan();
    let lines = preflight(&closed_tenant(), &[plan.keep[0].id.clone()]);
    assert!(lines.len() >= 10, "{lines:?}");
    assert!(lines.iter().all(|c| !c.blocks()), "{lines:?}");
    // All pass: every view shows the path (so the checks below can fail).
    for (name, text) in views(&plan, &lines) {
        assert!(
            text.contains(PATH),
            "{name} hides the path of a passing checklist:\n{text}"
        );
    }
    for i in 0..lines.len() {
        let mut failed = lines.clone();
        failed[i] = Check::new(
            &lines[i].name,
            &lines[i].requirement,
            vec!["x (1)".into()],
            0,
        );
        assert_hidden(&plan, &failed, &format!("line {} fails", lines[i].name));
        let mut unchecked = lines.clone();
        unchecked[i] = Check::not_checked(&lines[i].name, &lines[i].requirement, "no access");
        assert_hidden(
            &plan,
            &unchecked,
            &format!("line {} is not checked", lines[i].name),
        );
    }
    // An extra line that could not be evaluated blocks too; an informational one never.
    let mut extra = lines.clone();
    extra.push(Check::not_checked(
        "Azure subscriptions",
        "none",
        "ARM not readable",
    ));
    assert_hidden(&plan, &extra, "a line is not checked");
    let mut info = lines.clone();
    info.push(Check {
        informational: true,
        ..Check::new("data at risk", "information", vec!["1 GB".into()], 0)
    });
    for (name, text) in views(&plan, &info) {
        assert!(
            text.contains(PATH),
            "{name}: an informational line must not block:\n{text}"
        );
    }
    // No checklist, or an empty one: closed.
    assert_hidden(&plan, &[], "there is no checklist");
    let report = ApplyReport::default();
    let mut b = Vec::new();
    render_report_text(&plan, &report, None, &mut b).unwrap();
    assert!(!String::from_utf8(b).unwrap().contains(PATH));
    assert!(!report_json(&plan, Some(&report), &[], "x", 3)
        .to_string()
        .contains(PATH));
}
