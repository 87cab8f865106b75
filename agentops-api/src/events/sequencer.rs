//! The sequencer (PostgreSQL): moves committed events from the outbox into the log, where
//! they get their ids, and hands them to the fan-out.
//!
//! Each replica runs one. It wakes when a local transaction committed events, and on
//! the poll timer so that events committed by a replica that died before its sequencer
//! ran are moved all the same. A run moves everything the outbox holds, in batches of
//! [`store::events::SEQUENCE_BATCH`], each one short transaction ([`store::events::sequence`]); writes that
//! commit during a run are moved by the next one, so under load each run carries many
//! writers' events at the cost of one commit.
//!
//! [`Sequencer::flush`] waits for a run that started after it was called: a reader that
//! must see every write answered before it (`GET /events`) calls it first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use tokio::sync::{Notify, watch};

use agentops_sdk::types::Event;

use crate::store;

/// How long the sequencer waits after a failed run before it tries again, doubling
/// while the database stays unreachable, up to [`RETRY_MAX`].
const RETRY_AFTER: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The handle writers and readers share with the sequencer's task. Cheap to clone.
#[derive(Clone)]
pub(super) struct Sequencer {
    inner: Arc<Shared>,
}

struct Shared {
    db: DatabaseConnection,
    wake: Notify,
    /// Runs started so far.
    started: AtomicU64,
    /// The last run finished, and whether it moved everything it saw.
    finished: watch::Sender<(u64, bool)>,
    /// The earliest local commit whose events no run has picked up yet.
    oldest_commit: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Sequencer {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            inner: Arc::new(Shared {
                db,
                wake: Notify::new(),
                started: AtomicU64::new(0),
                finished: watch::channel((0, true)).0,
                oldest_commit: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Tells the sequencer that a local transaction queued events and committed at
    /// `committed_at`. Never blocks.
    pub fn committed(&self, committed_at: DateTime<Utc>) {
        {
            let mut oldest = self
                .inner
                .oldest_commit
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if oldest.is_none_or(|at| committed_at < at) {
                *oldest = Some(committed_at);
            }
        }
        self.inner.wake.notify_one();
    }

    /// Returns once every event committed before this call is in the log.
    pub async fn flush(&self) -> Result<(), DbErr> {
        if !store::events::outbox_pending(&self.inner.db).await? {
            return Ok(());
        }
        // The next run to start starts after this point, so it sees what we saw.
        let target = self.inner.started.load(Ordering::SeqCst) + 1;
        let mut finished = self.inner.finished.subscribe();
        self.inner.wake.notify_one();
        loop {
            let (run, ok) = *finished.borrow_and_update();
            if run >= target {
                return if ok {
                    Ok(())
                } else {
                    // A connection error: the caller answers 503, as for any outage.
                    Err(DbErr::Conn(RuntimeErr::Internal(
                        "the event sequencer could not reach the database".to_owned(),
                    )))
                };
            }
            if finished.changed().await.is_err() {
                return Err(DbErr::Conn(RuntimeErr::Internal(
                    "the event sequencer stopped".to_owned(),
                )));
            }
        }
    }

    /// Runs forever: one run per wake-up or poll interval, handing each batch it moves
    /// to `publish` along with the time its oldest write committed.
    pub async fn run(self, poll_every: Duration, publish: impl Fn(Vec<Event>, DateTime<Utc>)) {
        let shared = &self.inner;
        let mut failures: u32 = 0;
        loop {
            let woken = tokio::time::timeout(poll_every, shared.wake.notified())
                .await
                .is_ok();
            if !woken
                && !store::events::outbox_pending(&shared.db)
                    .await
                    .unwrap_or(true)
            {
                continue;
            }
            let run = shared.started.fetch_add(1, Ordering::SeqCst) + 1;
            let committed_at = shared
                .oldest_commit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let ok = drain(&shared.db, committed_at, failures == 0, &publish).await;
            shared.finished.send_replace((run, ok));
            if ok {
                if failures > 0 {
                    tracing::info!("the event sequencer reaches the database again");
                }
                failures = 0;
            } else {
                failures = failures.saturating_add(1);
                let delay = RETRY_AFTER
                    .saturating_mul(1 << failures.min(6))
                    .min(RETRY_MAX);
                tokio::time::sleep(delay).await;
                // Try again, still timing from the writes that waited.
                self.committed(committed_at.unwrap_or_else(Utc::now));
            }
        }
    }
}

/// Moves batches until the outbox is empty; `false` if the database failed (said in the
/// log when `report`, once per outage).
async fn drain(
    db: &DatabaseConnection,
    committed_at: Option<DateTime<Utc>>,
    report: bool,
    publish: &impl Fn(Vec<Event>, DateTime<Utc>),
) -> bool {
    loop {
        match store::events::sequence(db, store::events::SEQUENCE_BATCH).await {
            Ok(events) => {
                let full = events.len() as u64 == store::events::SEQUENCE_BATCH;
                if !events.is_empty() {
                    publish(events, committed_at.unwrap_or_else(Utc::now));
                }
                if !full {
                    return true;
                }
            }
            Err(err) => {
                if report {
                    tracing::warn!(error = %err, "cannot move events from the outbox to the log; retrying");
                }
                return false;
            }
        }
    }
}
