//! The engine driven as a front end would drive it, without the CLI: a configuration on
//! disk over backups on local disk, events collected, the outcome checked.

use std::sync::Mutex;

use super::*;

/// Collects events as text, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Events for Recorder {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::NothingDue => "nothing due".to_string(),
            Event::Planned { planned, .. } => format!("planned {}", planned.len()),
            Event::DeadRunRecorded { run_id } => format!("dead run {run_id}"),
            Event::DeadRunNotRecorded { error } => format!("dead run not recorded: {error}"),
            Event::DeadRunUntrusted { finding } => format!("untrusted marker: {finding}"),
            Event::Stopping(signal) => format!("stopping {signal:?}"),
            Event::StoppedRecorded { run_id } => format!("stopped {run_id}"),
            Event::StoppedNotRecorded { error } => format!("stopped, not recorded: {error}"),
            Event::ScratchNotRemoved { path, .. } => format!("scratch {}", path.display()),
            Event::Finished { result, kept } => {
                format!(
                    "finished {} kept={}",
                    result.status.as_str(),
                    kept.is_some()
                )
            }
            Event::Recorded { .. } => "recorded".to_string(),
            Event::Artifacts { .. } => "artifacts".to_string(),
            Event::Json { text } => format!("json {}", text.len()),
            Event::Mail(report) => format!("mail {} written", report.written.len()),
            Event::NotKept { message } => format!("not kept: {message}"),
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A configuration folder with one team, file mail, and one policy over a set of one raw
/// object with its sidecar digest; `extra` is appended to the policy.
fn sandbox(extra: &str) -> (tempfile::TempDir, Config) {
    let root = tempfile::tempdir().unwrap();
    let data = b"patient ledger\n".repeat(100);
    let set = root.path().join("bucket/db/2026-11-26");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(set.join("dump.sql"), &data).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    std::fs::write(set.join("dump.sql.sha256"), format!("{digest}  dump.sql\n")).unwrap();
    let config = root.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("restore-drill.yaml"),
        "state_dir: ../state\nscratch_dir: ../scratch\nteams:\n  msp:\n    name: NOC\n    msp: true\n    email: [noc@msp.example]\nmail:\n  from: rd@msp.example\n  transport: file\n",
    )
    .unwrap();
    std::fs::write(
        config.join("db.yaml"),
        format!(
            "name: acme-db\nclient: Acme Dental\nstorage:\n  service: fs\n  root: ../bucket\nbackups:\n  prefix: db/\n  sets: by-folder\ntargets:\n  rpo: 26h\n  rto: 1h\n{extra}"
        ),
    )
    .unwrap();
    let loaded = crate::config::load(&config).unwrap();
    (root, loaded)
}

#[test]
fn a_session_runs_records_and_mails_without_the_cli() {
    let (root, config) = sandbox("");
    let events = Recorder::default();
    let json = root.path().join("results.json");
    let options = SessionOptions {
        json: Some(json.clone()),
        ..SessionOptions::default()
    };
    let outcome = Session::new(&config, options)
        .unwrap()
        .run(&events)
        .unwrap();
    assert_eq!(outcome.code, ExitCode::Success, "{:?}", events.lines());
    let result = outcome.result.expect("a finished run has its result");
    assert_eq!(result.policies.len(), 1);
    assert_eq!(result.policies[0].objects.len(), 1);
    assert_eq!(
        events.lines(),
        [
            "finished pass kept=false",
            "recorded",
            "artifacts",
            "mail 1 written"
        ]
    );
    assert!(json.is_file());
    assert!(
        root.path()
            .join("state")
            .join("runs")
            .join(&result.run_id)
            .join("results.json")
            .is_file()
    );
}

/// A results file that cannot be written (here a folder stands in its place) is evidence
/// lost, said after the mail, exit 4; the history, artifacts and mail are still kept. It
/// stopped the run before they were, once.
#[test]
fn an_unwritable_json_file_loses_no_other_evidence() {
    let (root, config) = sandbox("");
    let json = root.path().join("results.json");
    std::fs::create_dir(&json).unwrap();
    let events = Recorder::default();
    let options = SessionOptions {
        json: Some(json.clone()),
        ..SessionOptions::default()
    };
    let outcome = Session::new(&config, options)
        .unwrap()
        .run(&events)
        .unwrap();
    assert_eq!(outcome.code, ExitCode::RunError);
    let lines = events.lines();
    assert_eq!(
        lines[..4],
        [
            "finished pass kept=false",
            "recorded",
            "artifacts",
            "mail 1 written"
        ]
    );
    assert!(
        lines[4].starts_with(&format!(
            "not kept: cannot write the results to {}: ",
            json.display()
        )),
        "{lines:?}"
    );
}

