//! The `restore` stage: one sampled object from storage to the scratch folder, with its
//! digests computed on the way. Network reads stay on tokio; hashing the stored bytes and
//! decoding (zstd, tar) each run on a blocking thread of their own, fed through bounded
//! channels, so memory stays flat whatever the object's size and the digest is computed on
//! another core than the decoder. An object on local disk is hashed from a read of its own
//! (`storage::LocalFile`), so the digest is not held to the decoder's pace.
//!
//! `restore_object` runs in stages: `open` the object's stream, `spawn` the hasher and the
//! decoder, `pump` the stream's chunks to them, `join` them and `assemble` the result. The
//! modules below depend one way, and none on this one:
//!
//! ```text
//! hash    → chunk
//! decode  → extract, write, sink, halt, paths, spec, chunk
//! extract → write, sink, halt, paths, spec
//! write   → sink, halt
//! sink    → halt
//! halt    → paths
//! chunk, paths, spec: leaves
//! ```
//!
//! Must not: write outside the set's folder, follow or create links, hold an object in
//! memory, panic on any input, read past an object's listed size (beyond the chunk that
//! crosses it), or wait on the storage past the object's deadline (`storage.min_rate`) or
//! its policy's (`storage.policy_timeout`).

mod chunk;
mod decode;
mod extract;
mod halt;
mod hash;
mod paths;
#[cfg(feature = "restic")]
mod single;
mod sink;
mod spec;
mod write;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinError, JoinHandle};

use crate::checksum::Algorithm;
use crate::finding::{Finding, FindingKind};
use crate::plan::PlannedObject;
use crate::storage::{LocalFile, Storage};
use chunk::{CHANNEL_CHUNKS, Chunk, IN_FLIGHT_BYTES};
use decode::DecodeOutput;
use hash::Hasher;

pub(crate) use halt::Halt;
#[cfg(feature = "restic")]
pub(crate) use halt::HaltSlot;
pub use halt::{CreatedFile, remove_created};
pub use paths::{UnsafePath, output_path, safe_relative};
#[cfg(feature = "restic")]
pub(crate) use single::restore_reader;
pub use spec::{Limits, RestoreSpec};

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
    /// Read to its end, but shorter than its listed size.
    short: bool,
    /// Stopped at its policy's deadline (`storage.policy_timeout`).
    pub out_of_time: bool,
    /// Time to the first byte: the per-object overhead.
    pub first_byte: Duration,
    pub elapsed: Duration,
    pub findings: Vec<Finding>,
}

