//! [`Client`]: configuration, authentication, and the one place where requests are sent,
//! decoded and retried.
//!
//! # Retries
//!
//! A request is retried (exponential back-off with jitter, capped, at most
//! `max_retries` times) when the error [`is_retryable`](crate::Error::is_retryable) *and*
//! repeating the request cannot apply it twice:
//!
//! - reads, `PATCH`, `DELETE`, heartbeats and agent registration are naturally
//!   idempotent;
//! - creates of projects and tasks, posts of thread messages, claims, and uploads of
//!   bytes held in memory carry an `Idempotency-Key` (a UUID drawn once per call and
//!   reused by every retry, or the caller's own), so the server answers a repeat with
//!   the first entity, or with the tasks the first claim still holds;
//! - `complete` is idempotent for one claim token; `fail`, `block`, `cancel` and
//!   `unblock` are fenced: a repeat of one that was applied is refused (409), never
//!   applied twice;
//! - key creation is not repeat-safe: it is retried only when the request certainly did
//!   not reach the server (connection refused) or was refused before any work (429).
//!
//! A 429 or 503 with `Retry-After` waits what the server asked (capped by the maximum
//! delay) instead of the computed back-off.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::types::{ErrorBody, HealthOut};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RETRIES: usize = 3;
const DEFAULT_MIN_DELAY: Duration = Duration::from_millis(100);
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);

/// A client of the AgentOps API. Cheap to clone (the connection pool is shared), `Send`
/// and `Sync`.
///
/// ```no_run
/// # async fn example() -> agentops_sdk::Result<()> {
/// use agentops_sdk::Client;
///
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8080")
///     .api_key("aok_...")
///     .build()?;
/// let health = client.health().await?;
/// println!("server {} is {}", health.version, health.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) api_key: Option<String>,
    /// `Authorization: Bearer <api_key>`, sent with every request.
    pub(crate) auth: Option<HeaderValue>,
    pub(crate) max_retries: usize,
    pub(crate) min_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field(
                "api_key",
                &self.inner.api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("max_retries", &self.inner.max_retries)
            .finish()
    }
}

/// The `Authorization` value of an API key, marked sensitive (never logged).
fn bearer(key: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.trim()))
        .map_err(|_| Error::Config("the API key contains invalid characters".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Builds a [`Client`]; get one with [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    base_url: Option<String>,
    api_key: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: usize,
    min_delay: Duration,
    max_delay: Duration,
    user_agent: Option<String>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            min_delay: DEFAULT_MIN_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            user_agent: None,
        }
    }
}

impl ClientBuilder {
    /// The server's address, e.g. `http://127.0.0.1:8080` or `https://agentops.example.com`
    /// (any path prefix is kept: `https://host/prefix` serves `/prefix/api/v1/...`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API key sent as `Authorization: Bearer <key>`. Without one only `health` and
    /// `ready` work.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The longest a single request may take, retries excluded (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest opening a connection may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a failed request that is safe to repeat is retried (default 3; 0
    /// turns retries off).
    pub fn max_retries(mut self, retries: usize) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first and the longest delay between retries (default 100 ms and 10 s); the
    /// delay doubles from the first up to the longest, with jitter.
    pub fn retry_delays(mut self, first: Duration, max: Duration) -> Self {
        self.min_delay = first;
        self.max_delay = max.max(first);
        self
    }

    /// The `User-Agent` header (default `agentops-sdk/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] if the base URL is missing or not an `http(s)` URL, or the API
    /// key is not a valid header value.
    pub fn build(self) -> Result<Client> {
        let raw = self
            .base_url
            .ok_or_else(|| Error::Config("no base URL (set `base_url` or AGENTOPS_URL)".into()))?;
        let mut base = Url::parse(raw.trim())
            .map_err(|err| Error::Config(format!("base URL `{raw}` is not a URL: {err}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base URL `{raw}` must start with http:// or https://"
            )));
        }
        // Join relative paths under the prefix: `https://host/prefix` + `api/v1/...`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        let auth = self.api_key.as_deref().map(bearer).transpose()?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(
                self.user_agent
                    .unwrap_or_else(|| format!("agentops-sdk/{}", env!("CARGO_PKG_VERSION"))),
            )
            .build()
            .map_err(|err| Error::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                api_key: self.api_key.map(|k| k.trim().to_owned()),
                auth,
                max_retries: self.max_retries,
                min_delay: self.min_delay,
                max_delay: self.max_delay,
            }),
        })
    }
}

/// Whether a request may be sent again after an error that leaves its fate unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Repeating cannot apply it twice: retry every retryable error.
    Safe,
    /// Repeating could apply it twice: retry only when it certainly was not processed.
    Unsafe,
}

