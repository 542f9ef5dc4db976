//! Tenant text is data: a tenant whose names carry terminal controls, escape sequences,
//! bidi overrides, zero-width characters and Markdown/HTML goes through `plan`, `show`
//! (text, Markdown, JSON), `graph` and `apply` (simulated, and over HTTP where apply
//! reviews the plan before its confirmation), and no raw control reaches stdout or stderr.

use crate::common::{s, tenant, Run, Sandbox, Sim};

/// Characters a terminal obeys or hides; `\n` is the renderers' own line break.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n')
        .filter(|&c| {
            c.is_control()
                || matches!(c as u32,
                    0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x2069
                    | 0x061c | 0xfeff | 0x00ad | 0x2028 | 0x2029 | 0xe0000..=0xe007f)
        })
        .collect()
}

/// Markdown without its code spans; a backslash escapes the next character outside them.
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let (mut chars, mut code) = (md.chars(), false);
    while let Some(c) = chars.next() {
        match (code, c) {
            (_, '`') => code = !code,
            (true, _) => {}
            (false, '\\') => {
                out.push(c);
                out.extend(chars.next());
            }
            (false, _) => out.push(c),
        }
    }
    out
}

#[track_caller]
fn assert_inert(what: &str, run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let raw = raw_controls(text);
        assert!(raw.is_empty(), "{what}: raw {raw:?} on {stream}:\n{text}");
    }
}

/// contoso with hostile names: the organization, a role, an app and its service principal,
/// a user's userPrincipalName and display name.
fn hostile_contoso(sb: &Sandbox) -> std::path::PathBuf {
    let text = std::fs::read_to_string(tenant("contoso")).unwrap();
    let swaps = [
        (
            "  displayName: Contoso Ltd\n",
            "  displayName: \"Contoso\\e]0;owned\\a \\u202eLtd\\n# injected | <b>x</b> @everyone\"\n",
        ),
        (
            "    displayName: Global Administrator\n",
            "    displayName: \"Global \\e[2J\\e[HAdministrator\\u200b|`\"\n",
        ),
        (
            "displayName: Contoso Expenses",
            "displayName: \"Expenses\\u2066\\e]8;;https://evil.example/\\a[click](https://evil.example/)\\u2069 <img src=x>\"",
        ),
        (
            "userPrincipalName: megan.bowen@contoso.com",
            "userPrincipalName: \"megan\\u200d.bowen\\u202e\\x9b2J@contoso.com\"",
        ),
        (
            "displayName: Megan Bowen",
            "displayName: \"Megan\\r\\e[1A Bowen\"",
        ),
    ];
    let mut out = text.clone();
    for (from, to) in swaps {
        assert!(out.contains(from), "contoso.yaml has no {from:?}");
        out = out.replace(from, to);
    }
    let path = sb.path("hostile.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn hostile_names_reach_no_terminal_raw() {
    let sb = Sandbox::new();
    let snapshot = hostile_contoso(&sb);
    let plan = sb.path("plan.yaml");
    let keep = "admin@contoso.com";
    let planned = sb
        .closeout(&[
            "plan",
            "--simulate",
            s(&snapshot),
            "--keep",
            keep,
            "-o",
            s(&plan),
        ])
        .expect(0);
    assert_inert("plan", &planned);
    assert!(planned.stdout.contains("\\u{202e}"), "{}", planned.stdout);

    for format in ["text", "json", "markdown"] {
        let shown = sb
            .closeout(&["show", s(&plan), "--format", format, "--full"])
            .expect(0);
        assert_inert(format, &shown);
    }
    let md = sb
        .closeout(&["show", s(&plan), "--format", "markdown", "--full"])
        .expect(0)
        .stdout;
    // Outside code spans (where Markdown, HTML and mentions are inert) tenant text is
    // escaped: no HTML, no mention, no link.
    let prose = outside_code_spans(&md);
    for active in ["<img", "<b>", "@everyone", "[click]("] {
        assert!(!prose.contains(active), "{active:?} is active in:\n{md}");
    }
    assert!(
        prose.contains("@&#8203;everyone") && prose.contains("&lt;b&gt;"),
        "{md}"
    );
    let json = sb
        .closeout(&["show", s(&plan), "--format", "json"])
        .expect(0)
        .stdout;
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        doc["tenant"]["display_name"]
            .as_str()
            .unwrap()
            .contains('\u{202e}'),
        "JSON keeps the data exact: {json}"
    );
    let dot = sb.closeout(&["graph", s(&plan)]).expect(0);
    assert_inert("graph", &dot);

    let applied = sb.closeout(&["apply", s(&plan), "--simulate", s(&snapshot)]);
    assert!(applied.code == 3, "{}\n{}", applied.stdout, applied.stderr);
    assert_inert("apply", &applied);
    let json_apply = sb.closeout(&[
        "apply",
        s(&plan),
        "--simulate",
        s(&snapshot),
        "--format",
        "json",
    ]);
    assert_inert("apply --format json", &json_apply);
}

/// Over HTTP apply reviews the plan (per step, kept user, data at risk) before it asks for
/// the initial domain; without a terminal it then refuses, with the review on record.
#[test]
fn apply_reviews_the_plan_before_its_confirmation() {
    let sb = Sandbox::new();
    let snapshot = hostile_contoso(&sb);
    let sim = Sim::open(&snapshot);
    let url = sim.url();
    let token = [("CLOSEOUT_ACCESS_TOKEN", crate::common::token())];
    let plan = sb.path("plan.yaml");
    sb.closeout_env(
        &[
            "plan",
            "--graph-url",
            &url,
            "--keep",
            "admin@contoso.com",
            "-o",
            s(&plan),
        ],
        &token,
    )
    .expect(0);
    let refused = sb
        .closeout_env(&["apply", s(&plan), "--graph-url", &url], &token)
        .expect(1);
    assert_inert("apply confirmation", &refused);
    let e = &refused.stderr;
    let review = e.find("step 1").expect("the review lists the steps");
    let refusal = e.find("apply needs confirmation").expect(e);
    assert!(review < refusal, "{e}");
    for needle in [
        "24 delete user, 25 purge deleted user",
        "Kept: admin@contoso.com",
        "Data at risk:",
        "mailboxes and OneDrive",
        "SharePoint Online sites",
        "Back up",
        "\\u{202e}",
    ] {
        assert!(e.contains(needle), "no {needle:?} in:\n{e}");
    }
    assert!(
        sim.writes().is_empty(),
        "nothing is written before confirmation"
    );
}

/// Error messages quote names too: they reach the terminal neutralised.
#[test]
fn errors_quoting_names_reach_no_terminal_raw() {
    let sb = Sandbox::new();
    let run = sb.closeout(&[
        "plan",
        "--simulate",
        s(&tenant("contoso")),
        "--keep",
        "evil\u{1b}]0;owned\u{7}\u{202e}@contoso.com",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("\\u{1b}]0;owned\\u{7}\\u{202e}"),
        "{}",
        run.stderr
    );
    assert_inert("plan error", &run);
}
