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
//!              "interrupted", "done_in_earlier_run",
//!              "waiting" (of the skipped: those waiting for a pending action)},
//!   "actions": [{"address", "action", "name", "outcome",
//!                "done_in_earlier_run"?: true, "error"?: {"message", "code", "request_id"},
//!                "skipped_because"?: "<address of the failed or pending action>",
//!                "waits_for"?: "<address of the pending action a skipped one waits for>",
//!                "pending"?: "<why>", "instructions"?: "<where a person does it>",
//!                "uncertain"?: true}],
//!   "drift": [{"address", "action", "object_id", "name",
//!              "reason": {"kind": "changed" | "gone" | "not_in_plan" | "unplannable", "detail"?},
//!              "planned": {…}, "live": {…}}],
//!   "preflight"?: [{"name", "passed", "requirement", "blocking", "more"?, "not_checked"?,
//!                   "informational"?}] (the checklist read after the run, when it was) }
//! The tenant deletion's "instructions" appear only when that checklist was read and
//! none of its lines blocks (`plan::deletion_path_open`).
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{json, Value};
use similar::{ChangeTag, TextDiff};

use super::safe::{safe, Safe};
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
        Safe(&plan.tenant.display_name),
        Safe(&plan.tenant.initial_domain),
        Safe(&plan.plan_id),
        Safe(&plan.created_at)
    )?;
    writeln!(out)?;
    for d in drift {
        let what = match &d.reason {
            DriftReason::Changed => format!("{} {}: changed since planning", d.action.describe(), Safe(&d.name)),
            DriftReason::Gone => format!("{} {}: the object is gone", d.action.describe(), Safe(&d.name)),
            DriftReason::NotInPlan => format!(
                "{} ({}): appeared or changed since planning and now needs \"{}\", which the plan does not have",
                Safe(&d.name),
                Safe(&d.object_id),
                d.action.describe()
            ),
            DriftReason::Unplannable(why) => format!("the tenant can no longer be planned: {}", Safe(why)),
        };
        writeln!(out, "  ~ {what}")?;
        if !d.address.is_empty() {
            writeln!(out, "    {}", Safe(&d.address))?;
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
            write!(
                out,
                "    {sign} {}",
                safe(change.value().trim_end_matches('\n'))
            )?;
            writeln!(out)?;
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

/// Whether an action skipped `because` of `because` is pending rather than failed: its
/// cause (the root the applier names) waits on a person or on Microsoft.
pub fn waits_on_pending(report: &ApplyReport, because: &str) -> bool {
    report
        .outcomes
        .iter()
        .any(|(a, o)| a == because && matches!(o, Outcome::Pending(_)))
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
    let waiting: Vec<bool> = report
        .outcomes
        .iter()
        .map(
            |(_, o)| matches!(o, Outcome::Skipped { because } if waits_on_pending(report, because)),
        )
        .collect();
    let waiting_n = waiting.iter().filter(|w| **w).count();
    writeln!(
        out,
        "Apply {}: {} done, {} already done, {} manual verified, {} failed, {} skipped after a failure, {} pending{}.",
        if report.interrupted { "interrupted" } else { "finished" },
        report.done(),
        report.already_done(),
        report.verified(),
        report.failed(),
        report.skipped() - waiting_n,
        report.pending() + waiting_n,
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
            writeln!(out, "  {}", Safe(a))?;
            if f.code.is_some() || f.request_id.is_some() {
                writeln!(
                    out,
                    "      Graph code {}, request-id {}",
                    Safe(f.code.as_deref().unwrap_or("none")),
                    Safe(f.request_id.as_deref().unwrap_or("none"))
                )?;
            }
            for line in f.message.lines() {
                writeln!(out, "      {}", Safe(line))?;
            }
        }
    }
    let mut skipped_by: BTreeMap<&str, usize> = BTreeMap::new();
    let mut waits_by: BTreeMap<&str, usize> = BTreeMap::new();
    for ((a, o), w) in report.outcomes.iter().zip(&waiting) {
        if let Outcome::Skipped { because } = o {
            if !*w {
                *skipped_by.entry(because.as_str()).or_default() += 1;
            } else if plan.action(a).is_some_and(|a| !a.is_manual()) {
                *waits_by.entry(because.as_str()).or_default() += 1;
            }
        }
    }
    if !skipped_by.is_empty() {
        writeln!(out, "\nSkipped (they depend on an action that failed):")?;
        for (cause, n) in skipped_by {
            writeln!(out, "  {n} action(s) because of {}", Safe(cause))?;
        }
    }
    let on_microsoft: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|(a, o)| match o {
            Outcome::Pending(why) => plan.action(a).filter(|a| !a.is_manual()).map(|a| (a, why)),
            _ => None,
        })
        .collect();
    if !on_microsoft.is_empty() {
        writeln!(out, "\nWaiting on Microsoft (apply again later):")?;
        for (a, why) in on_microsoft {
            writeln!(
                out,
                "  {} {}: {}",
                a.kind.describe(),
                Safe(&a.name),
                Safe(why)
            )?;
        }
    }
    if !waits_by.is_empty() {
        writeln!(out, "\nPending (they run once what they wait for is done):")?;
        for (cause, n) in waits_by {
            writeln!(out, "  {n} action(s) wait for {}", Safe(cause))?;
        }
    }
    // Manual actions not verified yet: pending ones, and those still waiting for another
    // manual action (the tenant deletion, a subscription's deletion after its cancellation).
    let pending: Vec<_> = report
        .outcomes
        .iter()
        .zip(&waiting)
        .filter(|((_, o), w)| matches!(o, Outcome::Pending(_)) || **w)
        .filter_map(|((a, o), _)| plan.action(a).map(|a| (a, o)))
        .filter(|(a, _)| a.is_manual())
        .collect();
    // The admin center path only once the checklist read just now opens it.
    let blocked = !crate::plan::deletion_path_open(checklist);
    if !pending.is_empty() {
        writeln!(
            out,
            "\nManual actions pending (do them, then run `closeout apply` on the same plan again; closeout verifies them by reading the tenant):"
        )?;
        for (a, o) in pending {
            writeln!(
                out,
                "  [ ] {} {} (id {})",
                a.kind.describe(),
                Safe(&a.name),
                Safe(&a.object_id)
            )?;
            if let Outcome::Skipped { because } = o {
                writeln!(out, "      pending: waits for {} first", Safe(because))?;
            }
            if a.kind == crate::plan::ActionKind::DeleteTenant && blocked {
                writeln!(
                    out,
                    "      blocked: {}",
                    if checklist.is_some() {
                        "the pre-flight checklist below does not pass (a line failed or is not checked); the admin center path is shown once every line passes"
                    } else {
                        crate::plan::DELETION_PATH_CLOSED
                    }
                )?;
            } else if let Some(i) = &a.instructions {
                writeln!(out, "      where: {}", Safe(i))?;
            }
            for w in &a.warnings {
                writeln!(out, "      warning: {}", Safe(w))?;
            }
        }
    }
    let blockers = plan.closure_blockers();
    if let Some(checks) = checklist {
        writeln!(
            out,
            "\nPre-flight checklist for deleting the tenant (read just now):"
        )?;
        for c in checks {
            writeln!(
                out,
                "  [{}] {}: {}",
                match (&c.not_checked, c.informational, c.passed) {
                    (Some(_), _, _) => "not checked",
                    (None, true, _) => "info",
                    (None, false, true) => "pass",
                    (None, false, false) => "FAIL",
                },
                Safe(&c.name),
                Safe(&c.requirement)
            )?;
            if let Some(why) = &c.not_checked {
                writeln!(out, "        not checked: {}", Safe(why))?;
            }
            for b in &c.blocking {
                writeln!(out, "        blocking: {}", Safe(b))?;
            }
            if let Some(b) = (!c.passed)
                .then(|| blockers.iter().find(|b| b.check == c.name))
                .flatten()
            {
                writeln!(out, "        this plan leaves them: {}", b.why)?;
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

/// The review shown before apply asks for confirmation, as Terraform shows the plan before
/// `yes`: the tenant, per step how many actions there are and how many are still to do,
/// the kept users, the data at risk, and what confirming does. `to_do[i]` says whether
/// `plan.actions[i]` is still to do (the drift check's verdict).
pub fn render_confirmation(plan: &Plan, to_do: &[bool], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "\nPlan {} for tenant {} ({}, {}), made {}:",
        Safe(&plan.plan_id),
        Safe(&plan.tenant.display_name),
        Safe(&plan.tenant.initial_domain),
        Safe(&plan.tenant.id),
        Safe(&plan.created_at)
    )?;
    for step in crate::plan::Step::ALL {
        let mut kinds: BTreeMap<crate::plan::ActionKind, (usize, usize)> = BTreeMap::new();
        for (i, a) in plan.actions.iter().enumerate() {
            if a.step() == step {
                let e = kinds.entry(a.kind).or_default();
                e.0 += 1;
                if to_do.get(i).copied().unwrap_or(true) {
                    e.1 += 1;
                }
            }
        }
        let total: usize = kinds.values().map(|k| k.0).sum();
        let open: usize = kinds.values().map(|k| k.1).sum();
        let detail: Vec<String> = kinds
            .iter()
            .map(|(k, (n, _))| format!("{n} {}", k.describe()))
            .collect();
        let what = if total == 0 {
            "nothing to do".to_string()
        } else if open == total {
            detail.join(", ")
        } else {
            format!("{} ({open} of {total} still to do)", detail.join(", "))
        };
        writeln!(out, "  step {} {:<34} {what}", step.number(), step.title())?;
    }
    let kept: Vec<String> = plan
        .keep
        .iter()
        .map(|k| {
            if k.roles.is_empty() {
                Safe(&k.user_principal_name).to_string()
            } else {
                format!(
                    "{} ({})",
                    Safe(&k.user_principal_name),
                    Safe(&k.roles.join(", "))
                )
            }
        })
        .collect();
    writeln!(out, "Kept: {}", kept.join(", "))?;
    let risk = plan.data_at_risk();
    if !risk.is_empty() {
        writeln!(out, "Data at risk:")?;
        for line in risk {
            writeln!(out, "  {line}")?;
        }
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
/// The tenant deletion's instructions are withheld (no checklist was read here); see
/// [`report_json_with_checklist`].
pub fn report_json(
    plan: &Plan,
    report: Option<&ApplyReport>,
    drift: &[Drift],
    result: &str,
    exit_code: i32,
) -> Value {
    report_json_with_checklist(plan, report, drift, result, exit_code, None)
}

/// [`report_json`] with the pre-flight checklist read after the run (`None`: not read):
/// it is the document's `preflight` (`[{"name", "passed", "requirement", "blocking",
/// "more"?, "not_checked"?, "informational"?}]`), and the tenant deletion's instructions
/// are its own only when [`crate::plan::deletion_path_open`] says so.
pub fn report_json_with_checklist(
    plan: &Plan,
    report: Option<&ApplyReport>,
    drift: &[Drift],
    result: &str,
    exit_code: i32,
    checklist: Option<&[Check]>,
) -> Value {
    let open = crate::plan::deletion_path_open(checklist);
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
                if report.is_some_and(|r| waits_on_pending(r, because)) {
                    // Waiting for a pending action, not broken by a failure.
                    m.insert("waits_for".into(), json!(because));
                }
            }
            Outcome::Pending(why) => {
                m.insert("pending".into(), json!(why));
                if let Some(i) = a.and_then(|a| crate::plan::shown_instructions(a, open)) {
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
    // Skipped actions that wait for a pending one (not broken by a failure): counted apart.
    let waiting = actions
        .iter()
        .filter(|a| a.get("waits_for").is_some())
        .count();
    let mut doc = json!({
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
            "waiting": waiting,
        },
        "actions": actions,
        "drift": serde_json::to_value(drift).unwrap_or(Value::Null),
    });
    if let (Some(c), Some(m)) = (checklist, doc.as_object_mut()) {
        m.insert(
            "preflight".into(),
            serde_json::to_value(c).unwrap_or(Value::Null),
        );
    }
    doc
}
