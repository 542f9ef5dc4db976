//! Executes a saved plan: the action DAG in dependency order with bounded concurrency,
//! journaled, resumable and interruptible. Never re-plans and never prints: progress goes
//! through [`ApplyProgress`], the result is an [`ApplyReport`].
//!
//! Before anything is written, [`drift::check`] compares the plan with the tenant as read
//! now; objects already in their target state are recorded as done without a call, and any
//! drift refuses the whole plan (stale plan). Each write to Graph is bracketed by journal
//! records ([`journal`]) made durable before and after it, so a run killed at any moment is
//! resumed by applying the same plan again.

mod azure;
pub mod commerce;
mod converge;
pub mod drift;
pub mod journal;
pub mod lock;
#[cfg(test)]
mod mutation_tests;

pub use converge::{converge, tenant_gone, Failure, Outcome};
pub use drift::{Drift, DriftCheck, DriftReason, LiveState};
pub use journal::{Journal, JournalError, JournalState, Record};
pub use lock::{ApplyLock, LockError, LockHolder};

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use petgraph::graph::NodeIndex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::graph::{GraphClient, GraphError};
use crate::model::TenantState;
use crate::plan::Plan;
use crate::planner::{ActionGraph, DagError};

/// Default number of actions in flight at once. Graph's identity service allows about 20
/// writes per second per application; concurrent writes share `$batch` requests, so 16 in
/// flight fill that quota at real latencies (a few hundred milliseconds) while keeping what
/// an interruption leaves uncertain small.
pub const DEFAULT_PARALLELISM: usize = 16;

/// How long in-flight actions may take to settle after Ctrl-C before they are abandoned
/// (and recorded as uncertain: intent without outcome).
pub const SETTLE_GRACE: Duration = Duration::from_millis(800);

/// Receives apply progress (the binary draws it; library code never prints).
pub trait ApplyProgress: Send + Sync {
    /// An action finished with `outcome`.
    fn finished(&self, address: &str, outcome: &Outcome);
}

impl ApplyProgress for () {
    fn finished(&self, _: &str, _: &Outcome) {}
}

/// Why an apply could not start (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "this plan is for tenant {planned} ({planned_domain}), but the credentials reach tenant {live} ({live_name}); refusing to apply it"
    )]
    WrongTenant {
        planned: String,
        planned_domain: String,
        live: String,
        live_name: String,
    },
    #[error("the plan's actions do not form a valid DAG: {0}")]
    Dag(#[from] DagError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Lock(Box<LockError>),
    /// A guard that holds whatever the plan file says (its digest protects against
    /// accidental edits, not against a forger who recomputes it).
    #[error("refusing this plan: {0}. Nothing was changed. Plan again and review the new plan")]
    Guard(String),
}

impl From<LockError> for ApplyError {
    fn from(e: LockError) -> ApplyError {
        ApplyError::Lock(Box::new(e))
    }
}

/// The result of an apply: every action's outcome, in plan order.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub outcomes: Vec<(String, Outcome)>,
    /// Addresses an earlier (interrupted) run of this plan did, found in their target
    /// state and skipped now.
    pub done_earlier: BTreeSet<String>,
    /// Addresses an earlier run left uncertain (intent without outcome), checked now.
    pub was_uncertain: BTreeSet<String>,
    /// The run was stopped by Ctrl-C, SIGTERM or SIGHUP (its cancellation token).
    pub interrupted: bool,
}

impl ApplyReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|(_, o)| f(o)).count()
    }
    pub fn done(&self) -> usize {
        self.count(|o| *o == Outcome::Done)
    }
    pub fn already_done(&self) -> usize {
        self.count(|o| *o == Outcome::AlreadyDone)
    }
    pub fn verified(&self) -> usize {
        self.count(|o| *o == Outcome::Verified)
    }
    pub fn pending(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Pending(_)))
    }
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped { .. }))
    }
    pub fn interrupted_count(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Interrupted { .. }))
    }
    /// Every action succeeded (done, already done, verified).
    pub fn complete(&self) -> bool {
        self.outcomes.iter().all(|(_, o)| o.is_success())
    }
}

/// Options of an apply.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Actions in flight at once (at least 1).
    pub parallelism: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: DEFAULT_PARALLELISM,
        }
    }
}

