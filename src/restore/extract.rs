//! Safe tar extraction. Only regular files and folders are created, and only below the
//! extraction root: absolute names, `..`, links leaving the root, devices and fifos are
//! refused with an `unsafe_path` finding and nothing is written for them. Links that stay
//! inside are not created either (a hard link's content is copied; a symlink is skipped),
//! so no later entry can be written through one.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::decode::{Decoded, create_dirs, read_halt, write_file, write_halt};
use super::sink::Sink;
use super::{Halt, HaltSlot, RestoreSpec};
use crate::checksum::{self, Algorithm, Digester};
use crate::finding::{Finding, FindingKind};
use crate::plan::PlannedObject;

/// An in-archive manifest larger than this is not read.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Checks a path from an archive or a storage key: relative, no `..`, not empty. `.` and
/// empty components are dropped. Returns the path to join below the root.
pub fn safe_relative(name: &[u8]) -> Result<PathBuf, String> {
    if name.starts_with(b"/") {
        return Err("absolute path".into());
    }
    let mut out = PathBuf::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => return Err("path leaves the folder with `..`".into()),
            _ if part.contains(&0) => return Err("NUL byte in the name".into()),
            _ => out.push(OsStr::from_bytes(part)),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("empty path".into());
    }
    Ok(out)
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

pub(crate) fn extract_tar(
    source: impl Read,
    root: &Path,
    object: &PlannedObject,
    spec: &RestoreSpec,
    digest_algorithm: Option<Algorithm>,
    slot: &HaltSlot,
    sink: &mut Sink<'_, '_>,
) -> Result<Decoded, Halt> {
    let key = object.key.as_str();
    let mut archive = tar::Archive::new(source);
    let mut findings = Vec::new();
    // Path inside the archive → digest (when an in-archive manifest is checked).
    let mut written: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
    let mut restored_bytes = 0u64;
    let mut files = 0u64;
    let unsafe_entry = |name: &[u8], why: String| {
        Finding::new(
            FindingKind::UnsafePath,
            Some(&entry_name(key, name)),
            format!("refused: {why}"),
        )
    };

    let manifest_rel = spec
        .in_archive
        .as_deref()
        .and_then(|m| safe_relative(m.as_bytes()).ok());
    // The in-archive manifest, kept as read from the archive: the copy on disk may be
    // replaced by another archive of the same set restoring alongside.
    let mut manifest: Option<Result<Vec<u8>, String>> = None;

    let entries = archive.entries().map_err(|e| read_halt(slot, &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_halt(slot, &e))?;
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            continue;
        }
        let rel = match safe_relative(&name) {
            Ok(rel) => rel,
            // `./`, the archive's root folder, as `tar -C dir .` writes it.
            Err(_)
                if kind == EntryType::Directory
                    && name.iter().all(|&b| b == b'.' || b == b'/')
                    && !name.starts_with(b"/")
                    && !name.windows(2).any(|w| w == b"..") =>
            {
                continue;
            }
            Err(why) => {
                findings.push(unsafe_entry(&name, why));
                continue;
            }
        };
        let path = root.join(&rel);
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                if let Some(dir) = path.parent() {
                    create_dirs(dir)?;
                }
                let mut digester = digest_algorithm.map(|a| Digester::new(&[a].into()));
                let capture = manifest_rel.as_ref() == Some(&rel);
                let mut captured: Result<Vec<u8>, String> = Ok(Vec::new());
                let bytes = write_file(
                    &mut entry,
                    &path,
                    |chunk| {
                        if let Some(d) = digester.as_mut() {
                            d.update(chunk);
                        }
                        if capture {
                            capture_manifest(&mut captured, chunk);
                        }
                    },
                    slot,
                    sink,
                )?;
                if capture {
                    manifest = Some(captured);
                }
                let digest = digester.and_then(|d| d.finish().into_values().next());
                restored_bytes += bytes;
                files += 1;
                written.insert(rel, digest);
            }
            EntryType::Directory => create_dirs(&path)?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if !link_stays_inside(&rel, &target) {
                    let shown = String::from_utf8_lossy(&target).escape_debug().to_string();
                    findings.push(unsafe_entry(
                        &name,
                        format!("symbolic link to `{shown}` leaves the folder"),
                    ));
                } else {
                    tracing::debug!(entry = %entry_name(key, &name), "symbolic link inside the archive not created");
                }
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                match safe_relative(&target) {
                    Ok(target_rel) if written.contains_key(&target_rel) => {
                        if let Some(dir) = path.parent() {
                            create_dirs(dir)?;
                        }
                        let from = root.join(&target_rel);
                        // The linked file's last writes may still be on the writer thread.
                        sink.sync()?;
                        let mut file =
                            std::fs::File::open(&from).map_err(|e| write_halt(&from, &e))?;
                        let bytes = write_file(&mut file, &path, |_| {}, slot, sink)?;
                        restored_bytes += bytes;
                        files += 1;
                        let digest = written[&target_rel].clone();
                        written.insert(rel, digest);
                    }
                    Ok(_) => findings.push(unsafe_entry(
                        &name,
                        "hard link to a file that is not in the archive".into(),
                    )),
                    Err(why) => {
                        findings.push(unsafe_entry(&name, format!("hard link target: {why}")))
                    }
                }
            }
            EntryType::Char | EntryType::Block => {
                findings.push(unsafe_entry(&name, "device file entry".into()));
            }
            EntryType::Fifo => findings.push(unsafe_entry(&name, "fifo entry".into())),
            other => {
                findings.push(unsafe_entry(
                    &name,
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                ));
            }
        }
    }
    // The rest of the stream (tar padding, further zstd frames) is read so that zstd's
    // checksum and the limit see every byte.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| read_halt(slot, &e))?;

    if let (Some(name), Some(algorithm)) = (&spec.in_archive, digest_algorithm) {
        findings.extend(check_manifest(key, name, manifest, algorithm, &written));
    }
    Ok(Decoded {
        restored_bytes,
        files,
        findings,
    })
}

