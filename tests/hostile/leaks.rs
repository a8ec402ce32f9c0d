//! Values read from `${…}` references stay secret at every log level: a bucket and an
//! endpoint given as references appear in no output at `-vvv` (opendal's builder `Debug`
//! printed them), an endpoint that embeds credentials is refused before it is used, and a
//! secret or report file that never ends (a FIFO, `/dev/zero`) is refused, not read.

use std::time::{Duration, Instant};

use crate::common::{self, Failures};
use crate::guard::Sandbox;

const TARGETS: &str = "checksums:\n  required: true\ntargets:\n  rpo: 3650d\n  rto: 1h\n";

#[test]
fn referenced_storage_values_stay_out_of_logs() {
    let object = common::zstd(b"rows");
    let bucket = common::s3_bucket("leak", |stage| {
        common::put_with_sums(stage, "data/2026-11-25", "db.zst", &object);
    });
    let moto = common::s3_endpoint();
    let mut sb = Sandbox::new("");
    sb.env.push(("RD_LEAK_BUCKET".into(), bucket.clone()));
    sb.env.push(("RD_LEAK_ENDPOINT".into(), moto.clone()));
    let storage = "  service: s3\n  bucket: ${env:RD_LEAK_BUCKET}\n  endpoint: ${env:RD_LEAK_ENDPOINT}\n  region: us-east-1\n  access_key_id: ${env:AWS_ACCESS_KEY_ID}\n  secret_access_key: ${env:RD_HOSTILE_S3_SECRET}\n";
    common::write_policy(&sb.config, "hidden", "Hostile", storage, "data/", TARGETS);
    let host = moto
        .split_once("://")
        .map_or(moto.as_str(), |(_, rest)| rest)
        .trim_end_matches('/')
        .to_string();
    let mut failures = Failures::new();
    for args in [&["-vvv"][..], &["-vv"], &["-v"]] {
        let out = sb.run(args);
        failures.record(out.passes("hidden"));
        let text = format!("{}\n{}", out.stdout, out.stderr);
        failures.check(
            args != ["-vvv"] || out.stderr.contains("storage started"),
            || format!("{args:?}: the storage requests are not logged at all: {out}"),
        );
        failures.check(!text.contains(&bucket), || {
            format!("{args:?}: the referenced bucket is in the output: {out}")
        });
        failures.check(!text.contains(&host), || {
            format!("{args:?}: the referenced endpoint {host} is in the output: {out}")
        });
    }
    // A failure names the reference, not its value, nor the service's default host.
    sb.env.retain(|(k, _)| k != "RD_LEAK_ENDPOINT");
    sb.env.push((
        "RD_LEAK_ENDPOINT".into(),
        format!("http://127.0.0.1:{}", common::closed_port()),
    ));
    let out = sb.run(&["-vvv"]);
    failures.record(out.fails_with("hidden", "storage_error"));
    let message = out.messages("hidden", "storage_error").join("\n");
    failures.check(message.contains("${env:RD_LEAK_ENDPOINT}"), || {
        format!("the failure does not name the endpoint's reference: {message}")
    });
    failures.check(!message.contains("amazonaws"), || {
        format!("the failure names AWS's default host: {message}")
    });
    failures.check(
        !format!("{}{}", out.stdout, out.stderr).contains(&bucket),
        || format!("the referenced bucket is in a failed run's output: {out}"),
    );
    failures.assert_none();
}

#[test]
fn endpoints_with_credentials_are_refused() {
    let mut sb = Sandbox::new("");
    let port = common::closed_port();
    let embedded = format!("http://msp:{}@127.0.0.1:{port}", common::TEST_SECRET);
    let storage = |endpoint: &str| {
        format!(
            "  service: s3\n  bucket: b\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: ${{env:AWS_ACCESS_KEY_ID}}\n  secret_access_key: ${{env:RD_HOSTILE_S3_SECRET}}\n"
        )
    };
    let mut failures = Failures::new();
    // Written in the policy: `check` and the run refuse the file, naming the field.
    common::write_policy(
        &sb.config,
        "inline",
        "Hostile",
        &storage(&embedded),
        "d/",
        TARGETS,
    );
    let check = sb.exec(&["check"], false);
    failures.check_eq(check.code, 2, || format!("check: {check}"));
    failures.check(
        check
            .stderr
            .contains("storage.endpoint: the URL embeds credentials"),
        || format!("check does not name the field and the fault: {check}"),
    );
    let out = sb.run(&[]);
    failures.record(out.fails_with("inline", "invalid_policy"));
    std::fs::remove_file(sb.config.join("inline.yaml")).unwrap();
    sb.seal();
    // Given by reference: refused when the storage is built, naming the reference.
    sb.env.push(("RD_LEAK_ENDPOINT".into(), embedded));
    common::write_policy(
        &sb.config,
        "referenced",
        "Hostile",
        &storage("${env:RD_LEAK_ENDPOINT}"),
        "d/",
        TARGETS,
    );
    sb.seal();
    let out = sb.run(&["-vvv"]);
    failures.record(out.fails_with("referenced", "storage_error"));
    let message = out.messages("referenced", "storage_error").join("\n");
    failures.check(
        message.contains("embeds credentials") && message.contains("${env:RD_LEAK_ENDPOINT}"),
        || format!("the finding does not name the reference and the fault: {message}"),
    );
    failures.assert_none();
}

#[test]
fn secret_and_report_files_that_never_end_are_refused() {
    let mut sb = Sandbox::new("");
    let fifo = sb.root.join("secret.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut failures = Failures::new();
    for (file, expect) in [
        (fifo.display().to_string(), "FIFO"),
        ("/dev/zero".to_string(), "not a regular file"),
    ] {
        let storage = format!(
            "  service: s3\n  bucket: b\n  endpoint: http://127.0.0.1:{}\n  region: us-east-1\n  access_key_id: ${{env:AWS_ACCESS_KEY_ID}}\n  secret_access_key: ${{file:{file}}}\n",
            common::closed_port()
        );
        common::write_policy(&sb.config, "endless", "Hostile", &storage, "d/", TARGETS);
        sb.seal();
        let started = Instant::now();
        let check = sb.exec(&["check"], false);
        failures.check_eq(check.code, 2, || format!("{file}: check: {check}"));
        failures.check(
            check.stderr.contains(expect) && check.stderr.contains(&file),
            || format!("{file}: check does not say {expect:?} naming the file: {check}"),
        );
        let out = sb.run(&[]);
        failures.record(out.fails_with("endless", "storage_error"));
        failures.check(started.elapsed() < Duration::from_secs(60), || {
            format!("{file}: took {:?}", started.elapsed())
        });
    }
    std::fs::remove_file(sb.config.join("endless.yaml")).unwrap();
    sb.seal();
    for file in [fifo.display().to_string(), "/dev/zero".to_string()] {
        let out = sb.exec(&["report", "verify", &file], false);
        failures.check(
            out.code != 0 && out.stderr.contains("not a regular file"),
            || format!("report verify {file}: {out}"),
        );
    }
    failures.assert_none();
}
