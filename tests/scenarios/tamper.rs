//! Issue 10, points 1, 2 and 7: the plan-tampering suite. Every Unicode line break and
//! control or invisible character inserted at each structural position of a sample plan,
//! YAML tricks (duplicate and unknown keys, anchors, aliases, tags, merge keys, a second
//! document, comments, other quoting), forged plans with recomputed digests, and every way
//! one object can be named twice: each refused by `planfile::parse` in-process (the bulk),
//! a sample through the binary (`closeout show` and `closeout apply`) with exit 1, no raw
//! control character in its output, and nothing written to the tenant (graph-sim's log).
//!
//! Seeded and bounded; the long run is
//! `CLOSEOUT_TAMPER_CASES=100000 cargo test --release --test cli tamper`
//! (`CLOSEOUT_TAMPER_SEED` picks another seed).

use std::path::Path;

use closeout::plan::{Action, ActionKind, Plan};
use closeout::planfile::{self, PlanFileError};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::common::{root, s, tenant, Sandbox, Sim};

/// Asserts graph-sim saw no write at all: no DELETE or PATCH (direct or in `$batch`),
/// whatever its status, and no successful POST but `$batch` itself.
fn nothing_written(sim: &Sim, what: &str) {
    let writes: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|e| {
            matches!(e.method.as_str(), "DELETE" | "PATCH" | "PUT")
                || (e.method == "POST" && !e.path.contains("$batch"))
        })
        .collect();
    assert!(writes.is_empty(), "{what}: {writes:?}");
}

include!("../common/hostile_chars.rs");
const HOSTILE: &[char] = HOSTILE_CHARS;

fn sample() -> String {
    std::fs::read_to_string(root().join("plans/trial.plan.yaml")).unwrap()
}

/// The sample with its digest recomputed, as a forger would.
fn forge_digest(text: &str) -> String {
    let key = "digest: \"sha256:";
    let Some(at) = text.find(key).map(|i| i + key.len()) else {
        return text.to_string();
    };
    let end = (at + 64).min(text.len());
    if !text.is_char_boundary(end) {
        return text.to_string();
    }
    let mut h = Sha256::new();
    h.update(&text.as_bytes()[..at]);
    h.update(&text.as_bytes()[end..]);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{}{hex}{}", &text[..at], &text[end..])
}

/// `true` when `s` holds a raw control or invisible character (other than `\n`).
fn has_raw_controls(s: &str) -> bool {
    s.chars()
        .any(|c| c != '\n' && closeout::input::is_hidden_or_control(c))
}

/// Parses `text`; asserts it is refused with a message that carries no raw control
/// character; returns the error.
fn refused(what: &str, text: &str) -> PlanFileError {
    let e = match planfile::parse(Path::new("t.plan.yaml"), text.as_bytes()) {
        Ok(_) => panic!("accepted a tampered plan ({what}):\n{text}"),
        Err(e) => e,
    };
    let m = e.to_string();
    assert!(
        !has_raw_controls(&m),
        "{what}: raw control in the message: {m:?}"
    );
    assert!(
        m.contains("edited after it was made")
            || m.contains("not a valid closeout plan file")
            || m.contains("format version"),
        "{what}: {m}"
    );
    e
}

/// Refused both as is and with the digest recomputed; with the digest recomputed, by the
/// byte-exact check (or a canonical-value check), never by the digest alone.
fn refused_even_forged(what: &str, text: &str) {
    refused(what, text);
    let e = refused(what, &forge_digest(text));
    assert!(
        !matches!(e, PlanFileError::Tampered { .. }),
        "{what}: a forger's digest passed; only the digest refused it: {e}"
    );
}

