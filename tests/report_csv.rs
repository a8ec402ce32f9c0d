//! The period report's CSV read back as a spreadsheet would, with the csv crate: a header of
//! snake_case names, one row per policy, raw numbers (seconds, counts, fractions, RFC 3339
//! times) that agree with each other and with the policies' targets, no words for people.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{Failures, bin, demo_config, restore_drill, run_code, run_ok};

fn report_csv(config: &Path, out: &Path) -> String {
    run_ok(
        bin()
            .args(["report", "--client", "Bright Smile Orthodontics"])
            .args(["--quarter", "2026-Q4", "-o"])
            .arg(out)
            .arg("--config-dir")
            .arg(config),
    );
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn the_csv_reads_back_as_raw_numbers_one_row_per_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    for day in ["2026-10-02", "2026-10-16", "2026-11-03"] {
        let now = format!("{day}T02:00:00Z");
        common::date_fixtures_as_of(&config, &now);
        run_code(
            restore_drill(&config, &["run"]).env("RESTORE_DRILL_NOW", now),
            1,
        );
    }
    let text = report_csv(&config, &dir.path().join("q4.csv"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, restore_drill::report::period::CSV_COLUMNS);
    let rows: Vec<HashMap<String, String>> = reader
        .records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("not CSV: {e}\n{text}"));
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_string))
                .collect()
        })
        .collect();
    let row = |policy: &str| {
        rows.iter()
            .find(|r| r["policy"] == policy)
            .unwrap_or_else(|| panic!("no row for {policy}:\n{text}"))
    };
    let num = |r: &HashMap<String, String>, c: &str| -> f64 {
        r[c].parse()
            .unwrap_or_else(|_| panic!("{c} = {:?} is not a number:\n{text}", r[c]))
    };
    let mut failures = Failures::new();
    failures.check_eq(rows.len(), 2, || text.clone());
    let (imaging, mail) = (row("bright-imaging"), row("bright-mail"));
    for (r, passes, rto_hours) in [(imaging, 0.0, 8.0), (mail, 3.0, 2.0)] {
        let policy = &r["policy"];
        failures.check_eq(r["client"].as_str(), "Bright Smile Orthodontics", || {
            policy.clone()
        });
        failures.check_eq(r["period"].as_str(), "2026-Q4", || policy.clone());
        failures.check_eq(r["period_from"].as_str(), "2026-10-01T00:00:00Z", || {
            policy.clone()
        });
        failures.check_eq(num(r, "runs"), 3.0, || policy.clone());
        failures.check_eq(num(r, "passes"), passes, || policy.clone());
        failures.check_eq(num(r, "pass_rate"), passes / 3.0, || policy.clone());
        failures.check_eq(num(r, "rpo_target_seconds"), 26.0 * 3600.0, || {
            policy.clone()
        });
        failures.check_eq(num(r, "rto_target_seconds"), rto_hours * 3600.0, || {
            policy.clone()
        });
        failures.check(
            num(r, "rto_measured_worst_seconds") >= num(r, "rto_measured_median_seconds"),
            || format!("{policy}: worst restore below the median"),
        );
        failures.check(num(r, "targets_met_runs") <= num(r, "runs"), || {
            policy.clone()
        });
        failures.check(r["generated_at"].parse::<jiff::Timestamp>().is_ok(), || {
            format!("{policy}: generated_at is not RFC 3339")
        });
        // The history's head as `report verify` and `history verify --against` read it.
        let head = r["chain_head"].rsplit(' ').next().unwrap_or_default();
        failures.check(r["chain_head"].starts_with('#') && head.len() == 64, || {
            format!("{policy}: chain_head {:?}", r["chain_head"])
        });
        failures.check_eq(num(r, "voided_runs"), 0.0, || policy.clone());
    }
    failures.check_eq(imaging["last_run_status"].as_str(), "failed", || {
        text.clone()
    });
    failures.check_eq(mail["last_run_status"].as_str(), "verified", || {
        text.clone()
    });
    failures.check_eq(mail["description"].as_str(), "Mailbox exports", || {
        text.clone()
    });
    failures.check_eq(num(mail, "verified_runs"), 3.0, || text.clone());
    // The policy that passed: its last pass is a time, its age a number of seconds.
    failures.check(mail["last_pass_at"].starts_with("2026-11-03T02:"), || {
        text.clone()
    });
    failures.check(num(mail, "rpo_worst_age_seconds") > 0.0, || text.clone());
    // The one that never passed: blank where there is nothing, not a word or a zero.
    failures.check_eq(imaging["last_pass_at"].as_str(), "", || text.clone());
    failures.check_eq(imaging["days_since_last_pass"].as_str(), "", || {
        text.clone()
    });
    failures.check(num(imaging, "failure_episodes") >= 1.0, || text.clone());
    // Data only: no words for people, no signature line.
    let cells = text.split_once('\n').map_or("", |(_, rows)| rows);
    for bad in [" / ", "%", "never", "UTC"] {
        failures.check(!cells.contains(bad), || {
            format!("`{bad}` in the CSV:\n{text}")
        });
    }
    failures.assert_none();
}
