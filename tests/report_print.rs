//! The period report's HTML as people see it: a few weeks of history (two policies, one
//! failing, a drill, a voided run) with the MSP's branding and a time zone, printed to PDF by
//! headless Chromium at A4 and read back with pdftotext: every word of the page comes out
//! whole (no "PAS S", "run s" or "RT O"), the first page is the answer, and every page
//! carries the client's and the MSP's names and its number. With `RESTORE_DRILL_SHOTS=DIR`
//! the screen and print renderings are also left in DIR as PNG (pdftoppm) to look at.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{Failures, append_settings, bin, demo_config, restore_drill, run, run_code, run_ok};

fn tool(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is missing: tests/run.sh installs it (chromium, poppler-utils)"
    );
    path
}

const LOGO: &str = r##"<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40"><rect width="40" height="40" rx="6" fill="#1f6feb"/><path d="M8 30 L20 10 L32 30 Z" fill="#fff"/></svg>"##;

/// A set of the practice database, stored clean or damaged after its checksum was taken.
fn db_set(bucket: &Path, day: &str, clean: bool) {
    let good = common::zstd(format!("database dump of {day}").as_bytes());
    common::put_set(bucket, &format!("d/{day}"), &[("db.zst", &good)]);
    if !clean {
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        common::put(bucket, &format!("d/{day}/db.zst"), &bad);
    }
}

/// Weekly runs of Bright Smile's policies from the previous quarter's end: bright-imaging
/// fails (its newest set is damaged), the practice database misses its 1 ms RTO, has a
/// corrupt set superseded by a newer clean one and another re-uploaded clean (resolved); a
/// witnessed drill of bright-mail; the run of 2026-10-16 voided.
fn weeks_of_history(dir: &Path) -> PathBuf {
    let config = demo_config(dir);
    std::fs::write(config.join("logo.svg"), LOGO).unwrap();
    append_settings(
        &config,
        "report:\n  timezone: Europe/Berlin\n  msp_name: Northwind IT Services\n  logo: logo.svg\n  accent: \"#1f6feb\"\n  paper: a4\ncontrols:\n  \"HIPAA 164.308(a)(7)(ii)(D)\":\n    description: Testing and revision of contingency plans\n    policies: [bright-mail, bright-imaging, practice-db]\n",
    );
    let db = dir.join("db-bucket");
    common::write_fs_policy(
        &config,
        "practice-db",
        "Bright Smile Orthodontics",
        &db,
        "d/",
        "  date_format: \"%Y-%m-%d\"\ndescription: Practice management database\ntargets:\n  rpo: 3650d\n  rto: 1ms\n",
    );
    let sets = [
        ("2026-09-25", Some(("2026-09-24", false))),
        ("2026-10-02", Some(("2026-10-01", false))),
        ("2026-10-09", Some(("2026-10-08", true))),
        ("2026-10-16", None),
        ("2026-10-23", Some(("2026-10-22", false))),
        ("2026-10-30", Some(("2026-10-22", true))),
        ("2026-11-06", Some(("2026-11-05", true))),
    ];
    let args = [
        "run",
        "--policy",
        "bright-imaging",
        "--policy",
        "bright-mail",
        "--policy",
        "practice-db",
    ];
    for (day, set) in sets {
        if let Some((set, clean)) = set {
            db_set(&db, set, clean);
        }
        let now = format!("{day}T02:00:00Z");
        common::date_fixtures_as_of(&config, &now);
        run_code(
            restore_drill(&config, &args).env("RESTORE_DRILL_NOW", now),
            1,
        );
    }
    run_ok(
        restore_drill(
            &config,
            &[
                "drill",
                "bright-mail",
                "--operator",
                "J. Rivera (Northwind)",
                "--witness",
                "Dr. A. Chen (Bright Smile)",
            ],
        )
        .env("RESTORE_DRILL_NOW", "2026-11-06T14:00:00Z"),
    );
    let runs = common::history_json(&config, &[]);
    let voided = runs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .find(|id| id.starts_with("20261016"))
        .expect("the run of 2026-10-16")
        .to_string();
    run_ok(restore_drill(
        &config,
        &[
            "history",
            "void",
            &voided,
            "--by",
            "J. Rivera",
            "--reason",
            "storage migration at the client, planned",
        ],
    ));
    config
}

fn chromium(dir: &Path) -> Command {
    let mut cmd = Command::new(tool("chromium"));
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!(
        "--user-data-dir={}",
        dir.join("chromium-profile").display()
    ));
    cmd
}

/// A word without the punctuation around it.
fn bare(word: &str) -> &str {
    word.trim_matches(|c: char| ",.;:()".contains(c))
}

/// The page's text as a browser shows it (markup, style and chart drawing left out, the
/// charts' labels kept), split into bare words.
fn page_words(html: &str) -> BTreeSet<String> {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        text.push(' ');
        let tag = &rest[start..];
        let skip = if tag.starts_with("<style") {
            tag.find("</style>").unwrap_or(tag.len())
        } else {
            tag.find('>').map_or(tag.len(), |e| e + 1)
        };
        rest = &tag[skip..];
    }
    text.push_str(rest);
    let text = text
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"");
    text.split_whitespace()
        .map(|w| bare(w).to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words in the PDF's text (`pdftotext -layout`, which keeps a line's closing hyphen) that
