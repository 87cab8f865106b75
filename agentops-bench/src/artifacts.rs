//! `agentops-bench artifacts`: upload and download throughput of one large artifact
//! through the API, against moving the same bytes directly, and the API's memory.
//!
//! It starts a real API process (this binary's `api` command, on SQLite in a temporary
//! data directory) so its memory can be measured on its own: its peak RSS is reset
//! (`/proc/<pid>/clear_refs`) just before the transfers and read after them. The direct
//! path is what the API itself has to do, without HTTP:
//!
//! - local store: a plain copy of the source file into a new file, `fsync`ed like the
//!   API's objects (upload), and a plain copy of the stored object to a new file
//!   (download);
//! - S3 store: aws-sdk-s3 on the same endpoint, with the API's part size and parts in
//!   flight (upload), and its `GetObject` into a file (download; on Linux over plain
//!   HTTP a presigned `GetObject` read by the same client as the API's). On S3 the
//!   benchmark also downloads with `?redirect=true`, which the API answers with a
//!   redirect to a presigned URL, and, where the same client was used, once more on
//!   each path with the clients most programs use (reqwest through the API, aws-sdk-s3
//!   without it), which copy every byte through their memory.
//!
//! Where the client can tell when a body began, each download is also split into the
//! wait for its first byte and the body, with how busy the machine's cores were while
//! the body moved (`/proc/stat`): it tells a slow API from a machine out of CPU.
//!
//! The API's client is plain HTTP/1.1 that keeps off the two cores it shares with the
//! API: on Linux it uploads with `sendfile` and downloads with `splice`, so the bytes
//! never stop in its memory (elsewhere it is reqwest).
//!
//! Each direction runs `--rounds` times, direct and API taking turns at going first so
//! that neither always runs in the other's wake; the best round of each is reported.
//! Before every timed transfer the benchmark waits for the disk to settle (`sync`), and
//! a download's file is removed as soon as it is timed: the kernel writing back one
//! path's gigabyte must not slow the next path down.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use agentops_api::config::ApiConfig;

use crate::process::{ApiProcess, MachineCpu};
use crate::round2;

const MIB: u64 = 1024 * 1024;

/// Where the API under test keeps artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchStore {
    /// The local directory (the embedded default).
    Local,
    /// An S3-compatible server (`--s3-endpoint`).
    S3,
}

/// Options of `agentops-bench artifacts`.
#[derive(Debug, Args)]
pub struct ArtifactsBenchArgs {
    /// Size of the artifact, in MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub size_mib: u64,
    /// The artifact store of the API under test.
    #[arg(long, value_enum, default_value = "local")]
    pub store: BenchStore,
    /// S3-compatible endpoint for `--store s3`; a bucket is created there and removed.
    #[arg(long, env = "BENCH_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Region for `--store s3`.
    #[arg(long, env = "BENCH_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Access key for `--store s3`.
    #[arg(long, env = "BENCH_S3_ACCESS_KEY_ID", default_value = "test")]
    pub s3_access_key_id: String,
    /// Secret key for `--store s3`.
    #[arg(
        long,
        env = "BENCH_S3_SECRET_ACCESS_KEY",
        default_value = "test",
        hide_env_values = true
    )]
    pub s3_secret_access_key: String,
    /// Rounds of each measurement (the best is reported).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Directory for the benchmark's files (it needs about three times the size free);
    /// a temporary directory by default.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
}

/// A deterministic, incompressible file of `size` bytes; returns its SHA-256.
fn write_source(path: &Path, size: u64) -> anyhow::Result<String> {
    let mut file = std::io::BufWriter::with_capacity(
        8 * MIB as usize,
        std::fs::File::create(path).context("cannot create the source file")?,
    );
    let mut hasher = Sha256::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        file.write_all(&block[..n])?;
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    file.into_inner()?.sync_all()?;
    Ok(hex::encode(hasher.finalize()))
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// A plain file copy through a 1 MiB buffer, `fsync`ed if `durable`.
async fn copy_file(from: &Path, to: &Path, durable: bool) -> anyhow::Result<()> {
    let (from, to) = (from.to_owned(), to.to_owned());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut input = std::fs::File::open(&from)?;
        let mut output = std::fs::File::create(&to)?;
        let mut buf = vec![0u8; MIB as usize];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            output.write_all(&buf[..n])?;
        }
        if durable {
            output.sync_all()?;
        }
        Ok(())
    })
    .await?
}