/// Refuses a plan that deletes (or purges) a user it keeps, or that would leave the tenant
/// without an enabled Global Administrator (as read now), before anything is written.
/// Runs on canonical values whatever the file says: ids compared lower-case, a kept user
/// matched by id or by userPrincipalName ([`crate::ident::same_upn`]) in the live tenant.
pub fn check_guards(plan: &Plan, live: &TenantState) -> Result<(), ApplyError> {
    use crate::plan::ActionKind;
    let canon = |id: &str| id.trim().to_ascii_lowercase();
    let mut kept: BTreeSet<String> = plan.keep.iter().map(|k| canon(&k.id)).collect();
    for u in &live.users {
        if plan
            .keep
            .iter()
            .any(|k| crate::ident::same_upn(&k.user_principal_name, &u.user_principal_name))
        {
            kept.insert(canon(&u.id));
        }
    }
    let deleted: BTreeSet<String> = plan
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::DeleteUser | ActionKind::PurgeUser))
        .map(|a| canon(&a.object_id))
        .collect();
    if let Some(id) = deleted.iter().find(|id| kept.contains(*id)) {
        return Err(ApplyError::Guard(format!(
            "it deletes user {}, which the same plan keeps",
            crate::input::excerpt(id)
        )));
    }
    let admins: BTreeSet<String> = live
        .global_administrators()
        .into_iter()
        .map(canon)
        .collect();
    let survivor = live.users.iter().any(|u| {
        let id = canon(&u.id);
        !deleted.contains(&id) && admins.contains(&id) && u.account_enabled != Some(false)
    });
    if !survivor {
        return Err(ApplyError::Guard(
            "after it, no enabled Global Administrator would remain to sign in and delete the tenant"
                .to_string(),
        ));
    }
    Ok(())
}

/// Checks that `live` is the tenant the plan was made for.
pub fn check_tenant(plan: &Plan, live: &TenantState) -> Result<(), ApplyError> {
    if !plan.tenant.id.eq_ignore_ascii_case(&live.organization.id) {
        return Err(ApplyError::WrongTenant {
            planned: plan.tenant.id.clone(),
            planned_domain: plan.tenant.initial_domain.clone(),
            live: live.organization.id.clone(),
            live_name: live.organization.display_name.clone().unwrap_or_default(),
        });
    }
    Ok(())
}

