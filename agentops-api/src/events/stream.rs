//! One WebSocket subscriber: replay from the log, then live events, with no gap and no
//! duplicate at the seam.
//!
//! The session subscribes to the hub *before* it reads the log, so every event committed
//! after that read reaches it live; it remembers the highest id it has accounted for and
//! skips anything at or below it. The hub's stream is itself gapless and ordered, so once
//! live the session only compares ids.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::oneshot;

use super::LiveEvent;
use super::filter::EventFilter;
use crate::state::AppState;
use crate::store;

/// Close code sent to a subscriber that fell too far behind (application range).
pub const CLOSE_TOO_SLOW: u16 = 4000;
/// Close code sent when the server shuts down ("service restart").
pub const CLOSE_RESTART: u16 = 1012;
const PING_EVERY: Duration = Duration::from_secs(15);
const REPLAY_PAGE: u64 = 500;
/// Most live events written per flush.
const SEND_BATCH: usize = 64;

/// Where the stream starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// After this id: replay the log from there.
    After(i64),
    /// Only events committed from now on.
    Now,
}

enum Outcome {
    /// The client went away or a send failed.
    Gone,
    /// Close with this code and reason.
    Close(u16, String),
}

/// A session's starting point, fixed before the WebSocket handshake completes: events
/// committed after the client sees the handshake's answer are always delivered.
pub struct Prepared {
    receiver: tokio::sync::broadcast::Receiver<Arc<LiveEvent>>,
    last: i64,
}

/// Subscribes to the live stream, then resolves `start` (reading the log's head for
/// [`Start::Now`]): subscribing first means nothing committed after that read is missed.
/// A `since` from before what retention has pruned is refused (`cursor_expired`).
pub async fn prepare(
    state: &AppState,
    start: Start,
) -> Result<Prepared, crate::error::DomainError> {
    let receiver = state.events.subscribe();
    let last = match start {
        Start::After(id) => {
            crate::domain::events::check_cursor(&state.db, id).await?;
            id
        }
        Start::Now => store::events::max_id(&state.db).await?,
    };
    Ok(Prepared { receiver, last })
}

/// Runs a subscriber session until the client leaves, lags or the server shuts down.
///
/// Reading the client's frames (pongs, its close) happens in a task of its own that
/// only wakes when the client sends something; the sending side is woken once per live
/// event and, with nothing else to poll, stays cheap at thousands of subscribers.
pub async fn run(socket: WebSocket, state: AppState, filter: EventFilter, prepared: Prepared) {
    let (mut sink, mut incoming) = socket.split();
    let (gone_tx, mut gone) = oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        // Clients have nothing to say: pongs and anything else are ignored (tungstenite
        // answers pings and the closing handshake itself while reading).
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        drop(gone_tx);
    });
    let outcome = serve(&mut sink, &mut gone, &state, &filter, prepared).await;
    if let Outcome::Close(code, reason) = outcome {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            })))
            .await;
    }
    let _ = sink.close().await;
    reader.abort();
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

async fn serve(
    sink: &mut Sink,
    gone: &mut oneshot::Receiver<()>,
    state: &AppState,
    filter: &EventFilter,
    prepared: Prepared,
) -> Outcome {
    let mut closing = state.events.closing();
    // One waiter for the whole session, not one per loop turn.
    let closing = closing.changed();
    tokio::pin!(closing);
    let id_filter = store::events::IdFilter {
        project_id: filter.project_id,
        task_id: filter.task_id,
        agent_id: filter.agent_id,
        exclude_keys: !filter.include_keys,
    };
    // `last`: every event with an id at or below it has been sent or does not match.
    let Prepared {
        mut receiver,
        mut last,
    } = prepared;
    let mut caught_up_once = false;
    loop {
        // Replay the log after `last`.
        loop {
            let page =
                match store::events::list_after_where(&state.db, last, &id_filter, REPLAY_PAGE)
                    .await
                {
                    Ok(page) => page,
                    Err(err) => return unavailable(&err),
                };
            let full = page.len() as u64 == REPLAY_PAGE;
            for event in page {
                last = event.id;
                if filter.matches(&event) {
                    let Ok(json) = serde_json::to_string(&event) else {
                        continue;
                    };
                    if sink.feed(Message::Text(json.into())).await.is_err() {
                        return Outcome::Gone;
                    }
                }
            }
            if sink.flush().await.is_err() {
                return Outcome::Gone;
            }
            if !full {
                break;
            }
        }
        // Then live.
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let mut live_sent = false;
        loop {
            tokio::select! {
                // Events first: under load the other branches are not even polled.
                biased;
                received = receiver.recv() => match received {
                    Ok(live) => {
                        // Take whatever else is already waiting and write it in one flush.
                        let mut batch = vec![live];
                        let mut lagged = None;
                        while batch.len() < SEND_BATCH {
                            match receiver.try_recv() {
                                Ok(live) => batch.push(live),
                                Err(TryRecvError::Lagged(missed)) => {
                                    lagged = Some(missed);
                                    break;
                                }
                                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                            }
                        }
                        if let Some(outcome) = deliver(sink, filter, &mut last, &batch).await {
                            return outcome;
                        }
                        live_sent = true;
                        if let Some(missed) = lagged {
                            return too_slow(missed, last);
                        }
                    }
                    Err(RecvError::Lagged(_)) if !live_sent && !caught_up_once => {
                        // Events piled up during a long replay: catch up from the log
                        // once more rather than calling the client slow.
                        caught_up_once = true;
                        receiver = state.events.subscribe();
                        break;
                    }
                    Err(RecvError::Lagged(missed)) => return too_slow(missed, last),
                    Err(RecvError::Closed) => {
                        return Outcome::Close(CLOSE_RESTART, format!("server stopping; reconnect with since={last}"));
                    }
                },
                _ = &mut closing => {
                    return Outcome::Close(CLOSE_RESTART, format!("server restarting; reconnect with since={last}"));
                }
                _ = &mut *gone => return Outcome::Gone,
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return Outcome::Gone;
                    }
                }
            }
        }
    }
}

/// Sends the events of `batch` that are new and match, then flushes once.
async fn deliver(
    sink: &mut Sink,
    filter: &EventFilter,
    last: &mut i64,
    batch: &[Arc<LiveEvent>],
) -> Option<Outcome> {
    let mut pending = false;
    for live in batch {
        if live.event.id <= *last {
            continue;
        }
        *last = live.event.id;
        if filter.matches(&live.event) {
            if sink.feed(Message::Text(live.json.clone())).await.is_err() {
                return Some(Outcome::Gone);
            }
            pending = true;
        }
    }
    if pending && sink.flush().await.is_err() {
        return Some(Outcome::Gone);
    }
    None
}

fn too_slow(missed: u64, last: i64) -> Outcome {
    Outcome::Close(
        CLOSE_TOO_SLOW,
        format!("subscriber too slow ({missed} events behind); reconnect with since={last}"),
    )
}

fn unavailable(err: &sea_orm::DbErr) -> Outcome {
    tracing::warn!(error = %err, "event stream cannot read the log");
    Outcome::Close(
        1011,
        "the event log is unavailable; retry shortly".to_owned(),
    )
}
