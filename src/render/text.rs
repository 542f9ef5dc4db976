//! The human text view of a plan: per step, per object, Terraform-like symbols.

use std::io::{self, Write};

use crate::plan::{Action, ActionKind, Plan, Step};

/// Options of the text view.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// Show every action; otherwise at most `limit` per step and a count of the rest.
    pub full: bool,
    pub limit: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            full: false,
            limit: 25,
        }
    }
}

/// Writes the plan for a person.
pub fn render_plan_text(plan: &Plan, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "Tenant: {} ({}, {})",
        plan.tenant.display_name, plan.tenant.initial_domain, plan.tenant.id
    )?;
    let kept: Vec<String> = plan
        .keep
        .iter()
        .map(|k| {
            if k.roles.is_empty() {
                k.user_principal_name.clone()
            } else {
                format!("{} [{}]", k.user_principal_name, k.roles.join(", "))
            }
        })
        .collect();
    writeln!(out, "Kept:   {}", kept.join(", "))?;
    writeln!(out)?;
    if plan.actions.is_empty() {
        writeln!(out, "{}", plan.summary().line())?;
        return Ok(());
    }
    writeln!(
        out,
        "Symbols: - delete   ~ change   ! manual (done by a person, verified by closeout)"
    )?;
    for step in Step::ALL {
        let actions: Vec<&Action> = plan.actions.iter().filter(|a| a.step() == step).collect();
        writeln!(out)?;
        writeln!(out, "Step {}: {}", step.number(), step.title())?;
        if actions.is_empty() {
            writeln!(out, "  (nothing to do)")?;
            continue;
        }
        let shown = if opts.full {
            actions.len()
        } else {
            actions.len().min(opts.limit)
        };
        let checklist_passes = plan.preflight.iter().all(|c| c.passed);
        for a in &actions[..shown] {
            write_action(a, checklist_passes, out)?;
        }
        if shown < actions.len() {
            writeln!(
                out,
                "  ... and {} more (use --full to list all)",
                actions.len() - shown
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Pre-flight checklist for deleting the tenant (as read now):"
    )?;
    for c in &plan.preflight {
        let mark = if c.passed { "pass" } else { "FAIL" };
        let n = c.blocking.len();
        if c.passed {
            writeln!(out, "  [{mark}] {}: {}", c.name, c.requirement)?;
        } else {
            writeln!(
                out,
                "  [{mark}] {}: {} (this plan removes what it can)",
                c.name, c.requirement
            )?;
            let show = if opts.full { n } else { n.min(5) };
            for b in &c.blocking[..show] {
                writeln!(out, "        {b}")?;
            }
            if show < n || c.more > 0 {
                writeln!(out, "        ... and {} more", n - show + c.more)?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", plan.summary().line())?;
    Ok(())
}

fn write_action(a: &Action, checklist_passes: bool, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "  {} {} {}",
        a.kind.symbol(),
        a.kind.describe(),
        a.name
    )?;
    for w in &a.warnings {
        writeln!(out, "      warning: {w}")?;
    }
    match &a.instructions {
        Some(_) if a.kind == ActionKind::DeleteTenant && !checklist_passes => writeln!(
            out,
            "      how: once every line of the pre-flight checklist below passes, `closeout apply` shows where to delete the tenant"
        )?,
        Some(i) => writeln!(out, "      how: {i}")?,
        None => {}
    }
    Ok(())
}
