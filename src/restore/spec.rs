//! What the restore of one object is told besides the object: where it lands, which digests
//! to compute, the in-archive manifest to check and the run's limits. Its own module so the
//! decoder and the tar extractor read it without reaching up into `restore` itself.
//!
//! Must not: hold state a restore changes (the decoder's thread gets a clone of its own) or
//! anything open but the set's folder (no files, no connections).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::checksum::Algorithm;
use crate::folder::Folder;

/// What the restore of one object needs to know besides the object.
#[derive(Debug, Clone)]
pub struct RestoreSpec {
    /// The set's folder inside the run's scratch folder, held open: everything is created
    /// relative to it, never through a link, and nothing outside it.
    pub set_dir: Folder,
    /// Digests of the stored bytes to compute.
    pub algorithms: BTreeSet<Algorithm>,
    /// `checksums.in_archive`: a manifest inside tar archives.
    pub in_archive: Option<String>,
    pub limits: Limits,
    /// When the object's policy gives up (`storage.policy_timeout`), if it does.
    pub deadline: Option<std::time::Instant>,
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
