//! The view model every renderer reads: a plan grouped by step, with counts, and with
//! names already redacted when asked. Commands decide, renderers render: the text, JSON and
//! Markdown views differ only in layout, never in what they say.

use serde_json::Value;
use std::borrow::Cow;

use super::redact::{is_sensitive_name, Redactor, NAME_PROPERTIES};
use crate::plan::{Action, ActionKind, Fields, Plan, Step, Summary, Tally};

/// What the view shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewOptions {
    /// Replace names with stable short hashes (see [`super::redact`]).
    pub redact: bool,
}

/// A plan as the renderers see it.
pub struct PlanView<'a> {
    pub plan_id: &'a str,
    /// RFC 3339 UTC.
    pub created_at: &'a str,
    pub closeout_version: &'a str,
    pub tenant_id: &'a str,
    pub tenant_name: Cow<'a, str>,
    pub initial_domain: Cow<'a, str>,
    pub keep: Vec<KeptView<'a>>,
    /// The five steps, in order, each with its actions (possibly none).
    pub steps: Vec<StepView<'a>>,
    pub preflight: Vec<CheckView<'a>>,
    pub summary: Summary,
    pub redacted: bool,
    /// What the plan destroys beyond its objects, and the advice to back up first
    /// ([`Plan::data_at_risk`]).
    pub data_at_risk: Vec<String>,
    /// The plan's `data` section (usage report figures), user names and site URLs redacted
    /// when asked.
    pub data: Option<crate::plan::DataReport>,
    /// What still keeps the tenant once the plan is done ([`Plan::closure_blockers`]).
    pub blockers: Vec<crate::plan::Blocker>,
}

/// A kept user.
pub struct KeptView<'a> {
    pub id: &'a str,
    pub user_principal_name: Cow<'a, str>,
    pub roles: &'a [String],
}

/// One of Microsoft's five closure steps and its actions.
pub struct StepView<'a> {
    pub step: Step,
    /// The actions the view holds: all of the step's, or the first few of each kind
    /// ([`plan_view_of`]); `automated`, `manual` and `kinds` count all of them.
    pub actions: Vec<ActionView<'a>>,
    pub automated: usize,
    pub manual: usize,
    /// Actions per kind, in kind order.
    pub kinds: Vec<(ActionKind, usize)>,
}

/// One action.
pub struct ActionView<'a> {
    pub address: Cow<'a, str>,
    pub kind: ActionKind,
    /// The object id; redacted only where it is a name (domains).
    pub object_id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub reason: Cow<'a, str>,
    pub before: Cow<'a, Fields>,
    pub after: Cow<'a, Fields>,
    pub depends_on: Vec<Cow<'a, str>>,
    pub warnings: Vec<Cow<'a, str>>,
    pub instructions: Option<Cow<'a, str>>,
    /// An API performs it ([`crate::plan::Action::automated`]).
    pub automated: bool,
    /// The commerce object of an action through Partner Center or Microsoft.Billing.
    pub commerce: Cow<'a, Fields>,
}

/// One line of the tenant-deletion pre-flight checklist.
pub struct CheckView<'a> {
    pub name: &'a str,
    pub passed: bool,
    pub requirement: &'a str,
    pub blocking: Vec<Cow<'a, str>>,
    /// Blocking objects beyond those listed.
    pub more: usize,
    /// Why the line could not be evaluated (shown instead of pass/FAIL).
    pub not_checked: Option<Cow<'a, str>>,
    /// Information only: never blocks.
    pub informational: bool,
}

impl CheckView<'_> {
    /// Whether the line stands between the tenant and its deletion.
    pub fn blocks(&self) -> bool {
        !self.informational && !self.passed
    }
}

impl PlanView<'_> {
    /// Every action, in plan order.
    pub fn actions(&self) -> impl Iterator<Item = &ActionView<'_>> {
        self.steps.iter().flat_map(|s| s.actions.iter())
    }

    /// Number of actions of the plan (the view may hold fewer, see [`plan_view_of`]).
    pub fn total(&self) -> usize {
        self.steps.iter().map(|s| s.automated + s.manual).sum()
    }
}

impl StepView<'_> {
    /// `49 automated`, `5 manual`, `11 automated, 1 manual`, `nothing to do`.
    pub fn counts_phrase(&self) -> String {
        match (self.automated, self.manual) {
            (0, 0) => "nothing to do".to_string(),
            (a, 0) => format!("{a} automated"),
            (0, m) => format!("{m} manual"),
            (a, m) => format!("{a} automated, {m} manual"),
        }
    }
}

/// Builds the view of `plan`.
pub fn plan_view(plan: &Plan, opts: ViewOptions) -> PlanView<'_> {
    plan_view_of(plan, &plan.tally(), opts, None)
}

/// Builds the view of a plan whose counts are `tally` (of all its actions) and whose
/// `actions` may be only some of them (a plan file read for a view of a few actions per
/// kind, [`crate::planfile::read_kept`]): counts, summary, data at risk and blockers are
/// the tally's; the steps hold the actions of `plan.actions`, at most `limit` per kind in
/// each step when given (a view that lists only so many builds no more). The text view
/// tells how many more there are of each kind.
pub fn plan_view_of<'a>(
    plan: &'a Plan,
    tally: &Tally,
    opts: ViewOptions,
    limit: Option<usize>,
) -> PlanView<'a> {
    let redactor = opts.redact.then(|| Redactor::new(plan));
    plan_view_using(plan, tally, redactor.as_ref(), limit)
}

