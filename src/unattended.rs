//! Safe unattended operation: one run at a time per state folder (an OS file lock, released
//! by the kernel when its holder dies, so a killed run never blocks the next), run scratch
//! folders that the next run clears when their owner died (and records in the history as
//! interrupted), and SIGINT/SIGTERM turned into a clean stop. Scratch is the runner's alone
//! (checked on the opened folder), and run folders are created, marked and removed through
//! directory handles (`folder::Folder`), never through a symbolic link.

use std::ffi::{OsStr, OsString};
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::folder::Folder;

/// The lock file in `state_dir`.
pub const LOCK_FILE: &str = "restore-drill.lock";
/// The lock file inside each run's scratch folder, held while the run lives.
const RUN_LOCK: &str = ".restore-drill-run.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another restore-drill run is in progress ({holder}); it holds {path}")]
    Busy { path: PathBuf, holder: String },
    /// The state folder cannot be written: says which, as whom, and how to fix it. The OS
    /// error is in the message, so it is no `source` (it would be printed twice).
    #[error("cannot write the state folder `{}`: {}{error}; {}", .dir.display(), file_of(.dir, .path), crate::fsx::state_folder_advice(.dir))]
    Io {
        dir: PathBuf,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A scratch folder another local user could plant or redirect files in: refused before
/// anything is written there. Says which folder, whose it is, its mode and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error(
        "refusing the scratch folder `{}`: {problem} (owner {owner}, mode {mode:04o}); another local user could plant or redirect files in it. {}",
        .dir.display(), scratch_advice(.dir)
    )]
    Unsafe {
        dir: PathBuf,
        problem: &'static str,
        owner: String,
        mode: u32,
    },
    #[error("cannot create the scratch folder `{}`: {error} (set scratch_dir in restore-drill.yaml)", .dir.display())]
    Create { dir: PathBuf, error: std::io::Error },
}

fn scratch_advice(dir: &Path) -> String {
    let me = crate::fsx::user_label(rustix::process::geteuid().as_raw());
    format!(
        "Remove it (the runner then creates its own, mode 0700), give it to {me} with mode 0700 (`chown <user> {0}; chmod 700 {0}`), or set scratch_dir in restore-drill.yaml to a folder of its own",
        dir.display()
    )
}

/// Makes sure `dir` is a scratch folder only this process's user can write, and opens it:
/// created with mode 0700 when absent; refused when it is a symbolic link, not a folder,
/// owned by another user, or writable by its group or others. The checks are made on the
/// opened handle, and everything below scratch is then created through it. With `create`
/// false (for `check`) an absent folder is fine as it is (`None`).
pub fn private_scratch(dir: &Path, create: bool) -> Result<Option<Folder>, ScratchError> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let absent = matches!(std::fs::symlink_metadata(dir), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if absent {
        if !create {
            return Ok(None);
        }
        let made = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)));
        made.map_err(|error| ScratchError::Create {
            dir: dir.to_path_buf(),
            error,
        })?;
    }
    let unsafe_because = |problem, uid, mode| ScratchError::Unsafe {
        dir: dir.to_path_buf(),
        problem,
        owner: crate::fsx::user_label(uid),
        mode: mode & 0o7777,
    };
    let folder = match Folder::open(dir) {
        Ok(folder) => folder,
        Err(error) => {
            use std::os::unix::fs::MetadataExt as _;
            // Opened without following a link: say which was in the way.
            return Err(match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    unsafe_because("it is a symbolic link", meta.uid(), meta.mode())
                }
                Ok(meta) if !meta.is_dir() => {
                    unsafe_because("it is not a folder", meta.uid(), meta.mode())
                }
                _ => ScratchError::Create {
                    dir: dir.to_path_buf(),
                    error,
                },
            });
        }
    };
    let stat = folder.stat().map_err(|error| ScratchError::Create {
        dir: dir.to_path_buf(),
        error,
    })?;
    if stat.st_uid != rustix::process::geteuid().as_raw() {
        return Err(unsafe_because(
            "it is owned by another user",
            stat.st_uid,
            stat.st_mode,
        ));
    }
    if stat.st_mode & 0o022 != 0 {
        return Err(unsafe_because(
            "it is writable by its group or others",
            stat.st_uid,
            stat.st_mode,
        ));
    }
    Ok(Some(folder))
}

