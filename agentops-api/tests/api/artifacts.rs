//! Artifacts: streamed uploads and downloads on the local directory and on a real
//! S3-compatible server (`TEST_S3_ENDPOINT`, started by `scripts/test.sh`; each test gets
//! a bucket of its own; a few also over HTTPS, `TEST_S3_TLS_ENDPOINT`), on SQLite and
//! PostgreSQL. After every refused or broken upload
//! the tests look into the storage itself (directory or bucket) and the table: nothing
//! may be left.

use std::path::PathBuf;
use std::time::Duration;

use agentops_api::config::ApiConfig;
use agentops_api::domain::artifacts::{ORPHAN_AGE, sweep};
use rand::RngCore;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use agentops_testkit::{ADMIN_KEY, Backend, TestApp, id_of};

const MIB: usize = 1024 * 1024;

/// Which artifact store a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Local,
    S3,
    /// The S3-compatible server reached over HTTPS, as production object storage is
    /// (`TEST_S3_TLS_ENDPOINT`, its certificate trusted through `SSL_CERT_FILE`).
    S3Tls,
}

/// A view into the store behind a test server, to see what is really there.
enum Inspector {
    Local {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

impl Inspector {
    /// Finished objects: file names under `objects/`, or keys in the bucket.
    async fn objects(&self) -> Vec<String> {
        match self {
            Inspector::Local { root } => file_names(&root.join("objects")),
            Inspector::S3 { client, bucket } => {
                let listed = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .send()
                    .await
                    .unwrap();
                listed
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned))
                    .collect()
            }
        }
    }

    /// Uploads in progress: temporary files, or multipart uploads.
    async fn pending(&self) -> Vec<String> {
        match self {
            Inspector::Local { root } => file_names(&root.join("tmp")),
            Inspector::S3 { client, bucket } => {
                let listed = client
                    .list_multipart_uploads()
                    .bucket(bucket)
                    .send()
                    .await
                    .unwrap();
                listed
                    .uploads()
                    .iter()
                    .filter_map(|u| u.key().map(str::to_owned))
                    .collect()
            }
        }
    }

    /// Nothing stored and nothing in progress.
    async fn assert_empty(&self) {
        assert_eq!(self.objects().await, Vec::<String>::new(), "objects left");
        assert_eq!(self.pending().await, Vec::<String>::new(), "uploads left");
    }
}

fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn s3_tls_endpoint() -> String {
    std::env::var("TEST_S3_TLS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TEST_S3_TLS_ENDPOINT is not set: run the tests with `scripts/test.sh`, which \
             starts an S3-compatible server over HTTPS with a certificate it trusts"
        )
    })
}

fn s3_endpoint() -> String {
    std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TEST_S3_ENDPOINT is not set: run the tests with `scripts/test.sh`, which starts an \
             S3-compatible server, or start one (`moto_server -p 5000`) and set it"
        )
    })
}

/// Points `cfg` at a fresh bucket on the test S3 server (over HTTPS for `Store::S3Tls`).
async fn use_s3(cfg: &mut ApiConfig, store: Store) -> (aws_sdk_s3::Client, String) {
    let bucket = format!(
        "agentops-test-{}",
        &Uuid::new_v4().simple().to_string()[..20]
    );
    cfg.s3_endpoint = Some(if store == Store::S3Tls {
        s3_tls_endpoint()
    } else {
        s3_endpoint()
    });
    cfg.s3_bucket = Some(bucket.clone());
    cfg.s3_region = "us-east-1".to_owned();
    cfg.s3_access_key_id = Some("test".to_owned());
    cfg.s3_secret_access_key = Some("test".to_owned());
    let client = agentops_api::storage::s3::client(cfg).await;
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the test bucket");
    (client, bucket)
}

/// A test server with the store it uses, and raw HTTP helpers for artifacts.
struct Harness {
    app: TestApp,
    store: Inspector,
}

impl Harness {
    async fn spawn(backend: Backend, store: Store) -> Self {
        Self::spawn_with(backend, store, |_| {}).await
    }

