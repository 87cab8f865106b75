//! API keys: create, list, revoke, and the first admin key.

use std::path::Path;

use base64::Engine;
use rand::RngCore;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use uuid::Uuid;

use agentops_sdk::types::{ApiKeyCreated, ApiKeyIn, ApiKeyOut, ErrorCode, Page, Role, SessionIn};

use super::{Checks, paginate};
use crate::domain::Context;
use crate::domain::PageRequest;
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::api_key};

impl TryFrom<api_key::Model> for ApiKeyOut {
    type Error = DomainError;

    fn try_from(row: api_key::Model) -> Result<Self, Self::Error> {
        Ok(ApiKeyOut {
            id: row.id,
            name: row.name,
            role: row
                .role
                .parse()
                .map_err(|e: String| DomainError::Db(sea_orm::DbErr::Custom(e)))?,
            prefix: row.prefix,
            created_at: row.created_at,
            expires_at: row.expires_at,
            parent_id: row.parent_id,
        })
    }
}

fn key_event(kind: &'static str, key: &ApiKeyOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: None,
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(key).unwrap_or_default(),
    }
}

/// Creates a key and returns its secret (the only time it is shown).
pub async fn create(state: &Context, input: ApiKeyIn) -> Result<ApiKeyCreated, DomainError> {
    let mut checks = Checks::default();
    checks.text("name", &input.name, super::limits::KEY_NAME);
    if input.expires_at.is_some_and(|at| at <= store::now()) {
        checks.push("expires_at", "must be in the future");
    }
    checks.finish()?;
    create_row(state, input.name.trim(), input.role, input.expires_at, None).await
}

/// Generates a secret and stores a key for it, with its `key.created` event.
async fn create_row(
    state: &Context,
    name: &str,
    role: Role,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    parent_id: Option<Uuid>,
) -> Result<ApiKeyCreated, DomainError> {
    let secret = generate_secret();
    let mut tx = state.begin().await?;
    let key = insert(tx.conn(), name, role, &secret, expires_at, parent_id).await?;
    tx.emit(key_event("key.created", &key));
    state.commit(tx).await?;
    Ok(ApiKeyCreated {
        key,
        secret: secret.secret,
    })
}

/// How long a session lasts when the request does not say.
pub const SESSION_TTL_DEFAULT_SECS: u32 = 12 * 60 * 60;

/// Starts a session for the caller: a new key with the caller's role that expires (never
/// after the caller's own key) and is revoked with the key it was made from. A session
/// made from a session belongs to the same original key.
pub async fn start_session(
    state: &Context,
    caller: &super::Caller,
    input: SessionIn,
) -> Result<ApiKeyCreated, DomainError> {
    let mut checks = Checks::default();
    if let Some(name) = &input.name {
        checks.text("name", name, super::limits::KEY_NAME);
    }
    let ttl = input.ttl_seconds.unwrap_or(SESSION_TTL_DEFAULT_SECS);
    checks.range("ttl_seconds", i64::from(ttl), super::limits::SESSION_TTL);
    checks.finish()?;
    let parent = store::keys::find_active(&state.db, caller.key_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::KeyNotFound, caller.key_id))?;
    let mut expires_at = store::now() + chrono::Duration::seconds(i64::from(ttl));
    if let Some(limit) = parent.expires_at {
        expires_at = expires_at.min(limit);
    }
    let name = match &input.name {
        Some(name) => name.trim().to_owned(),
        None => format!("session of {}", parent.name)
            .chars()
            .take(super::limits::KEY_NAME.max)
            .collect(),
    };
    create_row(
        state,
        &name,
        caller.role,
        Some(expires_at),
        Some(parent.parent_id.unwrap_or(parent.id)),
    )
    .await
}

/// Ends the caller's session (logout): its key stops working. Refused with
/// `not_a_session` for a key that is not a session, which only an admin revokes.
pub async fn end_session(state: &Context, caller: &super::Caller) -> Result<(), DomainError> {
    let row = store::keys::find_active(&state.db, caller.key_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::KeyNotFound, caller.key_id))?;
    if row.parent_id.is_none() {
        return Err(DomainError::refused(
            ErrorCode::NotASession,
            "this key is not a session; an admin revokes keys with DELETE /api/v1/keys/{id}",
        ));
    }
    revoke(state, caller.key_id).await.map(drop)
}

async fn insert<C: sea_orm::ConnectionTrait>(
    conn: &C,
    name: &str,
    role: Role,
    secret: &NewSecret,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    parent_id: Option<Uuid>,
) -> Result<ApiKeyOut, DomainError> {
    let row = store::keys::insert(
        conn,
        api_key::Model {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            prefix: secret.prefix.clone(),
            secret_hash: secret.hash.clone(),
            created_at: store::now(),
            expires_at,
            revoked_at: None,
            parent_id,
        },
    )
    .await?;
    ApiKeyOut::try_from(row)
}

/// Keys that have not been revoked, newest first.
pub async fn list(state: &Context, page: PageRequest) -> Result<Page<ApiKeyOut>, DomainError> {
    let rows = store::keys::list_active(&state.db, page.before, page.limit + 1).await?;
    let items = rows
        .into_iter()
        .map(ApiKeyOut::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, page.limit, |k| k.id))
}

/// Revokes a key and the sessions made from it; returns the ids of every key revoked.
/// The caller evicts them from its authentication cache (the HTTP layer's
/// [`KeyCache`](crate::auth::KeyCache)), so that they stop working at once on this
/// replica.
pub async fn revoke(state: &Context, id: Uuid) -> Result<Vec<Uuid>, DomainError> {
    let mut tx = state.begin().await?;
    let (row, mut revoked) = store::keys::revoke(tx.conn(), id, store::now())
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::KeyNotFound, id))?;
    tx.emit(key_event("key.revoked", &ApiKeyOut::try_from(row)?));
    state.commit(tx).await?;
    revoked.push(id);
    Ok(revoked)
}

