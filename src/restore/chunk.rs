//! The unit the stored bytes travel in, from the network task to the hasher and the decoder,
//! and the bounds on how many are in flight. Its own module so that the decoder and the
//! hasher, which both read chunks, need nothing else of each other or of `restore`.
//!
//! Must not: copy a chunk's bytes (a clone shares them), or let a chunk go before both of
//! its readers are done with it: its share of the budget is what bounds the memory.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

/// Stored bytes read ahead of the slower of the two worker threads, per object. Chunks
/// hold a share of this budget until both the hasher and the decoder are done with them,
/// so the memory in flight stays bounded whatever size of chunk the storage service hands
/// out (2 MiB on fs, a few hundred KiB over HTTP).
pub(crate) const IN_FLIGHT_BYTES: usize = 4 << 20;
/// Chunks queued for each worker thread; the byte budget is the real bound.
pub(crate) const CHANNEL_CHUNKS: usize = 64;

/// A chunk of stored bytes on its way to the hasher and the decoder, holding its share of
/// the object's in-flight budget until both have let go of it.
#[derive(Clone)]
pub(crate) struct Chunk {
    pub(crate) bytes: Bytes,
    pub(super) _budget: Arc<OwnedSemaphorePermit>,
}
