//! rustic_core's backend traits over the runner's own storage ([`Storage`]: the one opendal
//! operator, its retry, timeout and stall layers, its prefix confinement), so a restic
//! repository is read with the same storage configuration as any other backup.
//!
//! Must not: write. restore-drill never writes to, locks or prunes a client's repository:
//! every write the traits ask for (`create`, `write_bytes`, `remove`) is refused with an
//! error and counted, and nothing here calls a writing operation of the operator.
//!
//! rustic_core's traits are synchronous and are called from its own threads (rayon among
//! them); each call blocks that thread on the runtime's handle, never a runtime thread: the
//! repository is only used inside `spawn_blocking`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::ThreadId;

use bytes::Bytes;
use futures::TryStreamExt;
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

use crate::storage::Storage;

/// What the last failed read was, worded by the storage, so a finding can say which file
/// of the repository was missing or unreadable rather than rustic_core's generic text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailure {
    /// The key in storage (the repository's prefix included).
    pub key: String,
    /// The file was not there (a deleted pack, index or snapshot).
    pub not_found: bool,
    /// The storage's own words: place, service, what to check.
    pub message: String,
}

/// A restic repository under `prefix` of `storage`, read-only.
#[derive(Debug)]
pub struct ReadOnly {
    storage: Storage,
    /// The repository's folder in storage: empty or ending in `/` (`backups.prefix`).
    prefix: String,
    runtime: tokio::runtime::Handle,
    refused: AtomicUsize,
    /// Each thread's last failed read, latest last: restores under way fail at once, and
    /// each must name its own pack, not the one another thread failed on last.
    failures: Mutex<Vec<(ThreadId, ReadFailure)>>,
}

impl ReadOnly {
    /// The repository at `prefix` (empty, or ending in `/`). `runtime` must be the handle of
    /// the runtime the storage was built on; calls must come from outside its threads.
    pub fn new(storage: Storage, prefix: &str, runtime: tokio::runtime::Handle) -> ReadOnly {
        ReadOnly {
            storage,
            prefix: prefix.to_string(),
            runtime,
            refused: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Writes rustic_core asked for and was refused (none, in a sound read).
    pub fn refused_writes(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    /// The last read that failed on this thread, taken (so the next failure is not confused
    /// with it). For what this thread read itself (a folder, a file's blobs): another
    /// thread's failure is never its own.
    pub fn take_failure(&self) -> Option<ReadFailure> {
        self.take(false)
    }

    /// The same, or when this thread saw none, the latest of another: for what rustic_core
    /// reads on threads of its own, rayon's among them (the index, the snapshots), while
    /// no other read of the repository is under way.
    pub fn take_any_failure(&self) -> Option<ReadFailure> {
        self.take(true)
    }

    fn take(&self, any: bool) -> Option<ReadFailure> {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let here = std::thread::current().id();
        let at = failures
            .iter()
            .rposition(|(thread, _)| *thread == here)
            .or_else(|| failures.len().checked_sub(1).filter(|_| any))?;
        Some(failures.remove(at).1)
    }

    /// The key of a repository file, laid out as restic lays it out.
    pub fn key(&self, tpe: FileType, id: &Id) -> String {
        let hex = id.to_hex();
        let hex = hex.as_str();
        match tpe {
            FileType::Config => format!("{}config", self.prefix),
            FileType::Pack => format!("{}data/{}/{hex}", self.prefix, &hex[..2]),
            _ => format!("{}{}/{hex}", self.prefix, tpe.dirname()),
        }
    }

    /// Bytes `offset..offset + length` of pack `id`, as the storage gives them (in pieces:
    /// opendal reads a local file 2 MiB at a time, and joining them would copy them once
    /// more). Blocking. A failure is returned, not kept for [`ReadOnly::take_failure`].
    pub(super) fn read_pack(
        &self,
        id: &Id,
        offset: u32,
        length: u32,
    ) -> Result<opendal::Buffer, ReadFailure> {
        let key = self.key(FileType::Pack, id);
        let confined = self.storage.confined(&key).map_err(|e| ReadFailure {
            key: key.clone(),
            not_found: false,
            message: format!("refused: {e}"),
        })?;
        self.ranged(confined, offset, length)
            .map_err(|e| self.failure(confined, &e))
    }

    /// Bytes `offset..offset + length` of the file at `key` (confined). Blocking.
    fn ranged(&self, key: &str, offset: u32, length: u32) -> opendal::Result<opendal::Buffer> {
        let range = u64::from(offset)..u64::from(offset) + u64::from(length);
        self.runtime
            .block_on(async { self.storage.read_with(key).range(range).await })
    }

    /// A failed read in the storage's words.
    fn failure(&self, key: &str, e: &opendal::Error) -> ReadFailure {
        let not_found = e.kind() == opendal::ErrorKind::NotFound;
        let message = if not_found {
            format!("`{key}` is not in {}", self.storage.place())
        } else {
            format!("`{key}`: {}", self.storage.read_error(e))
        };
        ReadFailure {
            key: key.to_string(),
            not_found,
            message,
        }
    }

    fn failed(&self, key: &str, e: &opendal::Error) -> Box<RusticError> {
        let failure = self.failure(key, e);
        let message = failure.message.clone();
        let here = std::thread::current().id();
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One per thread: its latest.
        failures.retain(|(thread, _)| *thread != here);
        failures.push((here, failure));
        drop(failures);
        RusticError::new(ErrorKind::Backend, "cannot read {what}").attach_context("what", message)
    }

    fn confined<'k>(&self, key: &'k str) -> RusticResult<&'k str> {
        self.storage.confined(key).map_err(|e| {
            RusticError::new(ErrorKind::Backend, "refused: {why}")
                .attach_context("why", e.to_string())
        })
    }

    fn refuse(&self, what: &str) -> Box<RusticError> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(storage = %self.storage.place(), what, "refused a write to a restic repository");
        RusticError::new(
            ErrorKind::Unsupported,
            "restore-drill reads restic repositories and never writes to them (refused: {what})",
        )
        .attach_context("what", what.to_string())
    }

