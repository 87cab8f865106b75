//! The data layer: connecting, migrating, transactions with their events, and the
//! query functions of each table.
//!
//! It owns SQL and nothing else: no HTTP types, no authorisation, no business rules
//! beyond what a single statement must guarantee (such as a claim being atomic). Callers
//! pass any `&impl ConnectionTrait`, so one function serves inside and outside a
//! transaction.
//!
//! Row locks (PostgreSQL; SQLite has none and serialises writers instead): a row about
//! to be changed is read `FOR NO KEY UPDATE`, which holds back other writers of that row
//! but not inserts that only reference it (foreign-key checks take `FOR KEY SHARE`). A
//! row about to be deleted is read `FOR UPDATE`, which does hold those back.

/// Connections of the SQLite pool.
pub const SQLITE_CONNECTIONS: u32 = 8;

pub mod agents;
pub mod artifacts;
pub mod budgets;
pub mod deployments;
pub mod entity;
pub mod event_cursors;
pub mod events;
pub mod keys;
pub mod notes;
pub mod pairings;
pub mod personas;
pub mod previews;
pub mod projects;
pub mod schedules;
pub mod tasks;
pub mod threads;
pub mod tools;
pub mod usage;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionOptions, TransactionTrait,
};

pub use events::NewEvent;

/// `query`'s rows locked for update until the transaction ends, on PostgreSQL skipping
/// rows another replica holds (`FOR NO KEY UPDATE SKIP LOCKED`): what the reapers of
/// several replicas take each share out without waiting on one another. SQLite has one
/// writer, so no lock is needed there.
pub fn skip_locked<E: sea_orm::EntityTrait, C: sea_orm::ConnectionTrait>(
    conn: &C,
    query: sea_orm::Select<E>,
) -> sea_orm::Select<E> {
    use sea_orm::QuerySelect;
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query.lock_with_behavior(
            sea_orm::sea_query::LockType::NoKeyUpdate,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        )
    } else {
        query
    }
}

/// The current time, truncated to microseconds: the precision PostgreSQL keeps, so a
/// value reads back exactly as it was written on both backends.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// How long a request waits for a PostgreSQL connection unless configured otherwise.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled PostgreSQL connection idle at least this long is pinged before it is handed
/// out; one in use more recently is handed out as it is.
///
/// sqlx pings every connection it hands out unless told otherwise, which costs a round
/// trip per transaction: one in eight of a claim's (that ping, `BEGIN`, four statements,
/// `COMMIT`, and the ping sqlx always sends when the connection comes back to the
/// pool). What the ping is for is a connection the server, a proxy or a firewall
/// dropped while it sat idle. A connection in use in the last second can still have been
/// dropped (a server restart): [`Tx::begin`] then starts again on another connection
/// (nothing was done on the lost one), and any other statement on it fails with
/// [`connection_lost`], answered 503 like an unreachable server.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Whether `err` says the connection to the database is gone or unusable (an I/O or TLS
/// error, a connection the server ended: SQLSTATE classes 08 and 57P), rather than
/// anything about the statement itself. The statement may or may not have run: only a
/// `BEGIN` that failed this way is safe to run again.
pub fn connection_lost(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    let (DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err))
    | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(err))) = err
    else {
        return false;
    };
    match &**err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Whether PostgreSQL rolled the transaction back to end a conflict with a concurrent
/// one (SQLSTATE 40P01, a deadlock; 40001, a serialization failure): nothing it did
/// stays, and the same request sent again can succeed.
pub fn rolled_back_for_a_conflict(err: &DbErr) -> bool {
    matches!(sqlstate(err).as_deref(), Some("40P01" | "40001"))
}

/// The SQLSTATE the database refused a statement with, if it refused one (not for a
/// connection that failed).
pub fn sqlstate(err: &DbErr) -> Option<std::borrow::Cow<'_, str>> {
    let (DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(err))) = err
    else {
        return None;
    };
    match &**err {
        sea_orm::sqlx::Error::Database(db) => db.code(),
        _ => None,
    }
}