    async fn spawn_with(
        backend: Backend,
        store: Store,
        configure: impl FnOnce(&mut ApiConfig),
    ) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut s3 = None;
        let mut base = ApiConfig::defaults();
        if store != Store::Local {
            s3 = Some(use_s3(&mut base, store).await);
        }
        let app = TestApp::spawn_with(backend, |cfg| {
            if store != Store::Local {
                cfg.s3_endpoint = base.s3_endpoint;
                cfg.s3_bucket = base.s3_bucket;
                cfg.s3_region = base.s3_region;
                cfg.s3_access_key_id = base.s3_access_key_id;
                cfg.s3_secret_access_key = base.s3_secret_access_key;
            }
            configure(cfg);
        })
        .await;
        let store = match s3 {
            Some((client, bucket)) => Inspector::S3 { client, bucket },
            None => Inspector::Local {
                root: app.state.cfg.effective_artifacts_dir(),
            },
        };
        Self { app, store }
    }

    /// `POST /artifacts?{query}` with `bytes` as the raw body.
    async fn upload_as(
        &self,
        key: Option<&str>,
        query: &str,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .post(self.app.url(&format!("/api/v1/artifacts?{query}")))
            .body(bytes);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = request.send().await.expect("upload sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn upload(&self, query: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        self.upload_as(
            Some(ADMIN_KEY),
            query,
            Some("application/octet-stream"),
            bytes,
        )
        .await
    }

    /// `POST /artifacts?{query}` with `Idempotency-Key: {idempotency}` as API key `key`;
    /// returns the status, whether it says it replayed, and the body.
    async fn upload_keyed(
        &self,
        key: &str,
        idempotency: &str,
        query: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, bool, Value) {
        let response = self
            .app
            .http
            .post(self.app.url(&format!("/api/v1/artifacts?{query}")))
            .bearer_auth(key)
            .header("idempotency-key", idempotency)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("upload sent");
        let status = response.status();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        (
            status,
            replayed,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// An upload that must succeed; returns the artifact.
    async fn upload_ok(&self, query: &str, bytes: Vec<u8>) -> Value {
        let (status, body) = self.upload(query, bytes).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "upload answered {status}: {body}"
        );
        body
    }

    /// `GET /artifacts/{id}/content` with extra headers.
    async fn download(&self, id: Uuid, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .app
            .http
            .get(self.app.url(&format!("/api/v1/artifacts/{id}/content")))
            .bearer_auth(ADMIN_KEY);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("download sent")
    }

    /// The whole content of artifact `id`.
    async fn content(&self, id: Uuid) -> Vec<u8> {
        let response = self.download(id, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap().to_vec()
    }

    /// Every artifact the API lists.
    async fn listed(&self) -> Vec<Value> {
        self.app.get_ok("/api/v1/artifacts?limit=200").await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn event_kinds(&self) -> Vec<String> {
        self.app
            .events()
            .await
            .into_iter()
            .map(|e| e.kind)
            .filter(|k| k.starts_with("artifact."))
            .collect()
    }

    /// Nothing of any upload is left: no object, no upload in progress, no row, no event.
    async fn assert_nothing_stored(&self) {
        self.store.assert_empty().await;
        assert_eq!(self.listed().await, Vec::<Value>::new(), "rows left");
        assert_eq!(self.event_kinds().await, Vec::<String>::new());
    }

    /// Opens a connection and sends a request head for `POST /artifacts?{query}`.
    async fn raw_upload_head(&self, query: &str, framing: &str) -> tokio::net::TcpStream {
        let addr = self.app.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/artifacts?{query} HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {ADMIN_KEY}\r\nContent-Type: application/octet-stream\r\n\
             {framing}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
    }

    /// Polls until `check` holds (a background clean-up is under way); panics after 30 s.
    async fn eventually<F: std::future::Future<Output = bool>>(
        &self,
        what: &str,
        check: impl Fn() -> F,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !check().await {
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; returns its status and JSON.
async fn read_response(stream: &mut tokio::net::TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk))
            .await
            .expect("a response within 30 s")
            .expect("read the response");
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed in the response body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..header_end + length]).unwrap_or(Value::Null);
    (status, body)
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn a_task(app: &TestApp) -> (Uuid, Uuid) {
    let project = app.create_project("p").await;
    let task = id_of(&app.create_task(project, json!({})).await);
    (project, task)
}

// --- round trips ---------------------------------------------------------------------

async fn small_and_multipart_sized_files_round_trip_with_their_sha256(
    backend: Backend,
    store: Store,
) {
    let h = Harness::spawn(backend, store).await;
    let (project, task) = a_task(&h.app).await;
    let small = random_bytes(1000);
    let large = random_bytes(20 * MIB + 12_345);

    let (status, created) = h
        .upload_as(
            Some(ADMIN_KEY),
            &format!(
                "task_id={task}&name=notes.txt&sha256={}",
                sha256_hex(&small).to_uppercase()
            ),
            Some("text/plain; charset=utf-8"),
            small.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let small_id = id_of(&created);
    assert_eq!(created["task_id"], json!(task));
    assert_eq!(
        created["project_id"],
        json!(project),
        "filled from the task"
    );
    assert_eq!(created["name"], "notes.txt");
    assert_eq!(created["content_type"], "text/plain; charset=utf-8");
    assert_eq!(created["size"], 1000);
    assert_eq!(created["sha256"], sha256_hex(&small));
    assert_eq!(
        created["links"]["self"],
        format!("/api/v1/artifacts/{small_id}")
    );
    assert_eq!(
        created["links"]["content"],
        format!("/api/v1/artifacts/{small_id}/content")
    );
    assert_eq!(
        h.app.get_ok(&format!("/api/v1/artifacts/{small_id}")).await,
        created
    );

    let big = h
        .upload_ok(
            &format!(
                "project_id={project}&name=big.bin&sha256={}",
                sha256_hex(&large)
            ),
            large.clone(),
        )
        .await;
    let big_id = id_of(&big);
    assert_eq!(big["size"], large.len());
    assert_eq!(big["task_id"], Value::Null);

    let empty = h
        .upload_ok(&format!("project_id={project}&name=empty"), Vec::new())
        .await;
    assert_eq!(empty["sha256"], sha256_hex(b""));

    let response = h.download(small_id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(headers[header::CONTENT_LENGTH], "1000");
    assert_eq!(headers[header::ETAG], format!("\"{}\"", sha256_hex(&small)));
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), small.as_slice());

    let downloaded = h.content(big_id).await;
    assert_eq!(downloaded.len(), large.len());
    assert_eq!(sha256_hex(&downloaded), sha256_hex(&large));
    assert!(h.content(id_of(&empty)).await.is_empty());

    assert_eq!(h.store.objects().await.len(), 3);
    assert!(h.store.pending().await.is_empty());
}

/// One part of a hand-built `multipart/form-data` body.
enum Part<'a> {
    Text(&'a str, String),
    File(&'a str, &'a str, Vec<u8>),
}

const BOUNDARY: &str = "agentops-test-boundary-7MA4YWxkTrZu0gW";

fn form(parts: Vec<Part<'_>>) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                        .as_bytes(),
                );
            }
            Part::File(file_name, content_type, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                         Content-Type: {content_type}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(&bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn a_multipart_form_upload_takes_its_fields_from_the_form(backend: Backend, store: Store) {
    let h = Harness::spawn(backend, store).await;
    let (_, task) = a_task(&h.app).await;
    let bytes = random_bytes(10 * MIB);
    let send = |body: Vec<u8>| async {
        let (status, body) = h
            .upload_as(
                Some(ADMIN_KEY),
                "",
                Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
                body,
            )
            .await;
        (status, body)
    };
    let with_sha = |sha: String| {
        form(vec![
            Part::Text("task_id", task.to_string()),
            Part::Text("sha256", sha),
            Part::File("report.pdf", "application/pdf", bytes.clone()),
        ])
    };

    let (status, created) = send(with_sha(sha256_hex(&bytes))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "report.pdf", "the file's name");
    assert_eq!(
        created["content_type"], "application/pdf",
        "the part's type"
    );
    assert_eq!(created["task_id"], json!(task));
    assert_eq!(h.content(id_of(&created)).await, bytes);

    // A mismatch in a form is refused like any other.
    let (status, body) = send(with_sha(sha256_hex(b"other"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "checksum_mismatch");

    // The file must come last, so everything about it is known before its bytes.
    let late = form(vec![
        Part::Text("task_id", task.to_string()),
        Part::File("a", "text/plain", b"abc".to_vec()),
        Part::Text("name", "late".to_owned()),
    ]);
    let (status, body) = send(late).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_body", "{body}");

    let (status, body) = send(form(vec![Part::Text("task_id", task.to_string())])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_form");

    assert_eq!(h.listed().await.len(), 1, "only the good upload was kept");
    assert_eq!(h.store.objects().await.len(), 1);
    assert!(h.store.pending().await.is_empty());
}

// --- ranges --------------------------------------------------------------------------

async fn range_reads_return_exactly_the_requested_bytes(store: Store) {
    let h = Harness::spawn(Backend::Sqlite, store).await;
    let (project, _) = a_task(&h.app).await;
    // Past one 8 MiB part, so a range can straddle two parts of an S3 object.
    let bytes = random_bytes(9 * MIB);
    let size = bytes.len();
    let id = id_of(
        &h.upload_ok(&format!("project_id={project}&name=r"), bytes.clone())
            .await,
    );

    let boundary = 8 * MIB;
    for (range, start, end) in [
        ("bytes=0-9".to_owned(), 0, 9),
        ("bytes=1000-1999".to_owned(), 1000, 1999),
        (
            format!("bytes={}-{}", boundary - 5, boundary + 5),
            boundary - 5,
            boundary + 5,
        ),
        ("bytes=-10".to_owned(), size - 10, size - 1),
        (format!("bytes={}-", size - 3), size - 3, size - 1),
        (
            format!("bytes={}-{}", size - 2, size + 100),
            size - 2,
            size - 1,
        ),
    ] {
        let response = h.download(id, &[("range", &range)]).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            response.headers()[header::CONTENT_RANGE],
            format!("bytes {start}-{end}/{size}"),
            "{range}"
        );
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            (end - start + 1).to_string()
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), &bytes[start..=end], "{range}");
    }

    for range in [format!("bytes={size}-"), "bytes=-0".to_owned()] {
        let response = h.download(id, &[("range", &range)]).await;
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(
            response.headers()[header::CONTENT_RANGE],
            format!("bytes */{size}")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "range_not_satisfiable");
    }

    // Several ranges, or a range for another version (If-Range), get the whole.
    let etag = format!("\"{}\"", sha256_hex(&bytes));
    for headers in [
        vec![("range", "bytes=0-1,5-6")],
        vec![("range", "bytes=0-1"), ("if-range", "\"stale\"")],
    ] {
        let response = h.download(id, &headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{headers:?}");
        assert_eq!(response.bytes().await.unwrap().len(), size);
    }
    let response = h
        .download(id, &[("range", "bytes=0-1"), ("if-range", &etag)])
        .await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);

    // A client that has the bytes already gets a 304.
    let response = h.download(id, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[header::ETAG], etag.as_str());
}

// --- refusals leave nothing ------------------------------------------------------------

async fn an_upload_over_the_limit_is_refused_with_413_and_leaves_nothing(
    backend: Backend,
    store: Store,
) {
    // Over one S3 part, so the limit is crossed during a multipart upload.
    let limit = 10 * MIB;
    let h = Harness::spawn_with(backend, store, |cfg| cfg.artifact_max_bytes = limit as u64).await;
    let (project, _) = a_task(&h.app).await;
    let query = format!("project_id={project}&name=big");

    // Declared too large: refused before a byte of the body is read.
    let mut stream = h
        .raw_upload_head(&query, &format!("Content-Length: {}", limit + 1))
        .await;
    let (status, body) = read_response(&mut stream).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");

    // Not declared (chunked): refused as soon as the limit is crossed.
    let mut stream = h
        .raw_upload_head(&query, "Transfer-Encoding: chunked")
        .await;
    let block = random_bytes(MIB);
    for _ in 0..limit / MIB {
        stream
            .write_all(format!("{:x}\r\n", block.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&block).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"1\r\nx\r\n").await.unwrap();
    let (status, body) = read_response(&mut stream).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&limit.to_string())
    );

    // Exactly at the limit is fine.
    let exact = h.upload_ok(&query, random_bytes(limit)).await;
    let id = id_of(&exact);
    h.app
        .call(Method::DELETE, &format!("/api/v1/artifacts/{id}"), None)
        .await;
    h.store.assert_empty().await;
    assert!(h.listed().await.is_empty());
}

async fn a_checksum_mismatch_is_refused_with_400_and_leaves_nothing(
    backend: Backend,
    store: Store,
) {
    let h = Harness::spawn(backend, store).await;
    let (_, task) = a_task(&h.app).await;
    let wrong = sha256_hex(b"something else");
    for size in [100, 20 * MIB] {
        let bytes = random_bytes(size);
        let (status, body) = h
            .upload(
                &format!("task_id={task}&name=x&sha256={wrong}"),
                bytes.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "checksum_mismatch");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&sha256_hex(&bytes)),
            "says what the bytes hash to: {body}"
        );
    }
    let (status, body) = h
        .upload(
            &format!("task_id={task}&name=x&sha256=not-hex"),
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"][0]["field"], "sha256");
    h.assert_nothing_stored().await;
}

async fn an_interrupted_upload_leaves_nothing(backend: Backend, store: Store) {
    let h = Harness::spawn(backend, store).await;
    let (project, _) = a_task(&h.app).await;
    let mut stream = h
        .raw_upload_head(
            &format!("project_id={project}&name=cut"),
            &format!("Content-Length: {}", 20 * MIB),
        )
        .await;
    // Past one S3 part, so a multipart upload is under way when the client goes.
    let half = random_bytes(12 * MIB);
    stream.write_all(&half).await.unwrap();
    h.eventually("the upload is under way", || async {
        !h.store.pending().await.is_empty()
    })
    .await;

    drop(stream);

    h.eventually("the broken upload is cleaned up", || async {
        h.store.pending().await.is_empty()
    })
    .await;
    h.assert_nothing_stored().await;
    // And the server is fine.
    let (status, _) = h
        .upload(&format!("project_id={project}&name=ok"), b"ok".to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn an_idempotency_key_makes_an_upload_repeat_safe(backend: Backend, store: Store) {
    let h = Harness::spawn(backend, store).await;
    let (_, task) = a_task(&h.app).await;
    let query = format!("task_id={task}&name=report.bin");
    // Past one S3 part: a repeat that is read and dropped aborts a multipart upload.
    let bytes = random_bytes(10 * MIB);

    let (status, replayed, first) = h
        .upload_keyed(ADMIN_KEY, "run-1", &query, bytes.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);

    // The same upload again (its answer was lost, say): the first artifact, stored once.
    let (status, replayed, again) = h
        .upload_keyed(ADMIN_KEY, "run-1", &query, bytes.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(replayed);
    assert_eq!(again, first);
    // Naming the SHA-256 it already has: the same.
    let with_sha = format!("{query}&sha256={}", sha256_hex(&bytes));
    let (status, replayed, again) = h
        .upload_keyed(ADMIN_KEY, "run-1", &with_sha, bytes.clone())
        .await;
    assert_eq!((status, replayed), (StatusCode::OK, true), "{again}");
    assert_eq!(again, first);

    // The key with other bytes, another name or another expected SHA-256: refused, and
    // answered only once the body is read (a client still sending it would otherwise
    // see the connection reset instead of the answer).
    let mut other = bytes.clone();
    other[5 * MIB] ^= 1;
    for (query, body) in [
        (query.clone(), other.clone()),
        (format!("task_id={task}&name=other.bin"), bytes.clone()),
        (
            format!("{query}&sha256={}", sha256_hex(&other)),
            other.clone(),
        ),
    ] {
        let (status, _, refused) = h.upload_keyed(ADMIN_KEY, "run-1", &query, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    }
    assert_eq!(h.listed().await, vec![first.clone()]);
    assert_eq!(h.event_kinds().await, vec!["artifact.created"]);
    h.eventually("the dropped copies are gone", || async {
        h.store.pending().await.is_empty() && h.store.objects().await.len() == 1
    })
    .await;
    assert_eq!(h.content(id_of(&first)).await, bytes);

    // Keys belong to the API key that used them: an agent's "run-1" is its own.
    let agent = h.app.create_key("agent").await;
    let (status, _, by_agent) = h
        .upload_keyed(&agent, "run-1", &query, b"agent".to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_agent}");
    assert_ne!(by_agent["id"], first["id"]);

    // Two uploads racing with one key: one artifact, and both answers name it.
    let small = random_bytes(64 * 1024);
    let (a, b) = tokio::join!(
        h.upload_keyed(ADMIN_KEY, "race", &query, small.clone()),
        h.upload_keyed(ADMIN_KEY, "race", &query, small.clone()),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{} {}",
        a.2,
        b.2
    );
    assert_eq!(a.2, b.2);
    assert_eq!(h.listed().await.len(), 3);
    h.eventually("the race's loser left nothing", || async {
        h.store.pending().await.is_empty() && h.store.objects().await.len() == 3
    })
    .await;
}

// --- names, owners, roles, events, listings ----------------------------------------------

async fn names_can_never_choose_where_bytes_go(backend: Backend) {
    let h = Harness::spawn(backend, Store::Local).await;
    let (project, _) = a_task(&h.app).await;
    let long = "a".repeat(256);
    for name in [
        "../../etc/passwd",
        "a/b",
        "a\\b",
        "..",
        ".",
        "line%0Abreak",
        "",
        "%20%20",
        long.as_str(),
    ] {
        let (status, body) = h
            .upload(&format!("project_id={project}&name={name}"), b"x".to_vec())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], "name", "{name}");
    }
    // A NUL is refused with the query string, before any field is read.
    let (status, body) = h
        .upload(
            &format!("project_id={project}&name=nul%00byte"),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");
    let (status, body) = h
        .upload(&format!("project_id={project}"), b"x".to_vec())
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a name is required: {body}"
    );

    // A legal but odd name is only metadata: the bytes are filed under the id.
    let odd = "..r\u{e9}sum\u{e9} (1) \"final\".txt";
    let encoded: String = odd.bytes().map(|b| format!("%{b:02X}")).collect();
    let created = h
        .upload_ok(
            &format!("project_id={project}&name={encoded}"),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(created["name"], odd);
    let id = id_of(&created);
    let Inspector::Local { root } = &h.store else {
        unreachable!()
    };
    assert_eq!(file_names(root), ["objects", "tmp"]);
    assert_eq!(file_names(&root.join("objects")), [id.to_string()]);
    let response = h.download(id, &[]).await;
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"..r_sum_ (1) _final_.txt\"; \
         filename*=UTF-8''..r%C3%A9sum%C3%A9%20%281%29%20%22final%22.txt"
    );
}

async fn an_artifact_needs_an_existing_task_or_project(backend: Backend) {
    let h = Harness::spawn(backend, Store::Local).await;
    let (project, task) = a_task(&h.app).await;
    let other = h.app.create_project("other").await;
    let missing = Uuid::now_v7();
    for (query, status, code) in [
        (format!("task_id={missing}&name=a"), 404, "task_not_found"),
        (
            format!("project_id={missing}&name=a"),
            404,
            "project_not_found",
        ),
        ("name=a".to_owned(), 422, "validation_failed"),
        (
            format!("task_id={task}&project_id={other}&name=a"),
            422,
            "validation_failed",
        ),
        ("task_id=nope&name=a".to_owned(), 400, "invalid_query"),
        (
            format!("project_id={project}&name=a&content_type=x"),
            201,
            "",
        ),
    ] {
        let (got, body) = h.upload(&query, b"x".to_vec()).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
        if !code.is_empty() {
            assert_eq!(body["error"]["code"], code, "{query}");
        }
    }
    let (status, body) = h
        .upload_as(
            Some(ADMIN_KEY),
            &format!("project_id={project}&name=a"),
            Some("not a type"),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "content_type");
    let (status, body) = h
        .upload_as(
            Some(ADMIN_KEY),
            &format!("project_id={project}&name=a"),
            None,
            b"x".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body["content_type"], "application/octet-stream",
        "the default"
    );
    assert_eq!(h.store.objects().await.len(), 2);
}

async fn roles_decide_who_uploads_reads_and_deletes(backend: Backend) {
    let h = Harness::spawn(backend, Store::Local).await;
    let (project, task) = a_task(&h.app).await;
    let viewer = h.app.create_key("viewer").await;
    let agent = h.app.create_key("agent").await;
    let other_agent = h.app.create_key("agent").await;
    let query = format!("task_id={task}&name=a.txt");

    let (status, _) = h.upload_as(None, &query, None, b"x".to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = h
        .upload_as(Some(&viewer), &query, None, b"x".to_vec())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, by_agent) = h
        .upload_as(Some(&agent), &query, None, b"agent".to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let by_agent = id_of(&by_agent);
    let by_admin = id_of(
        &h.upload_ok(&format!("project_id={project}&name=b"), b"admin".to_vec())
            .await,
    );

    for path in [
        "/api/v1/artifacts".to_owned(),
        format!("/api/v1/artifacts/{by_agent}"),
        format!("/api/v1/artifacts/{by_agent}/content"),
    ] {
        let (status, _) = h.app.call_as(Some(&viewer), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let app = &h.app;
    let delete = |key: String, id: Uuid| async move {
        app.call_as(
            Some(&key),
            Method::DELETE,
            &format!("/api/v1/artifacts/{id}"),
            None,
        )
        .await
    };
    assert_eq!(
        delete(viewer.clone(), by_agent).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = delete(other_agent.clone(), by_agent).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only its own: {body}");
    assert_eq!(
        delete(agent.clone(), by_admin).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(agent.clone(), by_agent).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(ADMIN_KEY.to_owned(), by_admin).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = delete(ADMIN_KEY.to_owned(), by_admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "artifact_not_found");

    let (status, _) = h.app.get(&format!("/api/v1/artifacts/{by_agent}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = h.download(by_agent, &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    h.store.assert_empty().await;
}

async fn uploads_and_deletes_are_events_about_their_task_and_project(backend: Backend) {
    let h = Harness::spawn(backend, Store::Local).await;
    let (project, task) = a_task(&h.app).await;
    let id = id_of(
        &h.upload_ok(&format!("task_id={task}&name=a"), b"x".to_vec())
            .await,
    );
    h.app
        .call(Method::DELETE, &format!("/api/v1/artifacts/{id}"), None)
        .await;

    let events: Vec<_> = h
        .app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("artifact."))
        .collect();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["artifact.created", "artifact.deleted"]
    );
    for event in &events {
        assert_eq!(event.task_id, Some(task));
        assert_eq!(event.project_id, Some(project));
        assert_eq!(event.data["id"], json!(id));
        assert_eq!(event.data["sha256"], sha256_hex(b"x"));
    }
    let filtered = h
        .app
        .get_ok(&format!("/api/v1/events?types=artifact.*&task_id={task}"))
        .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 2);
}

async fn listings_filter_by_task_and_project_and_page_newest_first(backend: Backend) {
    let h = Harness::spawn(backend, Store::Local).await;
    let (project, t1) = a_task(&h.app).await;
    let t2 = id_of(&h.app.create_task(project, json!({})).await);
    let other = h.app.create_project("other").await;
    let mut in_t1 = Vec::new();
    for i in 0..3 {
        in_t1.push(id_of(
            &h.upload_ok(&format!("task_id={t1}&name=t1-{i}"), vec![i])
                .await,
        ));
    }
    let in_t2 = id_of(&h.upload_ok(&format!("task_id={t2}&name=t2"), vec![9]).await);
    let in_project = id_of(
        &h.upload_ok(&format!("project_id={project}&name=p"), vec![8])
            .await,
    );
    h.upload_ok(&format!("project_id={other}&name=o"), vec![7])
        .await;

    let ids = |page: &Value| -> Vec<Uuid> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    let of_t1 = h
        .app
        .get_ok(&format!("/api/v1/artifacts?task_id={t1}"))
        .await;
    assert_eq!(ids(&of_t1), in_t1.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(of_t1["next_cursor"], Value::Null);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = h
            .app
            .get_ok(&format!(
                "/api/v1/artifacts?project_id={project}&limit=2&cursor={cursor}"
            ))
            .await;
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let mut expected = vec![in_project, in_t2];
    expected.extend(in_t1.iter().rev());
    assert_eq!(seen, expected, "newest first, each once");
    assert_eq!(h.listed().await.len(), 6);

    let (status, body) = h.app.get("/api/v1/artifacts?cursor=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_cursor");
    let (status, _) = h
        .app
        .get(&format!("/api/v1/artifacts/{}", Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let openapi = h.app.get_ok("/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/artifacts/{id}/content"]["get"].is_object());
}

// --- the sweep, readiness, presigned downloads -------------------------------------------

async fn the_sweep_removes_abandoned_uploads_and_objects_without_rows(store: Store) {
    let h = Harness::spawn(Backend::Sqlite, store).await;
    let (project, _) = a_task(&h.app).await;
    let kept = id_of(
        &h.upload_ok(&format!("project_id={project}&name=kept"), b"kept".to_vec())
            .await,
    );
    // A project's artifacts go with it; their bytes are left to the sweep.
    let doomed = h.app.create_project("doomed").await;
    h.upload_ok(&format!("project_id={doomed}&name=d"), b"d".to_vec())
        .await;
    let (status, _) = h
        .app
        .call(Method::DELETE, &format!("/api/v1/projects/{doomed}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // What a crash leaves: an object without a row, an unfinished upload.
    let orphan = Uuid::now_v7();
    match &h.store {
        Inspector::Local { root } => {
            std::fs::write(root.join("objects").join(orphan.to_string()), b"orphan").unwrap();
            std::fs::write(
                root.join("tmp").join(format!("{}.part", Uuid::now_v7())),
                b"half",
            )
            .unwrap();
            std::fs::write(root.join("objects").join("README"), b"not ours").unwrap();
        }
        Inspector::S3 { client, bucket } => {
            client
                .put_object()
                .bucket(bucket)
                .key(format!("artifacts/{orphan}"))
                .body(b"orphan".to_vec().into())
                .send()
                .await
                .unwrap();
            client
                .create_multipart_upload()
                .bucket(bucket)
                .key(format!("artifacts/{}", Uuid::now_v7()))
                .send()
                .await
                .unwrap();
            client
                .put_object()
                .bucket(bucket)
                .key("README")
                .body(b"not ours".to_vec().into())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(h.store.objects().await.len(), 4);
    assert_eq!(h.store.pending().await.len(), 1);

    // Everything is younger than the real age limit: nothing goes. (moto dates every
    // multipart upload 2010-11-10, so on S3 its upload looks abandoned already.)
    let young = sweep(&h.app.state, ORPHAN_AGE, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(young.orphans, 0);
    if store == Store::Local {
        assert_eq!(young.stale_uploads, 0);
    }

    let old = sweep(&h.app.state, Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(young.stale_uploads + old.stale_uploads, 1, "{old:?}");
    assert_eq!(
        old.orphans, 2,
        "the crash's and the deleted project's: {old:?}"
    );
    let left = h.store.objects().await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().any(|o| o.ends_with(&kept.to_string())));
    assert!(
        left.iter().any(|o| o == "README"),
        "files that are not ours stay"
    );
    assert!(h.store.pending().await.is_empty());
    assert_eq!(h.content(kept).await, b"kept");
}

async fn ready_reports_the_artifact_store(store: Store) {
    let h = Harness::spawn(Backend::Sqlite, store).await;
    let ready = h.app.get_ok("/ready").await;
    assert_eq!(ready["checks"]["storage"], "ok", "{ready}");
    assert_eq!(ready["status"], "ok");

    if store != Store::Local {
        // A bucket that does not exist: still serving, reported as degraded.
        let broken = TestApp::spawn_with(Backend::Sqlite, |cfg| {
            cfg.s3_endpoint = Some(s3_endpoint());
            cfg.s3_bucket = Some("agentops-test-no-such-bucket".to_owned());
            cfg.s3_access_key_id = Some("test".to_owned());
            cfg.s3_secret_access_key = Some("test".to_owned());
        })
        .await;
        let response = broken.http.get(broken.url("/ready")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let ready: Value = response.json().await.unwrap();
        assert_eq!(ready["status"], "degraded", "{ready}");
        assert!(
            ready["checks"]["storage"]
                .as_str()
                .unwrap()
                .starts_with("error")
        );
    }
}

async fn a_redirect_hands_out_a_presigned_url_on_s3_and_streams_locally(store: Store) {
    let h = Harness::spawn(Backend::Sqlite, store).await;
    let (project, _) = a_task(&h.app).await;
    let bytes = random_bytes(3000);
    let id = id_of(
        &h.upload_ok(&format!("project_id={project}&name=r.bin"), bytes.clone())
            .await,
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(
            h.app
                .url(&format!("/api/v1/artifacts/{id}/content?redirect=true")),
        )
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    match store {
        Store::Local => {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
        }
        Store::S3 | Store::S3Tls => {
            assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
            let location = response.headers()[header::LOCATION]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(location.contains("X-Amz-Signature"), "{location}");
            // The URL works on its own, without an API key.
            let direct = reqwest::get(&location).await.unwrap();
            assert_eq!(direct.status(), StatusCode::OK);
            assert_eq!(direct.bytes().await.unwrap().as_ref(), bytes.as_slice());
        }
    }
}

/// Generates `local_sqlite::name`, `local_postgres::name`, `s3_sqlite::name` and
/// `s3_postgres::name`, each calling `name(backend, store)`.
macro_rules! on_every_store_and_backend {
    ($($name:ident),* $(,)?) => {
        on_every_store_and_backend!(@mod local_sqlite, Sqlite, Local, $($name),*);
        on_every_store_and_backend!(@mod local_postgres, Postgres, Local, $($name),*);
        on_every_store_and_backend!(@mod s3_sqlite, Sqlite, S3, $($name),*);
        on_every_store_and_backend!(@mod s3_postgres, Postgres, S3, $($name),*);
    };
    (@mod $module:ident, $backend:ident, $store:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(agentops_testkit::Backend::$backend, super::Store::$store).await
                }
            )*
        }
    };
}

/// Generates `local::name` and `s3::name` (on SQLite), each calling `name(store)`.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Local).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::S3).await
                }
            )*
        }
    };
}

on_every_store_and_backend!(
    small_and_multipart_sized_files_round_trip_with_their_sha256,
    a_multipart_form_upload_takes_its_fields_from_the_form,
    an_upload_over_the_limit_is_refused_with_413_and_leaves_nothing,
    a_checksum_mismatch_is_refused_with_400_and_leaves_nothing,
    an_interrupted_upload_leaves_nothing,
    an_idempotency_key_makes_an_upload_repeat_safe,
);

/// The same paths over HTTPS, the way production object storage is reached.
mod s3_tls {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_and_multipart_sized_files_round_trip_with_their_sha256() {
        super::small_and_multipart_sized_files_round_trip_with_their_sha256(
            agentops_testkit::Backend::Sqlite,
            super::Store::S3Tls,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn range_reads_return_exactly_the_requested_bytes() {
        super::range_reads_return_exactly_the_requested_bytes(super::Store::S3Tls).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checksum_mismatch_is_refused_with_400_and_leaves_nothing() {
        super::a_checksum_mismatch_is_refused_with_400_and_leaves_nothing(
            agentops_testkit::Backend::Sqlite,
            super::Store::S3Tls,
        )
        .await
    }
}

on_every_store!(
    range_reads_return_exactly_the_requested_bytes,
    the_sweep_removes_abandoned_uploads_and_objects_without_rows,
    ready_reports_the_artifact_store,
    a_redirect_hands_out_a_presigned_url_on_s3_and_streams_locally,
);

crate::on_both_backends!(
    names_can_never_choose_where_bytes_go,
    an_artifact_needs_an_existing_task_or_project,
    roles_decide_who_uploads_reads_and_deletes,
    uploads_and_deletes_are_events_about_their_task_and_project,
    listings_filter_by_task_and_project_and_page_newest_first,
);
