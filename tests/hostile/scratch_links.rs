//! Scratch paths swapped for symbolic links during a run: the run's folder, a set's folder,
//! a restored file's name, the run's marker. The runner makes everything below scratch
//! through directory handles and never follows a link, so nothing outside scratch is
//! written, truncated or removed; a set folder that became a link is a `scratch_error`
//! naming it. The timing comes from the test's proxy in front of moto: it holds the first
//! object's GET while the test swaps a folder, so the second object meets the swap.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{self, Failures};
use crate::guard::Sandbox;
use crate::proxy::{Fault, Proxy};

const SET: &str = "2026-11-25";
const HELD: &str = "a-held.sql";
const NEXT: &str = "b-next.sql";

/// A sandbox with one S3 policy `s3` whose set holds `HELD` (its GET held by the proxy for
/// a few seconds) and then `NEXT`, restored one at a time.
pub fn held_run() -> (Sandbox, Proxy) {
    held_run_with("")
}

/// The same, with `extra` YAML in the policy.
fn held_run_with(extra: &str) -> (Sandbox, Proxy) {
    let moto = common::s3_endpoint();
    let bucket = common::s3_bucket("links", |stage| {
        common::put_set(
            stage,
            &format!("data/{SET}"),
            &[
                (HELD, &b"first object\n"[..]),
                (NEXT, &b"second object\n"[..]),
            ],
        );
        let sums = format!(
            "{}  {HELD}\n{}  {NEXT}\n",
            common::sha256_hex(b"first object\n"),
            common::sha256_hex(b"second object\n")
        );
        common::put(stage, &format!("data/{SET}/SHA256SUMS"), sums.as_bytes());
    });
    let proxy = Proxy::start(
        &moto,
        Fault::Delay {
            by: Duration::from_secs(3),
            pattern: HELD.into(),
        },
    );
    let sb = Sandbox::new("concurrency:\n  restores: 1\nstorage:\n  timeout: 20s\n");
    let storage = common::s3_storage(&bucket, &proxy.endpoint, "RD_HOSTILE_S3_SECRET");
    let rest = format!("checksums:\n  required: true\n{extra}targets:\n  rpo: 3650d\n  rto: 1h\n");
    common::write_policy(&sb.config, "s3", "Hostile", &storage, "data/", &rest);
    (sb, proxy)
}

