//! One file of a snapshot restored into scratch through the runner's writer
//! (`restore::restore_reader`), its blobs read one after the other: each blob decrypted
//! (rustic_core checks its authentication code), its SHA-256 recomputed and compared with
//! its id before a byte of it is written, and the file's length compared with its node.
//!
//! Must not: write a blob's bytes before its hash is checked, or name a failure without the
//! file and the pack it is about.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use rustic_core::DataId;
use rustic_core::repofile::BlobType;
use sha2::{Digest, Sha256};

use super::{FileBlobs, Opened};
use crate::checksum::Digester;
use crate::restore::{Halt, HaltSlot, RestoreSpec, Restored, restore_reader};

/// Restores the file listed as `key` to `path_in_set` below `spec.set_dir`. Blocking. Every
/// failure is a finding in the result; `on_bytes` is told of the bytes written.
pub fn restore_file(
    opened: &Arc<Opened>,
    key: &str,
    path_in_set: &str,
    spec: &RestoreSpec,
    on_bytes: &dyn Fn(u64),
) -> Restored {
    let started = Instant::now();
    let fail = |halt: Halt| {
        let mut restored = Restored::default();
        restored.findings.push(halt.into_finding(key));
        restored.elapsed = started.elapsed();
        restored
    };
    let file = match opened.file(key) {
        Ok(file) => file,
        Err(why) => return fail(Halt::Storage(why)),
    };
    if file.size > spec.limits.max_restored_bytes {
        return fail(Halt::SizeLimit(format!(
            "the file is {} bytes, over limits.max_restored_bytes ({})",
            file.size, spec.limits.max_restored_bytes
        )));
    }
    let mut digester = Digester::new(&spec.algorithms);
    let out_of_time = Arc::new(AtomicBool::new(false));
    let written = restore_reader(
        |slot| {
            Box::new(BlobReader {
                opened: opened.clone(),
                file: file.clone(),
                next: 0,
                current: Bytes::new(),
                read: 0,
                slot,
                deadline: spec.deadline,
                out_of_time: out_of_time.clone(),
            })
        },
        path_in_set,
        spec,
        |chunk| {
            digester.update(chunk);
            on_bytes(chunk.len() as u64);
        },
    );
    match written {
        Err(halt) => {
            let mut restored = fail(halt);
            restored.out_of_time = out_of_time.load(Ordering::Relaxed);
            restored
        }
        Ok((bytes, created)) => {
            let mut restored = Restored::default();
            restored.stored_bytes = bytes;
            restored.restored_bytes = bytes;
            restored.files = 1;
            restored.digests = digester.finish();
            restored.created = created;
            restored.elapsed = started.elapsed();
            restored
        }
    }
}

/// A file's bytes, blob after verified blob. A failure leaves its reason in the slot and
/// returns an error, which the writer turns back into that reason.
struct BlobReader {
    opened: Arc<Opened>,
    file: FileBlobs,
    /// The next blob to read.
    next: usize,
    /// What is left of the current blob.
    current: Bytes,
    /// Bytes handed out so far.
    read: u64,
    slot: HaltSlot,
    /// When the policy's time is up (`storage.policy_timeout`): no blob is read after it.
    deadline: Option<Instant>,
    /// Set when the deadline stopped the file.
    out_of_time: Arc<AtomicBool>,
}

impl BlobReader {
    fn halt(&self, halt: Halt) -> io::Error {
        let message = match &halt {
            Halt::Corrupt(m) | Halt::Storage(m) => m.clone(),
            other => format!("{other:?}"),
        };
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(halt);
        }
        io::Error::other(message)
    }

    /// The blob `id`, read and checked: its pack found in the index, decrypted (MAC) and
    /// hashed against its id.
    fn blob(&self, id: DataId) -> Result<Bytes, Halt> {
        let repo = &self.opened.repo;
        let entry = repo.get_index_entry(&id).map_err(|_| {
            Halt::Storage(format!(
                "blob {} of the file is in no index of the repository (an index file is \
                 missing or damaged)",
                id.to_hex().as_str()
            ))
        })?;
        let pack = entry.pack.to_hex().to_string();
        // Read past rustic_core's blob cache (32 MB of blobs kept alive for trees read
        // again): a file's data blob is read once, and the cache only held memory.
        let data = repo
            .cat_blob(BlobType::Data, id.to_hex().as_str())
            .map_err(|_| match self.opened.backend.take_failure() {
                Some(failure) if failure.not_found => Halt::Storage(format!(
                    "pack {pack} holding blob {} is missing: {}",
                    short(&id),
                    failure.message
                )),
                Some(failure) => Halt::Storage(format!(
                    "pack {pack} holding blob {} cannot be read: {}",
                    short(&id),
                    failure.message
                )),
                None => Halt::Corrupt(format!(
                    "blob {} at offset {} ({} bytes) in pack {pack} fails its authentication \
                     code or does not decompress: the pack is damaged",
                    short(&id),
                    entry.location.offset,
                    entry.location.length,
                )),
            })?;
        let actual = hex::encode(Sha256::digest(&data));
        if actual != id.to_hex().as_str() {
            return Err(Halt::Corrupt(format!(
                "blob {} in pack {pack} hashes to {}: its content is not what its id says",
                short(&id),
                &actual[..16]
            )));
        }
        Ok(data)
    }
}

fn short(id: &DataId) -> String {
    id.to_hex().as_str()[..16].to_string()
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            let Some(&id) = self.file.blobs.get(self.next) else {
                if self.read != self.file.size {
                    return Err(self.halt(Halt::Corrupt(format!(
                        "the file's blobs hold {} bytes, its node says {}",
                        self.read, self.file.size
                    ))));
                }
                return Ok(0);
            };
            if self.deadline.is_some_and(|at| Instant::now() >= at) {
                self.out_of_time.store(true, Ordering::Relaxed);
                return Err(self.halt(Halt::Storage(format!(
                    "given up at the policy's time (storage.policy_timeout) with {} of the \
                     file's {} bytes restored: the rest of the policy was not restored",
                    self.read, self.file.size
                ))));
            }
            self.next += 1;
            self.current = self.blob(id).map_err(|halt| self.halt(halt))?;
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FindingKind;

    #[test]
    fn a_finding_names_the_file() {
        let finding = Halt::Corrupt("blob 00 in pack 11".into()).into_finding("acme/abcd/x");
        assert_eq!(finding.kind, FindingKind::CorruptArchive);
        assert_eq!(finding.object.as_deref(), Some("acme/abcd/x"));
    }
}
