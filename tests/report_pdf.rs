//! Signed reports as an auditor checks them, through the real binary: `keygen` makes the key
//! pair, every report format gets a detached `FILE.minisig` that Debian's `minisign` tool
//! verifies with the published `.pub`, one changed byte fails both `minisign -V` and
//! `report verify`, and `report verify` names the chain head it found in the history. The
//! PDF (typst, no browser) read back with poppler: every label and figure in it with every
//! word whole, the client on every page, and its first page rendered to PNG for people to
//! look at (in `RESTORE_DRILL_SHOTS`, default the target's `tmp/shots`).

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
    common::append_settings(
        &config,
        &format!(
            "signing:\n{line}\ncontrols:\n  \"HIPAA 164.308(a)(7)(ii)(D)\":\n    description: Testing and revision of contingency plans\n    policies: [bright-mail, bright-imaging]\n"
        ),
    );
    for day in ["2026-10-02", "2026-10-16", "2026-11-03", "2026-11-17"] {
        let now = format!("{day}T02:00:00Z");
        common::date_fixtures_as_of(&config, &now);
        run_code(
            restore_drill(&config, &["run"]).env("RESTORE_DRILL_NOW", now),
            1,
        );
    }
    let now = "2026-11-20T10:00:00Z";
    common::date_fixtures_as_of(&config, now);
    run_ok(
        restore_drill(
            &config,
            &[
                "drill",
                "bright-mail",
                "--operator",
                "J. Rivera",
                "--witness",
                "Dr. A. Chen",
                "--progress",
                "never",
            ],
        )
        .env("RESTORE_DRILL_NOW", now),
    );
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

