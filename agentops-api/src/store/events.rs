//! The event log: append inside a write transaction, read in id order.
//!
//! # Why ids are in commit order, and who gives them out
//!
//! Readers resume with "everything after the last id I saw", so an event with a lower id
//! must never become visible after one with a higher id. With concurrent transactions a
//! sequence drawn by the writers does not guarantee that: transaction A can draw id 5,
//! transaction B id 6, and B commit first.
//!
//! On PostgreSQL ids are drawn only under a transaction-scoped advisory lock, held until
//! the transaction that drew them ends: whoever draws higher ids commits after every
//! lower id has committed or rolled back (PostgreSQL makes a commit visible before it
//! releases the transaction's locks). But no writer ever waits for that lock. [`append`]
//! *tries* it:
//!
//! - **Free** (the usual case when writes do not overlap): the writer numbers its events
//!   itself, inserting them into `events`, after first moving into the log whatever
//!   other writers left in the outbox (so causes keep lower ids than their effects). Its
//!   events are in the log the moment it commits.
//! - **Busy** (another writer or a sequencer is numbering right now): the writer puts its
//!   events in the `event_outbox` table, in its own transaction, and commits without
//!   waiting. After commit the **sequencer** ([`sequence`], driven by `crate::events`)
//!   moves whatever the outbox holds into `events` in one short transaction that takes
//!   the lock (waiting for it: only sequencers wait, at most one per replica), numbering
//!   the rows as it inserts them. A run carries every write queued since the last, so
//!   the lock's cost is shared by the whole batch.
//!
//! Either way a change exists with its events or not at all.
//!
//! The whole rule (try, then move and number, or queue) is one database function
//! (`agentops_append_events_ids`), so appending costs the writer one round trip.
//!
//! Events of one transaction stay together and in the order they were emitted; a
//! transaction that starts after another committed has its events numbered after the
//! other's (the outbox's own identity orders a batch), so cause comes before effect.
//!
//! A queued event is in the log shortly after its write is answered, not at that moment:
//! a read of the log that must see every write answered before it (`GET /events`, a
//! cursor's head) first waits for a sequencer run that started after the read did
//! (`Events::flush`). SQLite has a single writer, so ids are in commit order already
//! and it writes to `events` directly.
//!
//! The lock's key is the one earlier versions took in every writer, so during a rolling
//! upgrade the old replicas' writes and the new replicas' batches are ordered together.
//!
//! A rolled-back batch can leave a hole in the ids; holes are never filled later.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
};
use uuid::Uuid;

use agentops_sdk::types::Event;

use super::entity::event;

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `entity.verb`, e.g. `task.completed`.
    pub kind: &'static str,
    /// The project concerned.
    pub project_id: Option<Uuid>,
    /// The task concerned.
    pub task_id: Option<Uuid>,
    /// The agent concerned.
    pub agent_id: Option<Uuid>,
    /// The entity after the change.
    pub data: serde_json::Value,
}

impl From<event::Model> for Event {
    fn from(row: event::Model) -> Self {
        Event {
            id: row.id,
            kind: row.kind,
            created_at: row.created_at,
            project_id: row.project_id,
            task_id: row.task_id,
            agent_id: row.agent_id,
            data: row.data,
        }
    }
}

/// What [`append`] did with a transaction's events.
#[derive(Debug)]
pub enum Appended {
    /// Written to the log with their ids (SQLite; PostgreSQL when the ordering lock was
    /// free), together with the outbox rows moved ahead of them.
    Logged(Vec<Event>),
    /// Queued in the outbox for the sequencer (PostgreSQL, the lock busy): this many.
    Queued(usize),
}

/// Appends `events` to the log, or on PostgreSQL to the outbox when the ordering lock is
/// busy (see the module doc); must run inside the transaction that made the changes, as
/// its last statement before commit.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    events: Vec<NewEvent>,
) -> Result<Appended, DbErr> {
    let backend = conn.get_database_backend();
    if events.is_empty() {
        return Ok(Appended::Logged(Vec::new()));
    }
    if backend == DbBackend::Postgres {
        return append_postgres(conn, events).await;
    }
    let count = events.len();
    let created_at = super::now();
    let mut sql = String::from(
        "INSERT INTO events (type, created_at, project_id, task_id, agent_id, data) VALUES ",
    );
    let mut values: Vec<Value> = Vec::with_capacity(count * 6);
    for (i, event) in events.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&placeholders(backend, i * 6, 6));
        values.push(event.kind.into());
        values.push(created_at.into());
        values.push(event.project_id.into());
        values.push(event.task_id.into());
        values.push(event.agent_id.into());
        values.push(event.data.into());
    }
    sql.push_str(" RETURNING id, type, created_at, project_id, task_id, agent_id, data");
    let rows = event::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(conn)
        .await?;
    Ok(Appended::Logged(
        rows.into_iter().map(Event::from).collect(),
    ))
}

