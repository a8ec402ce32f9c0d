//! The mail's files: messages waiting in `state_dir/spool/` for the next run or `mail flush`
//! (one `.spool` file each, and the two-file layout of earlier releases, still read), the
//! outbox of `transport: file`, and the temporary files a writer that died left behind.
//! Every file is written atomically, so a crash leaves a message whole or not at all. It
//! knows files only: it must not build, send or decide anything about a message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fsx::write_atomic;

/// The extension of a spooled message: one file, envelope and message.
pub const SPOOLED: &str = "spool";
/// The envelope of a message spooled by an earlier release, beside its `.eml`.
const LEGACY_ENVELOPE: &str = "json";

/// A temporary file of an atomic write is this old only when its writer died mid-write (its
/// message never made it to the spool); such files are removed.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// A spooled message's envelope: who it is for, and why it waits.
#[derive(Debug, Serialize, Deserialize)]
pub struct SpoolEntry {
    pub team: String,
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub spooled_at: jiff::Timestamp,
    pub last_error: String,
}

/// A file of the spool or the outbox that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} `{}`: {error}", .path.display())]
pub struct WriteError {
    pub what: &'static str,
    pub path: PathBuf,
    /// In the message, so no `source`: it would be printed twice.
    pub error: std::io::Error,
}

/// Why a spooled message cannot be read back: it stays where it is, reported as waiting.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Shown as it is: no `source` too, or it would be printed twice.
    #[error("{0}")]
    Read(std::io::Error),
    #[error("not a spooled message: no envelope line")]
    NoEnvelope,
    #[error("not a spooled message: its envelope: {0}")]
    Envelope(serde_json::Error),
    /// The `.json` envelope of an earlier release's layout.
    #[error("{0}")]
    LegacyEnvelope(serde_json::Error),
}

impl From<std::io::Error> for SpoolError {
    fn from(e: std::io::Error) -> Self {
        SpoolError::Read(e)
    }
}

/// A spool file's bytes: the envelope as one line of JSON (serde_json escapes every newline
/// inside it), then the message.
pub fn file_bytes(entry: &SpoolEntry, raw: &[u8]) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(entry).expect("spool entry serializes");
    bytes.push(b'\n');
    bytes.extend_from_slice(raw);
    bytes
}

/// Writes `bytes` to a new file `<stamp>-<team>-<n>.<ext>` in `dir`, atomically.
pub fn write_new(dir: &Path, team: &str, ext: &str, bytes: &[u8]) -> Result<PathBuf, WriteError> {
    std::fs::create_dir_all(dir).map_err(|error| WriteError {
        what: "mail folder",
        path: dir.to_path_buf(),
        error,
    })?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.6fZ")
        .to_string();
    for n in 0..1000 {
        let path = dir.join(format!("{stamp}-{team}-{n}.{ext}"));
        if path.exists() {
            continue;
        }
        write_atomic(&path, bytes).map_err(|error| WriteError {
            what: "message",
            path: path.clone(),
            error,
        })?;
        return Ok(path);
    }
    Err(WriteError {
        what: "message",
        path: dir.to_path_buf(),
        error: std::io::Error::other("no free file name"),
    })
}

/// Replaces a spooled message with `bytes` (the same message with its last error).
pub fn rewrite(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic(path, bytes).map_err(|error| WriteError {
        what: "spooled message",
        path: path.to_path_buf(),
        error,
    })
}

/// A message waiting in the spool: one `.spool` file, or a `.json` envelope beside its
/// `.eml` as earlier releases left them.
pub struct Waiting {
    path: PathBuf,
    legacy: bool,
}

impl Waiting {
    /// The envelope's file, for logs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file that holds the message, for people.
    pub fn shown(&self) -> PathBuf {
        if self.legacy {
            self.eml()
        } else {
            self.path.clone()
        }
    }

    fn eml(&self) -> PathBuf {
        self.path.with_extension("eml")
    }

    /// The envelope and the message, or why they cannot be read.
    pub fn read(&self) -> Result<(SpoolEntry, Vec<u8>), SpoolError> {
        if self.legacy {
            read_legacy(&self.path, &self.eml())
        } else {
            read_spool_file(&self.path)
        }
    }

