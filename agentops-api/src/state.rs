//! Shared state of the running server, cloned into every handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::{Authenticator, KeyCache};
use crate::config::ApiConfig;
use crate::domain::Context;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::storage::ArtifactStore;

/// Everything a request may need: the use cases' [`Context`] (which it dereferences to,
/// so `&state` passes where a use case asks for `&Context`) and the HTTP layer's own
/// parts. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    context: Context,
    /// Authenticated keys, cached briefly.
    pub keys: Arc<KeyCache>,
}

impl std::ops::Deref for AppState {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.context
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
        Self {
            context: Context::new(db, cfg, events, metrics, storage),
            keys: Arc::new(keys),
        }
    }

    /// The use cases' view of the server.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// What authenticating a request needs.
    pub fn authenticator(&self) -> Authenticator {
        Authenticator {
            db: self.db.clone(),
            keys: self.keys.clone(),
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
}

impl axum::extract::FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator()
    }
}