/// What [`bootstrap_admin`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// The configured `AGENTOPS_ADMIN_KEY` was installed (or already was).
    Configured,
    /// The database was empty: a key was generated and written to this file.
    Generated {
        /// The secret, to print once.
        secret: String,
        /// Where it was written.
        path: std::path::PathBuf,
    },
    /// Keys exist already and none was configured: nothing to do.
    Existing,
}

/// Whether key `id` may still be used now: not revoked, not expired, and (for a
/// session) made from a key that is neither. Long-lived streams ask again with each ping.
pub async fn still_valid(state: &Context, id: Uuid) -> Result<bool, DomainError> {
    Ok(store::keys::still_valid(&state.db, id, store::now()).await?)
}

/// The caller's own key (any role): who the platform takes it for.
pub async fn me(state: &Context, caller: &super::Caller) -> Result<ApiKeyOut, DomainError> {
    let row = store::keys::find_active(&state.db, caller.key_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::KeyNotFound, caller.key_id))?;
    ApiKeyOut::try_from(row)
}

/// Makes sure an admin can get in: installs `AGENTOPS_ADMIN_KEY` if set, or on an empty
/// database generates an admin key and writes it to `<data_dir>/admin.key` (mode 0600).
pub async fn bootstrap_admin(
    state: &Context,
    configured: Option<&str>,
    data_dir: &Path,
) -> Result<Bootstrap, DomainError> {
    let mut tx = state.begin().await?;
    if tx.conn().get_database_backend() == sea_orm::DbBackend::Postgres {
        // Replicas starting together must not both generate a key.
        tx.conn()
            .execute_unprepared("SELECT pg_advisory_xact_lock(7243819113003)")
            .await?;
    }
    let outcome = if let Some(secret) = configured {
        let secret = describe_secret(secret.trim().to_owned());
        if store::keys::find_by_hash(tx.conn(), &secret.hash)
            .await?
            .is_none()
        {
            let key = insert(
                tx.conn(),
                "admin (AGENTOPS_ADMIN_KEY)",
                Role::Admin,
                &secret,
                None,
                None,
            )
            .await?;
            tx.emit(key_event("key.created", &key));
        }
        Bootstrap::Configured
    } else if store::keys::count_all(tx.conn()).await? == 0 {
        let secret = generate_secret();
        let key = insert(
            tx.conn(),
            "admin (generated)",
            Role::Admin,
            &secret,
            None,
            None,
        )
        .await?;
        tx.emit(key_event("key.created", &key));
        let path = data_dir.join("admin.key");
        write_secret_file(&path, &secret.secret).map_err(|err| {
            DomainError::Db(sea_orm::DbErr::Custom(format!(
                "cannot write the admin key to {}: {err}",
                path.display()
            )))
        })?;
        Bootstrap::Generated {
            secret: secret.secret,
            path,
        }
    } else {
        Bootstrap::Existing
    };
    state.commit(tx).await?;
    Ok(outcome)
}

/// Makes sure an embedded (SQLite) platform has a master key for the secrets it keeps:
/// `AGENTOPS_SECRET_KEY`, else `<data dir>/secret.key`, written with a new key on first
/// start (readable by its owner only), as the admin key is. A PostgreSQL platform runs
/// as many replicas, which must share one key: there it is only taken from the
/// environment, and without it secrets cannot be stored (said in the log).
///
/// # Errors
/// If the key file cannot be read or written, or holds no key.
pub fn ensure_secret_key(cfg: &mut crate::config::ApiConfig) -> anyhow::Result<()> {
    if cfg.secret_key.is_some() {
        return Ok(());
    }
    if !cfg.effective_database_url().starts_with("sqlite:") {
        tracing::warn!(
            "AGENTOPS_SECRET_KEY is not set: secrets (persona owners' provider keys) cannot be              stored; set it to 32 random bytes in base64 on every replica"
        );
        return Ok(());
    }
    let path = cfg.data_dir.join("secret.key");
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => {
            agentops_sdk::secrets::MasterKey::parse(&text).map_err(|err| {
                anyhow::anyhow!("{} does not hold a master key: {err}", path.display())
            })?;
            text.trim().to_owned()
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = agentops_sdk::secrets::MasterKey::generate();
            write_secret_file(&path, &key.encoded()).map_err(|err| {
                anyhow::anyhow!("cannot write the master key to {}: {err}", path.display())
            })?;
            tracing::info!(
                "generated the master key for stored secrets in {} (keep it with the database)",
                path.display()
            );
            key.encoded()
        }
        Err(err) => anyhow::bail!("cannot read {}: {err}", path.display()),
    };
    cfg.secret_key = Some(key);
    Ok(())
}

fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

/// A freshly generated secret and what is stored of it.
pub struct NewSecret {
    /// The secret to hand to the user once.
    pub secret: String,
    /// Its SHA-256, hex.
    pub hash: String,
    /// Its first characters, for recognising it in listings.
    pub prefix: String,
}

/// Generates a new random key secret.
pub fn generate_secret() -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!(
        "aok_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    describe_secret(secret)
}

/// The stored form of a given secret (used for `AGENTOPS_ADMIN_KEY`).
pub fn describe_secret(secret: String) -> NewSecret {
    NewSecret {
        hash: hash_secret(&secret),
        prefix: secret.chars().take(12).collect(),
        secret,
    }
}

/// SHA-256 of a secret, hex-encoded.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
