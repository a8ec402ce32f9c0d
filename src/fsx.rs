//! File-system helpers shared by modules that must not import each other: today one, the
//! durable write, for the files a crash must not tear: the run's artifacts (`report`) and
//! the messages of the mail spool and outbox (`notify`). One implementation, so the evidence
//! and the mail get the same guarantee, in a leaf that depends on nothing of the crate's, so
//! neither of its users reaches into the other for it. It must not choose file names or
//! layouts, nor decide what a failure means: its callers do.

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder: the file is synced,
/// renamed into place, then the folder is synced so the rename itself survives a power
/// loss. A crash leaves the old content or the new one, never half of it, and a reader never
/// sees a partial file. The temporary file, `.<name>.<pid>.tmp`, is hidden and each
/// process's own; a writer that dies leaves it behind (the spool removes old ones). A folder
/// that refuses to be synced (some file systems do) is not an error: the file was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new content").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["results.json"]);
    }
}
