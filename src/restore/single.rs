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
        let mut sink = Sink::new(scope, spec.limits.direct_io);
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
