//! API keys: generation, hashing, authentication, roles and per-key rate limits.
//!
//! A key is `aok_` followed by 43 characters of base64url (256 random bits). Only its
//! SHA-256 is stored: with that much entropy a slow password hash adds nothing, and a
//! fast one keeps authentication cheap on every request. Authenticated keys are cached in
//! memory for [`KEY_CACHE_TTL`]; revoking through this replica takes effect at once, through
//! another replica within that TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use prometheus_client::metrics::counter::Counter;

use agentops_sdk::types::Role;

pub use crate::domain::Caller;
pub use crate::domain::keys::{NewSecret, describe_secret, generate_secret, hash_secret};

use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::rate_limit::{Limited, RateLimits};
use crate::store;

/// How long an authenticated key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const KEY_CACHE_MAX_ENTRIES: usize = 10_000;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized("missing API key"))
    }
}

#[derive(Clone)]
struct CachedKey {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
    fetched: Instant,
}

/// Recently authenticated keys and the per-key rate limits.
pub struct KeyCache {
    entries: Mutex<HashMap<String, CachedKey>>,
    limits: RateLimits,
}

impl KeyCache {
    /// An empty cache with the configured rate limits; `fallbacks` counts the times
    /// they stop being shared through Redis.
    pub fn new(cfg: &ApiConfig, fallbacks: Counter) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            limits: RateLimits::new(cfg, fallbacks),
        }
    }

    /// The per-key rate limits.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    fn get(&self, hash: &str) -> Option<CachedKey> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|entry| entry.fetched.elapsed() < KEY_CACHE_TTL)
            .cloned()
    }

    fn put(&self, hash: String, entry: CachedKey) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= KEY_CACHE_MAX_ENTRIES {
            entries.retain(|_, e| e.fetched.elapsed() < KEY_CACHE_TTL);
            if entries.len() >= KEY_CACHE_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, entry);
    }

    /// Forgets a key at once (after it is revoked).
    pub fn evict(&self, key_id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, entry| entry.caller.key_id != key_id);
    }

    /// Counts one request against the key's budget.
    pub(crate) async fn check_rate(&self, key_id: Uuid) -> Result<(), ApiError> {
        self.limits
            .check(key_id)
            .await
            .map_err(|Limited { retry_after: wait }| ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            })
    }
}

/// What authenticating a request needs: the keys in the database and the cache of those
/// recently seen. The server's state provides one (`FromRef`). Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    /// The database pool.
    pub db: sea_orm::DatabaseConnection,
    /// Recently authenticated keys and the per-key rate limits.
    pub keys: Arc<KeyCache>,
}

/// Resolves a bearer secret to its caller, checking revocation and expiry.
pub async fn authenticate_secret(state: &Authenticator, secret: &str) -> Result<Caller, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("invalid, revoked or expired API key");
    let hash = hash_secret(secret);
    let entry = match state.keys.get(&hash) {
        Some(entry) => entry,
        None => {
            let row = store::keys::find_by_hash(&state.db, &hash)
                .await?
                .filter(|row| row.revoked_at.is_none())
                .ok_or(INVALID)?;
            // A session made from a key revoked while it was being created (the revoke
            // found no session to revoke with it) dies with its parent all the same.
            if let Some(parent) = row.parent_id
                && store::keys::find_active(&state.db, parent).await?.is_none()
            {
                return Err(INVALID);
            }
            let role: Role = row
                .role
                .parse()
                .map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
            let entry = CachedKey {
                caller: Caller {
                    key_id: row.id,
                    role,
                },
                expires_at: row.expires_at,
                fetched: Instant::now(),
            };
            state.keys.put(hash, entry.clone());
            entry
        }
    };
    if entry.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(INVALID);
    }
    Ok(entry.caller)
}

/// The bearer secret of a request: the `Authorization` header, or (for browsers, whose
/// WebSocket API cannot set headers) an `access_token` query parameter.
pub(crate) fn bearer_secret(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
            .filter(|t| !t.is_empty());
    }
    request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == "access_token" && !value.is_empty()).then(|| value.to_owned())
        })
    })
}

/// Middleware: authenticates the request, applies the key's rate limit and makes the
/// [`Caller`] available to handlers.
pub async fn require_key(
    State(state): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secret = bearer_secret(&request).ok_or(ApiError::Unauthorized(
        "missing API key: send `Authorization: Bearer <key>`",
    ))?;
    let caller = authenticate_secret(&state, &secret).await?;
    state.keys.check_rate(caller.key_id).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require($role)?;
                Ok($name(caller))
            }
        }
    };
}

role_extractor!(
    /// A caller with the admin role. Checked before the body is read.
    AdminKey,
    Role::Admin
);
role_extractor!(
    /// A caller with the agent role or above.
    AgentKey,
    Role::Agent
);
role_extractor!(
    /// Any authenticated caller (viewer or above).
    ViewerKey,
    Role::Viewer
);
