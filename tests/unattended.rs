//! Safe unattended operation through the real binary: the run lock between two processes,
//! a SIGKILLed holder not blocking the next run (which records it as interrupted), and
//! SIGTERM/SIGINT mid-restore giving exit 143/130, no scratch left, and the run recorded as
//! interrupted.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Failures, append_settings, restore_drill, run, run_code, run_ok};

/// A policy whose validation command sleeps, so a run stays busy until it is stopped.
fn slow_config(dir: &Path) -> PathBuf {
    let bucket = dir.join("bucket");
    common::put_zst_with_sums(&bucket, "x/2026-11-25", "a.zst", b"payload");
    let config = common::write_settings(dir, "");
    let rest = "targets:\n  rpo: 26h\n  rto: 1h\nvalidate:\n  - name: takes its time\n    run: [\"sleep\", \"30\"]\n    timeout: 1m\n";
    common::write_fs_policy(&config, "slow", "C", &bucket, "x/", rest);
    config
}

/// The same policy with a validation that returns at once.
fn fast_config(dir: &Path) -> PathBuf {
    let config = slow_config(dir);
    let policy = config.join("slow.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text.replace("[\"sleep\", \"30\"]", "[\"true\"]")).unwrap();
    config
}

fn spawn_run(config: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("restore-drill"))
        .args(["run", "--config-dir"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (at most 20 s) until the run has a scratch folder, i.e. it is restoring.
fn wait_for_scratch(dir: &Path) -> PathBuf {
    let started = Instant::now();
    loop {
        if let Some(run) = std::fs::read_dir(dir.join("scratch"))
            .ok()
            .and_then(|mut e| e.next())
            .and_then(Result::ok)
        {
            return run.path();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never started restoring"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

#[test]
fn a_second_run_exits_at_once_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let config = slow_config(dir.path());
    let mut first = spawn_run(&config);
    wait_for_scratch(dir.path());
    let started = Instant::now();
    let second = run_code(restore_drill(&config, &["run"]), 6);
    assert!(
        second
            .stderr
            .contains("another restore-drill run is in progress")
            && second.stderr.contains(&format!("pid {}", first.id())),
        "{second}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second run waited for the first"
    );
    // `mail flush` neither: the run delivers the spool itself (two senders would send its
    // messages twice).
    let flush = run_code(restore_drill(&config, &["mail", "flush"]), 6);
    assert!(
        flush.stderr.contains("it delivers the spool itself"),
        "{flush}"
    );
    let _ = first.kill();
    let _ = first.wait();
}

#[test]
fn a_sigkilled_holder_blocks_nothing_and_its_scratch_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let config = slow_config(dir.path());
    let mut first = spawn_run(&config);
    let left = wait_for_scratch(dir.path());
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(left.exists(), "a killed run cannot clean up after itself");
    // The next run takes the lock and removes the dead run's folder before its own work.
    let fast = config.join("slow.yaml");
    let text = std::fs::read_to_string(&fast)
        .unwrap()
        .replace("[\"sleep\", \"30\"]", "[\"true\"]");
    std::fs::write(&fast, text).unwrap();
    let next = run_ok(restore_drill(&config, &["run"]));
    assert!(
        !left.exists(),
        "the dead run's scratch folder is still there"
    );
    // The killed run could record nothing itself; the next run recorded it as interrupted,
    // so the history has no silent gap.
    let dead_id = left.file_name().unwrap().to_string_lossy().into_owned();
    let runs = common::history_json(&config, &[]);
    let runs = runs.as_array().expect("a list of runs");
    let dead: Vec<_> = runs.iter().filter(|r| r["run_id"] == *dead_id).collect();
    assert_eq!(dead.len(), 1, "{runs:?}");
    assert_eq!(dead[0]["status"], "interrupted", "{runs:?}");
    assert_eq!(runs.len(), 2, "the dead run and the next one: {runs:?}");
    assert!(
        next.stderr
            .contains(&format!("run {dead_id} did not finish")),
        "{next}"
    );
    run_ok(restore_drill(&config, &["history", "verify"]));
}

#[test]
fn sigterm_mid_restore_exits_143_and_records_an_interrupted_run() {
    let mut failures = Failures::new();
    for (sig, code) in [
        (rustix::process::Signal::TERM, 143),
        (rustix::process::Signal::INT, 130),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = slow_config(dir.path());
        let child = spawn_run(&config);
        let run_dir = wait_for_scratch(dir.path());
        std::thread::sleep(Duration::from_millis(200));
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        failures.check_eq(out.status.code(), Some(code), || {
            format!(
                "{sig:?}: the exit code; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        failures.check(!run_dir.exists(), || {
            format!("{sig:?}: the scratch folder was left behind")
        });
        let runs = common::history_json(&config, &[]);
        failures.check_eq(&runs[0]["status"], "interrupted", || {
            format!("{sig:?}: the run's status in {runs}")
        });
        let verify = run(restore_drill(&config, &["history", "verify"]));
        failures.check(verify.code == 0, || format!("{sig:?}: {verify}"));
    }
    failures.assert_none();
}

/// A ping the monitor received: its path and body.
#[derive(Debug)]
struct Received {
    path: String,
    body: String,
}

/// A tiny HTTP server on loopback that answers 200 and records each request's path and body;
/// the base URL ends in a token standing for the check's secret.
fn listener() -> (String, std::sync::mpsc::Receiver<Received>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/ping/{TOKEN}", server.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in server.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut length = 0;
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                header.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK");
            let body = String::from_utf8_lossy(&body).into_owned();
            let _ = tx.send(Received { path, body });
        }
    });
    (base, rx)
}

/// The secret part of the ping URL, which no body may contain.
const TOKEN: &str = "check-1-secret-token";

#[test]
fn heartbeat_pings_start_then_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path());
    let (base, pings) = listener();
    append_settings(
        &config,
        &format!("heartbeat:\n  url: {base}\n  timeout: 5s\n"),
    );
    let recv = || {
        pings
            .recv_timeout(Duration::from_secs(10))
            .expect("no ping arrived")
    };
    let start = format!("/ping/{TOKEN}/start");
    let exit = |code: i32| format!("/ping/{TOKEN}/{code}");
    let mut failures = Failures::new();
    let expect = |failures: &mut Failures, code: i32, started: bool, says: &str| {
        if started {
            let ping = recv();
            failures.check_eq(&ping.path, &start, || format!("exit {code}: {ping:?}"));
        }
        let ping = recv();
        failures.check_eq(&ping.path, &exit(code), || format!("exit {code}: {ping:?}"));
        failures.check(
            ping.body.contains(says)
                && ping.body.contains(&format!(": exit {code} ("))
                && !ping.body.contains(TOKEN),
            || {
                format!(
                    "exit {code}: the body should say {says:?}, its code and no secret: {ping:?}"
                )
            },
        );
    };

    run_ok(restore_drill(&config, &["run"]));
    expect(&mut failures, 0, true, "PASSED 1 of 1");

    // A failing run: its summary's last lines name the finding.
    let sums = dir.path().join("bucket/x/2026-11-25/SHA256SUMS");
    let good_sums = std::fs::read(&sums).unwrap();
    std::fs::write(&sums, format!("{}  a.zst\n", "0".repeat(64))).unwrap();
    run_code(restore_drill(&config, &["run"]), 1);
    expect(&mut failures, 1, true, "FAIL slow");
    std::fs::write(&sums, good_sums).unwrap();

    // Another run holds the state folder's lock.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(dir.path().join("state/restore-drill.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    run_code(restore_drill(&config, &["run"]), 6);
    expect(
        &mut failures,
        6,
        false,
        "another restore-drill run is in progress",
    );
    lock.unlock().unwrap();

    // Invalid settings, but the heartbeat's own can be read.
    let settings = config.join("restore-drill.yaml");
    let valid = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, format!("{valid}no_such_setting: 1\n")).unwrap();
    run_code(restore_drill(&config, &["run"]), 2);
    expect(&mut failures, 2, false, "no_such_setting");
    std::fs::write(&settings, &valid).unwrap();

    // A state folder that cannot be written (here: a file stands where it should be).
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state"), "").unwrap();
    run_code(restore_drill(&config, &["run"]), 4);
    expect(&mut failures, 4, false, "state");
    failures.assert_none();
}

