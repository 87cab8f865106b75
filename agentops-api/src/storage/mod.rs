//! The artifact store: where artifact bytes live, behind one port ([`ArtifactStore`]) with
//! two adapters, a local directory ([`local`], the embedded default) and any S3-compatible
//! bucket ([`s3`]).
//!
//! The port only moves bytes, keyed by artifact id: it never sees a user-supplied name,
//! so no name can choose where bytes go. Hashing, size limits, validation and the
//! metadata rows belong to `domain::artifacts`, which drives an upload through a
//! [`PendingObject`]: bytes are written somewhere invisible, and only
//! [`PendingObject::commit`] (called after the domain has verified them) makes the object
//! appear under its final key, whole. Every adapter cleans up after itself when an upload
//! is aborted, fails, or is dropped half-way.

pub mod local;
pub mod s3;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use uuid::Uuid;

use crate::config::ApiConfig;

/// Bytes read from the store.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// An inclusive byte range within an object, already checked against its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under this id.
    #[error("no stored object for this artifact")]
    NotFound,
    /// The store cannot be reached (network, timeouts, 5xx): worth retrying later.
    #[error("artifact storage is unavailable: {0}")]
    Unavailable(String),
    /// Any other failure.
    #[error("artifact storage failed: {0}")]
    Failed(String),
    /// A local I/O failure.
    #[error("artifact storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where artifact bytes are kept.
#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// A description for logs (`local directory …`, `S3 bucket …`).
    fn describe(&self) -> String;

    /// Starts writing the object of artifact `id`; nothing is visible under its final key
    /// until [`PendingObject::commit`].
    async fn begin(
        &self,
        id: Uuid,
        content_type: &str,
    ) -> Result<Box<dyn PendingObject>, StorageError>;

    /// Streams the object's bytes, or the `range` of them.
    async fn read(&self, id: Uuid, range: Option<ByteRange>) -> Result<ByteStream, StorageError>;

    /// Removes the object; removing one that does not exist succeeds.
    async fn delete(&self, id: Uuid) -> Result<(), StorageError>;

    /// A time-limited URL from which anyone may download the object, with these response
    /// headers, if the store can make one (`None` for the local directory).
    async fn presign(
        &self,
        id: Uuid,
        content_type: &str,
        content_disposition: &str,
    ) -> Result<Option<String>, StorageError>;

    /// Checks that the store can be written to (local) or reached (S3).
    async fn check(&self) -> Result<(), StorageError>;

    /// Removes uploads abandoned before `cutoff` (temporary files not written since then;
    /// multipart uploads started before then); returns how many.
    async fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<u64, StorageError>;

    /// Ids of the objects last modified before `cutoff`.
    async fn list_objects(&self, cutoff: SystemTime) -> Result<Vec<Uuid>, StorageError>;
}

/// An object being written. Exactly one of [`commit`](Self::commit) or
/// [`abort`](Self::abort) should end it; dropping it instead discards what was written
/// (in the background).
#[async_trait::async_trait]
pub trait PendingObject: Send {
    /// Appends bytes. Not cancel-safe: a `write` dropped before it completes may have
    /// taken part of `chunk`, so the object must then be dropped or aborted, not
    /// committed.
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;

    /// Makes the object appear under its final key, durably and whole. On failure nothing
    /// is left behind.
    async fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Discards everything written.
    async fn abort(self: Box<Self>);
}

/// The store the configuration asks for: the S3 bucket if `S3_BUCKET` is set, else the
/// local directory.
pub async fn connect(cfg: &ApiConfig) -> anyhow::Result<Arc<dyn ArtifactStore>> {
    Ok(match cfg.s3_bucket() {
        Some(bucket) => Arc::new(s3::S3Store::connect(cfg, bucket).await?),
        None => Arc::new(local::LocalStore::open(&cfg.effective_artifacts_dir())?),
    })
}

/// Runs `cleanup` in the background when a runtime is available (from `Drop`), else now.
pub(crate) fn spawn_cleanup(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(cleanup);
        }
        Err(_) => tracing::warn!("no runtime to clean up an abandoned upload; the sweep will"),
    }
}

/// The store's state for `/ready`: `ok`, or why not (a check that takes longer than
/// five seconds counts as failed).
pub async fn readiness(store: &dyn ArtifactStore) -> Result<(), String> {
    match tokio::time::timeout(std::time::Duration::from_secs(5), store.check()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("error: {err}")),
        Err(_) => Err("error: the artifact store did not answer within 5 s".to_owned()),
    }
}
