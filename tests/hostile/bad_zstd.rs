//! Bad zstd objects: each gives its named finding and fails its policy; the good policy in
//! the same run still passes.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// Stores `bytes` as `zstd/<case>/2026-11-25/data.zst` with a SHA256SUMS over `sums_of`,
/// and a policy named `case` over it.
pub fn case(sb: &Sandbox, case: &str, bytes: &[u8], sums_of: &[u8]) {
    let folder = format!("zstd/{case}/2026-11-25");
    sb.put(&format!("{folder}/data.zst"), bytes);
    sb.put(
        &format!("{folder}/SHA256SUMS"),
        format!("{}  data.zst\n", common::sha256_hex(sums_of)).as_bytes(),
    );
    sb.policy(case, &format!("zstd/{case}/"), "");
}

#[test]
fn every_damaged_zstd_object_is_caught_and_the_run_goes_on() {
    let mut sb = Sandbox::new("");
    let content = common::text(7, 1 << 20);
    let good = common::zstd(&content);
    case(&sb, "good", &good, &good);

    // One flipped byte, the checksum file written before the damage.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    case(&sb, "flipped-byte", &flipped, &good);
    // The same damage with the checksum file agreeing: zstd's own checks must catch it.
    case(&sb, "flipped-byte-unchecked", &flipped, &flipped);

    let truncated = &good[..good.len() * 2 / 3];
    case(&sb, "truncated", truncated, truncated);

    // The frame's content checksum (its last four bytes) is wrong.
    let mut wrong_sum = good.clone();
    let n = wrong_sum.len();
    wrong_sum[n - 1] ^= 0xFF;
    case(&sb, "wrong-content-checksum", &wrong_sum, &wrong_sum);

    let garbage = common::noise(3, 64 << 10);
    case(&sb, "garbage", &garbage, &garbage);

    case(&sb, "empty", b"", b"");

    // Frame header asking for a 4 GiB window (window log 32), then one raw byte.
    let wide = [
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
    case(&sb, "window-too-wide", &wide, &wide);

    // Two frames back to back are valid zstd: both are decoded.
    let second = common::text(8, 300_000);
    let mut two = common::zstd(&content);
    two.extend(common::zstd(&second));
    case(&sb, "two-frames", &two, &two);

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    failures.record(out.passes("good"));
    failures.record(out.passes("two-frames"));
    let restored = &out.policy("two-frames")["objects"][0]["restored_bytes"];
    failures.check_eq(restored, (content.len() + second.len()) as u64, || {
        "two-frames: both frames restored".to_string()
    });
    for (name, kind) in [
        ("flipped-byte", "checksum_mismatch"),
        ("flipped-byte-unchecked", "corrupt_archive"),
        ("truncated", "corrupt_archive"),
        ("wrong-content-checksum", "corrupt_archive"),
        ("garbage", "corrupt_archive"),
        ("empty", "corrupt_archive"),
        ("window-too-wide", "size_limit_exceeded"),
    ] {
        failures.record(out.fails_with(name, kind));
    }
    for name in ["truncated", "garbage", "empty"] {
        let messages = out.messages(name, "corrupt_archive");
        failures.check(messages.iter().all(|m| m.contains("zstd/")), || {
            format!("{name}: the finding names the object: {messages:?}")
        });
    }
    failures.assert_none_for(&out);
}
