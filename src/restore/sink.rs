//! Writing restored bytes to scratch on a thread of its own, so the decoder does not stop
//! for each write and the kernel's copy into the page cache runs on the other core.
//!
//! A file's first `SMALL` bytes the decoder writes itself. Past those, it fills buffers
//! from a small pool and hands them over in order; the writer thread (started for the first
//! of them) writes them and gives them back, so the memory is the pool's whatever the size
//! of the object, and a decoder ahead of the disk waits for a free buffer. A file's bytes have
//! one writer (two threads writing one file only contend for its inode lock: measured,
//! see README, Performance). With `scratch_direct_io`, whole buffers go past the page cache
//! (`O_DIRECT` on a second descriptor of the file, where the file system supports it): no
//! copy into the page cache, and the scratch copy does not push the host's own data out of
//! memory. A file's last partial buffer, and file systems without direct I/O, go through
//! the page cache, in 32 KiB pieces (see `WRITE_CHUNK`).
//!
//! Must not: write a byte at the wrong offset, lose an error (the first one is kept with its
//! path and returned to the decoder at its next step), or hold more than the pool in memory
//! (plus, between objects, the few buffers kept for the next: `SPARE_MAX`).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::halt::{CreatedFile, Halt, write_halt};
use crate::folder::Folder;

/// Bytes per buffer: the size of a direct write.
pub(crate) const BUFFER: usize = 1 << 20;
/// A file's first bytes, up to this many, are written by the decoder itself from a small
/// buffer of its thread's: most files of an archive, and small objects, need no writer thread
/// and no large buffer (a night of many small objects would otherwise pay for both per
/// object).
pub(crate) const SMALL: usize = 64 * 1024;
/// Buffers per object: one being filled, one being written, one queued.
const POOL: usize = 3;
/// Direct I/O needs buffers, offsets and lengths aligned to the device's logical block;
/// 4 KiB covers every common one (512 and 4096 bytes).
const ALIGN: usize = 4096;
/// Bytes per buffered write() call. Larger writes let the kernel (ext4 with large folios,
/// Linux 6.x) take large page-cache folios, whose first touch was intermittently 2-4 times
/// slower on the VM measured (see README, Performance); 32 KiB writes, as the zstd CLI
/// makes, kept every run fast for the price of more system calls.
const WRITE_CHUNK: usize = 32 * 1024;

/// A heap buffer of `BUFFER` bytes starting at an `ALIGN`-aligned address.
pub(crate) struct Buf {
    raw: Vec<u8>,
    start: usize,
}

impl Buf {
    fn new() -> Buf {
        let raw = vec![0u8; BUFFER + ALIGN];
        // The heap block never moves while the Vec lives, so the offset stays right.
        let start = raw.as_ptr().align_offset(ALIGN);
        Buf { raw, start }
    }

    pub(crate) fn as_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + BUFFER]
    }

    fn get(&self, len: usize) -> &[u8] {
        &self.raw[self.start..self.start + len]
    }
}

enum Job {
    /// The following data belongs to this file, created (and its first bytes written) by
    /// the decoder.
    Open(File, PathBuf),
    Data {
        buf: Buf,
        len: usize,
        offset: u64,
    },
    /// Answered once everything before it is written.
    Sync(SyncSender<()>),
}

/// Large buffers kept for the next objects, so a run of many objects does not allocate (and
/// zero) a pool for each: at most the pools of the default four restores at once.
static SPARE_BUFFERS: Mutex<Vec<Buf>> = Mutex::new(Vec::new());
const SPARE_MAX: usize = 4 * POOL;

/// The decoder's end of the writer thread. The thread starts with the first whole buffer,
/// so an object or file smaller than `SMALL` never starts one.
pub(crate) struct Sink<'scope, 'env> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    direct: bool,
    /// Jobs for the writer thread, once started.
    jobs: Option<SyncSender<Job>>,
    /// Writes made on the caller's thread instead of a writer thread (`Sink::here`).
    here: bool,
    /// The caller's own writer, once the first write is handed over (`here` only).
    local: Option<Writer>,
    /// The writer's end of the pool, until the writer takes it.
    pool_tx: Option<SyncSender<Buf>>,
    pool: Receiver<Buf>,
    /// Buffers made (or taken from `SPARE_BUFFERS`) for this object, at most `POOL`.
    made: usize,
    spare: Option<Buf>,
    failed: Arc<Mutex<Option<Halt>>>,
    /// Where the next buffer goes in the file handed over last.
    offset: Option<u64>,
    /// Bytes the writer thread wrote with direct I/O.
    direct_bytes: Arc<AtomicU64>,
    /// Every file created for the object, removed again if the restore stops.
    created: Vec<CreatedFile>,
}

