//! How an object's bytes move: the transfer stopped early, copies per chunk, the writer
//! thread and direct I/O, a local object's own hash read, and the in-flight budget.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::Digest as _;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{bench, finish_tar, kinds, noise, raw_entry, zstd};
use crate::checksum::Algorithm;
use crate::finding::FindingKind;
use crate::plan::{Format, PlannedObject};
use crate::restore::chunk::{CHANNEL_CHUNKS, Chunk, IN_FLIGHT_BYTES};
use crate::restore::hash::{Hashed, await_hasher};
use crate::restore::{Limits, RestoreSpec, decode, restore_object, sink};

#[tokio::test]
async fn size_limit_stops_the_transfer_early() {
    let b = bench();
    // 48 MiB that zstd cannot shrink: the limit trips after 1 MiB of output, long before
    // the object has been read.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..48 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let stored = zstd(&noise);
    let r = b.restore("big.zst", &stored, None, 1 << 20).await;
    assert_eq!(kinds(&r), [FindingKind::SizeLimitExceeded]);
    assert!(
        r.stored_bytes < stored.len() as u64 / 2,
        "read {} of {}",
        r.stored_bytes,
        stored.len()
    );
    assert!(
        r.digests.is_empty(),
        "a digest of part of an object must not be reported"
    );
}

#[tokio::test]
async fn missing_object_is_a_storage_error() {
    let b = bench();
    let object = PlannedObject {
        identity: "size:0,modified:unknown".into(),
        last_verified: None,
        overdue: false,
        key: "nope.zst".into(),
        path_in_set: "nope.zst".into(),
        size: 1,
        format: Format::Zstd,
        checksums: Vec::new(),
    };
    let spec = RestoreSpec {
        set_dir: crate::folder::Folder::open(&b.scratch).unwrap(),
        algorithms: [Algorithm::Sha256].into(),
        in_archive: None,
        limits: Limits {
            max_restored_bytes: 1,
            max_zstd_window: 128 << 20,
            direct_io: false,
            stall_timeout: std::time::Duration::from_secs(30),
        },
        deadline: None,
    };
    let r = restore_object(&b.op, &object, &spec, &|_| {}).await;
    assert_eq!(kinds(&r), [FindingKind::StorageError]);
}

/// The regression guard for copies per chunk: zstd reads the network's chunks in place
/// (no copy in user space before decoding), a raw object is copied once, never more.
#[tokio::test]
async fn stored_bytes_are_not_copied_before_zstd() {
    let b = bench();
    let mut data = b"text-like half of the object\n".repeat(100_000);
    data.extend(noise(5 << 20, 7));
    let stored = zstd(&data);
    let r = b.restore("big.bin.zst", &stored, None, u64::MAX).await;
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.copied_bytes, 0, "stored bytes copied before zstd");
    assert_eq!(std::fs::read(b.scratch.join("big.bin")).unwrap(), data);

    let raw = noise(3 << 20, 11);
    let r = b.restore("plain.bin", &raw, None, u64::MAX).await;
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(
        r.copied_bytes,
        raw.len() as u64,
        "a raw object is copied once"
    );
    assert_eq!(std::fs::read(b.scratch.join("plain.bin")).unwrap(), raw);
}

/// Files at and around the copy buffer's size (whole buffers are filled before each
/// write): every byte lands, in order, in the right file.
#[tokio::test]
async fn files_around_the_buffer_size_are_written_intact() {
    let b = bench();
    let sizes = [
        0usize,
        1,
        1 << 20,
        (1 << 20) + 1,
        (1 << 20) - 1,
        (5 << 20) + 123,
    ];
    let mut t = Vec::new();
    let mut expected = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let name = format!("f{i}.bin");
        let data = noise(*size, i as u64 + 100);
        raw_entry(&mut t, name.as_bytes(), tar::EntryType::Regular, b"", &data);
        expected.push((name, data));
    }
    let r = b
        .restore("files.tar.zst", &zstd(&finish_tar(t)), None, u64::MAX)
        .await;
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.files, sizes.len() as u64);
    for (name, data) in expected {
        assert_eq!(
            std::fs::read(b.scratch.join(&name)).unwrap(),
            data,
            "{name}"
        );
    }
}

