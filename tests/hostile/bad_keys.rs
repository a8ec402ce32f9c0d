//! Keys that try to leave the policy's prefix: a listed key with `..` segments, their
//! percent-encoded or backslash forms, or empty segments, must never be requested (path-style
//! S3 would normalise it into a request for another bucket, with the MSP's credentials).
//! Each is an `unsafe_path` finding naming the key, and the other client's names and
//! digests appear nowhere in the first client's output, JSON, mail or history.

use std::path::Path;

use crate::common::{self, Failures};
use crate::guard::{Sandbox, walk};

/// A name and a digest only the other client's manifest holds.
const OTHER_NAME: &str = "other-client-payroll-7f3a.sql";
const OTHER_DIGEST: &str = "d1ce0ffee0ddba11c0ffeed1ce0ffee0ddba11c0ffeed1ce0ffee0ddba11aaaa";

/// Creates `bucket` on moto and puts each (key, bytes) as is, keys byte for byte (the
/// folder upload helper cannot make keys with `..` or `//`).
fn put_raw(bucket: &str, objects: &[(String, Vec<u8>)]) {
    let python = std::env::var("RESTORE_DRILL_TEST_PYTHON")
        .expect("RESTORE_DRILL_TEST_PYTHON is not set: run the S3 tests with `tests/run.sh`");
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from(
        "import sys, boto3\n\
         s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test')\n\
         s3.create_bucket(Bucket=sys.argv[2])\n",
    );
    for (i, (key, bytes)) in objects.iter().enumerate() {
        let file = dir.path().join(i.to_string());
        std::fs::write(&file, bytes).unwrap();
        script.push_str(&format!(
            "s3.put_object(Bucket=sys.argv[2], Key={key:?}, Body=open({:?}, 'rb').read())\n",
            file.display().to_string()
        ));
    }
    let status = std::process::Command::new(python)
        .arg("-c")
        .arg(&script)
        .arg(common::s3_endpoint())
        .arg(bucket)
        .status()
        .unwrap();
    assert!(status.success(), "uploading to {bucket} failed");
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("rd-{name}-{}-{nanos:x}", std::process::id())
}

/// The hostile keys below `a/2026-11-25/` that lead to `other`'s `db/2026-11-25/`.
fn hostile_keys(other: &str) -> Vec<String> {
    vec![
        format!("a/2026-11-25/../../../{other}/db/2026-11-25/SHA256SUMS"),
        format!("a/2026-11-25/%2e%2e/%2E%2E/%2e%2e/{other}/db/2026-11-25/SHA256SUMS"),
        format!("a/2026-11-25/..\\..\\..\\{other}\\db\\2026-11-25\\SHA256SUMS"),
        format!("a/2026-11-25/..%2f..%2F..%5c{other}/db/2026-11-25/SHA256SUMS"),
        format!("a/2026-11-25//../../{other}/db/2026-11-25/SHA256SUMS"),
        // An object in the escaping folder: its manifest above would cover it.
        format!("a/2026-11-25/../../../{other}/db/2026-11-25/dump.sql"),
    ]
}

/// Every file below `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    walk(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            std::fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn keys_that_leave_the_prefix_are_unsafe_paths_never_requested() {
    let object = common::zstd(&common::text(9, 50_000));
    let digest = common::sha256_hex(&object);
    let sums = format!("{digest}  data.zst\n").into_bytes();
    let other_sums = format!("{OTHER_DIGEST}  {OTHER_NAME}\n").into_bytes();

    // The other client's bucket, readable with the same (MSP) credentials.
    let other = unique("other");
    put_raw(
        &other,
        &[
            ("db/2026-11-25/SHA256SUMS".into(), other_sums.clone()),
            (format!("db/2026-11-25/{OTHER_NAME}"), b"payroll".to_vec()),
            (
                "db/2026-11-25/dump.sql".into(),
                b"the other client's dump\n".to_vec(),
            ),
        ],
    );
    let bucket = unique("keys");
    let mut objects = vec![
        ("a/2026-11-25/data.zst".to_string(), object.clone()),
        ("a/2026-11-25/SHA256SUMS".to_string(), sums.clone()),
    ];
    for key in hostile_keys(&other) {
        objects.push((key, b"placeholder\n".to_vec()));
    }
    put_raw(&bucket, &objects);

    let mut sb = Sandbox::new("");
    let storage = common::s3_storage(&bucket, &common::s3_endpoint(), "RD_HOSTILE_S3_SECRET");
    let rest = "checksums:\n  required: true\ntargets:\n  rpo: 3650d\n  rto: 1h\n";
    common::write_policy(&sb.config, "s3-keys", "Hostile", &storage, "a/", rest);

    // The same on the fs service: the names that can exist in a folder.
    sb.put("fs/2026-11-25/data.zst", &object);
    sb.put("fs/2026-11-25/SHA256SUMS", &sums);
    sb.put("fs/2026-11-25/%2e%2e/%2E%2E/SHA256SUMS", &other_sums);
    sb.put("fs/2026-11-25/..\\..\\other\\SHA256SUMS", &other_sums);
    sb.put("fs/2026-11-25/data.zst%2f..%5c..", &b"x"[..]);
    sb.policy("fs-keys", "fs/", "");

    let out = sb.run(&[]);
    let mut failures = Failures::new();
    for name in ["s3-keys", "fs-keys"] {
        failures.record(out.fails_with(name, "unsafe_path"));
    }
    let named: Vec<String> = out.messages("s3-keys", "unsafe_path");
    for key in hostile_keys(&other) {
        let shown = serde_json::Value::String(key.clone()).to_string();
        failures.check(named.iter().any(|m| m.starts_with(&shown)), || {
            format!("no unsafe_path finding names `{key}`: {named:#?}")
        });
    }
    let fs_named = out.messages("fs-keys", "unsafe_path");
    failures.check_eq(fs_named.len(), 3, || {
        format!("fs-keys: one unsafe_path per hostile key: {fs_named:#?}")
    });
    // The legitimate object is still restored and checked.
    for name in ["s3-keys", "fs-keys"] {
        let kinds = out.kinds(name);
        failures.check(kinds.iter().all(|k| k == "unsafe_path"), || {
            format!("{name}: only unsafe_path findings expected, has {kinds:?}")
        });
    }
    // Nothing of the other client's anywhere: output, JSON, mail, history, artifacts.
    let results = out
        .results
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    for needle in [OTHER_NAME, OTHER_DIGEST] {
        failures.check(
            !out.stdout.contains(needle)
                && !out.stderr.contains(needle)
                && !results.contains(needle),
            || format!("the other client's `{needle}` reached the output or JSON"),
        );
        let leaked = files_holding(&sb.root.join("state"), needle);
        failures.check(leaked.is_empty(), || {
            format!("the other client's `{needle}` reached {leaked:?}")
        });
    }
    failures.assert_none_for(&out);
}
