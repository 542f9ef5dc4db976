//! `show`'s views of a plan file read action by action (the Markdown view keeping a few
//! actions per step, the JSON view spooling each action as it is verified) say byte for
//! byte what the views of the whole plan say, and a refused file shows nothing.

use std::path::Path;

use super::plan_cmd::{
    read_for_full_text, read_for_json, read_for_markdown, read_names, write_full_text_view,
    write_json_view,
};
use crate::plan::{ActionKind, Plan};
use crate::planfile::PlanBytes;
use crate::render::kept_tests::big_contoso_with;
use crate::render::{
    plan_view, plan_view_using, render_plan_json, render_plan_markdown, render_plan_markdown_with,
    render_plan_text, MarkdownOptions, TextOptions, ViewOptions,
};

/// Plans with more automated actions per step than the Markdown view lists (users), more
/// actions of one warning than it names (contoso's warned users), and more manual actions
/// than it lists (self-service products), written to a file in `dir`.
fn plans(dir: &Path) -> Vec<(std::path::PathBuf, Plan)> {
    [0, 1, 12, 130]
        .into_iter()
        .map(|n| {
            let mut plan = big_contoso_with(
                n,
                &[
                    ActionKind::DeleteUser,
                    ActionKind::PurgeUser,
                    ActionKind::DeleteSelfServiceProduct,
                ],
            );
            let path = dir.join(format!("big-{n}.plan.yaml"));
            crate::planfile::seal_to_file(&path, &mut plan).unwrap();
            (path, plan)
        })
        .collect()
}

#[test]
fn markdown_of_a_plan_read_for_a_few_actions_is_that_of_the_whole_plan() {
    let dir = tempfile::tempdir().unwrap();
    for ((path, plan), redact) in plans(dir.path())
        .into_iter()
        .zip([false, true].into_iter().cycle())
    {
        let src = PlanBytes::read(&path).unwrap();
        let opts = MarkdownOptions::default();
        let mut whole = Vec::new();
        render_plan_markdown(&plan_view(&plan, ViewOptions { redact }), opts, &mut whole).unwrap();
        let names = redact.then(|| read_names(&src).unwrap());
        let (kept, tally, counts) = read_for_markdown(&src, opts, names.as_ref()).unwrap();
        assert!(kept.actions.len() <= plan.actions.len());
        let mut read = Vec::new();
        render_plan_markdown_with(
            &plan_view_using(&kept, &tally, names.as_ref(), None),
            &counts,
            opts,
            &mut read,
        )
        .unwrap();
        let (whole, read) = (
            String::from_utf8(whole).unwrap(),
            String::from_utf8(read).unwrap(),
        );
        assert_eq!(read, whole, "{}", path.display());
        if plan.actions.len() > 2000 {
            assert!(kept.actions.len() < plan.actions.len() / 2);
            assert!(
                whole.contains("more manual actions: see the plan file"),
                "{whole}"
            );
            assert!(whole.contains("more: see the plan file"), "{whole}");
            assert!(
                whole.contains(" more)"),
                "a warning's names are cut: {whole}"
            );
        }
    }
}

#[test]
fn json_of_a_plan_spooled_action_by_action_is_that_of_the_whole_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (path, plan) in plans(dir.path()) {
        let src = PlanBytes::read(&path).unwrap();
        // In memory, and in a temporary file from the first byte; names shown and redacted.
        for (in_memory, redact) in [(16 << 20, false), (0, false), (0, true)] {
            let mut whole = Vec::new();
            render_plan_json(&plan_view(&plan, ViewOptions { redact }), &mut whole).unwrap();
            let names = redact.then(|| read_names(&src).unwrap());
            let (kept, tally, mut spool) = read_for_json(&src, in_memory, names.as_ref())
                .unwrap()
                .unwrap();
            assert!(kept.actions.is_empty(), "the JSON view keeps no action");
            assert_eq!(spool.is_rolled(), in_memory == 0);
            let mut read = Vec::new();
            write_json_view(&kept, &tally, names.as_ref(), &mut spool, &mut read).unwrap();
            assert!(read == whole, "{} ({in_memory}, {redact})", path.display());
            let text = String::from_utf8(read).unwrap();
            assert_eq!(text.contains("redacted:"), redact);
            assert_eq!(text.contains("@contoso"), !redact, "{}", &text[..2000]);
        }
        let mut whole = Vec::new();
        render_plan_json(&plan_view(&plan, ViewOptions::default()), &mut whole).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        assert_eq!(doc["actions"].as_array().unwrap().len(), plan.actions.len());
    }
}

#[test]
fn a_refused_file_gives_no_view() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = plans(dir.path()).pop().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // The last action's reason edited: found only after every action was spooled.
    let at = text.rfind("  reason: ").unwrap();
    let edited = format!(
        "{}  reason: x{}",
        &text[..at],
        &text[at + "  reason: ".len()..]
    );
    std::fs::write(&path, edited).unwrap();
    let src = PlanBytes::read(&path).unwrap();
    assert!(read_for_json(&src, 0, None).is_err());
    assert!(read_for_markdown(&src, MarkdownOptions::default(), None).is_err());
    assert!(read_names(&src).is_err());
    assert!(read_for_full_text(&src, 0, None, false).is_err());
}

#[test]
fn full_text_of_a_plan_spooled_per_step_is_that_of_the_whole_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (path, plan) in plans(dir.path()) {
        let src = PlanBytes::read(&path).unwrap();
        for (in_memory, redact, color) in
            [(4 << 20, false, false), (0, true, true), (0, false, true)]
        {
            let opts = TextOptions {
                full: true,
                color,
                ..TextOptions::default()
            };
            let mut whole = Vec::new();
            render_plan_text(&plan_view(&plan, ViewOptions { redact }), opts, &mut whole).unwrap();
            let names = redact.then(|| read_names(&src).unwrap());
            let (kept, tally, mut spools) =
                read_for_full_text(&src, in_memory, names.as_ref(), color)
                    .unwrap()
                    .unwrap();
            assert!(kept.actions.is_empty());
            let view = plan_view_using(&kept, &tally, names.as_ref(), None);
            let mut read = Vec::new();
            write_full_text_view(&view, color, &mut spools, &mut read).unwrap();
            let (whole, read) = (
                String::from_utf8(whole).unwrap(),
                String::from_utf8(read).unwrap(),
            );
            assert_eq!(
                read,
                whole,
                "{} ({in_memory}, {redact}, {color})",
                path.display()
            );
            assert!(!whole.contains("use --full"));
        }
    }
}

/// A redacted view reads the file twice (names, then view) from one read of its bytes:
/// the file replaced between the passes changes nothing (the red team's race printed the
/// second file's names in clear with the first file's redactor).
#[test]
fn a_redacted_view_reads_its_bytes_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = plans(dir.path());
    let (path, plan) = all.swap_remove(1);
    let src = PlanBytes::read(&path).unwrap();
    // Another valid plan in its place, with names the first one does not have.
    let other = crate::planfile::parse(
        Path::new("fabrikam.plan.yaml"),
        include_bytes!("../../plans/fabrikam.plan.yaml"),
    )
    .unwrap();
    crate::planfile::write(&path, &other).unwrap();
    let names = read_names(&src).unwrap();
    let (kept, tally, mut spool) = read_for_json(&src, 0, Some(&names)).unwrap().unwrap();
    let mut read = Vec::new();
    write_json_view(&kept, &tally, Some(&names), &mut spool, &mut read).unwrap();
    let mut whole = Vec::new();
    render_plan_json(&plan_view(&plan, ViewOptions { redact: true }), &mut whole).unwrap();
    assert!(read == whole);
}
