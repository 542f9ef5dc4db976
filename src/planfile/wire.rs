//! The version-1 wire types of the plan file. Private to the file layer: renaming a field
//! here is a format change and needs a new [`FORMAT_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Action, ActionKind, Check, KeptUser, Plan, Step, Target, TenantRef};

/// The plan-file format version this closeout reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The body of a file, after the `plan:` line, in one piece. Written and read in pieces
/// ([`body_yaml`], [`parse_body`]) with the same bytes and meaning; the tests hold the
/// pieces to it.
#[cfg(test)]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    closeout_version: String,
    tenant: TenantRef,
    keep: Vec<KeptUser>,
    target: Target,
    /// The tenant-deletion pre-flight checklist as evaluated when planning.
    preflight: Vec<Check>,
    actions: Vec<WireAction>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(deny_unknown_fields)]
struct WireAction {
    address: String,
    step: Step,
    action: ActionKind,
    name: String,
    id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    manual: bool,
    reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    before: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    after: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Stamp {
    id: String,
    created_at: String,
    digest: String,
}

/// The whole file in one struct (no `flatten`, so serde_yaml reports errors at the line
/// and column of the offending field).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format_version: u32,
    plan: Stamp,
    closeout_version: String,
    tenant: TenantRef,
    keep: Vec<KeptUser>,
    target: Target,
    preflight: Vec<Check>,
    actions: Vec<WireAction>,
}

/// The body without its actions, borrowed, for writing.
#[derive(Serialize)]
struct HeadOut<'a> {
    closeout_version: &'a str,
    tenant: &'a TenantRef,
    keep: &'a [KeptUser],
    /// The closure options the plan was computed with.
    target: &'a Target,
    preflight: &'a [Check],
}

/// [`WireAction`], borrowed, for writing: the same fields, names and order.
#[derive(Serialize)]
struct WireActionOut<'a> {
    address: &'a str,
    step: Step,
    action: ActionKind,
    name: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    manual: bool,
    reason: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    depends_on: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    before: &'a BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    after: &'a BTreeMap<String, serde_json::Value>,
}

fn action_out(a: &Action) -> WireActionOut<'_> {
    WireActionOut {
        address: &a.address,
        step: a.step(),
        action: a.kind,
        name: &a.name,
        id: &a.object_id,
        manual: a.kind.is_manual(),
        reason: &a.reason,
        warnings: &a.warnings,
        instructions: a.instructions.as_deref(),
        depends_on: &a.depends_on,
        before: &a.before,
        after: &a.after,
    }
}

fn actions_yaml(actions: &[Action]) -> String {
    let out: Vec<WireActionOut> = actions.iter().map(action_out).collect();
    // Serialising plain structs, strings and JSON values to YAML cannot fail.
    serde_yaml::to_string(&out).unwrap_or_default()
}

