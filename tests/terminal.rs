//! What a person sees at a real terminal (tmux, at a fixed width): the summary, `history`
//! and `schedule` fit the terminal's width with nothing wrapped, and no progress bar is left
//! on the screen when the run has ended. Off a terminal the full table is kept (for logs).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Failures, demo_config, restore_drill, run_code};

/// The screen after `command` ran in a tmux pane `width` columns wide, wrapped lines joined
/// back (`capture-pane -J`), so a line that wrapped is longer than the pane.
fn screen(width: u16, command: &str) -> String {
    // A server of its own, its socket in a folder that goes with the test.
    let folder = tempfile::tempdir().unwrap();
    let socket = folder.path().join("tmux");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env_remove("COLUMNS")
            .env_remove("TMUX")
            .env("TERM", "xterm")
            .output()
            .expect("tmux runs (tests/run.sh installs it)")
    };
    let script = format!("env -u COLUMNS {command}; echo __ENDED__; sleep 60");
    let width = width.to_string();
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        &width,
        "-y",
        "60",
        &script,
    ]);
    assert!(started.status.success(), "tmux: {started:?}");
    let begin = Instant::now();
    let text = loop {
        let out = tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("__ENDED__") || begin.elapsed() > Duration::from_secs(60) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    tmux(&["kill-server"]);
    assert!(
        text.contains("__ENDED__"),
        "the command never ended:\n{text}"
    );
    text
}

fn command(config: &Path, args: &str) -> String {
    format!(
        "{} {args} --config-dir {}",
        assert_cmd::cargo::cargo_bin("restore-drill").display(),
        config.display()
    )
}

#[test]
fn tables_fit_the_terminal_and_no_progress_bar_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    // Off a terminal: the full table, wider than 120 columns, for logs.
    let logged = run_code(restore_drill(&config, &["run"]), 1);
    assert!(
        logged.stdout.lines().any(|l| l.len() > 120),
        "the table for logs was narrowed: {logged}"
    );
    let mut failures = Failures::new();
    for width in [80u16, 120] {
        for args in ["run --progress always", "history", "schedule"] {
            let text = screen(width, &command(&config, args));
            // The lines that name a file and a 64-digit chain head are text, not a table:
            // the terminal folds them whole.
            let evidence = |l: &str| {
                ["history: ", "results: ", "mail: "]
                    .iter()
                    .any(|p| l.starts_with(p))
            };
            for line in text.lines().filter(|l| !evidence(l)) {
                failures.check(line.chars().count() <= usize::from(width), || {
                    format!("{args} at {width} columns: a line wrapped: {line:?}\n{text}")
                });
            }
            failures.check(!text.contains("ETA") && !text.contains("total  ["), || {
                format!("{args} at {width} columns: a progress bar was left:\n{text}")
            });
        }
        let text = screen(width, &command(&config, "run"));
        for said in ["acme-files", "bright-mail", "FAILED 1 of 4"] {
            failures.check(text.contains(said), || {
                format!("run at {width} columns: no {said:?}:\n{text}")
            });
        }
    }
    failures.assert_none();
}