/// Byte offsets of the structural positions of the sample: inside the stamp (id, time,
/// digest), in keys, in values, in comments, at line starts and ends.
fn positions(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for (no, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches('\n');
        let pick = no < 40 || no % 17 == 0 || line.starts_with("- ");
        if pick {
            out.push((format!("line {} start", no + 1), at));
            out.push((format!("line {} end", no + 1), at + body.len()));
            if let Some(colon) = body.find(": ") {
                out.push((format!("line {} key", no + 1), at + colon / 2));
                out.push((format!("line {} value", no + 1), at + colon + 2));
                let mid = colon + 2 + (body.len() - colon - 2) / 2;
                if body.is_char_boundary(mid) {
                    out.push((format!("line {} mid-value", no + 1), at + mid));
                }
            } else if body.len() > 4 && body.is_char_boundary(body.len() / 2) {
                out.push((format!("line {} middle", no + 1), at + body.len() / 2));
            }
        }
        if line.starts_with("plan: ") {
            for key in ["{id: \"", "created_at: \"2", "sha256:", "\"}"] {
                let k = body.find(key).unwrap();
                out.push((format!("stamp {key}"), at + k + key.len() / 2));
                out.push((format!("stamp after {key}"), at + k + key.len()));
            }
            out.push((
                "inside the digest".into(),
                at + body.find("sha256:").unwrap() + 20,
            ));
        }
        at += line.len();
    }
    out.push(("end of file".into(), text.len()));
    out
}

#[test]
fn every_hostile_character_at_every_structural_position_is_refused() {
    let text = sample();
    planfile::parse(Path::new("t"), text.as_bytes()).expect("the sample reads");
    let mut cases = 0;
    for (where_, at) in positions(&text) {
        for &c in HOSTILE {
            let mut t = text.clone();
            t.insert(at, c);
            // CRLF throughout is the one accepted form of CR; a CR here is never that.
            refused_even_forged(&format!("{:?} at {where_}", c), &t);
            cases += 1;
        }
    }
    assert!(cases > 2000, "{cases} cases");
}

