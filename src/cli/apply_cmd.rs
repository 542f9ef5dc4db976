//! `closeout apply PLAN`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use super::args::ApplyArgs;
use super::connect::connect;
use super::error::{CliError, ExitCode};
use crate::apply::{self, tenant_gone, ApplyOptions, ApplyProgress, ApplyReport, Outcome};
use crate::graph::read_tenant;
use crate::plan::{Check, Plan};
use crate::planfile;
use crate::planner::preflight;

/// Prints one line per finished action.
struct LinePrinter;

impl ApplyProgress for LinePrinter {
    fn finished(&self, address: &str, outcome: &Outcome) {
        let what = match outcome {
            Outcome::Done => "done".to_string(),
            Outcome::AlreadyDone => "already done".to_string(),
            Outcome::Verified => "verified".to_string(),
            Outcome::Pending(why) => format!("waiting on a person ({why})"),
            Outcome::Failed(e) => format!("FAILED: {e}"),
            Outcome::Skipped { because } => format!("skipped (because of {because})"),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{address}: {what}");
    }
}

fn confirm(plan: &Plan) -> Result<(), CliError> {
    let domain = &plan.tenant.initial_domain;
    if !std::io::stdin().is_terminal() {
        return Err(CliError::msg(format!(
            "apply needs confirmation: run it in a terminal and type the tenant's initial domain ({domain}), or pass --auto-approve"
        )));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\ncloseout will apply {} actions to tenant {} ({}). Deleted objects cannot be restored.\n\
         Type the tenant's initial domain ({domain}) to confirm: ",
        plan.actions.len(),
        plan.tenant.display_name,
        plan.tenant.id
    );
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::msg(format!("cannot read the confirmation: {e}")))?;
    if !line.trim().eq_ignore_ascii_case(domain) {
        return Err(CliError::msg(format!(
            "apply cancelled: '{}' is not the tenant's initial domain ({domain})",
            line.trim()
        )));
    }
    Ok(())
}

pub async fn run(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let plan = planfile::read(&args.plan)?;
    let mut conn = connect(&args.target).await?;
    let result = run_connected(&args, &plan, &mut conn).await;
    conn.close().await;
    result
}

async fn run_connected(
    args: &ApplyArgs,
    plan: &Plan,
    conn: &mut super::connect::Connection,
) -> Result<ExitCode, CliError> {
    let keep: Vec<String> = plan.keep.iter().map(|k| k.id.clone()).collect();
    let started = std::time::Instant::now();
    let mut confirmed = args.auto_approve || conn.simulated;
    loop {
        let live = match read_tenant(&conn.client, &keep, &()).await {
            Ok(s) => s,
            Err(e) if tenant_gone(&e) => {
                println!(
                    "Tenant {} ({}) no longer exists: Graph answers {}.\nClosure complete.",
                    plan.tenant.display_name,
                    plan.tenant.initial_domain,
                    e.code().unwrap_or("an error")
                );
                return Ok(ExitCode::Ok);
            }
            Err(e) => return Err(e.into()),
        };
        apply::check_tenant(plan, &live)?;
        if !confirmed {
            confirm(plan)?;
            confirmed = true;
        }
        let options = ApplyOptions {
            parallelism: args.parallelism.max(1),
        };
        let report = apply::apply(&conn.client, plan, live, options, Arc::new(LinePrinter)).await?;
        let tenant_pending = report.outcomes.iter().any(|(a, o)| {
            matches!(o, Outcome::Pending(_) | Outcome::Skipped { .. })
                && plan
                    .action(a)
                    .is_some_and(|x| x.kind == crate::plan::ActionKind::DeleteTenant)
        });
        let checklist = if tenant_pending {
            match read_tenant(&conn.client, &keep, &()).await {
                Ok(now) => Some(preflight(&now, &keep)),
                Err(e) if tenant_gone(&e) => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        print_report(plan, &report, checklist.as_deref());
        if report.failed() > 0 {
            return Ok(ExitCode::Error);
        }
        if report.pending() == 0 && report.skipped() == 0 {
            return Ok(ExitCode::Ok);
        }
        let timed_out = args
            .timeout
            .is_some_and(|t| started.elapsed() + args.poll_interval > t);
        if !args.wait || timed_out {
            if args.wait {
                println!(
                    "\nGave up waiting after {}.",
                    humantime::format_duration(started.elapsed())
                );
            }
            return Ok(ExitCode::WaitingOnManual);
        }
        println!(
            "\nWaiting for the manual actions; reading the tenant again in {} (Ctrl-C to stop)...",
            humantime::format_duration(args.poll_interval)
        );
        tokio::time::sleep(args.poll_interval).await;
        conn.refresh(&args.target).await?;
    }
}

fn print_report(plan: &Plan, report: &ApplyReport, checklist: Option<&[Check]>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nApply finished: {} done, {} already done, {} manual verified, {} failed, {} skipped, {} manual pending.",
        report.done(),
        report.already_done(),
        report.verified(),
        report.failed(),
        report.skipped(),
        report.pending()
    );
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|(a, o)| match o {
            Outcome::Failed(e) => Some((a, e)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nFailed:");
        for (a, e) in failed {
            let _ = writeln!(out, "  {a}: {e}");
        }
    }
    let pending: Vec<_> = report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Pending(_) | Outcome::Skipped { .. }))
        .filter_map(|(a, _)| plan.action(a))
        .filter(|a| a.kind.is_manual())
        .collect();
    if !pending.is_empty() {
        let _ = writeln!(
            out,
            "\nManual actions pending (do them, then run `closeout apply` on the same plan again; closeout verifies them by reading the tenant):"
        );
        let blocked = checklist.is_some_and(|c| c.iter().any(|c| !c.passed));
        for a in pending {
            let _ = writeln!(out, "  [ ] {} {}", a.kind.describe(), a.name);
            if a.kind == crate::plan::ActionKind::DeleteTenant && blocked {
                let _ = writeln!(
                    out,
                    "      blocked: the pre-flight checklist below fails; the admin center path is shown once it passes"
                );
            } else if let Some(i) = &a.instructions {
                let _ = writeln!(out, "      where: {i}");
            }
            for w in &a.warnings {
                let _ = writeln!(out, "      warning: {w}");
            }
        }
    }
    if let Some(checks) = checklist {
        let _ = writeln!(
            out,
            "\nPre-flight checklist for deleting the tenant (read just now):"
        );
        for c in checks {
            let _ = writeln!(
                out,
                "  [{}] {}: {}",
                if c.passed { "pass" } else { "FAIL" },
                c.name,
                c.requirement
            );
            for b in &c.blocking {
                let _ = writeln!(out, "        blocking: {b}");
            }
            if c.more > 0 {
                let _ = writeln!(out, "        ... and {} more", c.more);
            }
        }
    }
    if report.outcomes.iter().any(|(a, o)| {
        *o == Outcome::Verified
            && plan
                .action(a)
                .is_some_and(|x| x.kind == crate::plan::ActionKind::DeleteTenant)
    }) {
        let _ = writeln!(out, "\nThe tenant is gone. Closure complete.");
    }
}
