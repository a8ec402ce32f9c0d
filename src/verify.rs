//! The `verify` stage: expected digests discovered beside each object (sidecars and folder
//! manifests, no configuration needed; a key that could leave the policy's prefix is an
//! `unsafe_path` finding and is never read), compared with what the restore computed, and the
//! policy's `validate` commands run against the restored files. Everything it finds is a
//! [`Finding`]; nothing here fails the run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::storage::Storage;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use crate::checksum::{self, Algorithm, SumLine};
use crate::config::Validation;
use crate::finding::{Finding, FindingKind};
use crate::plan::{ChecksumSource, PlannedObject};
use crate::storage;

/// Checksum files larger than this are not read.
const MAX_CHECKSUM_FILE: u64 = 16 << 20;
/// Bytes of a failed command's stderr kept in its finding.
const STDERR_TAIL: usize = 2048;

/// A digest an object is expected to have, and where that expectation came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub algorithm: Algorithm,
    pub digest: String,
    pub source: String,
}

type Parsed = Result<Arc<Vec<SumLine>>, String>;
/// (policy, key) → the parsed checksum file, read once.
type Cells = HashMap<(String, String), Arc<OnceCell<Parsed>>>;

/// Checksum files read during a run, each read once however many objects it covers.
/// Entries are per policy: two policies' storages may hold the same key.
#[derive(Default)]
pub struct ChecksumFiles {
    cells: Mutex<Cells>,
}

impl ChecksumFiles {
    async fn get(&self, policy: &str, op: &Storage, key: &str, algorithm: Algorithm) -> Parsed {
        let cell = {
            let mut cells = self.cells.lock().expect("checksum cache lock");
            cells
                .entry((policy.to_string(), key.to_string()))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            let bytes = storage::read_small(op, key, MAX_CHECKSUM_FILE)
                .await
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
            checksum::parse_sums(&text, algorithm).map(Arc::new)
        })
        .await
        .clone()
    }
}

/// Reads the checksum files that may name `object` and returns its expected digests, plus
/// findings for checksum files that cannot be trusted.
pub async fn expected_digests(
    policy: &str,
    op: &Storage,
    object: &PlannedObject,
    files: &ChecksumFiles,
) -> (Vec<Expected>, Vec<Finding>) {
    let mut expected = Vec::new();
    let mut findings = Vec::new();
    let base = object.key.rsplit('/').next().unwrap_or(&object.key);
    for source in &object.checksums {
        let (key, algorithm, sidecar) = match source {
            ChecksumSource::Sidecar { key, algorithm } => (key, *algorithm, true),
            ChecksumSource::Manifest { key, algorithm } => (key, *algorithm, false),
        };
        if let Err(refused) = op.confined(key) {
            findings.push(Finding::new(
                FindingKind::UnsafePath,
                Some(key),
                refused.to_string(),
            ));
            continue;
        }
        let lines = match files.get(policy, op, key, algorithm).await {
            Ok(lines) => lines,
            Err(why) => {
                findings.push(Finding::new(
                    FindingKind::InvalidChecksumFile,
                    Some(&object.key),
                    format!("`{key}`: {why}"),
                ));
                continue;
            }
        };
        let matching = lines.iter().find(|line| match &line.name {
            Some(name) => listed_base(name) == base,
            None => sidecar,
        });
        match matching {
            Some(line) => expected.push(Expected {
                algorithm,
                digest: line.digest.clone(),
                source: key.clone(),
            }),
            None if sidecar => {
                let named = lines[0].name.as_deref().unwrap_or_default();
                findings.push(Finding::new(
                    FindingKind::InvalidChecksumFile,
                    Some(&object.key),
                    format!(
                        "sidecar `{key}` is for `{}`, not `{base}`",
                        named.escape_debug()
                    ),
                ));
            }
            // A folder manifest may cover other files only.
            None => {}
        }
    }
    (expected, findings)
}

/// Folder manifests of a chosen set that name files the set does not have: one
/// `missing_file` finding per name (`manifest!name`). By-folder sets only: a by-object
/// layout's manifest covers many sets.
pub async fn manifest_coverage(
    policy: &str,
    op: &Storage,
    set: &crate::plan::PlannedSet,
    files: &ChecksumFiles,
) -> Vec<Finding> {
    if set.listed_keys.is_empty() {
        return Vec::new();
    }
    let manifests: std::collections::BTreeSet<(&str, Algorithm)> = set
        .objects
        .iter()
        .flat_map(|o| &o.checksums)
        .filter_map(|source| match source {
            ChecksumSource::Manifest { key, algorithm } => Some((key.as_str(), *algorithm)),
            ChecksumSource::Sidecar { .. } => None,
        })
        .collect();
    let mut findings = Vec::new();
    // An unsafe manifest key is already a finding of each object it would cover.
    for (key, algorithm) in manifests
        .into_iter()
        .filter(|(k, _)| op.confined(k).is_ok())
    {
        // An unreadable manifest is already a finding of each object it should cover.
        let Ok(lines) = files.get(policy, op, key, algorithm).await else {
            continue;
        };
        let folder = key.rfind('/').map_or("", |i| &key[..=i]);
        // File names below the manifest's folder, once: a line may name `x`, `./x` or a
        // path ending in `x` (as `expected_digests` matches them).
        let names: std::collections::HashSet<&str> = set
            .listed_keys
            .iter()
            .filter(|k| k.starts_with(folder))
            .map(|k| listed_base(k))
            .collect();
        let present = |name: &str| names.contains(listed_base(name));
        for name in lines.iter().filter_map(|l| l.name.as_deref()) {
            if !present(name) {
                findings.push(Finding::new(
                    FindingKind::MissingFile,
                    Some(&format!("{key}!{}", name.escape_debug())),
                    format!(
                        "`{}` is listed in the manifest but the set has no such object",
                        name.escape_debug()
                    ),
                ));
            }
        }
    }
    findings
}

