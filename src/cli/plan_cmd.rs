//! `closeout plan`, `closeout show`, `closeout graph`.

use std::io::{BufWriter, Write};

use super::args::{GraphArgs, OutputFormat, PlanArgs, RenderArgs, ShowArgs};
use super::connect::connect;
use super::error::{CliError, ExitCode};
use super::progress::ReadReporter;
use crate::graph::read_tenant;
use crate::plan::{Action, Plan, Tally};
use crate::planfile::{self, PlanBytes};
use crate::planner::{self, ActionGraph};
use crate::render::redact::{Names, Redactor};
use crate::render::{
    action_view, checklist_passes, plan_view_of, plan_view_using, render_plan_json,
    render_plan_json_with, render_plan_markdown, render_plan_markdown_with, render_plan_text,
    render_plan_text_with, write_action_text, ActionWriter, MarkdownOptions, MarkdownTally,
    TextOptions, ViewOptions,
};
use crate::specfile;

/// The current time as RFC 3339 UTC, seconds precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether text output gets colour: not with `--no-color`, `NO_COLOR`, `TERM=dumb` or when
/// stdout is not a terminal (`CLICOLOR_FORCE` forces it).
fn use_color(_: &RenderArgs) -> bool {
    // `--no-color` sets NO_COLOR for the whole process (see `cli::run`).
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// Renders `plan` on stdout in the chosen format. A closed pipe (`| head`) is not an error.
fn render(plan: &Plan, r: &RenderArgs, full: bool) -> Result<(), CliError> {
    render_to(plan, r, full, false)
}

/// Renders `plan` on stdout, or on stderr when stdout carries the plan file (`-o -`).
fn render_to(plan: &Plan, r: &RenderArgs, full: bool, stderr: bool) -> Result<(), CliError> {
    // The text view lists the first few actions of each kind: it builds no more.
    let limit = (r.format == OutputFormat::Text && !full).then_some(TextOptions::default().limit);
    render_counted(plan, &plan.tally(), r, None, full, stderr, limit)
}

/// [`render_to`] of a plan whose counts are `tally` and that may hold only some of its
/// actions ([`planfile::read_kept`]); `limit`: view at most so many actions per kind.
fn render_counted(
    plan: &Plan,
    tally: &Tally,
    r: &RenderArgs,
    redactor: Option<&Redactor>,
    full: bool,
    stderr: bool,
    limit: Option<usize>,
) -> Result<(), CliError> {
    let view = match redactor {
        Some(names) => plan_view_using(plan, tally, Some(names), limit),
        None => plan_view_of(plan, tally, ViewOptions { redact: r.redact }, limit),
    };
    let color = use_color(r) && !stderr;
    write_out(stderr, &mut |out| match r.format {
        OutputFormat::Text => render_plan_text(
            &view,
            TextOptions {
                full,
                color,
                ..TextOptions::default()
            },
            out,
        ),
        OutputFormat::Json => render_plan_json(&view, out),
        OutputFormat::Markdown => render_plan_markdown(
            &view,
            MarkdownOptions {
                full,
                ..MarkdownOptions::default()
            },
            out,
        ),
    })
}

/// Runs `write` on buffered stdout (or stderr) and flushes it. A closed pipe (`| head`) is
/// not an error.
fn write_out(
    stderr: bool,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let sink: Box<dyn Write> = if stderr {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::msg(format!("cannot write the output: {e}"))),
    }
}

/// Reads the usage reports, or why they cannot be read: they exist in the global cloud only
/// (<https://learn.microsoft.com/en-us/graph/api/reportroot-getmailboxusagedetail>, national
/// cloud table).
async fn read_usage(
    client: &crate::graph::GraphClient,
    cloud: crate::graph::Cloud,
) -> Result<crate::model::usage::UsageReports, String> {
    if cloud != crate::graph::Cloud::Global {
        return Err(format!(
            "Microsoft 365's usage reports exist only in the global cloud, not in {cloud:?}; back up mailboxes, OneDrive and SharePoint sites by their own tools"
        ));
    }
    let reporter = ReadReporter::start("Reading the usage reports");
    let read = crate::graph::reports::read_usage_reports(client).await;
    reporter.finish();
    read
}