/// Whether the file system under `dir` takes direct I/O, asked the way the writer asks.
fn takes_direct_io(dir: &Path) -> bool {
    let file = std::fs::File::create(dir.join(".probe")).unwrap();
    let mut flags = rustix::fs::fcntl_getfl(&file).unwrap();
    flags.insert(rustix::fs::OFlags::DIRECT);
    let ok = rustix::fs::fcntl_setfl(&file, flags).is_ok();
    std::fs::remove_file(dir.join(".probe")).unwrap();
    ok
}

/// The writer thread, and direct I/O for whole buffers, put every byte at its offset: the same files with direct I/O on
/// and off, for sizes around the buffer, a multi-buffer object, and a hard link read back
/// from a file whose last writes were still queued.
#[tokio::test]
async fn direct_and_buffered_writes_restore_the_same_bytes() {
    let sizes = [
        0usize,
        1,
        4095,
        4096,
        1 << 20,
        (1 << 20) + 1,
        (3 << 20) + 4096,
        (7 << 20) + 123,
    ];
    let mut t = Vec::new();
    let mut expected = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let name = format!("f{i}.bin");
        let data = noise(*size, i as u64 + 200);
        raw_entry(&mut t, name.as_bytes(), tar::EntryType::Regular, b"", &data);
        expected.push((name, data));
    }
    raw_entry(&mut t, b"link.bin", tar::EntryType::Link, b"f7.bin", b"");
    expected.push(("link.bin".into(), expected[7].1.clone()));
    let archive = zstd(&finish_tar(t));
    let mut single = b"text-like first half\n".repeat(200_000);
    single.extend(noise(6 << 20, 3));
    // The first SMALL bytes are written by the decoder, the rest in whole buffers and a tail.
    let whole_buffers = ((single.len() - sink::SMALL) / sink::BUFFER * sink::BUFFER) as u64;
    for direct_io in [false, true] {
        let mut b = bench();
        b.direct_io = direct_io;
        let r = b.restore("files.tar.zst", &archive, None, u64::MAX).await;
        assert!(r.findings.is_empty(), "{direct_io}: {:?}", r.findings);
        assert_eq!(r.files, expected.len() as u64);
        for (name, data) in &expected {
            let got = std::fs::read(b.scratch.join(name)).unwrap();
            assert!(got == *data, "{name} differs (direct_io {direct_io})");
        }
        let r = b
            .restore("single.bin.zst", &zstd(&single), None, u64::MAX)
            .await;
        assert!(r.findings.is_empty(), "{direct_io}: {:?}", r.findings);
        assert!(std::fs::read(b.scratch.join("single.bin")).unwrap() == single);
        // Only whole buffers go past the page cache, and only when asked for and possible.
        assert_eq!(r.direct_bytes % sink::BUFFER as u64, 0);
        assert!(r.direct_bytes <= single.len() as u64);
        if !direct_io {
            assert_eq!(r.direct_bytes, 0, "direct I/O used although off");
        } else if takes_direct_io(&b.scratch) {
            assert_eq!(
                r.direct_bytes, whole_buffers,
                "direct I/O on and supported: every whole buffer goes through it"
            );
        } else {
            eprintln!("the scratch file system refuses direct I/O: the fallback was tested");
            assert_eq!(r.direct_bytes, 0);
        }
    }
}

