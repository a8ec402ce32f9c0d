//! Decoding on a blocking thread: bytes from the channel → zstd (when the name says so and
//! the magic number agrees) → a byte limit → a single file, or tar extraction.
//!
//! Must not: copy the network's chunks before zstd reads them (a raw object is copied once),
//! let zstd allocate a window before the frame header's is checked against
//! `limits.max_zstd_window`, write more than `limits.max_restored_bytes`, or leave a file of
//! a halted object behind.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::chunk::Chunk;
use super::extract::{self, Decoded};
use super::halt::{CreatedFile, Halt, HaltSlot, read_halt, remove_created};
use super::paths::{safe_relative, split};
use super::sink::Sink;
use super::spec::RestoreSpec;
use super::write::{create_dirs, write_file};
use crate::plan::{Format, PlannedObject};

/// A decoded object, with what the pipeline around the decoder measured.
pub(crate) struct DecodeOutput {
    pub decoded: Decoded,
    /// Stored bytes copied in user space between the network and the decoder: 0 for zstd
    /// (zstd reads the network's chunks in place), the object's size for raw objects.
    pub copied_bytes: u64,
    /// Restored bytes written with direct I/O.
    pub direct_bytes: u64,
    /// The files created.
    pub created: Vec<CreatedFile>,
}

/// Decodes one object from `rx` into `spec.set_dir`. On a halt, every file this object
/// created is removed again, so a half-restored object leaves nothing behind.
pub(crate) fn decode(
    rx: mpsc::Receiver<Result<Chunk, String>>,
    object: &PlannedObject,
    spec: &RestoreSpec,
) -> Result<DecodeOutput, Halt> {
    let slot = HaltSlot::default();
    let copied = Rc::new(Cell::new(0));
    // The writer thread ends with the scope: every file is closed before a halt removes it.
    let (result, created) = std::thread::scope(|scope| {
        let mut sink = Sink::new(scope, spec.limits.direct_io);
        let reader = ChannelReader::new(rx, slot.clone(), copied.clone());
        let result = decode_into(reader, object, spec, &slot, &mut sink)
            .and_then(|decoded| Ok((decoded, sink.sync().map(|()| sink.direct_bytes())?)));
        (result, sink.into_created())
    });
    match result {
        Ok((decoded, direct_bytes)) => Ok(DecodeOutput {
            decoded,
            copied_bytes: copied.get(),
            direct_bytes,
            created,
        }),
        Err(halt) => {
            remove_created(&created);
            Err(halt)
        }
    }
}

fn decode_into(
    mut input: ChannelReader,
    object: &PlannedObject,
    spec: &RestoreSpec,
    slot: &HaltSlot,
    sink: &mut Sink<'_, '_>,
) -> Result<Decoded, Halt> {
    let reader: Box<dyn Read> = if object.format.is_zstd() {
        // Magic number and frame header (at most 18 bytes) in one look.
        let head = input.peek(18).map_err(|e| read_halt(slot, &e))?;
        if head.is_empty() {
            return Err(Halt::Corrupt("the object is empty, not zstd data".into()));
        }
        if !is_zstd_magic(head) {
            return Err(Halt::Corrupt(
                "not zstd data: the zstd magic number is missing".into(),
            ));
        }
        // The decoder allocates the frame's window up front: a few bytes of header can ask
        // for gigabytes. Refused before any allocation, with the numbers.
        if let Some(window) = frame_window(head)
            && window > spec.limits.max_zstd_window
        {
            return Err(Halt::SizeLimit(format!(
                "the zstd frame needs a {} window, over limits.max_zstd_window ({})",
                bytesize::ByteSize(window).display().iec(),
                bytesize::ByteSize(spec.limits.max_zstd_window)
                    .display()
                    .iec()
            )));
        }
        // The channel's chunks are zstd's input buffer as they are: no copy in between.
        let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| Halt::Corrupt(format!("cannot start zstd: {e}")))?;
        decoder
            .window_log_max(window_log(spec.limits.max_zstd_window))
            .map_err(|e| Halt::Corrupt(format!("cannot start zstd: {e}")))?;
        Box::new(decoder)
    } else {
        Box::new(input)
    };
    let limited = LimitReader {
        inner: reader,
        left: spec.limits.max_restored_bytes,
        limit: spec.limits.max_restored_bytes,
        slot: slot.clone(),
    };
    let parent = match object.path_in_set.rfind('/') {
        Some(i) => &object.path_in_set[..i],
        None => "",
    };
    let digest_algorithm = spec
        .in_archive
        .as_deref()
        .map(crate::checksum::Algorithm::for_manifest_path);
    match object.format {
        Format::Tar | Format::TarZstd => {
            let root = if parent.is_empty() {
                spec.set_dir.clone()
            } else {
                let rel = safe_relative(parent.as_bytes()).map_err(Halt::Unsafe)?;
                create_dirs(&spec.set_dir, &rel)?
            };
            extract::extract_tar(limited, &root, object, spec, digest_algorithm, slot, sink)
        }
        Format::Zstd | Format::Raw => {
            let name = match object.format {
                Format::Zstd => strip_zst(&object.path_in_set),
                _ => &object.path_in_set,
            };
            let rel = safe_relative(name.as_bytes()).map_err(Halt::Unsafe)?;
            let dir = create_dirs(&spec.set_dir, split(&rel).0)?;
            let mut source = limited;
            let bytes = write_file(&mut source, &spec.set_dir, &dir, &rel, |_| {}, slot, sink)?;
            Ok(Decoded {
                restored_bytes: bytes,
                files: 1,
                findings: Vec::new(),
            })
        }
    }
}

