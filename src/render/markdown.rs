//! The pull-request comment view of a plan (GitHub-flavoured Markdown): a summary table
//! per step first, then each step's actions, long lists folded in `<details>`, manual
//! actions as a task list with their instructions, the pre-flight checklist last.
//!
//! GitHub refuses comments over 65,536 characters, so without `full` each step lists at
//! most `limit` actions and points to the plan file for the rest.

use std::io::{self, Write};

use super::view::{ActionView, PlanView, StepView};
use crate::plan::ActionKind;

/// Options of the Markdown view.
#[derive(Debug, Clone, Copy)]
pub struct MarkdownOptions {
    /// List every action (may exceed GitHub's comment size for large tenants).
    pub full: bool,
    /// Actions listed per step without `full`.
    pub limit: usize,
    /// Steps with more actions than this are folded in `<details>`.
    pub fold_over: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            full: false,
            limit: 100,
            fold_over: 10,
        }
    }
}

/// Escapes text for a Markdown paragraph or table cell, so tenant text is shown literally:
/// characters a terminal or browser would obey are shown as `\u{202e}` (see
/// [`super::safe`]); Markdown's punctuation is backslash-escaped (emphasis, code, links,
/// tables, headings, strikethrough, images); HTML's `<`, `>` and `&` become entities; and
/// `@` and `#` are followed by a zero-width-space entity, which GitHub shows as nothing but
/// which stops `@team` mentions and `#123` references. Backslash escapes and `&#64;` do not
/// stop them: GitHub finds mentions after the Markdown is rendered
/// (<https://github.com/github/cmark-gfm/issues/181>).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if super::safe::is_unsafe(c) => {
                out.push_str(&super::safe::safe(c.encode_utf8(&mut [0; 4])))
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '@' => out.push_str("@&#8203;"),
            '#' => out.push_str("#&#8203;"),
            _ => out.push(c),
        }
    }
    out
}

/// A code span, safe inside a table cell: unsafe characters shown escaped, backticks (which
/// would end the span) shown as `'`, pipes escaped for GitHub's tables. Inside a code span
/// Markdown, HTML and mentions are inert.
pub(crate) fn code(s: &str) -> String {
    let cleaned = super::safe::safe(s).replace('`', "'");
    format!("`{}`", cleaned.replace('|', "\\|"))
}

fn dash_if_zero(n: usize) -> String {
    if n == 0 {
        "·".to_string()
    } else {
        n.to_string()
    }
}

