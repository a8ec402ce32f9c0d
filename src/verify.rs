//! The `verify` stage: expected digests discovered beside each object (sidecars and folder
//! manifests, no configuration needed), compared with what the restore computed, and the
//! policy's `validate` commands run against the restored files. Everything it finds is a
//! [`Finding`]; nothing here fails the run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use opendal::Operator;
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

/// Checksum files read during a run, each read once however many objects it covers.
#[derive(Default)]
pub struct ChecksumFiles {
    cells: Mutex<HashMap<String, Arc<OnceCell<Parsed>>>>,
}

impl ChecksumFiles {
    async fn get(&self, op: &Operator, key: &str, algorithm: Algorithm) -> Parsed {
        let cell = {
            let mut cells = self.cells.lock().expect("checksum cache lock");
            cells.entry(key.to_string()).or_default().clone()
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
    op: &Operator,
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
        let lines = match files.get(op, key, algorithm).await {
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
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", argv[0]))?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let collect = async {
        let mut tail = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > STDERR_TAIL * 2 {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
            }
        }
        let status = child.wait().await;
        (status, tail)
    };
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(format!(
            "`{}` timed out after {}",
            argv[0],
            crate::config::units::format_duration(timeout)
        )),
        Ok((Err(e), _)) => Err(format!("`{}` could not be waited for: {e}", argv[0])),
        Ok((Ok(status), tail)) if !status.success() => {
            let start = tail.len().saturating_sub(STDERR_TAIL);
            let text = String::from_utf8_lossy(&tail[start..]).trim().to_string();
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
            if text.is_empty() {
                Err(format!("`{}` exited with {code}", argv[0]))
            } else {
                Err(format!("`{}` exited with {code}: {text}", argv[0]))
            }
        }
        Ok(_) => Ok(()),
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
        let slow = Validation {
            name: "slow".into(),
            run: vec!["sleep".into(), "5".into()],
            timeout: std::time::Duration::from_millis(200),
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
