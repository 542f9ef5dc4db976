//! `closeout status PLAN` (where each action of a plan stands: from its apply journal and
//! a live read of the tenant, or the journal only with `--offline`) and `closeout validate
//! FILE` (is a plan, spec or snapshot file valid, offline). Reads only: never writes to the
//! tenant, the journal or the lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::args::{ReportFormat, StatusArgs, ValidateArgs};
use super::connect::{connect, state_dir};
use super::error::{CliError, ExitCode};
use crate::apply::{drift, journal, tenant_gone, visible, JournalState, LiveState};
use crate::graph::read_tenant;
use crate::plan::{ActionKind, Plan, Step};
use crate::planfile;
use crate::planner::ActionGraph;

/// Where one action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// In its target state (read live), or recorded done (offline).
    Done,
    /// Not done yet; `why` says what it waits for.
    Pending,
    /// An earlier run sent the write but recorded no outcome (checked on the next apply).
    Uncertain,
    /// The last run's attempt failed (and the object is not in its target state).
    Failed,
    /// The object changed since planning: the next apply refuses the plan (exit 4).
    Drifted,
}

impl Standing {
    fn as_str(self) -> &'static str {
        match self {
            Standing::Done => "done",
            Standing::Pending => "pending",
            Standing::Uncertain => "uncertain",
            Standing::Failed => "failed",
            Standing::Drifted => "drifted",
        }
    }
}