/// A run's folder in scratch as it was created, held open: everything in it is created
/// through the handle. Its device and inode tell whether its name in scratch still names
/// it, so a folder swapped for a symbolic link (or another folder) during the run is noticed
/// before anything is removed, and nothing is removed through it.
#[derive(Debug, Clone)]
pub struct RunFolder {
    pub path: PathBuf,
    /// The run's folder itself.
    pub folder: Folder,
    scratch: Folder,
    name: OsString,
    dev: u64,
    ino: u64,
}

impl RunFolder {
    /// Creates the folder `name` in `scratch` (it must not exist yet) and opens it.
    pub fn create(scratch: &Folder, name: &str) -> std::io::Result<RunFolder> {
        let folder = scratch.create_dir(OsStr::new(name))?;
        let stat = folder.stat()?;
        Ok(RunFolder {
            path: folder.path().to_path_buf(),
            folder,
            scratch: scratch.clone(),
            name: name.into(),
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }

    /// Whether its name in scratch still names the folder created (no link followed); warns
    /// naming it when not.
    pub fn intact(&self) -> bool {
        let same = self.scratch.stat_at(&self.name).is_ok_and(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
                && st.st_dev == self.dev
                && st.st_ino == self.ino
        });
        if !same {
            tracing::warn!(path = %self.path.display(), "the run's scratch folder was replaced during the run (a symbolic link or another folder): nothing is removed through its name; what the run restored is removed through its own handle");
        }
        same
    }

    /// Removes the folder and everything in it, walking by handle (links inside are
    /// unlinked, never followed). A folder whose name was swapped is only emptied through
    /// the run's own handle, so the restored data goes and what now bears the name stays.
    pub fn remove(&self) -> std::io::Result<()> {
        if self.intact() {
            self.scratch.remove_dir_all(&self.name)
        } else {
            self.folder.empty()
        }
    }

    /// Removes the folder on a thread of its own, so the run's evidence is kept meanwhile
    /// (removing 10,000 restored files takes a core for a third of a second); a failure is
    /// logged. Removed here and now when no thread can be started.
    pub fn remove_in_background(self) -> Removal {
        let folder = self.clone();
        let spawned = std::thread::Builder::new()
            .name("scratch-removal".into())
            .spawn(move || folder.remove_logged());
        match spawned {
            Ok(handle) => Removal(Some(handle)),
            Err(_) => {
                self.remove_logged();
                Removal(None)
            }
        }
    }

    fn remove_logged(&self) {
        if let Err(e) = self.remove() {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the run's scratch folder");
        }
    }
}

/// A run folder being removed (`RunFolder::remove_in_background`): waited for when dropped,
/// so the process never ends with the removal half done.
#[must_use = "dropping it waits for the removal"]
#[derive(Debug)]
pub struct Removal(Option<std::thread::JoinHandle<()>>);

impl Removal {
    /// Waits until the folder is removed (or its removal failed and was logged).
    pub fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        self.join();
    }
}

/// `` `name`: `` of the file in `dir` an error is about; nothing when it is about `dir`.
fn file_of(dir: &Path, path: &Path) -> String {
    match path.strip_prefix(dir) {
        Ok(name) if !name.as_os_str().is_empty() => format!("`{}`: ", name.display()),
        _ => String::new(),
    }
}