/// are no word of the page: a word broken in two. Allowed: a hash or key wrapping in its own
/// cell (a piece of a long word), and a line broken after a hyphen (`bright-` / `imaging`).
fn broken_words(pdf_text: &str, page: &BTreeSet<String>) -> Vec<String> {
    let long: Vec<&String> = page
        .iter()
        .filter(|w| w.len() >= 24 || w.contains('/'))
        .collect();
    let margins = ["Page", "of", "\u{b7}"];
    pdf_text
        .split_whitespace()
        .map(bare)
        .filter(|w| {
            !(w.is_empty()
                || page.contains(*w)
                || margins.contains(w)
                || w.chars().all(|c| c.is_ascii_digit())
                || long.iter().any(|l| l.contains(*w))
                || (w.ends_with('-') && page.iter().any(|p| p.starts_with(*w)))
                || page.iter().any(|p| p.ends_with(&format!("-{w}"))))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_printed_report_keeps_every_word_whole_and_names_client_msp_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let config = weeks_of_history(dir.path());
    let html_path = dir.path().join("q4.html");
    run_ok(
        bin()
            .args([
                "report",
                "--client",
                "Bright Smile Orthodontics",
                "--quarter",
                "2026-Q4",
                "-o",
            ])
            .arg(&html_path)
            .arg("--config-dir")
            .arg(&config)
            .env("RESTORE_DRILL_NOW", "2026-11-10T09:00:00Z"),
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    let pdf = dir.path().join("q4.pdf");
    let out = run(chromium(dir.path())
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html_path.display())));
    assert!(pdf.exists(), "no PDF: {out}");
    let pages: Vec<String> = {
        let text = run(Command::new(tool("pdftotext"))
            .arg("-layout")
            .arg(&pdf)
            .arg("-"))
        .stdout;
        text.split('\u{c}')
            .map(str::to_string)
            .filter(|p| !p.trim().is_empty())
            .collect()
    };
    let mut failures = Failures::new();
    // A4 portrait: 595 x 842 points, as the settings' `paper: a4` asks.
    let info = run(Command::new(tool("pdfinfo")).arg(&pdf)).stdout;
    failures.check(info.contains("pts (A4)"), || format!("not A4: {info}"));
    let words = page_words(&html);
    let all = pages.join("\n");
    let broken = broken_words(&all, &words);
    failures.check(broken.is_empty(), || {
        format!("words broken in the PDF: {broken:?}")
    });
    for whole in [
        "PASS",
        "runs",
        "RTO",
        "RPO",
        "verified",
        "superseded",
        "open",
        "EXCEEDED",
        "MET",
    ] {
        let found = all
            .split_whitespace()
            .any(|w| w.trim_matches(|c: char| !c.is_alphanumeric()) == whole);
        if words
            .iter()
            .any(|w| w.trim_matches(|c: char| !c.is_alphanumeric()) == whole)
        {
            failures.check(found, || {
                format!("`{whole}` is on the page but not whole in the PDF")
            });
        }
    }
    failures.check(
        all.contains("PASS") && all.contains("RTO") && all.contains("runs"),
        || "the PDF lacks the table words it is checked for".into(),
    );
    // The answer first: the first page holds the overall status and every policy's line.
    let first = &pages[0];
    for expected in [
        "Overall:",
        "bright-imaging",
        "bright-mail",
        "practice-db",
        "Mailbox exports",
        "verified, RTO missed",
        "Changes against 2026-Q3",
        "Northwind IT Services",
        "Europe/Berlin",
    ] {
        failures.check(first.contains(expected), || {
            format!("`{expected}` is not on the first page:\n{first}")
        });
    }
    failures.check(!first.contains("Evidence appendix"), || {
        "the appendix is on the first page".into()
    });
    // Every page: the client, the MSP and "Page N of M".
    let total = pages.len();
    failures.check(total >= 3, || format!("{total} pages"));
    for (i, page) in pages.iter().enumerate() {
        for expected in [
            "Bright Smile Orthodontics".to_string(),
            "Northwind IT Services".to_string(),
            format!("Page {} of {total}", i + 1),
        ] {
            failures.check(page.contains(&expected), || {
                format!("page {}: no `{expected}`", i + 1)
            });
        }
    }
    // Greyscale and layout are looked at: the renderings go where asked.
    if let Some(shots) = std::env::var_os("RESTORE_DRILL_SHOTS") {
        save_shots(dir.path(), &html_path, &pdf, Path::new(&shots));
    }
    failures.assert_none_for(&all);
}

/// The screen rendering (1000 px wide) and each printed page (pdftoppm, 80 dpi), in colour and
/// in greyscale, as PNG in `shots`.
fn save_shots(dir: &Path, html: &Path, pdf: &Path, shots: &Path) {
    std::fs::create_dir_all(shots).unwrap();
    let screen = shots.join("screen.png");
    run(chromium(dir)
        .arg("--window-size=1000,1400")
        .arg(format!("--screenshot={}", screen.display()))
        .arg(format!("file://{}", html.display())));
    std::fs::copy(pdf, shots.join("report.pdf")).unwrap();
    run(Command::new(tool("pdftoppm"))
        .args(["-png", "-r", "80"])
        .arg(pdf)
        .arg(shots.join("print")));
    run(Command::new(tool("pdftoppm"))
        .args(["-png", "-r", "80", "-gray"])
        .arg(pdf)
        .arg(shots.join("grey")));
}
