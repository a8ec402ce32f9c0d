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

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use aes256ctr_poly1305aes::aead::{AeadInPlace, Nonce, Tag};
use rustic_core::DataId;
use sha2::{Digest, Sha256};

use super::{FileBlobs, Opened};
use crate::checksum::{Algorithm, Digester};
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
    // A file of one blob hashes to its blob's id, which is checked before a byte is
    // written: its SHA-256 is not taken a second time.
    let derived = match file.blobs.as_slice() {
        [id] if spec.algorithms.iter().eq([&Algorithm::Sha256]) => Some(id.to_hex().to_string()),
        _ => None,
    };
    let mut digester = derived.is_none().then(|| Digester::new(&spec.algorithms));
    let cipher = cipher(&opened.repo.key());
    let out_of_time = Arc::new(AtomicBool::new(false));
    let written = restore_reader(
        |slot| {
            // Made once at their full size and kept by the thread: grown a file at a time,
            // they would leave the allocator's arenas riddled with holes.
            let (run_bytes, out) = BUFFERS.with_borrow_mut(|kept| match std::mem::take(kept) {
                (run, _) if run.capacity() == 0 => {
                    (Vec::with_capacity(KEPT), Vec::with_capacity(KEPT))
                }
                kept => kept,
            });
            Box::new(BlobReader {
                opened: opened.clone(),
                file: file.clone(),
                next: 0,
                run: Default::default(),
                run_bytes,
                out,
                run_offset: 0,
                current: (Held::Out, 0, 0),
                read: 0,
                slot,
                deadline: spec.deadline,
                out_of_time: out_of_time.clone(),
                cipher,
            })
        },
        path_in_set,
        spec,
        |chunk| {
            if let Some(digester) = &mut digester {
                digester.update(chunk);
            }
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
            restored.digests = match (digester, derived) {
                (Some(digester), _) => digester.finish(),
                (None, Some(sha256)) => [(Algorithm::Sha256, sha256)].into(),
                (None, None) => Default::default(),
            };
            restored.created = created;
            restored.elapsed = started.elapsed();
            restored
        }
    }
}

/// The largest blob decompressed (restic's chunks are at most 8 MiB): an index saying more
/// is damaged.
const MAX_BLOB: u32 = 64 << 20;

/// A blob of the file where the index puts it.
struct Located {
    id: DataId,
    pack: rustic_core::repofile::PackId,
    /// Where it starts in the pack, its length there, and its length decompressed (none:
    /// stored uncompressed).
    offset: u32,
    length: u32,
    uncompressed: Option<std::num::NonZeroU32>,
}

/// A file's bytes, blob after verified blob, read a run of adjacent blobs at a time. A
/// failure leaves its reason in the slot and returns an error, which the writer turns back
/// into that reason.
struct BlobReader {
    opened: Arc<Opened>,
    file: FileBlobs,
    /// The next blob to read.
    next: usize,
    /// The blobs of the last read of the pack not yet decoded, and the bytes read.
    run: std::collections::VecDeque<Located>,
    run_bytes: Vec<u8>,
    /// The current blob decompressed.
    out: Vec<u8>,
    /// Where `run_bytes` starts in its pack.
    run_offset: u32,
    /// What is left of the current blob: in which buffer, from where to where.
    current: (Held, usize, usize),
    /// Bytes handed out so far.
    read: u64,
    slot: HaltSlot,
    /// When the policy's time is up (`storage.policy_timeout`): no blob is read after it.
    deadline: Option<Instant>,
    /// Set when the deadline stopped the file.
    out_of_time: Arc<AtomicBool>,
    cipher: Aes256CtrPoly1305Aes,
}

