//! `closeout graph`: a plan's action DAG in Graphviz dot. Nodes are labelled with what they
//! do and to what (`delete user adele@contoso.com`) above their address; a step's gate
//! is an ellipse, and an action's membership of its step is drawn as a dotted grey edge,
//! apart from the solid ordering edges (prerequisite -> dependent). Labels are tenant text:
//! neutralised for the terminal ([`super::safe`]) and escaped for dot's quoted strings.

use std::fmt::Write as _;

use petgraph::visit::EdgeRef;

use super::safe::safe;
use crate::plan::Action;
use crate::planner::dag_node::Node;
use crate::planner::ActionGraph;

/// A dot quoted string's content: `"` and `\` escaped, so a label cannot end the string
/// and no dot escape (`\l`, `\N`) is taken from tenant text.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in safe(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Renders `graph` (built from `actions`) as a dot digraph.
pub fn render_plan_dot(graph: &ActionGraph, actions: &[Action]) -> String {
    let mut out = String::from("digraph closeout {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in graph.graph.node_indices() {
        let (label, shape) = match graph.graph[n] {
            Node::Action(i) => {
                let a = &actions[i];
                let label = format!(
                    "{} {}\\n{}",
                    a.kind.describe(),
                    dot_escape(&a.name),
                    dot_escape(&a.address)
                );
                (
                    label,
                    if a.kind.is_manual() {
                        " shape=hexagon"
                    } else {
                        ""
                    },
                )
            }
            Node::StepGate(s) => (
                format!("step {}: {}", s.number(), dot_escape(s.title())),
                " shape=ellipse style=dashed",
            ),
        };
        let _ = writeln!(out, "  n{} [label=\"{label}\"{shape}];", n.index());
    }
    for e in graph.graph.edge_references() {
        let membership = matches!(
            (graph.graph[e.source()], graph.graph[e.target()]),
            (Node::Action(_), Node::StepGate(_))
        );
        let style = if membership {
            " [style=dotted color=gray arrowhead=none]"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  n{} -> n{}{style};",
            e.source().index(),
            e.target().index()
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_end_their_string() {
        assert_eq!(
            dot_escape("a\"];x->y;\\l\u{1b}"),
            "a\\\"];x->y;\\\\l\\\\u{1b}"
        );
    }
}
