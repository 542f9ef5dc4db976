//! Views of an apply: the stale-plan report (drift, with `similar` diffs of planned versus
//! live fields), the final report in text, and the same report as one JSON document.
//! Writes to `impl Write`; decides nothing.
//!
//! JSON shape (`closeout apply --format json`), one document on stdout:
//!
//! ```text
//! { "report": "closeout-apply/1",
//!   "plan_id": "…", "tenant": {"id", "display_name", "initial_domain"},
//!   "result": "complete" | "waiting_on_manual" | "failed" | "interrupted" | "stale_plan",
//!   "exit_code": 0 | 1 | 3 | 4 | 130,
//!   "counts": {"done", "already_done", "verified", "failed", "skipped", "pending",
//!              "interrupted", "done_in_earlier_run"},
//!   "actions": [{"address", "action", "name", "outcome",
//!                "done_in_earlier_run"?: true, "error"?: {"message", "code", "request_id"},
//!                "skipped_because"?: "<address of the failed or pending action>",
//!                "pending"?: "<why>", "instructions"?: "<where a person does it>",
//!                "uncertain"?: true}],
//!   "drift": [{"address", "action", "object_id", "name",
//!              "reason": {"kind": "changed" | "gone" | "not_in_plan" | "unplannable", "detail"?},
//!              "planned": {…}, "live": {…}}] }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{json, Value};
use similar::{ChangeTag, TextDiff};

use crate::apply::{ApplyReport, Drift, DriftReason, Outcome};
use crate::plan::{Check, Fields, Plan};

fn field_lines(fields: &Fields) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// Writes the stale-plan report: each drifted object with a diff of planned versus live
/// fields, and the advice to plan again.
pub fn render_drift_text(plan: &Plan, drift: &[Drift], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "Stale plan: tenant {} ({}) changed since plan {} was made ({}). Nothing was changed by this run.",
        plan.tenant.display_name, plan.tenant.initial_domain, plan.plan_id, plan.created_at
    )?;
    writeln!(out)?;
    for d in drift {
        let what = match &d.reason {
            DriftReason::Changed => format!("{} {}: changed since planning", d.action.describe(), d.name),
            DriftReason::Gone => format!("{} {}: the object is gone", d.action.describe(), d.name),
            DriftReason::NotInPlan => format!(
                "{} ({}): appeared or changed since planning and now needs \"{}\", which the plan does not have",
                d.name,
                d.object_id,
                d.action.describe()
            ),
            DriftReason::Unplannable(why) => format!("the tenant can no longer be planned: {why}"),
        };
        writeln!(out, "  ~ {what}")?;
        if !d.address.is_empty() {
            writeln!(out, "    {}", d.address)?;
        }
        if d.planned.is_empty() && d.live.is_empty() {
            continue;
        }
        let planned = field_lines(&d.planned);
        let live = field_lines(&d.live);
        writeln!(out, "    --- planned")?;
        writeln!(out, "    +++ live")?;
        let diff = TextDiff::from_lines(&planned, &live);
        for change in diff.iter_all_changes() {
            let sign = match change.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            write!(out, "    {sign} {change}")?;
            if change.missing_newline() {
                writeln!(out)?;
            }
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} object(s) drifted. Plan again (`closeout plan ... -o FILE`), review the new plan, and apply that.",
        drift.len()
    )?;
    Ok(())
}

