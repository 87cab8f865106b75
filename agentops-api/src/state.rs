//! Shared state of the running server, cloned into every handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::KeyCache;
use crate::config::ApiConfig;
use crate::error::DomainError;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::storage::ArtifactStore;
use crate::store::Tx;

/// Everything a request may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The contents of [`AppState`].
pub struct Inner {
    /// The database pool.
    pub db: DatabaseConnection,
    /// The configuration the server started with.
    pub cfg: ApiConfig,
    /// Event fan-out.
    pub events: Events,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Authenticated keys, cached briefly.
    pub keys: KeyCache,
    /// Where artifact bytes are kept.
    pub storage: Arc<dyn ArtifactStore>,
    /// Task claims and completions, batched into shared transactions.
    pub task_writes: crate::domain::tasks::TaskWrites,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        db: DatabaseConnection,
        cfg: ApiConfig,
        events: Events,
        storage: Arc<dyn ArtifactStore>,
    ) -> Self {
        let metrics = Metrics::default().with_redis_lag(events.redis_lag());
        let keys = KeyCache::new(&cfg, metrics.rate_limit_fallbacks.clone());
        let task_writes = crate::domain::tasks::TaskWrites::new(cfg.write_lanes as usize);
        Self {
            inner: Arc::new(Inner {
                db,
                cfg,
                events,
                metrics,
                keys,
                storage,
                task_writes,
            }),
        }
    }

    /// Validates `cfg`, connects to its database and applies migrations (unless
    /// `cfg.migrate` is off), starts the event fan-out and opens the artifact store.
    pub async fn connect(cfg: ApiConfig) -> anyhow::Result<Self> {
        use anyhow::Context;
        cfg.validate().map_err(anyhow::Error::msg)?;
        let url = cfg.effective_database_url();
        let db = crate::store::connect_with(&url, cfg.db_max_connections, cfg.db_acquire_timeout())
            .await
            .with_context(|| format!("cannot connect to the database ({})", crate::redact(&url)))?;
        if cfg.migrate {
            crate::store::migrate(&db)
                .await
                .context("database migration failed")?;
        }
        let events = Events::start(db.clone(), &cfg)
            .await
            .context("cannot start the event fan-out")?;
        let storage = crate::storage::connect(&cfg)
            .await
            .context("cannot open the artifact store")?;
        tracing::info!(store = storage.describe(), "artifact store");
        Ok(Self::new(db, cfg, events, storage))
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, DomainError> {
        Ok(Tx::begin(&self.db).await?)
    }

    /// Commits `tx` and then hands its events to the fan-out: subscribers never hear of
    /// a change that did not commit.
    pub async fn commit(&self, tx: Tx) -> Result<(), DomainError> {
        let appended = tx.commit().await?;
        let written = match &appended {
            crate::store::Appended::Logged(events) => events.len(),
            crate::store::Appended::Queued(count) => *count,
        };
        self.metrics.events_written.inc_by(written as u64);
        self.events.committed(appended);
        Ok(())
    }
}
