//! `client.artifacts()`: `/api/v1/artifacts`, files attached to tasks and projects,
//! streamed in and out.

use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::client::Call;
use crate::error::{Error, Result};
use crate::types::ArtifactOut;

/// Where an upload goes and what it is: the task (or project) it belongs to, its file
/// name, and optionally its media type and the SHA-256 the server must verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ArtifactUpload {
    /// The task it belongs to.
    pub task_id: Option<Uuid>,
    /// The project it belongs to (the task's, if a task is given).
    pub project_id: Option<Uuid>,
    /// Its file name (1–255 characters, no `/` or `\`).
    pub name: String,
    /// Its media type (default `application/octet-stream`).
    pub content_type: Option<String>,
    /// The SHA-256 the bytes must have (lowercase hex): on a mismatch nothing is stored
    /// and the upload fails with 400 `checksum_mismatch`.
    pub sha256: Option<String>,
    /// Makes the upload repeat-safe (`Idempotency-Key`): another upload with the same
    /// key, metadata and bytes returns the first artifact instead of storing a second
    /// one, and the same key with anything else fails with 422 `idempotency_key_reused`.
    /// [`Artifacts::upload`] draws one for its own retries when none is given.
    pub idempotency_key: Option<String>,
}

impl ArtifactUpload {
    /// An artifact of a task.
    ///
    /// ```
    /// # let task_id = uuid::Uuid::nil();
    /// use agentops_sdk::resources::ArtifactUpload;
    /// let upload = ArtifactUpload::for_task(task_id, "report.md").content_type("text/markdown");
    /// ```
    pub fn for_task(task_id: Uuid, name: impl Into<String>) -> Self {
        Self {
            task_id: Some(task_id),
            project_id: None,
            name: name.into(),
            content_type: None,
            sha256: None,
            idempotency_key: None,
        }
    }

    /// An artifact of a project, attached to no task.
    pub fn for_project(project_id: Uuid, name: impl Into<String>) -> Self {
        Self {
            task_id: None,
            project_id: Some(project_id),
            name: name.into(),
            content_type: None,
            sha256: None,
            idempotency_key: None,
        }
    }

    /// Its media type, e.g. `text/plain; charset=utf-8`.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The SHA-256 (lowercase hex) the server must find, or refuse the upload.
    pub fn sha256(mut self, hex: impl Into<String>) -> Self {
        self.sha256 = Some(hex.into());
        self
    }

    /// A key that makes the upload repeat-safe, for instance one derived from the task
    /// and the file so that an agent that crashed and runs the task again does not attach
    /// the same file twice (1–255 visible ASCII characters).
    ///
    /// ```
    /// # let task_id = uuid::Uuid::nil();
    /// use agentops_sdk::resources::ArtifactUpload;
    /// let upload = ArtifactUpload::for_task(task_id, "report.md")
    ///     .idempotency_key(format!("{task_id}/report.md"));
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    fn call(&self, client: &Client) -> Call {
        let call = client
            .call(Method::POST, "api/v1/artifacts")
            .query_opt("task_id", self.task_id)
            .query_opt("project_id", self.project_id)
            .query("name", &self.name)
            .query_opt("sha256", self.sha256.as_ref());
        match &self.idempotency_key {
            Some(key) => call.with_idempotency_key(key.clone()),
            None => call,
        }
    }

    fn media_type(&self) -> String {
        self.content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned())
    }
}

/// Artifacts: files attached to tasks and projects. Get it with [`Client::artifacts`].
#[derive(Debug, Clone, Copy)]
pub struct Artifacts<'a> {
    pub(crate) client: &'a Client,
}