pub async fn run(args: PlanArgs) -> Result<ExitCode, CliError> {
    let loaded = args.spec.as_deref().map(specfile::read).transpose()?;
    let mut spec = loaded.as_ref().map(|l| l.spec.clone()).unwrap_or_default();
    spec.keep.extend(args.keep.iter().cloned());
    if let (Some(out), Some(snapshot)) = (&args.out, &args.target.simulate) {
        if out
            .canonicalize()
            .ok()
            .is_some_and(|o| Some(o) == snapshot.canonicalize().ok())
        {
            return Err(CliError::msg(format!(
                "-o {} is the snapshot being simulated; choose another file for the plan",
                out.display()
            )));
        }
    }
    let conn = connect(&args.target).await?;
    let signed_in_app = conn.signed_in_app.clone();
    let reporter = ReadReporter::start("Reading the tenant");
    let mut state = read_tenant(&conn.client, &spec.keep, &reporter).await;
    if let Ok(s) = state.as_mut() {
        super::connect::read_azure(conn.arm.as_ref(), spec.azure_subscriptions, s).await;
    }
    reporter.finish();
    // The data the closure destroys, before any user is deleted (information for people).
    let usage = match &state {
        Ok(_) => Some(read_usage(&conn.client, args.target.auth.cloud).await),
        Err(_) => None,
    };
    let mut state = match state {
        Err(e) if crate::apply::tenant_gone(&e) => {
            conn.close().await;
            return Err(CliError::msg(format!(
                "the tenant no longer exists: Graph answers {} ({}). Nothing to plan: if closeout closed it, the closure is complete",
                e.code().unwrap_or("an error"),
                e.request_id().map_or("no request-id".to_string(), |r| format!("request-id {r}"))
            )));
        }
        Err(e) => {
            conn.close().await;
            return Err(e.into());
        }
        Ok(s) => s,
    };
    // Another customer's tenant id is refused by the spec check below, before any read.
    let own_customer = spec
        .billing
        .customer_tenant_id
        .as_ref()
        .is_none_or(|t| t.eq_ignore_ascii_case(&state.organization.id));
    if own_customer
        && crate::commerce::wanted(&spec.billing, spec.manual_actions.cancel_subscriptions)
    {
        let tenant = spec
            .billing
            .customer_tenant_id
            .clone()
            .unwrap_or_else(|| state.organization.id.clone());
        state.commerce = match super::commerce::commerce_for(
            &conn,
            &args.target,
            spec.billing.channel,
            &tenant,
            spec.billing.billing_account.clone(),
        ) {
            Ok(Some(c)) => c.read(&state.organization.id).await,
            Ok(None) => crate::model::CommerceRead::None,
            Err(reason) => crate::model::CommerceRead::NotRead {
                channel: spec.billing.channel.as_str().to_string(),
                reason,
            },
        };
    }
    for k in &spec.keep {
        if state.find_user(k).is_none() {
            if let Some(u) = state.find_kept_user(k) {
                let k = crate::render::Safe(k);
                eprintln!(
                    "note: kept user {k} is not in the tenant and its domain is not a domain of the tenant; \
                     keeping {} ({}) instead, the same name on the initial domain (where closeout moves kept \
                     users before removing their domain). Keep by object id to be exact.",
                    crate::render::Safe(&u.user_principal_name),
                    crate::render::Safe(&u.id)
                );
            }
        }
    }
    if let Some(l) = &loaded {
        if args.keep.is_empty() {
            l.validate(&state)?;
        } else {
            // --keep adds users; the spec's own entries must still exist.
            let mut merged = l.clone();
            merged.spec.keep = spec.keep.clone();
            merged.validate(&state)?;
        }
    }
    let mut unchecked = planner::plan_unchecked_as(
        &state,
        &spec,
        signed_in_app.as_deref(),
        String::new(),
        now_rfc3339(),
    )?;
    if let Some(usage) = &usage {
        let data = planner::data_report(
            usage.as_ref().map_err(String::as_str),
            &state,
            spec.backup_confirmed,
        );
        if let Some(why) = &data.not_checked {
            eprintln!("note: data at risk not checked: {why}");
        }
        unchecked.plan_mut().data = Some(data);
    }
    // The plan holds what it needs: the tenant as read is no longer kept (memory at scale),
    // and the dependency graph is checked only then (the two are never held together).
    drop(state);
    let mut plan = unchecked.check()?;
    for b in plan.closure_blockers() {
        eprintln!(
            "warning: this plan cannot close the tenant: {} ({})",
            b.why, b.check
        );
    }
    // The permission check apply makes, the same way (one function): the token's roles,
    // and the app's directory roles through memberOf when the token has no wids claim.
    for w in crate::permissions::check_client(&plan, &conn.client)
        .await
        .warnings()
    {
        eprintln!("warning: {w}");
    }
    conn.close().await;
    planfile::seal_id(&mut plan);
    planfile::check_identifiers(&plan).map_err(|e| {
        CliError::msg(format!(
            "closeout would not be able to read this plan back: {e}"
        ))
    })?;
    // `-o -`: the plan file on stdout (for a pipe), the human view on stderr.
    let to_stdout = args.out.as_deref() == Some(std::path::Path::new("-"));
    if to_stdout {
        let bytes = planfile::to_bytes(&plan);
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .map_err(|e| CliError::msg(format!("cannot write the plan to stdout: {e}")))?;
    } else if let Some(path) = &args.out {
        // Streamed to disk while hashed: the file's bytes are never all in memory.
        planfile::write(path, &plan)?;
    }
    render_to(&plan, &args.render, args.full, to_stdout)?;
    if let Some(path) = args.out.as_ref().filter(|_| !to_stdout) {
        let mut target = match (&args.target.simulate, &args.target.graph_url) {
            (Some(snapshot), _) => format!(" --simulate {}", snapshot.display()),
            (None, Some(url)) => format!(" --graph-url {url}"),
            (None, None) => String::new(),
        };
        // The service roots apply must reach too: without the --arm-url (or Partner
        // Center root) the plan was made with, apply reads no Azure subscription and
        // refuses every Azure action as drifted.
        if args.target.simulate.is_none() {
            if let Some(url) = &args.target.arm_url {
                target.push_str(&format!(" --arm-url {url}"));
            }
            if let Some(url) = &args.target.partner_center_url {
                target.push_str(&format!(" --partner-center-url {url}"));
            }
        }
        let saved = format!(
            "Saved the plan to {}. Review it, then apply exactly it with:\n  closeout apply {}{target}",
            path.display(),
            path.display()
        );
        if args.render.format == OutputFormat::Text {
            println!("\n{saved}");
        } else {
            eprintln!("{saved}");
        }
    }
    let has_changes = !plan.actions.is_empty();
    Ok(if args.detailed_exitcode && has_changes {
        ExitCode::Changes
    } else {
        ExitCode::Ok
    })
}

