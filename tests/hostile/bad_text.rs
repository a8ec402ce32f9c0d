//! Text from outside the MSP's hands shown where people read it: keys from a client's
//! bucket with ANSI escape sequences, newlines and bidirectional overrides are shown escaped
//! on the terminal, in logs and in mail (they cannot clear the screen, recolour a line or
//! forge a "PASSED" line); text typed into the history (a void's reason) cannot run as a
//! spreadsheet formula in the CSV report nor as HTML or a link in the Markdown one.

use crate::common::{self, Failures};
use crate::guard::Sandbox;

#[test]
fn control_characters_in_keys_are_shown_escaped() {
    let mut sb = Sandbox::new("");
    let hostile = "evil\u{1b}[2J\u{1b}[32m\nPASSED 9 of 9 \u{202e}piz.zst";
    sb.put(&format!("ansi/2026-11-25/{hostile}"), b"not zstd at all");
    sb.policy("ansi", "ansi/", "checksums:\n  required: false\n");
    let mut failures = Failures::new();
    for args in [&["-v"][..], &["--dry-run"]] {
        let out = sb.run(args);
        let text = format!("{}{}", out.stdout, out.stderr);
        failures.check(!text.contains(['\u{1b}', '\u{202e}']), || {
            format!("{args:?}: a raw escape or override reached the terminal: {out}")
        });
        failures.check(!text.lines().any(|l| l.starts_with("PASSED")), || {
            format!("{args:?}: a key forged a line: {out}")
        });
        failures.check(text.contains("evil\\u{1b}[2J"), || {
            format!("{args:?}: the key is not shown escaped: {out}")
        });
    }
    for mail in common_files(&sb.root.join("state/outbox")) {
        let bytes = std::fs::read(&mail).unwrap();
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let body = message.body_text(0).unwrap_or_default().into_owned();
        failures.check(body.contains("evil\\u{1b}[2J"), || {
            format!("{}: the key is not shown escaped: {body}", mail.display())
        });
        failures.check(!body.contains(['\u{1b}', '\u{202e}']), || {
            format!("{}: a raw escape reached the mail", mail.display())
        });
    }
    failures.assert_none();
}

fn common_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    assert!(!files.is_empty(), "no mail in {}", dir.display());
    files
}

#[test]
fn report_cells_cannot_run_as_formulas_or_html() {
    let mut sb = Sandbox::new("");
    sb.put("db/2026-11-25/db.zst", &common::zstd(b"rows"));
    // A client named like a formula: its cell starts every CSV row.
    let client = "=2+5+cmd|' /C calc'!A0";
    common::write_fs_policy(
        &sb.config,
        "db",
        &format!("\"{client}\""),
        &sb.bucket,
        "db/",
        "checksums:\n  required: false\ntargets:\n  rpo: 3650d\n  rto: 1h\n",
    );
    let first = sb.run(&[]);
    sb.run(&[]);
    let run_id = first.results.as_ref().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reason = "=HYPERLINK(\"http://evil.example\",\"open\") <img src=x onerror=alert(1)> [click](http://evil.example)";
    let voided = sb.exec(
        &[
            "history", "void", &run_id, "--by", "@mallory", "--reason", reason,
        ],
        false,
    );
    let mut failures = Failures::new();
    failures.check_eq(voided.code, 0, || format!("void: {voided}"));
    for format in ["csv", "md"] {
        let path = sb.root.join("state").join(format!("q.{format}"));
        let out = sb.exec(
            &[
                "report",
                "--client",
                client,
                "--quarter",
                "2026-Q4",
                "-o",
                path.to_str().unwrap(),
            ],
            false,
        );
        failures.check_eq(out.code, 0, || format!("report {format}: {out}"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        match format {
            "csv" => {
                let cells = csv_cells(&text);
                failures.check(cells.iter().any(|c| c == &format!("'{client}")), || {
                    format!("csv: the client's name is not neutralised: {text}")
                });
                failures.check(
                    !cells
                        .iter()
                        .any(|c| c.starts_with(['=', '+', '@']) || c.starts_with("-=")),
                    || format!("csv: a cell starts as a formula: {text}"),
                );
            }
            _ => {
                failures.check(text.contains("@mallory") || text.contains(&run_id), || {
                    format!("md: the voided run is missing: {text}")
                });
                failures.check(
                    !text.contains(" <img") && !text.contains(" [click]("),
                    || format!("md: raw HTML or a link from the reason: {text}"),
                );
                failures.check(text.contains("\\<img"), || {
                    format!("md: the reason is not shown escaped: {text}")
                });
            }
        }
    }
    failures.assert_none();
}

/// The cells of a CSV text (RFC 4180 quoting).
fn csv_cells(text: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',' | '\n', false) => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}