/// PostgreSQL: the whole of [`append`]'s rule (try the ordering lock; free → move the
/// outbox, then number these; busy → queue them) in one round trip, by the function of
/// the migration `m20261206_000026_append_returns_ids`. Nobody waits for the lock;
/// whatever committed before these events is moved first, so causes keep lower ids than
/// their effects. For the writer's own events the database answers only their ids (it
/// has the events already); the rows moved from the outbox come back whole.
async fn append_postgres<C: ConnectionTrait>(
    conn: &C,
    events: Vec<NewEvent>,
) -> Result<Appended, DbErr> {
    use sea_orm::FromQueryResult;
    /// A row the append wrote: one of the writer's own (`own`: only `id` and
    /// `created_at`), or one moved from the outbox (whole).
    #[derive(Debug, FromQueryResult)]
    struct Row {
        id: i64,
        kind: Option<String>,
        created_at: chrono::DateTime<chrono::Utc>,
        project_id: Option<Uuid>,
        task_id: Option<Uuid>,
        agent_id: Option<Uuid>,
        data: Option<serde_json::Value>,
        own: bool,
    }
    /// One event as the function reads it, its data borrowed: the batch is written as
    /// JSON text straight from the events, with no copy of their data.
    #[derive(serde::Serialize)]
    struct Item<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        project_id: Option<Uuid>,
        task_id: Option<Uuid>,
        agent_id: Option<Uuid>,
        data: &'a serde_json::Value,
    }
    let count = events.len();
    let batch: Vec<Item<'_>> = events
        .iter()
        .map(|event| Item {
            kind: event.kind,
            project_id: event.project_id,
            task_id: event.task_id,
            agent_id: event.agent_id,
            data: &event.data,
        })
        .collect();
    let batch = serde_json::to_string(&batch).map_err(|err| DbErr::Custom(err.to_string()))?;
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id, type AS kind, created_at, project_id, task_id, agent_id, data, own \
         FROM agentops_append_events_ids(CAST($1 AS jsonb), $2, $3)",
        [
            batch.into(),
            super::now().into(),
            i32::try_from(SEQUENCE_BATCH).unwrap_or(i32::MAX).into(),
        ],
    ))
    .all(conn)
    .await?;
    if rows.is_empty() {
        return Ok(Appended::Queued(count));
    }
    let (mut own, moved): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|row| row.own);
    if own.len() != count {
        return Err(DbErr::Custom(format!(
            "the event append numbered {} of {count} events",
            own.len()
        )));
    }
    // Numbered in the order they were emitted.
    own.sort_by_key(|row| row.id);
    let mut logged: Vec<Event> = moved
        .into_iter()
        .map(|row| Event {
            id: row.id,
            kind: row.kind.unwrap_or_default(),
            created_at: row.created_at,
            project_id: row.project_id,
            task_id: row.task_id,
            agent_id: row.agent_id,
            data: row.data.unwrap_or_default(),
        })
        .collect();
    logged.extend(own.into_iter().zip(events).map(|(row, event)| Event {
        id: row.id,
        kind: event.kind.to_owned(),
        created_at: row.created_at,
        project_id: event.project_id,
        task_id: event.task_id,
        agent_id: event.agent_id,
        data: event.data,
    }));
    logged.sort_by_key(|event| event.id);
    Ok(Appended::Logged(logged))
}

/// Outbox rows moved per sequencer batch.
pub const SEQUENCE_BATCH: u64 = 5_000;

/// Moves up to `limit` committed outbox rows into the log (PostgreSQL only), oldest
/// first; returns them as stored, in id order. The function it calls (see the migration
/// `m20261203_000008_event_outbox`) takes the ordering lock, then moves the batch: on a
/// plain connection the statement is its own transaction, inside one the lock is held
/// until that transaction ends.
pub async fn sequence<C: ConnectionTrait>(conn: &C, limit: u64) -> Result<Vec<Event>, DbErr> {
    let rows = event::Entity::find()
        .from_raw_sql(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT id, type, created_at, project_id, task_id, agent_id, data \
                 FROM agentops_sequence_events({})",
                i32::try_from(limit).unwrap_or(i32::MAX)
            ),
        ))
        .all(conn)
        .await?;
    let mut events: Vec<Event> = rows.into_iter().map(Event::from).collect();
    events.sort_by_key(|event| event.id);
    Ok(events)
}

/// Whether the outbox holds events not yet in the log (always `false` on SQLite).
pub async fn outbox_pending<C: ConnectionTrait>(conn: &C) -> Result<bool, DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    Ok(query_i64(
        conn,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM event_outbox) THEN 1::bigint ELSE 0::bigint END AS value",
    )
    .await?
    .unwrap_or(0)
        == 1)
}

