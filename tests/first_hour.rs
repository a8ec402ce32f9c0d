//! The first hour of a new user, through the real binary: `init` writes a configuration
//! that `check` accepts and `run` uses; the configuration folder is found in the documented
//! order and named with the reason; `--version` and `version --json` carry the commit;
//! completions and the man page are produced.

mod common;

use std::path::Path;

use common::{Failures, bin, run, run_code, run_ok};

/// `restore-drill ARGS` in `cwd`, with a home and XDG folder of the test's own and no
/// `RESTORE_DRILL_DIR`.
fn in_folder(cwd: &Path, home: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = bin();
    cmd.current_dir(cwd)
        .env_remove("RESTORE_DRILL_DIR")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .args(args);
    cmd
}

#[test]
fn init_then_check_then_run_from_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let conf = root.join("conf");
    let conf_s = conf.to_str().unwrap();
    let state = root.join("state");
    let backups = root.join("backups");
    // Named by today's date: init's policy dates sets by their names, against a 26h RPO.
    let today = jiff::Zoned::now().date().to_string();
    common::put_zst_with_sums(&backups, &format!("db/{today}"), "db.zst", b"rows");

    let wrote = run_ok(in_folder(
        root,
        root,
        &[
            "init",
            conf_s,
            "--client",
            "Acme Dental",
            "--state-dir",
            state.to_str().unwrap(),
        ],
    ));
    let mut failures = Failures::new();
    failures.check(wrote.stdout.contains("restore-drill.yaml"), || {
        format!("{wrote}")
    });
    // Nothing is overwritten without --force.
    let again = run_code(in_folder(root, root, &["init", conf_s]), 2);
    failures.check(again.stderr.contains("not overwritten"), || {
        format!("{again}")
    });
    let policy = run_ok(in_folder(
        root,
        root,
        &[
            "init",
            conf_s,
            "--policy",
            "acme-db",
            "--client",
            "Acme Dental",
            "--storage",
            "fs",
            "--root",
            backups.to_str().unwrap(),
            "--prefix",
            "db/",
        ],
    ));
    failures.check(policy.stdout.contains("acme-db.yaml"), || {
        format!("{policy}")
    });
    let s3 = run_ok(in_folder(
        root,
        root,
        &[
            "init",
            conf_s,
            "--policy",
            "acme-files",
            "--client",
            "Acme Dental",
            "--storage",
            "s3",
            "--bucket",
            "acme-files",
        ],
    ));
    failures.check(
        s3.stdout.contains("RD_ACME_FILES_ACCESS_KEY_ID")
            && s3.stdout.contains("RD_ACME_FILES_SECRET_ACCESS_KEY"),
        || format!("init does not name the credentials' variables: {s3}"),
    );
    let text = std::fs::read_to_string(conf.join("acme-files.yaml")).unwrap();
    failures.check(
        text.contains("secret_access_key: ${env:RD_ACME_FILES_SECRET_ACCESS_KEY}"),
        || format!("the policy holds no secret reference: {text}"),
    );
    // `check` passes once the variables init named are set.
    let mut check = in_folder(root, root, &["check", "--config-dir", conf_s]);
    check
        .env("RD_ACME_FILES_ACCESS_KEY_ID", "id")
        .env("RD_ACME_FILES_SECRET_ACCESS_KEY", "secret");
    let checked = run_ok(check);
    failures.check(
        checked.stdout.contains("2 policies valid")
            && checked.stdout.contains("given by --config-dir"),
        || format!("{checked}"),
    );
    let ran = run_ok(in_folder(
        root,
        root,
        &["run", "--config-dir", conf_s, "--policy", "acme-db"],
    ));
    failures.check(ran.stdout.contains("PASSED 1 of 1"), || format!("{ran}"));
    failures.check(state.join("history.sqlite3").exists(), || {
        "the run kept no history in the state folder init wrote".into()
    });
    failures.assert_none();
}

#[test]
fn the_configuration_folder_is_found_in_order_and_named_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut failures = Failures::new();

    // Nothing anywhere: the system folder, and the error says why.
    let none = run(in_folder(&empty, root, &["check"]));
    failures.check(
        none.stderr.contains(
            "configuration folder: /etc/restore-drill (the system folder; no --config-dir",
        ),
        || format!("{none}"),
    );
    // The user's folder, once init has written it there.
    let user = root.join(".config/restore-drill");
    run_ok(in_folder(
        &empty,
        root,
        &[
            "init",
            user.to_str().unwrap(),
            "--state-dir",
            root.join("s").to_str().unwrap(),
        ],
    ));
    // No policy yet: check refuses the folder, and says which it is and why.
    let found = run(in_folder(&empty, root, &["check"]));
    failures.check(
        found.combined().contains(&format!(
            "configuration folder: {} (the user's configuration folder",
            user.display()
        )),
        || format!("{found}"),
    );
    // ./policies wins over the user's folder.
    let local = empty.join("policies");
    run_ok(in_folder(
        &empty,
        root,
        &[
            "init",
            local.to_str().unwrap(),
            "--state-dir",
            root.join("s2").to_str().unwrap(),
        ],
    ));
    let here = run(in_folder(&empty, root, &["check"]));
    failures.check(
        here.combined()
            .contains("configuration folder: policies (./policies exists"),
        || format!("{here}"),
    );
    // $RESTORE_DRILL_DIR wins over ./policies.
    let mut env = in_folder(&empty, root, &["check"]);
    env.env("RESTORE_DRILL_DIR", &user);
    let named = run(env);
    failures.check(
        named.combined().contains("(from $RESTORE_DRILL_DIR)"),
        || format!("{named}"),
    );
    failures.assert_none();
}

#[test]
fn version_completions_and_man_page() {
    let mut failures = Failures::new();
    let json = run_ok(bin().args(["version", "--json"]));
    let info: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(common::repo())
        .output()
        .expect("git");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    failures.check(
        !head.is_empty()
            && info["commit"]
                .as_str()
                .is_some_and(|c| head.starts_with(c) || c.starts_with(&head)),
        || {
            format!(
                "version --json names commit {:?}, HEAD is {head:?}",
                info["commit"]
            )
        },
    );
    failures.check(
        info["build_date"].as_str().is_some_and(|d| d.len() == 10),
        || format!("no build date: {info}"),
    );
    let version = run_ok(bin().arg("--version"));
    failures.check(
        version.stdout.starts_with("restore-drill ")
            && version
                .stdout
                .contains(info["commit"].as_str().unwrap_or("?")),
        || format!("{version}"),
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = run_ok(bin().args(["completions", shell]));
        failures.check(
            script.stdout.len() > 1000 && script.stdout.contains("drill"),
            || format!("{shell} completions: {} bytes", script.stdout.len()),
        );
    }
    let bash = run_ok(bin().args(["completions", "bash"]));
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(bash.stdout.as_bytes())?;
            child.wait()
        })
        .unwrap();
    failures.check(syntax.success(), || {
        "the bash completions do not parse".into()
    });
    let man = run_ok(bin().arg("man"));
    failures.check(
        man.stdout.starts_with(".ie") || man.stdout.starts_with(".TH"),
        || format!("not roff: {}", &man.stdout[..man.stdout.len().min(200)]),
    );
    failures.check(
        man.stdout.contains("restore\\-drill") && man.stdout.contains("init"),
        || "the man page does not list the commands".into(),
    );
    failures.assert_none();
}
