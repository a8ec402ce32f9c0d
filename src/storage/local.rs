//! Objects of local-disk (`fs`) storage are read here, on threads of the runner's own,
//! instead of through opendal's fs reader, for two reasons measured on the restore of one
//! large object (README, Performance):
//! - opendal allocated and zeroed a buffer for every read and hopped through tokio's
//!   blocking pool for each; here a few recycled buffers are filled by positional reads;
//! - a local file can be read twice at no cost beyond a copy from the page cache, so the
//!   digest is computed from a read of its own, at its own pace, instead of in lockstep with
//!   the decoder: where the decoder is slow (well-compressed data) the digest runs ahead,
//!   and where hashing is the slower of the two (incompressible data) it is mostly done.
//!
//! Both reads go through one open file (the same inode, whatever happens to the path), and
//! each checks at its end that the file's size, modification and change times are those it
//! was opened with: bytes changed in place between the two reads are a finding, never a
//! digest of other bytes than the ones restored.
//!
//! Must not: block the runtime (a dead mount stalls a thread of this module, not a worker,
//! and waiting gives up after `stall_timeout`), read what is not a regular file (a FIFO put
//! in place of an object would block its `open`), or wait for its consumer to give a buffer
//! back (a buffer is made when none is free: the restore's in-flight budget bounds what it
//! holds, so a read holds at most that plus the one in the channel and the one filling).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use opendal::Operator;
use tokio::sync::{mpsc, oneshot};

/// Bytes per read of the decoder's stream.
const CHUNK: usize = 2 << 20;

/// The file holding `key` when `op` is local-disk storage, or `None` (other services, or a
/// key that is not a plain relative path, which opendal then reads as it listed it).
pub fn local_path(op: &Operator, key: &str) -> Option<PathBuf> {
    let info = op.info();
    if info.scheme() != "fs" || key.is_empty() {
        return None;
    }
    let relative = Path::new(key);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    // opendal canonicalizes an fs root when it builds the operator: absolute.
    Some(Path::new(&info.root()).join(relative))
}

/// What says a file's bytes have not changed: the same size and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// An object's file, open for reading by several threads at once.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    stamp: Stamp,
}

impl LocalFile {
    /// Opens the regular file at `path` on a thread of its own, giving up after `stall`.
    /// Errors are worded for a finding.
    pub async fn open(path: PathBuf, stall: Duration) -> io::Result<Arc<LocalFile>> {
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("restore-open".into())
            .spawn(move || {
                let _ = tx.send(LocalFile::open_blocking(&path));
            })
            .map_err(|e| io::Error::other(format!("cannot start a reader thread: {e}")))?;
        match tokio::time::timeout(stall, rx).await {
            Ok(Ok(result)) => result.map(Arc::new),
            Ok(Err(_)) => Err(io::Error::other("the reader thread ended unexpectedly")),
            Err(_) => Err(stalled(stall)),
        }
    }

    fn open_blocking(path: &Path) -> io::Result<LocalFile> {
        // O_NONBLOCK keeps a FIFO from blocking the open; regular files ignore it.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(|e| {
                let message = if e.kind() == io::ErrorKind::NotFound {
                    format!(
                        "the object was listed but is gone: deleted or moved during the run ({e})"
                    )
                } else {
                    format!("cannot open {}: {e}", path.display())
                };
                io::Error::new(e.kind(), message)
            })?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other(format!(
                "{} is no longer a regular file: replaced during the run",
                path.display()
            )));
        }
        Ok(LocalFile {
            file,
            stamp: Stamp::of(&meta),
        })
    }

    /// Reads at `offset` into `buf`, retrying interrupted reads; 0 at the end of the file.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("read failed at byte {offset}: {e}"),
                    ));
                }
                Ok(n) => return Ok(n),
            }
        }
    }

    /// At the end of a read of `read` bytes: an error unless the file still has the size and
    /// times it was opened with, and `read` is its size.
    pub fn check_unchanged(&self, read: u64) -> io::Result<()> {
        let now = Stamp::of(&self.file.metadata()?);
        if now != self.stamp || read != self.stamp.len {
            return Err(io::Error::other(format!(
                "the object changed while it was read ({} bytes when opened, {} now, {read} read; \
                 modified or rewritten in place during the run)",
                self.stamp.len, now.len
            )));
        }
        Ok(())
    }
}

/// The error of a read that brought no bytes for `stall`.
pub fn stalled(stall: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no bytes for {}: the read stalled (storage.stall_timeout)",
            crate::config::units::format_duration(stall)
        ),
    )
}