/// Reads `path` on a blocking thread in 1 MiB chunks (as a client that cares would).
#[cfg(not(target_os = "linux"))]
fn file_chunks(path: PathBuf) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let read = || -> std::io::Result<()> {
            let mut file = std::fs::File::open(&path)?;
            loop {
                // `read_to_end` fills the spare capacity without zeroing it first.
                let mut chunk = Vec::with_capacity(MIB as usize);
                let n = (&mut file).take(MIB).read_to_end(&mut chunk)?;
                if n == 0 {
                    return Ok(());
                }
                if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                    return Ok(());
                }
            }
        };
        if let Err(err) = read() {
            let _ = tx.blocking_send(Err(err));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// Uploads `source` as the body of `POST url`; returns the answer's status and body.
#[cfg(target_os = "linux")]
async fn upload_file(
    _http: &reqwest::Client,
    url: String,
    key: String,
    source: PathBuf,
) -> anyhow::Result<(u16, serde_json::Value)> {
    tokio::task::spawn_blocking(move || upload_with_sendfile(&url, &key, &source)).await?
}

/// Uploads `source` as the body of `POST url`; returns the answer's status and body.
#[cfg(not(target_os = "linux"))]
async fn upload_file(
    http: &reqwest::Client,
    url: String,
    key: String,
    source: PathBuf,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let length = tokio::fs::metadata(&source).await?.len();
    let response = http
        .post(url)
        .bearer_auth(&key)
        .header("content-type", "application/octet-stream")
        .header("content-length", length)
        .body(reqwest::Body::wrap_stream(file_chunks(source)))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// Uploads `source` as the body of `POST url` with `sendfile`, and returns the
/// answer's status and JSON body.
///
/// The client shares the machine's two cores with the API it measures. Reading the file
/// into memory and writing it to the socket cost it about 0.5 CPU-s/GiB, a quarter of
/// the whole upload's CPU, taken from the API; `sendfile` hands the page cache's pages
/// to the socket instead, as a file server would. The request is plain HTTP/1.1 with a
/// `Content-Length`, what any client sends.
#[cfg(target_os = "linux")]
fn upload_with_sendfile(
    url: &str,
    key: &str,
    source: &Path,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let (authority, path) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .context("the API under test speaks plain HTTP")?;
    let file = std::fs::File::open(source)?;
    let length = file.metadata()?.len();
    let mut socket = std::net::TcpStream::connect(authority)?;
    // A stalled API fails the run rather than hanging it.
    socket.set_read_timeout(Some(Duration::from_secs(120)))?;
    socket.set_write_timeout(Some(Duration::from_secs(120)))?;
    write!(
        socket,
        "POST /{path} HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/octet-stream\r\ncontent-length: {length}\r\n\
         connection: close\r\n\r\n"
    )?;
    let mut sent = 0u64;
    while sent < length {
        let count = usize::try_from(length - sent)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        match rustix::fs::sendfile(&socket, &file, None, count) {
            Ok(0) => bail!("{} ended after {sent} of {length} bytes", source.display()),
            Ok(n) => sent += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            // The API answered early and closed: its answer says why.
            Err(rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET) => break,
            Err(err) => return Err(std::io::Error::from(err).into()),
        }
    }
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer)?;
    let head_end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("the API's answer has no end of head")?;
    let head = std::str::from_utf8(&answer[..head_end])?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP status line: {head}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("the API answered an upload with a chunked body");
    }
    Ok((status, serde_json::from_slice(&answer[head_end + 4..])?))
}

/// A finished download.
struct Downloaded {
    /// The body's length.
    length: u64,
    /// Whether the first answer was a redirect (followed without the key).
    redirected: bool,
    /// When the body began (known to the `splice` client only).
    first_byte: Option<FirstByte>,
}

/// When a download's head had arrived and its body began, and the machine's CPU counters
/// then: splits a download into waiting for the server and moving the bytes.
#[derive(Debug, Clone, Copy)]
struct FirstByte {
    at: Instant,
    machine: Option<MachineCpu>,
}

