//! Evidence through the real binary: a history made with an injectable clock, JUnit XML
//! validated against the schema CI servers read (xmllint), the period report in every format
//! with the same numbers, signatures that a changed report fails, and the HTML report
//! printed to PDF by a real browser (headless Chromium) and read back with pdftotext.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{
    Failures, Ran, append_settings, bin, demo_config, restore_drill, run, run_code, run_ok,
};

const KEY: &str = "5e1f8a0c3b7d2e4f6a8b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7";

/// The demo configuration with a signing key and a control mapping, and a quarter of runs.
fn quarter(dir: &Path) -> PathBuf {
    let config = demo_config(dir);
    std::fs::write(dir.join("signing.key"), format!("{KEY}\n")).unwrap();
    append_settings(
        &config,
        &format!(
            "signing:\n  key: ${{file:{}}}\ncontrols:\n  \"HIPAA 164.308(a)(7)(ii)(D)\":\n    description: Testing and revision of contingency plans\n    policies: [bright-mail, bright-imaging]\n",
            dir.join("signing.key").display()
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
    config
}

fn tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is missing: tests/run.sh installs it (chromium, poppler-utils, libxml2-utils)"
    );
    path
}

fn report(config: &Path, format: &str, out: &Path) -> String {
    run_ok(
        bin()
            .args([
                "report",
                "--client",
                "Bright Smile Orthodontics",
                "--quarter",
                "2026-Q4",
                "--format",
                format,
                "-o",
            ])
            .arg(out)
            .arg("--config-dir")
            .arg(config),
    );
    std::fs::read_to_string(out).unwrap()
}

/// `report verify FILE`, whatever its exit code.
fn verify(config: &Path, file: &Path) -> Ran {
    run(bin()
        .args(["report", "verify"])
        .arg(file)
        .arg("--config-dir")
        .arg(config))
}

fn chain_head(config: &Path) -> String {
    let out = run_ok(restore_drill(config, &["history", "verify"]));
    let text = &out.stdout;
    assert!(text.contains("signatures: 4 verified"), "{out}");
    text.split("chain head ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn junit_files_validate_against_the_schema_ci_servers_read() {
    let dir = tempfile::tempdir().unwrap();
    quarter(dir.path());
    let xsd = common::repo().join("tests/support/junit.xsd");
    let runs = dir.path().join("state/runs");
    let xmllint = |file: &Path| {
        run(Command::new(tool("xmllint"))
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(file))
    };
    let mut failures = Failures::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&runs).unwrap().flatten() {
        let junit = entry.path().join("junit.xml");
        let out = xmllint(&junit);
        failures.check(out.code == 0, || format!("{out}"));
        checked += 1;
        // The check can fail: a suite without its system-out is refused.
        let broken = dir.path().join("broken.xml");
        std::fs::write(
            &broken,
            std::fs::read_to_string(&junit)
                .unwrap()
                .replacen("<system-out/>", "", 1),
        )
        .unwrap();
        let out = xmllint(&broken);
        failures.check(out.code != 0, || {
            format!("the schema accepted a broken file: {out}")
        });
    }
    failures.assert_none();
    assert_eq!(checked, 4);
}