/// The file's bytes as a stream, read on a thread of its own into recycled buffers; fails
/// once nothing arrives for `stall` (a reader stuck on a dead mount is left behind: no thread
/// can be interrupted in a read; the restore is not).
pub fn read_local(file: Arc<LocalFile>, stall: Duration) -> BoxStream<'static, io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(1);
    let spawned = std::thread::Builder::new()
        .name("restore-reader".into())
        .spawn(move || read_file(&file, &tx));
    if let Err(e) = spawned {
        let message = format!("cannot start a reader thread: {e}");
        return futures::stream::once(async move { Err(io::Error::other(message)) }).boxed();
    }
    futures::stream::unfold(Some(rx), move |rx| async move {
        let mut rx = rx?;
        match tokio::time::timeout(stall, rx.recv()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(rx))),
            Ok(Some(Err(e))) => Some((Err(e), None)),
            Ok(None) => None,
            Err(_) => Some((Err(stalled(stall)), None)),
        }
    })
    .boxed()
}

/// A filled buffer lent to the restore as `Bytes`; it goes back to the reader's pool when the
/// last consumer lets go of it.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    home: std_mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // The reader may be gone already; then the buffer is freed here.
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

fn read_file(file: &LocalFile, tx: &mpsc::Sender<io::Result<Bytes>>) {
    // A small object gets a small buffer (one byte more, to see its end in one read).
    let capacity = usize::try_from(file.stamp.len.saturating_add(1))
        .unwrap_or(CHUNK)
        .min(CHUNK);
    let (home, pool) = std_mpsc::channel();
    let mut offset = 0u64;
    loop {
        let mut buf = pool.try_recv().unwrap_or_else(|_| vec![0u8; capacity]);
        let mut filled = 0;
        let mut end = false;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset) {
                Ok(0) => {
                    end = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    offset += n as u64;
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
        if filled > 0 {
            let lent = Lent {
                buf,
                len: filled,
                home: home.clone(),
            };
            if tx.blocking_send(Ok(Bytes::from_owner(lent))).is_err() {
                return;
            }
        }
        if end {
            if let Err(e) = file.check_unchanged(offset) {
                let _ = tx.blocking_send(Err(e));
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use futures::TryStreamExt;

    use super::*;
    use crate::config::StorageSpec;
    use crate::secret::ConfigValue;

    const STALL: Duration = Duration::from_secs(10);

    fn fs_operator(root: &Path) -> crate::storage::Storage {
        let spec = StorageSpec {
            service: "fs".into(),
            options: BTreeMap::from([(
                "root".to_string(),
                ConfigValue::Plain(root.to_string_lossy().into()),
            )]),
        };
        crate::storage::operator(
            &spec,
            std::path::Path::new("policy.yaml"),
            &Default::default(),
        )
        .unwrap()
    }

    #[test]
    fn only_plain_relative_keys_of_fs_storage_have_a_local_path() {
        let dir = tempfile::tempdir().unwrap();
        let op = fs_operator(dir.path());
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(local_path(&op, "a/b.zst"), Some(root.join("a/b.zst")));
        for key in ["", "../x", "a/../../x", "/etc/passwd", "./a"] {
            assert_eq!(local_path(&op, key), None, "{key}");
        }
    }

    /// Sizes around the read buffer, with the buffers recycled: every byte, in order.
    #[tokio::test]
    async fn the_stream_gives_every_byte_in_order_across_buffers() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0, 1, 4095, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let path = dir.path().join(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let file = LocalFile::open(path, STALL).await.unwrap();
            let chunks: Vec<Bytes> = read_local(file, STALL).try_collect().await.unwrap();
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= CHUNK));
            assert_eq!(chunks.concat(), data, "size {size}");
        }
    }

    #[tokio::test]
    async fn a_missing_file_was_listed_but_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let e = LocalFile::open(dir.path().join("nope"), STALL)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("listed but is gone"), "{e}");
    }

    /// A FIFO put where an object was would block a plain `open` for good.
    #[tokio::test]
    async fn a_fifo_in_place_of_an_object_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.zst");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let opened = tokio::time::timeout(Duration::from_secs(5), LocalFile::open(path, STALL))
            .await
            .expect("opening a FIFO blocked");
        let e = opened.unwrap_err();
        assert!(e.to_string().contains("no longer a regular file"), "{e}");
    }

    /// Bytes rewritten in place between the two reads of an object, or a read that did not
    /// reach the size the file was opened with, are caught.
    #[tokio::test]
    async fn a_file_changed_while_it_is_read_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obj");
        std::fs::write(&path, b"the stored bytes").unwrap();
        let file = LocalFile::open(path.clone(), STALL).await.unwrap();
        file.check_unchanged(16).unwrap();
        let short = file.check_unchanged(15).unwrap_err();
        assert!(
            short.to_string().contains("changed while it was read"),
            "{short}"
        );

        std::thread::sleep(Duration::from_millis(20));
        let other = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        other.write_at(b"THE", 0).unwrap();
        let e = file.check_unchanged(16).unwrap_err();
        assert!(e.to_string().contains("changed while it was read"), "{e}");
    }
}
