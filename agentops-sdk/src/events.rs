//! The live event stream: a WebSocket subscription that survives disconnections.
//!
//! The server sends every matching event in strictly increasing id order, first from the
//! log (everything after `since`), then live. [`Subscription`] remembers the id of the
//! last event it delivered; whenever the connection ends (network failure, server
//! restart, the server closing a consumer that fell behind with code 4000, or 45 s of
//! silence where the server pings every 15 s) it reconnects with `since` = that id, so the
//! consumer sees every event exactly once, in order. Events at or below that id (which a
//! correct server never sends) are dropped as a second line of defence.
//!
//! A subscription is lazy: it starts on its first poll, or when
//! [`Subscription::start`] is awaited. Without `since` it then finds the id of the newest
//! event in the log (`GET /api/v1/events/latest`) and
//! resumes from there: events committed after the start are delivered even if the first
//! connection fails.
//!
//! Errors that retrying cannot fix (401, 403, an invalid filter, or a `since` older than
//! the server's retention: 410 `cursor_expired`, after which the consumer should reload
//! the state it tracks and subscribe again) end the stream after being yielded once. Transient failures are not yielded: they are logged (`tracing`,
//! target `agentops_sdk::events`) and retried with jittered exponential back-off between
//! the client's retry delays, forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rand::Rng;
use reqwest::StatusCode;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Client;
use crate::error::{Error, Result};
use crate::types::{Event, EventFilter};

/// Close code the server uses for a consumer too slow to keep up.
const CLOSE_TOO_SLOW: u16 = 4000;
/// Reconnect when nothing (not even a ping) arrived for this long.
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
const NO_EVENT: i64 = i64::MIN;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A live, resumable stream of events; get one with
/// [`Events::subscribe`](crate::resources::Events::subscribe).
///
/// It implements [`Stream`]`<Item = `[`Result`]`<`[`Event`]`>>` and never ends by itself
/// unless the server refuses the subscription for good (bad key, bad filter). Dropping it
/// closes the connection.
pub struct Subscription {
    /// The state, while no poll is in progress.
    state: Option<Box<State>>,
    /// The poll in progress, which owns the state until it finishes.
    pending: Option<Pin<Box<dyn Future<Output = Polled> + Send>>>,
    last_id: Arc<AtomicI64>,
}

type Polled = (Option<Result<Event>>, Box<State>);

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("last_id", &self.last_id())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(client: Client, filter: EventFilter) -> Self {
        let last_id = Arc::new(AtomicI64::new(filter.since.unwrap_or(NO_EVENT)));
        let state = State {
            client,
            resume: filter.since,
            filter: EventFilter {
                since: None,
                ..filter
            },
            socket: None,
            failures: 0,
            last_id: last_id.clone(),
            done: false,
        };
        Self {
            state: Some(Box::new(state)),
            pending: None,
            last_id,
        }
    }

    /// Fixes the starting point and connects now, instead of on the first poll.
    ///
    /// A subscription is lazy: without `since`, "events after the subscription started"
    /// means after its first poll. Await this before causing events you want to see.
    /// Transient failures are retried; an error is returned only when the server refuses
    /// the subscription for good (the stream then ends).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::EventFilter;
    /// let mut events = client.events().subscribe(EventFilter::new().types(["task.*"]));
    /// events.start().await?;
    /// // ...create tasks: their events will all be seen.
    /// # Ok(()) }
    /// ```
    pub async fn start(&mut self) -> Result<()> {
        match self.state.as_mut() {
            Some(state) => state.prepare().await,
            None => Ok(()),
        }
    }

    /// Where the subscription stands: every matching event up to this id has been
    /// delivered (it is the last event delivered, the `since` it started from, or, as
    /// the server's pings say, the id up to which nothing else matched). Store it to
    /// resume from there in another process with [`EventFilter::since`].
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) {
    /// use agentops_sdk::types::EventFilter;
    /// let events = client.events().subscribe(EventFilter::new().since(42));
    /// assert_eq!(events.last_id(), Some(42));
    /// # }
    /// ```
    pub fn last_id(&self) -> Option<i64> {
        match self.last_id.load(Ordering::Acquire) {
            NO_EVENT => None,
            id => Some(id),
        }
    }
}

