//! The human text view of a plan: per step, per object, Terraform-like symbols, colour
//! when the caller asks for it (the CLI decides: terminal, `NO_COLOR`, `--no-color`).

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::safe::Safe;
use super::view::{ActionView, PlanView};
use crate::plan::{ActionKind, Step};

/// Options of the text view.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// Show every action; otherwise at most `limit` of each kind per step and a count of
    /// the rest.
    pub full: bool,
    pub limit: usize,
    /// Write ANSI colour codes.
    pub color: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            full: false,
            limit: 25,
            color: false,
        }
    }
}

/// The styles of the text view; all plain when colour is off.
struct Palette {
    bold: Style,
    delete: Style,
    change: Style,
    manual: Style,
    warn: Style,
    pass: Style,
    fail: Style,
    dim: Style,
}

impl Palette {
    fn new(color: bool) -> Palette {
        let fg = |c: AnsiColor| {
            if color {
                Style::new().fg_color(Some(c.into()))
            } else {
                Style::new()
            }
        };
        let plain = |s: Style| if color { s } else { Style::new() };
        Palette {
            bold: plain(Style::new().bold()),
            delete: fg(AnsiColor::Red),
            change: fg(AnsiColor::Yellow),
            manual: plain(fg(AnsiColor::Magenta).bold()),
            warn: fg(AnsiColor::Yellow),
            pass: fg(AnsiColor::Green),
            fail: plain(fg(AnsiColor::Red).bold()),
            dim: plain(Style::new().dimmed()),
        }
    }

    fn symbol(&self, kind: ActionKind, automated: bool) -> Style {
        match kind.symbol_when(automated) {
            '-' => self.delete,
            '!' => self.manual,
            _ => self.change,
        }
    }
}

/// Writes the plan for a person.
pub fn render_plan_text(view: &PlanView, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    render_plan_text_with(view, opts, out, None)
}

/// Whether the view's pre-flight checklist passes (the tenant deletion's instructions are
/// shown then, see [`write_action_text`]).
pub fn checklist_passes(view: &PlanView) -> bool {
    !view.preflight.is_empty() && !view.preflight.iter().any(|c| c.blocks())
}

/// One action as the full text view lists it (`--full`), in colour or not;
/// `checklist_passes`: [`checklist_passes`] of the plan's view.
pub fn write_action_text(
    a: &ActionView,
    color: bool,
    checklist_passes: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_action(a, &Palette::new(color), checklist_passes, out)
}

/// Writes the actions of one step into the text view ([`render_plan_text_with`]).
pub type StepWriter<'w> = dyn FnMut(Step, &mut dyn Write) -> io::Result<()> + 'w;