pub fn show(args: ShowArgs) -> Result<ExitCode, CliError> {
    // The text and Markdown views list the first few actions of each kind or step, and
    // JSON lists every action as it is verified (into a spool): the file is read and
    // verified whole, but only those few are kept (memory grows with what is shown, not
    // with the plan). A redacted view must know every name of the plan to find it in free
    // text: the file is read once for its names, then once for the view.
    // Read once: a redacted view's two passes, and the fallback, read the same bytes.
    let src = PlanBytes::read(&args.plan)?;
    if !args.full || args.render.format != OutputFormat::Markdown {
        let redactor = match args.render.redact {
            true => Some(read_names(&src)?),
            false => None,
        };
        let r = redactor.as_ref();
        match args.render.format {
            OutputFormat::Text if args.full => {
                if let Some(code) = show_text_full_spooled(&args, &src, r)? {
                    return Ok(code);
                }
            }
            OutputFormat::Text => return show_text_kept(&args, &src, r),
            OutputFormat::Markdown => return show_markdown_kept(&src, r),
            OutputFormat::Json => {
                if let Some(code) = show_json_spooled(&src, r)? {
                    return Ok(code);
                }
            }
        }
    }
    let plan = src.read_kept(&mut |_, a| Some(a))?.0;
    render(&plan, &args.render, args.full)?;
    // The process ends here: freeing 100,000s of actions one by one would only cost time
    // (a tenth of `show` of a large plan); the operating system takes the memory back.
    std::mem::forget(plan);
    Ok(ExitCode::Ok)
}

