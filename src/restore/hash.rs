//! The digests of an object's stored bytes, computed off the async runtime on a thread of
//! their own. Two ways, picked per object: the chunks of the one network stream, fed by the
//! pump through a bounded channel; or, for an object on local disk, a read of its own
//! (`storage::LocalFile`) at a lower priority, so the digest is not held to the decoder's
//! pace and the decoder is not held to the digest's.
//!
//! Must not: wait for ever on a local read that stalled (`storage.stall_timeout`), hold
//! more than one buffer of a local object, or give digests of a local object that changed
//! while it was read (`LocalFile::check_unchanged`). Whether a stream's digests cover the
//! whole object is for `restore` to say: it reports them only then.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::chunk::{CHANNEL_CHUNKS, Chunk};
use crate::checksum::{Algorithm, Digester};
use crate::storage::LocalFile;

/// Bytes per read of a local object's own hash read: one buffer, read and hashed while it
/// is still in the core's cache.
const HASH_CHUNK: usize = 1 << 20;
/// The nice value of a local object's hash thread: it has slack (it may finish any time
/// before the decoder does), so on a busy machine the decoder, the one stage that cannot be
/// split, comes first.
const HASH_NICE: i32 = 10;

/// Where an object's digests come from: the hasher of the one stream, or a local object's
/// own hash read.
pub(super) enum Hasher {
    Stream(tokio::task::JoinHandle<BTreeMap<Algorithm, String>>),
    Local(oneshot::Receiver<Result<Hashed, String>>),
}

/// Digests of an object's stored bytes, and how many were read for them when the object was
/// read twice (local disk).
pub(super) struct Hashed {
    pub(super) digests: BTreeMap<Algorithm, String>,
    pub(super) local_bytes: Option<u64>,
}

impl Hasher {
    /// Starts the hasher of an object. The stream's chunks go to a hasher of their own only
    /// when nothing reads the object a second time: the sender returned is `None` for a
    /// local object, whose hash read stops at `stop` and counts its bytes in `progress`.
    pub(super) fn spawn(
        local: Option<&Arc<LocalFile>>,
        algorithms: BTreeSet<Algorithm>,
        stop: &Arc<AtomicBool>,
        progress: &Arc<AtomicU64>,
    ) -> (Hasher, Option<mpsc::Sender<Chunk>>) {
        match local {
            Some(file) => (
                Hasher::Local(spawn_local_hasher(
                    file.clone(),
                    algorithms,
                    stop.clone(),
                    progress.clone(),
                )),
                None,
            ),
            None => {
                let (hash_tx, hash_rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
                let task = tokio::task::spawn_blocking(move || hash_stream(hash_rx, &algorithms));
                (Hasher::Stream(task), Some(hash_tx))
            }
        }
    }

    /// The digests, once the stream's sender is dropped (or the local read is done); an
    /// error, in words for a finding, when a local hash read failed or stalled.
    pub(super) async fn finish(
        self,
        progress: &AtomicU64,
        stall: Duration,
    ) -> Result<Hashed, String> {
        match self {
            Hasher::Local(rx) => await_hasher(rx, progress, stall).await,
            Hasher::Stream(task) => Ok(Hashed {
                digests: task.await.unwrap_or_default(),
                local_bytes: None,
            }),
        }
    }
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
pub(super) async fn await_hasher(
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