fn kinds_phrase(step: &StepView) -> String {
    step.kinds
        .iter()
        .map(|(k, n)| format!("{n} {}", k.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the Markdown view says of all of a plan's actions beyond the view's counts: the
/// kinds of each step's automated actions in the order they first appear, and the
/// warnings of automated actions grouped by text with the first few actions of each.
/// Accumulated one action at a time, in plan order ([`MarkdownTally::add`]), so a plan
/// file can be shown while it is read without holding its actions.
#[derive(Debug, Clone)]
pub struct MarkdownTally {
    /// Per step (`Step::number() - 1`): `(kind, count)` of its automated actions.
    automated_kinds: Vec<Vec<(ActionKind, usize)>>,
    /// Warning groups, in the order their text first appears.
    warnings: Vec<WarningGroup>,
    by_text: std::collections::HashMap<String, usize>,
    /// Actions named per warning group.
    names_kept: usize,
}

#[derive(Debug, Clone)]
struct WarningGroup {
    text: String,
    /// Automated actions with this warning.
    total: usize,
    /// The first [`MarkdownTally::names_kept`] of them: kind and name.
    first: Vec<(ActionKind, String)>,
}

/// Actions named per warning text without `full`.
const WARNING_NAMES: usize = 10;

impl MarkdownTally {
    /// An empty tally for a view with `opts` (with `full`, every action of a warning is
    /// named).
    pub fn new(opts: MarkdownOptions) -> Self {
        MarkdownTally {
            automated_kinds: vec![Vec::new(); crate::plan::Step::ALL.len()],
            warnings: Vec::new(),
            by_text: Default::default(),
            names_kept: if opts.full { usize::MAX } else { WARNING_NAMES },
        }
    }

    /// The tally of the actions a view holds (all of the plan's when it was read whole).
    pub fn of(view: &PlanView, opts: MarkdownOptions) -> Self {
        let mut t = MarkdownTally::new(opts);
        for s in &view.steps {
            for a in &s.actions {
                t.add(s.step, a.kind, a.automated, &a.name, a.warnings.iter());
            }
        }
        t
    }

    /// Counts one more action (of `step`, `kind`, automated or not, its shown name and
    /// its warnings).
    pub fn add<W: AsRef<str>>(
        &mut self,
        step: crate::plan::Step,
        kind: ActionKind,
        automated: bool,
        name: &str,
        warnings: impl IntoIterator<Item = W>,
    ) {
        if !automated {
            return;
        }
        let kinds = &mut self.automated_kinds[usize::from(step.number()) - 1];
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
        for w in warnings {
            let w = w.as_ref();
            let i = match self.by_text.get(w) {
                Some(&i) => i,
                None => {
                    self.warnings.push(WarningGroup {
                        text: w.to_string(),
                        total: 0,
                        first: Vec::new(),
                    });
                    self.by_text.insert(w.to_string(), self.warnings.len() - 1);
                    self.warnings.len() - 1
                }
            };
            let g = &mut self.warnings[i];
            g.total += 1;
            if g.first.len() < self.names_kept {
                g.first.push((kind, name.to_string()));
            }
        }
    }
}

/// Writes the plan as a pull-request comment.
pub fn render_plan_markdown(
    view: &PlanView,
    opts: MarkdownOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    render_plan_markdown_with(view, &MarkdownTally::of(view, opts), opts, out)
}

/// [`render_plan_markdown`] of a view that holds only some of the plan's actions: at
/// least the first [`MarkdownOptions::limit`] automated and the first as many manual
/// actions of each step (all of them with `full`); `tally` is of all the actions.
pub fn render_plan_markdown_with(
    view: &PlanView,
    tally: &MarkdownTally,
    opts: MarkdownOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "## closeout plan: close tenant {} ({})\n",
        esc(&view.tenant_name),
        code(&view.initial_domain)
    )?;
    writeln!(out, "**{}**\n", esc(&view.summary.line()))?;
    let kept: Vec<String> = view
        .keep
        .iter()
        .map(|k| {
            if k.roles.is_empty() {
                code(&k.user_principal_name)
            } else {
                format!(
                    "{} ({})",
                    code(&k.user_principal_name),
                    esc(&k.roles.join(", "))
                )
            }
        })
        .collect();
    writeln!(
        out,
        "Tenant {} · kept: {} · plan {} made {} by closeout {}{}\n",
        code(view.tenant_id),
        kept.join(", "),
        code(view.plan_id),
        esc(view.created_at),
        esc(view.closeout_version),
        if view.redacted {
            " · names redacted"
        } else {
            ""
        }
    )?;
    if view.total() == 0 {
        return footer(view, out);
    }

    writeln!(out, "| Step | | Automated | Manual | Actions |")?;
    writeln!(out, "|:---:|---|---:|---:|---|")?;
    for s in &view.steps {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            s.step.number(),
            esc(s.step.title()),
            dash_if_zero(s.automated),
            dash_if_zero(s.manual),
            if s.automated + s.manual == 0 {
                "nothing to do".to_string()
            } else {
                esc(&kinds_phrase(s))
            }
        )?;
    }
    writeln!(out)?;

    let manual: usize = view.steps.iter().map(|s| s.manual).sum();
    if manual > 0 {
        writeln!(
            out,
            "> [!IMPORTANT]\n> {manual} action{} no API can perform: a person does {} in the admin centers \
             (instructions below), and `closeout apply` verifies {} by reading the tenant.\n",
            if manual == 1 { " is one" } else { "s are ones" },
            if manual == 1 { "it" } else { "them" },
            if manual == 1 { "it" } else { "them" },
        )?;
    }
    if !view.blockers.is_empty() {
        let lines: Vec<String> = view
            .blockers
            .iter()
            .map(|b| format!("- {}: {}", esc(b.check), esc(&b.why)))
            .collect();
        writeln!(
            out,
            "> [!WARNING]\n> This plan cannot close the tenant: once it is applied, these still block the deletion:\n>\n> {}\n",
            lines.join("\n> ")
        )?;
    }
    if !view.data_at_risk.is_empty() {
        writeln!(out, "> [!CAUTION]")?;
        let lines: Vec<String> = view.data_at_risk.iter().map(|l| esc(l)).collect();
        writeln!(out, "> {}", lines.join("\n>\n> "))?;
        writeln!(out)?;
    }
    data_per_user(view, out)?;
    warnings(tally, opts, out)?;

    for s in &view.steps {
        if s.automated + s.manual == 0 {
            continue;
        }
        writeln!(
            out,
            "### Step {}: {} ({})\n",
            s.step.number(),
            esc(s.step.title()),
            s.counts_phrase()
        )?;
        // Automated actions in a table, folded when long; manual ones always in sight, as
        // a task list with their instructions folded.
        let (manual, automated): (Vec<&ActionView>, Vec<&ActionView>) =
            s.actions.iter().partition(|a| !a.automated);
        let cut = |n: usize| if opts.full { n } else { n.min(opts.limit) };
        if s.automated > 0 {
            let fold = s.automated > opts.fold_over;
            if fold {
                let phrase: Vec<String> = tally.automated_kinds[usize::from(s.step.number()) - 1]
                    .iter()
                    .map(|(k, n)| format!("{n} {}", k.describe()))
                    .collect();
                writeln!(
                    out,
                    "<details><summary>{} automated action{}: {}</summary>\n",
                    s.automated,
                    if s.automated == 1 { "" } else { "s" },
                    esc(&phrase.join(", "))
                )?;
            }
            writeln!(out, "| | Action | Object | Object id |")?;
            writeln!(out, "|:---:|---|---|---|")?;
            let shown = cut(s.automated).min(automated.len());
            for a in &automated[..shown] {
                writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    code(&a.kind.symbol_when(a.automated).to_string()),
                    esc(a.kind.describe()),
                    code(&a.name),
                    code(&a.object_id)
                )?;
            }
            writeln!(out)?;
            if shown < s.automated {
                writeln!(
                    out,
                    "… and {} more: see the plan file for the full list.\n",
                    s.automated - shown
                )?;
            }
            if fold {
                writeln!(out, "</details>\n")?;
            }
        }
        if s.manual > 0 {
            let shown = cut(s.manual).min(manual.len());
            for a in &manual[..shown] {
                writeln!(
                    out,
                    "- [ ] **{}** {}",
                    esc(a.kind.describe()),
                    code(&a.name)
                )?;
                for w in &a.warnings {
                    writeln!(out, "  <br>⚠️ {}", esc(w))?;
                }
                if let Some(i) = &a.instructions {
                    writeln!(
                        out,
                        "  <details><summary>How</summary>\n\n  {}\n\n  </details>\n",
                        esc(i)
                    )?;
                }
            }
            writeln!(out)?;
            if shown < s.manual {
                writeln!(
                    out,
                    "… and {} more manual actions: see the plan file.\n",
                    s.manual - shown
                )?;
            }
        }
    }

    writeln!(out, "### Pre-flight checklist for deleting the tenant\n")?;
    writeln!(out, "| | Check | Requirement | Blocking now |")?;
    writeln!(out, "|:---:|---|---|---:|")?;
    for c in &view.preflight {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            match (&c.not_checked, c.informational, c.passed) {
                (Some(_), _, _) => "⚠️ not checked",
                (None, true, _) => "ℹ️",
                (None, false, true) => "✅",
                (None, false, false) => "❌",
            },
            esc(c.name),
            match &c.not_checked {
                Some(why) => format!("{}: not checked: {}", esc(c.requirement), esc(why)),
                // An informational line states its finding (e.g. the data totals).
                None if c.informational && !c.blocking.is_empty() => format!(
                    "{}: {}",
                    esc(c.requirement),
                    c.blocking
                        .iter()
                        .map(|b| esc(b))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                None => esc(c.requirement).to_string(),
            },
            dash_if_zero(if c.informational {
                0
            } else {
                c.blocking.len() + c.more
            })
        )?;
    }
    writeln!(
        out,
        "\nA ❌ is expected before apply: the plan removes what blocks, where an API can.\n"
    )?;
    footer(view, out)
}

