//! What the README tells people to install works: its systemd service and timer pass
//! `systemd-analyze verify` (with the binary path pointed at the one just built), and the
//! service's hardening scores what the README says in `systemd-analyze security`.

mod common;

use std::path::PathBuf;

use assert_cmd::Command;

/// The ```ini blocks of the README whose first line names `file`.
fn unit(readme: &str, file: &str) -> String {
    readme
        .split("```ini\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.lines().next().is_some_and(|l| l.ends_with(file)))
        .unwrap_or_else(|| panic!("README has no {file} block"))
        .to_string()
}

#[test]
fn readme_systemd_units_verify() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    // The units are shown in full in the reference the README links to.
    let reference = std::fs::read_to_string(common::repo().join("docs/reference.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let binary = assert_cmd::cargo::cargo_bin("restore-drill");
    let service = unit(&reference, "restore-drill.service").replace(
        "/usr/local/bin/restore-drill",
        &binary.display().to_string(),
    );
    std::fs::write(dir.path().join("restore-drill.service"), service).unwrap();
    std::fs::write(
        dir.path().join("restore-drill.timer"),
        unit(&reference, "restore-drill.timer"),
    )
    .unwrap();
    let analyze = PathBuf::from("/usr/bin/systemd-analyze");
    assert!(
        analyze.exists(),
        "systemd-analyze is missing: install Debian's systemd package"
    );
    let out = common::run_ok(
        Command::new(analyze)
            .args(["verify", "--man=no"])
            .arg(dir.path().join("restore-drill.service"))
            .arg(dir.path().join("restore-drill.timer")),
    );
    // Unknown keys are only warned about, so warnings fail the test too.
    assert!(out.stderr.is_empty(), "{out}");
    // The service is hardened as the README says: systemd's own exposure score.
    let security = common::run_ok(
        Command::new("/usr/bin/systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(dir.path().join("restore-drill.service")),
    );
    let score: f64 = security
        .stdout
        .lines()
        .find_map(|l| l.split("exposure level for restore-drill.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {security}"));
    assert!(
        score <= 1.5 && reference.contains(&format!("scores {score:.1} \"OK\"")),
        "exposure {score}, which docs/reference.md must state: {security}"
    );
    // The units the Debian package installs are the README's (their first line, the path
    // comment, and the binary's path apart).
    for file in ["restore-drill.service", "restore-drill.timer"] {
        let body = |text: &str| text.lines().skip(1).collect::<Vec<_>>().join("\n");
        let packaged =
            std::fs::read_to_string(common::repo().join("packaging/deb").join(file)).unwrap();
        let shown = unit(&reference, file).replace("/usr/local/bin/", "/usr/bin/");
        assert_eq!(
            body(&shown).trim_end(),
            body(&packaged).trim_end(),
            "the README's {file} and packaging/deb/{file} differ"
        );
    }
    // And the crontab line is the command the scheduling tests run.
    assert!(
        readme.contains("*/15 * * * * restore-drill run --due --config-dir /etc/restore-drill")
    );
}
