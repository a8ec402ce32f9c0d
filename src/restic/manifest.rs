//! `checksums.in_archive` for a restic policy: a manifest file inside each snapshot (say
//! `srv/data/SHA256SUMS`, its names relative to its own folder), checked like a tar's. It is
//! read once per snapshot, its blobs checked as any file's; each file it lists is looked for
//! in the snapshot (`missing_file` when gone), and a restored file below its folder is
//! compared with its line (`checksum_mismatch`), or is `unexpected_file` when it has none.
//!
//! Must not: hold more of a manifest than `MAX_MANIFEST_BYTES`, or report a snapshot's own
//! findings (no manifest, an invalid one, a listed file gone) more than once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustic_core::BlobId;
use rustic_core::repofile::BlobType;
use sha2::{Digest, Sha256};

use super::Opened;
use crate::checksum::{self, Algorithm};
use crate::finding::{Finding, FindingKind};
use crate::verify::Expected;

/// The most of a manifest read, as for a tar's.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Each snapshot's manifest, read once, by set name.
#[derive(Debug, Default)]
pub(super) struct Manifests {
    cells: Mutex<HashMap<String, Arc<OnceLock<Loaded>>>>,
}

/// A snapshot's manifest as read: its lines by path in the snapshot, and the snapshot's
/// findings, taken by the first file that asks.
#[derive(Debug)]
struct Loaded {
    algorithm: Algorithm,
    /// The manifest's folder in the snapshot, `` or ending in `/`.
    folder: String,
    /// None when the manifest could not be used (its finding says why).
    listed: Option<HashMap<String, String>>,
    findings: Mutex<Vec<Finding>>,
}

/// What a snapshot's manifest says of one file ([`Opened::manifest_expectation`]).
#[derive(Debug, Default)]
pub struct ManifestAnswer {
    pub expected: Option<Expected>,
    pub of_the_file: Vec<Finding>,
    pub of_the_snapshot: Vec<Finding>,
}

impl Opened {
    /// The digest the snapshot's manifest `manifest` gives the file listed as `key`, the
    /// findings about this file, and (to the first file that asks) the findings about the
    /// snapshot's manifest: those are the snapshot's, and must not fail the file that
    /// happened to ask first. Blocking.
    pub fn manifest_expectation(&self, key: &str, manifest: &str) -> ManifestAnswer {
        let mut answer = ManifestAnswer::default();
        let Some((set, path)) = key
            .strip_prefix(&self.prefix)
            .and_then(|rel| rel.split_once('/'))
        else {
            return answer;
        };
        let cell = match self.manifests.cells.lock() {
            Ok(mut cells) => cells.entry(set.to_string()).or_default().clone(),
            Err(_) => return answer,
        };
        let loaded = cell.get_or_init(|| self.load_manifest(set, manifest));
        answer.of_the_snapshot = loaded
            .findings
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        let Some(listed) = &loaded.listed else {
            return answer;
        };
        if path == manifest || !path.starts_with(&loaded.folder) {
            return answer;
        }
        match listed.get(path) {
            Some(digest) => {
                answer.expected = Some(Expected {
                    algorithm: loaded.algorithm,
                    digest: digest.clone(),
                    source: format!("{manifest} in snapshot {set}"),
                });
            }
            None => answer.of_the_file.push(Finding::new(
                FindingKind::UnexpectedFile,
                Some(key),
                format!("in the snapshot but not listed in `{manifest}`"),
            )),
        }
        answer
    }

    fn load_manifest(&self, set: &str, manifest: &str) -> Loaded {
        let algorithm = Algorithm::for_manifest_path(manifest);
        let folder = manifest
            .rfind('/')
            .map_or(String::new(), |i| manifest[..=i].to_string());
        let manifest_key = format!("{}{set}/{manifest}", self.prefix);
        let fail = |kind: FindingKind, message: String| Loaded {
            algorithm,
            folder: folder.clone(),
            listed: None,
            findings: Mutex::new(vec![Finding::new(kind, Some(&manifest_key), message)]),
        };
        let Some(root) = self.snapshots.get(set) else {
            return fail(
                FindingKind::StorageError,
                format!("snapshot {set} was not in the listing"),
            );
        };
        let file = match self.trees.file(&self.repo, &self.backend, *root, manifest) {
            Ok(file) => file,
            Err(why) => {
                return fail(
                    FindingKind::MissingChecksum,
                    format!("the snapshot has no `{manifest}` (checksums.in_archive): {why}"),
                );
            }
        };
        if file.size > MAX_MANIFEST_BYTES {
            return fail(
                FindingKind::InvalidChecksumFile,
                format!("larger than the {MAX_MANIFEST_BYTES} bytes allowed"),
            );
        }
        let mut bytes = Vec::new();
        for id in &file.blobs {
            let blob = self
                .repo
                .get_blob_cached(&BlobId::from(*id), BlobType::Data)
                .ok()
                .filter(|b| hex::encode(Sha256::digest(b)) == id.to_hex().as_str());
            let Some(blob) = blob else {
                let _ = self.backend.take_failure();
                return fail(
                    FindingKind::CorruptArchive,
                    format!(
                        "blob {} of the manifest cannot be read or fails its checks",
                        &id.to_hex().as_str()[..16]
                    ),
                );
            };
            bytes.extend_from_slice(&blob);
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                return fail(FindingKind::InvalidChecksumFile, "not UTF-8 text".into());
            }
        };
        let lines = match checksum::parse_sums(&text, algorithm) {
            Ok(lines) => lines,
            Err(why) => return fail(FindingKind::InvalidChecksumFile, why),
        };
        let (listed, findings) = self.check_lines(lines, *root, &folder, manifest, &manifest_key);
        Loaded {
            algorithm,
            folder,
            listed: Some(listed),
            findings: Mutex::new(findings),
        }
    }

    /// The manifest's lines by path in the snapshot, and what is wrong with them: a line
    /// naming no file or a path out of its folder, a listed file the snapshot lacks.
    fn check_lines(
        &self,
        lines: Vec<checksum::SumLine>,
        root: rustic_core::TreeId,
        folder: &str,
        manifest: &str,
        manifest_key: &str,
    ) -> (HashMap<String, String>, Vec<Finding>) {
        let mut findings = Vec::new();
        let mut listed = HashMap::new();
        for line in lines {
            let Some(name) = line.name else {
                findings.push(Finding::new(
                    FindingKind::InvalidChecksumFile,
                    Some(manifest_key),
                    "a line names no file",
                ));
                continue;
            };
            let rel = checksum::normalize_name(&name);
            if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
                findings.push(Finding::new(
                    FindingKind::InvalidChecksumFile,
                    Some(manifest_key),
                    format!(
                        "lists `{}`: not a path below its folder",
                        name.escape_debug()
                    ),
                ));
                continue;
            }
            let path = format!("{folder}{rel}");
            if let Err(why) = self.trees.file(&self.repo, &self.backend, root, &path) {
                findings.push(Finding::new(
                    FindingKind::MissingFile,
                    Some(&format!("{manifest_key}!{}", name.escape_debug())),
                    format!("listed in `{manifest}` but not in the snapshot: {why}"),
                ));
            }
            listed.insert(path, line.digest);
        }
        (listed, findings)
    }
}