impl FirstByte {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            machine: MachineCpu::now(),
        }
    }
}

/// Downloads `GET url` (with `key` as bearer token, following one redirect without it)
/// into a new file `to`.
#[cfg(target_os = "linux")]
async fn download_file(
    http: &reqwest::Client,
    url: String,
    key: String,
    to: &Path,
) -> anyhow::Result<Downloaded> {
    let location = match splice_download(url, Some(key), to).await? {
        Fetched::Body(length, first_byte) => {
            return Ok(Downloaded {
                length,
                redirected: false,
                first_byte: Some(first_byte),
            });
        }
        Fetched::Redirect(location) => location,
    };
    let (length, first_byte) = if location.starts_with("http://") {
        match splice_download(location.clone(), None, to).await? {
            Fetched::Body(length, first_byte) => (length, Some(first_byte)),
            Fetched::Redirect(again) => bail!("{location} redirected again, to {again}"),
        }
    } else {
        // An HTTPS store (moto with a test CA): no splicing out of TLS.
        let response = http.get(location).send().await?.error_for_status()?;
        (save(response.bytes_stream(), to).await?, None)
    };
    Ok(Downloaded {
        length,
        redirected: true,
        first_byte,
    })
}

/// Downloads `GET url` (with `key` as bearer token, following redirects without it)
/// into a new file `to`.
#[cfg(not(target_os = "linux"))]
async fn download_file(
    http: &reqwest::Client,
    url: String,
    key: String,
    to: &Path,
) -> anyhow::Result<Downloaded> {
    download_buffered(http, url, key, to).await
}

/// Downloads `GET url` as most programs would: reqwest's body read into buffers and
/// written out (with `key` as bearer token, following redirects without it).
async fn download_buffered(
    http: &reqwest::Client,
    url: String,
    key: String,
    to: &Path,
) -> anyhow::Result<Downloaded> {
    let response = http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?;
    let redirected = response.url().as_str() != url;
    let length = save(response.bytes_stream(), to).await?;
    Ok(Downloaded {
        length,
        redirected,
        first_byte: None,
    })
}

/// [`download_with_splice`] on a blocking thread.
#[cfg(target_os = "linux")]
async fn splice_download(url: String, key: Option<String>, to: &Path) -> anyhow::Result<Fetched> {
    let to = to.to_owned();
    tokio::task::spawn_blocking(move || download_with_splice(&url, key.as_deref(), &to)).await?
}

/// What one `GET` of [`download_with_splice`] gave.
#[cfg(target_os = "linux")]
enum Fetched {
    /// The body, this many bytes, is in the file; it began at the [`FirstByte`].
    Body(u64, FirstByte),
    /// A redirect to this URL.
    Redirect(String),
}