/// Held for the whole run; the lock goes when this is dropped or the process dies.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the state folder's run lock, or says who holds it.
pub fn acquire(state_dir: &Path, what: &str) -> Result<RunLock, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let io = |error| LockError::Io {
        dir: state_dir.to_path_buf(),
        path: path.clone(),
        error,
    };
    std::fs::create_dir_all(state_dir).map_err(|error| LockError::Io {
        dir: state_dir.to_path_buf(),
        path: state_dir.to_path_buf(),
        error,
    })?;
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

/// What a run writes into its scratch folder's lock file: enough for the next run to record
/// it as interrupted if its process dies (SIGKILL, power loss, the OOM killer) before it can
/// record anything itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunMarker {
    /// The state folder whose history the run belongs to (canonical): several
    /// configurations may share one scratch folder.
    pub state_dir: PathBuf,
    pub run_id: String,
    pub started_at: jiff::Timestamp,
    pub seed: u64,
    pub kind: crate::results::RunKind,
    pub tool_version: String,
}

/// A run folder whose owner died, as removed by [`clean_stale_scratch`].
#[derive(Debug, Clone, PartialEq)]
pub struct StaleRun {
    pub dir: PathBuf,
    /// The run it belonged to; `None` for a folder of an earlier release, or of a run that
    /// finished and left it behind on purpose (`--keep`).
    pub marker: Option<RunMarker>,
    /// The newest modification inside the folder: the run's last sign of life.
    pub last_seen: Option<jiff::Timestamp>,
    /// The folder was this user's own, mode 0700 (as runs make them): only then can its
    /// marker be a run's.
    pub private: bool,
}

/// Marks the run's folder as owned by this live process, with what the next run needs to
/// record it if it dies. The marker is created new in the folder's handle, never through a
/// link.
pub fn claim_run_dir(run: &Folder, marker: &RunMarker) -> std::io::Result<File> {
    let mut file = run.create_new(OsStr::new(RUN_LOCK))?;
    file.lock()?;
    serde_json::to_writer(&mut file, marker)?;
    file.flush()?;
    Ok(file)
}

/// The run ended as it should (results recorded, or the folder kept on purpose): whatever is
/// left of its folder is not a run that died. Empties the marker through the claim's own
/// handle.
pub fn release_run_dir(claim: &File) {
    let _ = claim.set_len(0);
}

/// Removes the run folder `run_id` of `scratch_dir` after the run stopped early (its handle
/// gone with the run): the marker emptied and the folder removed by handle, neither through
/// a link; a link at its name is left alone and is an error naming it. Nothing there: `Ok`.
pub fn remove_run_dir(scratch_dir: &Path, run_id: &str) -> std::io::Result<()> {
    let scratch = Folder::open(scratch_dir)?;
    let name = OsStr::new(run_id);
    let run = match scratch.dir(Path::new(name), false) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    if let Ok(marker) = run.open_existing(OsStr::new(RUN_LOCK), true) {
        release_run_dir(&marker);
    }
    scratch.remove_dir_all(name)
}

/// The canonical form of a state folder, as a [`RunMarker`] names it.
pub fn state_identity(state_dir: &Path) -> PathBuf {
    std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf())
}

