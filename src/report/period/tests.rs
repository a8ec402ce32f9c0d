//! Tests of the period report as a whole: recorded runs built into a report and rendered,
//! the figures checked and the renderings compared with their snapshots.

use std::collections::BTreeMap;

use super::*;
use crate::config::{Control, DateSource};
use crate::history::{StoredPolicy, StoredRun};

fn stored(day: &str, imaging_passes: bool) -> StoredRun {
    let policy = |name: &str, passed: bool| StoredPolicy {
        policy: name.into(),
        client: "Bright Smile Orthodontics".into(),
        passed,
        rpo_target_seconds: 26.0 * 3600.0,
        rpo_age_seconds: Some(if passed { 3.0 * 3600.0 } else { 30.0 * 3600.0 }),
        rto_target_seconds: 4.0 * 3600.0,
        rto_measured_seconds: 40.0,
        rto_projected_seconds: Some(1800.0),
        throughput_bytes_per_second: Some(150.0 * 1024.0 * 1024.0),
        newest_set: Some(day.into()),
        coverage: None,
        objects: vec![crate::history::StoredObject {
            key: format!("{day}/{name}.tar.zst"),
            set: day.into(),
            restored_bytes: 40 << 20,
            files: 12,
            seconds: 40.0,
            verified: true,
        }],
        findings: if passed {
            vec![]
        } else {
            vec![("rpo_exceeded".into(), None, "too old".into())]
        },
    };
    StoredRun {
        run_id: format!("{}T020000Z-0001", day.replace('-', "")),
        kind: if day == "2026-10-22" {
            "drill".into()
        } else {
            "scheduled".into()
        },
        operator: (day == "2026-10-22").then(|| "J. Rivera (Northwind)".into()),
        witness: (day == "2026-10-22").then(|| "Dr. A. Chen (Bright Smile)".into()),
        started_at: format!("{day}T02:00:00Z").parse().unwrap(),
        record_hash: format!("{:0>64}", day.replace('-', "")),
        content_hash: format!("{:f>64}", day.replace('-', "")),
        policies: vec![
            policy("bright-imaging", imaging_passes),
            policy("bright-mail", true),
        ],
        voided: None,
    }
}

fn sample() -> PeriodReport {
    let runs = vec![
        stored("2026-10-01", true),
        stored("2026-10-08", false),
        stored("2026-10-15", false),
        stored("2026-10-22", true),
    ];
    let controls = BTreeMap::from([(
        "SOC 2 A1.3".to_string(),
        Control {
            description: "Recovery plan testing".into(),
            policies: vec!["bright-imaging".into(), "acme-db".into()],
        },
    )]);
    let known = |name: &str, dated_by| KnownPolicy {
        name: name.into(),
        dated_by,
        description: None,
        responsible: Some("msp-noc".into()),
    };
    build(Inputs {
        client: "Bright Smile Orthodontics",
        period: Period::quarter("2026-Q4", &jiff::tz::TimeZone::UTC).unwrap(),
        runs: &runs,
        previous: None,
        policies: &[
            known("bright-imaging", DateSource::Name),
            known("bright-mail", DateSource::Modified),
            known("bright-xray", DateSource::Name),
        ],
        controls: &controls,
        chain_head: Some("c".repeat(64)),
        presentation: Presentation::default(),
        now: "2026-10-31T00:00:00Z".parse().unwrap(),
    })
}

#[test]
fn incidents_open_on_failure_and_close_on_the_next_pass() {
    let report = sample();
    assert_eq!(report.incidents.len(), 1);
    let incident = &report.incidents[0];
    assert_eq!(incident.failing_runs, 2);
    assert_eq!(incident.time_to_fix_seconds, Some(14.0 * 86_400.0));
    assert_eq!(report.summary.not_verified, ["bright-xray"]);
    assert_eq!(report.summary.status, Overall::ActionNeeded);
    let imaging = &report.policies[0];
    assert_eq!((imaging.runs, imaging.passes), (4, 2));
    assert_eq!(imaging.rpo_worst_age_seconds, Some(30.0 * 3600.0));
    assert_eq!(
        imaging.days.len(),
        30,
        "days up to the report's time, not the quarter's end"
    );
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown(&sample()));
}

#[test]
fn html_text_snapshot() {
    // The page's text, without markup and without the charts' drawing instructions.
    let page = html(&sample());
    let mut text = String::new();
    let mut in_tag = false;
    let mut in_svg = false;
    let mut rest = page.as_str();
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("<svg") {
            in_svg = true;
        }
        if rest.starts_with("</svg>") {
            in_svg = false;
        }
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push('\n');
            }
            _ if !in_tag && !in_svg => text.push(c),
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    let text: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    insta::assert_snapshot!(text.join("\n"));
}