#[derive(Debug, Serialize)]
struct Row {
    address: String,
    action: ActionKind,
    name: String,
    step: u8,
    status: Standing,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

/// Judges every action of `plan` from the journal and, when read, the live tenant's
/// drift check states.
fn standings(plan: &Plan, journal: &JournalState, live: Option<&[LiveState]>) -> Vec<Row> {
    let graph = ActionGraph::build(&plan.actions).ok();
    let mut out: Vec<Row> = Vec::with_capacity(plan.actions.len());
    for (i, a) in plan.actions.iter().enumerate() {
        let recorded = journal.outcomes.get(a.address.as_str()).map(String::as_str);
        let uncertain = journal.uncertain.contains(a.address.as_str());
        let (status, why) = match (live.and_then(|s| s.get(i)), recorded) {
            (Some(LiveState::Done), _) => (Standing::Done, None),
            (Some(LiveState::Drifted), _) => (
                Standing::Drifted,
                Some("changed since planning: the next apply refuses this plan; plan again".into()),
            ),
            _ if uncertain => (
                Standing::Uncertain,
                Some("an interrupted run sent it without recording the outcome; the next apply checks the tenant first".into()),
            ),
            (None, Some("done" | "already_done" | "verified")) => (
                Standing::Done,
                Some("recorded in the journal (not read live)".into()),
            ),
            (_, Some("failed")) => (Standing::Failed, None),
            _ => (Standing::Pending, None),
        };
        out.push(Row {
            address: a.address.to_string(),
            action: a.kind,
            name: visible(&a.name),
            step: a.step().number(),
            status,
            why,
        });
    }
    // Why each pending or failed action waits, now that every action is judged.
    for i in 0..out.len() {
        if !matches!(out[i].status, Standing::Pending | Standing::Failed) {
            continue;
        }
        let a = &plan.actions[i];
        let detail = || {
            journal_detail(journal, &a.address)
                .map(|d| visible(&d))
                .unwrap_or_default()
        };
        let why = if out[i].status == Standing::Failed {
            format!("the last attempt failed: {}", detail())
        } else if let Some(blocker) = graph.as_ref().and_then(|g| {
            prerequisites(g, i)
                .into_iter()
                .find(|&p| out[p].status != Standing::Done)
        }) {
            format!(
                "after {} ({})",
                plan.actions[blocker].address,
                out[blocker].status.as_str()
            )
        } else if a.kind == crate::plan::ActionKind::DeleteTenant {
            // status reads no checklist, so it never shows the tenant-deletion path.
            crate::plan::DELETION_PATH_CLOSED.to_string()
        } else if a.is_manual() {
            "a person does it in the admin center; the next apply verifies it".to_string()
        } else if journal.outcomes.get(a.address.as_str()).map(String::as_str) == Some("pending") {
            format!("waiting: {}", detail())
        } else {
            "ready: the next apply does it".to_string()
        };
        out[i].why = Some(why);
    }
    out
}

/// The last outcome detail the journal recorded for `address` (failures, pending reasons).
fn journal_detail(journal: &JournalState, address: &str) -> Option<String> {
    journal.details.get(address).cloned()
}

/// Direct prerequisites of action `i` (actions of a `step:N` dependency included).
fn prerequisites(g: &ActionGraph, i: usize) -> Vec<usize> {
    use crate::planner::dag_node::Node;
    let mut out = Vec::new();
    let mut stack = vec![g.action_nodes[i]];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(n) = stack.pop() {
        for p in g.graph.neighbors_directed(n, petgraph::Direction::Incoming) {
            if !seen.insert(p) {
                continue;
            }
            match g.graph[p] {
                Node::Action(j) => out.push(j),
                Node::StepGate(_) => stack.push(p),
            }
        }
    }
    out.sort_unstable();
    out
}

pub async fn status(args: StatusArgs) -> Result<ExitCode, CliError> {
    let plan = planfile::read(&args.plan)?;
    let state = state_dir(args.target.state_dir.as_deref())?;
    let path = journal::journal_path(&state, &plan.tenant.id, &plan.plan_id);
    let (mut earlier, _) = journal::read(&path).map_err(crate::apply::ApplyError::from)?;
    earlier.restrict_to(&plan);
    let mut gone = false;
    let live = if args.offline {
        None
    } else {
        let conn = connect(&args.target).await?;
        let keep: Vec<String> = plan.keep.iter().map(|k| k.id.clone()).collect();
        let mut read = read_tenant(&conn.client, &keep, &()).await;
        if let Ok(t) = read.as_mut() {
            super::connect::read_azure(conn.arm.as_ref(), plan.target.azure_subscriptions, t).await;
        }
        conn.close().await;
        match read {
            Ok(t) => {
                crate::apply::check_tenant(&plan, &t)?;
                Some(drift::check(&plan, &t).states)
            }
            Err(e) if tenant_gone(&e) => {
                gone = true;
                Some(vec![LiveState::Done; plan.actions.len()])
            }
            Err(e) => return Err(e.into()),
        }
    };
    let rows = standings(&plan, &earlier, live.as_deref());
    let mut counts: BTreeMap<&str, usize> = ["done", "pending", "uncertain", "failed", "drifted"]
        .into_iter()
        .map(|k| (k, 0))
        .collect();
    for r in &rows {
        *counts.entry(r.status.as_str()).or_default() += 1;
    }
    let source = if args.offline { "journal" } else { "live" };
    let mut out = std::io::stdout().lock();
    if args.format == ReportFormat::Json {
        let v = json!({
            "report": "closeout-status/1",
            "plan_id": plan.plan_id,
            "tenant": {"id": plan.tenant.id, "display_name": visible(&plan.tenant.display_name),
                       "initial_domain": plan.tenant.initial_domain},
            "source": source,
            "tenant_deleted": gone,
            "runs": earlier.runs,
            "finished_at": earlier.finished_at.as_deref().map(visible),
            "counts": counts,
            "actions": rows,
        });
        let _ = serde_json::to_writer_pretty(&mut out, &v);
        let _ = writeln!(out);
        return Ok(ExitCode::Ok);
    }
    let _ = writeln!(
        out,
        "Plan {} for tenant {} ({}): {}; {} run(s) recorded in {}{}.",
        plan.plan_id,
        visible(&plan.tenant.display_name),
        plan.tenant.initial_domain,
        if args.offline {
            "from the journal only (--offline: the tenant was not read)"
        } else if gone {
            "the tenant no longer exists: closure complete"
        } else {
            "from the journal and the tenant as read now"
        },
        earlier.runs,
        path.display(),
        earlier
            .finished_at
            .as_deref()
            .map(|f| format!(", finished {}", visible(f)))
            .unwrap_or_default()
    );
    for step in Step::ALL {
        let in_step: Vec<&Row> = rows.iter().filter(|r| r.step == step.number()).collect();
        if in_step.is_empty() {
            continue;
        }
        let mut c: BTreeMap<Standing, usize> = BTreeMap::new();
        for r in &in_step {
            *c.entry(r.status).or_default() += 1;
        }
        let summary: Vec<String> = c
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "\nstep {}  {}: {}",
            step.number(),
            step.title(),
            summary.join(", ")
        );
        for r in in_step {
            let _ = writeln!(
                out,
                "  {:<9} {} {} [{}]{}",
                r.status.as_str(),
                r.action.describe(),
                r.name,
                r.address,
                r.why
                    .as_deref()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} done, {} pending, {} uncertain, {} failed, {} drifted.",
        counts["done"], counts["pending"], counts["uncertain"], counts["failed"], counts["drifted"]
    );
    Ok(ExitCode::Ok)
}

/// The kind of file `validate` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plan,
    Spec,
    Snapshot,
}

