//! Safe tar extraction. Only regular files and folders are created, and only below the
//! extraction root: absolute names, `..`, links leaving the root, devices and fifos are
//! refused with an `unsafe_path` finding and nothing is written for them. Links that stay
//! inside are not created either (a hard link's content is copied; a symlink is skipped),
//! so no later entry can be written through one. The archive's own manifest
//! (`checksums.in_archive`) is captured as it is extracted and checked file by file.
//!
//! Every folder and file is created relative to the extraction root's handle, each component
//! opened without following a link (`folder::Folder`); the folder of the last entry is kept
//! open for the next, as an archive lists a folder's files together.
//!
//! Must not: create anything but regular files and folders, write below anything but the
//! extraction root, hold more of a manifest than `MAX_MANIFEST_BYTES`, or leave the stream
//! unread after the last entry (zstd's checksum and the size limit must see every byte).

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::halt::{Halt, HaltSlot, read_halt, write_halt};
use super::paths::{UnsafePath, safe_relative, split};
use super::sink::Sink;
use super::spec::RestoreSpec;
use super::write::{create_dirs, write_file};
use crate::checksum::{self, Algorithm, Digester};
use crate::finding::{Finding, FindingKind};
use crate::folder::Folder;
use crate::plan::PlannedObject;

/// An in-archive manifest larger than this is not read.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The in-archive manifest passed `MAX_MANIFEST_BYTES`: its capture stops, and the check
/// reports the manifest as invalid instead of missing.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("larger than the {MAX_MANIFEST_BYTES} bytes allowed")]
struct ManifestTooLarge;

/// What decoding an object's bytes gave: the files it wrote and what was wrong inside. Made
/// here for a tar archive's many files, and by the decoder for a single-file object.
pub(crate) struct Decoded {
    pub restored_bytes: u64,
    pub files: u64,
    pub findings: Vec<Finding>,
}

/// True when a symlink at `entry` (relative to the root) pointing to `target` stays inside.
fn link_stays_inside(entry: &Path, target: &[u8]) -> bool {
    if target.starts_with(b"/") || target.is_empty() {
        return false;
    }
    let mut depth = entry.components().count().saturating_sub(1) as i64;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// `key!entry` with control characters escaped, for findings.
fn entry_name(key: &str, name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    format!("{key}!{}", text.escape_debug())
}

/// Extracts the tar archive read from `source` below `root`, checking it against its own
/// manifest when the policy names one (`digest_algorithm` is then the manifest's).
pub(crate) fn extract_tar(
    source: impl Read,
    root: &Folder,
    object: &PlannedObject,
    spec: &RestoreSpec,
    digest_algorithm: Option<Algorithm>,
    slot: &HaltSlot,
    sink: &mut Sink<'_, '_>,
) -> Result<Decoded, Halt> {
    let key = object.key.as_str();
    let mut archive = tar::Archive::new(source);
    let mut extraction = Extraction {
        root,
        last_dir: None,
        key,
        digest_algorithm,
        manifest_rel: spec
            .in_archive
            .as_deref()
            .and_then(|m| safe_relative(m.as_bytes()).ok()),
        slot,
        findings: Vec::new(),
        written: BTreeMap::new(),
        manifest: None,
        restored_bytes: 0,
        files: 0,
    };
    let entries = archive.entries().map_err(|e| read_halt(slot, &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_halt(slot, &e))?;
        extraction.entry(&mut entry, sink)?;
    }
    // The rest of the stream (tar padding, further zstd frames) is read so that zstd's
    // checksum and the limit see every byte.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| read_halt(slot, &e))?;

    let Extraction {
        mut findings,
        written,
        manifest,
        restored_bytes,
        files,
        ..
    } = extraction;
    if let (Some(name), Some(algorithm)) = (&spec.in_archive, digest_algorithm) {
        findings.extend(check_manifest(key, name, manifest, algorithm, &written));
    }
    Ok(Decoded {
        restored_bytes,
        files,
        findings,
    })
}

/// One archive's extraction under way: where it goes, and what it has written and found.
struct Extraction<'a> {
    root: &'a Folder,
    /// The folder the last file went in, relative to the root, kept open for the next.
    last_dir: Option<(PathBuf, Folder)>,
    key: &'a str,
    /// The in-archive manifest's algorithm, when one is checked: each file's digest is
    /// computed as it is written.
    digest_algorithm: Option<Algorithm>,
    /// Where the in-archive manifest lands, to capture it as it is written.
    manifest_rel: Option<PathBuf>,
    slot: &'a HaltSlot,
    findings: Vec<Finding>,
    /// Path inside the archive → digest (when an in-archive manifest is checked).
    written: BTreeMap<PathBuf, Option<String>>,
    /// The in-archive manifest, kept as read from the archive: the copy on disk may be
    /// replaced by another archive of the same set restoring alongside.
    manifest: Option<Result<Vec<u8>, ManifestTooLarge>>,
    restored_bytes: u64,
    files: u64,
}

