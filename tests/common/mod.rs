//! Test support shared by the integration tests: running the real binary (and the tools that
//! check what it wrote) so that a failure shows the command and everything it printed;
//! collecting the failures of table-driven tests so that one run names all of them; reading
//! a run's JSON results; backups built from deterministic content with the tar and zstd
//! libraries, stored on local disk or uploaded to the loopback S3 server through boto3
//! (tests/support/s3_upload.py); configuration folders whose scratch and state stay inside
//! the test's temporary folder. Nothing here calls the code under test except through the
//! binary; mail as it arrives is in [`mail`].
#![allow(dead_code)]

pub mod mail;

use std::borrow::BorrowMut;
use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use sha2::Digest as _;

/// The binary, with the host's zone fixed to UTC (`TZ`) so times in output do not depend
/// on the machine that runs the tests.
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("restore-drill").expect("the restore-drill binary is built");
    cmd.env("TZ", "UTC");
    cmd
}

/// `restore-drill ARGS --config-dir CONFIG`, the shape of most commands the tests run.
pub fn restore_drill(config: &Path, args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(args).arg("--config-dir").arg(config);
    cmd
}

/// One finished command: what ran, its exit code (-1 when a signal ended it) and its output.
/// Displayed, it shows all of them, for failure messages.
pub struct Ran {
    pub command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Stdout followed by stderr, as one text (for checks that accept either stream).
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(f, &self.command, self.code, &self.stdout, &self.stderr)
    }
}

/// The failure-message layout of a finished command, shared with the hostile sandbox's runs.
pub fn describe(
    f: &mut fmt::Formatter<'_>,
    command: &str,
    code: i32,
    stdout: &str,
    stderr: &str,
) -> fmt::Result {
    let ended = if code == -1 {
        "was ended by a signal".to_string()
    } else {
        format!("exited with {code}")
    };
    // A leak of the test secret is shown where it is, but not echoed (see `command_line`).
    let (stdout, stderr) = (masked(stdout), masked(stderr));
    write!(
        f,
        "`{command}` {ended}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n---"
    )
}

fn masked(text: &str) -> String {
    text.replace(TEST_SECRET, "<TEST_SECRET>")
}

/// A command line for failure messages: the environment it set, the program, its arguments.
/// Values that are or carry the test secret are masked, so that a search of a test log for
/// the secret finds only real leaks by the binary, never the harness's own echo.
pub fn command_line<'a>(
    program: &OsStr,
    args: impl Iterator<Item = &'a OsStr>,
    envs: impl Iterator<Item = (&'a OsStr, Option<&'a OsStr>)>,
) -> String {
    let mut words = Vec::new();
    for (key, value) in envs {
        let key = key.to_string_lossy();
        let value = value.map_or_else(String::new, |v| v.to_string_lossy().into_owned());
        let masked = key.contains("SECRET") || key.contains("PASSWORD");
        if masked || value.contains(TEST_SECRET) {
            words.push(format!("{key}=***"));
        } else {
            words.push(format!("{key}={}", quoted(&value)));
        }
    }
    words.push(quoted(&program.to_string_lossy()));
    words.extend(args.map(|a| quoted(&a.to_string_lossy())));
    words.join(" ")
}

fn quoted(word: &str) -> String {
    if word.is_empty() || word.contains(|c: char| c.is_whitespace() || c == '"') {
        format!("{word:?}")
    } else {
        word.to_string()
    }
}