/// [`render_plan_text`] with `full`, each step's actions written by `steps` (with
/// [`write_action_text`], in plan order) instead of taken from the view: a plan file read
/// action by action lists them as it verifies them (into a spool per step). `None`: from
/// the view.
pub fn render_plan_text_with(
    view: &PlanView,
    opts: TextOptions,
    out: &mut dyn Write,
    mut steps: Option<&mut StepWriter>,
) -> io::Result<()> {
    let p = Palette::new(opts.color);
    let (b, d) = (p.bold, p.dim);
    writeln!(
        out,
        "{b}Tenant:{b:#} {} ({}, {})",
        Safe(&view.tenant_name),
        Safe(&view.initial_domain),
        Safe(view.tenant_id)
    )?;
    let kept: Vec<String> = view
        .keep
        .iter()
        .map(|k| {
            if k.roles.is_empty() {
                Safe(&k.user_principal_name).to_string()
            } else {
                format!(
                    "{} [{}]",
                    Safe(&k.user_principal_name),
                    Safe(&k.roles.join(", "))
                )
            }
        })
        .collect();
    writeln!(out, "{b}Kept:{b:#}   {}", kept.join(", "))?;
    writeln!(
        out,
        "{d}Plan {} made {} by closeout {}{}{d:#}",
        Safe(view.plan_id),
        Safe(view.created_at),
        Safe(view.closeout_version),
        if view.redacted {
            "; names redacted"
        } else {
            ""
        }
    )?;
    writeln!(out)?;
    if view.total() == 0 {
        writeln!(out, "{b}{}{b:#}", view.summary.line())?;
        return Ok(());
    }
    let (del, chg, man) = (p.delete, p.change, p.manual);
    writeln!(
        out,
        "Symbols: {del}-{del:#} delete   {chg}~{chg:#} change   {man}!{man:#} manual (done by a person, verified by closeout)"
    )?;
    for step in &view.steps {
        writeln!(out)?;
        write!(
            out,
            "{b}Step {}: {}{b:#} {d}({}",
            step.step.number(),
            step.step.title(),
            step.counts_phrase()
        )?;
        if step.kinds.len() > 1 {
            let kinds: Vec<String> = step
                .kinds
                .iter()
                .map(|(k, n)| format!("{n} {}", k.describe()))
                .collect();
            write!(out, ": {}", kinds.join(", "))?;
        }
        writeln!(out, "){d:#}")?;
        if let Some(write_step) = steps.as_mut() {
            write_step(step.step, out)?;
            continue;
        }
        if step.actions.is_empty() {
            continue;
        }
        // Long lists are cut per kind, so every kind of action in the step is seen.
        let checklist_passes = checklist_passes(view);
        // Actions of each kind the view holds but has not listed yet: a view of the first
        // few of each kind (`plan_view_of`) tells the rest with the kind's last run.
        let mut unlisted: Vec<(ActionKind, usize)> = step.kinds.clone();
        let mut held: Vec<(ActionKind, usize)> = Vec::new();
        for a in &step.actions {
            match held.iter_mut().find(|(k, _)| *k == a.kind) {
                Some((_, n)) => *n += 1,
                None => held.push((a.kind, 1)),
            }
        }
        for run in step.actions.chunk_by(|a, b| a.kind == b.kind) {
            let shown = if opts.full {
                run.len()
            } else {
                run.len().min(opts.limit)
            };
            for a in &run[..shown] {
                write_action(a, &p, checklist_passes, out)?;
            }
            let kind = run[0].kind;
            let count = |v: &mut Vec<(ActionKind, usize)>| {
                v.iter_mut()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, n)| n)
                    .map_or(0, |n| {
                        *n = n.saturating_sub(run.len());
                        *n
                    })
            };
            let held_later = count(&mut held);
            let beyond = count(&mut unlisted);
            // After the kind's last run held: the actions of the kind the view does not hold.
            let not_held = if held_later == 0 { beyond } else { 0 };
            let more = run.len() - shown + not_held;
            if more > 0 {
                writeln!(
                    out,
                    "  {d}... and {more} more '{}' (use --full to list all){d:#}",
                    kind.describe()
                )?;
            }
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{b}Pre-flight checklist for deleting the tenant (as read now):{b:#}"
    )?;
    for c in &view.preflight {
        if let Some(why) = &c.not_checked {
            let s = p.fail;
            writeln!(
                out,
                "  [{s}not checked{s:#}] {}: {}: {}",
                Safe(c.name),
                Safe(c.requirement),
                Safe(why)
            )?;
        } else if c.informational {
            writeln!(out, "  [info] {}: {}", Safe(c.name), Safe(c.requirement))?;
            for b in &c.blocking {
                writeln!(out, "        {}", Safe(b))?;
            }
        } else if c.passed {
            let s = p.pass;
            writeln!(
                out,
                "  [{s}pass{s:#}] {}: {}",
                Safe(c.name),
                Safe(c.requirement)
            )?;
        } else {
            let s = p.fail;
            let n = c.blocking.len();
            let stays = view.blockers.iter().find(|b| b.check == c.name);
            writeln!(
                out,
                "  [{s}FAIL{s:#}] {}: {} ({} blocking; {})",
                Safe(c.name),
                Safe(c.requirement),
                n + c.more,
                match stays {
                    Some(b) => format!("still blocking after this plan: {}", b.why),
                    None => "this plan removes what it can".to_string(),
                }
            )?;
            let show = if opts.full { n } else { n.min(5) };
            for b in &c.blocking[..show] {
                writeln!(out, "        {}", Safe(b))?;
            }
            if show < n || c.more > 0 {
                writeln!(out, "        ... and {} more", n - show + c.more)?;
            }
        }
    }
    if !view.blockers.is_empty() {
        writeln!(out)?;
        let w = p.fail;
        writeln!(
            out,
            "{w}This plan cannot close the tenant:{w:#} once it is applied, these still block the deletion:"
        )?;
        for b in &view.blockers {
            writeln!(out, "  {}: {}", b.check, b.why)?;
        }
    }
    if !view.data_at_risk.is_empty() {
        writeln!(out)?;
        let w = p.warn;
        writeln!(out, "{w}Data at risk:{w:#}")?;
        for line in &view.data_at_risk {
            writeln!(out, "  {line}")?;
        }
        // Per user (the largest first), as many as the view's limit unless --full.
        if let Some(data) = &view.data {
            use crate::plan::data_units::{bytes, thousands};
            let mut users: Vec<_> = data.users.iter().collect();
            users.sort_by_key(|u| {
                std::cmp::Reverse(u.mailbox_bytes.saturating_add(u.onedrive_bytes))
            });
            let shown = if opts.full {
                users.len()
            } else {
                opts.limit.min(users.len())
            };
            for u in &users[..shown] {
                writeln!(
                    out,
                    "    {}: mailbox {} ({} items), OneDrive {} ({} files)",
                    Safe(&u.user_principal_name),
                    bytes(u.mailbox_bytes),
                    thousands(u.mailbox_items),
                    bytes(u.onedrive_bytes),
                    thousands(u.onedrive_files)
                )?;
            }
            if shown < users.len() {
                writeln!(
                    out,
                    "    {d}... and {} more users with data (--full){d:#}",
                    users.len() - shown
                )?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "{b}{}{b:#}", view.summary.line())?;
    Ok(())
}

fn write_action(
    a: &ActionView,
    p: &Palette,
    checklist_passes: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = p.symbol(a.kind, a.automated);
    writeln!(
        out,
        "  {s}{}{s:#} {} {}",
        a.kind.symbol_when(a.automated),
        a.kind.describe(),
        Safe(&a.name)
    )?;
    let w = p.warn;
    for warning in &a.warnings {
        writeln!(out, "      {w}warning:{w:#} {}", Safe(warning))?;
    }
    match &a.instructions {
        Some(_) if a.kind == ActionKind::DeleteTenant && !checklist_passes => writeln!(
            out,
            "      how: once every line of the pre-flight checklist below passes, `closeout apply` shows where to delete the tenant"
        )?,
        Some(i) => writeln!(out, "      how: {}", Safe(i))?,
        None => {}
    }
    Ok(())
}