#[test]
fn period_report_formats_carry_the_same_numbers_and_the_chain_head() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    let head = chain_head(&config);
    let md = report(&config, "md", &dir.path().join("q.md"));
    let csv = report(&config, "csv", &dir.path().join("q.csv"));
    let html = report(&config, "html", &dir.path().join("q.html"));
    let mut failures = Failures::new();
    for (format, text) in [("md", &md), ("csv", &csv), ("html", &html)] {
        failures.check(text.contains(&head), || {
            format!("{format}: the chain head is missing")
        });
        failures.check(!text.contains("Acme"), || {
            format!("{format}: another client's results are in the report")
        });
    }
    for expected in [
        "**Overall: ACTION NEEDED.** 1 failure is open in bright-imaging",
        "nothing was verified for bright-imaging.",
        "| failed, 2026-11-17 02:00 UTC | 0 of 4 | 4 of 4 | 4 of 4 |",
        "| bright-mail: Mailbox exports | verified, 2026-11-17 02:00 UTC | 4 of 4 |",
        "| bright-imaging | 4 | 0% |",
        "| bright-mail | 4 | 100% |",
        "| bright-imaging | object imaging/2026-11-25/imaging.tar.zst (set 2026-11-25) | checksum_mismatch, corrupt_archive (4 failing runs) | 2026-10-02 02:00 UTC | open | - | - |",
        "HIPAA 164.308(a)(7)(ii)(D)",
        "8 runs, 4 passed",
    ] {
        failures.check(md.contains(expected), || {
            format!("`{expected}` is not in the Markdown report:\n{md}")
        });
    }
    // policy, dated_by, runs, passes, pass_rate
    for (policy, expected) in [("bright-imaging", ",4,0,0,"), ("bright-mail", ",4,4,1,")] {
        let row = csv.lines().find(|l| l.contains(&format!(",{policy},")));
        failures.check(row.is_some_and(|r| r.contains(expected)), || {
            format!("`{expected}` is not in the CSV report:\n{csv}")
        });
    }
    failures.check(
        html.contains("<svg") && html.contains("restore throughput"),
        || "no chart".to_string(),
    );
    failures.assert_none();
}

#[test]
fn a_signed_report_verifies_and_a_changed_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    let mut failures = Failures::new();
    for format in ["md", "csv", "html"] {
        let path = dir.path().join(format!("q.{format}"));
        let text = report(&config, format, &path);
        let out = verify(&config, &path);
        let said = out.combined();
        failures.check(
            out.code == 0
                && said.contains("ok: ")
                && said.contains("signed by")
                && said.contains("is in"),
            || format!("{format}: the signed report does not verify: {out}"),
        );
        std::fs::write(
            &path,
            text.replacen("100%", "90%", 1)
                .replacen("0%", "50%", 1)
                .replacen(",4,4,1,", ",4,3,1,", 1),
        )
        .unwrap();
        let out = verify(&config, &path);
        failures.check(
            out.code == 5 && out.combined().contains("changed after it was signed"),
            || format!("{format}: the changed report is not refused as changed: {out}"),
        );
        let unsigned: String = text
            .lines()
            .filter(|l| !l.contains("restore-drill-signature"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, unsigned).unwrap();
        let _ = std::fs::remove_file(format!("{}.minisig", path.display()));
        let out = verify(&config, &path);
        failures.check(out.code == 5, || {
            format!("{format}: the unsigned report is not refused: {out}")
        });
    }
    failures.assert_none();
}

/// A history edited after a report was made: `report verify` refuses the report although its
/// chain head is still in the history, and `report` makes no new one from it (exit 5).
#[test]
fn no_report_is_built_or_verified_from_a_history_that_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    let path = dir.path().join("q.md");
    report(&config, "md", &path);
    let out = verify(&config, &path);
    assert_eq!(
        out.code, 0,
        "the report over the intact history verifies: {out}"
    );
    let db = dir.path().join("state").join("history.sqlite3");
    let changed = rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE policy_results SET status = 'pass' WHERE run_seq = 1",
            [],
        )
        .unwrap();
    assert!(changed > 0, "the first run has policy results");
    let mut failures = Failures::new();
    let out = verify(&config, &path);
    failures.check(
        out.code == 5 && out.combined().contains("the history does not verify"),
        || format!("a report over an edited history is not refused: {out}"),
    );
    let again = dir.path().join("again.md");
    let out = run(bin()
        .args([
            "report",
            "--client",
            "Bright Smile Orthodontics",
            "--quarter",
            "2026-Q4",
            "-o",
        ])
        .arg(&again)
        .arg("--config-dir")
        .arg(&config));
    failures.check(
        out.code == 5
            && out.combined().contains("does not verify")
            && out.combined().contains("record #1"),
        || format!("`report` over an edited history must fail (exit 5) naming the record: {out}"),
    );
    failures.check(!again.exists(), || {
        "`report` wrote a file from a history that does not verify".into()
    });
    failures.assert_none();
}

