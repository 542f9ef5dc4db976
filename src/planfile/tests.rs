//! Unit tests of the plan file layer: the checked-in plans read back, and random tenant text
//! in every text field survives seal and parse.

use super::*;

fn contoso() -> Plan {
    let bytes = include_bytes!("../../plans/contoso.plan.yaml");
    parse(Path::new("contoso.plan.yaml"), bytes).expect("the checked-in plan reads")
}

#[test]
fn checked_in_plan_reads_and_writes_back_byte_for_byte() {
    let bytes = include_bytes!("../../plans/contoso.plan.yaml");
    let plan = contoso();
    assert_eq!(to_bytes(&plan), bytes.to_vec());
}

#[test]
fn streamed_writes_give_the_bytes_of_seal() {
    // Larger than one 64 KiB piece of the streamed writer.
    let mut plan = contoso();
    let actions = plan.actions.clone();
    for _ in 0..12 {
        plan.actions.extend(actions.iter().cloned());
    }
    let mut sealed = plan.clone();
    let bytes = seal(&mut sealed);
    assert!(bytes.len() > 3 << 16);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.plan.yaml");
    seal_to_file(&path, &mut plan).unwrap();
    assert_eq!(plan.plan_id, sealed.plan_id);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    write(&path, &plan).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), to_bytes(&plan));
    assert!(!path.with_extension("yaml.tmp").exists());
}

// The hostile characters of every test (shared with the tamper suite).
include!("../../tests/common/hostile_chars.rs");

/// Characters of the other classes the writer must escape or quote, and ordinary ones;
/// with [`HOSTILE_CHARS`], the pool random text is drawn from.
const ORDINARY: &[char] = &[
    'a', 'Z', '0', '7', ' ', ' ', '.', '-', ':', '#', '"', '\'', '\\', '?', '[', ']', '{', '}',
    ',', '&', '*', '!', '|', '>', '%', '@', '`', '~', '\n', '\u{a0}', 'é', '中', '😀', '\u{ffff}',
];

const WORDS: &[&str] = &[
    "",
    "true",
    "False",
    "null",
    "~",
    "12",
    "-1.5e3",
    "0x1f",
    "2026-01-01",
    "<<",
    " lead",
    "trail ",
    "a: b",
    "a #c",
    "- x",
    "---",
    "...",
    "yes",
    ".inf",
    "*x",
    "&y",
    "!!str z",
];

fn random_text(rng: &mut impl rand::Rng) -> String {
    if rng.random_ratio(1, 6) {
        return WORDS[rng.random_range(0..WORDS.len())].to_string();
    }
    let n = rng.random_range(0..24);
    (0..n)
        .map(|_| {
            let i = rng.random_range(0..ORDINARY.len() + HOSTILE_CHARS.len());
            ORDINARY
                .get(i)
                .copied()
                .unwrap_or_else(|| HOSTILE_CHARS[i - ORDINARY.len()])
        })
        .collect()
}

