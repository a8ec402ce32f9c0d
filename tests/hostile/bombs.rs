//! Decompression bombs: a small .zst that expands far past `limits.max_restored_bytes`, and
//! a tar whose entries add up past it. Each stops at the limit with `size_limit_exceeded`,
//! leaves nothing in scratch, and the process's memory stays under the performance bound.

use std::io::{Read, Write};

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// The limit set for these cases, and the peak RSS the work may add to what the binary itself
/// takes to start (measured with `--version`: a debug build with the PDF typesetter linked
/// in starts at about 27 MiB, which is no bomb's doing).
const LIMIT_MIB: u64 = 64;
const RSS_WORK_KIB: i64 = 52 * 1024;

fn zeros_zst(bytes: u64) -> Vec<u8> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    std::io::copy(&mut std::io::repeat(0).take(bytes), &mut encoder).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn bombs_stop_at_the_limit_with_flat_memory() {
    let mut sb = Sandbox::new(&format!("limits:\n  max_restored_bytes: {LIMIT_MIB}MiB\n"));
    let good = common::zstd(&common::text(1, 1 << 20));
    common::put_with_sums(&sb.bucket, "good/2026-11-25", "db.zst", &good);
    sb.policy("good", "good/", "");

    // 512 MiB of zeros: eight times the limit from a few dozen KiB.
    let bomb = zeros_zst(512 << 20);
    assert!(bomb.len() < 1 << 20, "the bomb is {} bytes", bomb.len());
    common::put_with_sums(&sb.bucket, "zst-bomb/2026-11-25", "bomb.zst", &bomb);
    sb.policy("zst-bomb", "zst-bomb/", "");

    // Four 32 MiB entries: each below the limit, together twice over it.
    let mut builder = tar::Builder::new(zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap());
    for i in 0..4 {
        let mut header = tar::Header::new_gnu();
        header.set_size(32 << 20);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(
                &mut header,
                format!("part-{i}"),
                std::io::repeat(0).take(32 << 20),
            )
            .unwrap();
    }
    let mut encoder = builder.into_inner().unwrap();
    encoder.flush().unwrap();
    let tar_bomb = encoder.finish().unwrap();
    common::put_with_sums(
        &sb.bucket,
        "tar-bomb/2026-11-25",
        "parts.tar.zst",
        &tar_bomb,
    );
    sb.policy("tar-bomb", "tar-bomb/", "");

    // The `archive` fuzz target's find (oom-2ebaa4344a9bc718): 98 bytes whose frame header
    // asks for a 1.4 GiB window, which the decoder used to allocate up front.
    let mut window = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00];
    window.extend([0xA3; 91]);
    window.extend([0xB0, 0x00]);
    common::put_with_sums(&sb.bucket, "window-bomb/2026-11-25", "x.zst", &window);
    sb.policy("window-bomb", "window-bomb/", "");

    let out = sb.run_measured(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.passes("good"));
    for name in ["zst-bomb", "tar-bomb", "window-bomb"] {
        failures.record(out.fails_with(name, "size_limit_exceeded"));
    }
    for name in ["zst-bomb", "tar-bomb"] {
        let restored = out.policy(name)["objects"][0]["restored_bytes"].as_u64();
        failures.check(restored.is_some_and(|r| r <= LIMIT_MIB << 20), || {
            format!("{name}: {restored:?} bytes restored past the limit")
        });
    }
    let peak = out.peak_rss_kib.unwrap();
    let own = common::own_rss_kib();
    failures.check(peak < own + RSS_WORK_KIB, || {
        format!("peak RSS {peak} KiB during the bombs, {own} KiB of it the binary's own")
    });
    failures.assert_none_for(&out);
}
