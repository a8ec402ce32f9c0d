//! Hostile policies and settings: each is a clear error naming its file (and line where
//! there is one), exit 2, and nothing is restored (the sandbox checks scratch stays empty;
//! here no results are written either).

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// A sandbox with one good policy and one hostile file; the run must refuse to start.
fn refused(file: &str, content: &[u8], expect: &[&str]) {
    let mut sb = Sandbox::new("");
    sb.put("good/2026-11-25/db.zst", &common::zstd(b"fine"));
    sb.policy("good", "good/", "checksums:\n  required: false\n");
    sb.raw_policy(file, content);
    let out = sb.run(&[]);
    eprintln!("{file}: {}", out.stderr.trim());
    let mut failures = Failures::new();
    failures.check_eq(out.code, 2, || format!("{file}: expected exit 2"));
    failures.check(out.results.is_none(), || format!("{file}: a run happened"));
    failures.check(out.stderr.contains(file), || {
        format!("{file}: the error names the file")
    });
    for e in expect {
        failures.check(out.stderr.contains(e), || {
            format!("{file}: the error says {e:?}")
        });
    }
    failures.check(out.stderr.lines().count() < 40, || {
        format!("{file}: a flood of errors")
    });
    failures.assert_none_for(&out);
}

const TARGETS: &str = "targets:\n  rpo: 1d\n  rto: 1h\n";

fn policy_text(name: &str, storage: &str) -> String {
    common::policy_yaml(name, "Hostile", storage, "x/", TARGETS)
}

#[test]
fn billion_laughs_is_refused() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        text.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    text.push_str(&policy_text("laughs", "  service: fs\n  root: /tmp\n"));
    refused("laughs.yaml", text.as_bytes(), &[]);
}

#[test]
fn ten_thousand_deep_nesting_is_refused() {
    // As a whole document, where no field type stops the parser early.
    let text = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    refused("deep.yaml", text.as_bytes(), &["deep.yaml:1:"]);
    // And inside a field.
    let text = format!(
        "{}description: {}{}\n",
        policy_text("deep", "  service: fs\n  root: /tmp\n"),
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    refused("deeper.yaml", text.as_bytes(), &["deeper.yaml:11:"]);
}

#[test]
fn fifty_megabyte_file_is_refused_unread() {
    let mut text = policy_text("big", "  service: fs\n  root: /tmp\n").into_bytes();
    text.extend(b"# ".iter().chain(std::iter::repeat_n(&b'x', 50 << 20)));
    text.push(b'\n');
    refused("big.yaml", &text, &["bytes"]);
}

#[test]
fn invalid_utf8_is_refused() {
    let mut text = policy_text("utf", "  service: fs\n  root: /tmp\n").into_bytes();
    text.extend(b"description: caf\xe9 \xff\xfe\n");
    refused("utf.yaml", &text, &[]);
}

#[test]
fn duplicate_keys_are_refused_with_their_line() {
    let text = format!(
        "name: dup\nname: dup-again\nclient: Hostile\nstorage:\n  service: fs\n  root: /tmp\nbackups:\n  prefix: x/\n{TARGETS}"
    );
    refused("dup.yaml", text.as_bytes(), &["dup.yaml:2:1", "duplicate"]);
}

#[test]
fn a_missing_env_reference_is_refused_with_its_line() {
    let text = policy_text(
        "envref",
        "  service: s3\n  bucket: b\n  region: us-east-1\n  access_key_id: k\n  secret_access_key: ${env:RD_HOSTILE_NOT_SET}\n",
    );
    refused("envref.yaml", text.as_bytes(), &["RD_HOSTILE_NOT_SET"]);
}

#[test]
fn two_policies_with_one_name_are_refused_naming_both_files() {
    let text = policy_text("good", "  service: fs\n  root: /tmp\n");
    refused("again.yaml", text.as_bytes(), &["good.yaml"]);
}

#[test]
fn an_unknown_service_is_refused_with_its_line() {
    let text = policy_text("svc", "  service: floppy-disk\n");
    refused("svc.yaml", text.as_bytes(), &["floppy-disk"]);
}

#[test]
fn hostile_settings_are_refused_too() {
    let mut sb = Sandbox::new("concurrency:\n  restores: 2\nconcurrency:\n  restores: 3\n");
    sb.put("good/2026-11-25/db.zst", &common::zstd(b"fine"));
    sb.policy("good", "good/", "checksums:\n  required: false\n");
    let out = sb.run(&[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.results.is_none(), "a run happened: {out}");
    assert!(out.stderr.contains("restore-drill.yaml"), "{out}");
}
