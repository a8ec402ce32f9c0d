//! Test support shared by the integration tests: the real binary, backups built from
//! deterministic content with the tar and zstd libraries, and uploads to the loopback S3
//! server through boto3 (tests/support/s3_upload.py), never through the code under test.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

pub fn bin() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("restore-drill").expect("the restore-drill binary is built")
}

/// `restore-drill history ARGS --config-dir CONFIG`: the exit code and stdout + stderr.
pub fn history(config: &Path, args: &[&str]) -> (i32, String) {
    let out = bin()
        .arg("history")
        .args(args)
        .arg("--config-dir")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `restore-drill history ARGS --json`, which must succeed, parsed.
pub fn history_json(config: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, text) = history(config, &all);
    assert_eq!(code, 0, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The repository root (for fixtures and policies).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The loopback S3 server started by tests/run.sh. Fails, never skips, when it is absent.
pub fn s3_endpoint() -> String {
    std::env::var("RESTORE_DRILL_TEST_S3").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_S3 is not set: the S3 tests need moto's server; run them with `tests/run.sh`, which installs and starts it")
    })
}

/// Creates `bucket` on the S3 server and uploads every file below `dir` into it.
pub fn upload(bucket: &str, dir: &Path) {
    let python = std::env::var("RESTORE_DRILL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_PYTHON is not set: run the S3 tests with `tests/run.sh`")
    });
    let status = Command::new(python)
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

/// Writes `content` to `root/rel`, creating folders.
pub fn put(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A unique, valid bucket name for one test.
pub fn bucket_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("rd-{test}-{}-{nanos:x}", std::process::id())
}

/// The secret access key the tests hand to the binary; it must appear in no output.
pub const TEST_SECRET: &str = "rd-test-secret-5f3a9c-never-print";

/// What one run of the binary left behind.
pub struct RunOutput {
    pub code: i32,
    pub results: serde_json::Value,
    pub json_text: String,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary and parses the `--json` results.
pub fn run_json(config_dir: &Path, extra: &[&str]) -> RunOutput {
    let json = config_dir.join("results.json");
    let out = bin()
        .arg("run")
        .arg("--config-dir")
        .arg(config_dir)
        .arg("--json")
        .arg(&json)
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json_text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no results.json ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    RunOutput {
        code: out.status.code().unwrap_or(-1),
        results: serde_json::from_str(&json_text).unwrap(),
        json_text,
        stdout,
        stderr,
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

/// The loopback SMTP server started by tests/run.sh: (host, port).
pub fn smtp_server() -> (String, u16) {
    let addr = std::env::var("RESTORE_DRILL_TEST_SMTP").unwrap_or_else(|_| {
        panic!("RESTORE_DRILL_TEST_SMTP is not set: the mail tests need aiosmtpd; run them with `tests/run.sh`, which installs and starts it")
    });
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    (host.to_string(), port.parse().expect("port"))
}

/// The Maildir that server stores into.
pub fn maildir() -> PathBuf {
    PathBuf::from(
        std::env::var("RESTORE_DRILL_TEST_MAILDIR").unwrap_or_else(|_| {
            panic!("RESTORE_DRILL_TEST_MAILDIR is not set: run the mail tests with `tests/run.sh`")
        }),
    )
}

/// One message as it arrived, parsed by a MIME parser.
#[derive(Debug)]
pub struct Received {
    /// Envelope recipients, from the X-RcptTo header aiosmtpd adds.
    pub rcpt_to: String,
    pub subject: String,
    pub to: Vec<String>,
    pub text: String,
    pub html: String,
    /// (file name, content type, body)
    pub attachments: Vec<(String, String, Vec<u8>)>,
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one message file.
pub fn parse_mail(raw: Vec<u8>) -> Received {
    use mail_parser::{MessageParser, MimeHeaders};
    let message = MessageParser::default()
        .parse(&raw)
        .expect("a parsable MIME message");
    let headers = message
        .headers()
        .iter()
        .map(|h| {
            let value = match h.value() {
                mail_parser::HeaderValue::Text(t) => t.to_string(),
                other => format!("{other:?}"),
            };
            (h.name().to_string(), value)
        })
        .collect::<Vec<_>>();
    let rcpt_to = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("X-RcptTo"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let to = message
        .to()
        .map(|list| {
            list.iter()
                .filter_map(|a| a.address().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let attachments = message
        .attachments()
        .map(|a| {
            let ct = a
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                .unwrap_or_default();
            (
                a.attachment_name().unwrap_or_default().to_string(),
                ct,
                a.contents().to_vec(),
            )
        })
        .collect();
    Received {
        rcpt_to,
        subject: message.subject().unwrap_or_default().to_string(),
        to,
        text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        html: message
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        attachments,
        headers,
        raw,
    }
}

/// Every message in `maildir` whose envelope recipients contain `tag`.
pub fn mail_for(maildir: &Path, tag: &str) -> Vec<Received> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let received = parse_mail(std::fs::read(entry.path()).unwrap());
            if received.rcpt_to.contains(tag) {
                out.push(received);
            }
        }
    }
    out
}

/// Copies the fixtures into `dir`, each file's modification time set from the date in its
/// path (the 2026-11-25 backups one hour old, a day older per day before), as a nightly
/// backup job would have left them. A git checkout gives them all the same time.
pub fn dated_fixtures(dir: &Path) -> std::path::PathBuf {
    let now = std::time::SystemTime::now();
    let root = dir.join("fixtures");
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
    root
}

/// A copy of the shipped policies and fixtures whose scratch folder is inside `dir`.
pub fn demo_config(dir: &Path) -> std::path::PathBuf {
    let fixtures = dated_fixtures(dir);
    let config = dir.join("policies");
    std::fs::create_dir_all(config.join("acme")).unwrap();
    std::fs::create_dir_all(config.join("bright")).unwrap();
    for rel in [
        "acme/files.yaml",
        "acme/db.yaml",
        "bright/mail.yaml",
        "bright/imaging.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join("policies").join(rel)).unwrap();
        let text = text.replace("../../fixtures", &fixtures.to_string_lossy());
        std::fs::write(config.join(rel), text).unwrap();
    }
    std::fs::write(
        config.join("restore-drill.yaml"),
        format!(
            "scratch_dir: {}\nstate_dir: {}\nconcurrency:\n  restores: 3\n",
            dir.join("scratch").display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    config
}

/// Writes `dir/config/restore-drill.yaml` with scratch and state kept inside `dir` (tests
/// never touch the host's folders), followed by `extra` settings. Returns the config folder.
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
    let text = format!(
        "name: {name}\nclient: {client}\nstorage:\n  service: fs\n  root: {}\nbackups:\n  prefix: {prefix}\n{rest}",
        root.display()
    );
    put(config, &format!("{name}.yaml"), text.as_bytes());
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

/// Stores `content` zstd-compressed as `folder/name` under `root`, with a `SHA256SUMS` in
/// that folder naming it (replacing any earlier one). Returns the stored bytes.
pub fn put_zst_with_sums(root: &Path, folder: &str, name: &str, content: &[u8]) -> Vec<u8> {
    let object = zstd(content);
    put_with_sums(root, folder, name, &object);
    object
}

/// Stores `stored` as is as `folder/name` under `root`, with a `SHA256SUMS` in that folder
/// naming it (replacing any earlier one).
pub fn put_with_sums(root: &Path, folder: &str, name: &str, stored: &[u8]) {
    put(root, &format!("{folder}/{name}"), stored);
    put(
        root,
        &format!("{folder}/SHA256SUMS"),
        format!("{}  {name}\n", sha256_hex(stored)).as_bytes(),
    );
}
