//! The S3-compatible artifact store (Scaleway Object Storage, MinIO, AWS), through
//! aws-sdk-s3, path-style, with an explicit region and checksums only where S3 requires
//! them (STACK.md pitfall 4).
//!
//! Objects live under `<prefix><artifact id>`. An upload is buffered up to one part
//! (`AGENTOPS_S3_PART_BYTES`, 8 MiB by default): if the body ends within it, it is stored
//! with one `PutObject`, sent only at commit, after the domain has verified the bytes.
//! A larger body becomes a multipart upload whose parts are sent while the rest of the
//! body arrives (at most [`PARTS_IN_FLIGHT`] at a time, so memory stays around three
//! parts); a multipart upload is invisible until `CompleteMultipartUpload`, which again
//! happens only at commit. Any failure, abort or drop aborts the multipart upload, and
//! the sweep aborts any that a crash left behind.
//!
//! Over HTTPS the bodies of `PutObject` and `UploadPart` are not hashed into the request
//! signature (`UNSIGNED-PAYLOAD`, which S3 accepts): TLS already protects them in
//! transit, and that second SHA-256 of every byte (the domain computes its own) was
//! about 0.7 CPU-seconds per GiB uploaded. Over plain HTTP they are signed, as botocore
//! does.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{ArtifactStore, ByteRange, ByteStream, PendingObject, StorageError, spawn_cleanup};
use crate::config::ApiConfig;

/// Parts uploaded concurrently while the next one fills.
pub const PARTS_IN_FLIGHT: usize = 2;
/// A body buffered up to this size grows as needed; past it, a whole part is allocated.
const SMALL_BODY: usize = 1024 * 1024;

/// Artifacts in an S3 bucket.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
    part_size: usize,
    presign_ttl: Duration,
    /// Whether request bodies are hashed into their signatures.
    sign_payload: bool,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A client for the bucket described by `cfg` (no request is made).
pub async fn client(cfg: &ApiConfig) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(cfg.s3_region.trim().to_owned()));
    if let (Some(key), Some(secret)) = (&cfg.s3_access_key_id, &cfg.s3_secret_access_key)
        && !key.is_empty()
    {
        loader = loader.credentials_provider(Credentials::new(
            key.clone(),
            secret.clone(),
            None,
            None,
            "agentops-config",
        ));
    }
    if let Some(endpoint) = cfg.s3_endpoint.as_deref().map(str::trim)
        && !endpoint.is_empty()
    {
        loader = loader.endpoint_url(endpoint);
    }
    let sdk = loader.load().await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

impl S3Store {
    /// The store for `bucket` as configured in `cfg`.
    pub async fn connect(cfg: &ApiConfig, bucket: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: client(cfg).await,
            bucket: bucket.to_owned(),
            prefix: cfg.s3_prefix.clone(),
            endpoint: cfg
                .s3_endpoint
                .clone()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| "the AWS endpoint".to_owned()),
            part_size: usize::try_from(cfg.s3_part_bytes)?,
            presign_ttl: Duration::from_secs(cfg.s3_presign_seconds),
            sign_payload: signs_payload(cfg.s3_endpoint.as_deref()),
        })
    }

    /// The key of artifact `id`.
    pub fn key(&self, id: Uuid) -> String {
        format!("{}{}", self.prefix, id.hyphenated())
    }
}

/// Whether uploads to `endpoint` hash their bodies into the request signature: only
/// where TLS does not protect them (a plain `http://` endpoint). No endpoint means AWS,
/// over HTTPS.
pub fn signs_payload(endpoint: Option<&str>) -> bool {
    endpoint
        .map(str::trim)
        .filter(|endpoint| !endpoint.is_empty())
        .is_some_and(|endpoint| {
            !endpoint
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        })
}

/// Maps an SDK failure: unreachable, timed out or 5xx is `Unavailable`.
fn sdk_error<E>(what: &str, err: SdkError<E, HttpResponse>) -> StorageError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let message = format!("{what}: {}", DisplayErrorContext(&err));
    let server_side = err
        .raw_response()
        .is_some_and(|response| response.status().is_server_error());
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StorageError::Unavailable(message)
        }
        _ if server_side => StorageError::Unavailable(message),
        _ => StorageError::Failed(message),
    }
}

