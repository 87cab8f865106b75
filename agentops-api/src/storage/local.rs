//! The local-directory artifact store (the embedded default).
//!
//! Layout under the root: `objects/<artifact id>` holds finished objects and
//! `tmp/<artifact id>.part` uploads in progress. Files are named only by the artifact's
//! UUID, which this module formats itself, so no request can make a path that leaves the
//! root. An upload is written to its temporary file by a blocking thread fed through a
//! bounded channel (network reads and disk writes overlap, and at most about 13 MiB are
//! in flight), then `fsync`ed, renamed into `objects/` and the directory `fsync`ed:
//! after a crash an object is either whole under its final name or absent.
//!
//! On Linux the file is written with direct I/O (`O_DIRECT`): the disk reads the bytes
//! from the process's own buffers, so they are not copied into the page cache first.
//! That copy, and allocating the cache pages it fills, was the largest CPU cost of an
//! upload (more than hashing it), and an upload is not read back soon anyway. The
//! request copies the network's bytes into aligned buffers (at most three per upload,
//! growing from 64 KiB to 4 MiB, recycled) and hands each full one to the writing
//! thread, so staging the next buffer overlaps the disk writing the last one. The last
//! partial block is written through the cache. Where the file system refuses direct
//! I/O when the file is created (some network file systems, older kernels' tmpfs), the
//! thread writes the network's own buffers through the cache in vectored writes of
//! about 1 MiB instead, starting their writeback as it goes so the final `fsync` has
//! little left; where it refuses a direct write half-way, the rest of the staged
//! buffers goes through the cache.
//! A download is read likewise by a blocking thread, 1 MiB at a time into buffers that
//! are not zeroed first, at most four chunks ahead of the socket.

use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{ArtifactStore, ByteRange, ByteStream, PendingObject, StorageError, spawn_cleanup};

/// Batches queued between the request and the writing thread, when writing through
/// the page cache.
const QUEUE_BATCHES: usize = 8;
/// Bytes gathered into one cached (vectored) write of an upload.
const WRITE_BATCH: usize = 1024 * 1024;
/// Bytes of one direct write: the size of the aligned buffers an upload is staged in.
/// Disks take large direct writes faster (1.1 GB/s at 1 MiB, 1.4 GB/s at 4 MiB on the
/// development machine).
const DIRECT_BATCH: usize = 4 * 1024 * 1024;
/// Staged buffers queued for the writing thread besides the one it writes and the one
/// being filled: an upload holds at most three ([`DIRECT_BATCH`] each).
const QUEUE_DIRECT: usize = 1;
/// Alignment of direct writes: of the buffer's address, its length and the file offset
/// (4 KiB covers disks with 512-byte and 4 KiB logical blocks).
const DIRECT_ALIGN: usize = 4096;
/// Most buffers one `writev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;
/// Bytes of an upload after which writing them back to disk is started, so that the
/// final `fsync` has little left to wait for.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;
/// Size of the reads that stream an object out.
const READ_CHUNK: usize = 1024 * 1024;
/// Chunks read ahead of a download's socket.
const READ_AHEAD_CHUNKS: usize = 4;

/// Artifacts in a directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    objects: PathBuf,
    tmp: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) the store rooted at `root`.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let store = Self {
            objects: root.join("objects"),
            tmp: root.join("tmp"),
        };
        for dir in [&store.objects, &store.tmp] {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the artifact directory {}", dir.display())
            })?;
        }
        Ok(store)
    }

    /// The file of artifact `id` (for tests and tools).
    pub fn object_path(&self, id: Uuid) -> PathBuf {
        self.objects.join(id.hyphenated().to_string())
    }

    fn tmp_path(&self, id: Uuid) -> PathBuf {
        self.tmp.join(format!("{}.part", id.hyphenated()))
    }
}

/// A full disk is an outage (503), not a bug.
fn io_error(err: std::io::Error) -> StorageError {
    match err.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            StorageError::Unavailable(format!("the artifact directory is full: {err}"))
        }
        _ => StorageError::Io(err),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StorageError::Failed(format!("blocking task failed: {err}")))?
        .map_err(io_error)
}