#[test]
fn a_state_folder_that_cannot_be_written_says_which_as_whom_and_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path());
    let state = dir.path().join("state");
    let mut failures = Failures::new();
    // A file where the folder should be: the lock cannot be taken.
    std::fs::write(&state, "").unwrap();
    let out = run_code(restore_drill(&config, &["run"]), 4);
    // The history's database cannot be opened: the run is not recorded.
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir_all(state.join("history.sqlite3")).unwrap();
    let history = run_code(restore_drill(&config, &["run"]), 4);
    let uid = rustix::process::geteuid().as_raw();
    for (case, out, os_error) in [
        ("lock", &out, "File exists"),
        ("history", &history, "unable to open database file"),
    ] {
        for says in [
            state.display().to_string(),
            format!("(uid {uid})"),
            "chown".to_string(),
            "StateDirectory=".to_string(),
        ] {
            failures.check(out.stderr.contains(&says), || {
                format!("{case}: no {says:?} in: {out}")
            });
        }
        failures.check(out.stderr.matches(os_error).count() == 1, || {
            format!("{case}: the error {os_error:?} is not said exactly once: {out}")
        });
    }
    failures.assert_none();
}

#[test]
fn an_unreachable_heartbeat_is_logged_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path());
    let closed = common::closed_port();
    append_settings(
        &config,
        &format!("heartbeat:\n  url: http://127.0.0.1:{closed}/ping/x\n  timeout: 2s\n"),
    );
    let out = run_ok(restore_drill(&config, &["run"]));
    assert!(out.stderr.contains("heartbeat not sent"), "{out}");
    assert!(
        !out.stderr.contains("/ping/x"),
        "the ping URL was printed: {out}"
    );
}

