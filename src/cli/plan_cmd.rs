//! `closeout plan`, `closeout show`, `closeout graph`.

use std::io::Write;

use super::args::{PlanArgs, ShowArgs};
use super::connect::connect;
use super::error::{CliError, ExitCode};
use crate::graph::read_tenant;
use crate::planfile;
use crate::planner::{self, ActionGraph};
use crate::render::{render_plan_text, TextOptions};
use crate::specfile;

/// The current time as RFC 3339 UTC, seconds precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub async fn run(args: PlanArgs) -> Result<ExitCode, CliError> {
    let loaded = args.spec.as_deref().map(specfile::read).transpose()?;
    let mut spec = loaded.as_ref().map(|l| l.spec.clone()).unwrap_or_default();
    spec.keep.extend(args.keep.iter().cloned());
    let conn = connect(&args.target).await?;
    let state = read_tenant(&conn.client, &spec.keep, &()).await;
    conn.close().await;
    let state = state?;
    if let Some(l) = &loaded {
        if args.keep.is_empty() {
            l.validate(&state)?;
        } else {
            // --keep adds users; the spec's own entries must still exist.
            let mut merged = l.clone();
            merged.spec.keep = spec.keep.clone();
            merged.validate(&state)?;
        }
    }
    let mut plan = planner::plan(&state, &spec, String::new(), now_rfc3339())?;
    plan.plan_id = planfile::plan_id_for(&plan);
    let mut out = std::io::stdout().lock();
    let opts = TextOptions {
        full: args.full,
        ..TextOptions::default()
    };
    render_plan_text(&plan, opts, &mut out).map_err(|e| CliError::msg(e.to_string()))?;
    if let Some(path) = &args.out {
        planfile::write(path, &plan)?;
        let _ = writeln!(
            out,
            "\nSaved the plan to {}. Review it, then apply exactly it with:\n  closeout apply {}",
            path.display(),
            path.display()
        );
    }
    let has_changes = !plan.actions.is_empty();
    Ok(if args.detailed_exitcode && has_changes {
        ExitCode::Changes
    } else {
        ExitCode::Ok
    })
}

pub fn show(args: ShowArgs) -> Result<ExitCode, CliError> {
    let plan = planfile::read(&args.plan)?;
    let mut out = std::io::stdout().lock();
    let opts = TextOptions {
        full: args.full,
        ..TextOptions::default()
    };
    render_plan_text(&plan, opts, &mut out).map_err(|e| CliError::msg(e.to_string()))?;
    Ok(ExitCode::Ok)
}

pub fn graph(args: ShowArgs) -> Result<ExitCode, CliError> {
    let plan = planfile::read(&args.plan)?;
    let g = ActionGraph::build(&plan.actions).map_err(|e| CliError::msg(e.to_string()))?;
    print!("{}", g.to_dot(&plan.actions));
    Ok(ExitCode::Ok)
}