    async fn list_folder(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        let folder = format!("{}{}/", self.prefix, tpe.dirname());
        let lister = self.storage.lister_with(&folder).recursive(true).await;
        let lister = match lister {
            Ok(lister) => lister,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.failed(&folder, &e)),
        };
        let entries: Vec<opendal::Entry> = lister
            .try_collect()
            .await
            .map_err(|e| self.failed(&folder, &e))?;
        let mut found = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.metadata().is_dir() {
                continue;
            }
            // Anything that is not named by an id (a stray file, a temporary upload) is not
            // part of the repository.
            let Ok(id) = entry.name().parse::<Id>() else {
                continue;
            };
            let size = match entry.metadata().content_length() {
                0 => self.stat_size(entry.path()).await?,
                n => n,
            };
            found.push((id, u32::try_from(size).unwrap_or(u32::MAX)));
        }
        Ok(found)
    }

    async fn stat_size(&self, key: &str) -> RusticResult<u64> {
        let key = self.confined(key)?;
        self.storage
            .stat(key)
            .await
            .map(|m| m.content_length())
            .map_err(|e| self.failed(key, &e))
    }
}

impl ReadBackend for ReadOnly {
    fn location(&self) -> String {
        format!("{} {}", self.storage.place(), self.prefix)
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            let key = self.key(tpe, &Id::default());
            return self.runtime.block_on(async {
                match self.storage.stat(&key).await {
                    Ok(meta) => Ok(vec![(
                        Id::default(),
                        u32::try_from(meta.content_length()).unwrap_or(u32::MAX),
                    )]),
                    Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(Vec::new()),
                    Err(e) => Err(self.failed(&key, &e)),
                }
            });
        }
        self.runtime.block_on(self.list_folder(tpe))
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let key = self.key(tpe, id);
        let key = self.confined(&key)?;
        self.runtime.block_on(async {
            self.storage
                .read(key)
                .await
                .map(|buffer| buffer.to_bytes())
                .map_err(|e| self.failed(key, &e))
        })
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let key = self.key(tpe, id);
        let key = self.confined(&key)?;
        self.ranged(key, offset, length)
            .map(|buffer| buffer.to_bytes())
            .map_err(|e| self.failed(key, &e))
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.key(tpe, id)
    }
}

