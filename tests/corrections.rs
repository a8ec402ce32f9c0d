//! Corrections of the history through the real binary: `history annotate` and `history void`
//! append signed records to the chain (the runs' rows are never edited), `history` shows
//! them, the period report strikes a voided run through and leaves it out of every figure,
//! `history verify` covers them, and a correction changed in the SQLite file is named.

mod common;

use std::path::Path;

use common::{Failures, append_settings, bin, demo_config, restore_drill, run_code, run_ok};

/// Bright Smile's two policies run on three days, signed: bright-imaging fails each time.
fn three_runs(dir: &Path) -> (std::path::PathBuf, Vec<String>) {
    let config = demo_config(dir);
    let key = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    std::fs::write(dir.join("signing.key"), format!("{key}\n")).unwrap();
    append_settings(
        &config,
        &format!(
            "signing:\n  key: ${{file:{}}}\n",
            dir.join("signing.key").display()
        ),
    );
    for day in ["2026-10-02", "2026-10-16", "2026-11-03"] {
        let args = [
            "run",
            "--policy",
            "bright-imaging",
            "--policy",
            "bright-mail",
        ];
        let now = format!("{day}T02:00:00Z");
        // The backups dated as of the run's clock, as the nightly run would find them.
        common::date_fixtures_as_of(&config, &now);
        run_code(
            restore_drill(&config, &args).env("RESTORE_DRILL_NOW", now),
            1,
        );
    }
    let runs = common::history_json(&config, &[]);
    let ids = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    (config, ids)
}

fn report(config: &Path, format: &str, out: &Path) -> String {
    let mut cmd = bin();
    cmd.args(["report", "--client", "Bright Smile Orthodontics"])
        .args(["--quarter", "2026-Q4", "--format", format, "-o"])
        .arg(out)
        .arg("--config-dir")
        .arg(config);
    run_ok(cmd);
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn a_voided_run_leaves_every_figure_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (config, ids) = three_runs(dir.path());
    let middle = &ids[1];
    let md = report(&config, "md", &dir.path().join("before.md"));
    assert!(md.contains("| bright-imaging | 3 | 0% |"), "{md}");
    assert!(md.contains("(3 failing runs)"), "{md}");

    let reason = "storage migration at the client, planned";
    let out = run_ok(restore_drill(
        &config,
        &[
            "history",
            "void",
            middle,
            "--by",
            "J. Rivera",
            "--reason",
            reason,
        ],
    ));
    assert!(
        out.stdout.contains(&format!("voided run {middle}")),
        "{out}"
    );
    run_ok(restore_drill(
        &config,
        &[
            "history",
            "annotate",
            &ids[0],
            "--by",
            "J. Rivera",
            "--note",
            "disk replaced",
        ],
    ));

    let mut failures = Failures::new();
    let md = report(&config, "md", &dir.path().join("q.md"));
    for expected in [
        "| bright-imaging | 2 | 0% |",
        "| bright-mail | 2 | 100% |",
        "(2 failing runs)",
        "## Voided runs",
        &format!("| ~~{middle}~~ |"),
        &format!("VOIDED (was FAIL): {reason}"),
    ] {
        failures.check(md.contains(expected), || {
            format!("`{expected}` not in:\n{md}")
        });
    }
    let csv = report(&config, "csv", &dir.path().join("q.csv"));
    let column = format!("{middle}: {reason} (voided by J. Rivera)");
    failures.check(
        csv.lines()
            .any(|l| l.contains(",bright-imaging,") && l.contains(",2,0,0,"))
            && csv.contains(&column),
        || format!("CSV:\n{csv}"),
    );
    let html = report(&config, "html", &dir.path().join("q.html"));
    failures.check(html.contains(&format!("<del>{middle}</del>")), || {
        "no struck-through run in the HTML".to_string()
    });

    // `history` shows the voiding and the note.
    let out = run_ok(restore_drill(&config, &["history"]));
    failures.check(
        out.stdout.contains("VOIDED (was FAIL)")
            && out
                .stdout
                .contains(&format!("{middle} voided by J. Rivera"))
            && out.stdout.contains(reason)
            && out
                .stdout
                .contains(&format!("{} note by J. Rivera", ids[0]))
            && out.stdout.contains("disk replaced"),
        || format!("history:\n{out}"),
    );
    let imaging = common::history_json(&config, &["--policy", "bright-imaging"]);
    let voided: Vec<&str> = imaging
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["voided"].as_str())
        .collect();
    failures.check_eq(voided, vec![reason], || "voided in --policy".to_string());
    // Three runs and two corrections, all signed, one chain.
    let out = run_ok(restore_drill(&config, &["history", "verify"]));
    failures.check(
        out.stdout.contains("ok: 5 records") && out.stdout.contains("signatures: 5 verified"),
        || format!("verify:\n{out}"),
    );
    // A run after the corrections links to the newest of them.
    // Its backups dated as of its clock, so that it passes (not `future_dated_backup`).
    common::date_fixtures_as_of(&config, "2026-11-10T02:00:00Z");
    let args = ["run", "--policy", "bright-mail"];
    run_ok(restore_drill(&config, &args).env("RESTORE_DRILL_NOW", "2026-11-10T02:00:00Z"));
    let out = run_ok(restore_drill(&config, &["history", "verify"]));
    failures.check(out.stdout.contains("ok: 6 records"), || format!("{out}"));
    failures.assert_none();
}

#[test]
fn a_correction_changed_in_the_database_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (config, ids) = three_runs(dir.path());
    let run_id = &ids[0];
    run_ok(restore_drill(
        &config,
        &[
            "history",
            "void",
            run_id,
            "--by",
            "J. Rivera",
            "--reason",
            "wrong client",
        ],
    ));
    run_ok(restore_drill(&config, &["history", "verify"]));
    {
        let db = dir.path().join("state").join("history.sqlite3");
        let conn = rusqlite::Connection::open(db).unwrap();
        let changed = conn
            .execute("UPDATE corrections SET text = 'nothing to see'", [])
            .unwrap();
        assert_eq!(changed, 1);
    }
    let out = run_code(restore_drill(&config, &["history", "verify"]), 5);
    assert!(
        out.stdout
            .contains(&format!("correction #1 (void of run {run_id})"))
            && out.stdout.contains("changed after it was made"),
        "{out}"
    );
}

#[test]
fn voiding_an_unknown_run_or_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (config, ids) = three_runs(dir.path());
    let void = |run: &str| {
        restore_drill(
            &config,
            &[
                "history",
                "void",
                run,
                "--by",
                "J. Rivera",
                "--reason",
                "mistake",
            ],
        )
    };
    let out = run_code(void("20261002T020000Z-dead"), 2);
    assert!(
        out.stderr.contains("no run `20261002T020000Z-dead`"),
        "{out}"
    );
    run_ok(void(&ids[2]));
    let out = run_code(void(&ids[2]), 2);
    assert!(
        out.stderr
            .contains("already voided (by J. Rivera: mistake)"),
        "{out}"
    );
    // Neither refusal added a record.
    let out = run_ok(restore_drill(&config, &["history", "verify"]));
    assert!(out.stdout.contains("ok: 4 records"), "{out}");
}