/// The body (everything after the `plan:` line) as YAML: the bytes `serde_yaml` writes for
/// the body in one piece. A large action list is written in slices on separate threads and joined:
/// a block sequence under a top-level key is written in column 0, exactly as a sequence
/// on its own.
pub fn body_yaml(plan: &Plan) -> String {
    let head = HeadOut {
        closeout_version: &plan.tool_version,
        tenant: &plan.tenant,
        keep: &plan.keep,
        target: &plan.target,
        preflight: &plan.preflight,
    };
    let mut out = serde_yaml::to_string(&head).unwrap_or_default();
    if plan.actions.is_empty() {
        out.push_str("actions: []\n");
        return out;
    }
    out.push_str("actions:\n");
    if plan.actions.len() < PARALLEL_FROM {
        out.push_str(&actions_yaml(&plan.actions));
        return out;
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16);
    let size = plan.actions.len().div_ceil(threads);
    let pieces: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .actions
            .chunks(size)
            .map(|c| scope.spawn(move || actions_yaml(c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for p in pieces {
        out.push_str(&p);
    }
    out
}

fn location(e: &serde_yaml::Error) -> String {
    e.location()
        .map(|l| format!(":{}:{}", l.line(), l.column()))
        .unwrap_or_default()
}

/// Finds a top-level `format_version: N` line without parsing the YAML (plan files are
/// large; the full parse follows once the version is known). `None` when there is no
/// such plain line: [`peek_version`] then decides, with the parser's location.
pub fn scan_version(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix("format_version:"))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|v| !v.is_empty() && !v.contains([' ', '#', '{', '[']))
}

/// Reads `format_version` alone, so an unknown version is reported as such.
pub fn peek_version(text: &str) -> Result<String, (String, String)> {
    #[derive(Deserialize)]
    struct Peek {
        format_version: Option<serde_yaml::Value>,
    }
    let peek: Peek = serde_yaml::from_str(text).map_err(|e| (location(&e), e.to_string()))?;
    match peek.format_version {
        None => Err((
            String::new(),
            "no format_version: this is not a closeout plan file".into(),
        )),
        Some(serde_yaml::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_yaml::Value::String(s)) => Ok(s),
        Some(other) => Ok(format!("{other:?}")),
    }
}

/// Everything of a file but its actions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    #[allow(dead_code)]
    format_version: u32,
    plan: Stamp,
    closeout_version: String,
    tenant: TenantRef,
    keep: Vec<KeptUser>,
    target: Target,
    preflight: Vec<Check>,
}

/// Below this many actions a file is parsed in one piece.
const PARALLEL_FROM: usize = 2_000;

/// The fast path for large files in the layout closeout writes (`actions:` last, a block
/// sequence whose items start in column 0): the head and slices of the action list are
/// parsed on separate threads. `None` when the file is not in that layout or any piece
/// fails to parse; the caller then parses the whole file in one piece, which is the
/// authority on what the file means and reports errors with their line and column.
fn parse_in_pieces(text: &str) -> Option<(Head, Vec<WireAction>)> {
    const KEY: &str = "\nactions:\n";
    let key = text.find(KEY)?;
    let head = &text[..=key];
    let items = &text[key + KEY.len()..];
    let mut starts = Vec::new();
    let mut at = 0;
    for line in items.split_inclusive('\n') {
        if line.starts_with("- ") {
            starts.push(at);
        } else if !line.starts_with(' ') {
            return None;
        }
        at += line.len();
    }
    if starts.len() < PARALLEL_FROM || starts.first() != Some(&0) {
        return None;
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 16);
    let mut bounds: Vec<usize> = (0..threads)
        .map(|t| starts[t * starts.len() / threads])
        .collect();
    bounds.dedup();
    bounds.push(items.len());
    std::thread::scope(|scope| {
        let pieces: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let piece = &items[w[0]..w[1]];
                scope.spawn(move || serde_yaml::from_str::<Vec<WireAction>>(piece).ok())
            })
            .collect();
        let head: Option<Head> = serde_yaml::from_str(head).ok();
        let mut actions = Vec::with_capacity(starts.len());
        for p in pieces {
            actions.extend(p.join().ok()??);
        }
        Some((head?, actions))
    })
}