/// Text edits a YAML reader would read as the same (or a harmless) plan, or that smuggle
/// structure past a human: each refused even with the digest recomputed.
#[test]
fn yaml_tricks_are_refused_even_with_a_recomputed_digest() {
    let text = sample();
    let first_action = text.find("\n- address:").unwrap() + 1;
    let name_line = {
        let at = text[first_action..].find("  name: ").unwrap() + first_action;
        let end = text[at..].find('\n').unwrap() + at + 1;
        text[at..end].to_string()
    };
    let with = |from: &str, to: &str| -> String {
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1)
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "duplicate key in an action",
            with(&name_line, &format!("{name_line}{name_line}")),
        ),
        (
            "duplicate tenant id",
            with(
                "tenant:\n  id: ",
                "tenant:\n  id: ffc7cbb8-637e-493d-8f1b-2e7637ce8aae\n  id: ",
            ),
        ),
        (
            "duplicate top-level key",
            format!("{text}target:\n  delete_tenant: false\n"),
        ),
        (
            "unknown key in an action",
            with(&name_line, &format!("{name_line}  color: red\n")),
        ),
        (
            "unknown key in the tenant",
            with("tenant:\n", "tenant:\n  region: eu\n"),
        ),
        (
            "unknown top-level key",
            with("target:\n", "extra: 1\ntarget:\n"),
        ),
        (
            "unknown key in the stamp",
            with("plan: {id: ", "plan: {extra: 1, id: "),
        ),
        ("anchor", with("tenant:\n", "tenant: &t\n")),
        (
            "anchor on an action",
            with("\n- address:", "\n- &a address:"),
        ),
        ("alias", format!("{text}again: *t\n")),
        ("tag on a value", with("  step: 1\n", "  step: !!int 1\n")),
        ("tag on a string", with("  name: ", "  name: !!str ")),
        (
            "merge key",
            with("target:\n", "target:\n  <<: {delete_tenant: false}\n"),
        ),
        ("second document", format!("{text}---\nformat_version: 2\n")),
        ("document end", format!("{text}...\n")),
        (
            "document start",
            with("format_version: 2\n", "---\nformat_version: 2\n"),
        ),
        (
            "comment line between actions",
            with("\n- address:", "\n# reviewed\n- address:"),
        ),
        (
            "comment after a value",
            with("  step: 1\n", "  step: 1 # ok\n"),
        ),
        ("comment at the end", format!("{text}# trailing\n")),
        (
            "comment in the header changed",
            with("# Kept: ", "# Kept (all fine): "),
        ),
        ("single quotes", with("  step: 1\n", "  step: '1'\n")),
        (
            "double quotes on a plain value",
            with("  action: delete_user\n", "  action: \"delete_user\"\n"),
        ),
        (
            "flow mapping",
            with(
                "target:\n  purge_recycle_bin: true\n",
                "target: {purge_recycle_bin: true}\n",
            ),
        ),
        ("deeper indentation", with("  step: 1\n", "   step: 1\n")),
        ("tab indentation", with("  step: 1\n", "\tstep: 1\n")),
        ("trailing space", with("  step: 1\n", "  step: 1 \n")),
        (
            "keys reordered",
            with(
                "  step: 1\n  action: delete_user\n",
                "  action: delete_user\n  step: 1\n",
            ),
        ),
        ("byte-order mark", format!("\u{feff}{text}")),
        (
            "no final line break",
            text.trim_end_matches('\n').to_string(),
        ),
        ("blank line", with("target:\n", "\ntarget:\n")),
        ("folded value", with(&name_line, "  name: >-\n    nina\n")),
        (
            "null written differently",
            text.replacen(": null\n", ": ~\n", 1),
        ),
        (
            "boolean written differently",
            with("  purge_recycle_bin: true\n", "  purge_recycle_bin: True\n"),
        ),
        ("step of another kind", with("  step: 1\n", "  step: 2\n")),
        (
            "manual flag added",
            with(
                "  step: 1\n  action: delete_user\n",
                "  step: 1\n  action: delete_user\n  manual: true\n",
            ),
        ),
        (
            "format version line quoted",
            with("format_version: 2\n", "format_version: \"2\"\n"),
        ),
    ];
    for (what, t) in &cases {
        assert_ne!(t, &text, "{what}: the edit changed nothing");
        refused_even_forged(what, t);
    }
    // Refusals name the first differing line and show it with invisible characters made
    // visible.
    let t = with("tenant:\n", "tenant: \u{202e}\n");
    let m = refused("bidi", &t).to_string();
    let line = 1 + t[..t.find("tenant: ").unwrap()].matches('\n').count();
    assert!(m.contains(&format!(":{line}:")), "{m}");
    assert!(m.contains("\\u{202e}"), "{m}");
    // Another version is "unknown version", never "edited".
    let m = refused("v1", &with("format_version: 2\n", "format_version: 1\n")).to_string();
    assert!(m.contains("format version 1 is not supported"), "{m}");
}