/// The history's chain head hash, as `history verify` names it.
fn chain_head(config: &Path) -> String {
    let out = run_ok(restore_drill(config, &["history", "verify"]));
    out.stdout
        .split("chain head ")
        .nth(1)
        .and_then(|t| {
            t.split(|c: char| !c.is_ascii_hexdigit())
                .find(|w| w.len() == 64)
        })
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
fn report_verify_says_what_to_do_without_the_minisig_with_another_key_or_another_history() {
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
    // Another history (the same key, no runs): the head the signature names is not in it.
    let elsewhere = dir.path().join("elsewhere");
    let other_config = demo_config(&elsewhere);
    let settings = std::fs::read_to_string(config.join("restore-drill.yaml")).unwrap();
    let signing = &settings[settings.find("signing:").unwrap()..];
    common::append_settings(&other_config, signing);
    let out = verify(&other_config, &path, &[]);
    failures.check(
        out.code == 5
            && out.stdout.contains("is not a record of the history")
            && out.stdout.contains("q4.csv"),
        || format!("a head from another history: {out}"),
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

/// `pdftotext -layout FILE -`.
fn pdf_text(pdf: &Path) -> String {
    let out = run(Command::new(tool("pdftotext"))
        .arg("-layout")
        .arg(pdf)
        .arg("-"));
    assert_eq!(out.code, 0, "{out}");
    out.stdout
}

#[test]
fn the_pdf_is_written_without_a_browser_signed_and_checked_by_minisign_and_report_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (config, public) = quarter(dir.path());
    let head = chain_head(&config);
    let pdf = dir.path().join("q4.pdf");
    let out = report(&config, None, &pdf);
    let bytes = std::fs::read(&pdf).unwrap();
    let mut failures = Failures::new();
    failures.check(bytes.starts_with(b"%PDF-"), || {
        format!("-o q4.pdf did not write a PDF: {out}")
    });
    let out = minisign(&pdf, &public);
    failures.check(
        out.code == 0 && out.combined().contains("file=q4.pdf") && out.combined().contains(&head),
        || format!("minisign does not verify the PDF: {out}"),
    );
    let out = verify(&config, &pdf, &[]);
    failures.check(
        out.code == 0
            && out.stdout.contains("chain head #")
            && out.stdout.contains(&head)
            && out.stdout.contains("is in"),
        || format!("report verify on the untouched PDF: {out}"),
    );
    // The same report again gives the same bytes: nothing in it but the report.
    let pinned = |name: &str| {
        let path = dir.path().join(name);
        run_ok(
            bin()
                .args(["report", "--client", CLIENT, "--quarter", "2026-Q4", "-o"])
                .arg(&path)
                .arg("--config-dir")
                .arg(&config)
                .env("RESTORE_DRILL_NOW", "2026-12-01T09:00:00Z"),
        );
        std::fs::read(path).unwrap()
    };
    failures.check(pinned("a.pdf") == pinned("b.pdf"), || {
        "the same report typeset twice differs".into()
    });
    let mut changed = bytes.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x20;
    std::fs::write(&pdf, &changed).unwrap();
    let out = minisign(&pdf, &public);
    failures.check(out.code != 0, || {
        format!("minisign accepts a PDF with a changed byte: {out}")
    });
    let out = verify(&config, &pdf, &[]);
    failures.check(
        out.code == 5
            && out.stdout.contains("q4.pdf")
            && out.stdout.contains("changed after it was signed"),
        || format!("report verify accepts a PDF with a changed byte: {out}"),
    );
    failures.assert_none();
}

#[test]
fn the_pdf_text_carries_the_report_with_every_word_whole_and_its_first_page_is_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = quarter(dir.path());
    let head = chain_head(&config);
    let pdf = dir.path().join("q4.pdf");
    report(&config, Some("pdf"), &pdf);
    let text = pdf_text(&pdf);
    let mut failures = Failures::new();
    for phrase in [
        "Restore verification: Bright Smile Orthodontics, 2026-Q4",
        "Overall: ACTION NEEDED.",
        "bright-mail",
        "bright-imaging",
        "RPO",
        "RTO",
        "verified",
        "failed",
        "open failures",
        "Policies",
        "Day by day",
        "Failures",
        "Manual restore drills",
        "J. Rivera",
        "Dr. A. Chen",
        "Control mapping",
        "Evidence appendix",
        "pass rate",
        "record hash",
        head.as_str(),
    ] {
        failures.check(text.contains(phrase), || {
            format!("`{phrase}` is not whole in the PDF's text")
        });
    }
    // No word split across lines by a hyphen: no line ends in a letter and a hyphen.
    for line in text.lines() {
        let line = line.trim_end();
        failures.check(
            !(line.ends_with('-') && line.chars().rev().nth(1).is_some_and(char::is_alphabetic)),
            || format!("a word is broken at the end of the line `{line}`"),
        );
    }
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    for (n, page) in pages.iter().enumerate() {
        failures.check(
            page.contains(CLIENT) && page.contains(&format!("Page {} of {}", n + 1, pages.len())),
            || format!("page {} does not name the client and its number", n + 1),
        );
    }
    failures.check(pages.len() >= 2, || "the PDF has one page".into());
    failures.assert_none_for(&text);
    let shots = std::env::var_os("RESTORE_DRILL_SHOTS").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("shots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&shots).unwrap();
    let out = run(Command::new(tool("pdftoppm"))
        .args(["-png", "-r", "80"])
        .arg(&pdf)
        .arg(shots.join("period-report")));
    assert_eq!(out.code, 0, "{out}");
    assert!(
        shots.join("period-report-1.png").exists(),
        "no PNG of the first page: {out}"
    );
}

#[test]
fn the_pdf_carries_the_msps_branding_on_letter_paper_in_the_chosen_zone() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    std::fs::write(
        config.join("logo.svg"),
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="80" height="30"><rect width="80" height="30" fill="#aa3300"/></svg>"##,
    )
    .unwrap();
    common::append_settings(
        &config,
        "report:\n  timezone: America/New_York\n  msp_name: Northwind IT <Services>\n  logo: logo.svg\n  accent: \"#aa3300\"\n  paper: letter\n",
    );
    let now = "2026-10-02T02:00:00Z";
    common::date_fixtures_as_of(&config, now);
    run_code(
        restore_drill(&config, &["run"]).env("RESTORE_DRILL_NOW", now),
        1,
    );
    let pdf = dir.path().join("q4.pdf");
    report(&config, None, &pdf);
    let info = run(Command::new(tool("pdfinfo")).arg(&pdf));
    let mut failures = Failures::new();
    failures.check(info.stdout.contains("612 x 792 pts (letter)"), || {
        format!("not Letter paper: {info}")
    });
    let text = pdf_text(&pdf);
    failures.check(
        text.contains("America/New_York") && text.contains("Prepared by Northwind IT <Services>."),
        || "the zone or the MSP is not named".into(),
    );
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    for (n, page) in pages.iter().enumerate() {
        failures.check(
            page.contains("Northwind IT <Services>") && page.contains(CLIENT),
            || format!("page {} does not carry the MSP and the client", n + 1),
        );
    }
    failures.assert_none_for(&text);
    if let Some(shots) = std::env::var_os("RESTORE_DRILL_SHOTS") {
        std::fs::create_dir_all(&shots).unwrap();
        let out = run(Command::new(tool("pdftoppm"))
            .args(["-png", "-r", "80", "-f", "1", "-l", "1"])
            .arg(&pdf)
            .arg(Path::new(&shots).join("branded-letter")));
        assert_eq!(out.code, 0, "{out}");
    }
}

/// A logo file that is not a decodable image: the PDF is refused naming report.logo.
#[test]
fn a_logo_the_pdf_cannot_draw_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    // A PNG signature and header with a broken checksum.
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82";
    std::fs::write(config.join("logo.png"), png).unwrap();
    common::append_settings(&config, "report:\n  logo: logo.png\n");
    let pdf = dir.path().join("q4.pdf");
    let out = run(bin()
        .args(["report", "--client", CLIENT, "--quarter", "2026-Q4", "-o"])
        .arg(&pdf)
        .arg("--config-dir")
        .arg(&config));
    assert!(
        out.code == 4
            && out.stderr.contains("report.logo")
            && out.stderr.contains("PNG, JPEG or SVG"),
        "{out}"
    );
    assert!(!pdf.exists(), "a PDF was written: {out}");
}
