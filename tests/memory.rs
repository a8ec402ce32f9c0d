//! Regression guard for flat memory, timing nothing: restoring an object several times
//! larger than the bound keeps the process's peak RSS under it, as GNU time (Debian's `time`)
//! reports it.

mod common;

use common::{put, sha256_hex};

/// Peak resident memory allowed for one restore, whatever the object's size.
const BOUND_KIB: i64 = 64 * 1024;

#[test]
fn restoring_a_large_object_keeps_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    // 256 MiB of pseudo-random bytes at zstd level 1: four times the bound, nothing to gain
    // from compression, so every byte crosses the pipeline.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..256 {
        common::fill_noise(&mut state, &mut block);
        std::io::Write::write_all(&mut encoder, &block).unwrap();
    }
    let object = encoder.finish().unwrap();
    let bucket = dir.path().join("bucket");
    put(&bucket, "x/2026-11-25/big.zst", &object);
    put(
        &bucket,
        "x/2026-11-25/SHA256SUMS",
        format!("{}  big.zst\n", sha256_hex(&object)).as_bytes(),
    );
    drop(object);
    let config = common::write_settings(dir.path(), "");
    common::write_fs_policy(
        &config,
        "big",
        "C",
        &bucket,
        "x/",
        "targets:\n  rpo: 3650d\n  rto: 1h\n",
    );
    let time = std::path::Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time is missing: install Debian's `time` package"
    );
    let report = dir.path().join("rss");
    let out = std::process::Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(assert_cmd::cargo::cargo_bin("restore-drill"))
        .args(["run", "--config-dir"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let peak_kib: i64 = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(peak_kib > 1024, "implausible peak RSS {peak_kib} KiB");
    assert!(
        peak_kib < BOUND_KIB,
        "peak RSS {peak_kib} KiB for a 256 MiB object, bound {BOUND_KIB} KiB"
    );
}