/// Entries of `dir` last modified before `cutoff`.
fn entries_before(dir: &Path, cutoff: SystemTime) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(metadata) = entry.metadata() else {
            continue; // removed meanwhile
        };
        if metadata.is_file() && metadata.modified()? < cutoff {
            found.push((
                entry.path(),
                entry.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    Ok(found)
}

#[async_trait::async_trait]
impl ArtifactStore for LocalStore {
    fn describe(&self) -> String {
        format!(
            "local directory {}",
            self.objects.parent().unwrap_or(&self.objects).display()
        )
    }

    async fn begin(
        &self,
        id: Uuid,
        _content_type: &str,
    ) -> Result<Box<dyn PendingObject>, StorageError> {
        let tmp = self.tmp_path(id);
        let (file, direct) = {
            let tmp = tmp.clone();
            blocking(move || create_object_file(&tmp)).await?
        };
        let queue = if direct { QUEUE_DIRECT } else { QUEUE_BATCHES };
        let (tx, mut rx) = mpsc::channel::<ToWriter>(queue);
        let (spare_tx, spare_rx) = mpsc::unbounded_channel::<AlignedBuffer>();
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = ObjectWriter::new(file, direct);
            while let Some(message) = rx.blocking_recv() {
                match message {
                    ToWriter::Network(batch) => out.write(&batch)?,
                    ToWriter::Staged(mut buffer) => {
                        out.write_staged(buffer.filled())?;
                        buffer.clear();
                        // The request may have finished staging: then the buffer goes.
                        let _ = spare_tx.send(buffer);
                    }
                }
            }
            Ok(out.into_file())
        });
        Ok(Box::new(LocalPending {
            tx: Some(tx),
            writer: Some(writer),
            batch: Vec::new(),
            batch_len: 0,
            stager: direct.then(|| Stager::new(spare_rx)),
            tmp,
            target: self.object_path(id),
            objects: self.objects.clone(),
            settled: false,
        }))
    }

    async fn read(&self, id: Uuid, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let path = self.object_path(id);
        let mut file = match blocking(move || std::fs::File::open(path)).await {
            Ok(file) => file,
            Err(StorageError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound);
            }
            Err(err) => return Err(err),
        };
        // A blocking thread reads straight into the chunks it hands over (tokio's file
        // would copy every chunk once more), a few chunks ahead of the socket.
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD_CHUNKS);
        tokio::task::spawn_blocking(move || {
            let mut read = || -> std::io::Result<()> {
                let length = file.metadata()?.len();
                let (start, mut left) = match range {
                    Some(range) => (range.start, range.len()),
                    None => (0, length),
                };
                file.seek(SeekFrom::Start(start))?;
                while left > 0 {
                    let want = left.min(READ_CHUNK as u64);
                    // `read_to_end` fills the spare capacity without zeroing it first.
                    let mut chunk = Vec::with_capacity(READ_CHUNK);
                    let n = (&mut file).take(want).read_to_end(&mut chunk)?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the object is shorter than its metadata",
                        ));
                    }
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                        return Ok(()); // the reader went away
                    }
                }
                Ok(())
            };
            if let Err(err) = read() {
                let _ = tx.blocking_send(Err(err));
            }
        });
        Ok(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    async fn delete(&self, id: Uuid) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.object_path(id)).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn presign(
        &self,
        _id: Uuid,
        _content_type: &str,
        _content_disposition: &str,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    async fn check(&self) -> Result<(), StorageError> {
        // A directory can exist and still refuse writes (read-only mount, full disk).
        let probe = self.tmp.join(format!(".probe-{}", Uuid::new_v4().simple()));
        let objects = self.objects.clone();
        blocking(move || {
            if !objects.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} is not a directory", objects.display()),
                ));
            }
            let written = std::fs::write(&probe, b"ok");
            let _ = std::fs::remove_file(&probe);
            written
        })
        .await
    }

    async fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<u64, StorageError> {
        let tmp = self.tmp.clone();
        blocking(move || {
            let mut removed = 0;
            for (path, _) in entries_before(&tmp, cutoff)? {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(removed)
        })
        .await
    }

    async fn list_objects(&self, cutoff: SystemTime) -> Result<Vec<Uuid>, StorageError> {
        let objects = self.objects.clone();
        blocking(move || {
            Ok(entries_before(&objects, cutoff)?
                .into_iter()
                // Anything not named by a UUID was not put here by us: leave it alone.
                .filter_map(|(_, name)| Uuid::try_parse(&name).ok())
                .collect())
        })
        .await
    }
}