/// Reads and verifies a plan file for the names a redacted view hides ([`Names`]),
/// keeping no action.
pub(crate) fn read_names(src: &PlanBytes) -> Result<Redactor, planfile::PlanFileError> {
    let mut names: Option<Names> = None;
    let (plan, _) = src.read_kept(&mut |p, a| {
        names.get_or_insert_with(|| Names::of_header(p)).add(&a);
        None
    })?;
    Ok(names.unwrap_or_else(|| Names::of_header(&plan)).redactor())
}

/// `show` (text, not `--full`): keeps the first [`TextOptions::limit`] actions of each
/// kind per step; `r` redacts (a redactor of the whole plan's names).
fn show_text_kept(
    args: &ShowArgs,
    src: &PlanBytes,
    r: Option<&Redactor>,
) -> Result<ExitCode, CliError> {
    let limit = TextOptions::default().limit;
    let mut held: std::collections::HashMap<(crate::plan::Step, crate::plan::ActionKind), usize> =
        Default::default();
    let (plan, tally) = src.read_kept(&mut |_, a| {
        let n = held.entry((a.step(), a.kind)).or_default();
        *n += 1;
        (*n <= limit).then_some(a)
    })?;
    render_counted(&plan, &tally, &args.render, r, false, false, None)?;
    Ok(ExitCode::Ok)
}

/// `show --format markdown` (not `--full`): [`read_for_markdown`], then the view.
fn show_markdown_kept(src: &PlanBytes, r: Option<&Redactor>) -> Result<ExitCode, CliError> {
    let opts = MarkdownOptions::default();
    let (plan, tally, counts) = read_for_markdown(src, opts, r)?;
    let view = plan_view_using(&plan, &tally, r, None);
    write_out(false, &mut |out| {
        render_plan_markdown_with(&view, &counts, opts, out)
    })?;
    Ok(ExitCode::Ok)
}

/// Reads and verifies a plan file for its Markdown view (not `full`): keeps the first
/// [`MarkdownOptions::limit`] automated and manual actions of each step; the counts and
/// warnings of all of them are taken as they are read ([`MarkdownTally`]).
pub(crate) fn read_for_markdown(
    src: &PlanBytes,
    opts: MarkdownOptions,
    r: Option<&Redactor>,
) -> Result<(Plan, Tally, MarkdownTally), planfile::PlanFileError> {
    let mut held: std::collections::HashMap<(crate::plan::Step, bool), usize> = Default::default();
    let mut counts = MarkdownTally::new(opts);
    let mut open = None;
    let (plan, tally) = src.read_kept(&mut |p, a| {
        // Counted as the view shows it (its name and warnings redacted when asked).
        let open = *open.get_or_insert_with(|| crate::plan::deletion_path_open(Some(&p.preflight)));
        let v = action_view(&a, r, open);
        counts.add(a.step(), a.kind, a.automated, &v.name, v.warnings.iter());
        let n = held.entry((a.step(), a.automated)).or_default();
        *n += 1;
        (*n <= opts.limit).then_some(a)
    })?;
    Ok((plan, tally, counts))
}