/// The run's folder and the set's folder in it, once the held object's GET is held by the
/// proxy: its restore has then opened the set's folder (made before the request is sent).
fn wait_for_set_folder(
    scratch: &Path,
    proxy: &Proxy,
    child: &mut std::process::Child,
) -> (PathBuf, PathBuf) {
    let started = Instant::now();
    loop {
        let held = proxy.faulted.load(Ordering::SeqCst) > 0;
        let runs: Vec<PathBuf> = std::fs::read_dir(scratch)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for run in runs {
            let set = run.join("s3").join(SET);
            if held && set.is_dir() {
                return (run, set);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its held GET and set folder");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no held GET and set folder in {}",
            scratch.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_set_folder_swapped_for_a_link_mid_run_is_not_followed() {
    set_folder_swapped(&["run"]);
}

/// The same with `--keep`: nothing of the run is removed, and nothing was written outside.
#[test]
fn a_set_folder_swapped_for_a_link_mid_run_is_not_followed_with_keep() {
    set_folder_swapped(&["run", "--keep"]);
}

fn set_folder_swapped(args: &[&str]) {
    let (mut sb, proxy) = held_run();
    let outside = sb.root.join("outside/escape-target");
    let mut child = sb.spawn(args, false);
    let (run, set) = wait_for_set_folder(&sb.scratch, &proxy, &mut child);
    std::fs::rename(&set, run.join("moved-set")).unwrap();
    std::os::unix::fs::symlink(&outside, &set).unwrap();
    let out = sb.wait(child, false);
    sb.check(&out, args);

    let mut failures = Failures::new();
    failures.check(proxy.faulted.load(Ordering::SeqCst) > 0, || {
        "the proxy held the first object".into()
    });
    failures.check_eq(out.code, 1, || format!("the policy fails: {out}"));
    failures.record(out.fails_with("s3", "scratch_error"));
    let message = out.messages("s3", "scratch_error").join(" ");
    failures.check(
        message.contains(NEXT) && message.contains(SET) && message.contains("symbolic link"),
        || format!("the finding names the object and the link in the way: {message}"),
    );
    if args.contains(&"--keep") {
        let kept = run.join("moved-set").join(HELD);
        failures.check(kept.is_file(), || {
            format!(
                "the held object is kept where its handle put it: {}",
                kept.display()
            )
        });
    }
    let kinds = out.kinds("s3");
    failures.check(kinds.iter().all(|k| k == "scratch_error"), || {
        format!("the held object, written through its handle, passed: {kinds:?}")
    });
    failures.assert_none_for(&out);
}

#[test]
fn a_run_folder_swapped_for_a_link_mid_run_is_not_followed() {
    let (mut sb, proxy) = held_run();
    let outside = sb.root.join("outside/escape-target");
    let mut child = sb.spawn(&["run"], false);
    let (run, _) = wait_for_set_folder(&sb.scratch, &proxy, &mut child);
    let moved = sb.scratch.join("moved-run");
    std::fs::rename(&run, &moved).unwrap();
    std::os::unix::fs::symlink(&outside, &run).unwrap();
    let out = sb.wait(child, false);

    let mut failures = Failures::new();
    // Both objects were written through the run folder's handle, into the folder moved.
    failures.check_eq(out.code, 0, || format!("the run passes: {out}"));
    failures.check(out.stderr.contains("was replaced during the run"), || {
        format!("a warning names the swap: {out}")
    });
    let link = std::fs::symlink_metadata(&run);
    failures.check(link.is_ok_and(|m| m.is_symlink()), || {
        "the link at the run folder's name is left alone".into()
    });
    let left = crate::guard::walk(&moved);
    failures.check(left.is_empty(), || {
        format!("the restored files were removed through the run's handle: {left:?}")
    });
    // What the swap left in scratch is the test's, not the run's: cleared before the
    // sandbox's checks (nothing outside scratch changed; the secret nowhere).
    let _ = std::fs::remove_file(&run);
    let _ = std::fs::remove_dir_all(&moved);
    sb.check(&out, &["run"]);
    failures.assert_none_for(&out);
}

#[test]
fn links_planted_in_the_run_folder_are_not_followed() {
    let (mut sb, proxy) = held_run();
    let precious = sb.root.join("outside/precious.txt");
    let deep = sb.root.join("outside/deep/a/b/c.txt");
    let mut child = sb.spawn(&["run"], false);
    let (run, set) = wait_for_set_folder(&sb.scratch, &proxy, &mut child);
    // The next object's name, and the run's marker, made links to files outside.
    std::os::unix::fs::symlink(&precious, set.join(NEXT)).unwrap();
    let marker = run.join(".restore-drill-run.lock");
    std::fs::remove_file(&marker).unwrap();
    std::os::unix::fs::symlink(&deep, &marker).unwrap();
    let out = sb.wait(child, false);
    sb.check(&out, &["run"]);

    let mut failures = Failures::new();
    failures.check_eq(out.code, 0, || format!("the run passes: {out}"));
    failures.record(out.passes("s3"));
    failures.check_eq(
        std::fs::read(&precious).unwrap(),
        b"do not touch\n".to_vec(),
        || "the file a restored name pointed to".into(),
    );
    failures.check_eq(
        std::fs::read(&deep).unwrap(),
        b"deep sentinel\n".to_vec(),
        || "the file the marker pointed to".into(),
    );
    failures.assert_none_for(&out);
}

/// Stopped by SIGTERM after its folder was swapped for a link: the run's folder is removed
/// by its name in scratch, by handle; the link there is not followed (the marker-like file
/// in the folder it points to is not emptied) and is left alone, with a warning naming it.
#[test]
fn a_run_folder_swapped_for_a_link_then_stopped_is_not_followed() {
    let (mut sb, proxy) = held_run();
    let outside = sb.root.join("outside/escape-target");
    let bait = outside.join(".restore-drill-run.lock");
    std::fs::write(&bait, b"someone else's lock\n").unwrap();
    let mut child = sb.spawn(&["run"], false);
    let (run, _) = wait_for_set_folder(&sb.scratch, &proxy, &mut child);
    let moved = sb.scratch.join("moved-run");
    std::fs::rename(&run, &moved).unwrap();
    std::os::unix::fs::symlink(&outside, &run).unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let out = sb.wait(child, false);

    let mut failures = Failures::new();
    failures.check_eq(out.code, 143, || format!("stopped by SIGTERM: {out}"));
    failures.check_eq(
        std::fs::read(&bait).unwrap(),
        b"someone else's lock\n".to_vec(),
        || "the file behind the link is not emptied".into(),
    );
    failures.check(
        std::fs::symlink_metadata(&run).is_ok_and(|m| m.is_symlink()),
        || "the link at the run folder's name is left alone".into(),
    );
    failures.check(
        out.stderr.contains(&run.display().to_string()) && out.stderr.contains("not followed"),
        || format!("a warning names the folder and the link: {out}"),
    );
    let _ = std::fs::remove_file(&run);
    let _ = std::fs::remove_dir_all(&moved);
    sb.check(&out, &["run"]);
    failures.assert_none_for(&out);
}

/// A set folder swapped for a link before its `validate` commands run: they would get the
/// link as `{dir}` and work in the folder outside. They are not run; a `scratch_error` says
/// the folder no longer leads to what was restored.
#[test]
fn a_set_folder_swapped_for_a_link_is_not_validated() {
    let validate = "validate:\n  - name: mark\n    run: [touch, \"{dir}/validated\"]\n";
    let (mut sb, proxy) = held_run_with(validate);
    let outside = sb.root.join("outside/escape-target");
    let mut child = sb.spawn(&["run"], false);
    let (run, set) = wait_for_set_folder(&sb.scratch, &proxy, &mut child);
    std::fs::rename(&set, run.join("moved-set")).unwrap();
    std::os::unix::fs::symlink(&outside, &set).unwrap();
    let out = sb.wait(child, false);
    sb.check(&out, &["run"]);

    let mut failures = Failures::new();
    failures.check(!outside.join("validated").exists(), || {
        "the validate command ran in the folder outside".into()
    });
    let message = out.messages("s3", "scratch_error").join(" ");
    failures.check(message.contains("validate commands not run"), || {
        format!("a finding says the commands were not run: {message}")
    });
    failures.assert_none_for(&out);
}
