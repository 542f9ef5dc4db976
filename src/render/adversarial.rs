//! Seeded, bounded property test of the tenant-text boundary: hostile names (controls,
//! escape sequences, bidi, zero-width and other format characters, Markdown and HTML)
//! through every renderer (text, Markdown, JSON, the apply report, the stale-plan report,
//! the confirmation, dot). Iterations: `CLOSEOUT_ADVERSARIAL_CASES` (default 60); the long
//! run is `CLOSEOUT_ADVERSARIAL_CASES=5000 cargo test --lib render::adversarial`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::*;
use crate::apply::{ApplyReport, Drift, DriftReason, Failure, Outcome};
use crate::plan::Plan;

/// Pieces hostile strings are made of, one class each.
const PIECES: &[&str] = &[
    "\u{1b}[31m",
    "\u{1b}]8;;https://evil.example/\u{7}",
    "\u{1b}]0;owned\u{1b}\\",
    "\u{1b}[2J\u{1b}[H",
    "\u{9b}31m",
    "\u{0}",
    "\u{8}\u{8}",
    "\r",
    "\n",
    "\t",
    "\u{b}",
    "\u{c}",
    "\u{7f}",
    "\u{85}",
    "\u{202a}",
    "\u{202b}",
    "\u{202c}",
    "\u{202d}",
    "\u{202e}",
    "\u{2066}",
    "\u{2067}",
    "\u{2068}",
    "\u{2069}",
    "\u{200e}",
    "\u{200f}",
    "\u{61c}",
    "\u{200b}",
    "\u{200c}",
    "\u{200d}",
    "\u{2060}",
    "\u{feff}",
    "\u{ad}",
    "\u{600}",
    "\u{180e}",
    "\u{fff9}",
    "\u{e0001}",
    "\u{e0041}",
    "\u{2028}",
    "\u{2029}",
    "|",
    "`",
    "``",
    "<script>alert(1)</script>",
    "<img src=x onerror=y>",
    "&amp;",
    "&#64;",
    "[click](https://evil.example/)",
    "![i](https://evil.example/i.png)",
    "@everyone",
    "@org/team",
    "#1",
    "# heading",
    "*bold*",
    "_em_",
    "~~s~~",
    "<!--",
    "-->",
    "\\",
    "\"",
    "'",
    "}",
    "{",
    "->",
    "];",
    "admin",
    "Zoë",
    "日本",
    "🎉",
    " ",
];

/// A hostile string; `serial` keeps strings distinct, as the benign ones (`x{serial}`)
/// are, so grouping by text lays both out alike.
/// The test's own oracle, independent of [`super::safe::is_unsafe`] (which it checks):
/// controls (C0, DEL, C1), bidi marks, embeddings, overrides and isolates, zero-width and
/// other invisible format characters of the classes above, line and paragraph separators.
fn raw(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00ad | 0x0600..=0x0605 | 0x061c | 0x180e | 0x200b..=0x200f | 0x2028..=0x202e
            | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe0001 | 0xe0020..=0xe007f)
}

fn hostile(rng: &mut StdRng, serial: &mut usize) -> String {
    let n = rng.random_range(1..8);
    *serial += 1;
    let mut s: String = (0..n)
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect();
    s.push_str(&serial.to_string());
    s
}

fn benign(serial: &mut usize) -> String {
    *serial += 1;
    format!("x{serial}")
}

/// Replaces every tenant-sourced string of `plan` with `f()`.
fn retext(plan: &mut Plan, f: &mut dyn FnMut() -> String) {
    plan.tenant.display_name = f();
    plan.tenant.initial_domain = f();
    for k in &mut plan.keep {
        k.user_principal_name = f();
        k.roles = vec![f(), f()];
    }
    for a in &mut plan.actions {
        a.name = f().into();
        a.reason = f().into();
        a.warnings.push(f());
        if a.instructions.is_some() {
            a.instructions = Some(f());
        }
        if a.before.contains_key("userPrincipalName") {
            a.before.insert("userPrincipalName", json!(f()));
        }
    }
    for c in &mut plan.preflight {
        for b in &mut c.blocking {
            *b = f();
        }
        if c.blocking.is_empty() {
            c.blocking.push(f());
            c.passed = false;
        }
    }
}

fn report(plan: &Plan, f: &mut dyn FnMut() -> String) -> ApplyReport {
    let outcomes = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let o = match i % 5 {
                // A failure's message keeps its line breaks (closeout's hints span lines),
                // each line indented under its action; everything else is escaped.
                0 => Outcome::Failed(Failure {
                    message: f().replace('\n', " "),
                    code: Some(f()),
                    request_id: Some(f()),
                }),
                1 => Outcome::Skipped { because: f() },
                2 => Outcome::Pending(f()),
                3 => Outcome::Done,
                _ => Outcome::Verified,
            };
            (a.address.to_string(), o)
        })
        .collect();
    ApplyReport {
        outcomes,
        done_earlier: Default::default(),
        was_uncertain: Default::default(),
        interrupted: false,
    }
}

fn drift(plan: &Plan, f: &mut dyn FnMut() -> String) -> Vec<Drift> {
    plan.actions
        .iter()
        .take(3)
        .map(|a| Drift {
            address: a.address.to_string(),
            action: a.kind,
            object_id: f(),
            name: f(),
            reason: DriftReason::Unplannable(f()),
            planned: [("displayName", json!(f()))].into_iter().collect(),
            live: [("displayName", json!(f()))].into_iter().collect(),
        })
        .collect()
}

