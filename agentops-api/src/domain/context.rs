//! What the use cases need from the running server, and nothing else: the database, the
//! event fan-out that commits hand their events to, the settings, the metrics, the
//! artifact store and the batching of task writes.
//!
//! The HTTP layer's [`Context`](crate::state::Context) holds one and dereferences to
//! it, so a route passes `&state` where a use case asks for `&Context`; the use cases
//! never see the HTTP layer's state (authentication caches, routers).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::ApiConfig;
use crate::error::DomainError;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::storage::ArtifactStore;
use crate::store::Tx;

use super::tasks::TaskWrites;

/// The use cases' view of the server. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Parts>,
}

/// The contents of a [`Context`].
pub struct Parts {
    /// The database pool.
    pub db: DatabaseConnection,
    /// The configuration the server started with.
    pub cfg: ApiConfig,
    /// Event fan-out.
    pub events: Events,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Where artifact bytes are kept.
    pub storage: Arc<dyn ArtifactStore>,
    /// Task claims and completions, batched into shared transactions.
    pub task_writes: TaskWrites,
    /// The master key secrets are sealed under (`AGENTOPS_SECRET_KEY`), if any.
    pub secrets: Option<agentops_sdk::secrets::MasterKey>,
}

impl std::ops::Deref for Context {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.inner
    }
}

impl Context {
    /// Assembles the context; task writes are batched in `cfg.write_lanes` lanes, at most
    /// half the database pool (8 connections on SQLite), so that the writes' transactions
    /// always leave connections to the other requests.
    pub fn new(
        db: DatabaseConnection,
        cfg: ApiConfig,
        events: Events,
        metrics: Metrics,
        storage: Arc<dyn ArtifactStore>,
    ) -> Self {
        let pool = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => cfg.db_max_connections,
            _ => crate::store::SQLITE_CONNECTIONS,
        };
        let task_writes = TaskWrites::new(cfg.write_lanes.min((pool / 2).max(1)) as usize);
        let secrets = cfg.master_key();
        Self {
            inner: Arc::new(Parts {
                secrets,
                db,
                cfg,
                events,
                metrics,
                storage,
                task_writes,
            }),
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, DomainError> {
        Ok(Tx::begin(&self.db).await?)
    }

    /// Commits `tx` and then hands its events to the fan-out: subscribers never hear of
    /// a change that did not commit.
    pub async fn commit(&self, tx: Tx) -> Result<(), DomainError> {
        let events = tx.commit().await?;
        self.published(events);
        Ok(())
    }

    /// Hands events that were committed (in id order) to the fan-out.
    pub fn published(&self, events: Vec<agentops_sdk::types::Event>) {
        self.metrics.events_written.inc_by(events.len() as u64);
        self.events.committed(events);
    }
}