/// Removes run folders in `scratch_dir` left by runs that died (SIGKILL, power loss): those
/// whose run lock nobody holds. Returns the folders removed, with the runs they belonged to.
pub fn clean_stale_scratch(scratch_dir: &Path) -> Vec<StaleRun> {
    let (Ok(scratch), Ok(entries)) = (Folder::open(scratch_dir), std::fs::read_dir(scratch_dir))
    else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !looks_like_run_id(&name.to_string_lossy()) {
            continue;
        }
        // By handle, no link followed: a link in scratch is no run folder.
        let Ok(run) = scratch.dir(Path::new(&name), false) else {
            continue;
        };
        let lock = run.open_existing(OsStr::new(RUN_LOCK), false);
        let alive = lock
            .as_ref()
            .is_ok_and(|file| matches!(file.try_lock(), Err(TryLockError::WouldBlock)));
        if alive {
            continue;
        }
        let marker = lock.ok().and_then(|file| {
            use std::io::Read as _;
            let mut bytes = Vec::new();
            file.take(MAX_MARKER_BYTES).read_to_end(&mut bytes).ok()?;
            serde_json::from_slice(&bytes).ok()
        });
        let dir = entry.path();
        let last_seen = newest_change(&dir);
        let private = std::fs::symlink_metadata(&dir).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt as _;
            m.is_dir()
                && m.uid() == rustix::process::geteuid().as_raw()
                && m.mode() & 0o777 == 0o700
        });
        if scratch.remove_dir_all(&name).is_ok() {
            tracing::warn!(path = %dir.display(), "removed the scratch folder of a run that did not finish");
            removed.push(StaleRun {
                dir,
                marker,
                last_seen,
                private,
            });
        }
    }
    removed
}

/// A run marker is a few hundred bytes; more is not one.
const MAX_MARKER_BYTES: u64 = 64 << 10;

/// The newest modification time in `dir` and below (symbolic links not followed).
fn newest_change(dir: &Path) -> Option<jiff::Timestamp> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            }
            let time = meta
                .modified()
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok());
            newest = newest.max(time);
        }
    }
    newest
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

/// The signal that stopped a run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
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

    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_scratch_is_made_private_and_a_link_or_open_one_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let made = root.path().join("a/scratch");
        private_scratch(&made, true).unwrap();
        let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&made, &link).unwrap();
        let e = private_scratch(&link, true).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("link`"), "{e}");
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_scratch(&made, false).unwrap_err().to_string();
        assert!(
            e.contains("mode 0777") && e.contains("writable by its group"),
            "{e}"
        );
        assert!(private_scratch(&root.path().join("absent"), false).is_ok());
        assert!(!root.path().join("absent").exists());
    }

    #[test]
    fn a_replaced_run_folder_is_not_intact() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        let scratch = Folder::open(root.path()).unwrap();
        let folder = RunFolder::create(&scratch, "run").unwrap();
        assert!(folder.intact());
        std::fs::rename(&run, root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(root.path().join("moved"), &run).unwrap();
        assert!(!folder.intact());
    }

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
        let claim = |dir: &Path, id| claim_run_dir(&Folder::open(dir).unwrap(), &marker(id));
        drop(claim(&dead, "20261126T020000Z-0001").unwrap());
        let _held = claim(&live, "20261126T020000Z-0002").unwrap();
        let removed = clean_stale_scratch(scratch.path());
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].dir, dead);
        // The dead run's marker comes back, to be recorded.
        assert_eq!(removed[0].marker, Some(marker("20261126T020000Z-0001")));
        assert!(removed[0].last_seen.is_some());
        assert!(live.exists() && other.exists() && !dead.exists());
    }

    fn marker(run_id: &str) -> RunMarker {
        RunMarker {
            state_dir: "/var/lib/restore-drill".into(),
            run_id: run_id.into(),
            started_at: "2026-11-26T02:00:00Z".parse().unwrap(),
            seed: 7,
            kind: crate::results::RunKind::Scheduled,
            tool_version: "0.0.0".into(),
        }
    }

    /// A folder released by a run that ended as it should (`--keep`) is removed, but is no
    /// dead run.
    #[test]
    fn a_released_run_folder_is_no_dead_run() {
        let scratch = tempfile::tempdir().unwrap();
        let kept = scratch.path().join("20261126T020000Z-0003");
        std::fs::create_dir_all(&kept).unwrap();
        let claim = claim_run_dir(
            &Folder::open(&kept).unwrap(),
            &marker("20261126T020000Z-0003"),
        )
        .unwrap();
        release_run_dir(&claim);
        drop(claim);
        let removed = clean_stale_scratch(scratch.path());
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].marker, None);
    }
}
