//! File-system helpers shared by modules that must not import each other: the durable
//! write, for the files a crash must not tear: the run's artifacts (`report`) and the
//! messages of the mail spool and outbox (`notify`); and the advice for a state folder that
//! cannot be written (`unattended`'s lock, `history`); and the bounded read of a small file
//! the configuration names (secrets, keys, certificates, reports to verify). One implementation, so the evidence
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

/// Reads a whole small file the configuration names (a secret, a key, a certificate, a
/// report to verify), refusing what would hang or exhaust memory: anything but a regular file
/// (a FIFO would block the run forever, `/dev/zero` never ends) and files over `max` bytes.
/// The file is opened without blocking and checked through the open handle, so what is
/// checked is what is read; only `max + 1` bytes are ever read.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {what}; give the path of a regular file"),
        ));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("it is larger than the {max} bytes allowed here"),
        )
    };
    if meta.len() > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
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

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"hunter2\n").unwrap();
        assert_eq!(read_regular(&path, 8).unwrap(), b"hunter2\n");
        let big = read_regular(&path, 7).unwrap_err();
        assert_eq!(big.kind(), std::io::ErrorKind::FileTooLarge);
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_regular(&fifo, 1024).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let err = read_regular(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        let err = read_regular(dir.path(), 1024).unwrap_err();
        assert!(err.to_string().contains("folder"), "{err}");
    }
}