thread_local! {
    /// A thread's zstd context, kept from blob to blob (rustic_core makes one per blob).
    static DECODE: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
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

    /// The blob `id` where the index puts it.
    fn locate(&self, id: DataId) -> Result<Located, Halt> {
        let entry = self.opened.repo.get_index_entry(&id).map_err(|_| {
            Halt::Storage(format!(
                "blob {} of the file is in no index of the repository (an index file is \
                 missing or damaged)",
                id.to_hex().as_str()
            ))
        })?;
        Ok(Located {
            id,
            pack: entry.pack,
            offset: entry.location.offset,
            length: entry.location.length,
            uncompressed: entry.location.uncompressed_length,
        })
    }

    /// Reads the next run of the file's blobs that lie one after the other in one pack
    /// (up to `packs::MAX_WINDOW` bytes) with one ranged read.
    fn read_run(&mut self) -> Result<(), Halt> {
        let first = self.locate(self.file.blobs[self.next])?;
        self.next += 1;
        let (pack, offset) = (first.pack, first.offset);
        let mut end = u64::from(offset) + u64::from(first.length);
        self.run.push_back(first);
        while let Some(&id) = self.file.blobs.get(self.next) {
            let blob = self.locate(id)?;
            let length = u64::from(blob.length);
            if blob.pack != pack
                || u64::from(blob.offset) != end
                || end + length - u64::from(offset) > u64::from(super::packs::MAX_WINDOW)
            {
                break;
            }
            end += length;
            self.next += 1;
            self.run.push_back(blob);
        }
        let length = u32::try_from(end - u64::from(offset)).map_err(|_| {
            Halt::Corrupt(format!(
                "the index puts blobs of pack {} past 4 GiB",
                pack.to_hex().as_str()
            ))
        })?;
        let read = self
            .opened
            .packs
            .read(&self.opened.backend, pack, offset, length)
            .map_err(|unread| {
                let first = short(&self.run[0].id);
                let pack = pack.to_hex().to_string();
                let (why, state) = (unread.message, unread.not_found);
                let state = if state {
                    "is missing"
                } else {
                    "cannot be read"
                };
                Halt::Storage(format!("pack {pack} holding blob {first} {state}: {why}"))
            })?;
        // Decrypted in place, in a copy of this file's own (the window is shared), made
        // from the pieces the storage read.
        self.run_bytes.clear();
        self.run_bytes.reserve_exact(read.len());
        for piece in read {
            self.run_bytes.extend_from_slice(&piece);
        }
        self.run_offset = offset;
        Ok(())
    }

    /// The next blob of the run read: decrypted (MAC), decompressed to its indexed length
    /// and hashed against its id; where its bytes are held.
    fn decode(&mut self) -> Result<(Held, usize, usize), Halt> {
        let Some(blob) = self.run.pop_front() else {
            return Err(Halt::Storage("no blob of the file was read".into()));
        };
        let pack = blob.pack.to_hex().to_string();
        let damaged = || {
            Halt::Corrupt(format!(
                "blob {} at offset {} ({} bytes) in pack {pack} fails its authentication \
                 code or does not decompress: the pack is damaged",
                short(&blob.id),
                blob.offset,
                blob.length,
            ))
        };
        let at = (blob.offset - self.run_offset) as usize;
        let sealed = self
            .run_bytes
            .get_mut(at..at + blob.length as usize)
            .filter(|s| s.len() >= 32)
            .ok_or_else(damaged)?;
        // IV, ciphertext, MAC: decrypted where it was read.
        let (nonce, rest) = sealed.split_at_mut(16);
        let (plain, tag) = rest.split_at_mut(rest.len() - 16);
        self.cipher
            .decrypt_in_place_detached(
                Nonce::<Aes256CtrPoly1305Aes>::from_slice(nonce),
                b"",
                plain,
                Tag::<Aes256CtrPoly1305Aes>::from_slice(tag),
            )
            .map_err(|_| damaged())?;
        let held = match blob.uncompressed {
            None => (Held::Run, at + 16, at + blob.length as usize - 16),
            Some(length) if length.get() > MAX_BLOB => return Err(damaged()),
            Some(length) => {
                let out = &mut self.out;
                out.clear();
                out.reserve_exact(length.get() as usize);
                DECODE.with_borrow_mut(|zstd| {
                    let zstd = match zstd {
                        Some(zstd) => zstd,
                        None => {
                            zstd.insert(zstd::bulk::Decompressor::new().map_err(|_| damaged())?)
                        }
                    };
                    match zstd.decompress_to_buffer(&*plain, out) {
                        Ok(n) if n == length.get() as usize => Ok(()),
                        _ => Err(damaged()),
                    }
                })?;
                (Held::Out, 0, out.len())
            }
        };
        let actual = hex::encode(Sha256::digest(self.held(held)));
        if actual != blob.id.to_hex().as_str() {
            return Err(Halt::Corrupt(format!(
                "blob {} in pack {pack} hashes to {}: its content is not what its id says",
                short(&blob.id),
                &actual[..16]
            )));
        }
        Ok(held)
    }

    fn held(&self, (held, from, to): (Held, usize, usize)) -> &[u8] {
        match held {
            Held::Run => &self.run_bytes[from..to],
            Held::Out => &self.out[from..to],
        }
    }
}

/// Which of a reader's buffers holds the current blob: the run read (a blob stored
/// uncompressed, decrypted in place) or the decompressed copy.
#[derive(Debug, Clone, Copy)]
enum Held {
    Run,
    Out,
}

thread_local! {
    /// A worker thread's two buffers (the run read, the blob decompressed), kept from file
    /// to file rather than allocated and faulted in for each.
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// Buffers larger than this go back to the allocator after their file (a rare blob up to
/// `MAX_BLOB`), not kept by the thread.
const KEPT: usize = super::packs::MAX_WINDOW as usize;

impl Drop for BlobReader {
    fn drop(&mut self) {
        let run = std::mem::take(&mut self.run_bytes);
        let out = std::mem::take(&mut self.out);
        if run.capacity() <= KEPT && out.capacity() <= KEPT {
            BUFFERS.with_borrow_mut(|kept| *kept = (run, out));
        }
    }
}

/// The repository's blob cipher from its master key (rustic_core's `Key::from_keys`).
fn cipher(key: &rustic_core::repofile::MasterKey) -> Aes256CtrPoly1305Aes {
    let mut bytes = aes256ctr_poly1305aes::Key::default();
    bytes[..32].copy_from_slice(&key.encrypt);
    bytes[32..48].copy_from_slice(&key.mac.k);
    bytes[48..64].copy_from_slice(&key.mac.r);
    Aes256CtrPoly1305Aes::new(&bytes)
}

fn short(id: &DataId) -> String {
    id.to_hex().as_str()[..16].to_string()
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.1 == self.current.2 {
            if self.run.is_empty() {
                if self.next == self.file.blobs.len() {
                    if self.read != self.file.size {
                        return Err(self.halt(Halt::Corrupt(format!(
                            "the file's blobs hold {} bytes, its node says {}",
                            self.read, self.file.size
                        ))));
                    }
                    return Ok(0);
                }
                if self.deadline.is_some_and(|at| Instant::now() >= at) {
                    self.out_of_time.store(true, Ordering::Relaxed);
                    return Err(self.halt(Halt::Storage(format!(
                        "given up at the policy's time (storage.policy_timeout) with {} of \
                         the file's {} bytes restored: the rest of the policy was not restored",
                        self.read, self.file.size
                    ))));
                }
                self.read_run().map_err(|halt| self.halt(halt))?;
            }
            self.current = self.decode().map_err(|halt| self.halt(halt))?;
        }
        let bytes = self.held(self.current);
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        self.current.1 += n;
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
