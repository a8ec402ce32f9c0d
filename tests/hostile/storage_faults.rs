//! Storage that fails: absent at start, cut mid-object (resumed) or at once (given up),
//! stalled past the timeout, flaky
//! 503s, wrong credentials, an object deleted after the listing. Faults come from the
//! test's proxy (tests/hostile/proxy.rs) in front of moto's S3 server, on loopback. One
//! run holds every case: each policy gets the right verdict and the others are unaffected.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{self, Failures};
use crate::guard::Sandbox;
use crate::proxy::{Fault, Proxy};

fn s3_policy(sb: &Sandbox, name: &str, bucket: &str, endpoint: &str) {
    let storage = common::s3_storage(bucket, endpoint, "RD_HOSTILE_S3_SECRET");
    let rest = "checksums:\n  required: true\ntargets:\n  rpo: 3650d\n  rto: 1h\n";
    common::write_policy(&sb.config, name, "Hostile", &storage, "data/", rest);
}

#[test]
fn storage_faults_end_in_the_right_verdicts() {
    let moto = common::s3_endpoint();
    // 2 MiB that zstd cannot shrink: a cut at 64 KiB cannot be retried to the end.
    let object = common::zstd(&common::noise(5, 2 << 20));
    let bucket = common::s3_bucket("faults", |stage| {
        common::put_with_sums(stage, "data/2026-11-25", "data.zst", &object);
    });

    let mut sb = Sandbox::new("storage:\n  timeout: 3s\n  stall_timeout: 2s\n  retries: 2\n");
    common::put_with_sums(&sb.bucket, "fs/2026-11-25", "db.zst", &object);
    sb.policy("fs-good", "fs/", "");
    s3_policy(&sb, "s3-good", &bucket, &moto);

    let closed = common::closed_port();
    s3_policy(
        &sb,
        "s3-absent",
        &bucket,
        &format!("http://127.0.0.1:{closed}"),
    );

    let cut = Proxy::start(
        &moto,
        Fault::CutAfter {
            bytes: 64 << 10,
            pattern: "data.zst".into(),
        },
    );
    s3_policy(&sb, "s3-cut", &bucket, &cut.endpoint);
    // Cut before a single byte of the answer: no progress, so retries run out.
    let dead = Proxy::start(
        &moto,
        Fault::CutAfter {
            bytes: 0,
            pattern: "data.zst".into(),
        },
    );
    s3_policy(&sb, "s3-cut-dead", &bucket, &dead.endpoint);

    let stalled = Proxy::start(
        &moto,
        Fault::Delay {
            by: Duration::from_secs(8),
            pattern: "data.zst".into(),
        },
    );
    s3_policy(&sb, "s3-stalled", &bucket, &stalled.endpoint);

    let flaky = Proxy::start(
        &moto,
        Fault::Status {
            status: 503,
            every: 2,
        },
    );
    s3_policy(&sb, "s3-flaky", &bucket, &flaky.endpoint);

    let forbidden = Proxy::start(&moto, Fault::Forbidden);
    s3_policy(&sb, "s3-forbidden", &bucket, &forbidden.endpoint);

    let gone = Proxy::start(
        &moto,
        Fault::Gone {
            pattern: "data.zst".into(),
        },
    );
    s3_policy(&sb, "s3-deleted", &bucket, &gone.endpoint);

    let out = sb.run(&["-v"]);
    assert_eq!(out.code, 1, "{out}");
    let mut failures = Failures::new();
    // A cut mid-object is resumed from where it stopped (ranged reads) and the digest of
    // the whole object still matches.
    for name in ["fs-good", "s3-good", "s3-flaky", "s3-cut"] {
        failures.record(out.passes(name));
    }
    failures.check(cut.faulted.load(Ordering::SeqCst) >= 2, || {
        "the transfer was never cut".to_string()
    });
    failures.check(flaky.faulted.load(Ordering::SeqCst) >= 1, || {
        "the flaky proxy never answered 503".to_string()
    });
    let failing = [
        "s3-absent",
        "s3-cut-dead",
        "s3-stalled",
        "s3-forbidden",
        "s3-deleted",
    ];
    for name in failing {
        failures.record(out.fails_with(name, "storage_error"));
    }
    failures.check(stalled.faulted.load(Ordering::SeqCst) >= 1, || {
        "the stalling proxy never held a response".to_string()
    });
    let joined = |name: &str| {
        out.messages(name, "storage_error")
            .join(" | ")
            .to_lowercase()
    };
    for name in failing {
        eprintln!("{name}: {}", joined(name));
    }
    for (name, says) in [
        ("s3-stalled", &["timed out", "timeout"][..]),
        ("s3-forbidden", &["denied", "permission"]),
        ("s3-deleted", &["listed but is gone"]),
    ] {
        let message = joined(name);
        failures.check(says.iter().any(|s| message.contains(s)), || {
            format!("{name}: none of {says:?} in: {message}")
        });
    }
    // Each names where (bucket, host:port) and what to check, never a library's dump: the
    // stall says which timeout and its value, the refusal the host and port.
    let stalled_at = stalled.endpoint.trim_start_matches("http://");
    for (name, says) in [
        (
            "s3-stalled",
            vec![
                format!("at {stalled_at}"),
                "storage.stall_timeout (2".into(),
            ],
        ),
        (
            "s3-absent",
            vec![format!("connection refused by 127.0.0.1:{closed}")],
        ),
        (
            "s3-forbidden",
            vec![
                "access denied".into(),
                "check the storage credentials".into(),
            ],
        ),
    ] {
        let message = joined(name);
        for said in says {
            failures.check(message.contains(&said.to_lowercase()), || {
                format!("{name}: no {said:?} in: {message}")
            });
        }
    }
    for name in failing {
        let message = joined(name);
        failures.check(
            message.contains(&format!("bucket `{bucket}`"))
                && !message.contains("request_id")
                && !message.contains('{'),
            || format!("{name}: no bucket, or a debug dump, in: {message}"),
        );
    }
    // Wrong credentials are not retried into a storm: the listing fails at once.
    let tries = forbidden.requests.load(Ordering::SeqCst);
    failures.check(tries <= 2, || format!("{tries} requests against a 403"));
    failures.assert_none_for(&out);
}
