//! One file restored from a reader the caller supplies (a restic file's blobs, verified as
//! they are read) through the same writer as every other restore: the same safe-name
//! refusals, the same creation by handle below the set's folder, the same writer thread.
//!
//! Must not: decode (the caller's reader yields the file's bytes as they are), or leave a
//! file of a halted restore behind.

use std::io::Read;

use super::halt::{CreatedFile, Halt, HaltSlot, remove_created};
use super::paths::{safe_relative, split};
use super::sink::Sink;
use super::spec::RestoreSpec;
use super::write::{create_dirs, write_file};

/// Writes the file `path_in_set` below `spec.set_dir` from the reader `open` makes. The
/// reader leaves the real reason of a failed read in the slot it is given (a blob whose
/// hash fails, a pack that is missing); `on_chunk` sees every byte written. Returns the
/// bytes written and the file created; on a halt the file is removed again.
pub(crate) fn restore_reader(
    open: impl FnOnce(HaltSlot) -> Box<dyn Read>,
    path_in_set: &str,
    spec: &RestoreSpec,
    on_chunk: impl FnMut(&[u8]),
) -> Result<(u64, Vec<CreatedFile>), Halt> {
    let rel = safe_relative(path_in_set.as_bytes()).map_err(Halt::Unsafe)?;
    let slot = HaltSlot::default();
    let mut source = open(slot.clone());
    let (result, created) = std::thread::scope(|scope| {
        let mut sink = Sink::here(scope, spec.limits.direct_io);
        let result = create_dirs(&spec.set_dir, split(&rel).0)
            .and_then(|dir| {
                write_file(
                    &mut *source,
                    &spec.set_dir,
                    &dir,
                    &rel,
                    on_chunk,
                    &slot,
                    &mut sink,
                )
            })
            .and_then(|written| sink.sync().map(|()| written));
        (result, sink.into_created())
    });
    match result {
        Ok(written) => Ok((written, created)),
        Err(halt) => {
            remove_created(&created);
            Err(halt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::Folder;
    use crate::restore::paths::UnsafePath;
    use crate::restore::spec::Limits;

    fn spec(dir: &std::path::Path) -> RestoreSpec {
        RestoreSpec {
            set_dir: Folder::open(dir).unwrap(),
            algorithms: Default::default(),
            in_archive: None,
            limits: Limits {
                max_restored_bytes: 1 << 30,
                max_zstd_window: 1 << 27,
                direct_io: false,
                stall_timeout: std::time::Duration::from_secs(30),
            },
            deadline: None,
        }
    }

    #[test]
    fn a_file_lands_below_the_set_folder_and_every_byte_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = 0;
        let (written, created) = restore_reader(
            |_| Box::new(&b"hello restic"[..]),
            "home/a/notes.txt",
            &spec(dir.path()),
            |chunk| seen += chunk.len(),
        )
        .unwrap();
        assert_eq!((written, seen, created.len()), (12, 12, 1));
        let text = std::fs::read(dir.path().join("home/a/notes.txt")).unwrap();
        assert_eq!(text, b"hello restic");
    }

    #[test]
    fn names_that_leave_the_set_folder_are_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().unwrap();
        for (name, why) in [
            ("../escape", UnsafePath::ParentDir),
            ("a/../../escape", UnsafePath::ParentDir),
            ("/etc/passwd", UnsafePath::Absolute),
        ] {
            let halt = restore_reader(
                |_| panic!("nothing is read for `{name}`"),
                name,
                &spec(dir.path()),
                |_| {},
            )
            .unwrap_err();
            assert!(
                matches!(halt, Halt::Unsafe(ref w) if *w == why),
                "{name}: {halt:?}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_read_removes_the_file_and_gives_the_reader_s_reason() {
        struct Failing(HaltSlot);
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                *self.0.lock().unwrap() = Some(Halt::Corrupt("blob 00 in pack 11".into()));
                Err(std::io::Error::other("bad blob"))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let halt = restore_reader(
            |slot| Box::new(Failing(slot)),
            "x/file",
            &spec(dir.path()),
            |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(halt, Halt::Corrupt(ref m) if m.contains("pack 11")),
            "{halt:?}"
        );
        assert!(!dir.path().join("x/file").exists());
    }
}
