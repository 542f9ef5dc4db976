//! The machine-readable view of a plan (`closeout show PLAN --format json`), in the spirit
//! of `terraform show -json`. Its shape is documented by the JSON Schema in
//! `docs/plan-json.schema.json`; [`JSON_FORMAT_VERSION`] changes with it (minor: fields
//! added; major: fields renamed or removed).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::view::{ActionView, PlanView};
use crate::plan::Fields;

/// Version of the JSON document's shape (`format_version`), `MAJOR.MINOR`.
pub const JSON_FORMAT_VERSION: &str = "1.2";

/// The document's members before `actions` (the members are written in this order, then
/// `actions`, then [`Tail`]'s: a plan's 100,000s of actions are written one by one, never
/// held as a second list).
#[derive(Serialize)]
struct Head<'v> {
    format_version: &'static str,
    closeout_version: &'v str,
    /// The plan file format version the plan was read from or would be written in.
    plan_format_version: u32,
    plan: PlanStamp<'v>,
    redacted: bool,
    tenant: Tenant<'v>,
    keep: Vec<Kept<'v>>,
    summary: Summary,
}

/// The document's members after `actions`.
#[derive(Serialize)]
struct Tail<'v> {
    preflight: Vec<Check<'v>>,
    /// Since 1.1: what the plan's deletions take with them, and the advice to back up.
    data_at_risk: &'v [String],
    /// Since 1.2: the usage reports' figures (the plan's `data` section); absent in plans
    /// made before closeout read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'v crate::plan::DataReport>,
    /// Since 1.1: what still keeps the tenant once the plan is done (empty: it can close).
    cannot_close: Vec<Blocker<'v>>,
}

#[derive(Serialize)]
struct Blocker<'v> {
    check: &'static str,
    why: &'v str,
}

#[derive(Serialize)]
struct PlanStamp<'v> {
    id: &'v str,
    created_at: &'v str,
}

#[derive(Serialize)]
struct Tenant<'v> {
    id: &'v str,
    display_name: &'v str,
    initial_domain: &'v str,
}

#[derive(Serialize)]
struct Kept<'v> {
    id: &'v str,
    user_principal_name: &'v str,
    roles: &'v [String],
}

#[derive(Serialize)]
struct Summary {
    changes: bool,
    total: usize,
    automated: usize,
    manual: usize,
    line: String,
    steps: Vec<StepSummary>,
}

#[derive(Serialize)]
struct StepSummary {
    step: u8,
    title: &'static str,
    total: usize,
    automated: usize,
    manual: usize,
    /// Count per action kind.
    actions: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct Action<'v> {
    address: &'v str,
    step: u8,
    action: &'static str,
    description: &'static str,
    symbol: &'static str,
    manual: bool,
    automated: bool,
    commerce: &'v Fields,
    object_id: &'v str,
    name: &'v str,
    reason: &'v str,
    before: &'v Fields,
    after: &'v Fields,
    depends_on: &'v [std::borrow::Cow<'v, str>],
    warnings: &'v [std::borrow::Cow<'v, str>],
    instructions: Option<&'v str>,
}

#[derive(Serialize)]
struct Check<'v> {
    name: &'v str,
    passed: bool,
    requirement: &'v str,
    blocking: Vec<&'v str>,
    blocking_total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_checked: Option<&'v str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    informational: bool,
}

fn action<'v>(a: &'v ActionView<'v>) -> Action<'v> {
    Action {
        address: &a.address,
        step: a.kind.step().number(),
        action: a.kind.as_str(),
        description: a.kind.describe(),
        symbol: match a.kind.symbol_when(a.automated) {
            '-' => "-",
            '!' => "!",
            _ => "~",
        },
        manual: !a.automated,
        automated: a.automated,
        commerce: &a.commerce,
        object_id: &a.object_id,
        name: &a.name,
        reason: &a.reason,
        before: &a.before,
        after: &a.after,
        depends_on: &a.depends_on,
        warnings: &a.warnings,
        instructions: a.instructions.as_deref(),
    }
}