/// `GET url` over plain HTTP/1.1, moving the body from the socket into the file `to`
/// with `splice` (through a pipe), as [`upload_with_sendfile`] does the other way: the
/// socket's pages go to the page cache without a stop in the client's memory. A client
/// that reads the body into buffers and writes them out spends about as much CPU as the
/// API does serving it, on the two cores the API shares with it.
#[cfg(target_os = "linux")]
fn download_with_splice(url: &str, key: Option<&str>, to: &Path) -> anyhow::Result<Fetched> {
    use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, pipe, splice};

    let (authority, path) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .with_context(|| format!("not a plain-HTTP URL: {url}"))?;
    let mut socket = std::net::TcpStream::connect(authority)?;
    socket.set_read_timeout(Some(Duration::from_secs(120)))?;
    socket.set_write_timeout(Some(Duration::from_secs(120)))?;
    let authorization = key.map_or_else(String::new, |key| {
        format!("authorization: Bearer {key}\r\n")
    });
    write!(
        socket,
        "GET /{path} HTTP/1.1\r\nhost: {authority}\r\n{authorization}connection: close\r\n\r\n"
    )?;

    // The head, and whatever of the body came with it.
    let mut received = Vec::with_capacity(16 * 1024);
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        anyhow::ensure!(received.len() < 64 * 1024, "the answer's head is too long");
        let mut buf = [0u8; 16 * 1024];
        let n = socket.read(&mut buf)?;
        anyhow::ensure!(
            n > 0,
            "the connection closed before the answer's head ended"
        );
        received.extend_from_slice(&buf[..n]);
    };
    let head = std::str::from_utf8(&received[..head_end])?.to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP status line: {head}"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(Fetched::Redirect(
            header("location").context("a redirect without a Location")?,
        ));
    }
    anyhow::ensure!(status == 200, "GET {url} answered {status}");
    let first_byte = FirstByte::now();
    let length: u64 = header("content-length")
        .context("the answer has no Content-Length")?
        .parse()?;

    let mut file = std::fs::File::create(to)?;
    let early = &received[head_end + 4..];
    file.write_all(early)?;
    let mut left = length
        .checked_sub(early.len() as u64)
        .context("the body is longer than its Content-Length")?;
    let (pipe_out, pipe_in) = pipe()?;
    // A larger pipe moves more per call; the default (64 KiB) works too.
    let capacity = fcntl_setpipe_size(&pipe_in, 1024 * 1024).unwrap_or(64 * 1024);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(capacity);
        let moved = match splice(&socket, None, &pipe_in, None, want, SpliceFlags::MOVE) {
            Ok(0) => bail!("the connection closed with {left} bytes of the body to come"),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(std::io::Error::from(err).into()),
        };
        let mut in_pipe = moved;
        while in_pipe > 0 {
            match splice(&pipe_out, None, &file, None, in_pipe, SpliceFlags::MOVE) {
                Ok(0) => bail!("{} took no more bytes", to.display()),
                Ok(n) => in_pipe -= n,
                Err(rustix::io::Errno::INTR) => {}
                Err(err) => return Err(std::io::Error::from(err).into()),
            }
        }
        left -= moved as u64;
    }
    Ok(Fetched::Body(length, first_byte))
}

/// Waits until every dirty page on the machine is written back, so a timed transfer does
/// not share the disk, or the CPU, with the write-back of the one before it.
fn settle() {
    #[cfg(target_os = "linux")]
    rustix::fs::sync();
}

/// Writes a stream of chunks into a new file on a blocking thread; returns the length.
async fn save<E>(
    mut chunks: impl futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    to: &Path,
) -> anyhow::Result<u64>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let to = to.to_owned();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&to)?;
        while let Some(chunk) = rx.blocking_recv() {
            file.write_all(&chunk)?;
        }
        file.flush()
    });
    let mut written = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        written += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            break; // the writer failed: its error follows
        }
    }
    drop(tx);
    writer.await??;
    Ok(written)
}

/// The S3 side of the benchmark: a bucket of its own and a client like the API's.
struct S3Side {
    client: aws_sdk_s3::Client,
    bucket: String,
    cfg: ApiConfig,
}

