//! Event fan-out: committed events reach every live subscriber of every replica, in id
//! order, with no gap and no duplicate.
//!
//! The event log in the database is the source of truth (see [`crate::store::events`]
//! for how its ids are given out and when an id is settled). Fan-out only makes delivery
//! fast:
//!
//! - A transaction's events are in the log when it commits; it then hands them to this
//!   process's `hub` directly and, when `REDIS_URL` is set, to the Redis channel every
//!   replica subscribes to.
//! - Each replica's hub turns whatever arrives (local commits, Redis messages, in any
//!   order, possibly duplicated) into one gapless, ordered stream. Concurrent writers
//!   commit in any order, so an event can arrive before a lower id: the hub holds it
//!   until the lower ids arrive, or until the log shows them settled (committed, or
//!   never to exist: a rolled-back write leaves a hole). It also polls the log on a
//!   timer (often while Redis is unreachable), so an event whose publication was lost
//!   is still delivered, a little later.
//! - WebSocket sessions subscribe to that stream ([`tokio::sync::broadcast`]) after
//!   replaying the log from the client's `since`.
//!
//! Publishing never fails or delays a write: a full queue or an unreachable Redis only
//! means subscribers get the event from the log a poll interval later.

pub mod filter;
mod hub;
pub mod redis_fanout;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{broadcast, mpsc, watch};

use agentops_sdk::types::Event;

use crate::config::ApiConfig;
use redis_fanout::RedisFanout;

/// How long [`Events::flush`] waits for the events committed before it to settle.
pub const FLUSH_PATIENCE: Duration = Duration::from_secs(10);

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
    db: DatabaseConnection,
    /// The hub's cursor: every id at or below it has been broadcast or will never exist.
    delivered: Arc<AtomicI64>,
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
        let cursor = crate::store::events::max_id(&db, 0).await?;
        let delivered = Arc::new(AtomicI64::new(cursor));
        let poll_every = Duration::from_millis(cfg.event_poll_ms);
        let mut tasks = vec![tokio::spawn(hub::run(hub::Hub {
            db: db.clone(),
            input: hub_rx,
            live: live.clone(),
            cursor,
            delivered: delivered.clone(),
            poll_every,
            fanout_up: redis.as_ref().map(RedisFanout::subscribed_flag),
            waiting: hub::Waiting::default(),
        }))];
        // 0.1 ms to about 3.3 s.
        let redis_lag = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        if let Some(redis) = &redis {
            tasks.extend(redis.spawn(hub_input.clone(), redis_lag.clone()));
        }
        let (closing, _) = watch::channel(false);
        Ok(Self {
            inner: Arc::new(Inner {
                hub_input,
                db,
                delivered,
                live,
                redis,
                closing,
                redis_lag,
                tasks,
            }),
        })
    }

    /// Hands a committed transaction's events (with their ids) to the fan-out. Never
    /// blocks and never fails.
    pub fn committed(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if let Some(redis) = &self.inner.redis {
            redis.publish(&events, Utc::now());
        }
        // A full queue drops the hint; the hub's next log poll delivers the events.
        let _ = self.inner.hub_input.try_send(hub::Input::Events(events));
    }

    /// The hub's cursor: every event with an id at or below it has been broadcast, or the
    /// id will never be used. Reads of the log may go that far even where the database
    /// cannot yet show the id settled (see [`crate::store::events::list_after_where`]).
    pub fn delivered(&self) -> i64 {
        self.inner.delivered.load(Ordering::SeqCst)
    }

    /// Returns once every event whose transaction committed before this call is settled
    /// (PostgreSQL; at once on SQLite, whose ids are in commit order): a read of the log
    /// that starts afterwards, capped at the settled head, includes them. Readers of the
    /// log that must see every write answered before them call it first.
    ///
    /// Usually the hub has already delivered them, or the log shows them settled at the
    /// first look. An id drawn by a transaction that has not ended yet holds the settled
    /// head back until it ends; after [`FLUSH_PATIENCE`] the call gives up with a
    /// connection error (a 503), as for an outage.
    pub async fn flush(&self) -> Result<(), DbErr> {
        let db = &self.inner.db;
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let target = crate::store::events::newest_visible(db).await?;
        let deadline = tokio::time::Instant::now() + FLUSH_PATIENCE;
        let mut pause = Duration::from_millis(1);
        loop {
            let known = self.delivered();
            if known >= target || crate::store::events::settled_head(db, known).await? >= target {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
                    "event {target} is not settled yet: a transaction that drew an \
                     earlier id is still open"
                ))));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
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