/// Random hostile or ordinary characters inserted, replacing one, or one deleted, at random
/// positions (bounded; the long run sets `CLOSEOUT_TAMPER_CASES`).
#[test]
fn random_insertions_are_refused() {
    let text = sample();
    let cases: usize = std::env::var("CLOSEOUT_TAMPER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("CLOSEOUT_TAMPER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ordinary = [
        'x', ' ', '\n', '#', ':', '-', '"', '\'', '&', '*', '!', '{', '[', '0',
    ];
    for i in 0..cases {
        let mut at = rng.random_range(0..=text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let c = if rng.random_bool(0.5) {
            HOSTILE[rng.random_range(0..HOSTILE.len())]
        } else {
            ordinary[rng.random_range(0..ordinary.len())]
        };
        let mut t = text.clone();
        // Insert, replace or delete one character.
        let mode = rng.random_range(0..3);
        let next = text[at..].chars().next();
        match (mode, next) {
            (1, Some(n)) => t.replace_range(at..at + n.len_utf8(), &c.to_string()),
            (2, Some(n)) => t.replace_range(at..at + n.len_utf8(), ""),
            _ => t.insert(at, c),
        }
        if t == text {
            continue;
        }
        let what = format!("seed {seed} case {i}: mode {mode}, {c:?} at byte {at}");
        let forged = forge_digest(&t);
        refused(&what, &t);
        // With the digest recomputed an ordinary character inside a value may be a valid
        // (different) plan: then it must read as exactly those bytes.
        if let Ok(p) = planfile::parse(Path::new("t"), forged.as_bytes()) {
            assert!(!has_raw_controls(&forged), "{what}: accepted a raw control");
            assert_eq!(planfile::to_bytes(&p), forged.as_bytes(), "{what}");
        }
    }
}

/// The sample plan, parsed (for forging through the library).
fn sample_plan() -> Plan {
    planfile::parse(Path::new("t"), sample().as_bytes()).unwrap()
}

/// Forged plans that spell one object two ways, digest recomputed by the library without
/// canonicalising (`to_bytes`): each refused at parse, naming the field and its line.
#[test]
fn every_second_spelling_of_an_object_is_refused_at_parse() {
    let base = sample_plan();
    let user = base
        .actions
        .iter()
        .position(|a| a.kind == ActionKind::DeleteUser)
        .unwrap();
    let id = base.actions[user].object_id.clone();
    let respell = |f: &dyn Fn(&str) -> String| {
        let mut p = base.clone();
        let a = &mut p.actions[user];
        a.object_id = f(&id).into();
        a.address = Action::address_of(a.kind, &a.object_id).into();
        p
    };
    let field = format!("actions[{user}].id");
    let field = field.as_str();
    let mut cases: Vec<(&str, Plan, &str)> = vec![
        ("upper-case id", respell(&|i| i.to_uppercase()), field),
        ("braced id", respell(&|i| format!("{{{i}}}")), field),
        ("id with spaces", respell(&|i| format!(" {i} ")), field),
        (
            "id without hyphens",
            respell(&|i| i.replace('-', "")),
            field,
        ),
    ];
    let mut p = base.clone();
    let a = &mut p.actions[user];
    a.address = Action::address_of(a.kind, &a.object_id.to_uppercase()).into();
    cases.push(("address spelt in upper case", p, "address must be"));
    let mut p = base.clone();
    let dup = p.actions[user].clone();
    p.actions.insert(user + 1, dup);
    cases.push(("the same action twice", p, "appears twice"));
    let mut p = base.clone();
    let mut twin = p.actions[user].clone();
    twin.object_id = twin.object_id.to_uppercase().into();
    twin.address = Action::address_of(twin.kind, &twin.object_id).into();
    p.actions.insert(user + 1, twin);
    let twin_field = format!("actions[{}].id", user + 1);
    cases.push(("one object under two addresses", p, twin_field.as_str()));
    let mut p = base.clone();
    p.tenant.id = p.tenant.id.to_uppercase();
    cases.push(("upper-case tenant id", p, "tenant.id"));
    let mut p = base.clone();
    p.tenant.initial_domain = p.tenant.initial_domain.to_uppercase();
    cases.push(("upper-case initial domain", p, "tenant.initial_domain"));
    let mut p = base.clone();
    p.tenant.initial_domain = "tailspintöys.onmicrosoft.com".into();
    cases.push(("Unicode initial domain", p, "tenant.initial_domain"));
    let mut p = base.clone();
    p.keep[0].id = p.keep[0].id.to_uppercase();
    cases.push(("upper-case kept id", p, "keep[].id"));
    let mut p = base.clone();
    let mut twin = p.keep[0].clone();
    twin.user_principal_name = twin.user_principal_name.to_uppercase();
    p.keep.push(twin);
    cases.push(("kept user twice, UPN case", p, "names the same user"));
    let mut p = base.clone();
    let mut twin = p.keep[0].clone();
    twin.id = "ffffffff-ffff-4fff-8fff-ffffffffffff".into();
    twin.user_principal_name = twin.user_principal_name.to_uppercase();
    p.keep.push(twin);
    cases.push((
        "kept user twice, another id and the UPN in upper case",
        p,
        "names the same user",
    ));
    let mut p = base.clone();
    let d = p
        .actions
        .iter()
        .position(|a| !a.depends_on.is_empty())
        .unwrap();
    p.actions[d].depends_on =
        thin_vec::thin_vec![format!("delete_user.{}", id.to_uppercase()).into()];
    cases.push(("dependency spelt in upper case", p, "depends_on"));
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("trial"));
    let url = sim.url();
    for (what, plan, field) in cases {
        let bytes = planfile::to_bytes(&plan);
        let e = refused(what, std::str::from_utf8(&bytes).unwrap());
        let m = e.to_string();
        assert!(
            matches!(e, PlanFileError::Invalid { ref location, .. } if location.starts_with(':')),
            "{what}: {m}"
        );
        assert!(m.contains(field), "{what}: names {field}: {m}");
        // Through the binary: refused before anything reaches the tenant (so before the
        // token is ever used).
        let path = sb.path("forged.plan.yaml");
        planfile::write_bytes(&path, &bytes).unwrap();
        let run = sb
            .closeout_env(
                &["apply", s(&path), "--auto-approve", "--graph-url", &url],
                &[(
                    "CLOSEOUT_ACCESS_TOKEN",
                    "never-sent-the-plan-is-refused-first",
                )],
            )
            .expect(1);
        assert!(run.stderr.contains(field), "{what}: {}", run.stderr);
        assert!(!has_raw_controls(&run.stderr), "{what}");
    }
    nothing_written(&sim, "second spellings");
    assert!(
        sim.log().is_empty(),
        "refused before reading the tenant: {:?}",
        sim.log()
    );
}

/// Through the binary: a dozen tampered files, each refused by `show` and `apply` with exit
/// 1, no raw control character on stdout or stderr, and no write to the tenant.
#[test]
fn tampered_plans_are_refused_by_the_binary_with_nothing_written() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("trial"));
    let text = sample();
    let t = |from: &str, to: &str| text.replacen(from, to, 1);
    let samples = [
        t("tenant:\n", "tenant: \u{202e}\n"),
        t("  step: 1\n", "  step: 1\r\n"),
        t("  step: 1\n", "  step: 1\u{2028}\n"),
        t("  step: 1\n", "  step: 1\u{85}\n"),
        t("# Kept: ", "# Kept: \u{1b}[2J\u{1b}]0;owned\u{7}"),
        t("  name: ", "  name: \u{200b}"),
        t("\n- address:", "\n# ok\n- address:"),
        t("tenant:\n", "tenant: &t\n"),
        forge_digest(&t("  step: 1\n", "  step: !!int 1\n")),
        forge_digest(&format!("{text}---\nformat_version: 2\n")),
        forge_digest(&t(
            "  step: 1\n  action: delete_user\n",
            "  step: 1\n  action: delete_user\n  color: red\n",
        )),
        forge_digest(&t("format_version: 2\n", "format_version: 2\n\u{feff}")),
    ];
    let url = sim.url();
    for (i, body) in samples.iter().enumerate() {
        let path = sb.path(&format!("t{i}.plan.yaml"));
        std::fs::write(&path, body).unwrap();
        for args in [
            vec!["show", s(&path)],
            vec!["apply", s(&path), "--auto-approve", "--graph-url", &url],
        ] {
            let run = sb
                .closeout_env(&args, &[("CLOSEOUT_ACCESS_TOKEN", crate::common::token())])
                .expect(1);
            for out in [&run.stdout, &run.stderr] {
                assert!(!has_raw_controls(out), "sample {i} {args:?}: {out:?}");
            }
            assert!(
                run.stderr.contains("edited after it was made"),
                "sample {i} {args:?}: {}",
                run.stderr
            );
        }
    }
    nothing_written(&sim, "tampered plans");
}

