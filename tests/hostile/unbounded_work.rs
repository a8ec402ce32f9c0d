//! One bad object must not make unbounded work: a checksum manifest naming hundreds of
//! thousands of files the set does not have ends the run promptly, with a few findings
//! listed and the rest counted truly, and the mail and the history record stay small.

use crate::common::{self, Failures};
use crate::guard::{Sandbox, walk};

/// Names in the manifest that the set lacks: each would be a `missing_file` finding.
const NAMES: usize = 200_000;

#[test]
fn unbounded_work_from_a_huge_checksum_file_is_capped_and_counted() {
    let mut sb = Sandbox::new("");
    let stored = common::zstd(&common::text(5, 50_000));
    let digest = common::sha256_hex(&stored);
    // 15 MB, under the 16 MiB a checksum file may have: read and trusted, not refused.
    let mut sums = format!("{digest}  data.zst\n").into_bytes();
    for i in 0..NAMES {
        sums.extend_from_slice(format!("{digest}  g{i:06}\n").as_bytes());
    }
    sb.put("huge/2026-11-25/data.zst", &stored);
    sb.put("huge/2026-11-25/SHA256SUMS", &sums);
    sb.policy("huge", "huge/", "");
    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");

    let mut failures = Failures::new();
    failures.record(out.fails_with("huge", "missing_file"));
    let findings = out.policy("huge")["findings"].as_array().unwrap();
    failures.check(findings.len() <= 20, || {
        format!("{} findings listed, at most 20 expected", findings.len())
    });
    let counted = format!(
        "and {} more missing_file findings for this object, {} in all",
        thousands(NAMES - 10),
        thousands(NAMES)
    );
    let messages = out.messages("huge", "missing_file");
    failures.check(messages.iter().any(|m| m.contains(&counted)), || {
        format!("no finding says {counted:?}: {messages:#?}")
    });

    // The mail: small, and it says what it left out.
    let outbox = walk(&sb.root.join("state/outbox"));
    failures.check(!outbox.is_empty(), || "no mail written".into());
    for eml in &outbox {
        let size = std::fs::metadata(eml).unwrap().len();
        failures.check(size < 512 * 1024, || {
            format!("{} is {size} bytes", eml.display())
        });
        let text = String::from_utf8_lossy(&std::fs::read(eml).unwrap()).into_owned();
        failures.check(text.contains(&thousands(NAMES - 10)), || {
            format!("{} does not carry the count", eml.display())
        });
    }

    // The history: the record is small and keeps the true count.
    let history = sb.root.join("state/history.sqlite3");
    let stored_bytes: u64 = walk(&sb.root.join("state"))
        .iter()
        .filter(|p| p.to_string_lossy().starts_with(&*history.to_string_lossy()))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    failures.check(stored_bytes < 2 << 20, || {
        format!("the history holds {stored_bytes} bytes")
    });
    let db = rusqlite::Connection::open(&history).unwrap();
    let (rows, with_count): (i64, i64) = db
        .query_row(
            "SELECT count(*), sum(message LIKE ?1) FROM findings WHERE policy = 'huge'",
            [format!("%{counted}%")],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    failures.check(rows <= 20 && with_count == 1, || {
        format!("history: {rows} findings, {with_count} with the count")
    });
    failures.assert_none_for(&out);
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