/// Writes the plan as one JSON document followed by a newline.
pub fn render_plan_json(view: &PlanView, out: &mut dyn Write) -> io::Result<()> {
    render_plan_json_with(view, out, &mut |out| {
        let mut actions = ActionWriter::default();
        for a in view.actions() {
            actions.write(out, a)?;
        }
        Ok(())
    })
}

/// Writes the actions of a JSON document one by one: each action's JSON object (compact,
/// [`super::safe::SafeJson`] escaping), separated by commas. The `[` and `]` around them
/// are [`render_plan_json_with`]'s.
#[derive(Default)]
pub struct ActionWriter {
    written: usize,
    buf: Vec<u8>,
}

impl ActionWriter {
    /// Writes `a` after those already written.
    pub fn write(&mut self, out: &mut dyn Write, a: &ActionView) -> io::Result<()> {
        self.buf.clear();
        if self.written > 0 {
            self.buf.push(b',');
        }
        self.written += 1;
        write_action(&mut self.buf, a)?;
        out.write_all(&self.buf)
    }
}

/// An action's JSON object, byte for byte what serde writes for [`Action`] with
/// [`super::safe::SafeJson`] (a test holds it to that on hostile text), without serde's
/// per-piece calls for the members (a 100,000-user plan writes 200,000 of them).
fn write_action(out: &mut Vec<u8>, a: &ActionView) -> io::Result<()> {
    let v = action(a);
    let bool_ = |b: bool| if b { "true" } else { "false" };
    out.extend_from_slice(b"{\"address\":");
    string(out, v.address)?;
    out.extend_from_slice(format!(",\"step\":{},\"action\":", v.step).as_bytes());
    string(out, v.action)?;
    out.extend_from_slice(b",\"description\":");
    string(out, v.description)?;
    out.extend_from_slice(b",\"symbol\":");
    string(out, v.symbol)?;
    out.extend_from_slice(
        format!(
            ",\"manual\":{},\"automated\":{},\"commerce\":",
            bool_(v.manual),
            bool_(v.automated)
        )
        .as_bytes(),
    );
    super::safe::write_json(&mut *out, v.commerce, false)?;
    out.extend_from_slice(b",\"object_id\":");
    string(out, v.object_id)?;
    out.extend_from_slice(b",\"name\":");
    string(out, v.name)?;
    out.extend_from_slice(b",\"reason\":");
    string(out, v.reason)?;
    out.extend_from_slice(b",\"before\":");
    super::safe::write_json(&mut *out, v.before, false)?;
    out.extend_from_slice(b",\"after\":");
    super::safe::write_json(&mut *out, v.after, false)?;
    for (key, list) in [
        (&b",\"depends_on\":["[..], v.depends_on),
        (&b"],\"warnings\":["[..], v.warnings),
    ] {
        out.extend_from_slice(key);
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, item)?;
        }
    }
    out.extend_from_slice(b"],\"instructions\":");
    match v.instructions {
        Some(i) => string(out, i)?,
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string as serde with [`super::safe::SafeJson`] writes it: printable ASCII without
/// `"` or `\\` as it is (nearly every string of a plan), anything else through serde.
fn string(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        super::safe::write_json(&mut *out, s, false)
    }
}