/// [`plan_view_of`] redacted by `r` when given: a redactor of all the plan's names
/// ([`super::redact::Names`]), whatever actions `plan` holds.
pub fn plan_view_using<'a>(
    plan: &'a Plan,
    tally: &Tally,
    r: Option<&Redactor>,
    limit: Option<usize>,
) -> PlanView<'a> {
    let mut steps: Vec<StepView> = Step::ALL
        .iter()
        .map(|&step| {
            let kinds = tally.kinds_of(step);
            let manual = tally.manual_of(step);
            StepView {
                step,
                actions: Vec::new(),
                automated: kinds.iter().map(|(_, n)| n).sum::<usize>() - manual,
                manual,
                kinds,
            }
        })
        .collect();
    // The tenant-deletion path only when the plan's checklist opens it.
    let open = crate::plan::deletion_path_open(Some(&plan.preflight));
    let mut held: std::collections::HashMap<(Step, ActionKind), usize> = Default::default();
    for a in &plan.actions {
        let sv = &mut steps[usize::from(a.step().number()) - 1];
        if let Some(limit) = limit {
            let n = held.entry((a.step(), a.kind)).or_default();
            if *n >= limit {
                continue;
            }
            *n += 1;
        }
        sv.actions.push(action_view(a, r, open));
    }
    PlanView {
        plan_id: &plan.plan_id,
        created_at: &plan.created_at,
        closeout_version: &plan.tool_version,
        tenant_id: &plan.tenant.id,
        tenant_name: maybe_token(r, &plan.tenant.display_name),
        initial_domain: maybe_token(r, &plan.tenant.initial_domain),
        keep: plan
            .keep
            .iter()
            .map(|k| KeptView {
                id: &k.id,
                user_principal_name: maybe_token(r, &k.user_principal_name),
                roles: &k.roles,
            })
            .collect(),
        steps,
        preflight: plan
            .preflight
            .iter()
            .map(|c| CheckView {
                name: &c.name,
                passed: c.passed,
                requirement: &c.requirement,
                blocking: c.blocking.iter().map(|b| maybe_text(r, b)).collect(),
                more: c.more,
                not_checked: c.not_checked.as_deref().map(|w| maybe_text(r, w)),
                informational: c.informational,
            })
            .chain(plan.data.as_ref().map(|d| {
                // The informational line of the data the closure destroys, from `data`.
                let c = d.check();
                CheckView {
                    name: crate::plan::DATA_CHECK,
                    passed: c.passed,
                    requirement: crate::plan::DATA_REQUIREMENT,
                    blocking: c.blocking.into_iter().map(Cow::Owned).collect(),
                    more: 0,
                    not_checked: c.not_checked.map(|w| match r {
                        Some(r) => Cow::Owned(r.text(&w).into_owned()),
                        None => Cow::Owned(w),
                    }),
                    informational: true,
                }
            }))
            .collect(),
        summary: Summary::of(tally),
        redacted: r.is_some(),
        data_at_risk: plan.data_at_risk_with(tally),
        data: plan.data.as_ref().map(|d| {
            let mut d = d.clone();
            if let Some(r) = r {
                for u in &mut d.users {
                    u.user_principal_name = r.token(&u.user_principal_name);
                }
                for s in &mut d.site_list {
                    s.url = r.token(&s.url);
                }
            }
            d
        }),
        blockers: plan.closure_blockers_with(tally),
    }
}

fn maybe_token<'a>(r: Option<&Redactor>, s: &'a str) -> Cow<'a, str> {
    match r {
        Some(r) => Cow::Owned(r.token(s)),
        None => Cow::Borrowed(s),
    }
}

fn maybe_text<'a>(r: Option<&Redactor>, s: &'a str) -> Cow<'a, str> {
    match r {
        Some(r) => r.text(s),
        None => Cow::Borrowed(s),
    }
}

/// The view of one action; `r` redacts its names, `open`: the plan's checklist opens the
/// tenant-deletion path ([`crate::plan::deletion_path_open`]), which decides the
/// instructions shown.
pub(crate) fn action_view<'a>(a: &'a Action, r: Option<&Redactor>, open: bool) -> ActionView<'a> {
    let fields = |m: &'a Fields| -> Cow<'a, Fields> {
        let Some(r) = r else {
            return Cow::Borrowed(m);
        };
        if !NAME_PROPERTIES.iter().any(|k| m.contains_key(k)) {
            return Cow::Borrowed(m);
        }
        let mut out = m.clone();
        for key in NAME_PROPERTIES {
            if let Some(Value::String(s)) = out.get_mut(key) {
                *s = r.token(s);
            }
        }
        Cow::Owned(out)
    };
    let address = |s: &'a str| match r {
        Some(r) => r.address(s),
        None => Cow::Borrowed(s),
    };
    ActionView {
        address: address(&a.address),
        kind: a.kind,
        object_id: match r {
            Some(r) => r.object_id(a.kind, &a.object_id),
            None => Cow::Borrowed(&a.object_id),
        },
        name: if is_sensitive_name(a.kind) {
            maybe_token(r, &a.name)
        } else {
            Cow::Borrowed(&a.name)
        },
        reason: maybe_text(r, &a.reason),
        before: fields(&a.before),
        after: fields(&a.after),
        depends_on: a.depends_on.iter().map(|d| address(d)).collect(),
        warnings: a.warnings.iter().map(|w| maybe_text(r, w)).collect(),
        instructions: crate::plan::shown_instructions(a, open).map(|i| maybe_text(r, i)),
        automated: a.automated,
        commerce: fields(&a.commerce),
    }
}