#[test]
fn the_html_report_prints_to_pdf_with_its_numbers_and_charts_inside_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    let html = dir.path().join("q.html");
    report(&config, "html", &html);
    let pdf = dir.path().join("q.pdf");
    let out = run(Command::new(tool("chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("chromium-profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display())));
    assert!(pdf.exists(), "no PDF: {out}");
    let text = run(Command::new(tool("pdftotext"))
        .args(["-layout"])
        .arg(&pdf)
        .arg("-"))
    .stdout;
    let mut failures = Failures::new();
    for expected in [
        "Bright Smile Orthodontics, 2026-Q4",
        "bright-imaging",
        "bright-mail",
        "100%",
        "restore throughput",
        "projected full restore",
        "Evidence appendix",
    ] {
        failures.check(text.contains(expected), || {
            format!("`{expected}` is not in the PDF")
        });
    }
    failures.assert_none_for(&text);
    // Every word lies inside its page: nothing is cut at the edges.
    let bbox = run(Command::new(tool("pdftotext"))
        .arg("-bbox")
        .arg(&pdf)
        .arg("-"))
    .stdout;
    let mut failures = Failures::new();
    let number = |tag: &str, name: &str| -> f64 {
        let at = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[at..].split('"').next().unwrap().parse().unwrap()
    };
    let mut pages = 0;
    for page in bbox.split("<page ").skip(1) {
        pages += 1;
        let head = page.split('>').next().unwrap();
        let (width, height) = (number(head, "width"), number(head, "height"));
        for word in page.split("<word ").skip(1) {
            let tag = word.split('>').next().unwrap();
            failures.check(
                number(tag, "xMin") >= 0.0 && number(tag, "xMax") <= width,
                || format!("a word runs off the page: {word}"),
            );
            failures.check(
                number(tag, "yMin") >= 0.0 && number(tag, "yMax") <= height,
                || format!("a word runs off the page: {word}"),
            );
        }
    }
    failures.assert_none();
    assert!(pages >= 1);
}

#[test]
fn report_output_takes_its_format_from_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    let write = |name: &str| {
        run(bin()
            .args([
                "report",
                "--client",
                "Bright Smile Orthodontics",
                "--quarter",
                "2026-Q4",
                "-o",
            ])
            .arg(dir.path().join(name))
            .arg("--config-dir")
            .arg(&config))
    };
    let mut failures = Failures::new();
    for (name, first_line) in [
        ("q4.md", "# "),
        ("q4.csv", ""),
        ("q4.HTML", "<!doctype html>"),
    ] {
        let out = write(name);
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        let first = text.lines().next().unwrap_or_default().to_lowercase();
        failures.check(out.code == 0 && first.starts_with(first_line), || {
            format!("{name}: the first line is {first:?}: {out}")
        });
        let is_html = text.to_lowercase().contains("<html");
        failures.check(is_html == name.ends_with("HTML"), || {
            format!("{name}: HTML or not, wrongly: {first:?}")
        });
    }
    let csv = std::fs::read_to_string(dir.path().join("q4.csv")).unwrap_or_default();
    failures.check(
        csv.lines()
            .all(|l| l.is_empty() || l.contains(',') || l.starts_with('#')),
        || format!("q4.csv is not CSV: {csv}"),
    );
    let out = write("q4.txt");
    failures.check(
        out.code == 2
            && out.stderr.contains(".html, .md or .csv")
            && out.stderr.contains("--format")
            && !dir.path().join("q4.txt").exists(),
        || format!("an unknown extension: {out}"),
    );
    failures.assert_none();
}