/// Plan views up to this size are spooled in memory, larger ones in a temporary file.
const SPOOL_IN_MEMORY: usize = 16 << 20;

/// `show --format json`: [`read_for_json`], then the document. `None`: the spool cannot
/// be written (no writable temporary directory), so the caller shows the plan read whole.
fn show_json_spooled(src: &PlanBytes, r: Option<&Redactor>) -> Result<Option<ExitCode>, CliError> {
    let Some((plan, tally, mut spool)) = read_for_json(src, SPOOL_IN_MEMORY, r)? else {
        return Ok(None);
    };
    write_out(false, &mut |out| {
        write_json_view(&plan, &tally, r, &mut spool, out)
    })?;
    Ok(Some(ExitCode::Ok))
}

/// Reads and verifies a plan file for its JSON view: each action is written into a
/// spool (in memory up to `in_memory` bytes, then in an unnamed temporary file) as it is
/// read and verified, and none is kept; [`write_json_view`] writes the document once the
/// whole file is verified, so a file refused prints nothing. `None`: the spool cannot be
/// written.
pub(crate) fn read_for_json(
    src: &PlanBytes,
    in_memory: usize,
    r: Option<&Redactor>,
) -> Result<Option<(Plan, Tally, tempfile::SpooledTempFile)>, planfile::PlanFileError> {
    let spool = BufWriter::with_capacity(1 << 16, tempfile::spooled_tempfile(in_memory));
    let (plan, tally, rendered) = read_rendering(
        src,
        (ActionWriter::default(), spool),
        &|(actions, w), open, a| actions.write(w, &action_view(a, r, open)),
    )?;
    Ok(rendered
        .and_then(|(_, w)| rewound(w))
        .ok()
        .map(|spool| (plan, tally, spool)))
}

/// The spool written through `w`, flushed and rewound for reading.
fn rewound(w: BufWriter<tempfile::SpooledTempFile>) -> std::io::Result<tempfile::SpooledTempFile> {
    use std::io::{Seek, SeekFrom};
    let mut spool = w.into_inner().map_err(|e| e.into_error())?;
    spool.seek(SeekFrom::Start(0))?;
    Ok(spool)
}

/// Reads and verifies a plan file, each verified action given to `render` with its
/// `state` on a thread of its own (the file is read and verified on two others), in
/// batches, with whether the plan's checklist opens the tenant-deletion path
/// ([`crate::plan::deletion_path_open`]); no action is kept. The plan's header and tally,
/// and the state (or the first error of `render`, after which the rest is only verified).
fn read_rendering<S: Send>(
    src: &PlanBytes,
    state: S,
    render: &(dyn Fn(&mut S, bool, &Action) -> std::io::Result<()> + Sync),
) -> Result<(Plan, Tally, std::io::Result<S>), planfile::PlanFileError> {
    let (to_render, batches) = std::sync::mpsc::sync_channel::<(bool, Vec<Action>)>(8);
    let (read, rendered) = std::thread::scope(|scope| {
        let rendering = scope.spawn(move || {
            let mut state = state;
            for (open, batch) in batches.iter() {
                for a in &batch {
                    render(&mut state, open, a)?;
                }
            }
            Ok::<_, std::io::Error>(state)
        });
        let mut open = None;
        let mut batch = Vec::new();
        let mut rendering_failed = false;
        let read = src.read_kept(&mut |p, a| {
            let open =
                *open.get_or_insert_with(|| crate::plan::deletion_path_open(Some(&p.preflight)));
            // Once rendering failed, the rest is only verified (and dropped).
            if !rendering_failed {
                batch.push(a);
                if batch.len() == 256 {
                    rendering_failed = to_render.send((open, std::mem::take(&mut batch))).is_err();
                }
            }
            None
        });
        if !batch.is_empty() && !rendering_failed {
            let _ = to_render.send((open.unwrap_or(false), batch));
        }
        drop(to_render);
        let rendered = rendering
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (read, rendered)
    });
    let (plan, tally) = read?;
    Ok((plan, tally, rendered))
}