/// The file name a checksum line refers to (`./x`, `/backups/x` and `x` all name `x`).
fn listed_base(name: &str) -> &str {
    let name = checksum::normalize_name(name);
    name.rsplit('/').next().unwrap_or(name)
}

/// Compares expected digests with those computed from the stored bytes.
pub fn compare_digests(
    key: &str,
    expected: &[Expected],
    actual: &BTreeMap<Algorithm, String>,
    required: bool,
) -> Vec<Finding> {
    if expected.is_empty() {
        return if required {
            vec![Finding::new(
                FindingKind::MissingChecksum,
                Some(key),
                "no sidecar (.sha256, .sha512, .b3, .md5) or folder manifest (SHA256SUMS, …) names this object",
            )]
        } else {
            Vec::new()
        };
    }
    expected
        .iter()
        .filter_map(|e| {
            let got = actual.get(&e.algorithm)?;
            (got != &e.digest).then(|| {
                Finding::new(
                    FindingKind::ChecksumMismatch,
                    Some(key),
                    format!(
                        "{} expected {} (from `{}`), restored {got}",
                        e.algorithm.name(),
                        e.digest,
                        e.source
                    ),
                )
            })
        })
        .collect()
}

/// Runs each `validate` command in `dir` (argv, no shell; `{dir}` replaced by the folder).
pub async fn run_validations(validations: &[Validation], dir: &Path, set: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let dir_text = dir.to_string_lossy();
    for validation in validations {
        let argv: Vec<String> = validation
            .run
            .iter()
            .map(|a| a.replace("{dir}", &dir_text))
            .collect();
        let object = format!("{set}: {}", validation.name);
        if let Err(message) = run_one(&argv, dir, validation.timeout).await {
            findings.push(Finding::new(
                FindingKind::ValidationFailed,
                Some(&object),
                message,
            ));
        }
    }
    findings
}

async fn run_one(argv: &[String], dir: &Path, timeout: std::time::Duration) -> Result<(), String> {
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout stops whatever it started too.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", argv[0]))?;
    let tail = Arc::new(Mutex::new(Vec::new()));
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = {
        let tail = Arc::clone(&tail);
        tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut tail = tail.lock().expect("stderr tail lock");
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > STDERR_TAIL * 2 {
                    let excess = tail.len() - STDERR_TAIL;
                    tail.drain(..excess);
                }
            }
        })
    };
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_err() {
        if let Some(pid) = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = child.kill().await;
    }
    // Output still held open by a stray grandchild is not waited for long.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
    let text = {
        let tail = tail.lock().expect("stderr tail lock");
        let start = tail.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&tail[start..]).trim().to_string()
    };
    let with_tail = |message: String| {
        if text.is_empty() {
            message
        } else {
            format!("{message}: {text}")
        }
    };
    match waited {
        Err(_) => Err(with_tail(format!(
            "`{}` timed out after {}",
            argv[0],
            crate::config::units::format_duration(timeout)
        ))),
        Ok(Err(e)) => Err(format!("`{}` could not be waited for: {e}", argv[0])),
        Ok(Ok(status)) if !status.success() => {
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
            Err(with_tail(format!("`{}` exited with {code}", argv[0])))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(digest: &str) -> Expected {
        Expected {
            algorithm: Algorithm::Sha256,
            digest: digest.into(),
            source: "SHA256SUMS".into(),
        }
    }

    #[test]
    fn mismatch_and_missing_are_findings() {
        let actual = BTreeMap::from([(Algorithm::Sha256, "aa".to_string())]);
        assert!(compare_digests("k", &[expected("aa")], &actual, true).is_empty());
        let found = compare_digests("k", &[expected("bb")], &actual, true);
        assert_eq!(found[0].kind, FindingKind::ChecksumMismatch);
        assert_eq!(
            compare_digests("k", &[], &actual, true)[0].kind,
            FindingKind::MissingChecksum
        );
        assert!(compare_digests("k", &[], &actual, false).is_empty());
    }

    #[test]
    fn listed_names_reduce_to_their_base() {
        assert_eq!(listed_base("./x.tar.zst"), "x.tar.zst");
        assert_eq!(listed_base("/backups/acme/x.tar.zst"), "x.tar.zst");
    }

    #[tokio::test]
    async fn validation_failure_carries_stderr_and_timeout_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let fail = Validation {
            name: "fails".into(),
            run: vec!["sh".into(), "-c".into(), "echo broken >&2; exit 3".into()],
            timeout: std::time::Duration::from_secs(10),
        };
        // A shell that starts a grandchild holding stderr open: the timeout must still end
        // the check promptly and keep what was printed.
        let slow = Validation {
            name: "slow".into(),
            run: vec![
                "sh".into(),
                "-c".into(),
                "echo stuck >&2; sleep 30; true".into(),
            ],
            timeout: std::time::Duration::from_millis(300),
        };
        let ok = Validation {
            name: "ok".into(),
            run: vec!["true".into()],
            timeout: std::time::Duration::from_secs(5),
        };
        let findings = run_validations(&[fail, slow, ok], dir.path(), "s").await;
        assert_eq!(findings.len(), 2);
        assert!(
            findings[0].message.contains("code 3: broken"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[1].message.contains("timed out"),
            "{}",
            findings[1].message
        );
    }
}
