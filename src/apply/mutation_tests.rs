//! Seeded mutation suite for apply's state files (issue 10): a truncated, garbled, huge,
//! binary or forged journal or lock file never panics, is refused or used with a message
//! naming the file (and the line, for the journal), and never makes apply skip work: the
//! journal only feeds messages; what is skipped comes from reading the tenant.
//!
//! Long run: `CLOSEOUT_STATE_MUTATIONS=20000 cargo test --release --lib mutation_tests`.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::journal::{self, JournalError, Record};
use super::lock::{self, LockError, Previous};

fn iterations() -> usize {
    std::env::var("CLOSEOUT_STATE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Characters that break lines or terminals, and bytes that are not UTF-8.
const NASTY: &[&[u8]] = &[
    b"\r", b"\n", b"\x00", b"\x1b[31m", b"\x1b]0;owned\x07", "\u{202e}".as_bytes(),
    "\u{2028}".as_bytes(), "\u{85}".as_bytes(), b"\xff\xfe", b"\xc3", b"{", b"}", b"\"",
    b"\\", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

fn mutate(rng: &mut StdRng, original: &[u8]) -> Vec<u8> {
    let mut b = original.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=b.len());
        match rng.random_range(0..8) {
            0 => b.truncate(at),
            1 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            2 => {
                let n = NASTY[rng.random_range(0..NASTY.len())];
                b.splice(at..at, n.iter().copied());
            }
            3 => {
                let junk: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
                b.splice(at..at, junk);
            }
            // A line far over the bound.
            4 => b
                .splice(
                    at..at,
                    std::iter::repeat_n(b'x', journal::MAX_LINE_BYTES + 10),
                )
                .for_each(drop),
            // A forged record: another plan's address, a made-up outcome, control characters.
            5 => {
                let forged = format!(
                    "{{\"event\":\"outcome\",\"address\":\"delete_user.forged\\u001b[2J\",\"outcome\":\"done{}\",\"at\":\"\\u202e\"}}\n",
                    rng.random::<u16>()
                );
                b.splice(at..at, forged.into_bytes());
            }
            6 => b
                .splice(
                    at..at,
                    b"{\"event\":\"finished\",\"at\":\"1970\"}\n"
                        .iter()
                        .copied(),
                )
                .for_each(drop),
            _ => {
                // Duplicate a slice.
                let from = rng.random_range(0..=b.len());
                let to = (from + rng.random_range(0..200)).min(b.len());
                let dup = b[from..to].to_vec();
                b.splice(at.min(b.len())..at.min(b.len()), dup);
            }
        }
    }
    b
}

fn sample_journal() -> Vec<u8> {
    let mut out = Vec::new();
    let recs = [
        Record::Start {
            plan_id: "p".into(),
            pid: 1,
            at: "2026-01-01T00:00:00Z".into(),
        },
        Record::Intent {
            address: "delete_user.a".into(),
            at: "t".into(),
        },
        Record::Outcome {
            address: "delete_user.a".into(),
            outcome: "done".into(),
            detail: None,
            at: "t".into(),
        },
        Record::Intent {
            address: "delete_user.b".into(),
            at: "t".into(),
        },
        Record::Outcome {
            address: "delete_user.b".into(),
            outcome: "failed".into(),
            detail: Some("Graph answered 403".into()),
            at: "t".into(),
        },
    ];
    for r in recs {
        out.extend(serde_json::to_vec(&r).unwrap());
        out.push(b'\n');
    }
    out
}

fn assert_safe_message(msg: &str, file: &Path) {
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(
        msg.len() < 2_000,
        "an unbounded message: {} bytes",
        msg.len()
    );
    assert!(
        !msg.chars()
            .any(|c| c == '\u{1b}' || c == '\u{202e}' || c == '\0'),
        "raw control characters in: {msg:?}"
    );
}

#[tokio::test]
async fn mutated_journals_never_panic_and_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    let original = sample_journal();
    let mut rng = StdRng::seed_from_u64(10);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..iterations() {
        let bytes = mutate(&mut rng, &original);
        std::fs::write(&path, &bytes).unwrap();
        let started = Instant::now();
        match journal::Journal::open(&path) {
            Ok((j, state)) => {
                ok += 1;
                // Still usable: the next record lands on its own line and reads back.
                j.append(&Record::Finished { at: "now".into() })
                    .await
                    .unwrap();
                drop(j);
                let (again, _) = journal::read(&path).unwrap();
                assert_eq!(again.finished_at.as_deref(), Some("now"));
                assert!(state.runs <= 3);
            }
            Err(e @ JournalError::Corrupt { line, .. }) => {
                refused += 1;
                assert!(line >= 1);
                let msg = e.to_string();
                assert!(msg.contains(&format!(":{line}:")), "{msg}");
                assert_safe_message(&msg, &path);
            }
            Err(e) => {
                refused += 1;
                assert_safe_message(&e.to_string(), &path);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
}

#[test]
fn journals_that_are_not_files_or_too_big_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("dir.jsonl");
    std::fs::create_dir(&d).unwrap();
    assert!(matches!(
        journal::read(&d),
        Err(JournalError::NotAJournal { .. })
    ));
    #[cfg(unix)]
    {
        let link = dir.path().join("zero.jsonl");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let started = Instant::now();
        let err = journal::read(&link).unwrap_err();
        assert!(matches!(err, JournalError::NotAJournal { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // One endless line: refused after the line bound, not read whole.
    let long = dir.path().join("long.jsonl");
    let mut bytes = sample_journal();
    bytes.extend(std::iter::repeat_n(b'a', 8 * journal::MAX_LINE_BYTES));
    bytes.extend(b"\n{\"event\":\"finished\",\"at\":\"t\"}\n");
    std::fs::write(&long, bytes).unwrap();
    let err = journal::read(&long).unwrap_err();
    assert!(err.to_string().contains(":6:"), "{err}");
}

#[test]
fn mutated_lock_files_never_panic_and_never_pass_for_a_live_holder() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let path = lock::lock_path(state, "t1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original = {
        let l = lock::try_acquire(state, "t1", "plan", "2026-01-01T00:00:00Z", false).unwrap();
        let b = std::fs::read(l.path()).unwrap();
        std::mem::forget(l); // keep the record, as a killed holder does; the OS lock goes
        b
    };
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..iterations() / 3 {
        let bytes = mutate(&mut rng, &original);
        std::fs::write(&path, &bytes).unwrap();
        // A fresh process's view: no one holds the OS lock (the forgotten one is this
        // process's own open file description, so use another state directory copy).
        let other = tempfile::tempdir().unwrap();
        let p2 = lock::lock_path(other.path(), "t1");
        std::fs::create_dir_all(p2.parent().unwrap()).unwrap();
        std::fs::write(&p2, &bytes).unwrap();
        match lock::try_acquire(other.path(), "t1", "plan", "now", false) {
            Ok(l) => {
                assert!(matches!(
                    l.previous,
                    Previous::None | Previous::Ended(_) | Previous::Unreadable(_)
                ));
                if let Previous::Unreadable(why) = &l.previous {
                    assert!(why.len() < 2_000);
                }
            }
            Err(e @ LockError::OtherHost { .. }) => assert_safe_message(&e.to_string(), &p2),
            Err(e) => panic!("a lock nobody holds was refused: {e}"),
        }
    }
}