/// `(?7, ?8, ?9)` or `($7, $8, $9)`: `count` placeholders starting after `base` values.
pub(crate) fn placeholders(backend: DbBackend, base: usize, count: usize) -> String {
    let list: Vec<String> = (1..=count)
        .map(|n| match backend {
            DbBackend::Postgres => format!("${}", base + n),
            _ => format!("?{}", base + n),
        })
        .collect();
    format!("({})", list.join(", "))
}

/// Events with an id above `after`, oldest first, at most `limit`.
pub async fn list_after<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    list_after_where(conn, after, &IdFilter::default(), limit).await
}

/// Conditions of a log read that SQL can apply exactly.
#[derive(Debug, Clone, Default)]
pub struct IdFilter {
    /// Only this project's events.
    pub project_id: Option<Uuid>,
    /// Only this task's events.
    pub task_id: Option<Uuid>,
    /// Only this agent's events.
    pub agent_id: Option<Uuid>,
    /// Leave out `key.*` events.
    pub exclude_keys: bool,
}

/// Events with an id above `after` that pass `filter`, oldest first, at most `limit`.
pub async fn list_after_where<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    filter: &IdFilter,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    let mut query = event::Entity::find().filter(event::Column::Id.gt(after));
    if let Some(id) = filter.project_id {
        query = query.filter(event::Column::ProjectId.eq(id));
    }
    if let Some(id) = filter.task_id {
        query = query.filter(event::Column::TaskId.eq(id));
    }
    if let Some(id) = filter.agent_id {
        query = query.filter(event::Column::AgentId.eq(id));
    }
    if filter.exclude_keys {
        query = query.filter(event::Column::Kind.not_like("key.%"));
    }
    Ok(query
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// The one integer (named `value`) a query returns: `None` for no row or `NULL`.
async fn query_i64<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<Option<i64>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(Debug, sea_orm::FromQueryResult)]
    struct Row {
        value: Option<i64>,
    }
    let row = Row::find_by_statement(Statement::from_string(conn.get_database_backend(), sql))
        .one(conn)
        .await?;
    Ok(row.and_then(|r| r.value))
}

/// The log's head: the highest event id given out so far (0 for a log never written).
/// See [`head`].
pub async fn max_id<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(head(conn).await?.0)
}

/// The log's head and its [`pruned_through`] mark, read together.
///
/// Retention may have deleted every event, so the head is the newest remaining id or
/// the mark, whichever is higher: a head that fell back would send every reader resuming
/// from it into `cursor_expired`. Ids are never reused (an identity column on
/// PostgreSQL, SQLite `AUTOINCREMENT`), so what comes next is always above it.
pub async fn head<C: ConnectionTrait>(conn: &C) -> Result<(i64, i64), DbErr> {
    let newest = query_i64(conn, "SELECT MAX(id) AS value FROM events")
        .await?
        .unwrap_or(0);
    let pruned = pruned_through(conn).await?;
    Ok((newest.max(pruned), pruned))
}

/// Deletes events created before `cutoff`, at most `limit` of them, and moves the
/// [`pruned_through`] mark past them; returns how many. Run it in a transaction so the
/// deletion and the mark go together.
pub async fn prune_before<C: ConnectionTrait>(
    conn: &C,
    cutoff: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::CreatedAt.lt(cutoff))
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    let Some(&highest) = ids.last() else {
        return Ok(0);
    };
    let backend = conn.get_database_backend();
    // One parameter used twice: `$1` on PostgreSQL, `?1` on SQLite.
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?1"
    };
    // Never moves back, whatever another replica's pruner wrote meanwhile.
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "UPDATE event_log_state SET pruned_through = CASE WHEN pruned_through < {placeholder} \
             THEN {placeholder} ELSE pruned_through END WHERE id = 1"
        ),
        [highest.into()],
    ))
    .await?;
    Ok(event::Entity::delete_many()
        .filter(event::Column::Id.is_in(ids))
        .exec(conn)
        .await?
        .rows_affected)
}

/// The highest id retention may have deleted: a reader resuming from below it may have
/// missed events. `0` if nothing was ever pruned.
pub async fn pruned_through<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(query_i64(
        conn,
        "SELECT pruned_through AS value FROM event_log_state WHERE id = 1",
    )
    .await?
    .unwrap_or(0))
}

/// Events concerning one task, oldest first.
pub async fn list_for_task<C: ConnectionTrait>(
    conn: &C,
    task_id: Uuid,
) -> Result<Vec<Event>, DbErr> {
    Ok(event::Entity::find()
        .filter(event::Column::TaskId.eq(task_id))
        .order_by_asc(event::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}