/// Random tenant text in every text field of a plan: seal, then parse gives the same
/// plan, and any YAML reader (serde_yaml) reads the same strings.
#[test]
fn random_tenant_text_in_every_field_reads_back() {
    use rand::{Rng, SeedableRng};
    let seed: u64 = std::env::var("CLOSEOUT_TEXT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rounds: usize = std::env::var("CLOSEOUT_TEXT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let base = contoso();
    for round in 0..rounds {
        let mut p = base.clone();
        let t = &mut |rng: &mut rand::rngs::StdRng| random_text(rng);
        p.tool_version = t(&mut rng);
        p.tenant.display_name = t(&mut rng);
        for k in &mut p.keep {
            k.user_principal_name = t(&mut rng);
            k.roles = vec![t(&mut rng), t(&mut rng)];
        }
        for c in &mut p.preflight {
            c.name = t(&mut rng);
            c.requirement = t(&mut rng);
            c.blocking = vec![t(&mut rng); rng.random_range(0..3)];
        }
        for a in p.actions.iter_mut().step_by(7) {
            a.name = t(&mut rng).into();
            a.reason = t(&mut rng).into();
            a.warnings = vec![t(&mut rng); rng.random_range(0..3)].into();
            a.instructions = Some(t(&mut rng));
            a.before
                .insert(t(&mut rng), serde_json::Value::String(t(&mut rng)));
            a.before.insert(
                t(&mut rng),
                serde_json::json!([t(&mut rng), {"k": t(&mut rng), "n": [1, [], {}]}, null]),
            );
        }
        // The data section: tenant text in names, URLs and reasons, any counts.
        p.data = Some(crate::plan::DataReport {
            backup_confirmed: rng.random(),
            not_checked: rng.random::<bool>().then(|| t(&mut rng)),
            report_refresh_date: t(&mut rng),
            names_concealed: rng.random(),
            mailboxes: crate::plan::DataTotal {
                count: rng.random(),
                bytes: rng.random(),
                items: rng.random(),
            },
            users: (0..rng.random_range(0..3))
                .map(|_| crate::plan::UserData {
                    user_principal_name: t(&mut rng),
                    id: t(&mut rng),
                    mailbox_bytes: rng.random(),
                    onedrive_files: rng.random(),
                    ..Default::default()
                })
                .collect(),
            site_list: (0..rng.random_range(0..3))
                .map(|_| crate::plan::SiteData {
                    url: t(&mut rng),
                    bytes: u64::MAX,
                    files: 0,
                })
                .collect(),
            ..Default::default()
        });
        let bytes = seal(&mut p);
        let back = parse(Path::new("random.plan.yaml"), &bytes)
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: {e}"));
        assert_eq!(back, p, "seed {seed} round {round}");
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && crate::input::is_hidden_or_control(c)),
            "seed {seed} round {round}: a raw control character in the file"
        );
        let doc: serde_yaml::Value = serde_yaml::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: serde_yaml: {e}"));
        assert_eq!(
            doc["tenant"]["display_name"].as_str(),
            Some(&*p.tenant.display_name)
        );
        assert_eq!(doc["closeout_version"].as_str(), Some(&*p.tool_version));
        for (i, a) in p.actions.iter().enumerate().step_by(7) {
            let d = &doc["actions"][i];
            assert_eq!(
                d["name"].as_str(),
                Some(&*a.name),
                "seed {seed} round {round}"
            );
            assert_eq!(d["reason"].as_str(), Some(&*a.reason));
            let before: serde_json::Value = serde_yaml::from_value(d["before"].clone()).unwrap();
            assert_eq!(before, serde_json::to_value(&a.before).unwrap());
        }
    }
}

#[test]
fn crlf_throughout_reads_as_lf_and_nothing_else_does() {
    let bytes = include_str!("../../plans/contoso.plan.yaml");
    let crlf = bytes.replace('\n', "\r\n");
    assert_eq!(parse(Path::new("p"), crlf.as_bytes()).unwrap(), contoso());
    let mixed = bytes.replacen('\n', "\r\n", 3);
    let e = parse(Path::new("p"), mixed.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("edited after it was made") && e.contains(":1:"),
        "{e}"
    );
    assert!(e.contains("\\u{d}"), "shows the CR escaped: {e}");
}

#[test]
fn control_scan_finds_what_a_character_scan_finds() {
    let slow = |t: &str| {
        t.char_indices()
            .find(|&(_, c)| c != '\n' && input::is_hidden_or_control(c))
    };
    let chars = (0..0x3200u32)
        .chain(0xFE00..0x1_0000)
        .chain(0x1_10B0..0x1_10D0)
        .chain(0x1_BCA0..0x1_BCA8)
        .chain(0x1_D170..0x1_D180)
        .chain(0xE_0000..0xE_0100)
        .filter_map(char::from_u32);
    for c in chars {
        for t in [format!("{c}"), format!("ab\n{c}é"), format!("ü\n{c}{c}")] {
            assert_eq!(crate::input::first_hidden_or_control(&t), slow(&t), "{t:?}");
        }
    }
    let plan = String::from_utf8(include_bytes!("../../plans/contoso.plan.yaml").to_vec()).unwrap();
    assert_eq!(crate::input::first_hidden_or_control(&plan), None);
}