impl Stream for Subscription {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.pending.is_none() {
            let Some(mut state) = self.state.take() else {
                return Poll::Ready(None);
            };
            self.pending = Some(Box::pin(async move {
                let item = state.next().await;
                (item, state)
            }));
        }
        let Some(pending) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match pending.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((item, state)) => {
                self.pending = None;
                if item.is_some() {
                    self.state = Some(state);
                }
                Poll::Ready(item)
            }
        }
    }
}

struct State {
    client: Client,
    /// The filter without `since`.
    filter: EventFilter,
    /// Resume after this id; `None` until the start point is known.
    resume: Option<i64>,
    socket: Option<Socket>,
    /// Consecutive failures, for the back-off.
    failures: u32,
    last_id: Arc<AtomicI64>,
    done: bool,
}

enum Step {
    Deliver(Event),
    Yield(Error),
    Continue,
}

impl State {
    /// Finds the start point and connects, retrying transient failures.
    async fn prepare(&mut self) -> Result<()> {
        while !self.done {
            if self.resume.is_none() {
                match newest_id(&self.client).await {
                    Ok(id) => {
                        self.resume = Some(id);
                        self.last_id.store(id, Ordering::Release);
                    }
                    Err(err) => self.retry_or_give_up(err).await?,
                }
            } else if self.socket.is_none() {
                let resume = self.resume.unwrap_or(0);
                match connect(&self.client, &self.filter, resume).await {
                    Ok(socket) => self.socket = Some(socket),
                    Err(err) => self.retry_or_give_up(err).await?,
                }
            } else {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn retry_or_give_up(&mut self, err: Error) -> Result<()> {
        if is_permanent(&err) {
            self.done = true;
            return Err(err);
        }
        tracing::info!(error = %err, "cannot reach the event stream; retrying");
        self.backoff().await;
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if self.done {
                return None;
            }
            let step = self.step().await;
            match step {
                Step::Deliver(event) => return Some(Ok(event)),
                Step::Yield(err) => return Some(Err(err)),
                Step::Continue => {}
            }
        }
    }

    async fn step(&mut self) -> Step {
        let Some(resume) = self.resume else {
            return match newest_id(&self.client).await {
                Ok(id) => {
                    self.resume = Some(id);
                    self.last_id.store(id, Ordering::Release);
                    Step::Continue
                }
                Err(err) => self.failed(err).await,
            };
        };
        let Some(socket) = self.socket.as_mut() else {
            return match connect(&self.client, &self.filter, resume).await {
                Ok(socket) => {
                    tracing::debug!(since = resume, "event stream connected");
                    self.socket = Some(socket);
                    Step::Continue
                }
                Err(err) => self.failed(err).await,
            };
        };
        let message = match tokio::time::timeout(SILENCE_LIMIT, socket.next()).await {
            Ok(message) => message,
            Err(_) => {
                tracing::warn!("event stream silent for {SILENCE_LIMIT:?}; reconnecting");
                self.drop_socket().await;
                return Step::Continue;
            }
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                self.failures = 0;
                match serde_json::from_str::<Event>(text.as_str()) {
                    Ok(event) if event.id <= resume => Step::Continue,
                    Ok(event) => {
                        self.resume = Some(event.id);
                        self.last_id.store(event.id, Ordering::Release);
                        Step::Deliver(event)
                    }
                    Err(err) => Step::Yield(Error::decode(err, text.as_bytes())),
                }
            }
            Some(Ok(Message::Close(frame))) => {
                self.socket = None;
                match frame {
                    Some(frame) if u16::from(frame.code) == CLOSE_TOO_SLOW => {
                        tracing::warn!(reason = %frame.reason, "event stream fell behind; resuming");
                        Step::Continue
                    }
                    frame => {
                        tracing::info!(?frame, "event stream closed by the server; reconnecting");
                        self.backoff().await;
                        Step::Continue
                    }
                }
            }
            Some(Ok(Message::Ping(payload))) => {
                // Answered by tungstenite. The server's pings carry the id up to which
                // it has sent every event or filtered it out: a filter that matched
                // nothing for long then still resumes from near the head, not from an
                // old event that retention may have pruned (`cursor_expired`).
                self.failures = 0;
                if let Some(position) = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    && resume < position
                {
                    self.resume = Some(position);
                    self.last_id.store(position, Ordering::Release);
                }
                Step::Continue
            }
            Some(Ok(_)) => {
                // Pongs, binary frames.
                self.failures = 0;
                Step::Continue
            }
            Some(Err(err)) => {
                tracing::info!(error = %err, "event stream connection failed; reconnecting");
                self.socket = None;
                self.backoff().await;
                Step::Continue
            }
            None => {
                tracing::info!("event stream connection ended; reconnecting");
                self.socket = None;
                self.backoff().await;
                Step::Continue
            }
        }
    }

    /// Handles a failure to start: retried later unless it cannot get better.
    async fn failed(&mut self, err: Error) -> Step {
        match self.retry_or_give_up(err).await {
            Ok(()) => Step::Continue,
            Err(err) => Step::Yield(err),
        }
    }

    async fn drop_socket(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
        }
    }