fn to_system_time(time: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<SystemTime> {
    time.and_then(|t| SystemTime::try_from(*t).ok())
}

#[async_trait::async_trait]
impl ArtifactStore for S3Store {
    fn describe(&self) -> String {
        format!(
            "S3 bucket `{}` at {} (keys `{}<id>`)",
            self.bucket, self.endpoint, self.prefix
        )
    }

    async fn begin(
        &self,
        id: Uuid,
        content_type: &str,
    ) -> Result<Box<dyn PendingObject>, StorageError> {
        Ok(Box::new(S3Pending {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: self.key(id),
            content_type: content_type.to_owned(),
            part_size: self.part_size,
            sign_payload: self.sign_payload,
            buf: BytesMut::new(),
            upload_id: None,
            next_part: 1,
            in_flight: FuturesUnordered::new(),
            done: Vec::new(),
            settled: false,
        }))
    }

    async fn read(&self, id: Uuid, range: Option<ByteRange>) -> Result<ByteStream, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end)))
            .send()
            .await
            .map_err(|err| {
                if err.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                    StorageError::NotFound
                } else {
                    sdk_error("GetObject", err)
                }
            })?;
        let body = output.body;
        Ok(futures_util::stream::unfold(Some(body), |body| async move {
            let mut body = body?;
            match body.try_next().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(body))),
                Ok(None) => None,
                Err(err) => Some((Err(std::io::Error::other(err)), None)),
            }
        })
        .boxed())
    }

    async fn delete(&self, id: Uuid) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .send()
            .await
            .map_err(|err| sdk_error("DeleteObject", err))?;
        Ok(())
    }

    async fn presign(
        &self,
        id: Uuid,
        content_type: &str,
        content_disposition: &str,
    ) -> Result<Option<String>, StorageError> {
        let config = PresigningConfig::expires_in(self.presign_ttl)
            .map_err(|err| StorageError::Failed(format!("presigning: {err}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .response_content_type(content_type)
            .response_content_disposition(content_disposition)
            .presigned(config)
            .await
            .map_err(|err| sdk_error("presigning GetObject", err))?;
        Ok(Some(request.uri().to_owned()))
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|err| match sdk_error("HeadBucket", err) {
                StorageError::Failed(message) => StorageError::Unavailable(message),
                other => other,
            })?;
        Ok(())
    }

    async fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<u64, StorageError> {
        let mut removed = 0;
        let (mut key_marker, mut upload_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(|err| sdk_error("ListMultipartUploads", err))?;
            for upload in page.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                if to_system_time(upload.initiated()).is_some_and(|at| at < cutoff) {
                    self.client
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .send()
                        .await
                        .map_err(|err| sdk_error("AbortMultipartUpload", err))?;
                    removed += 1;
                }
            }
            if !page.is_truncated().unwrap_or(false) || page.next_key_marker().is_none() {
                return Ok(removed);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_marker = page.next_upload_id_marker().map(str::to_owned);
        }
    }

    async fn list_objects(&self, cutoff: SystemTime) -> Result<Vec<Uuid>, StorageError> {
        let mut ids = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| sdk_error("ListObjectsV2", err))?;
            for object in page.contents() {
                let Some(id) = object
                    .key()
                    .and_then(|key| key.strip_prefix(self.prefix.as_str()))
                    .and_then(|name| Uuid::try_parse(name).ok())
                else {
                    continue; // not one of ours
                };
                if to_system_time(object.last_modified()).is_some_and(|at| at < cutoff) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }
}

type PartTask = JoinHandle<Result<CompletedPart, StorageError>>;

/// An upload in progress: a buffered single object, or a multipart upload.
struct S3Pending {
    client: Client,
    bucket: String,
    key: String,
    content_type: String,
    part_size: usize,
    sign_payload: bool,
    buf: BytesMut,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: FuturesUnordered<PartTask>,
    done: Vec<CompletedPart>,
    settled: bool,
}

impl S3Pending {
    async fn wait_one(&mut self) -> Result<(), StorageError> {
        if let Some(result) = self.in_flight.next().await {
            let part = result
                .map_err(|err| StorageError::Failed(format!("part upload task failed: {err}")))??;
            self.done.push(part);
        }
        Ok(())
    }

    /// Sends `part` as the next part, starting the multipart upload if needed.
    async fn send_part(&mut self, part: Bytes) -> Result<(), StorageError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .map_err(|err| sdk_error("CreateMultipartUpload", err))?;
                let id = created.upload_id().map(str::to_owned).ok_or_else(|| {
                    StorageError::Failed("CreateMultipartUpload returned no upload id".to_owned())
                })?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.wait_one().await?;
        }
        let number = self.next_part;
        self.next_part += 1;
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(part.len() as i64)
            .body(SdkByteStream::from(part));
        let sign_payload = self.sign_payload;
        self.in_flight.push(tokio::spawn(async move {
            let request = request.customize();
            let request = if sign_payload {
                request
            } else {
                request.disable_payload_signing()
            };
            let output = request
                .send()
                .await
                .map_err(|err| sdk_error("UploadPart", err))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(output.e_tag().map(str::to_owned))
                .build())
        }));
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), StorageError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buf.split().freeze();
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .content_length(body.len() as i64)
                .body(SdkByteStream::from(body))
                .customize();
            let request = if self.sign_payload {
                request
            } else {
                request.disable_payload_signing()
            };
            request
                .send()
                .await
                .map_err(|err| sdk_error("PutObject", err))?;
            return Ok(());
        };
        if !self.buf.is_empty() {
            let last = self.buf.split().freeze();
            self.send_part(last).await?;
        }
        while !self.in_flight.is_empty() {
            self.wait_one().await?;
        }
        let mut parts = std::mem::take(&mut self.done);
        parts.sort_by_key(|part| part.part_number());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| sdk_error("CompleteMultipartUpload", err))?;
        Ok(())
    }

    /// What aborting needs, detached from `self` so it can also run from `Drop`.
    fn abort_job(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let in_flight: Vec<PartTask> = std::mem::take(&mut self.in_flight).into_iter().collect();
        let upload = self.upload_id.take().map(|id| {
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(id)
        });
        let key = self.key.clone();
        self.buf = BytesMut::new();
        async move {
            for task in &in_flight {
                task.abort();
            }
            for task in in_flight {
                let _ = task.await;
            }
            if let Some(request) = upload
                && let Err(err) = request.send().await
            {
                tracing::warn!(key, error = %DisplayErrorContext(&err), "cannot abort a multipart upload; the sweep will");
            }
        }
    }
}

