//! The sandbox every hostile case runs in, and the guarantees checked after each run.
//!
//! Layout of a sandbox (a fresh temporary folder):
//!   outside/   the sentinel tree: files, a deep folder, a precious file links may aim at
//!   bucket/    the fs storage root (read-only to the runner: any change is a failure)
//!   config/    settings and policies
//!   scratch/   owned by the run; must be empty again after it
//!   state/     owned by the run (history, outbox, spool, results)

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Failures};

/// Exit codes the README documents for `run`.
pub const DOCUMENTED_EXITS: &[i32] = &[0, 1, 2, 3, 4, 5, 6, 7, 130, 143];
/// No case may take longer: a hang is a failure, not a stuck CI job.
pub const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// The heartbeat URL carries the test secret, as a monitor's ping token would.
pub const HEARTBEAT_ENV: &str = "RD_HOSTILE_HEARTBEAT";
/// An absolute path hostile archives aim at outside the sandbox.
pub const ABSOLUTE_TARGET: &str = "/rd-hostile-abs-escape";

pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    /// In the teams' addresses (`noc+TAG@…`), to find this sandbox's mail in a Maildir.
    pub tag: String,
    /// The scratch folder: `root/scratch`, or one on a small filesystem.
    pub scratch: PathBuf,
    /// A file size limit (RLIMIT_FSIZE) for the run, in bytes.
    pub file_size_limit: Option<u64>,
    /// The umask the run starts with (the caller's otherwise).
    pub umask: Option<u32>,
    pub bucket: PathBuf,
    pub config: PathBuf,
    logs: tempfile::TempDir,
    before: Option<BTreeMap<PathBuf, String>>,
    pub env: Vec<(String, String)>,
    /// The command line of the last run started, for failure messages.
    command: String,
}

/// What a run in the sandbox did; displayed, its command, exit code and output.
pub struct Outcome {
    command: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub results: Option<serde_json::Value>,
    /// Peak RSS in KiB, when run under GNU time.
    pub peak_rss_kib: Option<i64>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        common::describe(f, &self.command, self.code, &self.stdout, &self.stderr)
    }
}

impl Outcome {
    /// The result of policy `name`.
    pub fn policy(&self, name: &str) -> &serde_json::Value {
        let results = self
            .results
            .as_ref()
            .unwrap_or_else(|| panic!("no results.json: {self}"));
        common::policy(results, name)
    }

    pub fn kinds(&self, name: &str) -> Vec<String> {
        common::finding_kinds(self.policy(name))
    }

    pub fn status(&self, name: &str) -> String {
        self.policy(name)["status"].as_str().unwrap().to_string()
    }

    /// Policy `name` failed with a finding of `kind` (among others, possibly).
    pub fn fails_with(&self, name: &str, kind: &str) -> Result<(), String> {
        let (status, kinds) = (self.status(name), self.kinds(name));
        if status != "fail" {
            return Err(format!(
                "{name} should fail with {kind}, status {status:?}; findings {kinds:?}"
            ));
        }
        if !kinds.iter().any(|k| k == kind) {
            return Err(format!(
                "{name} should have a {kind} finding, has {kinds:?}: {}",
                self.policy(name)["findings"]
            ));
        }
        Ok(())
    }

    /// Policy `name` passed.
    pub fn passes(&self, name: &str) -> Result<(), String> {
        let status = self.status(name);
        if status == "pass" {
            return Ok(());
        }
        Err(format!(
            "{name} should pass, status {status:?}; findings {}",
            self.policy(name)["findings"]
        ))
    }

    /// The messages of `name`'s findings of `kind`, with the object each names.
    pub fn messages(&self, name: &str, kind: &str) -> Vec<String> {
        self.policy(name)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| format!("{} {}", f["object"], f["message"]))
            .collect()
    }
}

impl Sandbox {
    /// A sandbox with the standard settings plus `extra` settings YAML.
    pub fn new(extra: &str) -> Sandbox {
        Sandbox::with_scratch(extra, None)
    }