    /// Removes a delivered message. The envelope goes first: a message without one is
    /// never resent.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
        if self.legacy {
            let _ = std::fs::remove_file(self.eml());
        }
    }
}

/// The messages waiting in `dir`, oldest first (their names start with the time spooled).
/// Temporary files left by a writer that died are removed on the way.
pub fn waiting(dir: &Path) -> Vec<Waiting> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    remove_stale_temporaries(&paths);
    let mut spooled: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == SPOOLED || x == LEGACY_ENVELOPE)
        })
        .collect();
    spooled.sort();
    spooled
        .into_iter()
        .map(|path| Waiting {
            legacy: path.extension().is_some_and(|x| x == LEGACY_ENVELOPE),
            path,
        })
        .collect()
}

fn remove_stale_temporaries(paths: &[PathBuf]) {
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
    {
        let stale = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMPORARY);
        if stale {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A spool file's envelope and message.
fn read_spool_file(path: &Path) -> Result<(SpoolEntry, Vec<u8>), SpoolError> {
    let mut bytes = std::fs::read(path)?;
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        return Err(SpoolError::NoEnvelope);
    };
    let entry = serde_json::from_slice(&bytes[..end]).map_err(SpoolError::Envelope)?;
    let raw = bytes.split_off(end + 1);
    Ok((entry, raw))
}

/// An envelope and message spooled by an earlier release as two files.
fn read_legacy(envelope: &Path, eml: &Path) -> Result<(SpoolEntry, Vec<u8>), SpoolError> {
    let bytes = std::fs::read(envelope)?;
    let entry = serde_json::from_slice(&bytes).map_err(SpoolError::LegacyEnvelope)?;
    let raw = std::fs::read(eml)?;
    Ok((entry, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newlines inside the envelope are escaped, so the first newline ends it and the
    /// message comes back byte for byte, its own newlines and all.
    #[test]
    fn a_spool_file_gives_back_its_envelope_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let raw = b"Subject: x\r\n\r\nbody\r\n\n\xff end".to_vec();
        let path = dir.path().join("m.spool");
        let entry = SpoolEntry {
            team: "msp".into(),
            subject: "restore-drill: FAIL\nsecond line".into(),
            from: "drill@example.test".into(),
            to: vec!["noc@example.test".into(), "it@example.test".into()],
            spooled_at: jiff::Timestamp::now(),
            last_error: "421 busy\r\ntry later".into(),
        };
        std::fs::write(&path, file_bytes(&entry, &raw)).unwrap();
        let (back, message) = read_spool_file(&path).unwrap();
        assert_eq!(message, raw);
        assert_eq!(back.subject, "restore-drill: FAIL\nsecond line");
        assert_eq!(back.last_error, "421 busy\r\ntry later");
        assert_eq!(back.to, ["noc@example.test", "it@example.test"]);
        assert_eq!(back.from, "drill@example.test");
    }

    /// A temporary file an hour old was left by a writer that died; a fresh one may be a
    /// write in progress, and a message is never touched.
    #[test]
    fn only_stale_temporary_files_are_removed_from_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a-msp-0.tmp");
        let fresh = dir.path().join("b-msp-0.tmp");
        let message = dir.path().join("c-msp-0.spool");
        for path in [&old, &fresh, &message] {
            std::fs::write(path, b"x").unwrap();
        }
        let hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
        for path in [&old, &message] {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(hours_ago)
                .unwrap();
        }
        remove_stale_temporaries(&[old.clone(), fresh.clone(), message.clone()]);
        assert!(!old.exists());
        assert!(fresh.exists() && message.exists());
    }

    #[test]
    fn a_damaged_spool_file_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.spool");
        std::fs::write(&path, b"no envelope at all").unwrap();
        let e = read_spool_file(&path).err().unwrap();
        assert!(matches!(e, SpoolError::NoEnvelope), "{e}");
        assert_eq!(e.to_string(), "not a spooled message: no envelope line");
        std::fs::write(&path, b"{\"team\": 1}\nSubject: x\r\n").unwrap();
        let e = read_spool_file(&path).err().unwrap();
        assert!(matches!(e, SpoolError::Envelope(_)), "{e}");
        assert!(e.to_string().contains("its envelope"), "{e}");
    }
}