/// The usage reports' figures per user and per site, folded (a reviewer opens them to see
/// whose mailbox and which site the closure destroys); nothing when names are concealed.
fn data_per_user(view: &PlanView, out: &mut dyn Write) -> io::Result<()> {
    use crate::plan::data_units::{bytes, thousands};
    let Some(d) = &view.data else {
        return Ok(());
    };
    if !d.users.is_empty() {
        writeln!(
            out,
            "<details><summary>Data per user ({})</summary>\n\n| User | Mailbox | Mail items | OneDrive | OneDrive files |\n|---|---:|---:|---:|---:|",
            d.users.len()
        )?;
        for u in &d.users {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&u.user_principal_name),
                bytes(u.mailbox_bytes),
                thousands(u.mailbox_items),
                bytes(u.onedrive_bytes),
                thousands(u.onedrive_files)
            )?;
        }
        writeln!(out, "\n</details>\n")?;
    }
    if !d.site_list.is_empty() {
        writeln!(
            out,
            "<details><summary>SharePoint sites ({})</summary>\n\n| Site | Storage | Files |\n|---|---:|---:|",
            d.site_list.len()
        )?;
        for site in &d.site_list {
            writeln!(
                out,
                "| {} | {} | {} |",
                code(&site.url),
                bytes(site.bytes),
                thousands(site.files)
            )?;
        }
        writeln!(out, "\n</details>\n")?;
    }
    Ok(())
}