#[async_trait::async_trait]
impl PendingObject for S3Pending {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), StorageError> {
        while !chunk.is_empty() {
            if self.buf.len() + chunk.len() > SMALL_BODY && self.buf.capacity() < self.part_size {
                // Past a small body: allocate exactly one part, once, rather than let
                // the buffer grow by doubling (which would overshoot the part size).
                let mut part = BytesMut::with_capacity(self.part_size);
                part.extend_from_slice(&self.buf);
                self.buf = part;
            }
            let take = chunk.len().min(self.part_size - self.buf.len());
            self.buf.extend_from_slice(&chunk.split_to(take));
            if self.buf.len() == self.part_size {
                let part = std::mem::take(&mut self.buf).freeze();
                self.send_part(part).await?;
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        self.settled = true;
        let result = self.finish().await;
        if result.is_err() {
            self.abort_job().await;
        }
        result
    }

    async fn abort(mut self: Box<Self>) {
        self.settled = true;
        self.abort_job().await;
    }
}

impl Drop for S3Pending {
    fn drop(&mut self) {
        if !self.settled && self.upload_id.is_some() {
            spawn_cleanup(self.abort_job());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signs_payload;

    #[test]
    fn only_plain_http_endpoints_sign_upload_bodies() {
        assert!(signs_payload(Some("http://127.0.0.1:9000")));
        assert!(signs_payload(Some(" HTTP://minio.internal ")));
        assert!(!signs_payload(Some("https://s3.fr-par.scw.cloud")));
        assert!(!signs_payload(Some("HTTPS://s3.fr-par.scw.cloud")));
        // No endpoint: AWS itself, over HTTPS.
        assert!(!signs_payload(None));
        assert!(!signs_payload(Some("  ")));
    }
}
