//! Artifacts: files agents attach to tasks and projects.
//!
//! The bytes go to the artifact store (`crate::storage`), the metadata to the
//! `artifacts` table. The two are kept in step so that a row always has its object:
//!
//! 1. **Stream** the body into a pending object (a temporary file, or a multipart upload
//!    that is invisible until completed), hashing and counting as the bytes pass; over
//!    the size limit, the upload stops at once.
//! 2. **Verify** the size and the client's expected SHA-256; on any failure the pending
//!    object is aborted and nothing is left.
//! 3. **Finalise** the object (fsync and rename; complete the multipart upload or PUT).
//! 4. **Record** the row and its `artifact.created` event in one transaction. If that
//!    fails, the object is deleted again.
//!
//! The object is made final before the row exists, never after: a crash between 3 and 4
//! leaves an object without a row, which nobody can see and the `Sweeper` removes, rather
//! than a row whose bytes are missing. Deleting goes the same way round: the row (with
//! its `artifact.deleted` event) first, then the object. The steps after the request
//! starts run in a task of their own, so a client that hangs up cannot cancel them
//! half-way.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use agentops_sdk::types::{ArtifactLinks, ArtifactOut, ErrorCode, Page, Role};

use super::projects::Created;
use super::{
    Checks, check_replay, is_unique_violation, paginate, request_hash, reused_idempotency_key,
};
use crate::domain::Caller;
use crate::domain::Context;
use crate::domain::PageRequest;
use crate::error::DomainError;
use crate::storage::{ByteRange, ByteStream, PendingObject, StorageError};
use crate::store::{self, NewEvent, entity::artifact};

/// The filters of a listing (defined with the query that applies them).
pub use crate::store::artifacts::ListFilter;

mod content;
mod sweep;

pub use content::{
    Content, ContentRequest, RangeAnswer, content, content_disposition, etag, parse_range,
};
pub use sweep::{SweepReport, run_sweeper, sweep};

/// Longest artifact name, in characters.
pub const NAME_MAX: usize = 255;
/// Content type of an upload that does not name one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Age after which an unfinished upload, or an object without a row, is garbage.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// How long the sweep waits before it deletes an object it found without a row, in case
/// that row's transaction was still under way.
pub const ORPHAN_RECHECK: Duration = Duration::from_secs(300);

/// What an upload says about the artifact, before its bytes.
#[derive(Debug, Clone, Default)]
pub struct NewArtifact {
    /// The task it belongs to.
    pub task_id: Option<Uuid>,
    /// The project it belongs to (filled from the task if absent).
    pub project_id: Option<Uuid>,
    /// Its file name.
    pub name: Option<String>,
    /// Its media type (`application/octet-stream` if absent).
    pub content_type: Option<String>,
    /// The SHA-256 the client expects, hex.
    pub sha256: Option<String>,
    /// The size the request declared (`Content-Length`), if it did.
    pub declared_size: Option<u64>,
}

/// Why an upload body could not be read.
#[derive(Debug, Clone)]
pub enum BodyError {
    /// The client went away or the transfer broke off.
    Interrupted(String),
    /// The body is not what it claims to be (bad multipart framing).
    Malformed(String),
}

/// The bytes of an upload.
pub type UploadBody = BoxStream<'static, Result<Bytes, BodyError>>;

/// What artifact operations can fail with, beyond [`DomainError`].
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Not found, invalid, conflicting, or a database failure.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The caller's key may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The body is larger than the configured limit.
    #[error("the artifact is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The bytes do not hash to what the client said.
    #[error("the body's SHA-256 is {actual}, not the expected {expected}; nothing was stored")]
    ChecksumMismatch {
        /// What the client sent.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The body could not be read.
    #[error("{message}")]
    BadBody {
        /// `body_interrupted` or `malformed_body`.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// The requested range starts beyond the end.
    #[error("the range is outside the artifact's {size} bytes")]
    RangeNotSatisfiable {
        /// The artifact's size.
        size: u64,
    },
    /// The artifact store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A bug.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ArtifactError {
    fn from(err: sea_orm::DbErr) -> Self {
        ArtifactError::Domain(DomainError::Db(err))
    }
}

impl From<BodyError> for ArtifactError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::Interrupted(message) => ArtifactError::BadBody {
                code: ErrorCode::BodyInterrupted,
                message: format!("the upload broke off before its end: {message}"),
            },
            BodyError::Malformed(message) => ArtifactError::BadBody {
                code: ErrorCode::MalformedBody,
                message,
            },
        }
    }
}