/// A local object is hashed from a read of its own: when the decoder stops on bad data
/// early, the stored digest still covers every stored byte, as over the network.
#[tokio::test]
async fn a_corrupt_local_object_is_still_hashed_to_its_end() {
    let b = bench();
    let mut stored = zstd(&noise(6 << 20, 5));
    // The first block's header and data: the decoder stops in the first chunk.
    for byte in &mut stored[12..64] {
        *byte ^= 0xA5;
    }
    let r = b.restore("bad.bin.zst", &stored, None, u64::MAX).await;
    assert_eq!(kinds(&r), [FindingKind::CorruptArchive], "{:?}", r.findings);
    assert_eq!(r.stored_bytes, stored.len() as u64);
    assert_eq!(
        r.digests[&Algorithm::Sha256],
        hex::encode(sha2::Sha256::digest(&stored))
    );
}

/// Chunks of more than half the in-flight budget: the decoder gives the spent chunk's share
/// back before waiting for the next, or the next would wait for it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_over_half_the_budget_does_not_wait_for_itself() {
    let b = bench();
    let data = noise(5 * IN_FLIGHT_BYTES / 2, 9);
    let object = PlannedObject {
        identity: "size:0,modified:unknown".into(),
        last_verified: None,
        overdue: false,
        key: "big.bin".into(),
        path_in_set: "big.bin".into(),
        size: data.len() as u64,
        format: Format::Raw,
        checksums: Vec::new(),
    };
    let spec = RestoreSpec {
        set_dir: crate::folder::Folder::open(&b.scratch).unwrap(),
        algorithms: BTreeSet::new(),
        in_archive: None,
        limits: Limits {
            max_restored_bytes: u64::MAX,
            max_zstd_window: 128 << 20,
            direct_io: false,
            stall_timeout: Duration::from_secs(30),
        },
        deadline: None,
    };
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let decoder = tokio::task::spawn_blocking(move || decode::decode(rx, &object, &spec));
    let budget = Arc::new(Semaphore::new(IN_FLIGHT_BYTES));
    let piece = IN_FLIGHT_BYTES * 3 / 4;
    let fed = data.clone();
    let feed = async move {
        for bytes in fed.chunks(piece) {
            let share = bytes.len().min(IN_FLIGHT_BYTES) as u32;
            let permit = budget.clone().acquire_many_owned(share).await.unwrap();
            let chunk = Chunk {
                bytes: Bytes::copy_from_slice(bytes),
                _budget: Arc::new(permit),
            };
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
    };
    let decoded = tokio::time::timeout(Duration::from_secs(20), async move {
        feed.await;
        decoder.await
    })
    .await
    .expect("the restore waited for its own chunk's budget");
    let out = decoded.unwrap().map_err(|s| format!("{s:?}")).unwrap();
    assert_eq!(out.decoded.restored_bytes, data.len() as u64);
    assert_eq!(std::fs::read(b.scratch.join("big.bin")).unwrap(), data);
}

/// A hash read that stops moving (a dead mount) fails after the stall timeout instead of
/// holding the restore; a slow one that moves is waited for.
#[tokio::test]
async fn a_stalled_hash_read_fails_after_the_stall_timeout() {
    let (_tx, rx) = oneshot::channel();
    let progress = AtomicU64::new(0);
    let started = Instant::now();
    let e = await_hasher(rx, &progress, Duration::from_millis(50))
        .await
        .err()
        .expect("a stalled hash read was waited for");
    assert!(e.contains("stalled"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let (tx, rx) = oneshot::channel();
    let progress = Arc::new(AtomicU64::new(0));
    let moving = progress.clone();
    let slow = std::thread::spawn(move || {
        for i in 1..=6 {
            std::thread::sleep(Duration::from_millis(30));
            moving.store(i, Ordering::Relaxed);
        }
        let _ = tx.send(Ok(Hashed {
            digests: BTreeMap::new(),
            local_bytes: Some(6),
        }));
    });
    let hashed = await_hasher(rx, &progress, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(hashed.local_bytes, Some(6));
    slow.join().unwrap();
}
