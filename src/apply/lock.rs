//! One apply per tenant at a time: an OS advisory lock (`flock` on Unix, `LockFileEx` on
//! Windows, through std's [`std::fs::File::try_lock`]) on `<state dir>/locks/<tenant id>.lock`.
//! The kernel releases it when the holding process ends however it ends (`kill -9`, an OOM
//! kill, a reboot), so resuming never needs a flag. The file's content names the holder
//! (process id, host, start time, plan id) for messages only; it never decides who holds
//! the lock, with one exception: a record left by a holder on *another host* sharing the
//! state directory (whose lock this host's kernel may not see) is broken only with
//! `--break-lock`. Owns the lock file; must not touch the journal.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::journal::sanitize;

/// Bytes of a lock file read at most (a holder record is about 200 bytes).
pub const MAX_LOCK_FILE_BYTES: u64 = 16 * 1024;

/// How often a waiting apply (`--lock-timeout`) tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// Who holds (or last held) a lock, as its file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    /// RFC 3339 UTC time the holder started applying.
    pub started_at: String,
    pub host: String,
    pub plan_id: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} on {}, started {} (plan {})",
            self.pid,
            super::visible(&self.host),
            super::visible(&self.started_at),
            super::visible(&self.plan_id)
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another apply holds the lock on this tenant: {}; lock file {path}. Wait for it to finish, or pass --lock-timeout DURATION to wait for it.", describe(.holder))]
    Held {
        path: PathBuf,
        holder: Option<LockHolder>,
    },
    #[error("another apply still holds the lock on this tenant after waiting {}: {}; lock file {path}", humantime::format_duration(*.waited), describe(.holder))]
    Timeout {
        path: PathBuf,
        holder: Option<LockHolder>,
        waited: Duration,
    },
    #[error("the apply lock on this tenant was taken by {holder} on another host sharing this state directory; this host cannot tell whether it still runs. Check on {} that no apply runs there, then apply again with --break-lock. Lock file {path}", super::visible(&.holder.host))]
    OtherHost { path: PathBuf, holder: LockHolder },
    #[error("{path}: cannot take the apply lock: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn describe(holder: &Option<LockHolder>) -> String {
    match holder {
        Some(h) => h.to_string(),
        None => "a process whose details are not written yet".to_string(),
    }
}

/// What an earlier holder left in the lock file, found when the lock was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// Nothing: the last holder ended cleanly (or the file is new).
    None,
    /// A holder on this host that ended without releasing the file's record (killed,
    /// crashed, rebooted): the kernel had released its lock.
    Ended(LockHolder),
    /// A record from another host, removed because of `--break-lock`.
    Broken(LockHolder),
    /// Content that is not a holder record (torn, garbled, oversized); ignored.
    Unreadable(String),
}

/// A held lock. The OS releases it when the process ends; dropping it clears the record
/// first.
#[derive(Debug)]
pub struct ApplyLock {
    path: PathBuf,
    file: File,
    /// What the previous holder left, to report.
    pub previous: Previous,
}

impl ApplyLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        // The file stays (removing it would let a waiter lock a deleted inode while a
        // third process creates a new file); an empty file means "free".
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The lock file of a tenant.
pub fn lock_path(state_dir: &Path, tenant_id: &str) -> PathBuf {
    state_dir
        .join("locks")
        .join(format!("{}.lock", sanitize(tenant_id)))
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Reads the holder record of an open lock file, at most [`MAX_LOCK_FILE_BYTES`].
/// `Ok(None)` for an empty file; `Err` says why the content is not a record.
fn read_record(file: &mut File) -> Result<Option<LockHolder>, String> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    file.take(MAX_LOCK_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_LOCK_FILE_BYTES {
        return Err(format!("larger than {MAX_LOCK_FILE_BYTES} bytes"));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<LockHolder>(&bytes)
        .map(Some)
        .map_err(|e| format!("not a lock record: {e}"))
}

/// The holder named in the lock file at `path`, if it names one (for messages).
pub fn holder_of(path: &Path) -> Option<LockHolder> {
    let mut f = File::open(path).ok()?;
    read_record(&mut f).ok().flatten()
}

/// Tries once to take the lock of `tenant_id` for `plan_id`. A live holder is never
/// broken; a record from another host is removed only with `break_other_host`.
///
/// # Errors
/// [`LockError::Held`] while another process holds it, [`LockError::OtherHost`] for
/// another host's record without `break_other_host`, [`LockError::Io`].
pub fn try_acquire(
    state_dir: &Path,
    tenant_id: &str,
    plan_id: &str,
    started_at: &str,
    break_other_host: bool,
) -> Result<ApplyLock, LockError> {
    let path = lock_path(state_dir, tenant_id);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    // The record is written into the file: never through a symlink planted in its place.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = options.open(&path).map_err(|e| {
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            io(std::io::Error::other(
                "the lock file is a symbolic link; closeout writes only to a regular file there (remove the link)",
            ))
        } else {
            io(e)
        }
    })?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(io(std::io::Error::other(
            "the lock file is not a regular file",
        )));
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(LockError::Held {
                holder: read_record(&mut file).ok().flatten(),
                path,
            })
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let me = LockHolder {
        pid: std::process::id(),
        started_at: started_at.to_string(),
        host: host_name(),
        plan_id: plan_id.to_string(),
    };
    let previous = match read_record(&mut file) {
        Ok(None) => Previous::None,
        Ok(Some(h)) if h.host == me.host => Previous::Ended(h),
        Ok(Some(h)) if break_other_host => Previous::Broken(h),
        Ok(Some(holder)) => {
            let _ = file.unlock();
            return Err(LockError::OtherHost { path, holder });
        }
        Err(why) => Previous::Unreadable(why),
    };
    let body = serde_json::to_vec_pretty(&me).map_err(|e| io(std::io::Error::other(e)))?;
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .and_then(|()| file.write_all(&body))
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok(ApplyLock {
        path,
        file,
        previous,
    })
}

