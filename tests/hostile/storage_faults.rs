//! Storage that fails: absent at start, cut mid-object (resumed) or at once (given up),
//! stalled past the timeout, flaky
//! 503s, wrong credentials, an object deleted after the listing. Faults come from the
//! test's proxy (tests/hostile/proxy.rs) in front of moto's S3 server, on loopback. One
//! run holds every case: each policy gets the right verdict and the others are unaffected.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common;
use crate::guard::Sandbox;
use crate::proxy::{Fault, Proxy};

fn s3_policy(sb: &Sandbox, name: &str, bucket: &str, endpoint: &str) {
    let text = format!(
        "name: {name}\nclient: Hostile\nstorage:\n  service: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: ${{env:AWS_ACCESS_KEY_ID}}\n  secret_access_key: ${{env:RD_HOSTILE_S3_SECRET}}\nbackups:\n  prefix: data/\nchecksums:\n  required: true\ntargets:\n  rpo: 3650d\n  rto: 1h\n"
    );
    sb.raw_policy(&format!("{name}.yaml"), text.as_bytes());
}

#[test]
fn storage_faults_end_in_the_right_verdicts() {
    let moto = common::s3_endpoint();
    // 2 MiB that zstd cannot shrink: a cut at 64 KiB cannot be retried to the end.
    let object = common::zstd(&common::noise(5, 2 << 20));
    let stage = tempfile::tempdir().unwrap();
    common::put_with_sums(stage.path(), "data/2026-11-25", "data.zst", &object);
    let bucket = common::bucket_name("faults");
    common::upload(&bucket, stage.path());

    let mut sb = Sandbox::new("storage:\n  timeout: 3s\n  stall_timeout: 2s\n  retries: 2\n");
    common::put_with_sums(&sb.bucket, "fs/2026-11-25", "db.zst", &object);
    sb.policy("fs-good", "fs/", "");
    s3_policy(&sb, "s3-good", &bucket, &moto);

    let closed = crate::guard::closed_port();
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
    assert_eq!(out.code, 1, "{}", out.stderr);
    out.passes("fs-good");
    out.passes("s3-good");
    out.passes("s3-flaky");
    // A cut mid-object is resumed from where it stopped (ranged reads) and the digest of
    // the whole object still matches.
    out.passes("s3-cut");
    assert!(
        cut.faulted.load(Ordering::SeqCst) >= 2,
        "the transfer was never cut"
    );
    assert!(
        flaky.faulted.load(Ordering::SeqCst) >= 1,
        "the flaky proxy never answered 503"
    );
    for name in [
        "s3-absent",
        "s3-cut-dead",
        "s3-stalled",
        "s3-forbidden",
        "s3-deleted",
    ] {
        out.fails_with(name, "storage_error");
    }
    assert!(stalled.faulted.load(Ordering::SeqCst) >= 1);
    let joined = |name: &str| {
        out.messages(name, "storage_error")
            .join(" | ")
            .to_lowercase()
    };
    for name in [
        "s3-absent",
        "s3-cut-dead",
        "s3-stalled",
        "s3-forbidden",
        "s3-deleted",
    ] {
        eprintln!("{name}: {}", joined(name));
    }
    assert!(
        joined("s3-stalled").contains("timed out") || joined("s3-stalled").contains("timeout"),
        "{}",
        joined("s3-stalled")
    );
    assert!(
        joined("s3-forbidden").contains("denied") || joined("s3-forbidden").contains("permission"),
        "{}",
        joined("s3-forbidden")
    );
    assert!(
        joined("s3-deleted").contains("listed but is gone"),
        "{}",
        joined("s3-deleted")
    );
    // Wrong credentials are not retried into a storm: the listing fails at once.
    let tries = forbidden.requests.load(Ordering::SeqCst);
    assert!(tries <= 2, "{tries} requests against a 403");
}