/// A forged plan (digest and header recomputed by [`to_bytes`]) that names one prerequisite
/// twice, lists `depends_on` out of closeout's order, or a kept user's role twice or out of
/// order is refused at parse, for every action and kept user of the sample plan and a
/// seeded choice of entries (the red team found duplicate `depends_on` entries accepted).
#[test]
fn forged_lists_with_an_entry_twice_or_out_of_order_are_refused() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let base = contoso();
    let refused = |p: &Plan, what: &str| match parse(Path::new("forged.plan.yaml"), &to_bytes(p)) {
        Err(PlanFileError::Invalid { message, .. }) => {
            assert!(
                message.contains("twice or out of order"),
                "{what}: {message}"
            )
        }
        other => panic!("{what}: accepted or refused otherwise: {other:?}"),
    };
    let mut tried = 0;
    for i in 0..base.actions.len() {
        let deps = &base.actions[i].depends_on;
        if deps.is_empty() {
            continue;
        }
        let mut p = base.clone();
        let j = rng.random_range(0..deps.len());
        p.actions[i].depends_on.insert(j, deps[j].clone());
        refused(&p, &format!("actions[{i}] dependency twice"));
        if deps.len() > 1 {
            let mut p = base.clone();
            let k = rng.random_range(1..deps.len());
            p.actions[i].depends_on.swap(k - 1, k);
            refused(&p, &format!("actions[{i}] dependencies swapped"));
        }
        tried += 1;
    }
    for i in 0..base.keep.len() {
        let mut p = base.clone();
        let role = p.keep[i].roles[0].clone();
        p.keep[i].roles.push(role);
        refused(&p, &format!("keep[{i}] role twice"));
        let mut p = base.clone();
        p.keep[i].roles.insert(0, "~ not sorted".into());
        refused(&p, &format!("keep[{i}] roles out of order"));
    }
    assert!(tried > 10, "the sample plan has actions with prerequisites");
}

/// The data section reads back byte for byte; a changed figure is refused (the header
/// comment states it, the digest covers it), a changed layout as an edit (the reader writes
/// the section again and compares).
#[test]
fn the_data_section_reads_back_and_forgeries_are_refused() {
    let bytes = include_bytes!("../../plans/fabrikam.plan.yaml");
    let plan = parse(Path::new("fabrikam.plan.yaml"), bytes).expect("reads");
    let data = plan.data.as_ref().expect("fabrikam counts data");
    assert_eq!(data.mailboxes.count, 5);
    assert!(!data.users.is_empty());
    assert_eq!(to_bytes(&plan), bytes.to_vec());
    let text = std::str::from_utf8(bytes).unwrap();
    let at = text.find("\ndata:\n").expect("a data section") + 1;
    for (from, to, layout) in [
        (
            "  backup_confirmed: false\n",
            "  backup_confirmed: true\n",
            false,
        ),
        ("{count: 5,", "{count: 6,", false),
        (
            "  names_concealed: false\n",
            "  names_concealed: no\n",
            true,
        ),
        ("{count: 5,", "{count:  5,", true),
        ("    onedrive_files: 9120\n", "", true),
        ("  site_list:\n", "  sites_list:\n", true),
        ("  users:\n", "  users: []\n  users:\n", true),
        (
            "  backup_confirmed: false\n",
            "  backup_confirmed: false\n  extra: 1\n",
            true,
        ),
    ] {
        let (head, tail) = text.split_at(at);
        assert!(tail.contains(from), "{from:?}");
        let forged = format!("{head}{}", tail.replacen(from, to, 1));
        match parse(Path::new("forged.plan.yaml"), forged.as_bytes()) {
            Err(PlanFileError::Edited { .. }) if layout => {}
            // A figure also changes the header comment stating it: refused either way.
            Err(PlanFileError::Tampered { .. } | PlanFileError::Edited { .. }) if !layout => {}
            other => panic!("{from:?} -> {to:?}: {other:?}"),
        }
    }
}

