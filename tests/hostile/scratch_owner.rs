//! A scratch folder another local user could write in: the root runner must not restore
//! into it, clear it or remove through it. One owned by another user (made with `chown
//! nobody`, the tests run as root) or writable by its group is refused, exit 4, by the run
//! and by `check`, and nothing is written in it. Everything the run creates, in state and
//! scratch, is its user's alone (0600 files, 0700 folders) even under `umask 000`.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use crate::common::{self, Failures};
use crate::guard::Sandbox;

/// A sandbox with one passing policy.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new("");
    common::put_with_sums(
        &sb.bucket,
        "db/2026-11-25",
        "dump.sql",
        b"create table t;\n",
    );
    sb.policy("db", "db/", "");
    sb
}

/// The run and `check` both refuse `scratch`, naming it, its owner and mode, and what to do;
/// nothing is written in it.
fn refused(sb: &mut Sandbox, owner: &str, mode: &str) {
    let scratch = sb.scratch.clone();
    let mut failures = Failures::new();
    let out = sb.run(&[]);
    failures.check_eq(out.code, 4, || format!("the run is refused: {out}"));
    let says = out.stderr.clone();
    for part in [
        scratch.display().to_string(),
        owner.into(),
        mode.into(),
        "scratch_dir".into(),
    ] {
        failures.check(says.contains(&part), || {
            format!("the error names {part}: {says}")
        });
    }
    let inside: Vec<_> = std::fs::read_dir(&scratch).unwrap().flatten().collect();
    failures.check(inside.is_empty(), || {
        format!("written in scratch: {inside:?}")
    });
    let check = sb.exec(&["check"], false);
    failures.check_eq(check.code, 4, || format!("check reports it: {check}"));
    failures.check(
        check.stdout.contains(&scratch.display().to_string()),
        || format!("check names the folder: {check}"),
    );
    failures.assert_none();
}

#[test]
fn a_scratch_folder_owned_by_another_user_is_refused() {
    let mut sb = sandbox();
    std::fs::create_dir(&sb.scratch).unwrap();
    std::fs::set_permissions(&sb.scratch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = std::process::Command::new("chown")
        .arg("nobody")
        .arg(&sb.scratch)
        .status()
        .unwrap();
    assert!(
        chown.success(),
        "chown nobody (the hostile suite runs as root)"
    );
    refused(&mut sb, "nobody", "0755");
}

#[test]
fn a_group_writable_scratch_folder_is_refused() {
    let mut sb = sandbox();
    std::fs::create_dir(&sb.scratch).unwrap();
    std::fs::set_permissions(&sb.scratch, std::fs::Permissions::from_mode(0o770)).unwrap();
    refused(&mut sb, "uid", "0770");
}

/// Every file and folder below `dir` (and `dir` itself) with a mode other than 0600 / 0700.
fn loose(dir: &Path, failures: &mut Failures) -> usize {
    let mut seen = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.mode() & 0o7777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        failures.check(mode == want, || {
            format!("{} is {mode:04o}, not {want:04o}", path.display())
        });
        seen += 1;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap().flatten() {
                stack.push(entry.path());
            }
        }
    }
    seen
}

#[test]
fn files_of_state_and_scratch_are_private_whatever_the_umask() {
    let mut sb = sandbox();
    sb.umask = Some(0o000);
    let out = sb.run(&["--keep"]);
    let mut failures = Failures::new();
    failures.check_eq(out.code, 0, || format!("the run passes: {out}"));
    let state = sb.root.join("state");
    let history: Vec<_> = crate::guard::walk(&state)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sqlite3"))
        .collect();
    failures.check(!history.is_empty(), || "a history database in state".into());
    let restored: Vec<_> = crate::guard::walk(&sb.scratch)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "dump.sql"))
        .collect();
    failures.check(!restored.is_empty(), || "the restored file is kept".into());
    let seen = loose(&state, &mut failures) + loose(&sb.scratch, &mut failures);
    failures.check(seen > 4, || format!("only {seen} paths walked"));
    failures.assert_none_for(&out);
}

#[test]
fn a_signing_key_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key");
    std::fs::write(
        &key,
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n",
    )
    .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut sb = Sandbox::new(&format!("signing:\n  key: ${{file:{}}}\n", key.display()));
    common::put_with_sums(
        &sb.bucket,
        "db/2026-11-25",
        "dump.sql",
        b"create table t;\n",
    );
    sb.policy("db", "db/", "");
    let out = sb.run(&[]);
    let mut failures = Failures::new();
    failures.check_eq(out.code, 0, || format!("the run still signs: {out}"));
    failures.check(
        out.stderr.contains(&key.display().to_string()) && out.stderr.contains("chmod 600"),
        || format!("a warning names the key file and the fix: {out}"),
    );
    failures.assert_none_for(&out);
}
