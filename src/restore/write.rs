//! Writing one restored file at a path its caller has judged safe: created fresh, never
//! written through what was there, its first bytes written here from a small buffer of this
//! thread's and the rest handed to the writer thread (`sink`) in whole buffers. The decoder
//! writes a single object's file with it and the tar extractor each entry's; both share it
//! from here, below them, rather than one reaching into the other.
//!
//! Files and folders are created relative to the handle of the folder they go in
//! (`folder::Folder`), each component opened without following a link: a folder swapped for
//! a link during the run stops the object with a `scratch_error` naming it.
//!
//! Must not: write through an existing file or link (a file in the way is replaced), hand
//! the writer thread a buffer that is not full but a file's last, or copy a byte more than
//! once on its way from the reader to the page cache or the writer thread.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use rustix::fs::FileType;

use super::halt::{Halt, HaltSlot, read_halt, write_halt};
use super::sink::{BUFFER, SMALL, Sink, write_buffered};
use crate::folder::Folder;

/// Opens the folder `rel` below `dir`, creating what is missing, without following a link;
/// failures are scratch problems (full disk, permissions, a link or file in the way).
pub(crate) fn create_dirs(dir: &Folder, rel: &Path) -> Result<Folder, Halt> {
    dir.dir(rel, true)
        .map_err(|e| write_halt(&dir.path().join(rel), &e))
}

/// Copies `source` into a new file at `rel` below `root`, in its folder `dir` (already
/// open), through the writer thread, showing each chunk to `on_chunk` (digests, manifest
/// capture). Returns the bytes written; the writes may still be in flight (`Sink::sync`
/// waits for them).
pub(crate) fn write_file(
    source: &mut dyn Read,
    root: &Folder,
    dir: &Folder,
    rel: &Path,
    mut on_chunk: impl FnMut(&[u8]),
    slot: &HaltSlot,
    sink: &mut Sink<'_, '_>,
) -> Result<u64, Halt> {
    let name = rel.file_name().unwrap_or(rel.as_os_str());
    let path = root.path().join(rel);
    let path = path.as_path();
    let file = create_fresh(dir, name, path)?;
    sink.created(root, rel, &file);
    // The first bytes here and now, from this thread's small buffer.
    thread_local! {
        static FIRST: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; SMALL]);
    }
    let first = FIRST.with(|buf| {
        let mut buf = buf.borrow_mut();
        let n = fill(source, &mut buf).map_err(|e| read_halt(slot, &e))?;
        on_chunk(&buf[..n]);
        write_buffered(&file, &buf[..n], 0).map_err(|e| write_halt(path, &e))?;
        Ok(n)
    })?;
    if first < SMALL {
        // `fill` stops short only at the end: the whole file is written.
        return Ok(first as u64);
    }
    // A larger file: the rest through the writer thread.
    sink.open(file, path, first as u64)?;
    let mut total = first as u64;
    loop {
        let mut buf = sink.buffer()?;
        let n = match fill(source, buf.as_mut()) {
            Ok(n) => n,
            Err(e) => {
                sink.keep(buf);
                return Err(read_halt(slot, &e));
            }
        };
        if n == 0 {
            sink.keep(buf);
            break;
        }
        on_chunk(&buf.as_mut()[..n]);
        sink.write(buf, n)?;
        total += n as u64;
        if n < BUFFER {
            // `fill` stops short only at the end.
            break;
        }
    }
    Ok(total)
}

/// Reads until `buf` is full or the source ends, so each write is a whole buffer rather
/// than whatever one zstd call produced.
fn fill(source: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match source.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Creates `name` in `dir` as a new file (`path` is its name for messages). A file or link
/// already there (an earlier entry, or another archive of the same set restoring in
/// parallel) is replaced, never written through: it is removed and the file created
/// exclusively, retried if another writer got in between.
fn create_fresh(dir: &Folder, name: &OsStr, path: &Path) -> Result<File, Halt> {
    // Nothing there, the common case: created at once.
    match dir.create_new(name) {
        Ok(file) => return Ok(file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(write_halt(path, &e)),
    }
    for _ in 0..3 {
        match dir.stat_at(name) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(Halt::Corrupt(format!(
                    "`{}` is already a folder",
                    path.display()
                )));
            }
            Ok(_) => match dir.remove_file(name) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(write_halt(path, &e)),
            },
            Err(_) => {}
        }
        match dir.create_new(name) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write_halt(path, &e)),
        }
    }
    Err(Halt::Scratch(format!(
        "`{}` kept being recreated by another restore",
        path.display()
    )))
}