    async fn backoff(&mut self) {
        let inner = &self.client.inner;
        let exp = inner
            .min_delay
            .saturating_mul(1u32 << self.failures.min(20))
            .min(inner.max_delay);
        // Full jitter between half and all of the delay, so many subscribers that lost the
        // same server do not come back in step.
        let millis = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX).max(1);
        let delay = Duration::from_millis(rand::rng().random_range(millis / 2..=millis));
        self.failures = self.failures.saturating_add(1);
        tokio::time::sleep(delay).await;
    }
}

fn is_permanent(err: &Error) -> bool {
    match err {
        Error::Api { status, .. } => {
            status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS
        }
        Error::Config(_) => true,
        _ => false,
    }
}

async fn connect(client: &Client, filter: &EventFilter, since: i64) -> Result<Socket> {
    let mut url = client
        .inner
        .base
        .join("api/v1/events/stream")
        .map_err(|err| Error::Config(format!("cannot build the stream URL: {err}")))?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|()| Error::Config("cannot use a WebSocket scheme on the base URL".into()))?;
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in filter.query_pairs() {
            query.append_pair(key, &value);
        }
        query.append_pair("since", &since.to_string());
    }
    if scheme == "wss" {
        ensure_crypto_provider();
    }
    let mut request = url.as_str().into_client_request()?;
    if let Some(key) = &client.inner.api_key {
        let value = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| Error::Config("the API key contains invalid characters".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    // tungstenite zeroes its whole read buffer before every read (128 KiB by default);
    // events are small, so a 16 KiB buffer costs an eighth of that per message.
    let config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(Duration::from_secs(30), connecting).await {
        Err(_) => Err(Error::Timeout),
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut headers = reqwest::header::HeaderMap::new();
            if let Some(value) = response.headers().get("retry-after")
                && let Ok(value) = reqwest::header::HeaderValue::from_bytes(value.as_bytes())
            {
                headers.insert(reqwest::header::RETRY_AFTER, value);
            }
            let body = response.body().clone().unwrap_or_default();
            Err(crate::client::api_error(status, &headers, &body))
        }
        Ok(Err(err)) => Err(err.into()),
    }
}

/// rustls needs a process-wide crypto provider when more than one is compiled in; install
/// ours only if the application has not chosen one.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// The id of the newest event in the log (0 for an empty log).
async fn newest_id(client: &Client) -> Result<i64> {
    Ok(client.events().latest().await?.last_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    #[test]
    fn only_client_errors_other_than_429_are_permanent() {
        let api = |status: StatusCode| Error::Api {
            status,
            code: String::new(),
            message: String::new(),
            details: Vec::new(),
            retry_after: None,
        };
        assert!(is_permanent(&api(StatusCode::UNAUTHORIZED)));
        assert!(is_permanent(&api(StatusCode::BAD_REQUEST)));
        assert!(!is_permanent(&api(StatusCode::TOO_MANY_REQUESTS)));
        assert!(!is_permanent(&api(StatusCode::SERVICE_UNAVAILABLE)));
        assert!(!is_permanent(&Error::Timeout));
    }

    #[test]
    fn a_close_code_reads_back_as_its_number() {
        assert_eq!(u16::from(CloseCode::from(CLOSE_TOO_SLOW)), CLOSE_TOO_SLOW);
    }
}