/// Connects to `url` (PostgreSQL or SQLite), creating the SQLite file's directory if
/// needed, and tunes the pool for the backend; see [`connect_with`].
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// Connects to `url` with at most `max_connections` (PostgreSQL) and waits at most
/// `acquire_timeout` for a PostgreSQL connection, connecting included: while the server
/// is down or unreachable a request fails with [`DbErr::ConnectionAcquire`] (a 503) after
/// that long rather than hanging, and the pool reconnects on its own once it is back.
/// SQLite keeps a 30 s wait: its file has no outages, only writers queueing for it.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    // sea-orm maps both `connect_timeout` and `acquire_timeout` onto sqlx's acquire
    // timeout (the latter wins), which bounds connecting as well as waiting for a slot.
    options.sqlx_logging(false);
    if !url.starts_with("sqlite:") {
        options
            .acquire_timeout(acquire_timeout)
            .max_connections(max_connections)
            .min_connections(1)
            .test_before_acquire_if_idle_for(PING_AFTER_IDLE);
        return Database::connect(options).await;
    }
    options.acquire_timeout(Duration::from_secs(30));
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|err| {
            DbErr::Custom(format!("cannot create directory {}: {err}", dir.display()))
        })?;
    }
    // SQLite has one writer at a time: write transactions start IMMEDIATE (see
    // `Tx::begin`) and wait for each other through the busy timeout, while WAL lets
    // readers go on in parallel.
    options
        .max_connections(SQLITE_CONNECTIONS)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    // Opening a new SQLite file while another process converts it to WAL (or recovers
    // it) can fail with SQLITE_BUSY without going through the busy timeout: retry.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match Database::connect(options.clone()).await {
            Err(err) if is_sqlite_busy(&err) && std::time::Instant::now() < deadline => {
                tracing::debug!(error = %err, "the SQLite database is busy; connecting again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}

/// Whether `err` is SQLite's "database is busy / locked" (primary codes 5 and 6).
fn is_sqlite_busy(err: &DbErr) -> bool {
    let (DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err))
    | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(err))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(err))) = err
    else {
        return false;
    };
    err.as_database_error()
        .and_then(|db| db.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// `url` with its database name replaced by `name` (the query string is kept): the URL
/// of a sibling database on the same server, for tests and benchmarks.
pub fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let url = format!("{}/{name}", &base[..authority_end]);
    match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Applies every pending migration.
///
/// The migrations run in one transaction (DDL is transactional on both backends) that
/// first takes the database's write lock: an advisory lock on PostgreSQL, `BEGIN
/// IMMEDIATE` on SQLite. Processes starting together migrate once; the others wait, then
/// find nothing to do.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = Tx::begin(db).await?.txn;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7243819113001)")
            .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Rolls back the last `steps` migrations, or all of them.
pub async fn migrate_down(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    Migrator::down(db, steps).await
}

/// Checks that the database answers.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await
    .map(|_| ())
}

/// A write transaction together with the events it will emit.
///
/// Events are written by [`Tx::commit`], in the same transaction as the changes they
/// describe: either both exist or neither does (see [`events`] for how their ids keep
/// readers from missing any).
pub struct Tx {
    txn: DatabaseTransaction,
    events: Vec<NewEvent>,
}

impl Tx {
    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, so concurrent writers
    /// queue on the busy timeout instead of failing when they upgrade a read lock).
    ///
    /// A `BEGIN` that finds its connection lost (a pooled connection the server dropped,
    /// see [`PING_AFTER_IDLE`]) is sent again on another one: nothing was done on the
    /// lost connection, and the pool discards it. At most once per connection the pool
    /// may hold, plus one, so even a pool whose every connection went with a server
    /// restart gets through to a fresh one. A server that cannot be reached fails the
    /// pool's acquire instead ([`DbErr::ConnectionAcquire`]), which is not tried again.
    pub async fn begin(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let attempts = match db.get_database_backend() {
            DbBackend::Postgres => {
                db.get_postgres_connection_pool()
                    .options()
                    .get_max_connections()
                    + 1
            }
            _ => 1,
        };
        let mut attempt = 1;
        let txn = loop {
            match db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await
            {
                Err(err) if attempt < attempts && connection_lost(&err) => {
                    tracing::debug!(error = %err, attempt, "BEGIN found its connection lost; beginning on another");
                    attempt += 1;
                }
                begun => break begun?,
            }
        };
        Ok(Self {
            txn,
            events: Vec::new(),
        })
    }

    /// The connection to run statements on.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Records an event to be written with this transaction.
    pub fn emit(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// Writes the recorded events and commits; returns the events with their ids, ready
    /// to be published.
    pub async fn commit(self) -> Result<Vec<agentops_sdk::types::Event>, DbErr> {
        let appended = events::append(&self.txn, self.events).await?;
        self.txn.commit().await?;
        Ok(appended)
    }
}

#[cfg(test)]
mod tests {
    use super::with_database_name;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database_name("postgres://u@h:5432/postgres?sslmode=disable", "b"),
            "postgres://u@h:5432/b?sslmode=disable"
        );
        assert_eq!(with_database_name("postgres://h", "b"), "postgres://h/b");
    }
}