/// Writes the final report of an apply for a person.
/// `checklist` is the tenant-deletion pre-flight checklist read after the apply, when the
/// tenant deletion is still to do; the admin center path is shown only once it passes.
pub fn render_report_text(
    plan: &Plan,
    report: &ApplyReport,
    checklist: Option<&[Check]>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "Apply {}: {} done, {} already done, {} manual verified, {} failed, {} skipped, {} manual pending{}.",
        if report.interrupted { "interrupted" } else { "finished" },
        report.done(),
        report.already_done(),
        report.verified(),
        report.failed(),
        report.skipped(),
        report.pending(),
        if report.interrupted_count() > 0 {
            format!(", {} interrupted", report.interrupted_count())
        } else {
            String::new()
        }
    )?;
    if !report.done_earlier.is_empty() {
        writeln!(
            out,
            "Resumed: {} action(s) done by an earlier run of this plan were verified against the tenant and skipped.",
            report.done_earlier.len()
        )?;
    }
    if !report.was_uncertain.is_empty() {
        writeln!(
            out,
            "{} action(s) an earlier run left uncertain were checked against the tenant first.",
            report.was_uncertain.len()
        )?;
    }
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|(a, o)| match o {
            Outcome::Failed(f) => Some((a, f)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        writeln!(out, "\nFailed:")?;
        for (a, f) in failed {
            writeln!(out, "  {a}")?;
            if f.code.is_some() || f.request_id.is_some() {
                writeln!(
                    out,
                    "      Graph code {}, request-id {}",
                    f.code.as_deref().unwrap_or("none"),
                    f.request_id.as_deref().unwrap_or("none")
                )?;
            }
            for line in f.message.lines() {
                writeln!(out, "      {line}")?;
            }
        }
    }
    let mut skipped_by: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, o) in &report.outcomes {
        if let Outcome::Skipped { because } = o {
            *skipped_by.entry(because.as_str()).or_default() += 1;
        }
    }
    if !skipped_by.is_empty() {
        writeln!(
            out,
            "\nSkipped (they depend on an action that did not succeed):"
        )?;
        for (cause, n) in skipped_by {
            writeln!(out, "  {n} action(s) because of {cause}")?;
        }
    }
    let waiting: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|(a, o)| match o {
            Outcome::Pending(why) => plan
                .action(a)
                .filter(|a| !a.kind.is_manual())
                .map(|a| (a, why)),
            _ => None,
        })
        .collect();
    if !waiting.is_empty() {
        writeln!(out, "\nWaiting on Microsoft (apply again later):")?;
        for (a, why) in waiting {
            writeln!(out, "  {} {}: {why}", a.kind.describe(), a.name)?;
        }
    }
    // Manual actions not verified yet: pending ones, and those still waiting for their
    // prerequisites (the tenant deletion, a subscription's deletion after its cancellation).
    let pending: Vec<_> = report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Pending(_) | Outcome::Skipped { .. }))
        .filter_map(|(a, _)| plan.action(a))
        .filter(|a| a.kind.is_manual())
        .collect();
    let blocked = checklist.is_some_and(|c| c.iter().any(|c| !c.passed));
    if !pending.is_empty() {
        writeln!(
            out,
            "\nManual actions pending (do them, then run `closeout apply` on the same plan again; closeout verifies them by reading the tenant):"
        )?;
        for a in pending {
            writeln!(
                out,
                "  [ ] {} {} (id {})",
                a.kind.describe(),
                a.name,
                a.object_id
            )?;
            if a.kind == crate::plan::ActionKind::DeleteTenant && blocked {
                writeln!(
                    out,
                    "      blocked: the pre-flight checklist below fails; the admin center path is shown once it passes"
                )?;
            } else if let Some(i) = &a.instructions {
                writeln!(out, "      where: {i}")?;
            }
            for w in &a.warnings {
                writeln!(out, "      warning: {w}")?;
            }
        }
    }
    if let Some(checks) = checklist {
        writeln!(
            out,
            "\nPre-flight checklist for deleting the tenant (read just now):"
        )?;
        for c in checks {
            writeln!(
                out,
                "  [{}] {}: {}",
                if c.passed { "pass" } else { "FAIL" },
                c.name,
                c.requirement
            )?;
            for b in &c.blocking {
                writeln!(out, "        blocking: {b}")?;
            }
            if c.more > 0 {
                writeln!(out, "        ... and {} more", c.more)?;
            }
        }
    }
    if report.interrupted {
        let started = report
            .outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Interrupted { started: true })
            .count();
        writeln!(
            out,
            "\nInterrupted: {started} action(s) were in flight (uncertain: checked against the tenant on resume), the rest did not start.\nResume with the same command: `closeout apply` on the same plan."
        )?;
    }
    if report.outcomes.iter().any(|(a, o)| {
        *o == Outcome::Verified
            && plan
                .action(a)
                .is_some_and(|x| x.kind == crate::plan::ActionKind::DeleteTenant)
    }) {
        writeln!(out, "\nThe tenant is gone. Closure complete.")?;
    }
    Ok(())
}

fn tenant_json(plan: &Plan) -> Value {
    json!({
        "id": plan.tenant.id,
        "display_name": plan.tenant.display_name,
        "initial_domain": plan.tenant.initial_domain,
    })
}

/// The apply report (and any drift) as one JSON document; see the module docs for the shape.
pub fn report_json(
    plan: &Plan,
    report: Option<&ApplyReport>,
    drift: &[Drift],
    result: &str,
    exit_code: i32,
) -> Value {
    let mut actions = Vec::new();
    let mut counts: BTreeMap<&str, usize> = [
        "done",
        "already_done",
        "verified",
        "failed",
        "skipped",
        "pending",
        "interrupted",
    ]
    .into_iter()
    .map(|k| (k, 0))
    .collect();
    let empty = BTreeSet::new();
    let earlier = report.map_or(&empty, |r| &r.done_earlier);
    let by_address: std::collections::HashMap<&str, &crate::plan::Action> = plan
        .actions
        .iter()
        .map(|a| (a.address.as_str(), a))
        .collect();
    for (address, o) in report.map(|r| r.outcomes.as_slice()).unwrap_or(&[]) {
        *counts.entry(o.name()).or_default() += 1;
        let a = by_address.get(address.as_str()).copied();
        let mut entry = json!({
            "address": address,
            "action": a.map(|a| a.kind.as_str()),
            "name": a.map(|a| a.name.as_str()),
            "outcome": o.name(),
        });
        let m = entry.as_object_mut().expect("object");
        if earlier.contains(address) {
            m.insert("done_in_earlier_run".into(), json!(true));
        }
        match o {
            Outcome::Failed(f) => {
                m.insert(
                    "error".into(),
                    json!({"message": f.message, "code": f.code, "request_id": f.request_id}),
                );
            }
            Outcome::Skipped { because } => {
                m.insert("skipped_because".into(), json!(because));
            }
            Outcome::Pending(why) => {
                m.insert("pending".into(), json!(why));
                if let Some(i) = a.and_then(|a| a.instructions.as_ref()) {
                    m.insert("instructions".into(), json!(i));
                }
            }
            Outcome::Interrupted { started } => {
                m.insert("uncertain".into(), json!(started));
            }
            _ => {}
        }
        actions.push(entry);
    }
    json!({
        "report": "closeout-apply/1",
        "plan_id": plan.plan_id,
        "tenant": tenant_json(plan),
        "result": result,
        "exit_code": exit_code,
        "counts": {
            "done": counts["done"],
            "already_done": counts["already_done"],
            "verified": counts["verified"],
            "failed": counts["failed"],
            "skipped": counts["skipped"],
            "pending": counts["pending"],
            "interrupted": counts["interrupted"],
            "done_in_earlier_run": earlier.len(),
        },
        "actions": actions,
        "drift": serde_json::to_value(drift).unwrap_or(Value::Null),
    })
}