/// Restores one object into `spec.set_dir`. Never returns an error: every failure is a
/// finding in the result.
pub async fn restore_object(
    op: &Storage,
    object: &PlannedObject,
    spec: &RestoreSpec,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Restored {
    let started = Instant::now();
    let key = object.key.as_str();
    let stall = spec.limits.stall_timeout;
    let (local, stream) = match open(op, key, stall).await {
        Ok(opened) => opened,
        Err(message) => {
            return Restored {
                findings: vec![Finding::new(FindingKind::StorageError, Some(key), message)],
                elapsed: started.elapsed(),
                ..Restored::default()
            };
        }
    };
    let (feed, mut workers) = spawn(local.as_ref(), object, spec);
    let deadline = Deadline::of(op, object, spec);
    let pumped = pump(
        op,
        object,
        stream,
        feed,
        &mut workers,
        (started, deadline),
        on_bytes,
    );
    let mut pumped = pumped.await;
    let chunks = pumped.chunks;
    let (decoded, digests) = join(workers, &mut pumped, stall).await;
    let mut restored = assemble(object, started, pumped, decoded, digests);
    restored.elapsed = started.elapsed();
    if restored.short {
        restored.findings.push(Finding::new(
            FindingKind::StorageError,
            Some(key),
            format!(
                "{}: read {} bytes to the end of the object, but the listing said {}: the \
                 object changed during the run, or the storage sends less than it lists",
                op.place(),
                restored.stored_bytes,
                object.size
            ),
        ));
    }
    tracing::debug!(
        key,
        stored = restored.stored_bytes,
        chunks,
        copied = restored.copied_bytes,
        direct = restored.direct_bytes,
        seconds = restored.elapsed.as_secs_f64(),
        "object read"
    );
    restored
}

/// An object's stored bytes as they arrive.
type StoredStream = BoxStream<'static, io::Result<Bytes>>;

/// The decoder's result, or how its thread ended when it did not give one.
type Decoding = Result<Result<DecodeOutput, Halt>, JoinError>;

/// Opens the object: local disk is read on threads of the runner's own (see
/// `storage::LocalFile`, kept for the local hash read), anything else through the operator.
/// An error is the message of the object's `storage_error` finding.
async fn open(
    op: &Storage,
    key: &str,
    stall: Duration,
) -> Result<(Option<Arc<LocalFile>>, StoredStream), String> {
    // The planner never lets such a key through; refused here too, before any request.
    let key = op.confined(key).map_err(|refused| refused.to_string())?;
    let local = match crate::storage::local_path(op, key) {
        Some(path) => match LocalFile::open(path, stall).await {
            Ok(file) => Some(file),
            Err(e) => return Err(op.local_error(&e)),
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
    match stream {
        Ok(stream) => Ok((local, stream)),
        Err(e) => Err(op.read_error(&e)),
    }
}

/// The ends the pump feeds the workers through; dropping them tells the workers the stream
/// has ended.
struct Feed {
    decoder: mpsc::Sender<Result<Chunk, String>>,
    /// `None` for a local object, hashed from a read of its own.
    hasher: Option<mpsc::Sender<Chunk>>,
}

/// The worker threads of one object's restore.
struct Workers {
    decoder: JoinHandle<Result<DecodeOutput, Halt>>,
    hasher: Hasher,
    /// Tells a local object's hash read that the restore stopped for another reason.
    stop_hashing: Arc<AtomicBool>,
    /// Bytes a local object's hash read has hashed so far, to tell a stall from a slow read.
    hashed_so_far: Arc<AtomicU64>,
}

/// Starts the hasher and the decoder, each on a thread of its own.
fn spawn(
    local: Option<&Arc<LocalFile>>,
    object: &PlannedObject,
    spec: &RestoreSpec,
) -> (Feed, Workers) {
    let (data_tx, data_rx) = mpsc::channel::<Result<Chunk, String>>(CHANNEL_CHUNKS);
    let stop_hashing = Arc::new(AtomicBool::new(false));
    let hashed_so_far = Arc::new(AtomicU64::new(0));
    let (hasher, hash_tx) = Hasher::spawn(
        local,
        spec.algorithms.clone(),
        &stop_hashing,
        &hashed_so_far,
    );
    let decode_spec = spec.clone();
    let decode_object = object.clone();
    let decoder =
        tokio::task::spawn_blocking(move || decode::decode(data_rx, &decode_object, &decode_spec));
    let feed = Feed {
        decoder: data_tx,
        hasher: hash_tx,
    };
    let workers = Workers {
        decoder,
        hasher,
        stop_hashing,
        hashed_so_far,
    };
    (feed, workers)
}

/// What the pump saw of the stream.
struct Pumped {
    /// Time to the first byte, when one came.
    first_byte: Option<Duration>,
    /// Stopped at the policy's deadline.
    out_of_time: bool,
    stored: u64,
    chunks: u64,
    /// The storage read's error, in words for a finding.
    read_error: Option<String>,
    /// False when the transfer stopped before the end of the object.
    whole: bool,
    /// The decoder's result, when it stopped before the stream ended.
    decoded: Option<Decoding>,
}

/// When an object's read is given up: once the storage has taken longer to send it than
/// `storage.timeout` plus its listed size at `storage.min_rate` (time spent waiting on the
/// decoder and the hasher does not count: a slow disk is not a slow endpoint), or at its
/// policy's deadline (`storage.policy_timeout`), whichever comes first.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    read: Duration,
    policy: Option<Instant>,
}

impl Deadline {
    fn of(op: &Storage, object: &PlannedObject, spec: &RestoreSpec) -> Self {
        Deadline {
            read: op.tuning().read_time(object.size),
            policy: spec.deadline,
        }
    }

    /// The finding's message of a read given up at the policy's deadline, `stored` bytes in.
    fn policy_message(
        op: &Storage,
        object: &PlannedObject,
        started: Instant,
        stored: u64,
    ) -> String {
        format!(
            "{}: given up at the policy's time (storage.policy_timeout) with {stored} of the {} \
             bytes listed read from {} in {}: the rest of the policy was not restored",
            op.place(),
            object.size,
            op.place().host(),
            crate::config::units::format_duration(started.elapsed())
        )
    }
}

/// The pump's ends towards the workers, and what it learned of them.
struct Handoff {
    data_tx: mpsc::Sender<Result<Chunk, String>>,
    /// `None` for a local object, hashed from a read of its own.
    hash_tx: Option<mpsc::Sender<Chunk>>,
    budget: Arc<Semaphore>,
    decoding: bool,
    /// False when the transfer stopped before the end of the object.
    whole: bool,
    /// The decoder's result, when it stopped before the stream ended.
    decoded: Option<Decoding>,
}

impl Handoff {
    /// Hands one chunk to the decoder and the stream's hasher, holding its share of the
    /// in-flight budget; false when the transfer must stop. After the decoder stops on bad
    /// data the rest is still hashed, so the evidence shows the stored digest too. Any other
    /// stop (size limit, full scratch) ends the transfer: a bomb is not downloaded to the end.
    async fn hand(&mut self, bytes: Bytes, workers: &mut Workers) -> bool {
        // A chunk larger than the whole budget waits for all of it.
        let share = bytes.len().clamp(1, IN_FLIGHT_BYTES) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(share).await else {
            unreachable!("the budget semaphore is never closed")
        };
        let chunk = Chunk {
            bytes,
            _budget: Arc::new(permit),
        };
        if self.decoding && self.data_tx.send(Ok(chunk.clone())).await.is_err() {
            self.decoding = false;
            let result = (&mut workers.decoder).await;
            let keep_hashing = matches!(result, Ok(Err(Halt::Corrupt(_))));
            self.decoded = Some(result);
            if !keep_hashing {
                workers.stop_hashing.store(true, Ordering::Relaxed);
                self.whole = false;
                return false;
            }
        }
        let Some(hash_tx) = &self.hash_tx else {
            // A local object: its hash thread reads the rest on its own.
            return self.decoding;
        };
        if hash_tx.send(chunk).await.is_err() {
            self.whole = false;
            return false;
        }
        true
    }
}

/// Moves the stream's chunks to the workers ([`Handoff::hand`]) until the stream ends, a
/// worker stops, a deadline passes or the stream sends more than the object's listed size.
async fn pump(
    op: &Storage,
    object: &PlannedObject,
    mut stream: StoredStream,
    feed: Feed,
    workers: &mut Workers,
    (started, deadline): (Instant, Deadline),
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Pumped {
    let mut handoff = Handoff {
        data_tx: feed.decoder,
        hash_tx: feed.hasher,
        budget: Arc::new(Semaphore::new(IN_FLIGHT_BYTES)),
        decoding: true,
        whole: true,
        decoded: None,
    };
    let (mut first, mut stored, mut chunks, mut failure) = (None, 0u64, 0u64, None);
    // Time spent waiting on the storage for the next chunk: its timer is only set while
    // that waits (a chunk already there costs none).
    let mut waited = Duration::ZERO;
    let transfer = async {
        loop {
            let asked = Instant::now();
            let next = tokio::time::timeout(deadline.read.saturating_sub(waited), stream.next());
            let next = next.await;
            waited += asked.elapsed();
            let Ok(next) = next else {
                let slow = op.too_slow(object.size, Some(stored), deadline.read);
                failure = Some(format!("{}: {slow}", op.place()));
                break;
            };
            let bytes = match next {
                None => break,
                Some(Ok(bytes)) => bytes,
                Some(Err(e)) => {
                    failure = Some(op.stream_error(&e));
                    break;
                }
            };
            first.get_or_insert_with(|| started.elapsed());
            stored += bytes.len() as u64;
            chunks += 1;
            on_bytes(bytes.len() as u64);
            if stored > object.size {
                failure = Some(format!(
                    "{}: the storage sent more than the {} bytes it listed: stopped after {stored} \
                     bytes (the object grew after the listing, or the endpoint sends more than it \
                     lists)",
                    op.place(),
                    object.size
                ));
                break;
            }
            if !handoff.hand(bytes, workers).await {
                break;
            }
        }
    };
    // A trickle that passes under the stall and request timeouts still ends at one of these.
    let mut out_of_time = false;
    match deadline.policy {
        Some(at) => {
            if tokio::time::timeout_at(at.into(), transfer).await.is_err() {
                failure = Some(Deadline::policy_message(op, object, started, stored));
                out_of_time = true;
            }
        }
        None => transfer.await,
    }
    if let Some(message) = &failure {
        workers.stop_hashing.store(true, Ordering::Relaxed);
        // The decoder halts on it and removes what it wrote; it may be gone already.
        let _ = handoff.data_tx.send(Err(message.clone())).await;
    }
    Pumped {
        first_byte: first,
        stored,
        chunks,
        out_of_time,
        read_error: failure,
        whole: handoff.whole,
        decoded: handoff.decoded,
    }
}

/// Waits for the workers once the stream is done: the decoder's result and the digests.
/// A local object's stored bytes are those its own hash read went through; a hash error
/// is the read error of an object otherwise read whole.
async fn join(
    workers: Workers,
    pumped: &mut Pumped,
    stall: Duration,
) -> (Decoding, BTreeMap<Algorithm, String>) {
    let decoded = match pumped.decoded.take() {
        Some(result) => result,
        None => workers.decoder.await,
    };
    let hashed = workers.hasher.finish(&workers.hashed_so_far, stall).await;
    let (digests, hash_error) = match hashed {
        Ok(hashed) => {
            if let Some(n) = hashed.local_bytes {
                pumped.stored = pumped.stored.max(n);
            }
            (hashed.digests, None)
        }
        Err(message) => (BTreeMap::new(), Some(message)),
    };
    if pumped.whole && pumped.read_error.is_none() {
        pumped.read_error = hash_error;
    }
    (decoded, digests)
}

/// The object's result from what the pump saw and the workers gave: the digests only of an
/// object read whole, one storage finding at most, and an object whose size is not the
/// listing's flagged when nothing else explains it.
fn assemble(
    object: &PlannedObject,
    started: Instant,
    pumped: Pumped,
    decoded: Decoding,
    digests: BTreeMap<Algorithm, String>,
) -> Restored {
    let key = object.key.as_str();
    let Pumped {
        first_byte,
        out_of_time,
        stored,
        read_error,
        whole,
        ..
    } = pumped;
    let mut restored = Restored {
        out_of_time,
        stored_bytes: stored,
        first_byte: first_byte.unwrap_or_else(|| started.elapsed()),
        ..Restored::default()
    };
    match decoded {
        Ok(Ok(out)) => {
            restored.restored_bytes = out.decoded.restored_bytes;
            restored.files = out.decoded.files;
            restored.copied_bytes = out.copied_bytes;
            restored.direct_bytes = out.direct_bytes;
            restored.created = out.created;
            restored.findings.extend(out.decoded.findings);
        }
        Ok(Err(halt)) => restored.findings.push(halt.into_finding(key)),
        Err(join) => restored.findings.push(Finding::new(
            FindingKind::CorruptArchive,
            Some(key),
            format!("the decoder stopped unexpectedly: {join}"),
        )),
    }
    // Read to its end without error: its digests, when it is the size listed.
    let to_the_end = whole && read_error.is_none();
    if to_the_end && stored == object.size {
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
    // Shorter than listed (longer is stopped by the pump), said where by the caller.
    restored.short = to_the_end && stored != object.size;
    restored
}

#[cfg(test)]
mod tests;