impl<'scope, 'env> Sink<'scope, 'env> {
    /// A sink whose writer thread, once started, runs inside `scope` and ends when the sink
    /// is dropped, after writing what was handed over. `direct`: try direct I/O
    /// (`scratch_direct_io`).
    pub(crate) fn new(scope: &'scope std::thread::Scope<'scope, 'env>, direct: bool) -> Self {
        let (pool_tx, pool) = sync_channel(POOL);
        Sink {
            scope,
            direct,
            jobs: None,
            here: false,
            local: None,
            pool_tx: Some(pool_tx),
            pool,
            made: 0,
            spare: None,
            failed: Arc::new(Mutex::new(None)),
            offset: None,
            direct_bytes: Arc::new(AtomicU64::new(0)),
            created: Vec::new(),
        }
    }

    /// A sink that writes on the caller's thread: for restores already run several at once
    /// on threads of their own (restic files), where a writer thread per file would cost
    /// more than it overlaps.
    pub(crate) fn here(scope: &'scope std::thread::Scope<'scope, 'env>, direct: bool) -> Self {
        Sink {
            here: true,
            ..Sink::new(scope, direct)
        }
    }

    /// An empty buffer to fill, once one is free; the writer's first error, if any.
    pub(crate) fn buffer(&mut self) -> Result<Buf, Halt> {
        self.check()?;
        if let Some(buf) = self.spare.take() {
            return Ok(buf);
        }
        if let Ok(buf) = self.pool.try_recv() {
            return Ok(buf);
        }
        if self.made < POOL {
            self.made += 1;
            let cached = SPARE_BUFFERS.lock().ok().and_then(|mut spare| spare.pop());
            return Ok(cached.unwrap_or_else(Buf::new));
        }
        self.pool.recv().map_err(|_| self.gone())
    }

    /// Gives back a buffer that was not used.
    pub(crate) fn keep(&mut self, buf: Buf) {
        self.spare = Some(buf);
    }

    /// Hands `file` to the writer: the following writes go to it, from byte `offset` on.
    pub(crate) fn open(&mut self, file: File, path: &Path, offset: u64) -> Result<(), Halt> {
        self.offset = Some(offset);
        self.send(Job::Open(file, path.to_path_buf()))
    }

    /// Hands the first `len` bytes of `buf` to the writer, to follow the file's earlier ones.
    pub(crate) fn write(&mut self, buf: Buf, len: usize) -> Result<(), Halt> {
        let Some(offset) = self.offset.as_mut() else {
            return Err(Halt::Scratch("a write without a file".into()));
        };
        let job = Job::Data {
            buf,
            len,
            offset: *offset,
        };
        *offset += len as u64;
        self.send(job)
    }

    fn send(&mut self, job: Job) -> Result<(), Halt> {
        if self.here {
            let writer = match self.local.take() {
                Some(writer) => writer,
                None => self.new_writer()?,
            };
            self.local.insert(writer).handle(job);
            return self.check();
        }
        let jobs = self.writer()?;
        jobs.send(job).map_err(|_| self.gone())
    }

    /// The writer, given the pool's sending end (once only).
    fn new_writer(&mut self) -> Result<Writer, Halt> {
        let Some(pool) = self.pool_tx.take() else {
            return Err(self.gone());
        };
        Ok(Writer {
            pool,
            failed: self.failed.clone(),
            direct: self.direct,
            direct_bytes: self.direct_bytes.clone(),
            current: None,
            broken: false,
        })
    }

    /// The writer thread's job queue, starting the thread the first time.
    fn writer(&mut self) -> Result<SyncSender<Job>, Halt> {
        if let Some(jobs) = &self.jobs {
            return Ok(jobs.clone());
        }
        let writer = self.new_writer()?;
        let (jobs, job_rx) = sync_channel(POOL);
        std::thread::Builder::new()
            .name("restore-writer".into())
            .spawn_scoped(self.scope, move || writer.run(job_rx))
            .map_err(|e| Halt::Scratch(format!("cannot start a writer thread: {e}")))?;
        self.jobs = Some(jobs.clone());
        Ok(jobs)
    }

    /// Waits until everything handed over is written (as far as a buffered write goes),
    /// and returns the first error.
    pub(crate) fn sync(&mut self) -> Result<(), Halt> {
        if let Some(writer) = &mut self.local {
            writer.current = None;
        }
        if let Some(jobs) = &self.jobs {
            let (tx, rx) = sync_channel(1);
            jobs.send(Job::Sync(tx)).map_err(|_| self.gone())?;
            rx.recv().map_err(|_| self.gone())?;
        }
        self.check()
    }