/// Runs `cmd` (the binary or any tool) to the end, capturing its output; asserts nothing.
pub fn run(mut cmd: impl BorrowMut<Command>) -> Ran {
    let cmd = cmd.borrow_mut();
    let command = command_line(cmd.get_program(), cmd.get_args(), cmd.get_envs());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    Ran {
        command,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` and asserts it exited with `expected`.
#[track_caller]
pub fn run_code(cmd: impl BorrowMut<Command>, expected: i32) -> Ran {
    let ran = run(cmd);
    assert!(ran.code == expected, "expected exit {expected}: {ran}");
    ran
}

/// Runs `cmd` and asserts it exited with 0.
#[track_caller]
pub fn run_ok(cmd: impl BorrowMut<Command>) -> Ran {
    run_code(cmd, 0)
}

/// The failures of a table-driven test. Each case is checked and what fails is recorded,
/// so that one run names every failing case, not only the first; [`Failures::assert_none`]
/// then panics once with all of them. Dropped without that call, it panics too: a forgotten
/// assertion must not turn into a test that cannot fail.
#[derive(Default)]
pub struct Failures {
    list: Vec<String>,
    asserted: bool,
}

impl Failures {
    pub fn new() -> Failures {
        Failures::default()
    }

    /// Records `message()` unless `ok`.
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.list.push(message());
        }
    }

    /// Records a difference between `left` and `right`, worded as `assert_eq!` words it.
    pub fn check_eq<L, R>(&mut self, left: L, right: R, what: impl FnOnce() -> String)
    where
        L: PartialEq<R> + fmt::Debug,
        R: fmt::Debug,
    {
        if left != right {
            self.list
                .push(format!("{}\n  left: {left:?}\n right: {right:?}", what()));
        }
    }

    /// Records the error of a check that returns one.
    pub fn record(&mut self, result: Result<(), String>) {
        if let Err(message) = result {
            self.list.push(message);
        }
    }

    /// Panics with every recorded failure, if there is one.
    #[track_caller]
    pub fn assert_none(self) {
        self.assert_none_for("");
    }

    /// The same, the failures followed by `context` (say, the command whose output they
    /// were checked in), shown once.
    #[track_caller]
    pub fn assert_none_for(mut self, context: impl fmt::Display) {
        self.asserted = true;
        let list = std::mem::take(&mut self.list);
        assert!(
            list.is_empty(),
            "{} failed check(s):\n\n{}\n\n{context}",
            list.len(),
            list.join("\n\n")
        );
    }
}

impl Drop for Failures {
    fn drop(&mut self) {
        if !self.asserted && !std::thread::panicking() {
            panic!("Failures dropped without assert_none: {:?}", self.list);
        }
    }
}

/// `restore-drill history ARGS --json --config-dir CONFIG`, which must succeed with nothing
/// on stderr, parsed.
pub fn history_json(config: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["history"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run_ok(restore_drill(config, &all));
    assert!(out.stderr.trim().is_empty(), "{out}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// What one `restore-drill run --json` left behind.
pub struct RunOutput {
    pub out: Ran,
    pub results: serde_json::Value,
    pub json_text: String,
}

/// Runs the binary with the test's S3 credentials and parses the `--json` results.
pub fn run_json(config_dir: &Path, extra: &[&str]) -> RunOutput {
    let json = config_dir.join("results.json");
    let out = run(bin()
        .arg("run")
        .arg("--config-dir")
        .arg(config_dir)
        .arg("--json")
        .arg(&json)
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET));
    let json_text =
        std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no results.json ({e}): {out}"));
    RunOutput {
        results: serde_json::from_str(&json_text).unwrap(),
        json_text,
        out,
    }
}

/// The policy named `name` in a results document.
pub fn policy<'a>(results: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    results["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no policy {name} in the results"))
}

/// The finding kinds of a policy result.
pub fn finding_kinds(policy: &serde_json::Value) -> Vec<String> {
    policy["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

// Backups.

/// The secret access key the tests hand to the binary; it must appear in no output.
pub const TEST_SECRET: &str = "rd-test-secret-5f3a9c-never-print";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A tar archive of `(name, content)` files; names are written raw, unchecked, so tests can
/// build hostile archives too.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        tar_entry(
            &mut out,
            name.as_bytes(),
            tar::EntryType::Regular,
            b"",
            data,
        );
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Appends one tar entry with any name and link bytes, the header written field by field so
/// that no library check cleans it.
pub fn tar_entry(out: &mut Vec<u8>, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_764_115_200);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Deterministic text-like content of about `len` bytes.
pub fn text(seed: u64, len: usize) -> Vec<u8> {
    let words = [
        "backup", "restore", "ledger", "patient", "invoice", "chart", "x-ray", "payroll",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(words[(state >> 33) as usize % words.len()].as_bytes());
        out.push(if (state >> 20).is_multiple_of(9) {
            b'\n'
        } else {
            b' '
        });
    }
    out
}

/// Fills `buf` with xorshift bytes from `state`: incompressible, fast, repeatable.
pub fn fill_noise(state: &mut u64, buf: &mut [u8]) {
    for byte in buf.iter_mut() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *byte = *state as u8;
    }
}

/// `len` bytes of noise from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut state = seed;
    fill_noise(&mut state, &mut out);
    out
}

/// Writes `content` to `root/rel`, creating folders.
pub fn put(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Stores each `(name, stored bytes)` as is as `folder/name` under `root`, with a
/// `SHA256SUMS` in that folder naming them all, in order (replacing any earlier one).
pub fn put_set(root: &Path, folder: &str, objects: &[(impl AsRef<str>, impl AsRef<[u8]>)]) {
    let mut sums = String::new();
    for (name, stored) in objects {
        let (name, stored) = (name.as_ref(), stored.as_ref());
        put(root, &format!("{folder}/{name}"), stored);
        sums.push_str(&format!("{}  {name}\n", sha256_hex(stored)));
    }
    put(root, &format!("{folder}/SHA256SUMS"), sums.as_bytes());
}

/// Stores `stored` as is as `folder/name` under `root`, with a `SHA256SUMS` in that folder
/// naming it (replacing any earlier one).
pub fn put_with_sums(root: &Path, folder: &str, name: &str, stored: &[u8]) {
    put_set(root, folder, &[(name, stored)]);
}

/// Stores `content` zstd-compressed as `folder/name` under `root`, with a `SHA256SUMS` in
/// that folder naming it (replacing any earlier one). Returns the stored bytes.
pub fn put_zst_with_sums(root: &Path, folder: &str, name: &str, content: &[u8]) -> Vec<u8> {
    let object = zstd(content);
    put_with_sums(root, folder, name, &object);
    object
}

/// The loopback S3 server started by tests/run.sh. Fails, never skips, when it is absent.
pub fn s3_endpoint() -> String {
    std::env::var("RESTORE_DRILL_TEST_S3").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_S3 is not set: the S3 tests need moto's server; run them with `tests/run.sh`, which installs and starts it")
    })
}

/// A unique, valid bucket name for one test.
fn bucket_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("rd-{test}-{}-{nanos:x}", std::process::id())
}

/// Creates `bucket` on the S3 server and uploads every file below `dir` into it.
fn upload(bucket: &str, dir: &Path) {
    let python = std::env::var("RESTORE_DRILL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_PYTHON is not set: run the S3 tests with `tests/run.sh`")
    });
    let status = std::process::Command::new(python)
        .arg(repo().join("tests/support/s3_upload.py"))
        .arg(s3_endpoint())
        .arg(bucket)
        .arg(dir)
        .status()
        .expect("run the S3 upload helper");
    assert!(
        status.success(),
        "uploading {} to bucket {bucket} failed",
        dir.display()
    );
}

/// A new bucket for `test` on the S3 server holding what `stage` writes into the folder it
/// is given. Returns the bucket's name.
pub fn s3_bucket(test: &str, stage: impl FnOnce(&Path)) -> String {
    let folder = tempfile::tempdir().unwrap();
    stage(folder.path());
    let bucket = bucket_name(test);
    upload(&bucket, folder.path());
    bucket
}

// Configurations.

/// The repository root (for fixtures and policies).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `dir/config/restore-drill.yaml` with scratch and state kept inside `dir`, followed
/// by `extra` settings. Returns the config folder.
pub fn write_settings(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("config");
    let text = format!(
        "scratch_dir: {}\nstate_dir: {}\n{extra}",
        dir.join("scratch").display(),
        dir.join("state").display()
    );
    put(&config, "restore-drill.yaml", text.as_bytes());
    config
}

/// Appends `extra` to the settings in `config`.
pub fn append_settings(config: &Path, extra: &str) {
    let settings = config.join("restore-drill.yaml");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, format!("{text}{extra}")).unwrap();
}

/// The YAML of policy `name`: `storage` is the indented body of its `storage:` block, `rest`
/// follows the backup prefix (more `backups:` fields, targets, schedule, validate, …).
pub fn policy_yaml(name: &str, client: &str, storage: &str, prefix: &str, rest: &str) -> String {
    format!(
        "name: {name}\nclient: {client}\nstorage:\n{storage}backups:\n  prefix: {prefix}\n{rest}"
    )
}

/// Writes policy `name` (see [`policy_yaml`]) as `config/NAME.yaml`.
pub fn write_policy(
    config: &Path,
    name: &str,
    client: &str,
    storage: &str,
    prefix: &str,
    rest: &str,
) {
    let text = policy_yaml(name, client, storage, prefix, rest);
    put(config, &format!("{name}.yaml"), text.as_bytes());
}

/// Writes policy `name` over the fs folder `root` and `prefix`; `rest` is more YAML (targets,
/// schedule, validate, …).
pub fn write_fs_policy(
    config: &Path,
    name: &str,
    client: &str,
    root: &Path,
    prefix: &str,
    rest: &str,
) {
    let storage = format!("  service: fs\n  root: {}\n", root.display());
    write_policy(config, name, client, &storage, prefix, rest);
}

/// The `storage:` body for `bucket` at `endpoint`, with the key id from `AWS_ACCESS_KEY_ID`
/// and the secret from the environment variable `secret_var`.
pub fn s3_storage(bucket: &str, endpoint: &str, secret_var: &str) -> String {
    format!(
        "  service: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: ${{env:AWS_ACCESS_KEY_ID}}\n  secret_access_key: ${{env:{secret_var}}}\n"
    )
}

/// A loopback port nothing listens on (bound, then released): a server that is down.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies the fixtures into `dir`, each file's modification time set from the date in its
/// path (the 2026-11-25 backups one hour old, a day older per day before), as a nightly
/// backup job would have left them. A git checkout gives them all the same time.
fn dated_fixtures(dir: &Path) -> PathBuf {
    let root = dir.join("fixtures");
    copy_fixtures(&root, std::time::SystemTime::now());
    root
}

/// Dates the fixtures of [`demo_config`]'s `config` as [`dated_fixtures`] does, but as of
/// `now` (RFC 3339): for runs with `RESTORE_DRILL_NOW` before the real clock, whose backups
/// would otherwise be dated after the run started (`future_dated_backup`).
pub fn date_fixtures_as_of(config: &Path, now: &str) {
    let now: jiff::Timestamp = now.parse().expect("an RFC 3339 time");
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.as_second() as u64);
    copy_fixtures(&config.parent().unwrap().join("fixtures"), now);
}

/// Copies the shipped fixtures into `root`, dated as of `now`.
fn copy_fixtures(root: &Path, now: std::time::SystemTime) {
    let mut stack = vec![repo().join("fixtures/buckets")];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(repo().join("fixtures")).unwrap();
            let text = rel.to_string_lossy();
            let day: u64 = text
                .find("2026-11-")
                .map_or(25, |i| text[i + 8..i + 10].parse().unwrap());
            let age = std::time::Duration::from_secs(3600 + (25 - day) * 86_400);
            let copy = root.join(rel);
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(&path, &copy).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&copy)
                .unwrap()
                .set_modified(now - age)
                .unwrap();
        }
    }
}

/// A copy of the shipped policies over dated fixtures, in `dir/config`, with scratch and
/// state inside `dir` and three restores at a time.
pub fn demo_config(dir: &Path) -> PathBuf {
    let fixtures = dated_fixtures(dir);
    let config = write_settings(dir, "concurrency:\n  restores: 3\n");
    for rel in [
        "acme/files.yaml",
        "acme/db.yaml",
        "bright/mail.yaml",
        "bright/imaging.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join("policies").join(rel)).unwrap();
        let text = text.replace("../../fixtures", &fixtures.to_string_lossy());
        put(&config, rel, text.as_bytes());
    }
    config
}

/// Peak RSS of `restore-drill --version`, in KiB: what the binary takes just to start (a
/// debug build with the PDF typesetter linked in starts at about 27 MiB). Memory bounds are
/// the work above it.
pub fn own_rss_kib() -> i64 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rss");
    let status = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&file)
        .arg(assert_cmd::cargo::cargo_bin("restore-drill"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
