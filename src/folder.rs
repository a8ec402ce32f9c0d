//! A folder held open by its handle, and everything below it created, opened and removed
//! relative to that handle (`openat`, `mkdirat`, `unlinkat` through rustix), never through a
//! symbolic link: every component is opened with `O_NOFOLLOW`, files are created with
//! `O_EXCL`, and removal walks the tree by handle, unlinking a link rather than following
//! it. The scratch folder, the run's folder below it and everything restored in it go
//! through here, so a folder swapped for a link during a run cannot redirect a write or a
//! removal: the swap is an error naming the folder, or goes unnoticed because the handle
//! still names the folder that was created.
//!
//! Must not: follow a symbolic link anywhere below the folder it was opened on, accept a
//! relative path with anything but plain names (`..`, `/`, `.` are refused), or decide what
//! a failure means (its callers turn errors into findings or messages).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Flags to open a folder: never through a link at its own name.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A folder held open. Cloning shares the handle. `path` is where it was when opened, for
/// messages only: nothing is ever resolved through it again.
#[derive(Debug, Clone)]
pub struct Folder {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

impl Folder {
    /// Opens the folder at `path`; a symbolic link at `path` itself is refused (`ELOOP`),
    /// the components above it are the configuration's and resolved as usual.
    pub fn open(path: &Path) -> io::Result<Folder> {
        let fd = rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty())
            .map_err(|e| refusal(path, e))?;
        Ok(Folder {
            fd: Arc::new(fd),
            path: path.to_path_buf(),
        })
    }

    /// Whether `other` shares this handle (is a clone of it).
    pub fn same(&self, other: &Folder) -> bool {
        Arc::ptr_eq(&self.fd, &other.fd)
    }

    /// Where the folder was when it was opened (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder's own status (owner, mode, device and inode), from the handle.
    pub fn stat(&self) -> io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::fstat(&*self.fd)?)
    }

    /// Bytes an unprivileged writer can still put on the folder's file system.
    pub fn available(&self) -> io::Result<u64> {
        let st = rustix::fs::fstatvfs(&*self.fd)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Creates the folder `name` (mode 0700), which must not exist yet, and opens it.
    pub fn create_dir(&self, name: &OsStr) -> io::Result<Folder> {
        let at = self.path.join(name);
        rustix::fs::mkdirat(&*self.fd, name, Mode::RWXU).map_err(|e| refusal(&at, e))?;
        self.child(name, &at)
    }

    /// Opens the folder at `rel` below this one, one component at a time, each without
    /// following a link; with `create`, missing folders are made (mode 0700). A link or a
    /// file in the way is an error naming it.
    pub fn dir(&self, rel: &Path, create: bool) -> io::Result<Folder> {
        let mut folder = self.clone();
        for part in rel.components() {
            let Component::Normal(name) = part else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is not a plain relative path", rel.display()),
                ));
            };
            let at = folder.path.join(name);
            folder = match folder.child(name, &at) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    match rustix::fs::mkdirat(&*folder.fd, name, Mode::RWXU) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(refusal(&at, e)),
                    }
                    folder.child(name, &at)?
                }
                other => other?,
            };
        }
        Ok(folder)
    }

    fn child(&self, name: &OsStr, at: &Path) -> io::Result<Folder> {
        let fd = rustix::fs::openat(&*self.fd, name, DIR_FLAGS, Mode::empty())
            .map_err(|e| refusal(at, e))?;
        Ok(Folder {
            fd: Arc::new(fd),
            path: at.to_path_buf(),
        })
    }

    /// Creates the file `name` for writing, mode 0600; anything already there (a file, a
    /// link, a dangling link) makes it fail with `AlreadyExists` rather than be written
    /// through.
    pub fn create_new(&self, name: &OsStr) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        self.open_file(name, flags, Mode::RUSR | Mode::WUSR)
    }

    /// Opens the existing file `name` for reading (`write` false) or writing; a link there
    /// is refused.
    pub fn open_existing(&self, name: &OsStr, write: bool) -> io::Result<File> {
        let access = if write {
            OFlags::WRONLY
        } else {
            OFlags::RDONLY
        };
        self.open_file(name, access | OFlags::NOFOLLOW, Mode::empty())
    }

    fn open_file(&self, name: &OsStr, flags: OFlags, mode: Mode) -> io::Result<File> {
        let at = self.path.join(name);
        let fd = rustix::fs::openat(&*self.fd, name, flags | OFlags::CLOEXEC, mode)
            .map_err(|e| refusal(&at, e))?;
        Ok(File::from(fd))
    }

    /// The status of `name` itself (a link is not followed).
    pub fn stat_at(&self, name: &OsStr) -> io::Result<rustix::fs::Stat> {
        Ok(rustix::fs::statat(
            &*self.fd,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Removes the file or link `name` (a link itself, never what it points to).
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&*self.fd, name, AtFlags::empty())?)
    }

    /// Removes the folder `name` and everything in it, walking by handle: a link inside is
    /// removed, not followed. A link (or a file) at `name` itself is left alone and is an
    /// error naming it.
    pub fn remove_dir_all(&self, name: &OsStr) -> io::Result<()> {
        let folder = self.child(name, &self.path.join(name))?;
        folder.empty()?;
        Ok(rustix::fs::unlinkat(&*self.fd, name, AtFlags::REMOVEDIR)?)
    }

    /// Removes everything inside this folder, walking by handle; the folder itself stays.
    pub fn empty(&self) -> io::Result<()> {
        empty(self.fd.as_fd())
    }
}

