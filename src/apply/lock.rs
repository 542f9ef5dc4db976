//! One apply per tenant at a time: a lock file in the state directory
//! (`<state dir>/locks/<tenant id>.lock`) naming its holder (process id, start time, host,
//! plan id). Created with `O_EXCL`, removed when the [`ApplyLock`] is dropped. A lock left
//! by a process that no longer runs (crash, `kill -9`) is reported as stale and removed only
//! when asked (`--break-lock`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::journal::sanitize;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    /// RFC 3339 UTC time the holder started applying.
    pub started_at: String,
    pub host: String,
    pub plan_id: String,
    /// Linux: the process's start time in clock ticks since boot (`/proc/PID/stat` field
    /// 22), which tells a live holder from a process that reused its id.
    #[serde(default)]
    pub start_ticks: Option<u64>,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another apply holds the lock on this tenant: process {} on {}, started {} (plan {}); lock file {path}. Wait for it to finish.", holder.pid, holder.host, holder.started_at, holder.plan_id)]
    Held { path: PathBuf, holder: LockHolder },
    #[error("a stale lock is left on this tenant by process {} on {}, started {} (plan {}), which is no longer running (crashed or killed); lock file {path}. Check that no other apply runs, then apply again with --break-lock.", holder.pid, holder.host, holder.started_at, holder.plan_id)]
    Stale { path: PathBuf, holder: LockHolder },
    #[error("{path}: lock file is unreadable ({message}); remove it if no apply runs, or pass --break-lock")]
    Unreadable { path: PathBuf, message: String },
    #[error("{path}: cannot take the apply lock: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A held lock; dropping it removes the lock file.
#[derive(Debug)]
pub struct ApplyLock {
    path: PathBuf,
    /// The stale holder this lock replaced (`--break-lock`), to report.
    pub broken: Option<LockHolder>,
}

impl ApplyLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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
        .unwrap_or_else(|| "localhost".to_string())
}

/// Linux: fields 3 onwards of `/proc/PID/stat` (the command name, field 2, is in
/// parentheses and may contain spaces).
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Linux: start time of a process in clock ticks since boot (field 22).
fn start_ticks(pid: u32) -> Option<u64> {
    proc_stat(pid)?.get(19)?.parse().ok()
}

/// Linux: a process that has exited but not been reaped yet (state `Z` or `X`).
fn is_zombie(pid: u32) -> bool {
    proc_stat(pid)
        .and_then(|f| f.first().cloned())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// `true` when `holder` still runs (on this host; a holder on another host is assumed alive).
fn alive(holder: &LockHolder) -> bool {
    if holder.host != host_name() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(holder.pid) else {
            return false;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !exists || is_zombie(holder.pid) {
            return false;
        }
        match (holder.start_ticks, start_ticks(holder.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }
    #[cfg(not(unix))]
    true
}

/// Takes the lock of `tenant_id` for `plan_id`. With `break_stale`, a lock whose holder no
/// longer runs (or an unreadable lock file) is removed first; a live holder is never broken.
///
/// # Errors
/// [`LockError::Held`] for a live holder, [`LockError::Stale`] for a dead one without
/// `break_stale`.
pub fn acquire(
    state_dir: &Path,
    tenant_id: &str,
    plan_id: &str,
    started_at: &str,
    break_stale: bool,
) -> Result<ApplyLock, LockError> {
    let path = lock_path(state_dir, tenant_id);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let me = LockHolder {
        pid: std::process::id(),
        started_at: started_at.to_string(),
        host: host_name(),
        plan_id: plan_id.to_string(),
        start_ticks: start_ticks(std::process::id()),
    };
    let mut broken = None;
    for _ in 0..3 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                let body =
                    serde_json::to_vec_pretty(&me).map_err(|e| io(std::io::Error::other(e)))?;
                f.write_all(&body).and_then(|()| f.sync_all()).map_err(io)?;
                return Ok(ApplyLock { path, broken });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                match serde_json::from_str::<LockHolder>(&text) {
                    Ok(holder) if alive(&holder) => return Err(LockError::Held { path, holder }),
                    Ok(holder) if !break_stale => return Err(LockError::Stale { path, holder }),
                    Ok(holder) => broken = Some(holder),
                    Err(e) if !break_stale => {
                        return Err(LockError::Unreadable {
                            path,
                            message: e.to_string(),
                        })
                    }
                    Err(_) => {}
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(io(std::io::Error::other(
        "the lock file keeps reappearing: another apply is starting",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_stale_lock_needs_break() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path(), "t1", "p", "now", false).unwrap();
        let err = acquire(dir.path(), "t1", "p", "now", true).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        let path = lock.path().to_path_buf();
        std::mem::forget(lock);
        // Pretend the holder died: a process id that cannot exist.
        let mut holder: LockHolder =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        holder.pid = i32::MAX as u32 - 1;
        std::fs::write(&path, serde_json::to_vec(&holder).unwrap()).unwrap();
        let err = acquire(dir.path(), "t1", "p", "now", false).unwrap_err();
        assert!(matches!(err, LockError::Stale { .. }), "{err}");
        assert!(err.to_string().contains("--break-lock"));
        let lock = acquire(dir.path(), "t1", "p", "now", true).unwrap();
        assert_eq!(
            lock.broken.as_ref().map(|h| h.pid),
            Some(i32::MAX as u32 - 1)
        );
        drop(lock);
        assert!(!path.exists());
    }
}
