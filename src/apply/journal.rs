//! The write-ahead journal of an apply: one file per plan id, one JSON object per line,
//! made durable (`fsync`) before [`Journal::append`] returns. Apply writes an `intent`
//! before each write to Graph and an `outcome` after it, so after a crash, `kill -9` or
//! Ctrl-C the next apply of the same plan knows what was done and what is uncertain
//! (intent without outcome). A torn last line (a crash mid-write) is tolerated and cut off.
//!
//! Concurrent appends are committed together (one `fsync` for all lines waiting), so the
//! journal costs about one `fsync` per batch of actions in flight, not two per action.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    /// An apply run started (process id, RFC 3339 UTC time).
    Start {
        plan_id: String,
        pid: u32,
        at: String,
    },
    /// About to change the object of `address` (written before the request).
    Intent { address: String, at: String },
    /// What happened: `done`, `already_done`, `verified`, `pending`, `failed`, `skipped`.
    Outcome {
        address: String,
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        at: String,
    },
    /// Every action succeeded (done, already done or verified).
    Finished { at: String },
    /// A long-running commerce operation started for `address` (Microsoft.Billing's 202):
    /// its `Location`, polled by a re-run instead of cancelling again. Written (durably)
    /// before the first poll.
    Operation {
        address: String,
        location: String,
        at: String,
    },
}

/// The longest journal line read, in bytes (a record is a few hundred bytes; an outcome's
/// detail carries one error message).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The largest journal read, in bytes (about three records of 150 bytes per action: a
/// million actions fit many times over).
pub const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// What earlier runs of a plan recorded. A hint for messages and the report only: what
/// apply skips is decided by reading the tenant ([`super::drift::check`]), never by this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalState {
    /// Runs started.
    pub runs: usize,
    /// Last recorded outcome per address.
    pub outcomes: BTreeMap<String, String>,
    /// The detail of the last recorded outcome per address, when it had one (why it
    /// failed or waits).
    pub details: BTreeMap<String, String>,
    /// Addresses with an intent and no outcome after it: the write may or may not have
    /// happened. Checked against the tenant before anything is repeated.
    pub uncertain: BTreeSet<String>,
    /// When each address's last `done` outcome was recorded (RFC 3339): e.g. when
    /// closeout cancelled an Azure subscription, which ARM itself does not say.
    pub done_at: BTreeMap<String, String>,
    /// When the plan finished, if it did.
    pub finished_at: Option<String>,
    /// A torn last line was found (and is ignored).
    pub torn_tail: bool,
    /// The `Location` of the last long-running operation started per address
    /// ([`Record::Operation`]), until a success outcome is recorded after it.
    pub operations: BTreeMap<String, String>,
}

impl JournalState {
    /// Forgets what the journal says about addresses that are not `plan`'s (a journal
    /// edited by hand, or one of another plan copied over): they are never reported.
    pub fn restrict_to(&mut self, plan: &crate::plan::Plan) {
        let known: BTreeSet<&str> = plan.actions.iter().map(|a| a.address.as_str()).collect();
        self.outcomes.retain(|a, _| known.contains(a.as_str()));
        self.details.retain(|a, _| known.contains(a.as_str()));
        self.done_at.retain(|a, _| known.contains(a.as_str()));
        self.uncertain.retain(|a| known.contains(a.as_str()));
        self.operations.retain(|a, _| known.contains(a.as_str()));
    }

    /// `true` when an earlier run changed the object of `address` (outcome `done`).
    pub fn done_earlier(&self, address: &str) -> bool {
        self.outcomes.get(address).is_some_and(|o| o == "done")
    }
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: cannot use the apply journal: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: the apply journal is corrupt ({message}); it is not a torn last line, so closeout will not guess: move the file away to start the plan's bookkeeping afresh (apply still checks every object against the tenant)")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: not an apply journal: {message}; move it away (apply still checks every object against the tenant)")]
    NotAJournal { path: PathBuf, message: String },
}

/// The journal file of a plan: `<state dir>/journals/<tenant id>/<plan id>.jsonl`.
pub fn journal_path(state_dir: &Path, tenant_id: &str, plan_id: &str) -> PathBuf {
    state_dir
        .join("journals")
        .join(sanitize(tenant_id))
        .join(format!("{}.jsonl", sanitize(plan_id)))
}

