//! Evidence through the real binary: a history made with an injectable clock, JUnit XML
//! validated against the schema CI servers read (xmllint), the period report in every format
//! with the same numbers, signatures that a changed report fails, and the HTML report
//! printed to PDF by a real browser (headless Chromium) and read back with pdftotext.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, demo_config};

const KEY: &str = "5e1f8a0c3b7d2e4f6a8b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7";

/// The demo configuration with a signing key and a control mapping, and a quarter of runs.
fn quarter(dir: &Path) -> PathBuf {
    let config = demo_config(dir);
    std::fs::write(dir.join("signing.key"), format!("{KEY}\n")).unwrap();
    let settings = config.join("restore-drill.yaml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str(&format!(
        "signing:\n  key: ${{file:{}}}\ncontrols:\n  \"HIPAA 164.308(a)(7)(ii)(D)\":\n    description: Testing and revision of contingency plans\n    policies: [bright-mail, bright-imaging]\n",
        dir.join("signing.key").display()
    ));
    std::fs::write(&settings, text).unwrap();
    for day in ["2026-10-02", "2026-10-16", "2026-11-03", "2026-11-17"] {
        let out = bin()
            .args(["run", "--config-dir"])
            .arg(&config)
            .env("RESTORE_DRILL_NOW", format!("{day}T02:00:00Z"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
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
    let output = bin()
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
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

fn verify(config: &Path, file: &Path) -> (i32, String) {
    let out = bin()
        .args(["report", "verify"])
        .arg(file)
        .arg("--config-dir")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn chain_head(config: &Path) -> String {
    let out = bin()
        .args(["history", "verify", "--config-dir"])
        .arg(config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("signatures: 4 verified"), "{text}");
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
    let mut checked = 0;
    for entry in std::fs::read_dir(&runs).unwrap().flatten() {
        let junit = entry.path().join("junit.xml");
        let out = Command::new(tool("xmllint"))
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(&junit)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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
        let out = Command::new(tool("xmllint"))
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(&broken)
            .output()
            .unwrap();
        assert!(!out.status.success(), "the schema accepted a broken file");
    }
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
    for text in [&md, &csv, &html] {
        assert!(text.contains(&head), "the chain head is missing");
        assert!(
            !text.contains("Acme"),
            "another client's results are in the report"
        );
    }
    assert!(
        md.contains("**Never verified in this period:** bright-imaging"),
        "{md}"
    );
    assert!(
        md.contains("| bright-imaging | 4 | 0% |") && md.contains("| bright-mail | 4 | 100% |"),
        "{md}"
    );
    assert!(
        md.contains("| bright-imaging | 2026-10-02 02:00 UTC | not resolved |"),
        "{md}"
    );
    assert!(
        md.contains("HIPAA 164.308(a)(7)(ii)(D)") && md.contains("8 runs, 4 passed"),
        "{md}"
    );
    assert!(
        csv.contains(",bright-imaging,4,0%,") && csv.contains(",bright-mail,4,100%,"),
        "{csv}"
    );
    assert!(
        html.contains("<svg") && html.contains("restore throughput"),
        "no chart"
    );
}

#[test]
fn a_signed_report_verifies_and_a_changed_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    for format in ["md", "csv", "html"] {
        let path = dir.path().join(format!("q.{format}"));
        let text = report(&config, format, &path);
        let (code, out) = verify(&config, &path);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("ok: signed by") && out.contains("is in"),
            "{out}"
        );
        std::fs::write(
            &path,
            text.replacen("100%", "90%", 1).replacen("0%", "50%", 1),
        )
        .unwrap();
        let (code, out) = verify(&config, &path);
        assert_eq!(code, 5, "{out}");
        assert!(out.contains("changed after it was signed"), "{out}");
        let unsigned: String = text
            .lines()
            .filter(|l| !l.contains("restore-drill-signature"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, unsigned).unwrap();
        assert_eq!(verify(&config, &path).0, 5);
    }
}

#[test]
fn the_html_report_prints_to_pdf_with_its_numbers_and_charts_inside_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let config = quarter(dir.path());
    let html = dir.path().join("q.html");
    report(&config, "html", &html);
    let pdf = dir.path().join("q.pdf");
    let out = Command::new(tool("chromium"))
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
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        pdf.exists(),
        "no PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new(tool("pdftotext"))
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "Bright Smile Orthodontics, 2026-Q4",
        "bright-imaging",
        "bright-mail",
        "100%",
        "restore throughput",
        "projected full restore",
        "Evidence appendix",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` is not in the PDF:\n{text}"
        );
    }
    // Every word lies inside its page: nothing is cut at the edges.
    let bbox = Command::new(tool("pdftotext"))
        .arg("-bbox")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    let bbox = String::from_utf8_lossy(&bbox.stdout);
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
            assert!(
                number(tag, "xMin") >= 0.0 && number(tag, "xMax") <= width,
                "a word runs off the page: {word}"
            );
            assert!(
                number(tag, "yMin") >= 0.0 && number(tag, "yMax") <= height,
                "a word runs off the page: {word}"
            );
        }
    }
    assert!(pages >= 1);
}
