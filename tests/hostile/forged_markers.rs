//! Dead-run markers planted in scratch by someone who can write there: a run with an id,
//! kind and date of their choosing must not become a signed record of the history. A
//! marker is believed only in a folder that is the runner's own with mode 0700, and only
//! for a run this history noted as started; anything else is reported, not recorded.

use std::os::unix::fs::PermissionsExt as _;

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// Plants a run folder holding a marker for `run_id`, with `mode`.
fn plant(sb: &Sandbox, run_id: &str, kind: &str, mode: u32) {
    let dir = sb.scratch.join(run_id);
    std::fs::create_dir_all(&dir).unwrap();
    let state = std::fs::canonicalize(sb.root.join("state")).unwrap();
    let marker = serde_json::json!({
        "state_dir": state,
        "run_id": run_id,
        "started_at": "2020-01-01T00:00:00Z",
        "seed": 1,
        "kind": kind,
        "tool_version": "0.0.1",
    });
    std::fs::write(dir.join(".restore-drill-run.lock"), marker.to_string()).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn planted_dead_run_markers_are_reported_not_recorded() {
    let mut sb = Sandbox::new("");
    let stored = common::zstd(&common::text(3, 10_000));
    common::put_set(&sb.bucket, "good/2026-11-25", &[("data.zst", stored)]);
    sb.policy("good", "good/", "");
    sb.seal();
    let first = sb.run(&[]);
    assert_eq!(first.code, 0, "{first}");
    // An invented id in a folder made as a run makes it; another in a folder others can read.
    plant(&sb, "20200101T000000Z-dead", "drill", 0o700);
    plant(&sb, "20200102T000000Z-beef", "scheduled", 0o755);

    let out = sb.run(&[]);
    let mut failures = Failures::new();
    failures.check(out.code == 0, || {
        format!("a planted marker fails no policy: the run passes (exit 0)\n{out}")
    });
    let runs = common::history_json(&sb.config, &[]);
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    failures.check(
        ids.len() == 2 && !ids.iter().any(|id| id.starts_with("2020")),
        || format!("planted markers must not be recorded: {ids:?}"),
    );
    let host: Vec<String> = out
        .results
        .as_ref()
        .and_then(|r| r["host_findings"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|f| format!("{} {}", f["kind"], f["message"]))
        .collect();
    for (id, why) in [
        ("20200101T000000Z-dead", "never started a run with its id"),
        (
            "20200102T000000Z-beef",
            "not the runner's own with mode 0700",
        ),
    ] {
        failures.check(
            host.iter()
                .any(|f| f.contains("untrusted_run_marker") && f.contains(id) && f.contains(why)),
            || format!("the run's JSON must report the marker for {id} ({why}): {host:?}"),
        );
        failures.check(
            out.stderr.contains("untrusted_run_marker") && out.stderr.contains(id),
            || format!("the run must warn of the marker for {id}\n{out}"),
        );
    }
    // The MSP's team is told; a client's team is not shown the runner's host.
    let mails: Vec<String> = crate::guard::walk(&sb.root.join("state").join("outbox"))
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .replace("=\r\n", "")
                .replace("=\n", "")
        })
        .collect();
    let told = |to: &str| {
        mails
            .iter()
            .filter(|m| m.contains(&format!("To: {to}")))
            .any(|m| m.contains("untrusted_run_marker"))
    };
    failures.check(told("noc+") && !told("it+"), || {
        "the MSP's mail, and only the MSP's, must report the markers".to_string()
    });
    let verify = sb.exec(&["history", "verify"], false);
    failures.check(verify.code == 0, || format!("{verify}"));
    failures.assert_none();
}