/// Each step's actions of a `--full` text view up to this size are spooled in memory.
const STEP_SPOOL_IN_MEMORY: usize = 4 << 20;

/// `show --full` (text): [`read_for_full_text`], then the view. `None`: the spools cannot
/// be written, or the view's checklist is not the one the actions were listed with (a
/// plan without checklist lines but a `data` section), so the caller shows the plan read
/// whole.
fn show_text_full_spooled(
    args: &ShowArgs,
    src: &PlanBytes,
    r: Option<&Redactor>,
) -> Result<Option<ExitCode>, CliError> {
    let color = use_color(&args.render);
    let Some((plan, tally, mut spools)) = read_for_full_text(src, STEP_SPOOL_IN_MEMORY, r, color)?
    else {
        return Ok(None);
    };
    let view = plan_view_using(&plan, &tally, r, None);
    if checklist_passes(&view) != crate::plan::deletion_path_open(Some(&plan.preflight)) {
        return Ok(None);
    }
    write_out(false, &mut |out| {
        write_full_text_view(&view, color, &mut spools, out)
    })?;
    Ok(Some(ExitCode::Ok))
}

/// Reads and verifies a plan file for its full text view: each action is written, as it
/// is read and verified, into its step's spool (in memory up to `in_memory` bytes, then an
/// unnamed temporary file); `None`: a spool cannot be written.
pub(crate) fn read_for_full_text(
    src: &PlanBytes,
    in_memory: usize,
    r: Option<&Redactor>,
    color: bool,
) -> Result<Option<(Plan, Tally, Vec<tempfile::SpooledTempFile>)>, planfile::PlanFileError> {
    let spools: Vec<BufWriter<tempfile::SpooledTempFile>> = crate::plan::Step::ALL
        .iter()
        .map(|_| BufWriter::with_capacity(1 << 16, tempfile::spooled_tempfile(in_memory)))
        .collect();
    let (plan, tally, rendered) = read_rendering(src, spools, &|spools, open, a| {
        let step = usize::from(a.step().number()) - 1;
        write_action_text(&action_view(a, r, open), color, open, &mut spools[step])
    })?;
    let spools = rendered.and_then(|s| s.into_iter().map(rewound).collect());
    Ok(spools.ok().map(|s| (plan, tally, s)))
}

/// The full text view of a plan read by [`read_for_full_text`], each step's actions
/// copied from its spool.
pub(crate) fn write_full_text_view(
    view: &crate::render::PlanView,
    color: bool,
    spools: &mut [tempfile::SpooledTempFile],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let opts = TextOptions {
        full: true,
        color,
        ..TextOptions::default()
    };
    render_plan_text_with(
        view,
        opts,
        out,
        Some(&mut |step, out| {
            let spool = &mut spools[usize::from(step.number()) - 1];
            std::io::copy(spool, out).map(|_| ())
        }),
    )
}

/// The JSON document of a plan read by [`read_for_json`], its actions copied from `spool`.
pub(crate) fn write_json_view(
    plan: &Plan,
    tally: &Tally,
    r: Option<&Redactor>,
    spool: &mut tempfile::SpooledTempFile,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let view = plan_view_using(plan, tally, r, None);
    render_plan_json_with(&view, out, &mut |out| std::io::copy(spool, out).map(|_| ()))
}

pub fn graph(args: GraphArgs) -> Result<ExitCode, CliError> {
    let plan = planfile::read(&args.plan)?;
    let g = ActionGraph::build(&plan.actions).map_err(|e| CliError::msg(e.to_string()))?;
    print!("{}", crate::render::render_plan_dot(&g, &plan.actions));
    Ok(ExitCode::Ok)
}
