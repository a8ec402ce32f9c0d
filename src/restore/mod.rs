//! The `restore` stage: one sampled object from storage to the scratch folder, with its
//! digests computed on the way. Network reads stay on tokio; hashing the stored bytes and
//! decoding (zstd, tar) each run on a blocking thread of their own, fed through bounded
//! channels, so memory stays flat whatever the object's size and the digest is computed on
//! another core than the decoder. An object on local disk is hashed from a read of its own
//! (`storage::LocalFile`), so the digest is not held to the decoder's pace.
//!
//! Must not: write outside the set's folder, follow or create links, hold an object in
//! memory, or panic on any input.

mod decode;
mod extract;
mod sink;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use opendal::Operator;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::checksum::{Algorithm, Digester};
use crate::finding::{Finding, FindingKind};
use crate::plan::PlannedObject;
use crate::storage::{LocalFile, describe};

pub use extract::safe_relative;

/// Stored bytes read ahead of the slower of the two worker threads, per object. Chunks
/// hold a share of this budget until both the hasher and the decoder are done with them,
/// so the memory in flight stays bounded whatever size of chunk the storage service hands
/// out (2 MiB on fs, a few hundred KiB over HTTP).
const IN_FLIGHT_BYTES: usize = 4 << 20;
/// Chunks queued for each worker thread; the byte budget is the real bound.
const CHANNEL_CHUNKS: usize = 64;
/// Bytes per read of a local object's own hash read: one buffer, read and hashed while it
/// is still in the core's cache.
const HASH_CHUNK: usize = 1 << 20;
/// The nice value of a local object's hash thread: it has slack (it may finish any time
/// before the decoder does), so on a busy machine the decoder, the one stage that cannot be
/// split, comes first.
const HASH_NICE: i32 = 10;

/// A chunk of stored bytes on its way to the hasher and the decoder, holding its share of
/// the object's in-flight budget until both have let go of it.
#[derive(Clone)]
pub(crate) struct Chunk {
    pub(crate) bytes: Bytes,
    _budget: Arc<OwnedSemaphorePermit>,
}

/// What the restore of one object needs to know besides the object.
#[derive(Debug, Clone)]
pub struct RestoreSpec {
    /// The set's folder inside the run's scratch folder; nothing is written outside it.
    pub set_dir: PathBuf,
    /// Digests of the stored bytes to compute.
    pub algorithms: BTreeSet<Algorithm>,
    /// `checksums.in_archive`: a manifest inside tar archives.
    pub in_archive: Option<String>,
    pub limits: Limits,
}

/// The settings every restore of a run applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Decompressed bytes allowed (`limits.max_restored_bytes`).
    pub max_restored_bytes: u64,
    /// The largest window a zstd frame may ask for (`limits.max_zstd_window`).
    pub max_zstd_window: u64,
    /// Write whole buffers with direct I/O where the scratch file system allows it
    /// (`scratch_direct_io`).
    pub direct_io: bool,
    /// No bytes of a local-disk read for this long: it stalled (`storage.stall_timeout`).
    pub stall_timeout: Duration,
}

/// The result of restoring one object. Problems are findings; nothing here is an `Err`.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub stored_bytes: u64,
    pub restored_bytes: u64,
    pub files: u64,
    /// Digests of the stored bytes; empty when the object could not be read whole.
    pub digests: BTreeMap<Algorithm, String>,
    /// Stored bytes copied in user space before decoding (see the regression test
    /// `stored_bytes_are_not_copied_before_zstd`).
    pub copied_bytes: u64,
    /// Restored bytes written with direct I/O.
    pub direct_bytes: u64,
    /// The files the restore created (empty when it stopped: those are removed already).
    pub created: Vec<CreatedFile>,
    /// Time to the first byte: the per-object overhead.
    pub first_byte: Duration,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
}

/// Why an object's restore halted half-way (bad data, a limit, full scratch, an unsafe
/// name, a failed read); becomes a finding for the object. Not a signal to the process: that
/// is `unattended::Stop`.
#[derive(Debug, Clone)]
pub(crate) enum Halt {
    Storage(String),
    Corrupt(String),
    SizeLimit(String),
    Scratch(String),
    Unsafe(String),
}