/// Forged plans (digest recomputed by the library, canonical spelling) that delete the kept
/// administrator under every disguise: refused by apply's guard, nothing written.
#[test]
fn guards_hold_against_forged_plans_under_every_spelling() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("trial"));
    let base = sample_plan();
    let admin = base.keep[0].clone();
    let template = base
        .actions
        .iter()
        .find(|a| a.kind == ActionKind::DeleteUser)
        .unwrap()
        .clone();
    let delete = |id: &str, kind: ActionKind| {
        let mut a = template.clone();
        a.kind = kind;
        a.object_id = id.to_string().into();
        a.address = Action::address_of(kind, id).into();
        a.name = "harmless.looking@example.com".into();
        a
    };
    let mut forged: Vec<(&str, Plan)> = Vec::new();
    let mut p = base.clone();
    p.actions
        .insert(0, delete(&admin.id, ActionKind::DeleteUser));
    forged.push(("deletes the kept id", p));
    let mut p = base.clone();
    p.actions
        .insert(0, delete(&admin.id.to_uppercase(), ActionKind::DeleteUser));
    forged.push(("deletes the kept id in upper case", p));
    let mut p = base.clone();
    p.actions.insert(
        0,
        delete(&format!("{{{}}}", admin.id), ActionKind::DeleteUser),
    );
    forged.push(("deletes the kept id in braces", p));
    let mut p = base.clone();
    p.actions
        .insert(0, delete(&admin.id, ActionKind::PurgeUser));
    forged.push(("purges the kept id", p));
    let mut p = base.clone();
    p.keep[0].id = "ffffffff-ffff-4fff-8fff-ffffffffffff".into();
    p.keep[0].user_principal_name = admin.user_principal_name.to_uppercase();
    p.actions
        .insert(0, delete(&admin.id, ActionKind::DeleteUser));
    forged.push(("keeps the admin by UPN in other case, deletes its id", p));
    let mut p = base.clone();
    p.keep.clear();
    p.actions
        .insert(0, delete(&admin.id, ActionKind::DeleteUser));
    forged.push(("keeps nobody, deletes the last administrator", p));
    let url = sim.url();
    for (what, mut plan) in forged {
        let path = sb.path("forged.plan.yaml");
        let bytes = planfile::seal(&mut plan);
        planfile::write_bytes(&path, &bytes).unwrap();
        planfile::read(&path).unwrap_or_else(|e| panic!("{what}: the forgery reads: {e}"));
        let run = sb
            .closeout_env(
                &["apply", s(&path), "--auto-approve", "--graph-url", &url],
                &[("CLOSEOUT_ACCESS_TOKEN", crate::common::token())],
            )
            .expect(1);
        assert!(
            run.stderr.contains("refusing this plan"),
            "{what}: {}",
            run.stderr
        );
        nothing_written(&sim, what);
    }
}

