//! The Debian package, installed on this machine as an MSP would: `dpkg -i`, then
//! `restore-drill check` and a run as the package's service user against the example it
//! installs, the units verified by `systemd-analyze verify`, then `dpkg -r` (the
//! configuration, a conffile, stays) and `dpkg -P` (nothing stays but the system user, which
//! Debian policy keeps). The package is built by tests/run.sh (packaging/build-deb.sh) and
//! given as RESTORE_DRILL_TEST_DEB; installing it needs root, as on CI.

mod common;

use assert_cmd::Command;
use std::path::Path;

use common::{Failures, run, run_ok};

/// Paths the package puts in place.
const INSTALLED: &[&str] = &[
    "/usr/bin/restore-drill",
    "/etc/restore-drill/restore-drill.yaml",
    "/etc/restore-drill/example.yaml",
    "/lib/systemd/system/restore-drill.service",
    "/lib/systemd/system/restore-drill.timer",
    "/usr/share/man/man1/restore-drill.1.gz",
    "/usr/share/bash-completion/completions/restore-drill",
    "/usr/share/zsh/vendor-completions/_restore-drill",
    "/usr/share/fish/vendor_completions.d/restore-drill.fish",
    "/usr/share/restore-drill/example/backups/files/2026-11-25/SHA256SUMS",
    "/var/lib/restore-drill",
];

fn exists(path: &str) -> bool {
    Path::new(path).symlink_metadata().is_ok()
}

/// `restore-drill ARGS` as the package's service user, as the systemd unit runs it.
fn as_service(args: &[&str]) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "restore-drill", "--", "/usr/bin/restore-drill"])
        .args(args)
        .current_dir("/")
        .env_remove("RESTORE_DRILL_DIR");
    cmd
}

#[test]
fn the_debian_package_installs_runs_and_purges_cleanly() {
    let deb = std::env::var("RESTORE_DRILL_TEST_DEB").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_DEB is not set: tests/run.sh builds the package (packaging/build-deb.sh) and sets it")
    });
    assert!(
        rustix::process::geteuid().is_root(),
        "installing the package needs root (dpkg -i), as on CI"
    );
    let mut failures = Failures::new();
    // A leftover from an interrupted run of this test is purged first.
    run(Command::new("dpkg").args(["-P", "restore-drill"]));

    let contents = run_ok(Command::new("dpkg-deb").args(["--contents", &deb]));
    let binary = contents
        .stdout
        .lines()
        .find(|l| l.ends_with("./usr/bin/restore-drill"))
        .unwrap_or_default()
        .to_string();
    let size: u64 = binary
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    eprintln!("packaged binary: {size} bytes");
    failures.check(size > 0, || format!("no binary in the package: {binary}"));
    // Stripped: no symbol table and no debug sections (readelf, from binutils, which links
    // Rust). Its size says little since the PDF's typesetter and fonts are in it.
    let extracted = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("dpkg-deb")
            .args(["-x", &deb])
            .arg(extracted.path()),
    );
    let sections = run_ok(
        Command::new("readelf")
            .arg("-S")
            .arg(extracted.path().join("usr/bin/restore-drill")),
    );
    failures.check(
        !sections.stdout.contains(".symtab") && !sections.stdout.contains(".debug_"),
        || format!("the packaged binary is not stripped:\n{}", sections.stdout),
    );
    let conffiles = run_ok(Command::new("dpkg-deb").args(["--info", &deb, "conffiles"]));
    for conf in [
        "/etc/restore-drill/restore-drill.yaml",
        "/etc/restore-drill/example.yaml",
    ] {
        failures.check(conffiles.stdout.contains(conf), || {
            format!("{conf} is not a conffile: {conffiles}")
        });
    }

    run_ok(Command::new("dpkg").args(["-i", &deb]));
    for path in INSTALLED {
        failures.check(exists(path), || format!("{path} is not installed"));
    }
    let state = std::fs::metadata("/var/lib/restore-drill").map(|m| {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        (m.uid(), m.permissions().mode() & 0o777)
    });
    failures.check(matches!(state, Ok((uid, 0o700)) if uid != 0), || {
        format!("/var/lib/restore-drill is not the service user's, 0700: {state:?}")
    });
    let check = run(as_service(&["check"]));
    failures.check(
        check.code == 0
            && check
                .stdout
                .contains("configuration folder: /etc/restore-drill"),
        || format!("check as the service user: {check}"),
    );
    let ran = run(as_service(&["run"]));
    failures.check(
        ran.code == 0 && ran.stdout.contains("PASSED 1 of 1"),
        || format!("a run of the example as the service user: {ran}"),
    );
    let verify = run(Command::new("systemd-analyze").args([
        "verify",
        "--man=no",
        "/lib/systemd/system/restore-drill.service",
        "/lib/systemd/system/restore-drill.timer",
    ]));
    failures.check(verify.code == 0 && verify.stderr.trim().is_empty(), || {
        format!("systemd-analyze verify: {verify}")
    });
    let man = run(Command::new("man").args(["-w", "restore-drill"]));
    failures.check(
        man.code != 0 || man.stdout.contains("restore-drill.1"),
        || format!("{man}"),
    );

    // Remove: the program goes, the configuration (conffiles) and the state stay.
    run_ok(Command::new("dpkg").args(["-r", "restore-drill"]));
    failures.check(!exists("/usr/bin/restore-drill"), || {
        "the binary is still there after dpkg -r".into()
    });
    failures.check(exists("/etc/restore-drill/restore-drill.yaml"), || {
        "dpkg -r removed the configuration".into()
    });
    // Purge: nothing stays but the system user.
    run_ok(Command::new("dpkg").args(["-P", "restore-drill"]));
    for path in INSTALLED.iter().chain(&["/etc/restore-drill"]) {
        failures.check(!exists(path), || format!("{path} is left after dpkg -P"));
    }
    let user = run(Command::new("getent").args(["passwd", "restore-drill"]));
    failures.check(user.code == 0, || {
        "the system user was removed; Debian policy keeps it".into()
    });
    failures.assert_none();
}