/// Keeps a file-name component to `[A-Za-z0-9._-]`.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads a journal (a missing file is an empty state). Returns the state and the length of
/// the well-formed prefix in bytes. Bounded: the file must be a regular file (symlinks
/// followed) of at most [`MAX_JOURNAL_BYTES`], each line at most [`MAX_LINE_BYTES`].
///
/// # Errors
/// [`JournalError::NotAJournal`] for a directory, device, FIFO or oversized file;
/// [`JournalError::Corrupt`] naming the line for a record that cannot be read and is not
/// a torn last line; [`JournalError::Io`].
pub fn read(path: &Path) -> Result<(JournalState, u64), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_a_journal = |message: String| JournalError::NotAJournal {
        path: path.to_path_buf(),
        message,
    };
    let mut state = JournalState::default();
    // Metadata first: opening a FIFO would block.
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((state, 0)),
        Err(e) => return Err(io(e)),
    };
    if !meta.is_file() {
        return Err(not_a_journal("it is not a regular file".into()));
    }
    if meta.len() > MAX_JOURNAL_BYTES {
        return Err(not_a_journal(format!(
            "it is {} bytes, more than the {MAX_JOURNAL_BYTES} a journal may have",
            meta.len()
        )));
    }
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::new(std::io::Read::take(file, MAX_JOURNAL_BYTES));
    let mut good: u64 = 0;
    let mut line = Vec::new();
    let mut lineno = 0usize;
    loop {
        line.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let complete = line.last() == Some(&b'\n');
        let too_long = line.len() > MAX_LINE_BYTES;
        let parsed = if too_long {
            Err(format!("a line longer than {MAX_LINE_BYTES} bytes"))
        } else {
            match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => {
                    good += n as u64;
                    continue;
                }
                Ok(text) => serde_json::from_str::<Record>(text.trim_end())
                    .map_err(|e| format!("not a journal record: {e}")),
                Err(e) => Err(format!("not UTF-8 text: {e}")),
            }
        };
        let record = match parsed {
            Ok(r) if complete => r,
            Ok(_) | Err(_) => {
                // Only the last line may be torn; anything after it means real corruption.
                let mut rest = [0u8; 4096];
                let mut only_space = !too_long;
                while only_space {
                    let k = std::io::Read::read(&mut reader, &mut rest).map_err(io)?;
                    if k == 0 {
                        break;
                    }
                    only_space = rest[..k].iter().all(u8::is_ascii_whitespace);
                }
                if only_space {
                    state.torn_tail = true;
                    break;
                }
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: lineno,
                    message: parsed.err().map_or_else(
                        || "a record without its line end".to_string(),
                        |e| super::visible(&e),
                    ),
                });
            }
        };
        good += n as u64;
        match record {
            Record::Start { .. } => state.runs += 1,
            Record::Intent { address, .. } => {
                state.uncertain.insert(address);
            }
            Record::Outcome {
                address,
                outcome,
                detail,
                at,
            } => {
                state.uncertain.remove(&address);
                if outcome == "done" {
                    state.done_at.insert(address.clone(), at);
                }
                if matches!(outcome.as_str(), "done" | "already_done" | "verified") {
                    state.operations.remove(&address);
                }
                match detail {
                    Some(d) => state.details.insert(address.clone(), d),
                    None => state.details.remove(&address),
                };
                state.outcomes.insert(address, outcome);
            }
            Record::Finished { at } => state.finished_at = Some(at),
            Record::Operation {
                address, location, ..
            } => {
                state.operations.insert(address, location);
            }
        }
    }
    Ok((state, good))
}

type Ack = oneshot::Sender<std::io::Result<()>>;

/// An open journal, appended to by a background thread that commits in groups.
pub struct Journal {
    path: PathBuf,
    tx: mpsc::Sender<(Vec<u8>, Ack)>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

fn sync_dir(dir: &Path) {
    // Makes a new file's directory entry durable (Unix); not possible (nor needed) elsewhere.
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

impl Journal {
    /// Opens (creating) the journal at `path`, reading what earlier runs recorded; a torn
    /// last line is cut off so the next record starts on a clean line.
    pub fn open(path: &Path) -> Result<(Journal, JournalState), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let (state, good) = read(path)?;
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        if file.metadata().map_err(io)?.len() > good {
            file.set_len(good).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        if !existed {
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
        }
        let (tx, rx) = mpsc::channel::<(Vec<u8>, Ack)>();
        std::thread::Builder::new()
            .name("closeout-journal".into())
            .spawn(move || committer(file, rx))
            .map_err(io)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                tx,
            },
            state,
        ))
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record`; returns once it is on disk (fsync).
    ///
    /// # Errors
    /// [`JournalError::Io`] when the line could not be written or synced.
    pub async fn append(&self, record: &Record) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let (ack, done) = oneshot::channel();
        self.tx
            .send((line, ack))
            .map_err(|_| io(std::io::Error::other("the journal writer stopped")))?;
        done.await
            .map_err(|_| io(std::io::Error::other("the journal writer stopped")))?
            .map_err(io)
    }
}

/// Writes every line waiting, syncs once, acknowledges them all; repeats.
fn committer(mut file: File, rx: mpsc::Receiver<(Vec<u8>, Ack)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut buf = Vec::new();
        for (line, _) in &batch {
            buf.extend_from_slice(line);
        }
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        for (_, ack) in batch {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            let _ = ack.send(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(a: &str) -> Record {
        Record::Intent {
            address: a.into(),
            at: "t".into(),
        }
    }

    fn outcome(a: &str, o: &str) -> Record {
        Record::Outcome {
            address: a.into(),
            outcome: o.into(),
            detail: None,
            at: "t".into(),
        }
    }

    #[tokio::test]
    async fn intent_without_outcome_is_uncertain_and_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/p.jsonl");
        {
            let (j, state) = Journal::open(&path).unwrap();
            assert_eq!(state, JournalState::default());
            j.append(&intent("a")).await.unwrap();
            j.append(&outcome("a", "done")).await.unwrap();
            j.append(&intent("b")).await.unwrap();
        }
        // A crash in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"event":"outcome","addr"#).unwrap();
        drop(f);
        let (j, state) = Journal::open(&path).unwrap();
        assert!(state.torn_tail);
        assert!(state.done_earlier("a"));
        assert_eq!(state.uncertain, BTreeSet::from(["b".to_string()]));
        j.append(&outcome("b", "already_done")).await.unwrap();
        drop(j);
        let (state, _) = read(&path).unwrap();
        assert!(!state.torn_tail);
        assert!(state.uncertain.is_empty());
    }

    #[test]
    fn corruption_before_the_last_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, "garbage\n{\"event\":\"finished\",\"at\":\"t\"}\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.to_string().contains(":1:"), "{err}");
    }
}