impl Extraction<'_> {
    /// Writes one entry, or refuses it with an `unsafe_path` finding.
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        sink: &mut Sink<'_, '_>,
    ) -> Result<(), Halt> {
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            return Ok(());
        }
        let rel = match safe_relative(&name) {
            Ok(rel) => rel,
            // `./`, the archive's root folder, as `tar -C dir .` writes it: a folder named by
            // `.` and `/` alone is the only name `safe_relative` finds empty.
            Err(UnsafePath::Empty) if kind == EntryType::Directory => return Ok(()),
            Err(why) => {
                self.refuse(&name, why.to_string());
                return Ok(());
            }
        };
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(entry, rel, sink)?;
            }
            EntryType::Directory => {
                create_dirs(self.root, &rel)?;
            }
            EntryType::Symlink => {
                let target = link_target(entry);
                if !link_stays_inside(&rel, &target) {
                    let shown = String::from_utf8_lossy(&target).escape_debug().to_string();
                    self.refuse(
                        &name,
                        format!("symbolic link to `{shown}` leaves the folder"),
                    );
                } else {
                    tracing::debug!(entry = %entry_name(self.key, &name), "symbolic link inside the archive not created");
                }
            }
            EntryType::Link => {
                let target = link_target(entry);
                self.hard_link(&name, rel, &target, sink)?;
            }
            EntryType::Char | EntryType::Block => {
                self.refuse(&name, "device file entry".into());
            }
            EntryType::Fifo => self.refuse(&name, "fifo entry".into()),
            other => {
                self.refuse(
                    &name,
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                );
            }
        }
        Ok(())
    }

    /// A regular file, with its digest when a manifest is checked, captured when it is the
    /// manifest.
    fn regular(
        &mut self,
        entry: &mut dyn Read,
        rel: PathBuf,
        sink: &mut Sink<'_, '_>,
    ) -> Result<(), Halt> {
        let dir = self.folder(split(&rel).0)?;
        let mut digester = self.digest_algorithm.map(|a| Digester::new(&[a].into()));
        let capture = self.manifest_rel.as_ref() == Some(&rel);
        let mut captured: Result<Vec<u8>, ManifestTooLarge> = Ok(Vec::new());
        let bytes = write_file(
            entry,
            self.root,
            &dir,
            &rel,
            |chunk| {
                if let Some(d) = digester.as_mut() {
                    d.update(chunk);
                }
                if capture {
                    capture_manifest(&mut captured, chunk);
                }
            },
            self.slot,
            sink,
        )?;
        if capture {
            self.manifest = Some(captured);
        }
        let digest = digester.and_then(|d| d.finish().into_values().next());
        self.restored_bytes += bytes;
        self.files += 1;
        self.written.insert(rel, digest);
        Ok(())
    }

    /// A hard link becomes a copy of the file it names, which must be one this archive
    /// wrote before it.
    fn hard_link(
        &mut self,
        name: &[u8],
        rel: PathBuf,
        target: &[u8],
        sink: &mut Sink<'_, '_>,
    ) -> Result<(), Halt> {
        match safe_relative(target) {
            Ok(target_rel) if self.written.contains_key(&target_rel) => {
                // The linked file's last writes may still be on the writer thread.
                sink.sync()?;
                let (from_dir, from_name) = split(&target_rel);
                let from_dir = self.folder(from_dir)?;
                let mut file = from_dir
                    .open_existing(from_name, false)
                    .map_err(|e| write_halt(&from_dir.path().join(from_name), &e))?;
                let dir = self.folder(split(&rel).0)?;
                let bytes = write_file(&mut file, self.root, &dir, &rel, |_| {}, self.slot, sink)?;
                self.restored_bytes += bytes;
                self.files += 1;
                let digest = self.written[&target_rel].clone();
                self.written.insert(rel, digest);
            }
            Ok(_) => self.refuse(
                name,
                "hard link to a file that is not in the archive".into(),
            ),
            Err(why) => self.refuse(name, format!("hard link target: {why}")),
        }
        Ok(())
    }

    /// The folder `rel` below the root, created when missing; the last one is kept open.
    fn folder(&mut self, rel: &Path) -> Result<Folder, Halt> {
        if let Some((last, folder)) = &self.last_dir
            && last == rel
        {
            return Ok(folder.clone());
        }
        let folder = create_dirs(self.root, rel)?;
        self.last_dir = Some((rel.to_path_buf(), folder.clone()));
        Ok(folder)
    }

    /// An `unsafe_path` finding for the entry: nothing is written for it.
    fn refuse(&mut self, name: &[u8], why: String) {
        self.findings.push(Finding::new(
            FindingKind::UnsafePath,
            Some(&entry_name(self.key, name)),
            format!("refused: {why}"),
        ));
    }
}

