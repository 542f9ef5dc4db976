//! Executes a saved plan: the action DAG in dependency order with bounded concurrency.
//! Never re-plans and never prints: progress goes through [`ApplyProgress`], the result is
//! an [`ApplyReport`].

mod converge;

pub use converge::{converge, tenant_gone, Outcome};

use std::collections::VecDeque;
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::graph::GraphClient;
use crate::model::TenantState;
use crate::plan::Plan;
use crate::planner::{ActionGraph, DagError};

/// Default number of actions in flight at once.
pub const DEFAULT_PARALLELISM: usize = 4;

/// Receives apply progress (the binary draws it; library code never prints).
pub trait ApplyProgress: Send + Sync {
    /// An action finished with `outcome`.
    fn finished(&self, address: &str, outcome: &Outcome);
}

impl ApplyProgress for () {
    fn finished(&self, _: &str, _: &Outcome) {}
}

/// Why an apply could not start.
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
}

/// The result of an apply: every action's outcome, in plan order.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub outcomes: Vec<(String, Outcome)>,
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

/// Applies `plan` to the tenant `live` was read from. A failed or pending action skips
/// everything that depends on it; independent actions go on.
///
/// # Errors
/// [`ApplyError`] before anything is written (wrong tenant, invalid DAG).
pub async fn apply(
    client: &GraphClient,
    plan: &Plan,
    live: TenantState,
    options: ApplyOptions,
    progress: Arc<dyn ApplyProgress>,
) -> Result<ApplyReport, ApplyError> {
    check_tenant(plan, &live)?;
    let graph = ActionGraph::build(&plan.actions)?;
    let live = Arc::new(live);
    let n_nodes = graph.graph.node_count();
    let mut indegree = graph.in_degrees();
    let mut outcome: Vec<Option<Outcome>> = vec![None; plan.actions.len()];
    let mut blocked: Vec<Option<String>> = vec![None; n_nodes];
    let mut ready: VecDeque<NodeIndex> = graph
        .graph
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .collect();
    let semaphore = Arc::new(Semaphore::new(options.parallelism.max(1)));
    let mut running: JoinSet<(usize, Outcome)> = JoinSet::new();

    loop {
        while let Some(n) = ready.pop_front() {
            match graph.graph[n] {
                crate::planner::dag_node::Node::StepGate(_) => {
                    for d in graph.dependents(n).collect::<Vec<_>>() {
                        indegree[d.index()] -= 1;
                        if indegree[d.index()] == 0 {
                            ready.push_back(d);
                        }
                    }
                }
                crate::planner::dag_node::Node::Action(i) => {
                    let client = client.clone();
                    let live = Arc::clone(&live);
                    let action = plan.actions[i].clone();
                    let sem = Arc::clone(&semaphore);
                    running.spawn(async move {
                        let _permit = sem.acquire_owned().await;
                        let result = converge(&client, &live, &action).await;
                        let o = match result {
                            Ok(o) => o,
                            Err(e) => Outcome::Failed(e.to_string()),
                        };
                        (i, o)
                    });
                }
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (i, o) = match joined {
            Ok(x) => x,
            Err(e) => {
                // A panicking task is a bug; report it against no action and stop scheduling.
                eprintln!("internal error in an apply task: {e}");
                continue;
            }
        };
        progress.finished(&plan.actions[i].address, &o);
        let node = graph.action_nodes[i];
        if o.is_success() {
            for d in graph.dependents(node).collect::<Vec<_>>() {
                indegree[d.index()] -= 1;
                if indegree[d.index()] == 0 && blocked[d.index()].is_none() {
                    ready.push_back(d);
                }
            }
        } else {
            // Everything downstream is skipped; the root cause is this action.
            let cause = plan.actions[i].address.clone();
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

    let mut report = ApplyReport::default();
    for (i, a) in plan.actions.iter().enumerate() {
        let o = outcome[i].take().unwrap_or_else(|| Outcome::Skipped {
            because: blocked[graph.action_nodes[i].index()]
                .clone()
                .unwrap_or_else(|| "an unfinished prerequisite".to_string()),
        });
        report.outcomes.push((a.address.clone(), o));
    }
    Ok(report)
}