fn strip_zst(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".zst") && name.len() > 4 {
        &name[..name.len() - 4]
    } else {
        name
    }
}

/// The window log for zstd's limit: the largest power of two within `max` bytes.
fn window_log(max: u64) -> u32 {
    (63 - max.max(1 << 10).leading_zeros()).clamp(10, 31)
}

/// The window a zstd frame header asks for (RFC 8878, 3.1.1.1), or `None` when `head` is
/// not a whole frame header. A single-segment frame's window is its content size.
pub(crate) fn frame_window(head: &[u8]) -> Option<u64> {
    if head.len() < 6 || head[..4] != [0x28, 0xB5, 0x2F, 0xFD] {
        return None;
    }
    let descriptor = head[4];
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let w = head[5];
        let log = 10 + u64::from(w >> 3);
        let base = 1u64 << log;
        return Some(base + (base / 8) * u64::from(w & 7));
    }
    let dictionary_id = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    let fcs_bytes = [1usize, 2, 4, 8][usize::from(descriptor >> 6)];
    let start = 5 + dictionary_id;
    let field = head.get(start..start + fcs_bytes)?;
    let mut size = 0u64;
    for (i, b) in field.iter().enumerate() {
        size |= u64::from(*b) << (8 * i);
    }
    Some(if fcs_bytes == 2 { size + 256 } else { size })
}

/// The zstd frame magic, or a skippable frame's (0x184D2A50..=0x184D2A5F), little-endian.
fn is_zstd_magic(head: &[u8]) -> bool {
    head.len() >= 4
        && (head[..4] == [0x28, 0xB5, 0x2F, 0xFD]
            || (head[0] & 0xF0 == 0x50 && head[1..4] == [0x2A, 0x4D, 0x18]))
}

/// A `Read` over the chunks arriving from the network task.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Chunk, String>>,
    current: Bytes,
    /// The chunk `current` came from, keeping its share of the in-flight budget.
    holding: Option<Chunk>,
    slot: HaltSlot,
    done: bool,
    /// Bytes copied out of the chunks (see `DecodeOutput::copied_bytes`).
    copied: Rc<Cell<u64>>,
}

impl ChannelReader {
    fn new(
        rx: mpsc::Receiver<Result<Chunk, String>>,
        slot: HaltSlot,
        copied: Rc<Cell<u64>>,
    ) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
            holding: None,
            slot,
            done: false,
            copied,
        }
    }

    /// Next chunk into `current`; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        while self.current.is_empty() && !self.done {
            // The spent chunk's share of the budget goes back before waiting: otherwise a
            // chunk of more than half the budget would wait for itself.
            self.holding = None;
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = chunk.bytes.clone();
                    self.holding = Some(chunk);
                }
                Some(Err(message)) => {
                    self.done = true;
                    if let Ok(mut slot) = self.slot.lock() {
                        slot.get_or_insert(Halt::Storage(message));
                    }
                    return Err(io::Error::other("storage read failed"));
                }
                None => {
                    self.done = true;
                    self.holding = None;
                }
            }
        }
        Ok(!self.current.is_empty())
    }

    /// At least `n` bytes from the start without consuming them (fewer at end of stream).
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        self.fill()?;
        while self.current.len() < n && !self.done {
            let mut joined = self.current.to_vec();
            self.current = Bytes::new();
            let more = self.fill()?;
            if more {
                joined.extend_from_slice(&self.current);
            }
            self.copied.set(self.copied.get() + joined.len() as u64);
            self.current = Bytes::from(joined);
            if !more {
                break;
            }
        }
        Ok(&self.current[..self.current.len().min(n)])
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.copied.set(self.copied.get() + n as u64);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

impl io::BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill()?;
        Ok(&self.current)
    }

    fn consume(&mut self, amount: usize) {
        let _ = self.current.split_to(amount.min(self.current.len()));
    }
}

/// Stops decoding once more than `limit` decompressed bytes came out.
struct LimitReader {
    inner: Box<dyn Read>,
    left: u64,
    limit: u64,
    slot: HaltSlot,
}

impl Read for LimitReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            if let Ok(mut slot) = self.slot.lock() {
                slot.get_or_insert(Halt::SizeLimit(format!(
                    "decompressed output passed limits.max_restored_bytes ({} bytes); restore stopped",
                    self.limit
                )));
            }
            return Err(io::Error::other("size limit exceeded"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
