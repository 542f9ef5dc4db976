//! `closeout apply PLAN`: lock, read, drift check, confirm, journaled apply, report.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::args::{ApplyArgs, ReportFormat};
use super::connect::{connect, state_dir, Connection};
use super::error::{CliError, ExitCode};
use crate::apply::{
    self, drift, journal, lock, tenant_gone, ApplyContext, ApplyOptions, ApplyProgress,
    ApplyReport, Journal, LiveState, Outcome, Record,
};
use crate::graph::{read_tenant, GraphClient, GraphError};
use crate::plan::Plan;
use crate::planfile;
use crate::planner::preflight;
use crate::render::{
    render_confirmation, render_drift_text, render_report_text, report_json, safe_lines, Safe,
};

/// Prints one line per finished action (stdout for text, stderr under `--format json`).
struct LinePrinter {
    json: bool,
    /// `describe name` of each action by address, so lines read like the plan.
    names: std::collections::HashMap<String, String>,
    /// Actions reported pending so far: an action skipped because of one waits, it did not
    /// fail.
    pending: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl LinePrinter {
    fn new(plan: &Plan, json: bool) -> LinePrinter {
        LinePrinter {
            json,
            names: plan
                .actions
                .iter()
                .map(|a| {
                    (
                        a.address.to_string(),
                        format!("{} {}", a.kind.describe(), a.name),
                    )
                })
                .collect(),
            pending: Default::default(),
        }
    }
}

impl ApplyProgress for LinePrinter {
    fn finished(&self, address: &str, outcome: &Outcome) {
        // Actions an interruption kept from starting are counted in the report, not listed.
        if *outcome == (Outcome::Interrupted { started: false }) {
            return;
        }
        if matches!(outcome, Outcome::Pending(_)) {
            if let Ok(mut p) = self.pending.lock() {
                p.insert(address.to_string());
            }
        }
        let what = match outcome {
            Outcome::Done => "done".to_string(),
            Outcome::AlreadyDone => "already done".to_string(),
            Outcome::Verified => "verified".to_string(),
            Outcome::Pending(why) => format!("waiting on a person ({why})"),
            Outcome::Failed(e) => format!("FAILED: {e}"),
            Outcome::Skipped { because }
                if self
                    .pending
                    .lock()
                    .is_ok_and(|p| p.contains(because.as_str())) =>
            {
                format!("pending (waits for {because})")
            }
            Outcome::Skipped { because } => format!("skipped (because of {because})"),
            Outcome::Interrupted { started: true } => {
                "interrupted in flight (uncertain, checked on resume)".to_string()
            }
            Outcome::Interrupted { started: false } => "not started (interrupted)".to_string(),
        };
        let line = match self.names.get(address) {
            Some(name) => format!("{name} [{address}]: {what}"),
            None => format!("{address}: {what}"),
        };
        // The line carries tenant text (names, Graph's messages): neutralised for the terminal.
        let line = safe_lines(&line);
        if self.json {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

/// Asks for the tenant's initial domain on the terminal. Reads on its own thread so Ctrl-C
/// (which cancels `cancel`) still ends the wait.
/// The plan's data totals in words, or why they are unknown.
fn data_totals(plan: &Plan) -> String {
    plan.data.as_ref().map_or_else(
        || {
            "not checked: the plan was made before closeout read Microsoft 365's usage reports"
                .to_string()
        },
        crate::plan::DataReport::totals_line,
    )
}

/// Why `--auto-approve` does not delete users of a plan whose data is not declared backed up.
fn backup_refusal(plan: &Plan) -> String {
    format!(
        "apply refuses to delete users without a confirmed backup: this plan's data at risk is {},          and the closure spec does not say data: {{backup_confirmed: true}}. Back up the mailboxes,          OneDrive and SharePoint sites that must be kept, then set data: {{backup_confirmed: true}}          in the closure spec and plan again (the plan records it for the reviewers), or run apply          in a terminal without --auto-approve to confirm it there. Nothing was changed.",
        data_totals(plan)
    )
}

/// Whether this apply rehearses against a simulated tenant (`--simulate`).
fn conn_simulated(args: &ApplyArgs) -> bool {
    args.target.simulate.is_some()
}

/// The second question after the initial domain: the data is backed up.
const BACKUP_ANSWER: &str = "backed up";

/// Reads one line from the terminal on its own thread (Ctrl-C still ends the wait).
async fn read_answer(cancel: &CancellationToken) -> Result<String, CliError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    tokio::select! {
        r = rx => Ok(r
            .map_err(|_| CliError::msg("cannot read the confirmation"))?
            .map_err(|e| CliError::msg(format!("cannot read the confirmation: {e}")))?),
        () = cancel.cancelled() => Err(CliError::Interrupted("apply cancelled before it changed anything".into())),
    }
}

async fn confirm(
    plan: &Plan,
    to_do: &[bool],
    to_write: usize,
    ask_backup: bool,
    cancel: &CancellationToken,
) -> Result<(), CliError> {
    let domain = plan.tenant.initial_domain.clone();
    // The review comes first, terminal or not: what would have been confirmed is on record.
    {
        let mut err = std::io::stderr().lock();
        let _ = render_confirmation(plan, to_do, &mut err);
        let _ = err.flush();
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::msg(format!(
            "apply needs confirmation: run it in a terminal and type the tenant's initial domain ({}), or pass --auto-approve",
            Safe(&domain)
        )));
    }
    {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\ncloseout will apply {to_write} action(s) of plan {} to tenant {} ({}). Deleted objects cannot be restored.\n\
             Type the tenant's initial domain ({}) to confirm: ",
            Safe(&plan.plan_id),
            Safe(&plan.tenant.display_name),
            Safe(&plan.tenant.id),
            Safe(&domain)
        );
        let _ = err.flush();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = std::io::stdin().read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    let line = tokio::select! {
        r = rx => r
            .map_err(|_| CliError::msg("cannot read the confirmation"))?
            .map_err(|e| CliError::msg(format!("cannot read the confirmation: {e}")))?,
        () = cancel.cancelled() => return Err(CliError::Interrupted("apply cancelled before it changed anything".into())),
    };
    if !line.trim().eq_ignore_ascii_case(&domain) {
        return Err(CliError::msg(format!(
            "apply cancelled: '{}' is not the tenant's initial domain ({}); nothing was changed",
            Safe(line.trim()),
            Safe(&domain)
        )));
    }
    if ask_backup {
        {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\nDeleting the users of this plan destroys their mailboxes and OneDrive files; data at risk: {}.\n\
                 Type '{BACKUP_ANSWER}' to confirm that what must be kept is backed up: ",
                data_totals(plan)
            );
            let _ = err.flush();
        }
        let answer = read_answer(cancel).await?;
        if !answer.trim().eq_ignore_ascii_case(BACKUP_ANSWER) {
            return Err(CliError::msg(format!(
                "apply cancelled: the backup was not confirmed (expected '{BACKUP_ANSWER}'); nothing was changed. \
                 Or declare it in the closure spec: data: {{backup_confirmed: true}}"
            )));
        }
    }
    Ok(())
}

/// The signal that interrupted this apply (0: none; else its number), for the exit code.
static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The exit code of an interruption by `signal`: 128 + its number, as a shell reports a
/// process the signal ended (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
fn interrupted_code(signal: i32) -> ExitCode {
    match signal {
        15 => ExitCode::Terminated,
        1 => ExitCode::HungUp,
        _ => ExitCode::Interrupted,
    }
}

/// Ctrl-C, SIGTERM and SIGHUP: the signals `kill`, `timeout`, `docker stop`, systemd, CI
/// runners and a closing terminal send. Registered before it returns, so a signal that
/// comes right after is never the default (immediate) death.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn register() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // Registering fails only outside a runtime: then the default action stays.
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next signal's number (2 for Ctrl-C).
    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_ok() { 2 } else { std::future::pending().await },
                Some(_) = recv(&mut self.term) => 15,
                Some(_) = recv(&mut self.hup) => 1,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => 2,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

#[cfg(unix)]
async fn recv(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

fn signal_name(n: i32) -> &'static str {
    match n {
        15 => "SIGTERM",
        1 => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// First signal: cancel (no new actions, waits end). Second: exit at once; the journal is
/// durable line by line, so it stays intact, and the kernel releases the apply lock.
/// Writes ignore errors: after SIGHUP the terminal may be gone.
fn spawn_interrupt_handler(cancel: CancellationToken) {
    let mut signals = Signals::register();
    tokio::spawn(async move {
        let first = signals.next().await;
        SIGNAL.store(first, std::sync::atomic::Ordering::SeqCst);
        let _ = writeln!(
            std::io::stderr(),
            "\nInterrupted ({}): no new actions start; requests in flight get a second to settle, then the journal is saved. A second signal exits at once.",
            signal_name(first)
        );
        cancel.cancel();
        let second = signals.next().await;
        let _ = writeln!(
            std::io::stderr(),
            "Interrupted again ({}): exiting now. The journal is intact; apply the same plan again to resume.",
            signal_name(second)
        );
        std::process::exit(interrupted_code(first) as i32);
    });
}

pub async fn run(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let json = args.format == ReportFormat::Json;
    let result = run_locked(args).await;
    // An interruption exits with the code of the signal that caused it.
    let signal = SIGNAL.load(std::sync::atomic::Ordering::SeqCst);
    let remap = |c: ExitCode| {
        if c == ExitCode::Interrupted {
            interrupted_code(signal)
        } else {
            c
        }
    };
    if let (true, Err(e)) = (json, &result) {
        // CI reads stdout: an apply that could not start still gives one JSON document.
        let (code, request_id) = match e {
            CliError::Graph(g) => (
                g.code().map(str::to_string),
                g.request_id().map(str::to_string),
            ),
            _ => (None, None),
        };
        print_json(&serde_json::json!({
            "report": "closeout-apply/1",
            "result": if e.code() == ExitCode::StalePlan { "stale_plan" } else { "error" },
            "exit_code": remap(e.code()) as i32,
            "error": {
                "message": e.to_string(),
                "graph_code": code,
                "request_id": request_id,
            },
        }));
    }
    match result {
        Ok(c) => Ok(remap(c)),
        Err(e) if e.code() == ExitCode::Interrupted && remap(e.code()) != e.code() => {
            if !json {
                let _ = writeln!(std::io::stderr(), "Error: {e}");
            }
            Ok(remap(e.code()))
        }
        Err(e) => Err(e),
    }
}

async fn run_locked(args: ApplyArgs) -> Result<ExitCode, CliError> {
    let plan = planfile::read(&args.plan)?;
    let state = state_dir(args.target.state_dir.as_deref())?;
    let cancel = CancellationToken::new();
    spawn_interrupt_handler(cancel.clone());
    let waiting = |holder: Option<&lock::LockHolder>| {
        let _ = writeln!(
            std::io::stderr(),
            "waiting up to {} for the apply lock on this tenant, held by {}...",
            humantime::format_duration(args.lock_timeout),
            holder.map_or_else(|| "another process".to_string(), |h| h.to_string())
        );
    };
    let started_at = apply::now_rfc3339();
    let held = tokio::select! {
        held = lock::acquire(
            &state,
            &plan.tenant.id,
            &plan.plan_id,
            &started_at,
            args.break_lock,
            args.lock_timeout,
            &waiting,
        ) => held.map_err(apply::ApplyError::from)?,
        () = cancel.cancelled() => {
            return Err(CliError::Interrupted("stopped waiting for the apply lock; nothing was changed".into()));
        }
    };
    match &held.previous {
        lock::Previous::None => {}
        lock::Previous::Ended(old) => eprintln!(
            "note: the previous apply of this tenant ({old}) ended without finishing (killed, crashed or rebooted); the kernel released its lock."
        ),
        lock::Previous::Broken(old) => eprintln!(
            "Broke the apply lock recorded by {old} on another host (--break-lock)."
        ),
        lock::Previous::Unreadable(why) => eprintln!(
            "note: the lock file {} held no valid record ({}); no process held the lock, so it was taken.",
            held.path().display(),
            apply::visible(why)
        ),
    }
    let mut conn = connect(&args.target).await?;
    // Before the first write: the token's permissions against what the plan needs.
    let permissions = crate::permissions::check_client(&plan, &conn.client).await;
    for note in &permissions.cannot_check {
        eprintln!("note: cannot check the app's permissions: {note}");
    }
    if let Some(refusal) = permissions.refusal() {
        conn.close().await;
        return Err(CliError::msg(refusal));
    }
    let arm_access = crate::permissions::check_arm(&plan, conn.arm.as_ref()).await;
    if let Some(refusal) = arm_access.refusal() {
        conn.close().await;
        return Err(CliError::msg(refusal));
    }
    // The billing channel too: its actions need its API (README, "Billing channels").
    if let Some(refusal) = commerce_refusal(&plan, &conn, &args.target, &cancel).await {
        conn.close().await;
        return Err(CliError::msg(refusal));
    }
    let result = run_polling(&args, &plan, &mut conn, &state, &cancel).await;
    conn.close().await;
    drop(held);
    match result {
        Err(CliError::Graph(GraphError::Cancelled { .. })) => Err(CliError::Interrupted(
            "apply interrupted while reading the tenant, before it changed anything".into(),
        )),
        other => other,
    }
}

fn print_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = crate::render::write_json(&mut out, v, true);
    let _ = writeln!(out);
}

/// Applies once, or with `--wait` again and again until the manual actions verify, the
/// timeout passes, or Ctrl-C.
async fn run_polling(
    args: &ApplyArgs,
    plan: &Plan,
    conn: &mut Connection,
    state: &std::path::Path,
    cancel: &CancellationToken,
) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let mut confirmed = args.auto_approve || conn.simulated;
    loop {
        let client = conn.client.clone().with_cancellation(cancel.clone());
        let me = conn.signed_in_app.clone();
        let arm = conn.arm.clone();
        let commerce = commerce_of(plan, conn, &args.target, cancel);
        let code = run_connected(
            args,
            plan,
            (&client, arm.as_ref()),
            me.as_deref(),
            &mut confirmed,
            state,
            cancel,
            commerce,
        )
        .await?;
        if code != ExitCode::WaitingOnManual || !args.wait {
            return Ok(code);
        }
        if args
            .timeout
            .is_some_and(|t| started.elapsed() + args.poll_interval > t)
        {
            println!(
                "\nGave up waiting after {}.",
                humantime::format_duration(std::time::Duration::from_secs(
                    started.elapsed().as_secs()
                ))
            );
            return Ok(code);
        }
        println!(
            "\nWaiting for the manual actions; reading the tenant again in {} (Ctrl-C to stop)...",
            humantime::format_duration(args.poll_interval)
        );
        for a in plan
            .actions
            .iter()
            .filter(|a| a.kind == crate::plan::ActionKind::CancelSubscription && a.is_manual())
        {
            if let Some(end) = a
                .commerce
                .get("termEndDate")
                .and_then(serde_json::Value::as_str)
            {
                println!(
                    "Subscription {} has its renewal off and ends with its term on {} ({}): Graph shows it Suspended then, unless a person cancels it sooner.",
                    Safe(&a.name),
                    Safe(end),
                    Safe(a.commerce.get("channel").and_then(serde_json::Value::as_str).unwrap_or(""))
                );
            }
        }
        if let Some(until) = expected_wait_until(plan) {
            println!(
                "A subscription of this plan changes status next at {until} (Graph's nextLifecycleDateTime): expect to wait until then unless a person deletes it sooner."
            );
        }
        tokio::select! {
            () = tokio::time::sleep(args.poll_interval) => {}
            () = cancel.cancelled() => {
                return Err(CliError::Interrupted("stopped waiting for the manual actions; nothing was in flight".into()));
            }
        }
        conn.refresh(&args.target).await?;
    }
}

/// Why apply refuses before any write for the billing channel: the plan has commerce
/// actions and the channel cannot be set up or read (the partner's credential missing, a
/// 401/403 from Partner Center or Microsoft.Billing). Reading proves access; the write role
/// (admin agent; billing owner or contributor) shows at the first write, named by its hint.
async fn commerce_refusal(
    plan: &Plan,
    conn: &Connection,
    target: &super::args::TargetArgs,
    cancel: &CancellationToken,
) -> Option<String> {
    let reason = match commerce_of(plan, conn, target, cancel)? {
        Err(e) => e,
        Ok(c) => match c.read(&plan.tenant.id).await {
            crate::model::CommerceRead::NotRead { reason, .. } => reason,
            _ => return None,
        },
    };
    Some(format!(
        "this plan changes subscriptions through its billing channel ({}), which this run cannot use: {reason}. Nothing was changed",
        plan.target.billing.as_str()
    ))
}

/// The billing channel's client when the plan has commerce actions (the channel from the
/// plan's target, the customer from its tenant, the MCA account from its actions).
fn commerce_of(
    plan: &Plan,
    conn: &Connection,
    target: &super::args::TargetArgs,
    cancel: &CancellationToken,
) -> Option<Result<crate::commerce::Commerce, String>> {
    let first = plan
        .actions
        .iter()
        .find(|a| apply::commerce::is_commerce(a))?;
    let account = first
        .commerce
        .get("account")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    match super::commerce::commerce_for(conn, target, plan.target.billing, &plan.tenant.id, account)
    {
        Ok(Some(c)) => {
            c.set_cancellation(cancel.clone());
            Some(Ok(c))
        }
        Ok(None) => Some(Err("the plan's billing channel is manual".to_string())),
        Err(e) => Some(Err(e)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_connected(
    args: &ApplyArgs,
    plan: &Plan,
    // Graph, and Azure Resource Manager beside it.
    (client, arm): (&GraphClient, Option<&crate::arm::ArmClient>),
    signed_in_app: Option<&str>,
    confirmed: &mut bool,
    state: &std::path::Path,
    cancel: &CancellationToken,
    commerce: Option<Result<crate::commerce::Commerce, String>>,
) -> Result<ExitCode, CliError> {
    let json = args.format == ReportFormat::Json;
    let keep: Vec<String> = plan.keep.iter().map(|k| k.id.clone()).collect();
    let live = match read_tenant(client, &keep, &()).await {
        Ok(mut s) => {
            super::connect::read_azure(arm, plan.target.azure_subscriptions, &mut s).await;
            s
        }
        Err(e) if tenant_gone(&e) || own_app_gone(plan, signed_in_app, &e) => {
            if json {
                print_json(&report_json(plan, None, &[], "complete", 0));
            } else if !tenant_gone(&e) {
                println!(
                    "closeout can no longer sign in: the sign-in service answers that its application ({}) or the tenant does not exist, and this plan deleted that application as its last step before the tenant's deletion.\nClosure complete once the tenant's deletion in the admin center is done.",
                    Safe(signed_in_app.unwrap_or(""))
                );
            } else {
                println!(
                    "Tenant {} ({}) no longer exists: Graph answers {}.\nClosure complete.",
                    Safe(&plan.tenant.display_name),
                    Safe(&plan.tenant.initial_domain),
                    Safe(e.code().unwrap_or("an error"))
                );
            }
            return Ok(ExitCode::Ok);
        }
        Err(e) => return Err(e.into()),
    };
    apply::check_tenant(plan, &live)?;
    apply::check_guards(plan, &live)?;
    check_own_access_last(plan, signed_in_app)?;

    let check = drift::check(plan, &live);
    if !check.is_clean() {
        if json {
            print_json(&report_json(
                plan,
                None,
                &check.drift,
                "stale_plan",
                ExitCode::StalePlan as i32,
            ));
        } else {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "Error: ");
            let _ = render_drift_text(plan, &check.drift, &mut err);
        }
        return Ok(ExitCode::StalePlan);
    }

    let (journal, earlier) = Journal::open(&journal::journal_path(
        state,
        &plan.tenant.id,
        &plan.plan_id,
    ))
    .map_err(apply::ApplyError::from)?;
    let mut earlier = earlier;
    earlier.restrict_to(plan);
    if earlier.torn_tail {
        eprintln!(
            "note: the journal {} ended in a torn line (an interrupted write); it was cut off.",
            journal.path().display()
        );
    }
    let all_done = check.states.iter().all(|s| *s == LiveState::Done);
    if all_done && earlier.finished_at.is_some() && !json {
        println!(
            "Plan {} was already applied completely (finished {}); every action verified against the tenant: nothing to do.",
            plan.plan_id,
            apply::visible(earlier.finished_at.as_deref().unwrap_or(""))
        );
    }
    // Confirmation is for runs that will write: verifying manual actions only reads.
    let to_write = plan
        .actions
        .iter()
        .zip(&check.states)
        .filter(|(a, s)| **s == LiveState::ToDo && !a.is_manual())
        .count();
    // Users still to delete while the plan counts data (or could not count it) and the
    // spec did not declare the backup: --auto-approve refuses, a person is asked.
    let ask_backup =
        plan.needs_backup_confirmation()
            && plan.actions.iter().zip(&check.states).any(|(a, s)| {
                *s == LiveState::ToDo && a.kind == crate::plan::ActionKind::DeleteUser
            });
    if ask_backup {
        if args.auto_approve && !conn_simulated(args) {
            return Err(CliError::msg(backup_refusal(plan)));
        }
        if conn_simulated(args) {
            eprintln!(
                "note: a real apply of this plan would ask to confirm the backup of its data first ({}); a rehearsal destroys nothing.",
                data_totals(plan)
            );
        }
    }
    if to_write > 0 && !*confirmed {
        let to_do: Vec<bool> = check.states.iter().map(|s| *s == LiveState::ToDo).collect();
        confirm(plan, &to_do, to_write, ask_backup, cancel).await?;
        *confirmed = true;
    }
    if earlier.runs > 0 && !json && !all_done {
        println!(
            "Resuming plan {} (run {} of it): {} action(s) already in their target state are verified and skipped{}.",
            plan.plan_id,
            earlier.runs + 1,
            check.states.iter().filter(|s| **s == LiveState::Done).count(),
            if earlier.uncertain.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} left uncertain by the interrupted run are checked first",
                    earlier.uncertain.len()
                )
            }
        );
    }
    let journal = Arc::new(journal);
    journal
        .append(&Record::Start {
            plan_id: plan.plan_id.clone(),
            pid: std::process::id(),
            at: apply::now_rfc3339(),
        })
        .await
        .map_err(apply::ApplyError::from)?;
    let options = ApplyOptions {
        parallelism: args.parallelism.max(1),
    };
    let ctx = ApplyContext {
        live,
        states: check.states,
        journal: Some((journal, earlier)),
        cancel: cancel.clone(),
        arm: arm.cloned(),
        commerce,
    };
    let bar = Arc::new(super::progress::ApplyBar::new(
        plan.actions.len(),
        LinePrinter::new(plan, json),
    ));
    let report = apply::apply(client, plan, ctx, options, bar.clone()).await;
    bar.finish();
    let report = report?;
    let (code, result) = exit_code(&report);
    // When only the tenant deletion is left, the live pre-flight checklist says what still
    // blocks it (and the admin center path is shown only once it passes).
    let tenant_waits = report.outcomes.iter().any(|(a, o)| {
        matches!(o, Outcome::Pending(_) | Outcome::Skipped { .. })
            && plan
                .action(a)
                .is_some_and(|x| x.kind == crate::plan::ActionKind::DeleteTenant)
    });
    let checklist = if tenant_waits && !report.interrupted {
        match read_tenant(client, &keep, &()).await {
            Ok(mut now) => {
                super::connect::read_azure(arm, plan.target.azure_subscriptions, &mut now).await;
                Some(preflight(&now, &keep))
            }
            Err(e) if tenant_gone(&e) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    if json {
        print_json(&crate::render::report_json_with_checklist(
            plan,
            Some(&report),
            &[],
            result,
            code as i32,
            checklist.as_deref(),
        ));
    } else {
        let _ = render_report_text(
            plan,
            &report,
            checklist.as_deref(),
            &mut std::io::stdout().lock(),
        );
    }
    Ok(code)
}

/// The latest future `nextLifecycleDateTime` among the plan's subscription actions: when
/// a subscription left to run out its term changes status next (RFC 3339, as Graph gave it).
fn expected_wait_until(plan: &Plan) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    plan.actions
        .iter()
        .filter(|a| {
            matches!(
                a.kind,
                crate::plan::ActionKind::CancelSubscription
                    | crate::plan::ActionKind::DeleteSubscription
            )
        })
        .filter_map(|a| a.before.get("nextLifecycleDateTime")?.as_str())
        .filter_map(|s| Some((time::OffsetDateTime::parse(s, &Rfc3339).ok()?, s)))
        .filter(|(t, _)| *t > now)
        .max_by_key(|(t, _)| *t)
        .map(|(_, s)| Safe(s).to_string())
}

/// Refuses a plan that would remove the access of the application closeout signs in as
/// before the rest of the plan: one made while signed in as another identity (the planner
/// orders its own app last, see [`crate::planner::plan_as`], only for the app it knows).
fn check_own_access_last(plan: &Plan, signed_in_app: Option<&str>) -> Result<(), CliError> {
    let Some(app) = signed_in_app else {
        return Ok(());
    };
    let gates: Vec<String> = (1..=4).map(|n| format!("step:{n}")).collect();
    let early = plan.actions.iter().find(|a| {
        crate::planner::is_own_access(a, app)
            && !gates.iter().all(|g| a.depends_on.iter().any(|d| d == g))
    });
    match early {
        None => Ok(()),
        Some(a) => Err(CliError::msg(format!(
            "this plan would {} {} ({}), the application closeout signs in as (appId {}), before the rest of the plan, which would cut off closeout's access midway. Nothing was changed. Plan again signed in as this application (`closeout plan` then puts its removal last), or apply with another identity",
            a.kind.describe(),
            Safe(&a.name),
            Safe(&a.address),
            Safe(app)
        ))),
    }
}

/// Whether `e` is the sign-in service saying the application closeout signs in as does not
/// exist (AADSTS700016) or the tenant does not (AADSTS90002), and the plan deletes that
/// application: after its own app registration, the last thing closeout removes, that
/// error is the evidence that the closure went through.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes>
fn own_app_gone(plan: &Plan, signed_in_app: Option<&str>, e: &GraphError) -> bool {
    let GraphError::Auth(auth) = e else {
        return false;
    };
    let message = auth.to_string();
    let Some(app) = signed_in_app else {
        return false;
    };
    // A tenant id or client id mistyped gives the same errors: they count only for a plan
    // that deletes the app closeout signs in as.
    (message.contains("AADSTS700016") || message.contains("AADSTS90002"))
        && plan
            .actions
            .iter()
            .any(|a| crate::planner::is_own_access(a, app))
}

fn exit_code(report: &ApplyReport) -> (ExitCode, &'static str) {
    if report.interrupted {
        (ExitCode::Interrupted, "interrupted")
    } else if report.failed() > 0 {
        (ExitCode::Error, "failed")
    } else if report.pending() > 0 || report.skipped() > 0 {
        (ExitCode::WaitingOnManual, "waiting_on_manual")
    } else {
        (ExitCode::Ok, "complete")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{AuthError, AuthKind};

    fn sign_in_error(message: &str) -> GraphError {
        GraphError::Auth(AuthError::Credential {
            kind: AuthKind::Secret,
            message: message.to_string(),
        })
    }

    #[test]
    fn a_missing_app_or_tenant_is_evidence_only_when_the_plan_deleted_its_own_app() {
        let mut plan = crate::planfile::read(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/plans/contoso.plan.yaml"
        )))
        .unwrap();
        let own = "3a1f8358-9658-496d-8ef5-cd7175905fd7";
        let missing_app = sign_in_error(
            "AADSTS700016: Application with identifier '…' was not found in the directory",
        );
        let missing_tenant = sign_in_error("AADSTS90002: Tenant '…' not found");
        assert!(own_app_gone(&plan, Some(own), &missing_app));
        assert!(own_app_gone(&plan, Some(own), &missing_tenant));
        // Another app (a mistyped client id), no known app, or another error: not evidence.
        assert!(!own_app_gone(
            &plan,
            Some("00000000-0000-0000-0000-000000000001"),
            &missing_app
        ));
        assert!(!own_app_gone(&plan, None, &missing_app));
        assert!(!own_app_gone(
            &plan,
            Some(own),
            &sign_in_error("AADSTS7000215: Invalid client secret")
        ));
        plan.actions
            .retain(|a| !crate::planner::is_own_access(a, own));
        assert!(!own_app_gone(&plan, Some(own), &missing_app));
    }
}
