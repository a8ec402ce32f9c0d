//! Restores of crafted objects from a real fs operator into a temporary scratch folder.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use sha2::Digest as _;

use super::*;
use crate::config::StorageSpec;
use crate::plan::Format;
use crate::secret::ConfigValue;

/// A tar entry with any name bytes, written header-first so no library check cleans it.
fn raw_entry(out: &mut Vec<u8>, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn finish_tar(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

struct Bench {
    _dir: tempfile::TempDir,
    bucket: std::path::PathBuf,
    scratch: std::path::PathBuf,
    op: Operator,
    /// `scratch_direct_io` for the restores.
    direct_io: bool,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let bucket = dir.path().join("bucket");
    let scratch = dir.path().join("scratch/set");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let spec = StorageSpec {
        service: "fs".into(),
        options: BTreeMap::from([(
            "root".to_string(),
            ConfigValue::Plain(bucket.to_string_lossy().into()),
        )]),
    };
    let op = crate::storage::operator(&spec, &Default::default()).unwrap();
    Bench {
        _dir: dir,
        bucket,
        scratch,
        op,
        direct_io: false,
    }
}

impl Bench {
    async fn restore(
        &self,
        key: &str,
        bytes: &[u8],
        in_archive: Option<&str>,
        limit: u64,
    ) -> Restored {
        std::fs::write(self.bucket.join(key), bytes).unwrap();
        let object = PlannedObject {
            key: key.into(),
            path_in_set: key.into(),
            size: bytes.len() as u64,
            format: Format::from_name(key),
            checksums: Vec::new(),
        };
        let spec = RestoreSpec {
            set_dir: self.scratch.clone(),
            algorithms: [Algorithm::Sha256].into(),
            in_archive: in_archive.map(str::to_string),
            limits: Limits {
                max_restored_bytes: limit,
                max_zstd_window: 128 << 20,
                direct_io: self.direct_io,
                stall_timeout: std::time::Duration::from_secs(30),
            },
        };
        restore_object(&self.op, &object, &spec, &|_| {}).await
    }
}

/// The object was stopped for its frame's window alone, and the finding names the window.
fn assert_window_refused(r: &Restored, window: &str) {
    assert_eq!(
        kinds(r),
        [FindingKind::SizeLimitExceeded],
        "{:?}",
        r.findings
    );
    assert!(
        r.findings[0].message.contains(window),
        "{}",
        r.findings[0].message
    );
}

fn kinds(r: &Restored) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

/// Every path below `root`, for checking that nothing landed elsewhere.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn zstd_object_restores_with_its_digest() {
    let b = bench();
    let data = b"hello restore\n".repeat(10_000);
    let stored = zstd(&data);
    let r = b.restore("db.sql.zst", &stored, None, u64::MAX).await;
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(std::fs::read(b.scratch.join("db.sql")).unwrap(), data);
    assert_eq!(r.restored_bytes, data.len() as u64);
    assert_eq!(r.stored_bytes, stored.len() as u64);
    assert_eq!(
        r.digests[&Algorithm::Sha256],
        hex::encode(sha2::Sha256::digest(&stored))
    );
}

#[tokio::test]
async fn two_concatenated_frames_are_both_decoded() {
    let b = bench();
    let mut stored = zstd(b"first ");
    stored.extend(zstd(b"second"));
    let r = b.restore("x.zst", &stored, None, u64::MAX).await;
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(std::fs::read(b.scratch.join("x")).unwrap(), b"first second");
}

#[tokio::test]
async fn truncated_zstd_frame_is_corrupt_archive() {
    let b = bench();
    let stored = zstd(&b"0123456789".repeat(50_000));
    let r = b
        .restore("t.zst", &stored[..stored.len() / 2], None, u64::MAX)
        .await;
    assert_eq!(kinds(&r), [FindingKind::CorruptArchive]);
    assert!(
        !b.scratch.join("t").exists(),
        "a partial file was left behind"
    );
}

#[tokio::test]
async fn garbage_and_empty_objects_named_zst_are_corrupt() {
    let b = bench();
    let r = b
        .restore("g.zst", b"this is not zstd at all", None, u64::MAX)
        .await;
    assert_eq!(kinds(&r), [FindingKind::CorruptArchive]);
    assert!(r.findings[0].message.contains("magic"));
    let r = b.restore("e.zst", b"", None, u64::MAX).await;
    assert_eq!(kinds(&r), [FindingKind::CorruptArchive]);
}

#[tokio::test]
async fn frame_needing_a_window_over_2_gib_is_refused() {
    let b = bench();
    // Frame header: magic, descriptor 0 (no size, no checksum), window descriptor
    // exponent 22 (window log 32, 4 GiB), then one last raw block of one byte.
    let frame = [
        0x28,
        0xB5,
        0x2F,
        0xFD,
        0x00,
        22 << 3,
        0x09,
        0x00,
        0x00,
        b'x',
    ];
    let r = b.restore("wide.zst", &frame, None, u64::MAX).await;
    assert_window_refused(&r, "4.0 GiB window");
}

#[tokio::test]
async fn bomb_stops_at_the_limit() {
    let b = bench();
    let stored = zstd(&vec![0u8; 8 << 20]);
    let r = b.restore("bomb.zst", &stored, None, 1 << 20).await;
    assert_eq!(kinds(&r), [FindingKind::SizeLimitExceeded]);
    assert!(!b.scratch.join("bomb").exists());
}

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
async fn traversal_links_and_devices_are_refused_and_nothing_escapes() {
    let b = bench();
    let mut t = Vec::new();
    raw_entry(&mut t, b"ok.txt", tar::EntryType::Regular, b"", b"fine");
    raw_entry(&mut t, b"../escape", tar::EntryType::Regular, b"", b"x");
    raw_entry(&mut t, b"/abs/escape", tar::EntryType::Regular, b"", b"x");
    raw_entry(
        &mut t,
        b"a/../../escape2",
        tar::EntryType::Regular,
        b"",
        b"x",
    );
    raw_entry(
        &mut t,
        b"link",
        tar::EntryType::Symlink,
        b"../../outside",
        b"",
    );
    raw_entry(&mut t, b"link/through", tar::EntryType::Regular, b"", b"x");
    raw_entry(&mut t, b"hard", tar::EntryType::Link, b"../outside", b"");
    raw_entry(&mut t, b"dev", tar::EntryType::Char, b"", b"");
    raw_entry(&mut t, b"fifo", tar::EntryType::Fifo, b"", b"");
    raw_entry(&mut t, b"copy", tar::EntryType::Link, b"ok.txt", b"");
    let r = b.restore("evil.tar", &finish_tar(t), None, u64::MAX).await;
    let unsafe_count = kinds(&r)
        .iter()
        .filter(|k| **k == FindingKind::UnsafePath)
        .count();
    assert_eq!(unsafe_count, 7, "{:?}", r.findings);
    // `link/through` is written as a plain folder and file, never through a link.
    assert_eq!(tree(&b.scratch), ["copy", "link", "link/through", "ok.txt"]);
    assert_eq!(std::fs::read(b.scratch.join("copy")).unwrap(), b"fine");
    assert!(!b.scratch.parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn in_archive_manifest_is_checked_file_by_file() {
    let b = bench();
    let good = hex::encode(sha2::Sha256::digest(b"alpha"));
    let manifest = format!(
        "{good}  ./a.txt\n{}  b.txt\n{good}  gone.txt\n",
        "0".repeat(64)
    );
    let mut t = Vec::new();
    raw_entry(&mut t, b"a.txt", tar::EntryType::Regular, b"", b"alpha");
    raw_entry(&mut t, b"b.txt", tar::EntryType::Regular, b"", b"beta");
    raw_entry(&mut t, b"extra.txt", tar::EntryType::Regular, b"", b"x");
    raw_entry(
        &mut t,
        b"MANIFEST.sha256",
        tar::EntryType::Regular,
        b"",
        manifest.as_bytes(),
    );
    let r = b
        .restore(
            "m.tar.zst",
            &zstd(&finish_tar(t)),
            Some("MANIFEST.sha256"),
            u64::MAX,
        )
        .await;
    let mut found: Vec<(FindingKind, String)> = r
        .findings
        .iter()
        .map(|f| (f.kind, f.object.clone().unwrap()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (FindingKind::ChecksumMismatch, "m.tar.zst!b.txt".to_string()),
            (FindingKind::MissingFile, "m.tar.zst!gone.txt".to_string()),
            (
                FindingKind::UnexpectedFile,
                "m.tar.zst!extra.txt".to_string()
            ),
        ]
    );
    assert_eq!(r.files, 4);
}

#[tokio::test]
async fn archive_without_its_manifest_is_missing_checksum() {
    let b = bench();
    let mut t = Vec::new();
    raw_entry(&mut t, b"a.txt", tar::EntryType::Regular, b"", b"alpha");
    let r = b
        .restore("n.tar", &finish_tar(t), Some("MANIFEST.sha256"), u64::MAX)
        .await;
    assert_eq!(kinds(&r), [FindingKind::MissingChecksum]);
}

#[tokio::test]
async fn truncated_tar_is_corrupt_and_its_files_are_removed() {
    let b = bench();
    let mut t = Vec::new();
    raw_entry(&mut t, b"a.txt", tar::EntryType::Regular, b"", b"alpha");
    raw_entry(
        &mut t,
        b"big.bin",
        tar::EntryType::Regular,
        b"",
        &vec![7u8; 100_000],
    );
    let r = b.restore("cut.tar", &t[..60_000], None, u64::MAX).await;
    assert_eq!(kinds(&r), [FindingKind::CorruptArchive]);
    assert!(
        tree(&b.scratch)
            .iter()
            .all(|p| !p.ends_with(".txt") && !p.ends_with(".bin"))
    );
}

#[tokio::test]
async fn missing_object_is_a_storage_error() {
    let b = bench();
    let object = PlannedObject {
        key: "nope.zst".into(),
        path_in_set: "nope.zst".into(),
        size: 1,
        format: Format::Zstd,
        checksums: Vec::new(),
    };
    let spec = RestoreSpec {
        set_dir: b.scratch.clone(),
        algorithms: [Algorithm::Sha256].into(),
        in_archive: None,
        limits: Limits {
            max_restored_bytes: 1,
            max_zstd_window: 128 << 20,
            direct_io: false,
            stall_timeout: std::time::Duration::from_secs(30),
        },
    };
    let r = restore_object(&b.op, &object, &spec, &|_| {}).await;
    assert_eq!(kinds(&r), [FindingKind::StorageError]);
}

#[tokio::test]
async fn archives_of_one_set_with_manifests_restore_side_by_side() {
    let b = bench();
    let archive = |name: &str, body: &[u8]| {
        let digest = hex::encode(sha2::Sha256::digest(body));
        let manifest = format!("{digest}  {name}\n");
        let mut t = Vec::new();
        raw_entry(&mut t, name.as_bytes(), tar::EntryType::Regular, b"", body);
        raw_entry(
            &mut t,
            b"MANIFEST.sha256",
            tar::EntryType::Regular,
            b"",
            manifest.as_bytes(),
        );
        zstd(&finish_tar(t))
    };
    let big = vec![b'h'; 3 << 20];
    let home = archive("home.txt", &big);
    let db = archive("db.txt", b"rows");
    // Both land in the same set folder and both carry a MANIFEST.sha256 at their root.
    for _ in 0..5 {
        let (a, c) = tokio::join!(
            b.restore("home.tar.zst", &home, Some("MANIFEST.sha256"), u64::MAX),
            b.restore("db.tar.zst", &db, Some("MANIFEST.sha256"), u64::MAX)
        );
        assert!(a.findings.is_empty(), "{:?}", a.findings);
        assert!(c.findings.is_empty(), "{:?}", c.findings);
    }
    assert_eq!(std::fs::read(b.scratch.join("db.txt")).unwrap(), b"rows");
}

/// Deterministic bytes zstd cannot shrink much, so a small test object still decodes to
/// several writer buffers.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
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

/// Found by the `archive` fuzz target (artifact oom-2ebaa4344a9bc718): 98 bytes whose frame
/// header asks for a 1.375 GiB window, which the decoder allocated up front. Refused before
/// any allocation, with the numbers.
#[tokio::test]
async fn fuzz_archive_oom_2ebaa434_window_of_1_4_gib_is_refused_unallocated() {
    let b = bench();
    let mut frame = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00];
    frame.extend([0xA3; 91]);
    frame.extend([0xB0, 0x00]);
    let r = b.restore("x.zst", &frame, None, 64 << 20).await;
    assert_window_refused(&r, "1.4 GiB window");
}

#[test]
fn frame_windows_are_read_from_the_header() {
    // Window descriptor: exponent 20 (2^30), mantissa 3: 1 GiB + 3/8 GiB.
    assert_eq!(
        decode::frame_window(&[0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xA3]),
        Some((1 << 30) + 3 * (1 << 27))
    );
    // Single segment, a 2-byte content size field (value + 256).
    assert_eq!(
        decode::frame_window(&[0x28, 0xB5, 0x2F, 0xFD, 0x60, 0x10, 0x00]),
        Some(16 + 256)
    );
    assert_eq!(decode::frame_window(&[0x28, 0xB5, 0x2F, 0xFD]), None);
}

/// A restore removes only the files it made: a path another archive of the set has since
/// replaced with a file of its own is left alone.
#[test]
fn only_the_files_a_restore_created_are_removed() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.txt");
    let replaced = dir.path().join("replaced.txt");
    let gone = dir.path().join("gone.txt");
    let created: Vec<CreatedFile> = [&mine, &replaced, &gone]
        .into_iter()
        .map(|path| {
            std::fs::write(path, b"ours").unwrap();
            CreatedFile {
                path: path.clone(),
                ino: Some(std::fs::metadata(path).unwrap().ino()),
            }
        })
        .collect();
    // Another restore replaces one (a new inode) while the first is still open; one is
    // already gone.
    let _keep_inode_busy = std::fs::File::open(&replaced).unwrap();
    std::fs::remove_file(&replaced).unwrap();
    std::fs::write(&replaced, b"theirs").unwrap();
    std::fs::remove_file(&gone).unwrap();
    remove_created(&created);
    assert!(!mine.exists());
    assert_eq!(std::fs::read(&replaced).unwrap(), b"theirs");
    assert!(!gone.exists());
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
        key: "big.bin".into(),
        path_in_set: "big.bin".into(),
        size: data.len() as u64,
        format: Format::Raw,
        checksums: Vec::new(),
    };
    let spec = RestoreSpec {
        set_dir: b.scratch.clone(),
        algorithms: BTreeSet::new(),
        in_archive: None,
        limits: Limits {
            max_restored_bytes: u64::MAX,
            max_zstd_window: 128 << 20,
            direct_io: false,
            stall_timeout: Duration::from_secs(30),
        },
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
