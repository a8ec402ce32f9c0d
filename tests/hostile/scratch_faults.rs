//! A scratch folder that fills up: the object that does not fit is a `scratch_error`
//! finding, its partial file is removed, and the next object restores. On a 16 MiB tmpfs
//! mounted by tests/run.sh when it runs as root; otherwise under a 16 MiB file size limit
//! (RLIMIT_FSIZE), which the runner turns into the same finding rather than dying of
//! SIGXFSZ.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

#[test]
fn a_full_scratch_is_a_finding_and_the_other_objects_go_on() {
    let extra = "concurrency:\n  restores: 1\n";
    let (mut sb, _small) = match std::env::var_os("RESTORE_DRILL_TEST_SMALL_FS") {
        Some(fs) => {
            let dir = tempfile::tempdir_in(fs).unwrap();
            let sb = Sandbox::with_scratch(extra, Some(dir.path().join("scratch")));
            (sb, Some(dir))
        }
        None => {
            let mut sb = Sandbox::new(extra);
            sb.file_size_limit = Some(16 << 20);
            (sb, None)
        }
    };
    // 24 MiB that zstd cannot shrink: more than the filesystem holds.
    let big = common::zstd(&common::noise(9, 24 << 20));
    common::put_with_sums(&sb.bucket, "big/2026-11-25", "image.bin.zst", &big);
    sb.policy("big", "big/", "");
    let small = common::put_zst_with_sums(
        &sb.bucket,
        "small/2026-11-25",
        "db.zst",
        &common::text(2, 1 << 20),
    );
    assert!(!small.is_empty());
    sb.policy("small", "small/", "");

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.fails_with("big", "scratch_error"));
    failures.record(out.passes("small"));
    let message = out.messages("big", "scratch_error").join(" ");
    failures.check(message.contains("image.bin"), || {
        format!("the finding names the file: {message}")
    });
    failures.assert_none_for(&out);
}

/// A drill keeps a set's restored files until it ends only when scratch has room for the
/// whole set; otherwise it removes each as it is verified, as a nightly run does, and the
/// drill still passes. On the 16 MiB tmpfs: a set of 20 MiB has no room; elsewhere (no
/// tmpfs), the same set fits and is kept to the end. Either way the log says which.
#[test]
fn a_drill_keeps_files_to_its_end_only_when_scratch_has_room_for_the_set() {
    let extra = "concurrency:\n  restores: 1\n";
    let small_fs = std::env::var_os("RESTORE_DRILL_TEST_SMALL_FS");
    let (mut sb, _small) = match &small_fs {
        Some(fs) => {
            let dir = tempfile::tempdir_in(fs).unwrap();
            let sb = Sandbox::with_scratch(extra, Some(dir.path().join("scratch")));
            (sb, Some(dir))
        }
        None => (Sandbox::new(extra), None),
    };
    // Four objects of 5 MiB stored as they are: their restored size is known before.
    let parts: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("part-{i}.bin"), common::noise(40 + i, 5 << 20)))
        .collect();
    common::put_set(&sb.bucket, "big/2026-11-25", &parts);
    sb.policy("big", "big/", "");
    let json = sb.root.join("results.json");
    let json = json.to_str().unwrap().to_string();
    let out = sb.exec(
        &[
            "drill",
            "big",
            "--operator",
            "tester",
            "-v",
            "--json",
            &json,
        ],
        false,
    );
    assert_eq!(out.code, 0, "{out}");
    let mut failures = Failures::new();
    failures.record(out.passes("big"));
    let said = if small_fs.is_some() {
        "scratch has no room for the whole set"
    } else {
        "restored files kept until the run ends"
    };
    failures.check(out.stderr.contains(said), || {
        format!("the log says `{said}`: {}", out.stderr)
    });
    failures.assert_none_for(&out);
}