impl Repeat {
    fn allows(self, err: &Error) -> bool {
        match self {
            Repeat::Safe => err.is_retryable(),
            Repeat::Unsafe => err.is_connect() || err.is_rate_limited(),
        }
    }
}

/// One request, ready to be sent (and re-sent) as many times as needed.
pub(crate) struct Call {
    method: Method,
    url: Url,
    body: Option<Bytes>,
    content_type: Option<String>,
    headers: Vec<(&'static str, String)>,
    idempotency_key: Option<String>,
    repeat: Repeat,
}

impl Call {
    /// Appends `segment` to the path, percent-encoded (a `/` or `..` in it stays part of
    /// the one segment).
    pub(crate) fn segment(mut self, segment: &str) -> Self {
        if let Ok(mut segments) = self.url.path_segments_mut() {
            segments.pop_if_empty().push(segment);
        }
        self
    }

    /// Adds `key=value` to the query string.
    pub(crate) fn query(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.url.query_pairs_mut().append_pair(key, value.as_ref());
        self
    }

    /// Adds `key=value` to the query string when there is a value.
    pub(crate) fn query_opt(self, key: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.query(key, value.to_string()),
            None => self,
        }
    }

    /// Sends `body` as JSON.
    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|err| Error::Config(format!("cannot serialise the request: {err}")))?;
        self.body = Some(Bytes::from(bytes));
        self.content_type = Some("application/json".to_owned());
        Ok(self)
    }

    /// Sends `body` as it is, with `content_type`.
    pub(crate) fn raw_body(mut self, body: Bytes, content_type: String) -> Self {
        self.body = Some(body);
        self.content_type = Some(content_type);
        self
    }

    /// Adds a request header.
    pub(crate) fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Sends an `Idempotency-Key` drawn now, the same on every retry.
    pub(crate) fn idempotent_create(self) -> Self {
        self.with_idempotency_key(uuid::Uuid::new_v4().to_string())
    }

    /// Sends the caller's `Idempotency-Key`, the same on every retry.
    pub(crate) fn with_idempotency_key(mut self, key: String) -> Self {
        self.idempotency_key = Some(key);
        self.repeat = Repeat::Safe;
        self
    }

    /// Marks the request as unsafe to repeat.
    pub(crate) fn not_repeatable(mut self) -> Self {
        self.repeat = Repeat::Unsafe;
        self
    }
}