/// Largest file `validate` reads, in bytes.
const MAX_VALIDATE_BYTES: u64 = 256 * 1024 * 1024;

/// Tells a plan, spec and snapshot apart by their top-level keys (plans: `format_version`,
/// snapshots: `snapshotVersion`, specs: `keep` or `version`).
fn kind_of(text: &str) -> Option<Kind> {
    let top = |key: &str| {
        text.lines()
            .any(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
            || text.contains(&format!("\"{key}\""))
    };
    if top("format_version") {
        Some(Kind::Plan)
    } else if top("snapshotVersion") {
        Some(Kind::Snapshot)
    } else if top("keep") || top("version") {
        Some(Kind::Spec)
    } else {
        None
    }
}

fn invalid(path: &Path, kind: &str, why: impl std::fmt::Display) -> CliError {
    CliError::msg(format!("{}: invalid {kind}: {why}", path.display()))
}

/// Offline guards of a plan: a valid DAG, no kept user deleted, a kept Global Administrator.
fn plan_guards(plan: &Plan) -> Result<(), String> {
    ActionGraph::build(&plan.actions).map_err(|e| e.to_string())?;
    for a in &plan.actions {
        if matches!(a.kind, ActionKind::DeleteUser | ActionKind::PurgeUser)
            && plan
                .keep
                .iter()
                .any(|k| k.id.eq_ignore_ascii_case(&a.object_id))
        {
            return Err(format!(
                "{} deletes user {}, which the plan keeps",
                a.address, a.object_id
            ));
        }
    }
    if !plan
        .keep
        .iter()
        .any(|k| k.roles.iter().any(|r| r == "Global Administrator"))
    {
        return Err("no kept user is a Global Administrator".into());
    }
    Ok(())
}

pub fn validate(args: ValidateArgs) -> Result<ExitCode, CliError> {
    let path = &args.file;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::msg(format!("{}: cannot read: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::msg(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_VALIDATE_BYTES {
        return Err(CliError::msg(format!(
            "{}: {} bytes, more than the {MAX_VALIDATE_BYTES} closeout reads",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::msg(format!("{}: cannot read: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = std::io::stdout().lock();
    match kind_of(&text) {
        Some(Kind::Plan) => {
            let plan = planfile::read(path).map_err(|e| invalid(path, "plan", e))?;
            plan_guards(&plan).map_err(|e| invalid(path, "plan", e))?;
            let _ = writeln!(
                out,
                "{}: valid plan {} for tenant {} ({}): format, digest, schema and guards check; {} action(s).",
                path.display(),
                plan.plan_id,
                visible(&plan.tenant.display_name),
                plan.tenant.initial_domain,
                plan.actions.len()
            );
        }
        Some(Kind::Spec) => {
            let spec = crate::specfile::read(path).map_err(|e| invalid(path, "spec", e))?;
            if spec.spec.keep.is_empty() {
                return Err(invalid(path, "spec", "it keeps no user (keep: is empty)"));
            }
            let _ = writeln!(
                out,
                "{}: valid closure spec: keeps {} user(s); whether they exist is checked when planning.",
                path.display(),
                spec.spec.keep.len()
            );
        }
        Some(Kind::Snapshot) => {
            let snap =
                graph_sim::load_snapshot(path).map_err(|e| invalid(path, "snapshot", e))?;
            let _ = writeln!(
                out,
                "{}: valid tenant snapshot: {} user(s), {} deleted user(s).",
                path.display(),
                snap.users.len(),
                snap.deleted_users.len()
            );
        }
        None => {
            return Err(CliError::msg(format!(
                "{}: not a closeout file: a plan has format_version:, a spec keep:, a snapshot snapshotVersion:",
                path.display()
            )))
        }
    }
    Ok(ExitCode::Ok)
}
