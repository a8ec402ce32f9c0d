//! Which names may become paths below a set's folder: a tar entry, an in-archive manifest's
//! lines, a storage key's place in its set, a set's name. One check for all of them, so a
//! name refused in one place is refused in every other.
//!
//! Must not: touch the file system (a name is judged by its bytes alone), or let a name
//! through that is absolute, climbs with `..`, holds a NUL byte or names nothing.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a name cannot be a path below the folder; the text follows `refused: ` in findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("absolute path")]
    Absolute,
    #[error("path leaves the folder with `..`")]
    ParentDir,
    #[error("NUL byte in the name")]
    Nul,
    /// Only `.` and empty components, such as `./`, the root folder as `tar -C dir .` names it.
    #[error("empty path")]
    Empty,
}

/// Checks a path from an archive or a storage key: relative, no `..`, not empty. `.` and
/// empty components are dropped. Returns the path to join below the root.
pub fn safe_relative(name: &[u8]) -> Result<PathBuf, UnsafePath> {
    if name.starts_with(b"/") {
        return Err(UnsafePath::Absolute);
    }
    let mut out = PathBuf::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => return Err(UnsafePath::ParentDir),
            _ if part.contains(&0) => return Err(UnsafePath::Nul),
            _ => out.push(OsStr::from_bytes(part)),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(UnsafePath::Empty);
    }
    Ok(out)
}

/// Where a restored object lands in its set's folder, or why it cannot.
pub fn output_path(set_dir: &Path, path_in_set: &str) -> Result<PathBuf, UnsafePath> {
    let rel = safe_relative(path_in_set.as_bytes())?;
    Ok(set_dir.join(rel))
}

/// A safe relative path's folder and file name (a path from `safe_relative` has a last
/// component that is a plain name).
pub(crate) fn split(rel: &Path) -> (&Path, &OsStr) {
    (
        rel.parent().unwrap_or(Path::new("")),
        rel.file_name().unwrap_or(rel.as_os_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_relative_refuses_escapes() {
        assert_eq!(safe_relative(b"../escape"), Err(UnsafePath::ParentDir));
        assert_eq!(safe_relative(b"/abs/escape"), Err(UnsafePath::Absolute));
        assert_eq!(safe_relative(b"a/../../escape"), Err(UnsafePath::ParentDir));
        assert_eq!(safe_relative(b"a/b\0c"), Err(UnsafePath::Nul));
        assert_eq!(safe_relative(b""), Err(UnsafePath::Empty));
        assert_eq!(safe_relative(b"./"), Err(UnsafePath::Empty));
        assert_eq!(safe_relative(b"./a//b").unwrap(), Path::new("a/b"));
        assert_eq!(
            safe_relative(b"bad\xffname")
                .unwrap()
                .as_os_str()
                .as_bytes(),
            b"bad\xffname"
        );
    }

    /// The words of each refusal are those findings have always shown.
    #[test]
    fn refusals_keep_their_words() {
        assert_eq!(UnsafePath::Absolute.to_string(), "absolute path");
        assert_eq!(
            UnsafePath::ParentDir.to_string(),
            "path leaves the folder with `..`"
        );
        assert_eq!(UnsafePath::Nul.to_string(), "NUL byte in the name");
        assert_eq!(UnsafePath::Empty.to_string(), "empty path");
    }
}