/// The name a link entry points to (empty when it has none).
fn link_target<R: Read>(entry: &tar::Entry<'_, R>) -> Vec<u8> {
    entry
        .link_name_bytes()
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

/// Appends a chunk of the in-archive manifest, refusing to hold more than the limit.
fn capture_manifest(captured: &mut Result<Vec<u8>, ManifestTooLarge>, chunk: &[u8]) {
    if let Ok(bytes) = captured {
        if (bytes.len() + chunk.len()) as u64 > MAX_MANIFEST_BYTES {
            *captured = Err(ManifestTooLarge);
        } else {
            bytes.extend_from_slice(chunk);
        }
    }
}

/// Compares the files extracted with the archive's own manifest.
fn check_manifest(
    key: &str,
    manifest: &str,
    content: Option<Result<Vec<u8>, ManifestTooLarge>>,
    algorithm: Algorithm,
    written: &BTreeMap<PathBuf, Option<String>>,
) -> Vec<Finding> {
    let Ok(manifest_rel) = safe_relative(manifest.as_bytes()) else {
        return Vec::new();
    };
    let object = Some(key);
    let invalid = |why: String| {
        vec![Finding::new(
            FindingKind::InvalidChecksumFile,
            object,
            format!("`{manifest}`: {why}"),
        )]
    };
    let text = match content {
        None => {
            return vec![Finding::new(
                FindingKind::MissingChecksum,
                object,
                format!("the archive has no `{manifest}` (checksums.in_archive)"),
            )];
        }
        Some(Err(why)) => return invalid(why.to_string()),
        Some(Ok(bytes)) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => return invalid("not UTF-8 text".into()),
        },
    };
    let lines = match checksum::parse_sums(&text, algorithm) {
        Ok(lines) => lines,
        Err(why) => return invalid(why),
    };
    let mut findings = Vec::new();
    let mut listed = BTreeMap::new();
    for line in lines {
        let Some(name) = line.name else {
            findings.push(Finding::new(
                FindingKind::InvalidChecksumFile,
                object,
                format!("`{manifest}`: a line names no file"),
            ));
            continue;
        };
        match safe_relative(checksum::normalize_name(&name).as_bytes()) {
            Ok(rel) => {
                listed.insert(rel, (name, line.digest));
            }
            Err(why) => findings.push(Finding::new(
                FindingKind::InvalidChecksumFile,
                object,
                format!("`{manifest}` lists `{}`: {why}", name.escape_debug()),
            )),
        }
    }
    for (rel, (name, expected)) in &listed {
        let entry = format!("{key}!{}", name.escape_debug());
        match written.get(rel) {
            None => findings.push(Finding::new(
                FindingKind::MissingFile,
                Some(&entry),
                format!("listed in `{manifest}` but not in the archive"),
            )),
            Some(Some(actual)) if actual != expected => findings.push(Finding::new(
                FindingKind::ChecksumMismatch,
                Some(&entry),
                format!(
                    "{} expected {expected}, restored {actual}",
                    algorithm.name()
                ),
            )),
            Some(_) => {}
        }
    }
    for rel in written.keys() {
        if *rel != manifest_rel && !listed.contains_key(rel) {
            let entry = format!("{key}!{}", rel.to_string_lossy().escape_debug());
            findings.push(Finding::new(
                FindingKind::UnexpectedFile,
                Some(&entry),
                format!("in the archive but not listed in `{manifest}`"),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_judged_from_their_folder() {
        assert!(link_stays_inside(Path::new("a/b/link"), b"../c"));
        assert!(link_stays_inside(Path::new("a/link"), b"../c"));
        assert!(!link_stays_inside(Path::new("link"), b"../c"));
        assert!(!link_stays_inside(Path::new("a/link"), b"/etc/passwd"));
        assert!(!link_stays_inside(Path::new("a/link"), b"x/../../../c"));
    }
}
