//! Why an object's restore halted half-way, and the record of the files it created so that a
//! halted restore leaves nothing behind. At the bottom of the restore modules (only `paths`
//! is below it): the decoder, the tar extractor, the file writer and the writer thread all
//! halt with these, and the writer thread records the files created as these, so none of
//! them has to reach into another for it.
//!
//! Must not: depend on the restore modules that use it (it is what they share; it knows
//! only `paths`, for the refusal a halt carries and a path's folder and name), or remove a
//! file that is not the one the restore created, or reach one through a link (files are
//! found by handle from their object's folder).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::paths::{UnsafePath, split};
use crate::finding::{Finding, FindingKind};
use crate::folder::Folder;

/// Why an object's restore halted half-way (bad data, a limit, full scratch, an unsafe
/// name, a failed read); becomes a finding for the object. Not a signal to the process: that
/// is `unattended::StopSignal`.
#[derive(Debug, Clone)]
pub(crate) enum Halt {
    Storage(String),
    Corrupt(String),
    SizeLimit(String),
    Scratch(String),
    Unsafe(UnsafePath),
}

impl Halt {
    pub(crate) fn into_finding(self, key: &str) -> Finding {
        let (kind, message) = match self {
            Halt::Storage(m) => (FindingKind::StorageError, m),
            Halt::Corrupt(m) => (FindingKind::CorruptArchive, m),
            Halt::SizeLimit(m) => (FindingKind::SizeLimitExceeded, m),
            Halt::Scratch(m) => (FindingKind::ScratchError, m),
            Halt::Unsafe(why) => (FindingKind::UnsafePath, why.to_string()),
        };
        Finding::new(kind, Some(key), message)
    }
}

/// A slot where a reader deep inside zstd or tar leaves the real reason it failed, since
/// those libraries rewrap I/O errors and lose their type.
pub(crate) type HaltSlot = Arc<Mutex<Option<Halt>>>;

/// The reason a read failed: what the channel or limit recorded, else bad data.
pub(crate) fn read_halt(slot: &HaltSlot, e: &io::Error) -> Halt {
    if let Some(halt) = slot.lock().ok().and_then(|mut s| s.take()) {
        return halt;
    }
    let message = e.to_string();
    if message.contains("too much memory") {
        return Halt::SizeLimit(
            "a zstd frame needs a larger window than limits.max_zstd_window allows".into(),
        );
    }
    if e.kind() == io::ErrorKind::UnexpectedEof || message.contains("incomplete frame") {
        return Halt::Corrupt(format!("truncated data: {message}"));
    }
    Halt::Corrupt(format!("cannot decode: {message}"))
}

pub(crate) fn write_halt(path: &Path, e: &io::Error) -> Halt {
    Halt::Scratch(format!("cannot write `{}`: {e}", path.display()))
}

/// A file a restore created: the folder it was restored below (held open; one handle for
/// all of an object's files, however many folders they are in), its place there and its
/// inode. Another archive of the same set may since have replaced it with a file of its own,
/// which is not this restore's to remove.
#[derive(Debug, Clone)]
pub struct CreatedFile {
    pub(super) root: Folder,
    pub(super) rel: PathBuf,
    pub(super) ino: Option<u64>,
}

impl CreatedFile {
    /// Where the file was created (for messages).
    pub fn path(&self) -> PathBuf {
        self.root.path().join(&self.rel)
    }
}

/// Removes the files, newest first, each only while its name (reached by handle from its
/// root, no link followed) still names the file the restore created; errors are left to
/// the removal of the run's scratch folder. An archive's files come folder by folder, so
/// the folder of the last one is kept open for the next.
pub fn remove_created(files: &[CreatedFile]) {
    let mut last: Option<(&CreatedFile, Folder)> = None;
    for file in files.iter().rev() {
        let (parent, name) = split(&file.rel);
        let dir = match &last {
            Some((prev, dir)) if prev.root.same(&file.root) && split(&prev.rel).0 == parent => {
                dir.clone()
            }
            _ => match file.root.dir(parent, false) {
                Ok(dir) => dir,
                Err(_) => continue,
            },
        };
        let ours = match (dir.stat_at(name), file.ino) {
            (Ok(st), Some(ino)) => st.st_ino == ino,
            (Ok(_), None) => true,
            (Err(_), _) => false,
        };
        if ours {
            let _ = dir.remove_file(name);
        }
        last = Some((file, dir));
    }
}