impl S3Side {
    async fn create(args: &ArtifactsBenchArgs) -> anyhow::Result<Self> {
        let endpoint = args
            .s3_endpoint
            .clone()
            .context("--store s3 needs --s3-endpoint (or BENCH_S3_ENDPOINT)")?;
        let bucket = format!(
            "agentops-bench-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let mut cfg = ApiConfig::defaults();
        cfg.s3_endpoint = Some(endpoint);
        cfg.s3_bucket = Some(bucket.clone());
        cfg.s3_region = args.s3_region.clone();
        cfg.s3_access_key_id = Some(args.s3_access_key_id.clone());
        cfg.s3_secret_access_key = Some(args.s3_secret_access_key.clone());
        let client = agentops_api::storage::s3::client(&cfg).await;
        let mut create = client.create_bucket().bucket(&bucket);
        if args.s3_region != "us-east-1" {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                        args.s3_region.as_str(),
                    ))
                    .build(),
            );
        }
        create.send().await.context("cannot create the bucket")?;
        Ok(Self {
            client,
            bucket,
            cfg,
        })
    }

    fn api_env(&self) -> Vec<(&'static str, String)> {
        let cfg = &self.cfg;
        vec![
            ("S3_ENDPOINT", cfg.s3_endpoint.clone().unwrap_or_default()),
            ("S3_BUCKET", self.bucket.clone()),
            ("S3_REGION", cfg.s3_region.clone()),
            (
                "S3_ACCESS_KEY_ID",
                cfg.s3_access_key_id.clone().unwrap_or_default(),
            ),
            (
                "S3_SECRET_ACCESS_KEY",
                cfg.s3_secret_access_key.clone().unwrap_or_default(),
            ),
        ]
    }

    /// A multipart upload of `path` with the API's part size and parts in flight.
    async fn put(&self, path: &Path, key: &str) -> anyhow::Result<()> {
        let part_size = self.cfg.s3_part_bytes as usize;
        let sign_payload =
            agentops_api::storage::s3::signs_payload(self.cfg.s3_endpoint.as_deref());
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?;
        let upload_id = created.upload_id().context("no upload id")?.to_owned();
        let mut file = tokio::fs::File::open(path).await?;
        let mut in_flight = FuturesUnordered::new();
        let mut parts = Vec::new();
        for number in 1.. {
            let mut buf = BytesMut::with_capacity(part_size);
            while buf.len() < part_size {
                if file.read_buf(&mut buf).await? == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            while in_flight.len() >= agentops_api::storage::s3::PARTS_IN_FLIGHT {
                parts.push(in_flight.next().await.context("part")???);
            }
            let request = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(SdkByteStream::from(buf.freeze()))
                .customize();
            // The same signing as the API's (see `storage::s3::signs_payload`).
            let request = if sign_payload {
                request
            } else {
                request.disable_payload_signing()
            };
            in_flight.push(tokio::spawn(async move {
                let output = request.send().await?;
                anyhow::Ok(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(output.e_tag().map(str::to_owned))
                        .build(),
                )
            }));
        }
        while let Some(part) = in_flight.next().await {
            parts.push(part??);
        }
        parts.sort_by_key(|p| p.part_number());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }

    /// Whether [`S3Side::get`] reads with the same client as the API's downloads (on
    /// Linux, over plain HTTP), rather than with the SDK.
    fn same_client(&self) -> bool {
        cfg!(target_os = "linux")
            && self
                .cfg
                .s3_endpoint
                .as_deref()
                .is_some_and(|endpoint| endpoint.starts_with("http://"))
    }

    /// `GetObject` into a new file. When [`S3Side::same_client`], through a presigned URL
    /// read with the same `splice` client as the API's downloads, so both paths pay the
    /// same for receiving (and the body's start is known); otherwise as
    /// [`S3Side::get_sdk`].
    async fn get(&self, key: &str, to: &Path) -> anyhow::Result<Option<FirstByte>> {
        #[cfg(target_os = "linux")]
        if self.same_client() {
            let presigned = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(
                    Duration::from_secs(600),
                )?)
                .await?;
            return match splice_download(presigned.uri().to_owned(), None, to).await? {
                Fetched::Body(_, first_byte) => Ok(Some(first_byte)),
                Fetched::Redirect(location) => bail!("GetObject redirected to {location}"),
            };
        }
        self.get_sdk(key, to).await.map(|()| None)
    }

    /// `GetObject` with aws-sdk-s3, its streamed body written into a new file: how a
    /// program would fetch the object without the API.
    async fn get_sdk(&self, key: &str, to: &Path) -> anyhow::Result<()> {
        let body = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await?
            .body;
        let chunks = futures_util::stream::unfold(body, |mut body| async move {
            body.try_next().await.transpose().map(|item| (item, body))
        });
        save(Box::pin(chunks), to).await?;
        Ok(())
    }

    async fn remove_everything(&self) {
        if let Ok(listed) = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
        {
            for object in listed.contents() {
                if let Some(key) = object.key() {
                    let _ = self
                        .client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(key)
                        .send()
                        .await;
                }
            }
        }
        let _ = self
            .client
            .delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await;
    }
}

/// One download path's rounds split at the body's first byte: waiting for the server,
/// then moving the bytes, with how busy the machine's CPUs were while they moved.
#[derive(Debug, Default)]
struct Phases {
    /// Seconds until the first byte, per round.
    waits: Vec<f64>,
    /// Seconds from the first byte to the last, per round.
    bodies: Vec<f64>,
    /// Fraction of the machine's CPU time busy while the body moved, per round.
    busy: Vec<f64>,
}

/// [`Phases`] averaged over the rounds.
struct PhaseSummary {
    first_byte_ms: f64,
    body_mib_s: f64,
    busy_pct: f64,
}