impl Halt {
    fn into_finding(self, key: &str) -> Finding {
        let (kind, message) = match self {
            Halt::Storage(m) => (FindingKind::StorageError, m),
            Halt::Corrupt(m) => (FindingKind::CorruptArchive, m),
            Halt::SizeLimit(m) => (FindingKind::SizeLimitExceeded, m),
            Halt::Scratch(m) => (FindingKind::ScratchError, m),
            Halt::Unsafe(m) => (FindingKind::UnsafePath, m),
        };
        Finding::new(kind, Some(key), message)
    }
}

/// A slot where a reader deep inside zstd or tar leaves the real reason it failed, since
/// those libraries rewrap I/O errors and lose their type.
pub(crate) type HaltSlot = Arc<Mutex<Option<Halt>>>;

/// Restores one object into `spec.set_dir`. Never returns an error: every failure is a
/// finding in the result.
pub async fn restore_object(
    op: &Operator,
    object: &PlannedObject,
    spec: &RestoreSpec,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Restored {
    let started = Instant::now();
    let mut restored = Restored::default();
    let key = object.key.as_str();

    let stall = spec.limits.stall_timeout;
    // Local disk is read on threads of the runner's own (see `storage::LocalFile`).
    let local = match crate::storage::local_path(op, key) {
        Some(path) => match LocalFile::open(path, stall).await {
            Ok(file) => Some(file),
            Err(e) => {
                restored.findings.push(Finding::new(
                    FindingKind::StorageError,
                    Some(key),
                    e.to_string(),
                ));
                restored.elapsed = started.elapsed();
                return restored;
            }
        },
        None => None,
    };
    let stream = match &local {
        Some(file) => Ok(crate::storage::read_local(file.clone(), stall)),
        None => match op.reader(key).await {
            Ok(reader) => reader.into_bytes_stream(..).await.map(StreamExt::boxed),
            Err(e) => Err(e),
        },
    };
    let mut stream = match stream {
        Ok(s) => s,
        Err(e) => {
            restored.findings.push(Finding::new(
                FindingKind::StorageError,
                Some(key),
                gone_or(&e),
            ));
            restored.elapsed = started.elapsed();
            return restored;
        }
    };

    let budget = Arc::new(Semaphore::new(IN_FLIGHT_BYTES));
    let (data_tx, data_rx) = mpsc::channel::<Result<Chunk, String>>(CHANNEL_CHUNKS);
    let algorithms = spec.algorithms.clone();
    let stop_hashing = Arc::new(AtomicBool::new(false));
    let hashed_so_far = Arc::new(AtomicU64::new(0));
    // The stream's chunks go to a hasher of their own only when nothing reads the object a
    // second time (`hash_tx` is `None` for a local object).
    let (hasher, hash_tx) = match &local {
        Some(file) => (
            Hasher::Local(spawn_local_hasher(
                file.clone(),
                algorithms,
                stop_hashing.clone(),
                hashed_so_far.clone(),
            )),
            None,
        ),
        None => {
            let (hash_tx, hash_rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
            let task = tokio::task::spawn_blocking(move || hash_stream(hash_rx, &algorithms));
            (Hasher::Stream(task), Some(hash_tx))
        }
    };
    let decode_spec = spec.clone();
    let decode_object = object.clone();
    let mut decoder =
        tokio::task::spawn_blocking(move || decode::decode(data_rx, &decode_object, &decode_spec));
    let mut decoded = None;

    let mut first = None;
    let mut stored = 0u64;
    let mut chunks = 0u64;
    let mut read_error = None;
    // After the decoder stops on bad data the rest is still hashed, so the evidence shows
    // the stored digest too. Any other stop (size limit, full scratch) ends the transfer:
    // a bomb is not downloaded to the end.
    let mut decoding = true;
    let mut whole = true;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                first.get_or_insert_with(|| started.elapsed());
                stored += bytes.len() as u64;
                chunks += 1;
                on_bytes(bytes.len() as u64);
                // A chunk larger than the whole budget waits for all of it.
                let share = bytes.len().clamp(1, IN_FLIGHT_BYTES) as u32;
                let Ok(permit) = budget.clone().acquire_many_owned(share).await else {
                    unreachable!("the budget semaphore is never closed")
                };
                let chunk = Chunk {
                    bytes,
                    _budget: Arc::new(permit),
                };
                if decoding && data_tx.send(Ok(chunk.clone())).await.is_err() {
                    decoding = false;
                    let result = (&mut decoder).await;
                    let keep_hashing = matches!(result, Ok(Err(Halt::Corrupt(_))));
                    decoded = Some(result);
                    if !keep_hashing {
                        stop_hashing.store(true, Ordering::Relaxed);
                        whole = false;
                        break;
                    }
                }
                let Some(hash_tx) = &hash_tx else {
                    // A local object: its hash thread reads the rest on its own.
                    if decoding {
                        continue;
                    }
                    break;
                };
                if hash_tx.send(chunk).await.is_err() {
                    whole = false;
                    break;
                }
            }
            Err(e) => {
                let message = match e.get_ref().and_then(|i| i.downcast_ref::<opendal::Error>()) {
                    Some(inner) => gone_or(inner),
                    None => e.to_string(),
                };
                read_error = Some(message.clone());
                stop_hashing.store(true, Ordering::Relaxed);
                let _ = data_tx.send(Err(message)).await;
                break;
            }
        }
    }
    drop(hash_tx);
    drop(data_tx);

    let decoded = match decoded {
        Some(result) => result,
        None => decoder.await,
    };
    let hashed = match hasher {
        Hasher::Local(rx) => await_hasher(rx, &hashed_so_far, stall).await,
        Hasher::Stream(task) => Ok(Hashed {
            digests: task.await.unwrap_or_default(),
            local_bytes: None,
        }),
    };
    let (digests, hash_error) = match hashed {
        Ok(hashed) => {
            // A local object's stored bytes are those its own hash read went through.
            if let Some(n) = hashed.local_bytes {
                stored = stored.max(n);
            }
            (hashed.digests, None)
        }
        Err(message) => (BTreeMap::new(), Some(message)),
    };
    if whole && read_error.is_none() {
        read_error = hash_error;
    }
    restored.stored_bytes = stored;
    restored.first_byte = first.unwrap_or_else(|| started.elapsed());
    match decoded {
        Ok(Ok(out)) => {
            restored.restored_bytes = out.decoded.restored_bytes;
            restored.files = out.decoded.files;
            restored.copied_bytes = out.copied_bytes;
            restored.direct_bytes = out.direct_bytes;
            restored.created = out.created;
            restored.findings.extend(out.decoded.findings);
        }
        Ok(Err(stop)) => restored.findings.push(stop.into_finding(key)),
        Err(join) => restored.findings.push(Finding::new(
            FindingKind::CorruptArchive,
            Some(key),
            format!("the decoder stopped unexpectedly: {join}"),
        )),
    }
    if whole && read_error.is_none() {
        restored.digests = digests;
    }
    if let Some(message) = read_error
        && !restored
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::StorageError)
    {
        restored
            .findings
            .push(Finding::new(FindingKind::StorageError, Some(key), message));
    }
    if stored != object.size && restored.findings.is_empty() {
        restored.findings.push(Finding::new(
            FindingKind::StorageError,
            Some(key),
            format!(
                "read {stored} bytes, but the listing said {}: the object changed during the run",
                object.size
            ),
        ));
    }
    restored.elapsed = started.elapsed();
    tracing::debug!(
        key,
        stored,
        chunks,
        copied = restored.copied_bytes,
        direct = restored.direct_bytes,
        seconds = restored.elapsed.as_secs_f64(),
        "object read"
    );
    restored
}