/// Warnings of automated actions (manual ones carry theirs in the task list), grouped by
/// text so a warning shared by many objects is listed once.
fn warnings(tally: &MarkdownTally, opts: MarkdownOptions, out: &mut dyn Write) -> io::Result<()> {
    let groups = &tally.warnings;
    if groups.is_empty() {
        return Ok(());
    }
    let n: usize = groups.iter().map(|g| g.total).sum();
    writeln!(out, "### Warnings ({n})\n")?;
    let fold = n > opts.fold_over;
    if fold {
        writeln!(
            out,
            "<details open><summary>{n} warnings on {} topics</summary>\n",
            groups.len()
        )?;
    }
    for g in groups {
        // The tally kept as many names as the view lists.
        let names: Vec<String> = g
            .first
            .iter()
            .map(|(kind, name)| format!("{} {}", esc(kind.describe()), code(name)))
            .collect();
        let more = g.total.saturating_sub(names.len());
        writeln!(
            out,
            "- {}: {}{}",
            names.join(", "),
            esc(&g.text),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        )?;
    }
    writeln!(out)?;
    if fold {
        writeln!(out, "</details>\n")?;
    }
    Ok(())
}

fn footer(view: &PlanView, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<sub>closeout {} · plan {} · `closeout apply` executes exactly the reviewed plan file and refuses it if it was edited or if the tenant changed since.</sub>",
        esc(view.closeout_version),
        code(view.plan_id)
    )
}