/// Parses a version-1 file into a plan and the recorded digest.
pub fn parse_body(text: &str) -> Result<(Plan, String), (String, String)> {
    let (head, wire_actions) = match parse_in_pieces(text) {
        Some(parsed) => parsed,
        None => {
            let file: File =
                serde_yaml::from_str(text).map_err(|e| (location(&e), e.to_string()))?;
            let head = Head {
                format_version: file.format_version,
                plan: file.plan,
                closeout_version: file.closeout_version,
                tenant: file.tenant,
                keep: file.keep,
                target: file.target,
                preflight: file.preflight,
            };
            (head, file.actions)
        }
    };
    let mut actions = Vec::with_capacity(wire_actions.len());
    for (i, w) in wire_actions.into_iter().enumerate() {
        let at = format!(" (actions[{i}], {})", w.address);
        if w.step != w.action.step() {
            return Err((
                at,
                format!(
                    "action {} belongs to step {}, not {}",
                    w.action.as_str(),
                    w.action.step().number(),
                    w.step.number()
                ),
            ));
        }
        if w.manual != w.action.is_manual() {
            return Err((
                at,
                format!(
                    "action {} is {}manual",
                    w.action.as_str(),
                    if w.action.is_manual() { "" } else { "not " }
                ),
            ));
        }
        if w.address != Action::address_of(w.action, &w.id) {
            return Err((
                at,
                format!("address must be {}", Action::address_of(w.action, &w.id)),
            ));
        }
        actions.push(Action {
            address: w.address,
            kind: w.action,
            object_id: w.id,
            name: w.name,
            reason: w.reason,
            before: w.before,
            after: w.after,
            depends_on: w.depends_on,
            warnings: w.warnings,
            instructions: w.instructions,
        });
    }
    let plan = Plan {
        tenant: head.tenant,
        plan_id: head.plan.id,
        created_at: head.plan.created_at,
        tool_version: head.closeout_version,
        keep: head.keep,
        target: head.target,
        actions,
        preflight: head.preflight,
    };
    Ok((plan, head.plan.digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan with `n` actions, each different, from the checked-in contoso plan.
    fn plan_with(n: usize) -> Plan {
        let text = include_str!("../../plans/contoso.plan.yaml");
        let (mut plan, _) = parse_body(text).expect("the checked-in plan parses");
        let template = plan.actions.clone();
        plan.actions = (0..n)
            .map(|i| {
                let mut a = template[i % template.len()].clone();
                a.object_id = format!("{}-{i}", a.object_id);
                a.address = Action::address_of(a.kind, &a.object_id);
                a
            })
            .collect();
        plan
    }

    /// What serde_yaml writes for the whole body in one piece.
    fn in_one_piece(plan: &Plan) -> String {
        let body = Body {
            closeout_version: plan.tool_version.clone(),
            tenant: plan.tenant.clone(),
            keep: plan.keep.clone(),
            target: plan.target,
            preflight: plan.preflight.clone(),
            actions: plan
                .actions
                .iter()
                .map(|a| WireAction {
                    address: a.address.clone(),
                    step: a.step(),
                    action: a.kind,
                    name: a.name.clone(),
                    id: a.object_id.clone(),
                    manual: a.kind.is_manual(),
                    reason: a.reason.clone(),
                    warnings: a.warnings.clone(),
                    instructions: a.instructions.clone(),
                    depends_on: a.depends_on.clone(),
                    before: a.before.clone(),
                    after: a.after.clone(),
                })
                .collect(),
        };
        serde_yaml::to_string(&body).unwrap()
    }

    #[test]
    fn body_written_in_slices_is_the_body_written_whole() {
        for n in [0, 1, 77, PARALLEL_FROM + 1, 3 * PARALLEL_FROM + 7] {
            let plan = plan_with(n);
            assert_eq!(body_yaml(&plan), in_one_piece(&plan), "{n} actions");
        }
    }

    #[test]
    fn body_read_in_pieces_is_the_body_read_whole() {
        let plan = plan_with(2 * PARALLEL_FROM + 3);
        let text = format!(
            "format_version: 1\nplan: {{id: x, created_at: y, digest: z}}\n{}",
            body_yaml(&plan)
        );
        let (pieces_head, pieces) = parse_in_pieces(&text).expect("the fast path applies");
        let whole: File = serde_yaml::from_str(&text).unwrap();
        assert_eq!(pieces.len(), whole.actions.len());
        assert_eq!(pieces_head.keep, whole.keep);
        for (a, b) in pieces.iter().zip(&whole.actions) {
            assert_eq!(a.address, b.address);
            assert_eq!(a.before, b.before);
            assert_eq!(a.depends_on, b.depends_on);
        }
        let (parsed, _) = parse_body(&text).unwrap();
        assert_eq!(parsed.actions, plan.actions);
        // A file not in closeout's layout takes the one-piece path.
        let edited = text.replacen("\n- address:", "\n# a comment\n- address:", 1);
        assert!(parse_in_pieces(&edited).is_none());
        assert_eq!(parse_body(&edited).unwrap().0.actions, plan.actions);
    }
}