impl From<artifact::Model> for ArtifactOut {
    fn from(row: artifact::Model) -> Self {
        ArtifactOut {
            links: ArtifactLinks {
                self_: format!("/api/v1/artifacts/{}", row.id),
                content: format!("/api/v1/artifacts/{}/content", row.id),
            },
            id: row.id,
            task_id: row.task_id,
            project_id: row.project_id,
            name: row.name,
            content_type: row.content_type,
            size: u64::try_from(row.size).unwrap_or_default(),
            sha256: row.sha256,
            created_at: row.created_at,
        }
    }
}

fn artifact_event(kind: &'static str, artifact: &ArtifactOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: Some(artifact.project_id),
        task_id: artifact.task_id,
        agent_id: None,
        data: serde_json::to_value(artifact).unwrap_or_default(),
    }
}

/// Checks an artifact name: a file name, never a path.
fn check_name(checks: &mut Checks, name: Option<&str>) {
    let Some(name) = name else {
        checks.push("name", "is required");
        return;
    };
    let len = name.chars().count();
    if name.trim().is_empty() {
        checks.push("name", "must not be empty");
    } else if len > NAME_MAX {
        checks.push(
            "name",
            format!("must be at most {NAME_MAX} characters (got {len})"),
        );
    } else if name.chars().any(char::is_control) {
        checks.push("name", "must not contain control characters");
    } else if name.contains(['/', '\\']) || name.chars().all(|c| c == '.' || c.is_whitespace()) {
        // Only dots (`.`, `..`) would name a directory; only dots and spaces, no file
        // anywhere (Windows drops trailing ones).
        checks.push(
            "name",
            "must be a file name, without `/` or `\\` and not only dots",
        );
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Checks a media type (`type/subtype`, optionally with parameters).
fn check_content_type(checks: &mut Checks, value: &str) {
    let essence = value.split(';').next().unwrap_or_default().trim();
    let valid_essence = essence.split_once('/').is_some_and(|(kind, sub)| {
        !kind.is_empty() && !sub.is_empty() && kind.chars().chain(sub.chars()).all(is_token_char)
    });
    if value.len() > 255 {
        checks.push("content_type", "must be at most 255 characters");
    } else if !valid_essence || !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        checks.push(
            "content_type",
            "must be a media type such as `text/plain` or `application/json; charset=utf-8`",
        );
    }
}

/// A SHA-256 in hex, lowercased; `None` (with a failed check) if it is not one.
fn check_sha256(checks: &mut Checks, value: &str) -> Option<String> {
    if value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()) {
        Some(value.to_ascii_lowercase())
    } else {
        checks.push("sha256", "must be 64 hexadecimal characters");
        None
    }
}

/// A validated upload, its owner resolved.
struct Checked {
    project_id: Uuid,
    task_id: Option<Uuid>,
    name: String,
    content_type: String,
    sha256: Option<String>,
}

async fn check_upload(state: &Context, new: NewArtifact) -> Result<Checked, ArtifactError> {
    let mut checks = Checks::default();
    check_name(&mut checks, new.name.as_deref());
    let content_type = new
        .content_type
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    check_content_type(&mut checks, &content_type);
    let sha256 = new
        .sha256
        .as_deref()
        .and_then(|value| check_sha256(&mut checks, value));
    if new.task_id.is_none() && new.project_id.is_none() {
        checks.push(
            "task_id",
            "give the task_id or the project_id it belongs to",
        );
    }
    checks.finish()?;
    let project_id = match new.task_id {
        Some(task_id) => {
            let task = store::tasks::find(&state.db, task_id)
                .await?
                .ok_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, task_id))?;
            if new.project_id.is_some_and(|p| p != task.project_id) {
                return Err(DomainError::invalid("project_id", "is not the task's project").into());
            }
            task.project_id
        }
        None => {
            let project_id = new.project_id.unwrap_or_default();
            store::projects::find(&state.db, project_id)
                .await?
                .ok_or_else(|| DomainError::not_found(ErrorCode::ProjectNotFound, project_id))?;
            project_id
        }
    };
    Ok(Checked {
        project_id,
        task_id: new.task_id,
        name: new.name.unwrap_or_default(),
        content_type,
        sha256,
    })
}