    /// Notes a file created for the object: `rel` below `root`.
    pub(crate) fn created(&mut self, root: &Folder, rel: &Path, file: &File) {
        self.created.push(CreatedFile {
            root: root.clone(),
            rel: rel.to_path_buf(),
            ino: file.metadata().ok().map(|m| m.ino()),
        });
    }

    /// Ends the writer thread (once it has written what it holds: the scope waits for it),
    /// keeps the buffers that are back for the next objects, and returns the files created.
    pub(crate) fn into_created(mut self) -> Vec<CreatedFile> {
        let mut back: Vec<Buf> = self.spare.take().into_iter().collect();
        back.extend(self.pool.try_iter());
        if let Ok(mut spare) = SPARE_BUFFERS.lock() {
            let room = SPARE_MAX.saturating_sub(spare.len());
            spare.extend(back.into_iter().take(room));
        }
        self.created
    }

    /// Bytes written with direct I/O so far (all of them after `sync`).
    pub(crate) fn direct_bytes(&self) -> u64 {
        self.direct_bytes.load(Ordering::Relaxed)
    }

    fn check(&self) -> Result<(), Halt> {
        match self.failed.lock() {
            Ok(mut failed) => failed.take().map_or(Ok(()), Err),
            Err(_) => Err(self.gone()),
        }
    }

    fn gone(&self) -> Halt {
        match self.failed.lock().ok().and_then(|mut f| f.take()) {
            Some(halt) => halt,
            None => Halt::Scratch("the writer thread stopped unexpectedly".into()),
        }
    }
}

struct Writer {
    pool: SyncSender<Buf>,
    failed: Arc<Mutex<Option<Halt>>>,
    direct: bool,
    direct_bytes: Arc<AtomicU64>,
    current: Option<Output>,
    /// A write failed: the object has failed, and the rest is not written.
    broken: bool,
}

/// The file being written, and its direct-I/O descriptor (`None` when direct I/O is off,
/// the file system refused it, or a write showed it cannot be used).
struct Output {
    file: File,
    path: PathBuf,
    direct: Option<File>,
}

impl Writer {
    fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            self.handle(job);
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Open(file, path) => {
                let direct = if self.direct {
                    open_direct(&file)
                } else {
                    None
                };
                self.current = Some(Output { file, path, direct });
            }
            Job::Data { buf, len, offset } => {
                if let Some(out) = self.current.as_mut()
                    && !self.broken
                    && let Err(e) = out.write(buf.get(len), offset, &self.direct_bytes)
                {
                    self.broken = true;
                    if let Ok(mut failed) = self.failed.lock() {
                        failed.get_or_insert(write_halt(&out.path, &e));
                    }
                }
                // The pool holds every buffer there is: never full.
                let _ = self.pool.send(buf);
            }
            Job::Sync(done) => {
                // Closes the last file and its direct descriptor.
                self.current = None;
                let _ = done.send(());
            }
        }
    }
}

impl Output {
    fn write(&mut self, bytes: &[u8], offset: u64, direct_bytes: &AtomicU64) -> io::Result<()> {
        if let Some(file) = self.direct.as_ref()
            && bytes.len() == BUFFER
        {
            match write_direct(file, bytes, offset) {
                Ok(n) if n == bytes.len() => {
                    direct_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(());
                }
                // A short write (possible at the end of the space): the rest through the
                // page cache, no byte written twice.
                Ok(n) => return write_buffered(&self.file, &bytes[n..], offset + n as u64),
                // A device wanting a larger alignment than ALIGN: buffered from here.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    self.direct = None;
                }
                Err(e) => return Err(e),
            }
        }
        write_buffered(&self.file, bytes, offset)
    }
}

/// A second descriptor of `file` with direct I/O on, or `None` where the file system has no
/// direct I/O (tmpfs before Linux 6.6, most FUSE file systems) or /proc is missing.
fn open_direct(file: &File) -> Option<File> {
    // A new open file description of the same inode: the flag must not reach `file`, through
    // which the file's last partial buffer goes (unaligned, so through the page cache).
    let again = File::options()
        .write(true)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .ok()?;
    let mut flags = rustix::fs::fcntl_getfl(&again).ok()?;
    flags.insert(rustix::fs::OFlags::DIRECT);
    rustix::fs::fcntl_setfl(&again, flags).ok()?;
    Some(again)
}

/// One whole aligned buffer at an aligned offset; the bytes written.
fn write_direct(file: &File, bytes: &[u8], offset: u64) -> io::Result<usize> {
    loop {
        match file.write_at(bytes, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn write_buffered(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    let mut at = offset;
    for piece in bytes.chunks(WRITE_CHUNK) {
        file.write_all_at(piece, at)?;
        at += piece.len() as u64;
    }
    Ok(())
}