#[test]
fn a_file_read_for_a_few_actions_is_verified_whole() {
    let bytes = include_bytes!("../../plans/contoso.plan.yaml");
    let path = Path::new("contoso.plan.yaml");
    let full = contoso();
    let (some, tally) = parse_kept(path, bytes, &mut |_, a| {
        (a.kind == crate::plan::ActionKind::PurgeUser).then_some(a)
    })
    .unwrap();
    assert_eq!(tally, full.tally());
    assert!(!some.actions.is_empty());
    assert!(some
        .actions
        .iter()
        .all(|a| a.kind == crate::plan::ActionKind::PurgeUser));
    assert_eq!(
        some.actions.len(),
        tally.count(crate::plan::ActionKind::PurgeUser)
    );
    assert_eq!(
        Plan {
            actions: full.actions.clone(),
            ..some
        },
        full
    );
    // Every edit is refused alike whether the edited action is kept or not.
    let mut checked = 0;
    for at in (0..bytes.len()).step_by(29) {
        let mut edited = bytes.to_vec();
        edited[at] = if edited[at] == b'x' { b'y' } else { b'x' };
        let whole = parse(path, &edited).map(|_| ()).map_err(|e| e.to_string());
        let none = parse_kept(path, &edited, &mut |_, _| None)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(whole, none, "byte {at}");
        assert!(whole.is_err(), "byte {at} edited, still accepted");
        checked += 1;
    }
    assert!(checked > 500);
    // An address twice is refused though neither copy is kept.
    let mut twice = full.clone();
    twice.actions.push(full.actions[3].clone());
    let bytes = to_bytes(&twice);
    let err = parse_kept(path, &bytes, &mut |_, _| None).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    assert_eq!(
        err.to_string(),
        parse(path, &bytes).unwrap_err().to_string()
    );
}