/// Stores an artifact: checks it, streams its bytes to the store and records it (see the
/// module documentation for the order and what each failure leaves: nothing).
///
/// With an idempotency key, a repeat of an upload that succeeded returns the first
/// artifact (`replayed`) and stores nothing; the same key with other metadata or other
/// bytes is refused (`idempotency_key_reused`). When the key's artifact exists before
/// the upload starts, the repeat's body is only hashed, never stored.
pub async fn upload(
    state: &Context,
    caller: &Caller,
    new: NewArtifact,
    mut body: UploadBody,
    idempotency_key: Option<String>,
) -> Result<Created<ArtifactOut>, ArtifactError> {
    let limit = state.cfg.artifact_max_bytes;
    let declared_size = new.declared_size;
    if declared_size.is_some_and(|size| size > limit) {
        return Err(ArtifactError::TooLarge { limit });
    }
    let checked = check_upload(state, new).await?;
    if let Some(key) = &idempotency_key
        && let Some(existing) =
            store::artifacts::find_by_idempotency_key(&state.db, caller.key_id, key).await?
    {
        let same_metadata = existing.project_id == checked.project_id
            && existing.task_id == checked.task_id
            && existing.name == checked.name
            && existing.content_type == checked.content_type
            && declared_size.is_none_or(|size| i64::try_from(size) == Ok(existing.size))
            && checked
                .sha256
                .as_ref()
                .is_none_or(|sha| *sha == existing.sha256);
        // The body is read to its end even when the answer is already known: a client
        // still sending it would otherwise see the connection reset instead of the
        // answer. It is hashed, never stored.
        let (size, sha256) = read_body(&mut body, limit, None).await?;
        if !same_metadata {
            return Err(reused_idempotency_key().into());
        }
        let repeat = artifact::Model {
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
            ..existing.clone()
        };
        return replay(existing, &request_hash(&Fingerprint::from(&repeat)));
    }
    let (state, caller) = (state.clone(), caller.clone());
    tokio::spawn(
        async move { store_and_record(&state, &caller, checked, body, idempotency_key).await },
    )
    .await
    .map_err(|err| anyhow::anyhow!("artifact upload task failed: {err}"))?
}

/// What tells two uploads under one idempotency key apart.
#[derive(serde::Serialize)]
struct Fingerprint<'a> {
    project_id: Uuid,
    task_id: Option<Uuid>,
    name: &'a str,
    content_type: &'a str,
    size: i64,
    sha256: &'a str,
}

impl<'a> From<&'a artifact::Model> for Fingerprint<'a> {
    fn from(row: &'a artifact::Model) -> Self {
        Fingerprint {
            project_id: row.project_id,
            task_id: row.task_id,
            name: &row.name,
            content_type: &row.content_type,
            size: row.size,
            sha256: &row.sha256,
        }
    }
}

/// The answer to a repeat of an upload whose key `existing` was recorded under: the
/// first artifact if the repeat is the same upload, else a refusal.
fn replay(existing: artifact::Model, hash: &str) -> Result<Created<ArtifactOut>, ArtifactError> {
    check_replay(existing.request_hash.as_deref(), hash)?;
    Ok(Created {
        value: ArtifactOut::from(existing),
        replayed: true,
    })
}

async fn store_and_record(
    state: &Context,
    caller: &Caller,
    checked: Checked,
    mut body: UploadBody,
    idempotency_key: Option<String>,
) -> Result<Created<ArtifactOut>, ArtifactError> {
    let limit = state.cfg.artifact_max_bytes;
    let id = Uuid::now_v7();
    let mut pending = state.storage.begin(id, &checked.content_type).await?;
    let read = read_body(&mut body, limit, Some(pending.as_mut())).await;
    // The rest of a refused body is not read: the connection closes after the answer.
    drop(body);
    let (size, sha256) = match read {
        Ok(read) => read,
        Err(err) => {
            pending.abort().await;
            return Err(err);
        }
    };
    if let Some(expected) = checked.sha256
        && expected != sha256
    {
        pending.abort().await;
        return Err(ArtifactError::ChecksumMismatch {
            expected,
            actual: sha256,
        });
    }
    let mut row = artifact::Model {
        id,
        project_id: checked.project_id,
        task_id: checked.task_id,
        name: checked.name,
        content_type: checked.content_type,
        size: i64::try_from(size).map_err(|_| ArtifactError::TooLarge { limit })?,
        sha256,
        created_by: Some(caller.key_id),
        created_at: store::now(),
        idempotency_key: None,
        request_hash: None,
    };
    let hash = request_hash(&Fingerprint::from(&row));
    if let Some(key) = &idempotency_key {
        // A repeat (or a concurrent twin) that finished first: this copy is not kept.
        let existing =
            store::artifacts::find_by_idempotency_key(&state.db, caller.key_id, key).await;
        match existing {
            Ok(Some(existing)) => {
                pending.abort().await;
                return replay(existing, &hash);
            }
            Ok(None) => {}
            Err(err) => {
                pending.abort().await;
                return Err(err.into());
            }
        }
        row.idempotency_key = Some(key.clone());
        row.request_hash = Some(hash.clone());
    }
    pending.commit().await?;
    match record(state, row).await {
        Ok(out) => Ok(Created {
            value: out,
            replayed: false,
        }),
        Err(err) => {
            if let Err(delete) = state.storage.delete(id).await {
                tracing::warn!(artifact = %id, error = %delete, "cannot remove the object of an artifact that was not recorded; the sweep will");
            }
            // Two uploads with one key raced and the other recorded first.
            if let Some(key) = &idempotency_key
                && is_unique_violation(&err)
                && let Some(existing) =
                    store::artifacts::find_by_idempotency_key(&state.db, caller.key_id, key).await?
            {
                return replay(existing, &hash);
            }
            Err(err.into())
        }
    }
}

