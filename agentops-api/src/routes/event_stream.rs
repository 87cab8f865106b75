//! One WebSocket subscriber: replay from the log, then live events, with no gap and no
//! duplicate at the seam.
//!
//! The session subscribes to the hub *before* it reads the log, so every event committed
//! after that read reaches it live; it remembers the highest id it has accounted for and
//! skips anything at or below it. The hub's stream is itself gapless and ordered, so once
//! live the session only compares ids.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

use crate::events::LiveEvent;
use crate::events::filter::EventFilter;
use crate::events::ws::{self, ClientFrame};
use crate::state::AppState;

/// Close code sent to a subscriber that fell too far behind (application range).
pub const CLOSE_TOO_SLOW: u16 = 4000;
/// Close code sent when the server shuts down ("service restart").
pub const CLOSE_RESTART: u16 = 1012;
/// Close code sent when the stream's API key was revoked or has expired (application
/// range): the client must not resume with the same key.
pub const CLOSE_KEY_ENDED: u16 = 4001;
/// Close code sent when the log cannot be read ("internal error").
const CLOSE_UNAVAILABLE: u16 = 1011;
/// How long a write may wait for a client's socket to take it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the closing frame and shutdown may wait.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const REPLAY_PAGE: u64 = 500;
/// Most live events written per flush.
const SEND_BATCH: usize = 64;
/// Live batches after which the session acts on what the client said even if events
/// keep coming (a full batch also makes it look).
const ANSWER_EVERY_BATCHES: u32 = 16;

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
    /// Close with [`CLOSE_TOO_SLOW`] and this reason: the subscriber fell too far behind.
    TooSlow(String),
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
        // "From now on" starts after every write answered before the connection.
        Start::Now => crate::domain::events::newest_id(state).await?,
    };
    Ok(Prepared { receiver, last })
}

/// What the session's reading side tells its writing side.
enum Control {
    /// Time to ping the client.
    Ping,
    /// The client said something the session must answer.
    Client(ClientFrame),
}

/// Runs a subscriber session until the client leaves, lags or the server shuts down.
///
/// Client frames are read by a task of their own, which also keeps the ping clock: the
/// writing side wakes only for events and for what that task hands it, and writes each
/// event's frame, encoded once for every subscriber, straight to the socket.
///
/// The session's key (`key_id`) is looked at again with each ping: a stream outlives
/// neither the revocation of its key (or of the key a session key was made from) nor its
/// expiry, on whichever replica the key was revoked.
pub async fn run(
    reader: ws::ReadHalf,
    mut writer: ws::WriteHalf,
    state: AppState,
    filter: EventFilter,
    prepared: Prepared,
    key_id: uuid::Uuid,
) {
    let (control_tx, mut control) = mpsc::channel::<Control>(8);
    let ping_every = Duration::from_millis(state.cfg.event_ping_ms.max(1));
    let reading = tokio::spawn(read_client(reader, control_tx, ping_every));
    let key = KeyCheck {
        state: &state,
        key_id,
    };
    let outcome = serve(&mut writer, &mut control, &state, &filter, prepared, &key).await;
    // A subscriber closed for being slow may take as long to read its way to the close
    // frame, which tells it where to resume, as it may take for any frame. A stopping
    // server does not wait that long.
    let close = match outcome {
        Outcome::Gone => None,
        Outcome::Close(code, reason) => Some((code, reason, CLOSE_TIMEOUT)),
        Outcome::TooSlow(reason) => {
            state.metrics.slow_subscribers.inc();
            Some((CLOSE_TOO_SLOW, reason, WRITE_TIMEOUT))
        }
    };
    if let Some((code, reason, patience)) = close {
        let _ =
            tokio::time::timeout(patience, writer.write_all(&ws::close_frame(code, &reason))).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer.shutdown()).await;
    reading.abort();
}

/// Reads client frames and keeps the ping clock; ends when the client goes (dropping
/// `control`, which the session sees) or after a frame that ends the session.
async fn read_client(
    mut reader: ws::ReadHalf,
    control: mpsc::Sender<Control>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    loop {
        let next = ws::next_client_frame(&mut reader);
        tokio::pin!(next);
        let frame = loop {
            tokio::select! {
                frame = &mut next => break frame,
                _ = ping.tick() => {
                    if control.send(Control::Ping).await.is_err() {
                        return;
                    }
                }
            }
        };
        let Some(frame) = frame else { return };
        let last = !matches!(frame, ClientFrame::Ping(_));
        if control.send(Control::Client(frame)).await.is_err() || last {
            return;
        }
    }
}

