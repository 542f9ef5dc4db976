//! The version-1 wire types of the plan file. Private to the file layer: renaming a field
//! here is a format change and needs a new [`FORMAT_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Action, ActionKind, Check, KeptUser, Plan, Step, TenantRef};

/// The plan-file format version this closeout reads and writes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    closeout_version: String,
    tenant: TenantRef,
    keep: Vec<KeptUser>,
    /// The tenant-deletion pre-flight checklist as evaluated when planning.
    preflight: Vec<Check>,
    actions: Vec<WireAction>,
}

#[derive(Serialize, Deserialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    format_version: u32,
    plan: Stamp,
    #[serde(flatten)]
    body: FlatBody,
}

/// `Body` again, for `flatten` (which cannot be combined with `deny_unknown_fields`).
#[derive(Deserialize)]
struct FlatBody {
    closeout_version: String,
    tenant: TenantRef,
    keep: Vec<KeptUser>,
    preflight: Vec<Check>,
    actions: Vec<WireAction>,
}

/// The body (everything after the `plan:` line) as YAML.
pub fn body_yaml(plan: &Plan) -> String {
    let body = Body {
        closeout_version: plan.tool_version.clone(),
        tenant: plan.tenant.clone(),
        keep: plan.keep.clone(),
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
    // Serialising plain structs, strings and JSON values to YAML cannot fail.
    serde_yaml::to_string(&body).unwrap_or_default()
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

/// Parses a version-1 file into a plan and the recorded digest.
pub fn parse_body(text: &str) -> Result<(Plan, String), (String, String)> {
    let file: File = serde_yaml::from_str(text).map_err(|e| (location(&e), e.to_string()))?;
    let mut actions = Vec::with_capacity(file.body.actions.len());
    for (i, w) in file.body.actions.into_iter().enumerate() {
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
        tenant: file.body.tenant,
        plan_id: file.plan.id,
        created_at: file.plan.created_at,
        tool_version: file.body.closeout_version,
        keep: file.body.keep,
        actions,
        preflight: file.body.preflight,
    };
    Ok((plan, file.plan.digest))
}