/// Creates an upload's file, for direct I/O where the file system allows it; says
/// whether it does.
///
/// Direct I/O is switched on after creating the file, not asked for at `open`: where a
/// file system refuses it, `open(O_CREAT | O_EXCL | O_DIRECT)` creates the file and then
/// fails, and a second exclusive create of the same name could not succeed.
fn create_object_file(path: &Path) -> std::io::Result<(std::fs::File, bool)> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    #[cfg(target_os = "linux")]
    {
        let flags = rustix::fs::fcntl_getfl(&file)?;
        match rustix::fs::fcntl_setfl(&file, flags | rustix::fs::OFlags::DIRECT) {
            Ok(()) => return Ok((file, true)),
            Err(rustix::io::Errno::INVAL) => {} // no direct I/O here: use the cache
            Err(err) => return Err(err.into()),
        }
    }
    Ok((file, false))
}

#[cfg(target_os = "linux")]
fn is_einval(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// What the writing thread of an upload is handed.
enum ToWriter {
    /// Network buffers, for a file written through the page cache.
    Network(Vec<Bytes>),
    /// A staged buffer, for a file written directly; handed back once written.
    Staged(AlignedBuffer),
}

/// Writes an upload's bytes, in order, to its file: directly while the file system
/// accepts it, else through the page cache.
struct ObjectWriter {
    file: std::fs::File,
    /// Whether writes still go straight to the disk (`O_DIRECT` is set).
    direct: bool,
    /// While writing through the cache: the file's length, and how far writeback was
    /// started (from where direct writes stopped, if they came first).
    written: u64,
    flushed: u64,
}

/// Bytes at an address aligned for direct I/O, up to a fixed capacity.
struct AlignedBuffer {
    /// The capacity plus [`DIRECT_ALIGN`] bytes of room to align the start.
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuffer {
    /// A buffer of `capacity` bytes (a multiple of [`DIRECT_ALIGN`]).
    fn new(capacity: usize) -> Self {
        let storage = vec![0u8; capacity + DIRECT_ALIGN];
        let start = storage.as_ptr().align_offset(DIRECT_ALIGN);
        Self {
            storage,
            start,
            len: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.storage.len() - DIRECT_ALIGN
    }

    /// Copies as much of `bytes` as fits; returns how much that was.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let end = self.start + self.capacity();
        let free = &mut self.storage[self.start + self.len..end];
        let n = free.len().min(bytes.len());
        free[..n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

impl ObjectWriter {
    fn new(file: std::fs::File, direct: bool) -> Self {
        Self {
            file,
            direct,
            written: 0,
            flushed: 0,
        }
    }

    /// Writes network buffers through the cache.
    fn write(&mut self, batch: &[Bytes]) -> std::io::Result<()> {
        let written = write_all_vectored(&mut self.file, batch)?;
        self.wrote_cached(written);
        Ok(())
    }

    /// Writes staged bytes (from an [`AlignedBuffer`]): their whole blocks directly while
    /// the file system takes them, the rest (an upload's last partial block, or all
    /// that follows a refusal) through the cache, for good.
    fn write_staged(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut done = 0;
        if self.direct {
            let whole_blocks = bytes.len() - bytes.len() % DIRECT_ALIGN;
            while done < whole_blocks {
                match self.file.write(&bytes[done..whole_blocks]) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        done += n;
                        if n % DIRECT_ALIGN != 0 {
                            // A short, unaligned write: later direct writes would be
                            // refused.
                            break;
                        }
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    #[cfg(target_os = "linux")]
                    Err(err) if is_einval(&err) => break,
                    Err(err) => return Err(err),
                }
            }
            if done == bytes.len() {
                return Ok(());
            }
            self.leave_direct()?;
        }
        let rest = &bytes[done..];
        self.file.write_all(rest)?;
        self.wrote_cached(rest.len() as u64);
        Ok(())
    }

    /// Goes on through the page cache.
    fn leave_direct(&mut self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let flags = rustix::fs::fcntl_getfl(&self.file)?;
            rustix::fs::fcntl_setfl(&self.file, flags - rustix::fs::OFlags::DIRECT)?;
        }
        self.direct = false;
        // What was written directly is on disk already: writeback hints start here.
        self.written = self.file.stream_position()?;
        self.flushed = self.written;
        Ok(())
    }

    /// Counts `len` bytes written through the cache, and starts their writeback every
    /// [`WRITEBACK_EVERY`] bytes.
    fn wrote_cached(&mut self, len: u64) {
        self.written += len;
        if self.written - self.flushed >= WRITEBACK_EVERY {
            start_writeback(&self.file, self.flushed, self.written - self.flushed);
            self.flushed = self.written;
        }
    }

    /// The file, ready for its `fsync`.
    fn into_file(self) -> std::fs::File {
        self.file
    }
}

/// Copies an upload's network bytes into aligned buffers for direct writes, on the
/// request's side, while the writing thread writes the previous buffer.
///
/// Buffers start small and grow fourfold up to [`DIRECT_BATCH`], so that a small upload
/// does not allocate megabytes; a small buffer handed back is replaced by a larger one.
struct Stager {
    /// The buffer being filled.
    current: Option<AlignedBuffer>,
    /// Buffers the writing thread has written and handed back.
    spare: mpsc::UnboundedReceiver<AlignedBuffer>,
    /// Buffers made and not dropped: being filled, queued, written or handed back.
    outstanding: usize,
    /// Capacity of the next buffer made.
    next_capacity: usize,
}

impl Stager {
    /// Buffers one upload may have: one being filled, [`QUEUE_DIRECT`] queued, one
    /// being written.
    const POOL: usize = QUEUE_DIRECT + 2;
    /// Capacity of an upload's first buffer.
    const FIRST: usize = 64 * 1024;

    fn new(spare: mpsc::UnboundedReceiver<AlignedBuffer>) -> Self {
        Self {
            current: None,
            spare,
            outstanding: 0,
            next_capacity: Self::FIRST,
        }
    }

    /// The buffer to fill: the current one, a written one handed back, or a new one;
    /// `None` if the writing thread has stopped.
    async fn buffer(&mut self) -> Option<&mut AlignedBuffer> {
        if self.current.is_none() {
            let handed_back = match self.spare.try_recv() {
                Ok(buffer) => Some(buffer),
                Err(_) if self.outstanding < Self::POOL => None,
                Err(_) => Some(self.spare.recv().await?),
            };
            let buffer = match handed_back {
                Some(buffer) if buffer.capacity() >= self.next_capacity => buffer,
                handed_back => {
                    if handed_back.is_none() {
                        self.outstanding += 1;
                    }
                    let buffer = AlignedBuffer::new(self.next_capacity);
                    self.next_capacity = (self.next_capacity * 4).min(DIRECT_BATCH);
                    buffer
                }
            };
            self.current = Some(buffer);
        }
        self.current.as_mut()
    }
}

/// Starts writing `len` bytes from `offset` back to disk without waiting for them (and
/// lets the kernel drop them from its cache once written: an upload is not read back
/// soon). Only a hint: errors are ignored, and the final `fsync` still waits for all.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    );
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

/// Writes every byte of `chunks` with as few `writev` calls as it takes; returns how
/// many that was.
fn write_all_vectored(file: &mut std::fs::File, chunks: &[Bytes]) -> std::io::Result<u64> {
    let mut slices: Vec<IoSlice<'_>> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| IoSlice::new(c))
        .collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let take = slices.len().min(IOV_MAX);
        match file.write_vectored(&slices[..take]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(chunks.iter().map(|c| c.len() as u64).sum())
}

/// An upload in progress into `tmp/`.
struct LocalPending {
    tx: Option<mpsc::Sender<ToWriter>>,
    writer: Option<JoinHandle<std::io::Result<std::fs::File>>>,
    /// Network buffers gathered into the next cached write, and their length.
    batch: Vec<Bytes>,
    batch_len: usize,
    /// For a file written directly: the aligned buffers the bytes are copied into.
    stager: Option<Stager>,
    tmp: PathBuf,
    target: PathBuf,
    objects: PathBuf,
    settled: bool,
}

impl LocalPending {
    /// Hands the gathered batch to the writing thread.
    async fn send_batch(&mut self) -> Result<(), StorageError> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_len = 0;
        self.send(ToWriter::Network(batch)).await
    }

    /// Copies `bytes` into the stager's buffers, handing each full one to the writing
    /// thread.
    async fn stage(&mut self, mut bytes: &[u8]) -> Result<(), StorageError> {
        while !bytes.is_empty() {
            let Some(stager) = &mut self.stager else {
                return Err(StorageError::Failed("upload is not staged".to_owned()));
            };
            let Some(buffer) = stager.buffer().await else {
                return Err(self.writer_stopped().await);
            };
            bytes = &bytes[buffer.fill(bytes)..];
            if buffer.is_full()
                && let Some(full) = stager.current.take()
            {
                self.send(ToWriter::Staged(full)).await?;
            }
        }
        Ok(())
    }

    /// Hands `message` to the writing thread.
    async fn send(&mut self, message: ToWriter) -> Result<(), StorageError> {
        let Some(tx) = &self.tx else {
            return Err(StorageError::Failed("upload already finished".to_owned()));
        };
        if tx.send(message).await.is_err() {
            return Err(self.writer_stopped().await);
        }
        Ok(())
    }

    /// Why the writing thread stopped early (only a write error makes it).
    async fn writer_stopped(&mut self) -> StorageError {
        match self.finish_writing().await {
            Err(err) => err,
            Ok(_) => StorageError::Failed("artifact writer stopped".to_owned()),
        }
    }

    /// Closes the queue and waits for the writing thread; its file if all went well.
    async fn finish_writing(&mut self) -> Result<std::fs::File, StorageError> {
        drop(self.tx.take());
        let writer = self
            .writer
            .take()
            .ok_or_else(|| StorageError::Failed("upload already finished".to_owned()))?;
        writer
            .await
            .map_err(|err| StorageError::Failed(format!("artifact writer failed: {err}")))?
            .map_err(io_error)
    }

    /// Writes what is left, `fsync`s and renames the file into place.
    async fn finish(&mut self) -> Result<(), StorageError> {
        if !self.batch.is_empty() {
            self.send_batch().await?;
        }
        if let Some(last) = self
            .stager
            .as_mut()
            .and_then(|stager| stager.current.take())
            && last.len > 0
        {
            self.send(ToWriter::Staged(last)).await?;
        }
        // The buffers handed back are not needed during the `fsync`s.
        self.stager = None;
        let file = self.finish_writing().await?;
        let (tmp, target, objects) = (self.tmp.clone(), self.target.clone(), self.objects.clone());
        blocking(move || {
            let finalise = || -> std::io::Result<()> {
                file.sync_all()?;
                drop(file);
                std::fs::rename(&tmp, &target)?;
                // The rename itself is durable only once the directory is.
                std::fs::File::open(&objects)?.sync_all()
            };
            let result = finalise();
            if result.is_err() {
                let _ = std::fs::remove_file(&target);
            }
            result
        })
        .await
    }

    async fn remove_tmp(&self) {
        if let Err(err) = tokio::fs::remove_file(&self.tmp).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %err, path = %self.tmp.display(), "cannot remove an unfinished upload; the sweep will");
        }
    }
}

#[async_trait::async_trait]
impl PendingObject for LocalPending {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        // Network reads arrive in pieces of a few KiB: the disk is better served by
        // fewer, larger writes, and the writing thread by fewer wake-ups.
        if chunk.is_empty() {
            return Ok(());
        }
        if self.stager.is_some() {
            return self.stage(&chunk).await;
        }
        self.batch_len += chunk.len();
        self.batch.push(chunk);
        if self.batch_len >= WRITE_BATCH {
            self.send_batch().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        self.settled = true;
        let result = self.finish().await;
        if result.is_err() {
            self.remove_tmp().await;
        }
        result
    }

    async fn abort(mut self: Box<Self>) {
        self.settled = true;
        let _ = self.finish_writing().await;
        self.remove_tmp().await;
    }
}

impl Drop for LocalPending {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Dropped half-way (the request was cancelled): the writer ends when its queue
        // closes; the file goes (unlinking is safe even while it is still being written).
        drop(self.tx.take());
        let writer = self.writer.take();
        let tmp = self.tmp.clone();
        spawn_cleanup(async move {
            if let Some(writer) = writer {
                let _ = writer.await;
            }
            let _ = tokio::fs::remove_file(&tmp).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    /// Writes `data` in network-sized pieces through `writer`, staged in `buffer` when
    /// the file is written directly (as the request does); returns what the file holds.
    fn round_trip(
        mut writer: ObjectWriter,
        mut buffer: AlignedBuffer,
        path: &Path,
        data: &[u8],
    ) -> Vec<u8> {
        let direct = writer.direct;
        for batch in data.chunks(3 * 1000) {
            let pieces: Vec<Bytes> = batch.chunks(1000).map(Bytes::copy_from_slice).collect();
            if !direct {
                writer.write(&pieces).unwrap();
                continue;
            }
            for piece in pieces {
                let mut rest = &piece[..];
                while !rest.is_empty() {
                    rest = &rest[buffer.fill(rest)..];
                    if buffer.is_full() {
                        writer.write_staged(buffer.filled()).unwrap();
                        buffer.clear();
                    }
                }
            }
        }
        writer.write_staged(buffer.filled()).unwrap();
        writer.into_file().sync_all().unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn direct_and_cached_writes_keep_every_byte_whatever_the_size() {
        let dir = tempfile::tempdir().unwrap();
        for size in [
            0,
            1,
            DIRECT_ALIGN - 1,
            DIRECT_ALIGN,
            DIRECT_ALIGN + 1,
            Stager::FIRST - 1,
            Stager::FIRST,
            Stager::FIRST + 1,
            DIRECT_BATCH - 1,
            DIRECT_BATCH,
            DIRECT_BATCH + 1,
            2 * DIRECT_BATCH + 12_345,
        ] {
            let data = pattern(size);
            for cached in [false, true] {
                let path = dir.path().join(format!("{size}-{cached}"));
                let writer = if cached {
                    ObjectWriter::new(std::fs::File::create_new(&path).unwrap(), false)
                } else {
                    let (file, direct) = create_object_file(&path).unwrap();
                    ObjectWriter::new(file, direct)
                };
                assert!(
                    round_trip(writer, AlignedBuffer::new(DIRECT_BATCH), &path, &data) == data,
                    "{size} bytes, cached: {cached}"
                );
            }
        }
    }

    #[test]
    fn a_refused_direct_write_falls_back_to_the_cache_without_losing_a_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        let (file, direct) = create_object_file(&path).unwrap();
        let writer = ObjectWriter::new(file, direct);
        // A misaligned buffer: file systems that check alignment refuse it (EINVAL).
        let mut buffer = AlignedBuffer::new(Stager::FIRST);
        buffer.start += 1;
        let data = pattern(3 * Stager::FIRST + 777);
        assert!(round_trip(writer, buffer, &path, &data) == data);
    }

    #[tokio::test]
    async fn uploads_through_every_buffer_size_keep_every_byte() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::open(root.path()).unwrap();
        // Past the growing buffers (64 KiB, 256 KiB, 1 MiB) into recycled 4 MiB ones.
        for size in [0, 1, 70_000, 3 * DIRECT_BATCH + 4097] {
            let id = Uuid::now_v7();
            let mut pending = store.begin(id, "application/octet-stream").await.unwrap();
            let data = pattern(size);
            for piece in data.chunks(16_411) {
                pending.write(Bytes::copy_from_slice(piece)).await.unwrap();
            }
            pending.commit().await.unwrap();
            assert!(
                std::fs::read(store.object_path(id)).unwrap() == data,
                "{size} bytes"
            );
        }
    }

    #[tokio::test]
    async fn many_small_network_buffers_are_written_whole_and_in_order() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalStore::open(root.path()).unwrap();
        let id = Uuid::now_v7();
        let mut pending = store.begin(id, "application/octet-stream").await.unwrap();
        // More buffers than one `writev` takes, in several batches, of odd sizes.
        let mut expected = Vec::new();
        for i in 0..5000u32 {
            let chunk: Vec<u8> = (0..(i % 700) + 1).map(|j| (i + j) as u8).collect();
            expected.extend_from_slice(&chunk);
            pending.write(Bytes::from(chunk)).await.unwrap();
        }
        pending.commit().await.unwrap();
        assert_eq!(std::fs::read(store.object_path(id)).unwrap(), expected);
        let mut read = Vec::new();
        let mut stream = store
            .read(
                id,
                Some(ByteRange {
                    start: 10,
                    end: 1_000_009,
                }),
            )
            .await
            .unwrap();
        while let Some(chunk) = stream.next().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(read, expected[10..1_000_010]);
    }
}