/// Every output of every renderer for `plan`, by name.
fn render_all(plan: &Plan, f: &mut dyn FnMut() -> String) -> Vec<(&'static str, String)> {
    let view = plan_view(plan, ViewOptions::default());
    let mut out = Vec::new();
    let mut push = |name, bytes: Vec<u8>| out.push((name, String::from_utf8(bytes).unwrap()));
    let mut b = Vec::new();
    render_plan_text(
        &view,
        TextOptions {
            full: true,
            ..TextOptions::default()
        },
        &mut b,
    )
    .unwrap();
    push("text", b);
    let mut b = Vec::new();
    let md = MarkdownOptions {
        full: true,
        ..MarkdownOptions::default()
    };
    render_plan_markdown(&view, md, &mut b).unwrap();
    push("markdown", b);
    let mut b = Vec::new();
    render_plan_json(&view, &mut b).unwrap();
    push("json", b);
    let r = report(plan, f);
    let mut b = Vec::new();
    render_report_text(plan, &r, Some(&plan.preflight), &mut b).unwrap();
    push("apply report", b);
    let d = drift(plan, f);
    let mut b = Vec::new();
    render_drift_text(plan, &d, &mut b).unwrap();
    push("drift report", b);
    let mut b = Vec::new();
    write_json(&mut b, &report_json(plan, Some(&r), &d, "failed", 1), true).unwrap();
    push("apply json", b);
    let mut b = Vec::new();
    render_confirmation(plan, &vec![true; plan.actions.len()], &mut b).unwrap();
    push("confirmation", b);
    let g = crate::planner::ActionGraph::build(&plan.actions).unwrap();
    push("dot", render_plan_dot(&g, &plan.actions).into_bytes());
    out
}

/// Markdown with code spans removed (their content is inert), backslash escapes kept.
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let mut chars = md.chars();
    let mut in_code = false;
    while let Some(c) = chars.next() {
        match (in_code, c) {
            (true, '`') => in_code = false,
            (true, _) => {}
            (false, '`') => in_code = true,
            (false, '\\') => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (false, _) => out.push(c),
        }
    }
    assert!(!in_code, "an unclosed code span");
    out
}

/// Counts of Markdown's active characters outside code spans: raw `<`, `>`, `|`, `[`, `]`,
/// `(`, `*`, `_`, backticks left unescaped, and `@`/`#` not followed by the zero-width
/// entity.
fn active(md: &str) -> [usize; 11] {
    let s = outside_code_spans(md);
    let mut n = [0usize; 11];
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        let zw = b[i + 1..].starts_with(b"&#8203;");
        let k = match b[i] {
            b'<' => 0,
            b'>' => 1,
            b'|' => 2,
            b'[' => 3,
            b']' => 4,
            b'(' => 5,
            b'*' => 6,
            b'_' => 7,
            b'@' if !zw => 8,
            // `&#` starts an entity closeout wrote (tenant `&` is `&amp;`).
            b'#' if !zw && (i == 0 || b[i - 1] != b'&') => 9,
            b'!' => 10,
            _ => {
                i += 1;
                continue;
            }
        };
        n[k] += 1;
        i += 1;
    }
    n
}

#[test]
fn hostile_tenant_text_is_inert_in_every_renderer() {
    let cases: u64 = std::env::var("CLOSEOUT_ADVERSARIAL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let base = crate::planfile::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/plans/contoso.plan.yaml"
    )))
    .expect("the checked-in sample plan");
    for seed in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut n, mut m) = (0, 0);
        let mut strings = Vec::new();
        let mut hostile_plan = base.clone();
        retext(&mut hostile_plan, &mut || {
            let s = hostile(&mut rng, &mut n);
            strings.push(s.clone());
            s
        });
        let mut benign_plan = base.clone();
        retext(&mut benign_plan, &mut || benign(&mut m));
        let bad = render_all(&hostile_plan, &mut || hostile(&mut rng, &mut n));
        let good = render_all(&benign_plan, &mut || benign(&mut m));
        for ((name, out), (_, plain)) in bad.iter().zip(&good) {
            let shown: Vec<char> = out.chars().filter(|c| raw(*c) && *c != '\n').collect();
            assert!(
                shown.is_empty(),
                "seed {seed}: {name} printed raw {shown:?}:\n{out}"
            );
            // No line break comes from tenant text: the layout is the benign one.
            assert_eq!(
                out.lines().count(),
                plain.lines().count(),
                "seed {seed}: {name} has lines of its own:\n{out}"
            );
        }
        let md = &bad[1].1;
        assert_eq!(
            active(md),
            active(&good[1].1),
            "seed {seed}: tenant text is active Markdown:\n{md}"
        );
        // JSON stays data: it parses back to exactly the hostile names.
        let doc: serde_json::Value = serde_json::from_str(&bad[2].1).unwrap();
        assert_eq!(doc["tenant"]["display_name"], json!(strings[0]));
        // Dot: every label is one quoted string (no tenant text ends it).
        let dot = &bad[7].1;
        for line in dot.lines().filter(|l| l.contains("[label=")) {
            let unescaped_quotes = line
                .as_bytes()
                .windows(2)
                .filter(|w| w[1] == b'"' && w[0] != b'\\')
                .count();
            assert_eq!(unescaped_quotes, 2, "seed {seed}: {line}");
        }
    }
}