/// Takes the lock like [`try_acquire`], waiting up to `timeout` for a live holder to
/// finish; `waiting` is called once, with the holder, when the wait begins (the CLI prints
/// a waiting line).
///
/// # Errors
/// As [`try_acquire`]; [`LockError::Timeout`] when the holder still holds it after
/// `timeout`.
pub async fn acquire(
    state_dir: &Path,
    tenant_id: &str,
    plan_id: &str,
    started_at: &str,
    break_other_host: bool,
    timeout: Duration,
    waiting: &(dyn Fn(Option<&LockHolder>) + Send + Sync),
) -> Result<ApplyLock, LockError> {
    let start = tokio::time::Instant::now();
    let mut announced = false;
    loop {
        match try_acquire(state_dir, tenant_id, plan_id, started_at, break_other_host) {
            Err(LockError::Held { path, holder }) => {
                if start.elapsed() >= timeout {
                    return Err(if timeout.is_zero() {
                        LockError::Held { path, holder }
                    } else {
                        LockError::Timeout {
                            path,
                            holder,
                            waited: timeout,
                        }
                    });
                }
                if !announced {
                    waiting(holder.as_ref());
                    announced = true;
                }
                tokio::time::sleep(RETRY_EVERY.min(timeout.saturating_sub(start.elapsed()))).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(dir: &Path) -> Result<ApplyLock, LockError> {
        try_acquire(dir, "t1", "p", "now", false)
    }

    #[test]
    fn a_held_lock_refuses_a_second_holder_and_is_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = take(dir.path()).unwrap();
        assert_eq!(lock.previous, Previous::None);
        // Another open file description on the same file: what another process gets.
        let err = take(dir.path()).unwrap_err();
        match &err {
            LockError::Held { holder, .. } => {
                assert_eq!(holder.as_ref().map(|h| h.pid), Some(std::process::id()))
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("--lock-timeout"), "{err}");
        drop(lock);
        let again = take(dir.path()).unwrap();
        assert_eq!(again.previous, Previous::None);
    }

    #[test]
    fn a_record_left_by_an_ended_holder_on_this_host_needs_no_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "t1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let dead = LockHolder {
            pid: 4_000_000,
            started_at: "then".into(),
            host: host_name(),
            plan_id: "old".into(),
        };
        std::fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = take(dir.path()).unwrap();
        assert_eq!(lock.previous, Previous::Ended(dead));
    }

    #[test]
    fn another_hosts_record_needs_break_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "t1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let other = LockHolder {
            pid: 7,
            started_at: "then".into(),
            host: "build-agent-2".into(),
            plan_id: "old".into(),
        };
        std::fs::write(&path, serde_json::to_vec(&other).unwrap()).unwrap();
        let err = take(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::OtherHost { .. }), "{err}");
        assert!(err.to_string().contains("--break-lock"), "{err}");
        let lock = try_acquire(dir.path(), "t1", "p", "now", true).unwrap();
        assert_eq!(lock.previous, Previous::Broken(other));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_place_of_the_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "t1");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = take(dir.path()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[tokio::test]
    async fn lock_timeout_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = take(dir.path()).unwrap();
        let waited = std::sync::atomic::AtomicUsize::new(0);
        let note = |_: Option<&LockHolder>| {
            waited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        };
        let err = acquire(
            dir.path(),
            "t1",
            "p",
            "now",
            false,
            Duration::from_millis(300),
            &note,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err}");
        assert_eq!(waited.load(std::sync::atomic::Ordering::SeqCst), 1);
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(lock);
        });
        acquire(
            dir.path(),
            "t1",
            "p",
            "now",
            false,
            Duration::from_secs(20),
            &note,
        )
        .await
        .unwrap();
        release.join().unwrap();
    }
}
