//! Event fan-out: committed events reach every live subscriber of every replica, in id
//! order, with no gap and no duplicate.
//!
//! The event log in the database is the source of truth (see [`crate::store::events`]
//! for why its ids are in commit order). Fan-out only makes delivery fast:
//!
//! - A transaction's events are in the log when it commits, except on PostgreSQL when
//!   another transaction was numbering events at that moment: then they wait in the
//!   outbox and this process's `sequencer` moves them into the log right after.
//! - Once in the log, events go to this process's `hub` directly and, when
//!   `REDIS_URL` is set, to the Redis channel every replica subscribes to.
//! - Each replica's hub turns whatever arrives (local commits, Redis messages, possibly
//!   out of order or duplicated) into one gapless, ordered stream: an event whose
//!   predecessors it has not seen makes it read the missing ids from the log first. It
//!   also polls the log on a timer (often while Redis is unreachable), so an event whose
//!   publication was lost is still delivered, a little later.
//! - WebSocket sessions subscribe to that stream ([`tokio::sync::broadcast`]) after
//!   replaying the log from the client's `since`.
//!
//! Publishing never fails or delays a write: a full queue or an unreachable Redis only
//! means subscribers get the event from the log a poll interval later.

pub mod filter;
mod hub;
pub mod redis_fanout;
mod sequencer;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{broadcast, mpsc, watch};

use agentops_sdk::types::Event;

use crate::config::ApiConfig;
use redis_fanout::RedisFanout;

/// One committed event, serialised once for every subscriber.
#[derive(Debug)]
pub struct LiveEvent {
    /// The event.
    pub event: Event,
    /// Its WebSocket text frame, the same bytes for every subscriber (server frames are
    /// not masked), cheap to clone.
    pub frame: bytes::Bytes,
}

impl LiveEvent {
    fn new(event: Event) -> Arc<Self> {
        let frame = ws::text_frame(&serde_json::to_string(&event).unwrap_or_default());
        Arc::new(Self { event, frame })
    }
}

/// The fan-out of one process. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    inner: Arc<Inner>,
}

struct Inner {
    hub_input: mpsc::Sender<hub::Input>,
    /// `None` on SQLite, whose events are in the log at commit.
    sequencer: Option<sequencer::Sequencer>,
    live: broadcast::Sender<Arc<LiveEvent>>,
    redis: Option<RedisFanout>,
    closing: watch::Sender<bool>,
    redis_lag: Histogram,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Events {
    /// Starts the hub (and the Redis publisher and subscriber if `REDIS_URL` is set).
    pub async fn start(db: DatabaseConnection, cfg: &ApiConfig) -> anyhow::Result<Self> {
        let (live, _) = broadcast::channel(usize::try_from(cfg.event_buffer).unwrap_or(4096));
        let (hub_input, hub_rx) = mpsc::channel(16_384);
        let redis = match cfg
            .redis_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
        {
            Some(url) => Some(RedisFanout::connect(url, cfg)?),
            None => None,
        };
        let cursor = crate::store::events::max_id(&db).await?;
        let poll_every = Duration::from_millis(cfg.event_poll_ms);
        let sequencer = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| sequencer::Sequencer::new(db.clone()));
        let mut tasks = vec![tokio::spawn(hub::run(hub::Hub {
            db,
            input: hub_rx,
            live: live.clone(),
            cursor,
            poll_every,
            fanout_up: redis.as_ref().map(RedisFanout::subscribed_flag),
        }))];
        // 0.1 ms to about 3.3 s.
        let redis_lag = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        if let Some(redis) = &redis {
            tasks.extend(redis.spawn(hub_input.clone(), redis_lag.clone()));
        }
        let (closing, _) = watch::channel(false);
        let events = Self {
            inner: Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
                if let Some(sequencer) = &sequencer {
                    let weak = weak.clone();
                    tasks.push(tokio::spawn(sequencer.clone().run(
                        poll_every,
                        move |events, committed_at| {
                            if let Some(inner) = weak.upgrade() {
                                publish_logged(&inner, events, committed_at);
                            }
                        },
                    )));
                }
                Inner {
                    hub_input,
                    sequencer,
                    live,
                    redis,
                    closing,
                    redis_lag,
                    tasks,
                }
            }),
        };
        Ok(events)
    }

    /// Hands what a transaction's commit did with its events to the fan-out: events in
    /// the log are published, queued ones wake the sequencer. Never blocks and never fails.
    pub fn committed(&self, appended: crate::store::Appended) {
        match appended {
            crate::store::Appended::Logged(events) => {
                publish_logged(&self.inner, events, Utc::now());
            }
            crate::store::Appended::Queued(_) => {
                if let Some(sequencer) = &self.inner.sequencer {
                    sequencer.committed(Utc::now());
                }
            }
        }
    }

    /// Returns once every event whose transaction committed before this call is in the
    /// log (at once on SQLite, and on PostgreSQL when the outbox is empty). Readers of
    /// the log that must see every write answered before them call it first.
    pub async fn flush(&self) -> Result<(), DbErr> {
        match &self.inner.sequencer {
            Some(sequencer) => sequencer.flush().await,
            None => Ok(()),
        }
    }

    /// How long events took from their commit (on any replica) to their arrival here
    /// over Redis; empty without Redis.
    pub fn redis_lag(&self) -> Histogram {
        self.inner.redis_lag.clone()
    }

    /// A receiver of the ordered, gapless stream of events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.inner.live.subscribe()
    }

    /// Resolves when the server starts shutting down, so sessions can close cleanly.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Tells every session the server is shutting down.
    pub fn close_sessions(&self) {
        let _ = self.inner.closing.send(true);
    }

    /// The state of the fan-out, for `/ready`: `Ok` with a description, or the error.
    pub async fn check(&self) -> Result<String, String> {
        match &self.inner.redis {
            None => Ok("ok (in-process)".to_owned()),
            Some(redis) => redis.check().await.map(|()| "ok (redis)".to_owned()),
        }
    }
}

/// Publishes events that are in the log, whose transactions committed at `committed_at`.
fn publish_logged(inner: &Inner, events: Vec<Event>, committed_at: DateTime<Utc>) {
    if events.is_empty() {
        return;
    }
    if let Some(redis) = &inner.redis {
        redis.publish(&events, committed_at);
    }
    // A full queue drops the hint; the hub's next log poll delivers the events.
    let _ = inner.hub_input.try_send(hub::Input::Events(events));
}