impl Client {
    /// Starts configuring a client.
    ///
    /// ```no_run
    /// # fn example() -> agentops_sdk::Result<()> {
    /// use std::time::Duration;
    /// let client = agentops_sdk::Client::builder()
    ///     .base_url("http://127.0.0.1:8080")
    ///     .api_key(std::env::var("AGENTOPS_API_KEY").unwrap_or_default())
    ///     .timeout(Duration::from_secs(10))
    ///     .max_retries(5)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment: `AGENTOPS_URL` (default
    /// `http://127.0.0.1:8080`) and `AGENTOPS_API_KEY` (required).
    ///
    /// # Errors
    /// [`Error::Config`] if `AGENTOPS_API_KEY` is unset or empty, or the URL is invalid.
    ///
    /// ```no_run
    /// # fn example() -> agentops_sdk::Result<()> {
    /// let client = agentops_sdk::Client::from_env()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Client> {
        let url = std::env::var("AGENTOPS_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
        let key = std::env::var("AGENTOPS_API_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| Error::Config("AGENTOPS_API_KEY is not set".into()))?;
        Client::builder().base_url(url).api_key(key).build()
    }

    /// The server's base URL, as configured (with a trailing `/`).
    ///
    /// ```no_run
    /// # fn example(client: agentops_sdk::Client) {
    /// println!("talking to {}", client.base_url());
    /// # }
    /// ```
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The same client acting with another API key: it shares this one's connection
    /// pool and settings, so a front end serving many people (each with their own key or
    /// session) makes one per request at no cost.
    ///
    /// ```no_run
    /// # fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let as_person = client.with_api_key("aok_…")?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] if the key holds characters a header cannot carry.
    pub fn with_api_key(&self, key: &str) -> Result<Client> {
        let key = key.trim();
        Ok(Client {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                base: self.inner.base.clone(),
                api_key: Some(key.to_owned()),
                auth: Some(bearer(key)?),
                max_retries: self.inner.max_retries,
                min_delay: self.inner.min_delay,
                max_delay: self.inner.max_delay,
            }),
        })
    }

    /// Whether the process is up (`GET /health`, no API key needed).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// assert_eq!(client.health().await?.status, "ok");
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Result<HealthOut> {
        self.send(self.call(Method::GET, "health")).await
    }

    /// Whether the server can serve requests (`GET /ready`): its database (and other
    /// dependencies) answer. A server that is up but not ready answers 503, returned as
    /// an [`Error::Api`] after the retries.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let ready = client.ready().await?;
    /// println!("database: {:?}", ready.checks.get("database"));
    /// # Ok(()) }
    /// ```
    pub async fn ready(&self) -> Result<HealthOut> {
        self.send(self.call(Method::GET, "ready")).await
    }

    /// A request to `path` (relative to the base URL, no leading `/`).
    pub(crate) fn call(&self, method: Method, path: &str) -> Call {
        let url = self
            .inner
            .base
            .join(path)
            .unwrap_or_else(|_| self.inner.base.clone());
        Call {
            method,
            url,
            body: None,
            content_type: None,
            headers: Vec::new(),
            idempotency_key: None,
            repeat: Repeat::Safe,
        }
    }

    /// Sends `call` with retries and decodes the JSON answer.
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let (_, body) = self.send_raw(&call).await?;
        serde_json::from_slice(&body).map_err(|err| Error::decode(err, &body))
    }

    /// Sends `call` with retries and returns the JSON answer and whether the server said
    /// it replayed an earlier create.
    pub(crate) async fn send_with_replay<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<(T, bool)> {
        let (headers, body) = self.send_raw(&call).await?;
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let value = serde_json::from_slice(&body).map_err(|err| Error::decode(err, &body))?;
        Ok((value, replayed))
    }

    /// Sends `call` with retries, expecting no body (204).
    pub(crate) async fn send_empty(&self, call: Call) -> Result<()> {
        self.send_raw(&call).await.map(|_| ())
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.inner.min_delay)
            .with_max_delay(self.inner.max_delay)
            .with_max_times(self.inner.max_retries)
            .with_jitter()
    }

    /// Sends `call` with retries until the answer's head arrives, and returns the
    /// response with its body still to be read (for downloads).
    pub(crate) async fn send_for_stream(&self, call: Call) -> Result<reqwest::Response> {
        let max_delay = self.inner.max_delay;
        let call = &call;
        (|| async move {
            let response = self
                .request(call)
                .send()
                .await
                .map_err(Error::from_reqwest)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(Error::from_reqwest)?;
            Err(api_error(status, &headers, &body))
        })
        .retry(self.backoff())
        .when(|err| call.repeat.allows(err))
        .adjust(|err, delay| {
            delay.map(|d| err.retry_after().map_or(d, |asked| asked.min(max_delay)))
        })
        .await
    }

    /// Sends `call` once with a streamed `body` (it cannot be replayed, so no retries)
    /// and decodes the JSON answer.
    pub(crate) async fn send_streamed_body<T: DeserializeOwned>(
        &self,
        call: Call,
        body: reqwest::Body,
    ) -> Result<T> {
        let response = self
            .request(&call)
            .body(body)
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
        if !status.is_success() {
            return Err(api_error(status, &headers, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|err| Error::decode(err, &bytes))
    }

    /// The request for `call`, body excepted.
    fn request(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone());
        if let Some(auth) = &self.inner.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        if let Some(content_type) = &call.content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        request
    }

    async fn send_raw(&self, call: &Call) -> Result<(HeaderMap, Bytes)> {
        let max_delay = self.inner.max_delay;
        (|| self.send_once(call))
            .retry(self.backoff())
            .when(|err| call.repeat.allows(err))
            .adjust(|err, delay| {
                // Honour Retry-After, but never beyond our cap nor past the last retry.
                delay.map(|d| err.retry_after().map_or(d, |asked| asked.min(max_delay)))
            })
            .notify(|err, delay| {
                tracing::debug!(
                    method = %call.method,
                    url = %call.url,
                    error = %err,
                    ?delay,
                    "retrying AgentOps request"
                );
            })
            .await
    }

    async fn send_once(&self, call: &Call) -> Result<(HeaderMap, Bytes)> {
        let mut request = self.request(call);
        if let Some(body) = &call.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(Error::from_reqwest)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::from_reqwest)?;
        if status.is_success() {
            Ok((headers, body))
        } else {
            Err(api_error(status, &headers, &body))
        }
    }
}

/// Turns an error answer into [`Error::Api`], whatever its body.
pub(crate) fn api_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => Error::Api {
            status,
            code: error.code,
            message: error.message,
            details: error.details,
            retry_after,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(1024)])
                .trim()
                .to_owned();
            Error::Api {
                status,
                code: format!("http_{}", status.as_u16()),
                message: if text.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("error without a body")
                        .to_owned()
                } else {
                    text
                },
                details: Vec::new(),
                retry_after,
            }
        }
    }
}
