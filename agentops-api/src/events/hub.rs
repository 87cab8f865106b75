//! The per-process hub: turns event arrivals into one ordered, gapless broadcast.
//!
//! The hub holds `cursor`, the highest id it has broadcast; everything at or below it
//! has been broadcast or is a hole that will never fill (an id drawn by a write that
//! rolled back). Writers commit in any order, so an event may arrive above
//! `cursor + 1`: it waits in `pending` until the ids below it arrive too, which is the
//! usual case (the writers that drew them are committing at that moment). If they have
//! not arrived after a short while ([`SETTLE_FIRST`], doubling while nothing is
//! settled), the hub asks the log how far it is settled (see
//! [`store::events::settled_head`]) and broadcasts what the log holds up to there; the
//! ids the log does not hold there are holes. The same read runs on the poll timer, so
//! an event whose publication was lost is still delivered; the poll also moves into the
//! log what a replica of an earlier version (one with an outbox, before migration 27)
//! left queued while a release rolled.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use agentops_sdk::types::Event;

use super::LiveEvent;
use crate::store;

/// Page size of log reads.
const PAGE: u64 = 1000;
/// How often the log is polled while Redis is configured but unreachable.
const DEGRADED_POLL: Duration = Duration::from_millis(200);
/// How long an event waits for the ids below it before the hub looks in the log.
const SETTLE_FIRST: Duration = Duration::from_millis(10);
/// The longest wait between two looks while ids below a pending event stay unsettled
/// (a transaction that drew them is still open).
const SETTLE_MAX: Duration = Duration::from_millis(200);
/// Events held at most while they wait for lower ids (an id drawn by a transaction that
/// stays open holds back every later one); above that the highest are let go and read
/// from the log once settled.
const PENDING_MAX: usize = 50_000;

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
    /// `cursor` for the rest of the process, stored before each broadcast.
    pub delivered: Arc<AtomicI64>,
    pub poll_every: Duration,
    /// Set while the Redis subscription is up; `None` without Redis.
    pub fanout_up: Option<Arc<AtomicBool>>,
    /// The events waiting for lower ids.
    pub waiting: Waiting,
}

/// Events above the cursor that wait for the ids below them, and when to look for those
/// in the log.
pub(super) struct Waiting {
    /// Events above `cursor + 1`.
    pending: BTreeMap<i64, Event>,
    /// The highest id let go from `pending` (see [`PENDING_MAX`]), to be read from the
    /// log.
    let_go: i64,
    /// When to look in the log for what the pending events wait for.
    settle_at: Option<Instant>,
    /// The wait before the next look, doubling while nothing settles.
    settle_wait: Duration,
}

impl Default for Waiting {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
            let_go: 0,
            settle_at: None,
            settle_wait: SETTLE_FIRST,
        }
    }
}

pub(super) async fn run(mut hub: Hub) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_poll = Instant::now();
    loop {
        let settle_at = hub.waiting.settle_at;
        tokio::select! {
            input = hub.input.recv() => match input {
                None => return,
                Some(Input::Events(events)) => hub.ingest(events),
                Some(Input::CatchUp) => {
                    hub.catch_up().await;
                    last_poll = Instant::now();
                }
            },
            () = tokio::time::sleep_until(settle_at.unwrap_or_else(Instant::now)),
                if settle_at.is_some() => hub.catch_up().await,
            _ = tick.tick() => {
                if last_poll.elapsed() >= hub.poll_interval() {
                    hub.move_legacy_outbox().await;
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

    /// Takes events that committed: broadcasts those that follow the cursor, holds the
    /// others until the ids below them arrive or settle.
    fn ingest(&mut self, events: Vec<Event>) {
        for event in events {
            if event.id > self.cursor {
                self.waiting.pending.entry(event.id).or_insert(event);
            }
        }
        while self.waiting.pending.len() > PENDING_MAX {
            if let Some((id, _)) = self.waiting.pending.pop_last() {
                self.waiting.let_go = self.waiting.let_go.max(id);
            }
        }
        self.release();
    }

    /// Broadcasts the pending events that follow the cursor without a gap, and arms or
    /// disarms the look in the log for the rest.
    fn release(&mut self) {
        while let Some(entry) = self.waiting.pending.first_entry() {
            if *entry.key() <= self.cursor {
                entry.remove();
            } else if *entry.key() == self.cursor + 1 {
                let event = entry.remove();
                self.broadcast(event);
            } else {
                break;
            }
        }
        if self.waiting.pending.is_empty() && self.cursor >= self.waiting.let_go {
            self.waiting.settle_at = None;
            self.waiting.settle_wait = SETTLE_FIRST;
        } else if self.waiting.settle_at.is_none() {
            self.waiting.settle_at = Some(Instant::now() + self.waiting.settle_wait);
        }
    }

    /// Broadcasts whatever the log has settled beyond the cursor (the ids it does not
    /// hold up to its settled head are holes), then what was pending above it.
    async fn catch_up(&mut self) {
        let before = self.cursor;
        if let Err(err) = self.read_settled().await {
            tracing::warn!(error = %err, "cannot read the event log");
        }
        self.waiting.settle_at = None;
        if self.cursor == before {
            // Nothing settled: look again later, less often.
            self.waiting.settle_wait = (self.waiting.settle_wait * 2).min(SETTLE_MAX);
        } else {
            self.waiting.settle_wait = SETTLE_FIRST;
        }
        self.release();
    }

    /// Moves what a replica of an earlier version left in its outbox into the log, where
    /// the read that follows finds it (see [`store::events::move_legacy_outbox`]).
    async fn move_legacy_outbox(&self) {
        loop {
            match store::events::move_legacy_outbox(&self.db, PAGE).await {
                Ok(moved) if moved == PAGE => {}
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot move the outbox of an earlier version");
                    return;
                }
            }
        }
    }

    async fn read_settled(&mut self) -> Result<(), DbErr> {
        let head = store::events::settled_head(&self.db, self.cursor).await?;
        while self.cursor < head {
            let events = store::events::list_between(&self.db, self.cursor, head, PAGE).await?;
            let full = events.len() as u64 == PAGE;
            for event in events {
                if event.id > self.cursor {
                    self.waiting.pending.remove(&event.id);
                    self.broadcast(event);
                }
            }
            if !full {
                self.advance(head);
            }
        }
        Ok(())
    }

    /// Moves the cursor past holes.
    fn advance(&mut self, to: i64) {
        if to > self.cursor {
            self.cursor = to;
            self.delivered.store(to, Ordering::SeqCst);
        }
    }

    fn broadcast(&mut self, event: Event) {
        self.advance(event.id);
        // Nobody listening: a sent event would be dropped, so its frame is not even made
        // (a subscriber gets only what is sent after it subscribed).
        if self.live.receiver_count() == 0 {
            return;
        }
        // An error only means the last listener just left.
        let _ = self.live.send(LiveEvent::new(event));
    }
}
