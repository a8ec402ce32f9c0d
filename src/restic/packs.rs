//! Reading the packs a run's files need a stretch at a time, shared by the files restored
//! at once, as `restic restore` reads each pack once for all the files it feeds. Before the
//! restores, the run hands over the files it will restore ([`Opened::plan_reads`]): every
//! blob of theirs is located in the index, giving each pack's needed stretches. A file's
//! read of its blobs then takes a window of the pack from its first blob up to 8 MiB of the
//! stretches that follow (gaps under `GAP` read through), once; the next files find their
//! blobs in it. A drill of 10,000 small files makes a few hundred reads of storage instead
//! of 10,000, which on S3 are as many requests.
//!
//! Must not: read a byte past what the planned files need (beyond a small gap), keep more
//! than `WINDOWS` windows, read one window twice at once (the second reader waits for the
//! first), or hand out a slice the read did not return (a short read is a failure).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use rustic_core::repofile::PackId;

use super::Opened;
use super::backend::ReadOnly;

/// The most bytes one window holds (a run of one file's blobs longer than it is read alone).
pub(super) const MAX_WINDOW: u32 = 8 << 20;
/// Bytes between two needed stretches read through rather than read in two.
const GAP: u32 = 256 << 10;
/// Windows kept, the least recently used let go first: the restores under way each read
/// their own run of files (`run::order`), each from one or two windows.
const WINDOWS: usize = 8;

/// Why a window could not be read, in the storage's words or ours.
#[derive(Debug, Clone)]
pub(super) struct Unread {
    pub not_found: bool,
    pub message: String,
}

/// A stretch of a pack, read once by whoever needs it first.
struct Window {
    pack: PackId,
    start: u32,
    end: u32,
    data: OnceLock<Result<opendal::Buffer, Unread>>,
}

/// The planned files' needed stretches per pack, and the windows read lately.
#[derive(Default)]
pub(super) struct PackReads {
    needed: RwLock<HashMap<PackId, Vec<(u32, u32)>>>,
    windows: Mutex<VecDeque<Arc<Window>>>,
}

impl Opened {
    /// Locates every blob of the files `keys` (as listed) in the index, so their reads can
    /// share windows. Blocking. A file or blob not found is left to its restore to report.
    pub fn plan_reads<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        let mut needed: HashMap<PackId, Vec<(u32, u32)>> = HashMap::new();
        for key in keys {
            let Ok(file) = self.file(key) else { continue };
            for id in &file.blobs {
                if let Ok(entry) = self.repo.get_index_entry(id) {
                    let start = entry.location.offset;
                    let end = start.saturating_add(entry.location.length);
                    needed.entry(entry.pack).or_default().push((start, end));
                }
            }
        }
        for stretches in needed.values_mut() {
            *stretches = merged(std::mem::take(stretches));
        }
        *self
            .packs
            .needed
            .write()
            .unwrap_or_else(PoisonError::into_inner) = needed;
    }
}

impl PackReads {
    /// Bytes `offset..offset + length` of `pack`, from a window read once for the files
    /// that need it. Blocking.
    pub(super) fn read(
        &self,
        backend: &ReadOnly,
        pack: PackId,
        offset: u32,
        length: u32,
    ) -> Result<opendal::Buffer, Unread> {
        let end = offset.checked_add(length).ok_or(Unread {
            not_found: false,
            message: "the index puts a blob past 4 GiB".into(),
        })?;
        let window = self.window(pack, offset, end);
        let data = window.data.get_or_init(|| {
            let want = window.end - window.start;
            match backend.read_pack(&pack, window.start, want) {
                Ok(bytes) if bytes.len() == want as usize => Ok(bytes),
                Ok(bytes) => Err(Unread {
                    not_found: false,
                    message: format!(
                        "{} bytes read where the index says {want}: the pack is shorter",
                        bytes.len()
                    ),
                }),
                Err(failure) => Err(Unread {
                    not_found: failure.not_found,
                    message: failure.message,
                }),
            }
        });
        let from = (offset - window.start) as usize;
        let to = (end - window.start) as usize;
        data.as_ref()
            .map(|bytes| bytes.slice(from..to))
            .map_err(Clone::clone)
    }

    /// The window holding `offset..end` of `pack`: one kept, or a new one (not yet read)
    /// from `offset` over the needed stretches that follow.
    fn window(&self, pack: PackId, offset: u32, end: u32) -> Arc<Window> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = windows
            .iter()
            .position(|w| w.pack == pack && w.start <= offset && end <= w.end)
        {
            // The least recently used goes first: each restore under way keeps its own.
            let w = windows.remove(at).expect("found at this position");
            windows.push_back(w.clone());
            return w;
        }
        let needed = self.needed.read().unwrap_or_else(PoisonError::into_inner);
        let reach = needed
            .get(&pack)
            .map_or(end, |stretches| reach(stretches, offset, end));
        let window = Arc::new(Window {
            pack,
            start: offset,
            end: reach,
            data: OnceLock::new(),
        });
        windows.push_back(window.clone());
        while windows.len() > WINDOWS {
            windows.pop_front();
        }
        window
    }
}

/// Stretches sorted, those that overlap or touch made one.
fn merged(mut stretches: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    stretches.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(stretches.len());
    for (start, end) in stretches {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// How far a window from `offset` reaches: at least to `end`, and over the needed
/// `stretches` (sorted, merged) that start within `GAP` of the last, up to `MAX_WINDOW`
/// from `offset`.
fn reach(stretches: &[(u32, u32)], offset: u32, end: u32) -> u32 {
    let limit = offset.saturating_add(MAX_WINDOW);
    // The stretch holding `offset`: the last that starts at or before it.
    let first = stretches.partition_point(|s| s.0 <= offset);
    let Some(i) = first.checked_sub(1).filter(|&i| stretches[i].1 > offset) else {
        return end;
    };
    let mut reach = end.max(stretches[i].1.min(limit));
    for &(start, stop) in &stretches[i + 1..] {
        if start > reach.saturating_add(GAP) || stop > limit {
            break;
        }
        reach = stop;
    }
    reach
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_that_touch_or_overlap_are_one() {
        assert_eq!(
            merged(vec![(10, 20), (0, 10), (15, 30), (40, 50)]),
            [(0, 30), (40, 50)]
        );
    }

    #[test]
    fn a_window_reaches_over_the_needed_stretches_within_its_limits() {
        let mib = 1 << 20;
        // Needed: 0..1 MiB, then 1.1..2 MiB (a gap under GAP), then 4..5 MiB (a gap over it).
        let stretches = [(0, mib), (mib + mib / 10, 2 * mib), (4 * mib, 5 * mib)];
        assert_eq!(reach(&stretches, 0, 1000), 2 * mib);
        // From inside the first stretch: the same reach.
        assert_eq!(reach(&stretches, 4096, 8192), 2 * mib);
        // Not in a needed stretch (not planned): only what was asked.
        assert_eq!(reach(&stretches, 3 * mib, 3 * mib + 10), 3 * mib + 10);
        // A stretch longer than MAX_WINDOW is cut at it, never below what was asked.
        let long = [(0, 20 * mib)];
        assert_eq!(reach(&long, 0, 100), MAX_WINDOW);
        assert_eq!(reach(&long, 0, 9 * mib), 9 * mib);
        // A following stretch that would pass MAX_WINDOW is left for a window of its own.
        let two = [(0, 5 * mib), (5 * mib, 10 * mib)];
        assert_eq!(reach(&two, 0, 100), 5 * mib);
    }
}