/// [`render_plan_json`] whose actions are written by `actions` (with an [`ActionWriter`]),
/// not taken from the view: a plan file read action by action writes them as it verifies
/// them (into a spool), and the document once the whole file is verified. The view gives
/// everything else (its counts must be those of all the actions written).
pub fn render_plan_json_with(
    view: &PlanView,
    out: &mut dyn Write,
    actions: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let head = Head {
        format_version: JSON_FORMAT_VERSION,
        closeout_version: view.closeout_version,
        plan_format_version: crate::planfile::FORMAT_VERSION,
        plan: PlanStamp {
            id: view.plan_id,
            created_at: view.created_at,
        },
        redacted: view.redacted,
        tenant: Tenant {
            id: view.tenant_id,
            display_name: &view.tenant_name,
            initial_domain: &view.initial_domain,
        },
        keep: view
            .keep
            .iter()
            .map(|k| Kept {
                id: k.id,
                user_principal_name: &k.user_principal_name,
                roles: k.roles,
            })
            .collect(),
        summary: Summary {
            changes: view.total() > 0,
            total: view.total(),
            automated: view.steps.iter().map(|s| s.automated).sum(),
            manual: view.steps.iter().map(|s| s.manual).sum(),
            line: view.summary.line(),
            steps: view
                .steps
                .iter()
                .map(|s| StepSummary {
                    step: s.step.number(),
                    title: s.step.title(),
                    total: s.automated + s.manual,
                    automated: s.automated,
                    manual: s.manual,
                    actions: s.kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect(),
                })
                .collect(),
        },
    };
    let tail = Tail {
        preflight: view
            .preflight
            .iter()
            .map(|c| Check {
                name: c.name,
                passed: c.passed,
                requirement: c.requirement,
                blocking: c.blocking.iter().map(|b| b.as_ref()).collect(),
                blocking_total: c.blocking.len() + c.more,
                not_checked: c.not_checked.as_deref(),
                informational: c.informational,
            })
            .collect(),
        data_at_risk: &view.data_at_risk,
        data: view.data.as_ref(),
        cannot_close: view
            .blockers
            .iter()
            .map(|b| Blocker {
                check: b.check,
                why: &b.why,
            })
            .collect(),
    };
    // Each part is a JSON object: the document is the head's members, then `actions`,
    // then the tail's members, in one object.
    let mut part = Vec::new();
    super::safe::write_json(&mut part, &head, false)?;
    out.write_all(&part[..part.len() - 1])?;
    out.write_all(b",\"actions\":[")?;
    actions(&mut *out)?;
    out.write_all(b"],")?;
    part.clear();
    super::safe::write_json(&mut part, &tail, false)?;
    out.write_all(&part[1..])?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The hand-written action writer is serde's byte for byte, whatever the text: each
    /// action of the sample plan with random text (quotes, backslashes, control and
    /// invisible characters, non-ASCII) in every string member.
    #[test]
    fn the_action_writer_writes_what_serde_writes() {
        let bytes = include_bytes!("../../plans/contoso.plan.yaml");
        let plan =
            crate::planfile::parse(std::path::Path::new("contoso.plan.yaml"), bytes).unwrap();
        let pool = [
            "a",
            "Z",
            " ",
            "\"",
            "\\",
            "\n",
            "\t",
            "\u{1}",
            "\u{7f}",
            "\u{85}",
            "\u{202e}",
            "\u{200b}",
            "é",
            "漢",
            "🙂",
            "\u{e0041}",
            "/",
            "<",
            "@",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let mut text = || -> String {
            let n = rng.random_range(0..6);
            (0..n)
                .map(|_| pool[rng.random_range(0..pool.len())])
                .collect()
        };
        for round in 0..20 {
            for a in &plan.actions {
                let mut a = a.clone();
                if round > 0 {
                    a.name = text().into();
                    a.reason = text().into();
                    a.address = text().into();
                    a.warnings = [text(), text()].into_iter().collect();
                    a.instructions = Some(text());
                    a.depends_on = [text().into()].into_iter().collect();
                    a.before
                        .insert("userPrincipalName", serde_json::json!(text()));
                }
                let v = crate::render::view::action_view(&a, None, round % 2 == 0);
                let mut ours = Vec::new();
                write_action(&mut ours, &v).unwrap();
                let mut serde = Vec::new();
                crate::render::safe::write_json(&mut serde, &action(&v), false).unwrap();
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    String::from_utf8(serde).unwrap()
                );
            }
        }
    }
}