async fn serve(
    writer: &mut ws::WriteHalf,
    control: &mut mpsc::Receiver<Control>,
    state: &AppState,
    filter: &EventFilter,
    prepared: Prepared,
    key: &KeyCheck<'_>,
) -> Outcome {
    let mut closing = state.events.closing();
    // One waiter for the whole session, not one per loop turn.
    let closing = closing.changed();
    tokio::pin!(closing);
    // `last`: every event with an id at or below it has been sent or does not match.
    let Prepared {
        mut receiver,
        mut last,
    } = prepared;
    let mut caught_up_once = false;
    let mut frames: Vec<Bytes> = Vec::new();
    loop {
        // Replay the log after `last`.
        loop {
            let page =
                match crate::domain::events::page_after(state, last, filter, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(err) => return unavailable(&err),
                };
            let full = page.len() as u64 == REPLAY_PAGE;
            frames.clear();
            for event in page {
                last = event.id;
                if filter.matches(&event)
                    && let Ok(json) = serde_json::to_string(&event)
                {
                    frames.push(ws::text_frame(&json));
                }
            }
            if send(writer, &frames).await.is_err() {
                return Outcome::Gone;
            }
            // A long replay must not keep the client's pings waiting.
            if let Some(outcome) = answer_waiting(writer, control, last, key).await {
                return outcome;
            }
            if !full {
                break;
            }
        }
        // Then live.
        let mut live_sent = false;
        let mut batches = 0u32;
        loop {
            tokio::select! {
                // Events first: under load the other branches are not even polled.
                biased;
                received = receiver.recv() => match received {
                    Ok(live) => {
                        // Take whatever else is already waiting and write it at once.
                        let mut lagged = None;
                        frames.clear();
                        let mut next = Some(live);
                        while let Some(live) = next.take() {
                            if live.event.id > last {
                                last = live.event.id;
                                if filter.matches(&live.event) {
                                    frames.push(live.frame.clone());
                                }
                            }
                            if frames.len() < SEND_BATCH {
                                match receiver.try_recv() {
                                    Ok(live) => next = Some(live),
                                    Err(TryRecvError::Lagged(missed)) => lagged = Some(missed),
                                    Err(TryRecvError::Empty | TryRecvError::Closed) => {}
                                }
                            }
                        }
                        if send(writer, &frames).await.is_err() {
                            return Outcome::Gone;
                        }
                        // Under a steady flow of events the branch below is not polled:
                        // look at what the client said every few batches (not after
                        // each: that check was 4% of the stream's CPU).
                        batches = batches.wrapping_add(1);
                        if (batches.is_multiple_of(ANSWER_EVERY_BATCHES) || frames.len() == SEND_BATCH)
                            && let Some(outcome) = answer_waiting(writer, control, last, key).await
                        {
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
                said = control.recv() => {
                    if let Some(outcome) = answer(writer, said, last, key).await {
                        return outcome;
                    }
                }
                _ = &mut closing => {
                    return Outcome::Close(CLOSE_RESTART, format!("server restarting; reconnect with since={last}"));
                }
            }
        }
    }
}

/// Writes `frames`, giving up on a client whose socket has taken nothing for
/// [`WRITE_TIMEOUT`]: it is gone or stuck, and must not hold its session forever.
async fn send(writer: &mut ws::WriteHalf, frames: &[Bytes]) -> std::io::Result<()> {
    ws::write_frames(writer, frames, WRITE_TIMEOUT).await
}

/// Acts on what the reading side said (`None`: the client is gone); `Some` when the
/// session ends. Pings carry `last` (every event up to it was sent or filtered out), so
/// a subscriber whose filter matched nothing for long still knows where to resume.
async fn answer(
    writer: &mut ws::WriteHalf,
    said: Option<Control>,
    last: i64,
    key: &KeyCheck<'_>,
) -> Option<Outcome> {
    let reply = match said {
        None => return Some(Outcome::Gone),
        Some(Control::Ping) => {
            if key.ended().await {
                return Some(Outcome::Close(
                    CLOSE_KEY_ENDED,
                    "the API key was revoked or has expired".to_owned(),
                ));
            }
            ws::ping_frame(last.to_string().as_bytes())
        }
        Some(Control::Client(ClientFrame::Ping(payload))) => ws::pong_frame(&payload),
        Some(Control::Client(ClientFrame::Close(code))) => {
            // Echo the client's code (RFC 6455, section 5.5.1), then end.
            let code = code.unwrap_or(ws::close_code::NORMAL);
            return Some(Outcome::Close(code, String::new()));
        }
        Some(Control::Client(ClientFrame::Violation(code, reason))) => {
            return Some(Outcome::Close(code, reason.to_owned()));
        }
    };
    send(writer, std::slice::from_ref(&reply))
        .await
        .err()
        .map(|_| Outcome::Gone)
}

/// Acts on whatever the reading side has already said, without waiting.
async fn answer_waiting(
    writer: &mut ws::WriteHalf,
    control: &mut mpsc::Receiver<Control>,
    last: i64,
    key: &KeyCheck<'_>,
) -> Option<Outcome> {
    loop {
        let said = match control.try_recv() {
            Ok(said) => Some(said),
            Err(mpsc::error::TryRecvError::Empty) => return None,
            Err(mpsc::error::TryRecvError::Disconnected) => None,
        };
        if let Some(outcome) = answer(writer, said, last, key).await {
            return Some(outcome);
        }
    }
}

/// The session's key, looked at again at each ping.
struct KeyCheck<'a> {
    state: &'a AppState,
    key_id: uuid::Uuid,
}

impl KeyCheck<'_> {
    /// Whether the key (or the key a session key was made from) was revoked or has
    /// expired. A database that cannot be read ends nothing: the stream goes on and the
    /// next ping looks again.
    async fn ended(&self) -> bool {
        match crate::domain::keys::still_valid(self.state, self.key_id).await {
            Ok(valid) => {
                if !valid {
                    self.state.keys.evict(self.key_id);
                }
                !valid
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot look at a stream's API key again");
                false
            }
        }
    }
}

fn too_slow(missed: u64, last: i64) -> Outcome {
    Outcome::TooSlow(format!(
        "subscriber too slow ({missed} events behind); reconnect with since={last}"
    ))
}

fn unavailable(err: &sea_orm::DbErr) -> Outcome {
    tracing::warn!(error = %err, "event stream cannot read the log");
    Outcome::Close(
        CLOSE_UNAVAILABLE,
        "the event log is unavailable; retry shortly".to_owned(),
    )
}