impl Phases {
    /// Records a download that started at `started` and has just ended (nothing when
    /// the client could not tell when its body began).
    fn record(&mut self, started: Instant, first_byte: Option<FirstByte>) {
        let Some(first_byte) = first_byte else { return };
        self.waits.push((first_byte.at - started).as_secs_f64());
        self.bodies.push(first_byte.at.elapsed().as_secs_f64());
        self.busy
            .extend(first_byte.machine.and_then(MachineCpu::busy_since));
    }

    /// Means over the rounds, for `mib` MiB bodies; `None` without a split round.
    fn summary(&self, mib: f64) -> Option<PhaseSummary> {
        let mean = |values: &[f64]| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        Some(PhaseSummary {
            first_byte_ms: mean(&self.waits)? * 1000.0,
            body_mib_s: mib / mean(&self.bodies)?,
            busy_pct: 100.0 * mean(&self.busy).unwrap_or(f64::NAN),
        })
    }
}

/// Seconds of the fastest of `rounds`.
fn best(times: &[Duration]) -> f64 {
    times
        .iter()
        .map(Duration::as_secs_f64)
        .fold(f64::INFINITY, f64::min)
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: ArtifactsBenchArgs) -> anyhow::Result<()> {
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&parent)
        .with_context(|| format!("cannot make a directory in {}", parent.display()))?;
    let s3 = match args.store {
        BenchStore::S3 => Some(S3Side::create(&args).await?),
        BenchStore::Local => None,
    };
    let result = bench(&args, dir.path(), s3.as_ref()).await;
    if let Some(s3) = &s3 {
        s3.remove_everything().await;
    }
    result
}

