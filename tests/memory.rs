//! Regression guards for flat memory, timing nothing: restoring an object several times
//! larger than the bound keeps the process's peak RSS under it, and each further concurrent
//! restore adds no more than its share, as GNU time (Debian's `time`) reports them.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{put, run_ok, sha256_hex};

/// Peak resident memory one restore may add, whatever the object's size, to what the binary
/// takes to start (`common::own_rss_kib`; the bound was 64 MiB in all when it started at 12).
const BOUND_KIB: i64 = 52 * 1024;
/// What each further concurrent restore may add (the performance issue's 16 MiB), plus the
/// frame's window: zstd level 1 on these objects uses a 512 KiB window.
const PER_RESTORE_KIB: i64 = 16 * 1024 + 512;

/// `mib` MiB of pseudo-random bytes at zstd level 1: nothing to gain from compression, so
/// every byte crosses the pipeline.
fn noise_zst(mib: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        common::fill_noise(&mut state, &mut block);
        std::io::Write::write_all(&mut encoder, &block).unwrap();
    }
    encoder.finish().unwrap()
}

/// A set of `objects` noise objects of `mib` MiB each with their SHA256SUMS.
fn bucket_with(dir: &Path, objects: usize, mib: usize) -> std::path::PathBuf {
    let bucket = dir.join("bucket");
    let mut sums = String::new();
    for i in 0..objects {
        let object = noise_zst(mib, 0x2545_F491_4F6C_DD1D + i as u64);
        let name = format!("part-{i}.zst");
        put(&bucket, &format!("x/2026-11-25/{name}"), &object);
        sums.push_str(&format!("{}  {name}\n", sha256_hex(&object)));
    }
    put(&bucket, "x/2026-11-25/SHA256SUMS", sums.as_bytes());
    bucket
}

/// Runs `restore-drill run` under GNU time; the run must pass. Returns the peak RSS in KiB.
fn peak_rss(dir: &Path, bucket: &Path, settings: &str) -> i64 {
    let config = common::write_settings(dir, settings);
    common::write_fs_policy(
        &config,
        "big",
        "C",
        bucket,
        "x/",
        "targets:\n  rpo: 3650d\n  rto: 1h\n",
    );
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time is missing: install Debian's `time` package"
    );
    let report = dir.join("rss");
    run_ok(
        Command::new(time)
            .args(["-f", "%M", "-o"])
            .arg(&report)
            .arg(assert_cmd::cargo::cargo_bin("restore-drill"))
            .args(["run", "--config-dir"])
            .arg(&config),
    );
    let peak_kib: i64 = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(peak_kib > 1024, "implausible peak RSS {peak_kib} KiB");
    peak_kib
}

#[test]
fn restoring_a_large_object_keeps_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    // 256 MiB: four times the bound.
    let bucket = bucket_with(dir.path(), 1, 256);
    let peak_kib = peak_rss(dir.path(), &bucket, "");
    let own = common::own_rss_kib();
    eprintln!("peak RSS for a 256 MiB object: {peak_kib} KiB, {own} KiB of it the binary's own");
    assert!(
        peak_kib < own + BOUND_KIB,
        "peak RSS {peak_kib} KiB for a 256 MiB object, bound {own} + {BOUND_KIB} KiB"
    );
}

#[test]
fn each_concurrent_restore_adds_a_bounded_share() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = bucket_with(dir.path(), 4, 48);
    let one = tempfile::tempdir().unwrap();
    let alone = peak_rss(one.path(), &bucket, "concurrency:\n  restores: 1\n");
    let four = tempfile::tempdir().unwrap();
    let together = peak_rss(four.path(), &bucket, "concurrency:\n  restores: 4\n");
    let per_restore = (together - alone) / 3;
    eprintln!("peak RSS: one at a time {alone} KiB, four at once {together} KiB");
    assert!(
        per_restore <= PER_RESTORE_KIB,
        "each further concurrent restore added {per_restore} KiB (one at a time {alone} KiB, \
         four at once {together} KiB), bound {PER_RESTORE_KIB} KiB"
    );
}

/// Many small objects cost about what their results do, not a restore pipeline each: a
/// small object starts no writer thread and takes no large buffer, and the large buffers of
/// bigger objects are reused rather than made (and zeroed) again per object.
#[test]
fn many_small_objects_do_not_pay_for_a_pipeline_each() {
    let bucket_of = |dir: &Path, objects: usize| {
        let bucket = dir.join("bucket");
        let mut sums = String::new();
        for i in 0..objects {
            let object = common::zstd(format!("small object {i}\n").as_bytes());
            let name = format!("o-{i:04}.zst");
            put(&bucket, &format!("x/2026-11-25/{name}"), &object);
            sums.push_str(&format!("{}  {name}\n", sha256_hex(&object)));
        }
        put(&bucket, "x/2026-11-25/SHA256SUMS", sums.as_bytes());
        bucket
    };
    let one = tempfile::tempdir().unwrap();
    let alone = peak_rss(one.path(), &bucket_of(one.path(), 1), "");
    let many = tempfile::tempdir().unwrap();
    let thousand = peak_rss(many.path(), &bucket_of(many.path(), 1000), "");
    eprintln!("peak RSS: one small object {alone} KiB, 1,000 of them {thousand} KiB");
    // 1,000 objects' results, records and reports take ~17-25 MiB (35 MiB once beside
    // other heavy work: more threads, more allocator arenas); allocating a writer pool
    // per object took ~70 MiB.
    assert!(
        thousand - alone <= 48 * 1024,
        "1,000 small objects took {thousand} KiB against {alone} KiB for one"
    );
}