/// Appends a chunk of the in-archive manifest, refusing to hold more than the limit.
fn capture_manifest(captured: &mut Result<Vec<u8>, String>, chunk: &[u8]) {
    if let Ok(bytes) = captured {
        if (bytes.len() + chunk.len()) as u64 > MAX_MANIFEST_BYTES {
            *captured = Err(format!(
                "larger than the {MAX_MANIFEST_BYTES} bytes allowed"
            ));
        } else {
            bytes.extend_from_slice(chunk);
        }
    }
}

/// Compares the files extracted with the archive's own manifest.
fn check_manifest(
    key: &str,
    manifest: &str,
    content: Option<Result<Vec<u8>, String>>,
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
        Some(Err(why)) => return invalid(why),
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
    fn safe_relative_refuses_escapes() {
        assert!(safe_relative(b"../escape").is_err());
        assert!(safe_relative(b"/abs/escape").is_err());
        assert!(safe_relative(b"a/../../escape").is_err());
        assert!(safe_relative(b"").is_err());
        assert!(safe_relative(b"./").is_err());
        assert_eq!(safe_relative(b"./a//b").unwrap(), Path::new("a/b"));
        assert_eq!(
            safe_relative(b"bad\xffname")
                .unwrap()
                .as_os_str()
                .as_bytes(),
            b"bad\xffname"
        );
    }

    #[test]
    fn links_are_judged_from_their_folder() {
        assert!(link_stays_inside(Path::new("a/b/link"), b"../c"));
        assert!(link_stays_inside(Path::new("a/link"), b"../c"));
        assert!(!link_stays_inside(Path::new("link"), b"../c"));
        assert!(!link_stays_inside(Path::new("a/link"), b"/etc/passwd"));
        assert!(!link_stays_inside(Path::new("a/link"), b"x/../../../c"));
    }
}
