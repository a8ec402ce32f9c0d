//! Signed reports as an auditor checks them, through the real binary: `keygen` makes the key
//! pair, every report format gets a detached `FILE.minisig` that Debian's `minisign` tool
//! verifies with the published `.pub`, one changed byte fails both `minisign -V` and
//! `report verify`, and `report verify` names the chain head it found in the history.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{Failures, Ran, bin, demo_config, restore_drill, run, run_code, run_ok};

const CLIENT: &str = "Bright Smile Orthodontics";

fn tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is missing: tests/run.sh installs it (minisign, poppler-utils)"
    );
    path
}

/// The demo configuration signed with a key `keygen` made, and a quarter of runs; returns
/// the configuration folder and the published public key.
fn quarter(dir: &Path) -> (PathBuf, PathBuf) {
    let config = demo_config(dir);
    let secret = dir.join("keys/signing.key");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    let out = run_ok(keygen(&config, &secret));
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("key: ${file:"))
        .unwrap_or_else(|| panic!("keygen prints no settings line: {out}"));
    common::append_settings(&config, &format!("signing:\n{line}\n"));
    for day in ["2026-10-02", "2026-10-16", "2026-11-03", "2026-11-17"] {
        let now = format!("{day}T02:00:00Z");
        common::date_fixtures_as_of(&config, &now);
        run_code(
            restore_drill(&config, &["run"]).env("RESTORE_DRILL_NOW", now),
            1,
        );
    }
    (config, dir.join("keys/restore-drill.pub"))
}

/// `keygen --secret-key SECRET` (the public key beside it).
fn keygen(config: &Path, secret: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["keygen", "--secret-key"])
        .arg(secret)
        .arg("--config-dir")
        .arg(config);
    cmd
}

/// `report --client … --quarter 2026-Q4 -o OUT [--format F]`.
fn report(config: &Path, format: Option<&str>, out: &Path) -> Ran {
    let mut cmd = bin();
    cmd.args(["report", "--client", CLIENT, "--quarter", "2026-Q4", "-o"])
        .arg(out)
        .arg("--config-dir")
        .arg(config);
    if let Some(format) = format {
        cmd.args(["--format", format]);
    }
    run_ok(cmd)
}

/// `report verify FILE [ARGS]`, whatever its exit code.
fn verify(config: &Path, file: &Path, args: &[&str]) -> Ran {
    run(bin()
        .args(["report", "verify"])
        .arg(file)
        .args(args)
        .arg("--config-dir")
        .arg(config))
}

/// Debian's `minisign -Vm FILE -p PUB`, whatever its exit code.
fn minisign(file: &Path, public: &Path) -> Ran {
    run(Command::new(tool("minisign"))
        .arg("-Vm")
        .arg(file)
        .arg("-p")
        .arg(public))
}

fn chain_head(config: &Path) -> String {
    let out = run_ok(restore_drill(config, &["history", "verify"]));
    out.stdout
        .split("chain head ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no chain head: {out}"))
        .to_string()
}

fn minisig(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.minisig", file.display()))
}

#[test]
fn every_report_format_carries_a_minisign_signature_the_real_tool_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (config, public) = quarter(dir.path());
    let head = chain_head(&config);
    let mut failures = Failures::new();
    for format in ["md", "csv", "html"] {
        let path = dir.path().join(format!("q4.{format}"));
        report(&config, None, &path);
        let out = minisign(&path, &public);
        failures.check(
            out.code == 0
                && out.combined().contains("Signature and comment signature verified")
                && out.combined().contains(&format!(
                    "restore-drill report file=q4.{format} client=\"{CLIENT}\" period=2026-Q4 head=#"
                ))
                && out.combined().contains(&head),
            || format!("{format}: minisign does not verify it with its comment: {out}"),
        );
        let out = verify(&config, &path, &[]);
        failures.check(
            out.code == 0 && out.stdout.contains(&head) && out.stdout.contains("is in"),
            || format!("{format}: report verify: {out}"),
        );
        // One changed byte: both refuse it.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let out = minisign(&path, &public);
        failures.check(out.code != 0, || {
            format!("{format}: minisign accepts a changed byte: {out}")
        });
        let out = verify(&config, &path, &[]);
        failures.check(
            out.code == 5 && out.stdout.contains("changed after it was signed"),
            || format!("{format}: report verify accepts a changed byte: {out}"),
        );
    }
    let csv = std::fs::read_to_string(dir.path().join("q4.csv")).unwrap();
    failures.check(!csv.contains("restore-drill-signature"), || {
        format!("the CSV still carries a signature line:\n{csv}")
    });
    failures.assert_none();
}

