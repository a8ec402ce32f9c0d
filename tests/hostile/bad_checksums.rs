//! Checksum files that cannot be trusted, and sets that are not what their manifest says.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// `sums/<case>/2026-11-25/` with `data.zst` and the given checksum files; a policy `case`.
fn case(sb: &Sandbox, case: &str, stored: &[u8], files: &[(&str, Vec<u8>)]) {
    let folder = format!("sums/{case}/2026-11-25");
    sb.put(&format!("{folder}/data.zst"), stored);
    for (name, content) in files {
        sb.put(&format!("{folder}/{name}"), content);
    }
    sb.policy(case, &format!("sums/{case}/"), "");
}

#[test]
fn untrustworthy_checksum_files_are_findings_never_passes() {
    let mut sb = Sandbox::new("");
    let stored = common::zstd(&common::text(4, 200_000));
    let digest = common::sha256_hex(&stored);
    let line = |d: &str, name: &str| format!("{d}  {name}\n").into_bytes();

    case(
        &sb,
        "good",
        &stored,
        &[("SHA256SUMS", line(&digest, "data.zst"))],
    );
    case(
        &sb,
        "sidecar-for-another-file",
        &stored,
        &[("data.zst.sha256", line(&digest, "other.zst"))],
    );
    case(
        &sb,
        "upper-case-hex",
        &stored,
        &[("SHA256SUMS", line(&digest.to_uppercase(), "data.zst"))],
    );
    case(
        &sb,
        "wrong-length",
        &stored,
        &[("SHA256SUMS", line(&digest[..63], "data.zst"))],
    );
    let mut junk = line(&digest, "data.zst");
    junk.extend_from_slice(b"\x00\xff\xfe\x01 binary junk\n");
    case(&sb, "binary-junk", &stored, &[("SHA256SUMS", junk)]);
    // 100 MB on one line, then the right digest: too large to be a checksum file.
    let mut huge = vec![b'a'; 100_000_000];
    huge.push(b'\n');
    huge.extend(line(&digest, "data.zst"));
    case(&sb, "hundred-mb-line", &stored, &[("SHA256SUMS", huge)]);
    let mut twice = line(&digest, "data.zst");
    twice.extend(line(&"0".repeat(64), "data.zst"));
    case(&sb, "duplicate-names", &stored, &[("SHA256SUMS", twice)]);
    case(
        &sb,
        "dot-dot-name",
        &stored,
        &[("SHA256SUMS", line(&digest, "../../other/data.zst"))],
    );
    case(
        &sb,
        "crlf",
        &stored,
        &[("SHA256SUMS", format!("{digest}  data.zst\r\n").into_bytes())],
    );
    let mut more = line(&digest, "data.zst");
    more.extend(line(&"1".repeat(64), "gone.zst"));
    case(
        &sb,
        "lists-a-missing-file",
        &stored,
        &[("SHA256SUMS", more)],
    );
    case(&sb, "no-checksum", &stored, &[]);

    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    for name in ["good", "upper-case-hex", "crlf"] {
        failures.record(out.passes(name));
    }
    for name in [
        "sidecar-for-another-file",
        "wrong-length",
        "binary-junk",
        "hundred-mb-line",
        "duplicate-names",
        "dot-dot-name",
    ] {
        failures.record(out.fails_with(name, "invalid_checksum_file"));
        for m in out.messages(name, "invalid_checksum_file") {
            failures.check(m.contains("sums/"), || {
                format!("{name}: the finding names the file: {m}")
            });
        }
    }
    failures.record(out.fails_with("lists-a-missing-file", "missing_file"));
    let missing = out.messages("lists-a-missing-file", "missing_file");
    failures.check(
        missing.first().is_some_and(|m| m.contains("gone.zst")),
        || format!("the missing name is in the finding: {missing:?}"),
    );
    failures.record(out.fails_with("no-checksum", "missing_checksum"));
    failures.assert_none_for(&out);
}