/// A storage error in words; a listed object that is not found is said to be gone.
fn gone_or(e: &opendal::Error) -> String {
    if e.kind() == opendal::ErrorKind::NotFound {
        format!(
            "the object was listed but is gone: deleted or moved during the run ({})",
            describe(e)
        )
    } else {
        describe(e)
    }
}

/// Where an object's digests come from: the hasher of the one stream, or a local object's
/// own hash read.
enum Hasher {
    Stream(tokio::task::JoinHandle<BTreeMap<Algorithm, String>>),
    Local(oneshot::Receiver<Result<Hashed, String>>),
}

/// Digests of an object's stored bytes, and how many were read for them when the object was
/// read twice (local disk).
struct Hashed {
    digests: BTreeMap<Algorithm, String>,
    local_bytes: Option<u64>,
}

/// Hashes a local object from a read of its own, on a thread of its own; `progress` counts
/// the bytes hashed so far, so a stalled read can be told from a slow one.
fn spawn_local_hasher(
    file: Arc<LocalFile>,
    algorithms: BTreeSet<Algorithm>,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> oneshot::Receiver<Result<Hashed, String>> {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("restore-hasher".into())
        .spawn(move || {
            let _ = tx.send(hash_local(&file, &algorithms, &stop, &progress));
        });
    if let Err(e) = spawned {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(format!("cannot start a hash thread: {e}")));
        return rx;
    }
    rx
}