/// The two-thread reader of the actions (a large plan's: one thread reads, the other
/// verifies) decides every file as the one-thread reader does: the same plan, or the same
/// refusal at the same line. Random edits of a plan of about 1,000 actions (characters
/// inserted, removed or changed, lines removed, doubled or swapped, an action doubled), each
/// with its recorded digest and with the digest recomputed as a forger would.
///
/// Seeded and bounded; the long run is
/// `CLOSEOUT_READER_CASES=20000 cargo test --release --lib two_thread_reader`.
#[test]
fn the_two_thread_reader_decides_every_edit_as_the_one_thread_reader() {
    use rand::{Rng, SeedableRng};
    let mut plan = crate::render::kept_tests::big_contoso_with(
        40,
        &[
            crate::plan::ActionKind::DeleteUser,
            crate::plan::ActionKind::PurgeUser,
            crate::plan::ActionKind::DeleteSelfServiceProduct,
        ],
    );
    let text = String::from_utf8(seal(&mut plan)).unwrap();
    assert!(text.len() > 300_000, "{}", text.len());
    let decide = |t: &str, pipelined: bool| {
        read::PIPELINE.with(|c| c.set(Some(pipelined)));
        let out = parse(Path::new("p.plan.yaml"), t.as_bytes()).map(|p| to_bytes(&p));
        read::PIPELINE.with(|c| c.set(None));
        match out {
            Ok(bytes) => Ok(bytes),
            Err(e) => Err(e.to_string()),
        }
    };
    assert_eq!(decide(&text, true), Ok(text.clone().into_bytes()));
    let cases: usize = std::env::var("CLOSEOUT_READER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    let pool = [
        'a', '1', ' ', ':', '"', '-', '\n', '\u{202e}', 'é', '#', '{', '\\',
    ];
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..cases {
        // Edits anywhere (most land in the actions, the file's bulk); a third of the
        // cases have two, so that both threads may refuse (the earlier one must win).
        let mut ls: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut line = 0;
        for _ in 0..if rng.random_bool(0.3) { 2 } else { 1 } {
            line = rng.random_range(0..ls.len());
            match rng.random_range(0..7) {
                0 => {
                    let l = &mut ls[line];
                    let at = rng.random_range(0..l.len().max(1)).min(l.len());
                    if l.is_char_boundary(at) {
                        l.insert(at, pool[rng.random_range(0..pool.len())]);
                    }
                }
                1 => {
                    let l = &mut ls[line];
                    let at = rng.random_range(0..l.len().max(1)).min(l.len());
                    if at < l.len() && l.is_char_boundary(at) && l.is_char_boundary(at + 1) {
                        l.remove(at);
                    }
                }
                2 => {
                    ls.remove(line);
                }
                3 => {
                    let l = ls[line].clone();
                    ls.insert(line, l);
                }
                4 if line + 1 < ls.len() => ls.swap(line, line + 1),
                5 => {
                    // An action's block written twice.
                    if let Some(start) =
                        (0..=line).rev().find(|&i| ls[i].starts_with("- address: "))
                    {
                        let end = (start + 1..ls.len())
                            .find(|&i| !ls[i].starts_with("  "))
                            .unwrap_or(ls.len());
                        let block: Vec<String> = ls[start..end].to_vec();
                        ls.splice(end..end, block);
                    }
                }
                _ => {
                    let l = &mut ls[line];
                    if let Some(at) = l.find("user0") {
                        l.replace_range(at..at + 5, "user1");
                    }
                }
            }
        }
        let edited: String = ls.concat();
        for t in [edited.clone(), forged(&edited)] {
            let (one, two) = (decide(&t, false), decide(&t, true));
            assert_eq!(two, one, "case {case} (line {line})");
            match one {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
    }
    assert!(
        refused > cases / 2,
        "{refused} refused, {accepted} accepted"
    );

    // Both threads refuse: the verifier an early action (`step` is read as it is and held
    // to the kind by the compare), the reader a later one (its `step` line missing): the
    // earlier refusal is the one.
    let mut ls: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let steps: Vec<usize> = (0..ls.len())
        .filter(|&i| ls[i].starts_with("  step: "))
        .collect();
    let early = steps[3];
    ls[early] = if ls[early] == "  step: 1\n" {
        "  step: 2\n"
    } else {
        "  step: 1\n"
    }
    .to_string();
    ls.remove(steps[40]);
    let t = ls.concat();
    let (one, two) = (decide(&t, false), decide(&t, true));
    assert_eq!(two, one);
    let e = one.unwrap_err();
    assert!(e.contains(&format!(":{}", early + 1)), "{e}");
}

/// `text` with its digest recomputed over its own bytes (a forger's edit).
fn forged(text: &str) -> String {
    let Some(at) = text
        .find("digest: \"sha256:")
        .map(|i| i + "digest: \"sha256:".len())
    else {
        return text.to_string();
    };
    let Some(version_at) = text.find("format_version: ") else {
        return text.to_string();
    };
    match read::digest_span(text, version_at) {
        Some(span) if span.0 == at && text.is_char_boundary(span.1) => format!(
            "{}{}{}",
            &text[..span.0],
            digest_of(text.as_bytes(), span),
            &text[span.1..]
        ),
        _ => text.to_string(),
    }
}

/// A plan read whole shares strings as the planner's does: each purge's prerequisite is
/// its delete's address, and its id and name are the delete's (one copy each).
#[test]
fn a_purge_read_shares_its_deletes_strings() {
    use crate::plan::ActionKind as K;
    let plan = contoso();
    let mut shared = 0;
    for p in plan.actions.iter().filter(|a| a.kind == K::PurgeUser) {
        let d = plan
            .actions
            .iter()
            .find(|a| a.kind == K::DeleteUser && a.object_id == p.object_id);
        let Some(d) = d else { continue };
        assert!(std::ptr::eq(p.object_id.as_ptr(), d.object_id.as_ptr()));
        assert!(std::ptr::eq(p.name.as_ptr(), d.name.as_ptr()));
        let dep = p.depends_on.iter().find(|x| **x == *d.address).unwrap();
        assert!(std::ptr::eq(dep.as_ptr(), d.address.as_ptr()));
        shared += 1;
    }
    assert!(shared >= 5, "{shared}");
    // Sharing changes nothing but where the bytes are.
    assert_eq!(
        to_bytes(&plan),
        include_bytes!("../../plans/contoso.plan.yaml").to_vec()
    );
}
