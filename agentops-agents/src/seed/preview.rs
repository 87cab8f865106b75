//! Previews: a server a task starts in its sandbox (`start_preview`, or a `serve` step),
//! shown to people through the platform at `/preview/<short id>/` for a limited time.
//!
//! The server listens on a port inside the task's sandbox, which has a network namespace
//! of its own; `socat` there relays that port to a Unix socket in a directory bound into
//! the sandbox. The Seed serves every preview it holds on one HTTP listener
//! ([`PreviewConfig::bind`]), at `/p/<secret>/…`, relaying each request to the right
//! socket; it registers that address with the platform (`POST /api/v1/previews`), whose
//! proxy the people use. The task's workspace is kept while its preview lives, even
//! after the task ends. When the preview expires, the server is stopped (its sandbox
//! with it) and the workspace removed; the platform answers `410` from then on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentops_sdk::TaskContext;
use agentops_sdk::types::{PreviewIn, PreviewOut};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::sandbox::{Sandbox, Server, StepError};

/// Where a Seed serves its previews to the platform.
#[derive(Debug, Clone)]
pub struct PreviewConfig {
    /// The address its preview listener binds (`SEED_PREVIEW_BIND`; a free loopback port
    /// by default).
    pub bind: SocketAddr,
    /// The base URL the platform's API reaches that listener at (`SEED_PREVIEW_URL`),
    /// if not `http://<bind>/`; its host must be one the API forwards to
    /// (`AGENTOPS_PREVIEW_UPSTREAMS`).
    pub public_url: Option<String>,
    /// How long previews are shown (the platform's default if `None`).
    pub ttl: Option<Duration>,
    /// Longest a server may take to answer HTTP after it starts.
    pub ready_within: Duration,
}

impl Default for PreviewConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            ttl: None,
            ready_within: Duration::from_secs(30),
        }
    }
}

/// A server being shown, with the sandbox (and so the workspace) it runs in.
struct Shown {
    socket: PathBuf,
    port: u16,
    _server: Server,
    _sandbox: Arc<Sandbox>,
}

type Registry = Arc<Mutex<HashMap<String, Arc<Shown>>>>;

/// The Seed's preview listener and the previews it holds.
#[derive(Clone)]
pub(crate) struct PreviewHost {
    base: String,
    shown: Registry,
    config: PreviewConfig,
}

impl std::fmt::Debug for PreviewHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewHost")
            .field("base", &self.base)
            .finish()
    }
}

impl PreviewHost {
    /// Binds the listener and serves it until the process ends.
    pub(crate) async fn start(config: PreviewConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let base = match &config.public_url {
            Some(url) if url.ends_with('/') => url.clone(),
            Some(url) => format!("{url}/"),
            None => format!("http://{addr}/"),
        };
        let shown: Registry = Arc::default();
        let registry = shown.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let registry = registry.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let registry = registry.clone();
                        async move { Ok::<_, std::convert::Infallible>(relay(&registry, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        tracing::info!(%base, "previews are served to the platform from here");
        Ok(Self {
            base,
            shown,
            config,
        })
    }

    /// Starts `command` (a server on `port`) in the task's sandbox and registers it with
    /// the platform; it is shown until the preview expires.
    pub(crate) async fn show(
        &self,
        task: &TaskContext,
        sandbox: Arc<Sandbox>,
        command: &str,
        port: u16,
    ) -> Result<PreviewOut, StepError> {
        let ttl = self.config.ttl;
        // The server's CPU time may not outlast its preview by much.
        let lifetime = ttl.unwrap_or(Duration::from_secs(86_400)) + Duration::from_secs(60);
        let server = sandbox
            .serve(command, port, &[], lifetime, self.config.ready_within)
            .await?;
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let shown = Arc::new(Shown {
            socket: server.socket().to_owned(),
            port,
            _server: server,
            _sandbox: sandbox,
        });
        self.lock().insert(secret.clone(), shown);
        let input = PreviewIn {
            task_id: task.id(),
            upstream: format!("{}p/{secret}/", self.base),
            ttl_seconds: ttl.map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX)),
            port: Some(i32::from(port)),
        };
        let preview = match task.client().previews().create(input).await {
            Ok(preview) => preview,
            Err(err) => {
                self.lock().remove(&secret);
                let message = format!("the platform did not take the preview: {err}");
                return Err(if err.is_retryable() {
                    StepError::Transient(message)
                } else {
                    StepError::Failed(message)
                });
            }
        };
        let left = (preview.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        let registry = self.shown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(left).await;
            // Dropping it stops the server and removes the workspace.
            registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&secret);
        });
        Ok(preview)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Shown>>> {
        self.shown.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Answer = Response<BoxBody<Bytes, hyper::Error>>;

fn text(status: StatusCode, message: &str) -> Answer {
    let mut answer = Response::new(
        Full::new(Bytes::from(format!("{message}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *answer.status_mut() = status;
    answer
}

/// Relays `/p/<secret>/<rest>` to the server of that preview.
async fn relay(registry: &Registry, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    let Some((secret, rest)) = path.strip_prefix("/p/").and_then(|p| p.split_once('/')) else {
        return text(StatusCode::NOT_FOUND, "no such preview");
    };
    let shown = registry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(secret)
        .cloned();
    let Some(shown) = shown else {
        return text(StatusCode::GONE, "this preview is over: its server is gone");
    };
    let stream = match tokio::net::UnixStream::connect(&shown.socket).await {
        Ok(stream) => stream,
        Err(err) => {
            return text(
                StatusCode::BAD_GATEWAY,
                &format!("the server does not answer: {err}"),
            );
        }
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(err) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("the server does not answer: {err}"),
                );
            }
        };
    tokio::spawn(connection);
    let target = match request.uri().query() {
        Some(query) => format!("/{rest}?{query}"),
        None => format!("/{rest}"),
    };
    let (mut parts, body) = request.into_parts();
    parts.uri = match target.parse() {
        Ok(uri) => uri,
        Err(_) => return text(StatusCode::BAD_REQUEST, "this path cannot be relayed"),
    };
    if let Ok(host) = format!("127.0.0.1:{}", shown.port).parse() {
        parts.headers.insert(hyper::header::HOST, host);
    }
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(answer) => answer.map(BodyExt::boxed),
        Err(err) => text(
            StatusCode::BAD_GATEWAY,
            &format!("the server failed to answer: {err}"),
        ),
    }
}