impl Artifacts<'_> {
    /// Uploads bytes held in memory (agent role).
    ///
    /// Retried like the creates of projects and tasks: it carries an `Idempotency-Key`
    /// (the upload's own, or one drawn for this call), so a repeat after a lost answer
    /// returns the first artifact rather than storing a second.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::resources::ArtifactUpload;
    /// let artifact = client
    ///     .artifacts()
    ///     .upload(ArtifactUpload::for_task(task_id, "summary.txt").content_type("text/plain"), "all good")
    ///     .await?;
    /// println!("{} bytes, sha256 {}", artifact.size, artifact.sha256);
    /// # Ok(()) }
    /// ```
    pub async fn upload(
        &self,
        upload: ArtifactUpload,
        bytes: impl Into<Bytes>,
    ) -> Result<ArtifactOut> {
        let call = upload
            .call(self.client)
            .raw_body(bytes.into(), upload.media_type());
        let call = if upload.idempotency_key.is_some() {
            call
        } else {
            call.idempotent_create()
        };
        self.client.send(call).await
    }

    /// Uploads a stream of chunks without holding it in memory (agent role). A stream
    /// cannot be replayed, so this is never retried; with an
    /// [`idempotency_key`](ArtifactUpload::idempotency_key) the caller's own repeat is
    /// safe.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::resources::ArtifactUpload;
    /// let chunks = futures_util::stream::iter(["line 1\n", "line 2\n"].map(|s| Ok::<_, std::io::Error>(s.as_bytes().to_vec())));
    /// let artifact = client
    ///     .artifacts()
    ///     .upload_stream(ArtifactUpload::for_task(task_id, "log.txt"), chunks)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_stream<S, B, E>(
        &self,
        upload: ArtifactUpload,
        chunks: S,
    ) -> Result<ArtifactOut>
    where
        S: Stream<Item = std::result::Result<B, E>> + Send + 'static,
        B: Into<Bytes> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let call = upload
            .call(self.client)
            .header("content-type", upload.media_type());
        let body = reqwest::Body::wrap_stream(chunks.map_ok(Into::into));
        self.client.send_streamed_body(call, body).await
    }

    /// Uploads a file from disk, streamed (agent role).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::resources::ArtifactUpload;
    /// let upload = ArtifactUpload::for_task(task_id, "out.csv").content_type("text/csv");
    /// let artifact = client.artifacts().upload_file(upload, "/tmp/out.csv").await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_file(
        &self,
        upload: ArtifactUpload,
        path: impl AsRef<Path>,
    ) -> Result<ArtifactOut> {
        let file = tokio::fs::File::open(path.as_ref()).await?;
        let length = file.metadata().await?.len();
        let call = upload
            .call(self.client)
            .header("content-type", upload.media_type())
            .header("content-length", length.to_string());
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        self.client.send_streamed_body(call, body).await
    }

    /// One artifact's metadata.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let artifact = client.artifacts().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<ArtifactOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/artifacts/{id}")),
            )
            .await
    }

    /// Lists artifacts, newest first; narrow with `.task(id)` or `.project(id)`.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let page = client.artifacts().list().task(task_id).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<ArtifactOut> {
        ListRequest::new(self.client, "api/v1/artifacts", "cursor")
    }

    /// Downloads an artifact's bytes: the answer's head is fetched (with retries), the
    /// body is read as you consume the [`Download`].
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let bytes = client.artifacts().download(id).await?.bytes().await?;
    /// # Ok(()) }
    /// ```
    pub async fn download(&self, id: Uuid) -> Result<Download> {
        let call = self
            .client
            .call(Method::GET, &format!("api/v1/artifacts/{id}/content"));
        Ok(Download {
            response: self.client.send_for_stream(call).await?,
        })
    }

    /// Downloads bytes `start..` (to the end) or `start..=end` of an artifact, e.g. to
    /// resume an interrupted download.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let first_kib = client.artifacts().download_range(id, 0, Some(1023)).await?.bytes().await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_range(&self, id: Uuid, start: u64, end: Option<u64>) -> Result<Download> {
        let range = match end {
            Some(end) => format!("bytes={start}-{end}"),
            None => format!("bytes={start}-"),
        };
        let call = self
            .client
            .call(Method::GET, &format!("api/v1/artifacts/{id}/content"))
            .header("range", range);
        Ok(Download {
            response: self.client.send_for_stream(call).await?,
        })
    }

    /// Deletes an artifact (admins: any; agents: those their key uploaded).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// client.artifacts().delete(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.client
            .send_empty(
                self.client
                    .call(Method::DELETE, &format!("api/v1/artifacts/{id}")),
            )
            .await
    }
}

impl ListRequest<ArtifactOut> {
    /// Only this task's artifacts.
    pub fn task(self, task_id: Uuid) -> Self {
        self.param("task_id", task_id)
    }

    /// Only this project's artifacts (its tasks' included).
    pub fn project(self, project_id: Uuid) -> Self {
        self.param("project_id", project_id)
    }
}

/// An artifact's content being downloaded: read it whole, as a stream, or into a file.
#[derive(Debug)]
pub struct Download {
    response: reqwest::Response,
}

impl Download {
    /// Its media type, as stored.
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) {
    /// println!("{:?}", download.content_type());
    /// # }
    /// ```
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// How many bytes the body has (the range's length for a range).
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) {
    /// println!("{:?} bytes", download.len());
    /// # }
    /// ```
    #[expect(clippy::len_without_is_empty, reason = "the length may be unknown")]
    pub fn len(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The artifact's SHA-256 (lowercase hex), from the `ETag`.
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) {
    /// println!("{:?}", download.sha256());
    /// # }
    /// ```
    pub fn sha256(&self) -> Option<&str> {
        self.header("etag").map(|tag| tag.trim_matches('"'))
    }

    /// Whether this is part of the content (an answer to a range request).
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) {
    /// assert!(!download.is_partial());
    /// # }
    /// ```
    pub fn is_partial(&self) -> bool {
        self.response.status() == reqwest::StatusCode::PARTIAL_CONTENT
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    /// The whole body, in memory.
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) -> agentops_sdk::Result<()> {
    /// let text = String::from_utf8_lossy(&download.bytes().await?).into_owned();
    /// # Ok(()) }
    /// ```
    pub async fn bytes(self) -> Result<Bytes> {
        self.response.bytes().await.map_err(Error::from_reqwest)
    }

    /// The body as a stream of chunks, read as it is polled.
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) -> agentops_sdk::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let mut chunks = download.stream();
    /// while let Some(chunk) = chunks.try_next().await? {
    ///     println!("{} bytes", chunk.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<Bytes>> + Send + Unpin + 'static {
        self.response
            .bytes_stream()
            .map_err(Error::from_reqwest)
            .boxed()
    }

    /// Writes the body to `path` (created or truncated) as it arrives; returns the
    /// number of bytes written.
    ///
    /// ```no_run
    /// # async fn example(download: agentops_sdk::resources::Download) -> agentops_sdk::Result<()> {
    /// let written = download.to_file("/tmp/report.pdf").await?;
    /// # Ok(()) }
    /// ```
    pub async fn to_file(self, path: impl AsRef<Path>) -> Result<u64> {
        let mut file = tokio::fs::File::create(path.as_ref()).await?;
        let mut chunks = self.stream();
        let mut written = 0u64;
        while let Some(chunk) = chunks.try_next().await? {
            file.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        file.flush().await?;
        file.sync_all().await?;
        Ok(written)
    }
}
