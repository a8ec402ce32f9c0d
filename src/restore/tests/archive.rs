//! What comes out of an object: zstd frames decoded or refused, tar entries written or
//! refused, in-archive manifests checked, limits kept, and the files of a halted restore
//! removed.

use std::path::Path;

use sha2::Digest as _;

use super::{bench, finish_tar, kinds, raw_entry, zstd};
use crate::checksum::Algorithm;
use crate::finding::FindingKind;
use crate::restore::{CreatedFile, Restored, decode, remove_created};

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
    let folder = crate::folder::Folder::open(dir.path()).unwrap();
    let mine = dir.path().join("mine.txt");
    let replaced = dir.path().join("replaced.txt");
    let gone = dir.path().join("gone.txt");
    let created: Vec<CreatedFile> = [&mine, &replaced, &gone]
        .into_iter()
        .map(|path| {
            std::fs::write(path, b"ours").unwrap();
            CreatedFile {
                root: folder.clone(),
                rel: path.file_name().unwrap().into(),
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