/// Removes everything in the folder `fd`; links are unlinked, never followed.
fn empty(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push((name, entry.file_type()));
        }
    }
    for (name, kind) in names {
        let kind = match kind {
            FileType::Unknown => FileType::from_raw_mode(
                rustix::fs::statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
            ),
            kind => kind,
        };
        if kind == FileType::Directory {
            // `O_NOFOLLOW | O_DIRECTORY`: a folder swapped for a link meanwhile fails here.
            let child = rustix::fs::openat(fd, &name, DIR_FLAGS, Mode::empty())?;
            empty(child.as_fd())?;
            rustix::fs::unlinkat(fd, &name, AtFlags::REMOVEDIR)?;
        } else {
            rustix::fs::unlinkat(fd, &name, AtFlags::empty())?;
        }
    }
    Ok(())
}

/// The error for `path`, saying so in words when a link (or a file) was in the way: with
/// `O_DIRECTORY` a link is `ENOTDIR`, without it `ELOOP`.
fn refusal(path: &Path, e: Errno) -> io::Error {
    let what = match e {
        Errno::LOOP => "is a symbolic link",
        Errno::NOTDIR => "is a symbolic link or not a folder",
        e => return io::Error::from(e),
    };
    io::Error::other(format!("`{}` {what}: not followed", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_link_in_the_way_is_refused_and_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("precious"), b"keep").unwrap();
        let scratch = root.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        symlink(&outside, scratch.join("run")).unwrap();
        symlink(outside.join("precious"), scratch.join("file")).unwrap();
        let folder = Folder::open(&scratch).unwrap();

        let e = folder.dir(Path::new("run/set"), true).unwrap_err();
        assert!(e.to_string().contains("run` is a symbolic link"), "{e}");
        assert!(folder.create_dir(OsStr::new("run")).is_err());
        let e = folder.create_new(OsStr::new("file")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(folder.open_existing(OsStr::new("file"), true).is_err());
        assert!(folder.remove_dir_all(OsStr::new("run")).is_err());
        assert!(Folder::open(&scratch.join("run")).is_err());
        assert!(!outside.join("set").exists());
        assert_eq!(std::fs::read(outside.join("precious")).unwrap(), b"keep");
    }

    #[test]
    fn removal_unlinks_links_inside_and_keeps_their_targets() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("precious"), b"keep").unwrap();
        let scratch = Folder::open(root.path()).unwrap();
        let run = scratch.create_dir(OsStr::new("run")).unwrap();
        let set = run.dir(Path::new("db/set"), true).unwrap();
        set.create_new(OsStr::new("a"))
            .unwrap()
            .write_all(b"x")
            .unwrap();
        symlink(&outside, set.path().join("link")).unwrap();
        symlink(outside.join("precious"), run.path().join("file-link")).unwrap();
        scratch.remove_dir_all(OsStr::new("run")).unwrap();
        assert!(!root.path().join("run").exists());
        assert_eq!(std::fs::read(outside.join("precious")).unwrap(), b"keep");
        assert!(Path::new(&outside).is_dir());
    }

    #[test]
    fn a_folder_moved_away_is_still_written_through_its_handle() {
        let root = tempfile::tempdir().unwrap();
        let scratch = Folder::open(root.path()).unwrap();
        let run = scratch.create_dir(OsStr::new("run")).unwrap();
        std::fs::rename(root.path().join("run"), root.path().join("moved")).unwrap();
        std::fs::create_dir(root.path().join("elsewhere")).unwrap();
        symlink(root.path().join("elsewhere"), root.path().join("run")).unwrap();
        run.dir(Path::new("set"), true).unwrap();
        assert!(root.path().join("moved/set").is_dir());
        assert!(!root.path().join("elsewhere/set").exists());
        assert!(run.dir(Path::new("../x"), true).is_err());
    }
}