impl WriteBackend for ReadOnly {
    fn create(&self) -> RusticResult<()> {
        Err(self.refuse("create the repository"))
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        _content: BytesList,
    ) -> RusticResult<()> {
        Err(self.refuse(&format!("write {}", self.key(tpe, id))))
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        Err(self.refuse(&format!("remove {}", self.key(tpe, id))))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::StorageSpec;
    use crate::secret::ConfigValue;

    fn backend(root: &std::path::Path) -> (tokio::runtime::Runtime, ReadOnly) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let spec = StorageSpec {
            service: "fs".into(),
            options: BTreeMap::from([(
                "root".to_string(),
                ConfigValue::Plain(root.to_string_lossy().into()),
            )]),
        };
        let storage = {
            let _entered = runtime.enter();
            crate::storage::operator(&spec, std::path::Path::new("p.yaml"), &Default::default())
                .unwrap()
                .confined_to("repo/")
        };
        let handle = runtime.handle().clone();
        (runtime, ReadOnly::new(storage, "repo/", handle))
    }

    #[test]
    fn writes_are_refused_and_counted_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        let (_runtime, be) = backend(dir.path());
        let id = Id::default();
        assert!(be.create().is_err());
        assert!(
            be.write_bytes(FileType::Snapshot, &id, false, BytesList::default())
                .is_err()
        );
        assert!(be.remove(FileType::Pack, &id, false).is_err());
        assert_eq!(be.refused_writes(), 3);
        assert_eq!(
            std::fs::read_dir(dir.path().join("repo")).unwrap().count(),
            0
        );
    }

    #[test]
    fn files_are_read_where_restic_lays_them_out_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let id: Id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            .parse()
            .unwrap();
        let pack = dir.path().join("repo/data/01").join(id.to_hex().as_str());
        std::fs::create_dir_all(pack.parent().unwrap()).unwrap();
        std::fs::write(&pack, b"0123456789").unwrap();
        std::fs::write(dir.path().join("repo/data/01/not-an-id"), b"x").unwrap();
        std::fs::write(dir.path().join("repo/config"), b"cfg").unwrap();
        let (_runtime, be) = backend(dir.path());
        assert_eq!(be.list_with_size(FileType::Pack).unwrap(), [(id, 10)]);
        assert_eq!(be.list_with_size(FileType::Config).unwrap().len(), 1);
        assert!(be.list_with_size(FileType::Index).unwrap().is_empty());
        assert_eq!(
            &be.read_partial(FileType::Pack, &id, false, 2, 3).unwrap()[..],
            b"234"
        );
        assert!(be.read_full(FileType::Snapshot, &id).is_err());
        let failure = be.take_failure().unwrap();
        assert!(failure.not_found);
        assert_eq!(
            failure.key,
            format!("repo/snapshots/{}", id.to_hex().as_str())
        );
    }

    #[test]
    fn each_thread_takes_its_own_failure_and_another_threads_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        let (_runtime, be) = backend(dir.path());
        let ids: Vec<Id> = ["01", "02"]
            .iter()
            .map(|p| format!("{p}{}", "0".repeat(62)).parse().unwrap())
            .collect();
        // Both threads fail before either takes its failure, as two restores under way do.
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for id in &ids {
                let (be, barrier) = (&be, &barrier);
                s.spawn(move || {
                    assert!(be.read_partial(FileType::Pack, id, false, 0, 1).is_err());
                    barrier.wait();
                    let failure = be.take_failure().unwrap();
                    assert!(failure.not_found);
                    assert!(failure.key.ends_with(id.to_hex().as_str()), "{failure:?}");
                });
            }
        });
        assert!(be.take_failure().is_none());
        // A failure seen on rustic_core's own thread is found from the caller's only when
        // it asks for any thread's.
        std::thread::scope(|s| {
            s.spawn(|| be.read_full(FileType::Snapshot, &ids[0]).is_err());
        });
        assert!(be.take_failure().is_none());
        assert!(be.take_any_failure().unwrap().key.contains("snapshots/01"));
    }
}