#[test]
fn report_verify_says_what_to_do_without_the_minisig_or_with_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let (config, public) = quarter(dir.path());
    let path = dir.path().join("q4.csv");
    report(&config, None, &path);
    let mut failures = Failures::new();
    let out = verify(&config, &path, &["--public-key", public.to_str().unwrap()]);
    failures.check(out.code == 0, || format!("with --public-key: {out}"));
    // Another key pair: the signature is refused naming both key ids.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    run_ok(keygen(&config, &other.join("signing.key")));
    let out = verify(
        &config,
        &path,
        &[
            "--public-key",
            other.join("restore-drill.pub").to_str().unwrap(),
        ],
    );
    failures.check(
        out.code == 5
            && out.stdout.contains("q4.csv.minisig")
            && out.stdout.contains("not by the key with id")
            && out.stdout.contains("--public-key"),
        || format!("another key: {out}"),
    );
    // A trusted comment naming another head is caught.
    let sig = std::fs::read_to_string(minisig(&path)).unwrap();
    std::fs::write(minisig(&path), sig.replace("head=#", "head=#1")).unwrap();
    let out = verify(&config, &path, &[]);
    failures.check(
        out.code == 5 && out.stdout.contains("trusted comment was changed"),
        || format!("a changed trusted comment: {out}"),
    );
    std::fs::remove_file(minisig(&path)).unwrap();
    let out = verify(&config, &path, &[]);
    failures.check(
        out.code == 5 && out.stdout.contains("q4.csv.minisig is missing"),
        || format!("no .minisig: {out}"),
    );
    failures.assert_none();
}

#[test]
fn keygen_writes_a_private_key_refuses_to_overwrite_and_prints_the_public_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let out = run_ok(restore_drill(&config, &["keygen"]));
    let secret = config.join("signing.key");
    let public = config.join("restore-drill.pub");
    let mut failures = Failures::new();
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    failures.check_eq(mode, 0o600, || "the secret key's mode".into());
    let text = std::fs::read_to_string(&secret).unwrap();
    failures.check(
        text.trim().len() == 64 && text.trim().bytes().all(|b| b.is_ascii_hexdigit()),
        || format!("the secret key is not 64 hex digits: {text:?}"),
    );
    failures.check(
        out.stdout
            .contains(&format!("key: ${{file:{}}}", secret.display()))
            && out
                .stdout
                .contains("minisign -Vm REPORT -p restore-drill.pub"),
        || format!("keygen does not say what to add and publish: {out}"),
    );
    let pub_text = std::fs::read_to_string(&public).unwrap();
    failures.check(
        pub_text.starts_with("untrusted comment: minisign public key "),
        || format!("not a minisign public key: {pub_text}"),
    );
    let again = run(restore_drill(&config, &["keygen"]));
    failures.check(
        again.code == 2
            && again.stderr.contains("exists")
            && std::fs::read_to_string(&secret).unwrap() == text,
        || format!("keygen over an existing key: {again}"),
    );
    // --public-only prints the .pub of the configured key.
    common::append_settings(
        &config,
        &format!("signing:\n  key: ${{file:{}}}\n", secret.display()),
    );
    let out = run_ok(restore_drill(&config, &["keygen", "--public-only"]));
    failures.check_eq(out.stdout.as_str(), pub_text.as_str(), || {
        "--public-only prints the same public key".into()
    });
    failures.assert_none();
}