#[test]
fn a_dry_run_plans_and_touches_nothing() {
    let (root, config) = sandbox("");
    let events = Recorder::default();
    let options = SessionOptions {
        dry_run: true,
        ..SessionOptions::default()
    };
    let outcome = Session::new(&config, options)
        .unwrap()
        .run(&events)
        .unwrap();
    assert_eq!(outcome.code, ExitCode::Success);
    assert!(outcome.result.is_none());
    assert_eq!(events.lines(), ["planned 1"]);
    assert!(
        !root.path().join("state").exists(),
        "a dry run records nothing"
    );
}

#[test]
fn due_with_nothing_scheduled_says_so_and_restores_nothing() {
    let (root, config) = sandbox("");
    let events = Recorder::default();
    let options = SessionOptions {
        due: true,
        ..SessionOptions::default()
    };
    let outcome = Session::new(&config, options)
        .unwrap()
        .run(&events)
        .unwrap();
    assert_eq!(outcome.code, ExitCode::Success);
    assert_eq!(events.lines(), ["nothing due"]);
    assert!(!root.path().join("state/runs").exists());
}

#[test]
fn unknown_policy_names_are_refused_with_the_known_ones() {
    let (_root, config) = sandbox("");
    let options = SessionOptions {
        policies: vec!["acme-db".into(), "nope".into()],
        ..SessionOptions::default()
    };
    let Err(error) = Session::new(&config, options) else {
        panic!("an unknown policy was accepted");
    };
    assert_eq!(error.exit_code(), ExitCode::InvalidConfig);
    let text = error.to_string();
    assert_eq!(text, "no policy named `nope`; known: acme-db");
}

#[test]
fn a_json_file_in_a_missing_folder_is_refused_before_anything_runs() {
    let (root, config) = sandbox("");
    let options = SessionOptions {
        json: Some(root.path().join("absent/results.json")),
        ..SessionOptions::default()
    };
    let Err(error) = Session::new(&config, options) else {
        panic!("a results file in a missing folder was accepted");
    };
    assert_eq!(error.exit_code(), ExitCode::InvalidConfig);
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[test]
fn a_busy_state_folder_is_exit_6_and_nothing_runs() {
    let (root, config) = sandbox("");
    let _held = unattended::acquire(&root.path().join("state"), "test").unwrap();
    let events = Recorder::default();
    let error = Session::new(&config, SessionOptions::default())
        .unwrap()
        .run(&events)
        .unwrap_err();
    assert_eq!(error.exit_code(), ExitCode::Busy);
    assert!(events.lines().is_empty(), "{:?}", events.lines());
}

#[test]
fn evidence_lost_outranks_mail_which_outranks_failed_policies() {
    let mut result = crate::results::sample::run();
    result.status = Status::Fail;
    let undelivered = MailReport {
        undelivered: vec!["spooled".into()],
        ..MailReport::default()
    };
    let delivered = MailReport::default();
    assert_eq!(exit_code(&result, true, &undelivered), ExitCode::RunError);
    assert_eq!(
        exit_code(&result, false, &undelivered),
        ExitCode::MailUndelivered
    );
    assert_eq!(
        exit_code(&result, false, &delivered),
        ExitCode::PolicyFailed
    );
    result.status = Status::Pass;
    assert_eq!(exit_code(&result, false, &delivered), ExitCode::Success);
}

#[test]
fn a_drill_that_restored_nothing_is_not_measured_never_met() {
    let mut result = crate::results::sample::run();
    let rto = std::time::Duration::from_secs(3600);
    let summary = DrillSummary::of(&result, rto).unwrap();
    assert_eq!(summary.verdict, RtoVerdict::Met, "{summary:?}");
    result.policies[0].objects.clear();
    let summary = DrillSummary::of(&result, rto).unwrap();
    assert_eq!(summary.verdict, RtoVerdict::NotMeasured);
    result.policies[0].objects = crate::results::sample::run().policies[0].objects.clone();
    result.policies[0].rto.measured_seconds = 3601.0;
    assert_eq!(
        DrillSummary::of(&result, rto).unwrap().verdict,
        RtoVerdict::Exceeded
    );
    result.policies.clear();
    assert!(DrillSummary::of(&result, rto).is_none());
}