/// The kept-user guard itself (not only the last-administrator guard behind it) matches a
/// kept user by userPrincipalName in any case: a forged plan that keeps the administrator
/// under a made-up id and an upper-case UPN, and deletes its real id, is refused as deleting
/// a kept user. (Without the UPN match the last-administrator guard answers instead: this
/// test fails then.)
#[test]
fn kept_user_guard_matches_by_upn_whatever_the_case() {
    let sb = Sandbox::new();
    let sim = Sim::open(&tenant("contoso"));
    let text = std::fs::read_to_string(root().join("plans/contoso.plan.yaml")).unwrap();
    let mut plan = planfile::parse(Path::new("contoso"), text.as_bytes()).unwrap();
    let admin = plan.keep[0].clone();
    // Leave the other Global Administrator alive.
    plan.actions.retain(|a| {
        !a.before
            .get("directoryRoles")
            .is_some_and(|r| r.to_string().contains("Global Administrator"))
    });
    let mut forged = plan
        .actions
        .iter()
        .find(|a| a.kind == ActionKind::DeleteUser)
        .unwrap()
        .clone();
    forged.object_id = admin.id.clone().into();
    forged.address = Action::address_of(ActionKind::DeleteUser, &admin.id).into();
    plan.actions.insert(0, forged);
    plan.keep[0].id = "ffffffff-ffff-4fff-8fff-ffffffffffff".into();
    plan.keep[0].user_principal_name = admin.user_principal_name.to_uppercase();
    let path = sb.path("forged.plan.yaml");
    planfile::write_bytes(&path, &planfile::seal(&mut plan)).unwrap();
    let url = sim.url();
    let run = sb
        .closeout_env(
            &["apply", s(&path), "--auto-approve", "--graph-url", &url],
            &[("CLOSEOUT_ACCESS_TOKEN", crate::common::token())],
        )
        .expect(1);
    assert!(
        run.stderr.contains("which the same plan keeps"),
        "{}",
        run.stderr
    );
    nothing_written(&sim, "kept by UPN");
}
