//! The action DAG (petgraph): every ordering constraint between closure actions lives here
//! and in the `depends_on` lists the diff writes, following the rules in [`EDGE_RULES`].
//! No order is implied by list position alone.

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::plan::{Action, Step};

/// The ordering rules, documented in one place (the README's diagram mirrors them).
/// Each is `(before, after, why)`.
pub const EDGE_RULES: &[(&str, &str, &str)] = &[
    ("disable_directory_sync", "delete_user (synced users)", "synced users cannot be deleted in the cloud while sync is on"),
    ("delete_user X", "purge_user X", "only a soft-deleted user can be purged"),
    ("step 1 (all users deleted and purged)", "cancel_subscription (manual)", "Microsoft's order; deleting users frees their licences first"),
    ("(nothing: the start of apply)", "cancel_subscription and disable_auto_renew through a commerce API", "a cancellation window (7 days) can pass during step 1's waits (sync off: up to 72 hours) or a long review, so commerce calls run first"),
    ("disable_auto_renew S", "cancel_subscription S (manual, after the window)", "the subscription ends with its term only once its renewal is off"),
    ("cancel_subscription S", "delete_subscription S", "only a disabled subscription can be deleted"),
    ("step 1", "every step 4 action", "MFA stays on while accounts exist"),
    ("delete_service_principal (own app)", "delete_application", "nothing signs in as a half-removed app"),
    ("delete_application A", "purge_application A", "only a soft-deleted application can be purged"),
    ("step 1, set_default_domain, move_user_to_initial_domain, delete_application", "delete_domain", "a domain in use (also by deleted users, app identifierUris) or the default domain cannot be removed"),
    ("steps 1-4 and every other step 5 action", "delete_tenant", "the tenant is deleted last, when the pre-flight checklist passes"),
];

/// The dependency that stands for "every action of step `s`".
pub fn step_dependency(s: Step) -> String {
    format!("step:{}", s.number())
}

/// Why a set of actions does not form a DAG.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DagError {
    #[error("action {from} depends on {to}, which is not in the plan")]
    UnknownDependency { from: String, to: String },
    #[error("the actions form a cycle through {0}")]
    Cycle(String),
}

/// A node: an action (by index into the action list) or a step gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Action(usize),
    /// Done when every action of the step is done.
    StepGate(Step),
}

/// The DAG over a plan's actions. Edges point from prerequisite to dependent.
#[derive(Debug)]
pub struct ActionGraph {
    pub graph: DiGraph<Node, ()>,
    /// Node of each action, by action index.
    pub action_nodes: Vec<NodeIndex>,
    /// Action indices in an executable order.
    pub order: Vec<usize>,
}

impl ActionGraph {
    /// Builds and checks the DAG for `actions` (indices refer to that slice).
    ///
    /// # Errors
    /// A dependency naming no action, or a cycle.
    pub fn build(actions: &[Action]) -> Result<ActionGraph, DagError> {
        // Sized once: a graph grown by doubling holds up to twice its space (at 100,000
        // users, 200,000 nodes and 300,000 edges).
        let edges = actions.len() + actions.iter().map(|a| a.depends_on.len()).sum::<usize>();
        let mut graph = DiGraph::with_capacity(actions.len() + Step::ALL.len(), edges);
        // Actions by address: indices sorted by address and searched (a twentieth of a hash
        // map's space at 200,000 actions).
        let mut by_address: Vec<u32> = (0..actions.len() as u32).collect();
        by_address.sort_unstable_by(|&x, &y| {
            actions[x as usize]
                .address
                .cmp(&actions[y as usize].address)
        });
        let find = |dep: &str| {
            by_address
                .binary_search_by(|&i| actions[i as usize].address.as_str().cmp(dep))
                .ok()
                .map(|k| by_address[k] as usize)
        };
        let mut action_nodes = Vec::with_capacity(actions.len());
        for i in 0..actions.len() {
            action_nodes.push(graph.add_node(Node::Action(i)));
        }
        let mut gates: HashMap<Step, NodeIndex> = HashMap::new();
        for s in Step::ALL {
            let g = graph.add_node(Node::StepGate(s));
            gates.insert(s, g);
        }
        for (i, a) in actions.iter().enumerate() {
            graph.add_edge(action_nodes[i], gates[&a.step()], ());
            for dep in &a.depends_on {
                let from = if let Some(n) = dep.strip_prefix("step:") {
                    let step = n
                        .parse::<u8>()
                        .ok()
                        .and_then(|n| Step::try_from(n).ok())
                        .ok_or_else(|| DagError::UnknownDependency {
                            from: a.address.to_string(),
                            to: dep.to_string(),
                        })?;
                    if step == a.step() {
                        return Err(DagError::Cycle(a.address.to_string()));
                    }
                    gates[&step]
                } else {
                    let j = find(dep.as_str()).ok_or_else(|| DagError::UnknownDependency {
                        from: a.address.to_string(),
                        to: dep.to_string(),
                    })?;
                    action_nodes[j]
                };
                graph.add_edge(from, action_nodes[i], ());
            }
        }
        let sorted = toposort(&graph, None).map_err(|c| {
            let label = match graph[c.node_id()] {
                Node::Action(i) => actions[i].address.to_string(),
                Node::StepGate(s) => step_dependency(s),
            };
            DagError::Cycle(label)
        })?;
        let order = sorted
            .into_iter()
            .filter_map(|n| match graph[n] {
                Node::Action(i) => Some(i),
                Node::StepGate(_) => None,
            })
            .collect();
        Ok(ActionGraph {
            graph,
            action_nodes,
            order,
        })
    }

    /// Indices of the actions that `i` waits for directly (gates expanded to their actions).
    pub fn prerequisites(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(self.action_nodes[i], petgraph::Direction::Incoming)
            .collect();
        while let Some(n) = stack.pop() {
            match self.graph[n] {
                Node::Action(j) => out.push(j),
                Node::StepGate(_) => stack.extend(
                    self.graph
                        .neighbors_directed(n, petgraph::Direction::Incoming),
                ),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Nodes that directly follow a node.
    pub fn dependents(&self, n: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph
            .neighbors_directed(n, petgraph::Direction::Outgoing)
    }

    /// Number of prerequisites of each node (for a Kahn-style scheduler).
    pub fn in_degrees(&self) -> Vec<usize> {
        let mut deg = vec![0usize; self.graph.node_count()];
        for e in self.graph.raw_edges() {
            deg[e.target().index()] += 1;
        }
        deg
    }
}
