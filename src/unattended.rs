//! Safe unattended operation: one run at a time per state folder (an OS file lock, released
//! by the kernel when its holder dies, so a killed run never blocks the next), run scratch
//! folders that the next run clears when their owner died, and SIGINT/SIGTERM turned into a
//! clean stop.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file in `state_dir`.
pub const LOCK_FILE: &str = "restore-drill.lock";
/// The lock file inside each run's scratch folder, held while the run lives.
const RUN_LOCK: &str = ".restore-drill-run.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another restore-drill run is in progress ({holder}); it holds {path}")]
    Busy { path: PathBuf, holder: String },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the whole run; the lock goes when this is dropped or the process dies.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the state folder's run lock, or says who holds it.
pub fn acquire(state_dir: &Path, what: &str) -> Result<RunLock, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(LockError::Busy {
                path: path.clone(),
                holder: if holder.is_empty() {
                    "holder unknown".into()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the message a second run prints; the lock itself is the kernel's.
    file.set_len(0).map_err(io)?;
    let _ = writeln!(
        file,
        "pid {}, {what}, since {}",
        std::process::id(),
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC")
    );
    Ok(RunLock { _file: file })
}

/// Marks `run_dir` as owned by this live process.
pub fn claim_run_dir(run_dir: &Path) -> std::io::Result<File> {
    let file = File::create(run_dir.join(RUN_LOCK))?;
    file.lock()?;
    Ok(file)
}

/// Removes run folders in `scratch_dir` left by runs that died (SIGKILL, power loss): those
/// whose run lock nobody holds. Returns the folders removed.
pub fn clean_stale_scratch(scratch_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(scratch_dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir())
            || !looks_like_run_id(&entry.file_name().to_string_lossy())
        {
            continue;
        }
        let alive = match File::open(dir.join(RUN_LOCK)) {
            Ok(file) => matches!(file.try_lock(), Err(TryLockError::WouldBlock)),
            Err(_) => false,
        };
        if !alive && std::fs::remove_dir_all(&dir).is_ok() {
            tracing::warn!(path = %dir.display(), "removed the scratch folder of a run that did not finish");
            removed.push(dir);
        }
    }
    removed
}

/// `20261126T020000Z-ab12`: the only folders in scratch this tool ever removes.
fn looks_like_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 21
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && &b[15..17] == b"Z-"
        && b[17..].iter().all(|c| c.is_ascii_hexdigit())
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

/// SIGINT and SIGTERM, installed before the work starts.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    /// Caught so that a file size limit (`ulimit -f`) makes a write fail with EFBIG, a
    /// finding, instead of killing the run; nothing waits on it.
    _file_size: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must be called inside the runtime.
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            _file_size: signal(SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw()))?,
        })
    }

    pub async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_folders_are_candidates() {
        assert!(looks_like_run_id("20261126T020000Z-ab12"));
        assert!(!looks_like_run_id("home"));
        assert!(!looks_like_run_id("20261126T020000Z-ab12-x"));
    }

    #[test]
    fn a_second_lock_is_refused_while_the_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "test").unwrap();
        let err = acquire(dir.path(), "test").unwrap_err();
        assert!(
            matches!(err, LockError::Busy { ref holder, .. } if holder.contains(&format!("pid {}", std::process::id()))),
            "{err}"
        );
        drop(first);
        assert!(acquire(dir.path(), "test").is_ok());
    }

    #[test]
    fn stale_run_folders_are_removed_and_live_ones_kept() {
        let scratch = tempfile::tempdir().unwrap();
        let dead = scratch.path().join("20261126T020000Z-0001");
        let live = scratch.path().join("20261126T020000Z-0002");
        let other = scratch.path().join("keep-me");
        for d in [&dead, &live, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        drop(claim_run_dir(&dead).unwrap());
        let _held = claim_run_dir(&live).unwrap();
        let removed = clean_stale_scratch(scratch.path());
        assert_eq!(removed, std::slice::from_ref(&dead));
        assert!(live.exists() && other.exists() && !dead.exists());
    }
}
