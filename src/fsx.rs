//! File-system helpers shared by modules that must not import each other: the durable
//! write, for the files a crash must not tear: the run's artifacts (`report`) and the
//! messages of the mail spool and outbox (`notify`); and the advice for a state folder that
//! cannot be written (`unattended`'s lock, `history`). One implementation, so the evidence
//! and the mail get the same guarantee, in a leaf that depends on nothing of the crate's, so
//! neither of its users reaches into the other for it. It must not choose file names or
//! layouts, nor decide what a failure means: its callers do.

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same folder: the file is synced,
/// renamed into place, then the folder is synced so the rename itself survives a power
/// loss. A crash leaves the old content or the new one, never half of it, and a reader never
/// sees a partial file. The temporary file, `.<name>.<random>.tmp`, is hidden, mode 0600,
/// created with `O_EXCL` under a name nobody can guess (the `tempfile` crate), so a link
/// planted where it would go is never written through; a writer that dies leaves it behind
/// (the spool removes old ones), an error removes it. The rename replaces a link at `path`
/// itself rather than following it. A folder that refuses to be synced (some file systems
/// do) is not an error: the file was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// What to do about a state folder `dir` that cannot be written: which user the process runs
/// as, and how to give it the folder. For the end of an error message.
pub fn state_folder_advice(dir: &Path) -> String {
    let uid = rustix::process::geteuid().as_raw();
    let user = user_label(uid);
    let owner = user_name(uid).unwrap_or_else(|| uid.to_string());
    format!(
        "restore-drill runs as {user}: give it the folder (`chown -R {owner} {}`) or set state_dir in restore-drill.yaml; under systemd, StateDirectory=restore-drill gives the service /var/lib/restore-drill, owned by its user",
        dir.display()
    )
}

/// `` user `name` (uid N) ``, or `uid N` when /etc/passwd does not name it.
pub fn user_label(uid: u32) -> String {
    user_name(uid).map_or_else(
        || format!("uid {uid}"),
        |n| format!("user `{n}` (uid {uid})"),
    )
}

/// The name of `uid` in /etc/passwd, when it is there.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
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

    /// The temporary's name is not the predictable `.<name>.<pid>.tmp` of before, and a
    /// link planted there is not written through.
    #[test]
    fn a_link_at_the_old_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let planted = dir
            .path()
            .join(format!(".results.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&outside, &planted).unwrap();
        let path = dir.path().join("results.json");
        write_atomic(&path, b"new content").unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    }
}