#[test]
fn check_connect_proves_storage_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = slow_config(dir.path());
    let out = run_ok(restore_drill(&config, &["check", "--connect"]));
    assert!(
        out.stdout
            .contains("connect slow: ok, storage answers (found x/2026-11-25/"),
        "{out}"
    );
    std::fs::rename(dir.path().join("bucket"), dir.path().join("moved")).unwrap();
    let out = run_code(restore_drill(&config, &["check", "--connect"]), 7);
    assert!(out.stdout.contains("connect slow: FAILED"), "{out}");
}

#[test]
fn without_a_terminal_only_the_summary_reaches_the_output_and_json_logs_parse() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast_config(dir.path());
    let out = run_ok(restore_drill(&config, &["run"]));
    assert!(
        out.stderr.is_empty(),
        "a passing run under cron wrote to stderr: {out}"
    );
    assert!(
        out.stdout.contains("PASSED 1 of 1") && !out.stdout.contains('\u{1b}'),
        "no colour codes off a terminal: {out}"
    );

    let out = run(restore_drill(
        &config,
        &["-v", "--log-format", "json", "run"],
    ));
    assert!(out.stderr.lines().count() >= 2, "{out}");
    let mut failures = Failures::new();
    for line in out.stderr.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(event) => failures.check(
                event["level"].is_string() && event["fields"].is_object(),
                || format!("no level or fields: {line}"),
            ),
            Err(e) => failures.check(false, || format!("not JSON ({e}): {line}")),
        }
    }
    failures.assert_none_for(&out);
}