/// Reads a body to its end, counting it against `limit` and hashing it, and hands each
/// chunk to `pending` if there is one; returns its size and SHA-256.
///
/// Network reads arrive in pieces of a few KiB: the store takes them as they come (it
/// batches its own writes) and the hashing thread in batches of about 1 MiB, so it wakes
/// up rarely. Nothing is copied.
async fn read_body(
    body: &mut UploadBody,
    limit: u64,
    mut pending: Option<&mut dyn PendingObject>,
) -> Result<(u64, String), ArtifactError> {
    let hasher = BackgroundHash::start();
    let mut size: u64 = 0;
    let mut batch = Vec::new();
    let mut batch_len = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ArtifactError::TooLarge { limit });
        }
        batch_len += chunk.len();
        batch.push(chunk.clone());
        if let Some(pending) = pending.as_deref_mut() {
            pending.write(chunk).await?;
        }
        if batch_len >= HASH_BATCH_BYTES {
            hasher.update(std::mem::take(&mut batch)).await;
            batch_len = 0;
        }
    }
    if !batch.is_empty() {
        hasher.update(batch).await;
    }
    Ok((size, hasher.finish().await?))
}

/// Bytes handed to the hashing thread at a time.
const HASH_BATCH_BYTES: usize = 1024 * 1024;

/// SHA-256 computed on a thread of its own, so hashing overlaps receiving and storing.
struct BackgroundHash {
    tx: tokio::sync::mpsc::Sender<Vec<Bytes>>,
    thread: tokio::task::JoinHandle<String>,
}

impl BackgroundHash {
    fn start() -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(4);
        let thread = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            while let Some(batch) = rx.blocking_recv() {
                for chunk in batch {
                    hasher.update(&chunk);
                }
            }
            hex::encode(hasher.finalize())
        });
        Self { tx, thread }
    }

    async fn update(&self, batch: Vec<Bytes>) {
        // The thread only stops when `tx` is dropped, so this cannot fail.
        let _ = self.tx.send(batch).await;
    }

    async fn finish(self) -> Result<String, ArtifactError> {
        drop(self.tx);
        self.thread
            .await
            .map_err(|err| anyhow::anyhow!("hashing thread failed: {err}").into())
    }
}

async fn record(state: &Context, row: artifact::Model) -> Result<ArtifactOut, DomainError> {
    let mut tx = state.begin().await?;
    let out = ArtifactOut::from(store::artifacts::insert(tx.conn(), row).await?);
    tx.emit(artifact_event("artifact.created", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// One artifact's metadata.
pub async fn get(state: &Context, id: Uuid) -> Result<ArtifactOut, DomainError> {
    store::artifacts::find(&state.db, id)
        .await?
        .map(ArtifactOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::ArtifactNotFound, id))
}

/// Artifacts, newest first, of a task or a project (or all).
pub async fn list(
    state: &Context,
    filter: &ListFilter,
    page: PageRequest,
) -> Result<Page<ArtifactOut>, DomainError> {
    let rows = store::artifacts::list(&state.db, filter, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(ArtifactOut::from).collect(),
        page.limit,
        |a| a.id,
    ))
}

/// Deletes an artifact: its row (with the event), then its bytes. Admins may delete any
/// artifact; agents only those uploaded with their own key.
pub async fn delete(state: &Context, caller: &Caller, id: Uuid) -> Result<(), ArtifactError> {
    let mut tx = state.begin().await?;
    let row = store::artifacts::find_for_delete(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ArtifactNotFound, id))?;
    if caller.role != Role::Admin && row.created_by != Some(caller.key_id) {
        return Err(ArtifactError::Forbidden(
            "agents may delete only the artifacts uploaded with their own key".to_owned(),
        ));
    }
    store::artifacts::delete(tx.conn(), id).await?;
    tx.emit(artifact_event("artifact.deleted", &ArtifactOut::from(row)));
    state.commit(tx).await?;
    if let Err(err) = state.storage.delete(id).await {
        tracing::warn!(artifact = %id, error = %err, "cannot remove a deleted artifact's object; the sweep will");
    }
    Ok(())
}
