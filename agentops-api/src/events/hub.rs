//! The per-process hub: turns event arrivals into one ordered, gapless broadcast.
//!
//! The hub holds `cursor`, the highest id it has broadcast; everything at or below it
//! has been broadcast or is a hole left by a rolled-back transaction. An event above
//! `cursor + 1` means it missed some: because ids are in commit order, every lower id is
//! already committed or abandoned, so one read of the log fills the gap for good.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use agentops_sdk::types::Event;

use super::LiveEvent;
use crate::store;

/// Page size of log reads.
const PAGE: u64 = 1000;
/// How often the log is polled while Redis is configured but unreachable.
const DEGRADED_POLL: Duration = Duration::from_millis(200);

/// What the hub is told.
pub(super) enum Input {
    /// Events that committed (here or on another replica), in any order.
    Events(Vec<Event>),
    /// Read the log now (after a Redis reconnection, when messages may have been lost).
    CatchUp,
}

pub(super) struct Hub {
    pub db: DatabaseConnection,
    pub input: mpsc::Receiver<Input>,
    pub live: broadcast::Sender<Arc<LiveEvent>>,
    pub cursor: i64,
    pub poll_every: Duration,
    /// Set while the Redis subscription is up; `None` without Redis.
    pub fanout_up: Option<Arc<AtomicBool>>,
}

pub(super) async fn run(mut hub: Hub) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_poll = Instant::now();
    loop {
        tokio::select! {
            input = hub.input.recv() => match input {
                None => return,
                Some(Input::Events(events)) => hub.ingest(events).await,
                Some(Input::CatchUp) => {
                    hub.catch_up().await;
                    last_poll = Instant::now();
                }
            },
            _ = tick.tick() => {
                if last_poll.elapsed() >= hub.poll_interval() {
                    hub.catch_up().await;
                    last_poll = Instant::now();
                }
            }
        }
    }
}

impl Hub {
    fn poll_interval(&self) -> Duration {
        match &self.fanout_up {
            Some(up) if !up.load(Ordering::Relaxed) => self.poll_every.min(DEGRADED_POLL),
            _ => self.poll_every,
        }
    }

    async fn ingest(&mut self, mut events: Vec<Event>) {
        events.sort_by_key(|event| event.id);
        for event in events {
            if event.id <= self.cursor {
                continue;
            }
            if event.id > self.cursor + 1 && !self.fill_gap(event.id).await {
                // The log is unreachable: the poll will deliver this event in order later.
                return;
            }
            if event.id > self.cursor {
                self.broadcast(event);
            }
        }
    }

    /// Broadcasts everything the log holds between the cursor and `before`; the ids it
    /// does not hold there are holes that will never fill. Returns `false` if the log is
    /// unreachable.
    async fn fill_gap(&mut self, before: i64) -> bool {
        loop {
            let missing = u64::try_from(before - 1 - self.cursor).unwrap_or(0);
            if missing == 0 {
                return true;
            }
            let want = missing.min(PAGE);
            match store::events::list_after(&self.db, self.cursor, want).await {
                Ok(events) => {
                    let exhausted =
                        (events.len() as u64) < want || events.iter().any(|e| e.id >= before);
                    for event in events.into_iter().filter(|e| e.id < before) {
                        self.broadcast(event);
                    }
                    if exhausted {
                        self.cursor = before - 1;
                        return true;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the event log to fill a gap");
                    return false;
                }
            }
        }
    }

    /// Broadcasts whatever the log has beyond the cursor.
    async fn catch_up(&mut self) {
        loop {
            match store::events::list_after(&self.db, self.cursor, PAGE).await {
                Ok(events) => {
                    let full = events.len() as u64 == PAGE;
                    for event in events {
                        self.broadcast(event);
                    }
                    if !full {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot poll the event log");
                    return;
                }
            }
        }
    }

    fn broadcast(&mut self, event: Event) {
        self.cursor = event.id;
        // Nobody listening: a sent event would be dropped, so its frame is not even made
        // (a subscriber gets only what is sent after it subscribed).
        if self.live.receiver_count() == 0 {
            return;
        }
        // An error only means the last listener just left.
        let _ = self.live.send(LiveEvent::new(event));
    }
}