/// Text read from a state file (journal, lock) made safe for a message: control,
/// bidi and zero-width characters shown escaped (`\u{202e}`), cut to 200 characters.
pub fn visible(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 200 {
            out.push_str("...");
            break;
        }
        let invisible = c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{2028}' | '\u{2029}');
        if invisible {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The RFC 3339 UTC time now, seconds precision (journal and lock records).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What an apply works with besides the plan.
pub struct ApplyContext {
    /// The tenant as read at the start of this run.
    pub live: TenantState,
    /// [`drift::check`]'s verdict per action (plan order); must be clean.
    pub states: Vec<LiveState>,
    /// The plan's journal and what earlier runs recorded in it; `None` runs unjournaled.
    pub journal: Option<(Arc<Journal>, JournalState)>,
    /// Ctrl-C: stop scheduling, let in-flight actions settle for [`SETTLE_GRACE`].
    pub cancel: CancellationToken,
    /// Azure Resource Manager, for the Azure subscription actions (`None`: they fail).
    pub arm: Option<crate::arm::ArmClient>,
    /// The billing channel's client for the plan's commerce actions ([`commerce`]), or why
    /// it could not be set up; `None` when the plan has none.
    pub commerce: Option<Result<crate::commerce::Commerce, String>>,
}

async fn record(journal: Option<&Journal>, r: Record) -> Result<(), JournalError> {
    match journal {
        Some(j) => j.append(&r).await,
        None => Ok(()),
    }
}

/// Runs one action: intent, check-then-converge, outcome. Manual actions write nothing to
/// Graph and are not journaled.
async fn run_action(
    client: GraphClient,
    arm: Option<crate::arm::ArmClient>,
    live: Arc<TenantState>,
    action: crate::plan::Action,
    journal: Option<Arc<Journal>>,
    commerce: Option<Result<crate::commerce::Commerce, String>>,
    operation: Option<String>,
) -> Outcome {
    let j = journal.as_deref().filter(|_| !action.is_manual());
    if let Err(e) = record(
        j,
        Record::Intent {
            address: action.address.to_string(),
            at: now_rfc3339(),
        },
    )
    .await
    {
        return Outcome::Failed(Failure::new(format!("not attempted: {e}")));
    }
    let result = if commerce::is_commerce(&action) {
        let c = match &commerce {
            Some(Ok(c)) => Ok(c),
            Some(Err(why)) => Err(why.as_str()),
            None => Err("the plan's billing channel was not set up for this run"),
        };
        commerce::converge(&client, c, &action, j, operation).await
    } else {
        converge(&client, arm.as_ref(), &live, &action).await
    };
    let o = match result {
        Ok(o) => o,
        // Cancelled before the write was sent, or while waiting to retry it: a 429'd
        // write may still have executed, so the intent stays without outcome (uncertain).
        Err(GraphError::Cancelled { .. }) => return Outcome::Interrupted { started: true },
        Err(e) => Outcome::Failed(Failure::from(&e)),
    };
    let detail = match &o {
        Outcome::Failed(f) => Some(f.message.clone()),
        Outcome::Pending(why) => Some(why.clone()),
        _ => None,
    };
    if let Err(e) = record(
        j,
        Record::Outcome {
            address: action.address.to_string(),
            outcome: o.name().to_string(),
            detail,
            at: now_rfc3339(),
        },
    )
    .await
    {
        return Outcome::Failed(Failure::new(format!(
            "{} but the journal could not record it: {e}",
            o.name()
        )));
    }
    o
}

/// Applies `plan` to the tenant `ctx.live` was read from. Actions whose object is already
/// in its target state ([`LiveState::Done`]) are recorded without a call; a failed or
/// pending action skips everything that depends on it (reported with that root cause);
/// independent actions go on. When `ctx.cancel` fires, nothing new starts, in-flight
/// actions get [`SETTLE_GRACE`] to finish and are then abandoned (uncertain).
///
/// # Errors
/// [`ApplyError`] before anything is written (wrong tenant, invalid DAG).
pub async fn apply(
    client: &GraphClient,
    plan: &Plan,
    ctx: ApplyContext,
    options: ApplyOptions,
    progress: Arc<dyn ApplyProgress>,
) -> Result<ApplyReport, ApplyError> {
    check_tenant(plan, &ctx.live)?;
    let graph = ActionGraph::build(&plan.actions)?;
    let live = Arc::new(ctx.live);
    let (journal, earlier) = match ctx.journal {
        Some((j, s)) => (Some(j), s),
        None => (None, JournalState::default()),
    };
    let cancel = ctx.cancel;
    let arm = ctx.arm;
    let n_nodes = graph.graph.node_count();
    let mut indegree = graph.in_degrees();
    let mut outcome: Vec<Option<Outcome>> = vec![None; plan.actions.len()];
    let mut blocked: Vec<Option<String>> = vec![None; n_nodes];
    let mut ready: VecDeque<NodeIndex> = graph
        .graph
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .collect();
    let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();
    let mut in_flight: BTreeSet<usize> = BTreeSet::new();
    let mut finished_now: VecDeque<(usize, Outcome)> = VecDeque::new();
    let mut interrupted = false;

    // At most `parallelism` tasks exist at once, which is also what bounds the concurrency:
    // a task spawned for every ready action would hold a copy of each (a 100,000-user plan:
    // 100,000 tasks, about 900 MB).
    let spawn_limit = options.parallelism.max(1);
    loop {
        while running.len() < spawn_limit {
            let Some(n) = ready.pop_front().filter(|_| !interrupted) else {
                break;
            };
            match graph.graph[n] {
                crate::planner::dag_node::Node::StepGate(_) => {
                    for d in graph.dependents(n).collect::<Vec<_>>() {
                        indegree[d.index()] -= 1;
                        if indegree[d.index()] == 0 && blocked[d.index()].is_none() {
                            ready.push_back(d);
                        }
                    }
                }
                crate::planner::dag_node::Node::Action(i) => {
                    let action = &plan.actions[i];
                    if ctx.states.get(i) == Some(&LiveState::Done) {
                        // Verified against the tenant just read: no call needed.
                        let o = if action.is_manual() {
                            Outcome::Verified
                        } else {
                            Outcome::AlreadyDone
                        };
                        finished_now.push_back((i, o));
                        continue;
                    }
                    // When closeout itself cancelled this Azure subscription (an earlier
                    // run's journal, or this run), a pending deletion says from when the
                    // portal allows it; ARM gives no cancellation date.
                    let cancelled_at = (action.kind
                        == crate::plan::ActionKind::DeleteAzureSubscription)
                        .then(|| {
                            let cancel = crate::plan::Action::address_of(
                                crate::plan::ActionKind::CancelAzureSubscription,
                                &action.object_id,
                            );
                            earlier.done_at.get(&cancel).cloned().or_else(|| {
                                plan.actions
                                    .iter()
                                    .position(|a| a.address == cancel)
                                    .filter(|&j| outcome[j] == Some(Outcome::Done))
                                    .map(|_| now_rfc3339())
                            })
                        })
                        .flatten();
                    let client = client.clone();
                    let arm = arm.clone();
                    let live = Arc::clone(&live);
                    let action = action.clone();
                    let journal = journal.clone();
                    let cancel = cancel.clone();
                    let commerce = ctx.commerce.clone();
                    let operation = earlier.operations.get(action.address.as_str()).cloned();
                    in_flight.insert(i);
                    running.spawn(async move {
                        if cancel.is_cancelled() {
                            return (i, Outcome::Interrupted { started: false });
                        }
                        let o = run_action(client, arm, live, action, journal, commerce, operation)
                            .await;
                        (i, azure::with_deletion_date(o, cancelled_at.as_deref()))
                    });
                }
            }
        }
        let (i, o) = if let Some(x) = finished_now.pop_front() {
            x
        } else if running.is_empty() || interrupted {
            break;
        } else {
            tokio::select! {
                joined = running.join_next() => match joined {
                    Some(Ok(x)) => x,
                    // A panicking task is a bug; its action stays unfinished (and, if it
                    // started writing, uncertain in the journal).
                    Some(Err(_)) | None => continue,
                },
                () = cancel.cancelled() => {
                    interrupted = true;
                    continue;
                }
            }
        };
        in_flight.remove(&i);
        progress.finished(&plan.actions[i].address, &o);
        let node = graph.action_nodes[i];
        if o.is_success() {
            for d in graph.dependents(node).collect::<Vec<_>>() {
                indegree[d.index()] -= 1;
                if indegree[d.index()] == 0 && blocked[d.index()].is_none() {
                    ready.push_back(d);
                }
            }
        } else if !matches!(o, Outcome::Interrupted { .. }) {
            // Everything downstream is skipped; the root cause is this action.
            let cause = plan.actions[i].address.to_string();
            let mut stack: Vec<NodeIndex> = graph.dependents(node).collect();
            while let Some(d) = stack.pop() {
                if blocked[d.index()].is_some() {
                    continue;
                }
                blocked[d.index()] = Some(cause.clone());
                stack.extend(graph.dependents(d));
            }
        }
        outcome[i] = Some(o);
    }
    // The last tasks may have ended on the cancellation before the loop saw it (select!
    // picks a ready branch at random): the run is interrupted all the same.
    interrupted |= cancel.is_cancelled();

    if interrupted {
        // Let what is on the wire settle briefly, then abandon it (uncertain).
        let deadline = tokio::time::Instant::now() + SETTLE_GRACE;
        while !running.is_empty() {
            match tokio::time::timeout_at(deadline, running.join_next()).await {
                Ok(Some(Ok((i, o)))) => {
                    in_flight.remove(&i);
                    progress.finished(&plan.actions[i].address, &o);
                    outcome[i] = Some(o);
                }
                Ok(Some(Err(_))) => {}
                Ok(None) | Err(_) => break,
            }
        }
        running.abort_all();
        for i in in_flight {
            outcome[i].get_or_insert(Outcome::Interrupted { started: true });
        }
    }

    let mut report = ApplyReport {
        interrupted,
        was_uncertain: earlier.uncertain.clone(),
        ..ApplyReport::default()
    };
    for (i, a) in plan.actions.iter().enumerate() {
        let o =
            outcome[i]
                .take()
                .unwrap_or_else(|| match &blocked[graph.action_nodes[i].index()] {
                    Some(cause) => Outcome::Skipped {
                        because: cause.clone(),
                    },
                    None if interrupted => Outcome::Interrupted { started: false },
                    None => Outcome::Skipped {
                        because: "an unfinished prerequisite".to_string(),
                    },
                });
        if ctx.states.get(i) == Some(&LiveState::Done) && earlier.done_earlier(&a.address) {
            report.done_earlier.insert(a.address.to_string());
        }
        report.outcomes.push((a.address.to_string(), o));
    }
    if !interrupted && report.complete() {
        record(journal.as_deref(), Record::Finished { at: now_rfc3339() }).await?;
    }
    Ok(report)
}