    /// The same with the scratch folder at `scratch` (outside the sandbox's root).
    pub fn with_scratch(extra: &str, scratch: Option<PathBuf>) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let scratch = scratch.unwrap_or_else(|| root.join("scratch"));
        let tag: String = root
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let outside = root.join("outside");
        common::put(&outside, "precious.txt", b"do not touch\n");
        common::put(&outside, "deep/a/b/c.txt", b"deep sentinel\n");
        common::put(&outside, "escape-target/keep.txt", b"keep\n");
        let bucket = root.join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let settings = format!(
            "scratch_dir: {}\nstate_dir: {}\n\
             heartbeat:\n  url: ${{env:{HEARTBEAT_ENV}}}\n  timeout: 2s\n\
             teams:\n  msp:\n    name: MSP\n    msp: true\n    email: [noc+{tag}@msp.example]\n  \
             client-it:\n    name: Client IT\n    client: Hostile\n    email: [it+{tag}@client.example]\n\
             {}{extra}",
            scratch.display(),
            root.join("state").display(),
            // Mail goes to files in state/outbox unless the case brings its own.
            if extra.lines().any(|l| l == "mail:") {
                ""
            } else {
                "mail:\n  from: rd <rd@msp.example>\n  transport: file\n"
            }
        );
        let config = root.join("config");
        common::put(&config, "restore-drill.yaml", settings.as_bytes());
        // A closed loopback port: every heartbeat fails, and its error must not show the URL.
        let closed = common::closed_port();
        Sandbox {
            _dir: dir,
            root,
            tag,
            scratch,
            file_size_limit: None,
            umask: None,
            bucket,
            config,
            logs: tempfile::tempdir().unwrap(),
            before: None,
            command: String::new(),
            env: vec![
                (
                    HEARTBEAT_ENV.into(),
                    format!("http://127.0.0.1:{closed}/ping/{}", common::TEST_SECRET),
                ),
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), common::TEST_SECRET.into()),
                ("RD_HOSTILE_S3_SECRET".into(), common::TEST_SECRET.into()),
            ],
        }
    }

    /// Writes an object into the bucket.
    pub fn put(&self, rel: &str, bytes: &[u8]) {
        common::put(&self.bucket, rel, bytes);
    }

    /// An fs policy over the bucket with checksums required and wide targets; `rest` adds
    /// YAML (sample, checksums, …), replacing the `checksums` block when it has one.
    pub fn policy(&self, name: &str, prefix: &str, rest: &str) {
        let checksums = if rest.contains("checksums:") {
            ""
        } else {
            "checksums:\n  required: true\n"
        };
        common::write_fs_policy(
            &self.config,
            name,
            "Hostile",
            &self.bucket,
            prefix,
            &format!("{checksums}{rest}targets:\n  rpo: 3650d\n  rto: 1h\n"),
        );
    }

    /// A policy file written as is (for broken YAML).
    pub fn raw_policy(&self, file: &str, content: &[u8]) {
        common::put(&self.config, file, content);
    }

    /// Records the sentinel snapshot: everything outside scratch and state.
    pub fn seal(&mut self) {
        self.before = Some(self.snapshot());
    }

    /// `restore-drill run --json …` plus `args`; checks the guarantees.
    pub fn run(&mut self, args: &[&str]) -> Outcome {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        self.exec(&full, false)
    }

    /// The same under GNU time, for the peak RSS.
    pub fn run_measured(&mut self, args: &[&str]) -> Outcome {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        self.exec(&full, true)
    }

    /// Any subcommand; for `run`, the JSON results are written and read back.
    pub fn exec(&mut self, args: &[&str], measure: bool) -> Outcome {
        let child = self.spawn(args, measure);
        let out = self.wait(child, measure);
        self.check(&out, args);
        out
    }

    /// Starts the binary without waiting (for signal tests); see [`Sandbox::wait`].
    pub fn spawn(&mut self, args: &[&str], measure: bool) -> std::process::Child {
        if self.before.is_none() {
            self.seal();
        }
        let json = self.root.join("results.json");
        let _ = std::fs::remove_file(&json);
        let binary = assert_cmd::cargo::cargo_bin("restore-drill");
        let mut cmd = if measure {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", "%M", "-o"])
                .arg(self.logs.path().join("rss"))
                .arg(binary);
            c
        } else {
            Command::new(binary)
        };
        cmd.args(args).arg("--config-dir").arg(&self.config);
        if args.first() == Some(&"run") {
            cmd.arg("--json").arg(&json);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(limit) = self.file_size_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: only an async-signal-safe system call between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    rustix::process::setrlimit(
                        rustix::process::Resource::Fsize,
                        rustix::process::Rlimit {
                            current: Some(limit),
                            maximum: Some(limit),
                        },
                    )
                    .map_err(std::io::Error::from)
                });
            }
        }
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt;
            // SAFETY: only an async-signal-safe system call between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
                    Ok(())
                });
            }
        }
        self.command = common::command_line(cmd.get_program(), cmd.get_args(), cmd.get_envs());
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(self.logs.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(self.logs.path().join("stderr")).unwrap())
            .spawn()
            .expect("start restore-drill")
    }

    /// Waits for a spawned run, killing it at the deadline (a hang fails the test).
    pub fn wait(&self, mut child: std::process::Child, measure: bool) -> Outcome {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{}` hung: killed after {RUN_DEADLINE:?}; stderr:\n{}",
                    self.command,
                    read_lossy(&self.logs.path().join("stderr"))
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let results = std::fs::read_to_string(self.root.join("results.json"))
            .ok()
            .map(|text| serde_json::from_str(&text).expect("results.json parses"));
        let peak_rss_kib = measure.then(|| {
            read_lossy(&self.logs.path().join("rss"))
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .expect("GNU time wrote the peak RSS")
        });
        Outcome {
            command: self.command.clone(),
            code: status.code().unwrap_or(-1),
            stdout: read_lossy(&self.logs.path().join("stdout")),
            stderr: read_lossy(&self.logs.path().join("stderr")),
            results,
            peak_rss_kib,
        }
    }

    /// The guarantees that hold after every case, whatever went wrong; every one broken is
    /// reported.
    pub fn check(&self, out: &Outcome, args: &[&str]) {
        let mut failures = Failures::new();
        for text in [&out.stdout, &out.stderr] {
            failures.check(!text.contains("panicked at"), || "a panic".to_string());
            failures.check(!text.contains("RUST_BACKTRACE"), || "a panic".to_string());
        }
        failures.check(DOCUMENTED_EXITS.contains(&out.code), || {
            format!("undocumented exit code {}", out.code)
        });
        // Nothing new or changed outside the folders the run owns.
        let before = self.before.as_ref().expect("sealed before the run");
        let after = self.snapshot();
        let mut changes = Vec::new();
        for (path, fingerprint) in &after {
            match before.get(path) {
                None => changes.push(format!("new: {}", path.display())),
                Some(old) if old != fingerprint => {
                    changes.push(format!("changed: {}", path.display()))
                }
                _ => {}
            }
        }
        for path in before.keys() {
            if !after.contains_key(path) {
                changes.push(format!("removed: {}", path.display()));
            }
        }
        failures.check(changes.is_empty(), || {
            format!("outside scratch and state: {changes:#?}")
        });
        failures.check(std::fs::symlink_metadata(ABSOLUTE_TARGET).is_err(), || {
            format!("{ABSOLUTE_TARGET} was created")
        });
        // The run's scratch folders are gone (but with --keep).
        if !args.contains(&"--keep") {
            let left: Vec<_> = std::fs::read_dir(&self.scratch)
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            failures.check(left.is_empty(), || format!("scratch left behind: {left:?}"));
        }
        // The secret appears nowhere: output, and every file the run wrote or kept.
        for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            failures.check(!text.contains(common::TEST_SECRET), || {
                format!("the secret is in {what}")
            });
        }
        // Only the run's own folders need reading: the rest is unchanged, as checked above.
        let mut owned_files = walk(&self.root.join("state"));
        owned_files.push(self.root.join("results.json"));
        for file in owned_files {
            if let Ok(bytes) = std::fs::read(&file) {
                failures.check(!contains(&bytes, common::TEST_SECRET.as_bytes()), || {
                    format!("the secret is in {}", file.display())
                });
            }
        }
        failures.assert_none_for(out);
    }

    /// Path → fingerprint of everything below the root but the run's own folders.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let owned = [
            self.root.join("scratch"),
            self.root.join("state"),
            self.root.join("results.json"),
        ];
        let mut out = BTreeMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if owned.contains(&path) {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let fingerprint = if meta.is_symlink() {
                    format!("link {:?}", std::fs::read_link(&path).unwrap())
                } else if meta.is_dir() {
                    stack.push(path.clone());
                    "dir".to_string()
                } else if meta.is_file() {
                    // Size, inode, mode and modification time: a write through a link or
                    // in place changes at least the time, without reading large objects.
                    use std::os::unix::fs::MetadataExt;
                    format!(
                        "file {} {} {:o} {}.{}",
                        meta.len(),
                        meta.ino(),
                        meta.mode(),
                        meta.mtime(),
                        meta.mtime_nsec()
                    )
                } else {
                    format!("special {:?}", meta.file_type())
                };
                out.insert(path, fingerprint);
            }
        }
        out
    }
}

/// Every regular file below `dir`, links not followed.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
