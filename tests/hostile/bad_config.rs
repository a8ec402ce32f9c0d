//! Hostile policies and settings: each is a clear error naming its file (and line where
//! there is one). A hostile policy file is a failed entry of the run (`invalid_policy`,
//! exit 1) while the good policy beside it is verified, and `check` refuses the folder
//! (exit 2); hostile settings stop the run (exit 2) with nothing restored.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// A sandbox with one good policy and one hostile file: the run verifies the good one and
/// fails the hostile one with `invalid_policy` naming its file and saying each of `expect`;
/// `check` refuses the folder saying the same.
fn refused(file: &str, content: &[u8], expect: &[&str]) {
    let mut sb = Sandbox::new("");
    sb.put("good/2026-11-25/db.zst", &common::zstd(b"fine"));
    sb.policy("good", "good/", "checksums:\n  required: false\n");
    sb.raw_policy(file, content);
    let out = sb.run(&[]);
    eprintln!("{file}: {}", out.stderr.trim());
    let mut failures = Failures::new();
    failures.check_eq(out.code, 1, || format!("{file}: expected exit 1"));
    let policies = out
        .results
        .as_ref()
        .and_then(|r| r["policies"].as_array().cloned())
        .unwrap_or_default();
    let good = policies.iter().find(|p| p["name"] == "good");
    failures.check(good.is_some_and(|p| p["status"] == "pass"), || {
        format!("{file}: the good policy was not verified: {good:?}")
    });
    let findings: Vec<String> = policies
        .iter()
        .filter(|p| p["name"] != "good")
        .flat_map(|p| p["findings"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["kind"] == "invalid_policy")
        .map(|f| f["message"].as_str().unwrap_or_default().to_string())
        .collect();
    let text = findings.join("\n");
    failures.check(!findings.is_empty() && text.contains(file), || {
        format!("{file}: no invalid_policy finding naming the file: {policies:?}")
    });
    for e in expect {
        failures.check(text.contains(e), || {
            format!("{file}: the finding says {e:?}: {text}")
        });
    }
    failures.check(out.stderr.lines().count() < 40, || {
        format!("{file}: a flood of errors")
    });
    let check = sb.exec(&["check"], false);
    failures.check_eq(check.code, 2, || format!("{file}: check: {check}"));
    for e in expect.iter().chain([&file]) {
        failures.check(check.stderr.contains(e), || {
            format!("{file}: check does not say {e:?}: {check}")
        });
    }
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
fn a_missing_env_reference_fails_its_policy_where_used_and_check_names_its_line() {
    let mut sb = Sandbox::new("");
    sb.put("good/2026-11-25/db.zst", &common::zstd(b"fine"));
    sb.policy("good", "good/", "checksums:\n  required: false\n");
    let text = policy_text(
        "envref",
        "  service: s3\n  bucket: b\n  region: us-east-1\n  access_key_id: k\n  secret_access_key: ${env:RD_HOSTILE_NOT_SET}\n",
    );
    sb.raw_policy("envref.yaml", text.as_bytes());
    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.policy("good")["status"], "pass", "{out}");
    let envref = out.policy("envref");
    assert_eq!(envref["findings"][0]["kind"], "storage_error", "{out}");
    let message = envref["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("RD_HOSTILE_NOT_SET"), "{message}");
    let check = sb.exec(&["check"], false);
    assert_eq!(check.code, 2, "{check}");
    assert!(
        check
            .stderr
            .contains("envref.yaml:8:1: storage.secret_access_key")
            && check.stderr.contains("RD_HOSTILE_NOT_SET"),
        "{check}"
    );
}

#[test]
fn two_policies_with_one_name_are_refused_naming_both_files() {
    let mut sb = Sandbox::new("");
    sb.put("good/2026-11-25/db.zst", &common::zstd(b"fine"));
    sb.policy("good", "good/", "checksums:\n  required: false\n");
    let text = policy_text("good", "  service: fs\n  root: /tmp\n");
    sb.raw_policy("again.yaml", text.as_bytes());
    // Neither file is run under the name: a PASS from the wrong one would be false evidence.
    let out = sb.run(&[]);
    assert_eq!(out.code, 1, "{out}");
    for (entry, other) in [("again.yaml", "good.yaml"), ("good.yaml", "again.yaml")] {
        assert_eq!(out.kinds(entry), ["invalid_policy"], "{out}");
        let message = out.policy(entry)["findings"][0]["message"]
            .as_str()
            .unwrap();
        assert!(message.contains(other), "{message}");
    }
    let check = sb.exec(&["check"], false);
    assert_eq!(check.code, 2, "{check}");
    assert!(
        check.stderr.contains("again.yaml:1:1") && check.stderr.contains("good.yaml:1:1"),
        "{check}"
    );
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

/// The endpoint bounds cannot be turned off: a zero rate, budget or policy time is refused
/// by `check` naming the file and the field, and stops a run with nothing restored.
#[test]
fn endpoint_bounds_of_zero_are_refused_with_their_field() {
    for (field, yaml) in [
        ("storage.min_rate", "storage:\n  min_rate: 0\n"),
        (
            "storage.max_listed_keys",
            "storage:\n  max_listed_keys: 0\n",
        ),
        ("storage.max_list_pages", "storage:\n  max_list_pages: 0\n"),
        ("storage.policy_timeout", "storage:\n  policy_timeout: 0s\n"),
    ] {
        let mut sb = Sandbox::new(yaml);
        sb.put("good/2026-11-25/db.zst", &common::zstd(b"fine"));
        sb.policy("good", "good/", "checksums:\n  required: false\n");
        let check = sb.exec(&["check"], false);
        assert_eq!(check.code, 2, "{check}");
        let said = format!("{}{}", check.stdout, check.stderr);
        assert!(
            said.contains("restore-drill.yaml") && said.contains(field),
            "{field}: {check}"
        );
        let out = sb.run(&[]);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.results.is_none(), "a run happened: {out}");
    }
}