fn hash_local(
    file: &LocalFile,
    algorithms: &BTreeSet<Algorithm>,
    stop: &AtomicBool,
    progress: &AtomicU64,
) -> Result<Hashed, String> {
    // Linux gives each thread a nice value of its own: this lowers this thread alone, and
    // the thread ends with the object.
    let _ = rustix::process::setpriority_process(None, HASH_NICE);
    let mut digester = Digester::new(algorithms);
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut offset = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            // The restore stopped for another reason; these digests are not reported.
            return Ok(Hashed {
                digests: BTreeMap::new(),
                local_bytes: Some(offset),
            });
        }
        let n = file.read_at(&mut buf, offset).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        digester.update(&buf[..n]);
        offset += n as u64;
        progress.store(offset, Ordering::Relaxed);
    }
    file.check_unchanged(offset).map_err(|e| e.to_string())?;
    Ok(Hashed {
        digests: digester.finish(),
        local_bytes: Some(offset),
    })
}

/// The hasher's result; an error once its byte count has not moved for `stall`.
async fn await_hasher(
    mut rx: oneshot::Receiver<Result<Hashed, String>>,
    progress: &AtomicU64,
    stall: Duration,
) -> Result<Hashed, String> {
    let mut last = None;
    loop {
        match tokio::time::timeout(stall, &mut rx).await {
            Ok(result) => {
                return result.unwrap_or_else(|_| Err("the hash thread ended unexpectedly".into()));
            }
            Err(_) => {
                let now = progress.load(Ordering::Relaxed);
                if last == Some(now) {
                    return Err(crate::storage::stalled(stall).to_string());
                }
                last = Some(now);
            }
        }
    }
}

fn hash_stream(
    mut rx: mpsc::Receiver<Chunk>,
    algorithms: &BTreeSet<Algorithm>,
) -> BTreeMap<Algorithm, String> {
    let mut digester = Digester::new(algorithms);
    while let Some(chunk) = rx.blocking_recv() {
        digester.update(&chunk.bytes);
    }
    digester.finish()
}

/// A file a restore created, with its inode: another archive of the same set may since have
/// replaced it with a file of its own, which is not this restore's to remove.
#[derive(Debug, Clone)]
pub struct CreatedFile {
    path: PathBuf,
    ino: Option<u64>,
}

/// Removes the files, newest first, each only while its path still names the file the
/// restore created; errors are left to the removal of the run's scratch folder.
pub fn remove_created(files: &[CreatedFile]) {
    use std::os::unix::fs::MetadataExt;
    for file in files.iter().rev() {
        let ours = match (std::fs::symlink_metadata(&file.path), file.ino) {
            (Ok(meta), Some(ino)) => meta.ino() == ino,
            (Ok(_), None) => true,
            (Err(_), _) => false,
        };
        if ours {
            let _ = std::fs::remove_file(&file.path);
        }
    }
}

/// Where a restored object lands in its set's folder, or why it cannot.
pub fn output_path(set_dir: &Path, path_in_set: &str) -> Result<PathBuf, String> {
    let rel = safe_relative(path_in_set.as_bytes())?;
    Ok(set_dir.join(rel))
}

#[cfg(test)]
mod tests;