async fn bench(args: &ArtifactsBenchArgs, dir: &Path, s3: Option<&S3Side>) -> anyhow::Result<()> {
    let size = args.size_mib * MIB;
    let source = dir.join("source.bin");
    eprintln!("writing a {} MiB source file...", args.size_mib);
    let source_sha = write_source(&source, size)?;

    let admin_key = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let data_dir = dir.join("api");
    let mut envs = vec![
        ("AGENTOPS_DATA_DIR", data_dir.display().to_string()),
        ("AGENTOPS_ADMIN_KEY", admin_key.clone()),
        ("AGENTOPS_ARTIFACT_MAX_BYTES", size.to_string()),
    ];
    if let Some(s3) = s3 {
        envs.extend(s3.api_env());
    }
    let api = ApiProcess::start(&envs)?;
    api.wait_ready().await?;
    let http = reqwest::Client::new();
    let project_id = api.create_project(&http, &admin_key).await?;

    let upload = |name: &'static str| {
        let (http, base, key, project_id, source) = (
            http.clone(),
            api.base.clone(),
            admin_key.clone(),
            project_id.clone(),
            source.clone(),
        );
        async move {
            let url = format!("{base}/api/v1/artifacts?project_id={project_id}&name={name}");
            let (status, body) = upload_file(&http, url, key, source).await?;
            anyhow::ensure!(status == 201, "upload answered {status}: {body}");
            anyhow::Ok(body)
        }
    };
    let delete = |id: String| {
        let (http, base, key) = (http.clone(), api.base.clone(), admin_key.clone());
        async move {
            http.delete(format!("{base}/api/v1/artifacts/{id}"))
                .bearer_auth(&key)
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        }
    };

    // Warm up: code paths, pools, allocator arenas.
    let warm = upload("warm-up").await?;
    delete(warm["id"].as_str().unwrap_or_default().to_owned()).await?;

    let rss_before = api.memory_mib("VmRSS:")?;
    api.reset_peak()?;
    let (mut up_api, mut up_direct, mut down_api, mut down_direct) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut down_redirect, mut down_sdk, mut down_buffered) = (Vec::new(), Vec::new(), Vec::new());
    let (mut phases_api, mut phases_direct) = (Phases::default(), Phases::default());
    let copy = dir.join("direct.bin");
    let downloaded = dir.join("downloaded.bin");
    let mut verified = true;
    let (mut up_cpu, mut down_cpu) = (0.0, 0.0);
    for round in 0..args.rounds {
        eprintln!("round {} of {}...", round + 1, args.rounds);
        let api_first = round % 2 == 1;

        // Upload.
        let mut artifact = serde_json::Value::Null;
        for api_turn in [api_first, !api_first] {
            settle();
            if api_turn {
                let (started, cpu) = (Instant::now(), api.cpu_seconds()?);
                artifact = upload("bench.bin").await?;
                up_api.push(started.elapsed());
                up_cpu += api.cpu_seconds()? - cpu;
            } else {
                let started = Instant::now();
                match s3 {
                    None => copy_file(&source, &copy, true).await?,
                    Some(s3) => s3.put(&source, "direct/object").await?,
                }
                up_direct.push(started.elapsed());
                let _ = std::fs::remove_file(&copy);
            }
        }
        verified &= artifact["sha256"] == source_sha.as_str();
        let id = artifact["id"]
            .as_str()
            .context("no artifact id")?
            .to_owned();

        // Download. The local store writes objects past the page cache (direct I/O):
        // read the object once first, so both paths read it from the cache rather than
        // the first one paying for the disk.
        let stored = data_dir.join("artifacts").join("objects").join(&id);
        if s3.is_none() {
            std::io::copy(&mut std::fs::File::open(&stored)?, &mut std::io::sink())?;
        }
        for api_turn in [api_first, !api_first] {
            settle();
            if api_turn {
                let (started, cpu) = (Instant::now(), api.cpu_seconds()?);
                let url = format!("{}/api/v1/artifacts/{id}/content", api.base);
                let got = download_file(&http, url, admin_key.clone(), &downloaded).await?;
                down_api.push(started.elapsed());
                phases_api.record(started, got.first_byte);
                anyhow::ensure!(!got.redirected, "the API redirected a plain download");
                let written = got.length;
                down_cpu += api.cpu_seconds()? - cpu;
                verified &= written == size && sha256_of(&downloaded)? == source_sha;
            } else {
                let started = Instant::now();
                let first_byte = match s3 {
                    None => copy_file(&stored, &copy, false).await.map(|()| None)?,
                    Some(s3) => s3.get("direct/object", &copy).await?,
                };
                down_direct.push(started.elapsed());
                phases_direct.record(started, first_byte);
            }
            let _ = std::fs::remove_file(&copy);
            let _ = std::fs::remove_file(&downloaded);
        }
        if let Some(s3) = s3.filter(|s3| s3.same_client()) {
            // Both paths again with the clients most programs use, which copy every byte
            // through their memory: aws-sdk-s3's `GetObject` without the API (the direct
            // path as the issue names it), reqwest through it.
            for api_turn in [api_first, !api_first] {
                settle();
                let started = Instant::now();
                if api_turn {
                    let url = format!("{}/api/v1/artifacts/{id}/content", api.base);
                    let got = download_buffered(&http, url, admin_key.clone(), &downloaded).await?;
                    down_buffered.push(started.elapsed());
                    verified &= got.length == size && sha256_of(&downloaded)? == source_sha;
                } else {
                    s3.get_sdk("direct/object", &copy).await?;
                    down_sdk.push(started.elapsed());
                }
                let _ = std::fs::remove_file(&copy);
                let _ = std::fs::remove_file(&downloaded);
            }
        }
        if s3.is_some() {
            // The same download through the API's redirect to a presigned URL: the API
            // only authorises it, the bytes come from the store.
            settle();
            let started = Instant::now();
            let url = format!("{}/api/v1/artifacts/{id}/content?redirect=true", api.base);
            let got = download_file(&http, url, admin_key.clone(), &downloaded).await?;
            down_redirect.push(started.elapsed());
            if !got.redirected {
                bail!("the API answered ?redirect=true without redirecting");
            }
            let written = got.length;
            verified &= written == size && sha256_of(&downloaded)? == source_sha;
            let _ = std::fs::remove_file(&downloaded);
        }
        delete(id).await?;
    }
    let peak = api.memory_mib("VmHWM:")?;
    let growth = peak - rss_before;

    let mib = args.size_mib as f64;
    let (rounds, gib) = (f64::from(args.rounds), mib / 1024.0);
    let rate = |times: &[Duration]| mib / best(times);
    let (up_api, up_direct) = (rate(&up_api), rate(&up_direct));
    let (down_api, down_direct) = (rate(&down_api), rate(&down_direct));
    let mut report = serde_json::json!({
        "store": match args.store { BenchStore::Local => "local", BenchStore::S3 => "s3" },
        "size_mib": args.size_mib,
        "rounds": args.rounds,
        "upload_api_mib_s": round2(up_api),
        "upload_direct_mib_s": round2(up_direct),
        "upload_ratio": round2(up_api / up_direct),
        "download_api_mib_s": round2(down_api),
        "download_direct_mib_s": round2(down_direct),
        "download_ratio": round2(down_api / down_direct),
        "api_cpu_s_per_gib_upload": round2(up_cpu / rounds / gib),
        "api_cpu_s_per_gib_download": round2(down_cpu / rounds / gib),
        "api_rss_before_mib": round2(rss_before),
        "api_peak_rss_mib": round2(peak),
        "api_rss_growth_mib": round2(growth),
        "verified": verified,
    });
    println!(
        "{} MiB artifact, {} store, best of {} rounds:\n  upload:   API {:.1} MiB/s, direct {:.1} MiB/s (ratio {:.2}); API CPU {:.2} s/GiB\n  download: API {:.1} MiB/s, direct {:.1} MiB/s (ratio {:.2}); API CPU {:.2} s/GiB\n  API RSS {:.1} MiB before, peak {:.1} MiB during (growth {:.1} MiB); bytes verified: {}",
        args.size_mib,
        report["store"].as_str().unwrap_or_default(),
        args.rounds,
        up_api,
        up_direct,
        up_api / up_direct,
        up_cpu / rounds / gib,
        down_api,
        down_direct,
        down_api / down_direct,
        down_cpu / rounds / gib,
        rss_before,
        peak,
        growth,
        verified,
    );
    if let (Some(api_split), Some(direct_split)) =
        (phases_api.summary(mib), phases_direct.summary(mib))
    {
        println!(
            "  download phases (mean of rounds): first byte after {:.0} ms through the API, {:.0} ms direct;\n    then the body at {:.1} MiB/s through the API, {:.1} MiB/s direct (ratio {:.2}), the machine's {} cores {:.0}% / {:.0}% busy",
            api_split.first_byte_ms,
            direct_split.first_byte_ms,
            api_split.body_mib_s,
            direct_split.body_mib_s,
            api_split.body_mib_s / direct_split.body_mib_s,
            std::thread::available_parallelism().map_or(0, usize::from),
            api_split.busy_pct,
            direct_split.busy_pct,
        );
        report["download_first_byte_ms_api"] = round2(api_split.first_byte_ms).into();
        report["download_first_byte_ms_direct"] = round2(direct_split.first_byte_ms).into();
        report["download_body_api_mib_s"] = round2(api_split.body_mib_s).into();
        report["download_body_direct_mib_s"] = round2(direct_split.body_mib_s).into();
        report["download_body_ratio"] =
            round2(api_split.body_mib_s / direct_split.body_mib_s).into();
        report["machine_busy_pct_body_api"] = round2(api_split.busy_pct).into();
        report["machine_busy_pct_body_direct"] = round2(direct_split.busy_pct).into();
    }
    if !down_sdk.is_empty() {
        let (down_sdk, down_buffered) = (rate(&down_sdk), rate(&down_buffered));
        println!(
            "  download with buffering clients: API (reqwest) {down_buffered:.1} MiB/s, direct (aws-sdk-s3 GetObject) {down_sdk:.1} MiB/s (ratio {:.2})",
            down_buffered / down_sdk
        );
        report["download_api_buffered_mib_s"] = round2(down_buffered).into();
        report["download_direct_sdk_mib_s"] = round2(down_sdk).into();
        report["download_ratio_buffered"] = round2(down_buffered / down_sdk).into();
    }
    if !down_redirect.is_empty() {
        let down_redirect = rate(&down_redirect);
        println!(
            "  download with ?redirect=true (a presigned URL): {down_redirect:.1} MiB/s (ratio {:.2})",
            down_redirect / down_direct
        );
        report["download_redirect_mib_s"] = round2(down_redirect).into();
        report["download_redirect_ratio"] = round2(down_redirect / down_direct).into();
    }
    if args.json {
        println!("{report}");
    }
    if !verified {
        bail!("the bytes that came back are not the bytes that went in");
    }
    Ok(())
}
