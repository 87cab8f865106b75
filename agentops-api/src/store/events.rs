//! The event log: append inside a write transaction, read in id order.
//!
//! # How ids are given out, and where readers stop
//!
//! Readers resume with "everything after the last id I saw", so a reader must never be
//! handed an id while a lower id may still appear. With concurrent transactions a
//! sequence drawn by the writers does not guarantee that by itself: transaction A can
//! draw id 5, transaction B id 6, and B commit first. Writers do not wait for each other
//! to prevent it (no lock orders them); readers stop where the log is *settled* instead.
//!
//! On PostgreSQL each write transaction appends its events as its last statement before
//! commit, in one round trip (`agentops_append_events_once`, migration 27), once, straight
//! into `events`:
//!
//! 1. it makes sure it has a transaction id;
//! 2. it draws the batch's ids from the log's sequence, in the order the events were
//!    emitted;
//! 3. it inserts the rows inside a subtransaction, so their `xmin` is a transaction id
//!    given out *after* the draw.
//!
//! A transaction that drew a lower id got its transaction id before its draw, so before
//! the rows' `xmin`. Once a reader's snapshot has every transaction below a row's `xmin`
//! finished (`pg_snapshot_xmin(pg_current_snapshot())` is above it), every id below that
//! row is either visible to that snapshot or will never exist (its writer rolled back,
//! leaving a hole that is never filled). The **settled head** is the highest such row's
//! id (`agentops_settled_event_id`, [`settled_head`]), and every read that readers
//! resume from ([`list_after_where`], [`head`]) stops there. The top-level transaction id
//! would not do: a transaction that started earlier can draw later, and the test
//! `an_id_is_settled_only_once_every_lower_id_drawn_before_it_has_ended` shows the
//! difference.
//!
//! What this costs readers: an id stays unsettled while *any* transaction of the
//! PostgreSQL server that is older than its row's `xmin` is open (the snapshot's xmin
//! is server-wide). The live stream mostly does not wait for that: the hub delivers an
//! event as soon as every lower id has been delivered ([`crate::events`]), and reads
//! may go as far as the hub has (`known`). Only holes and events whose publication was
//! lost need the log's proof. A long transaction on the same server (a migration, a
//! bulk import by another application) therefore delays those, and `GET /events` reads
//! that must wait for them (`Events::flush` gives up after a while with a 503).
//!
//! A change exists with its events or not at all. Events of one transaction keep the
//! order they were emitted in (other transactions' ids may fall between them); a
//! transaction that starts after another committed draws after it, so cause comes
//! before effect. SQLite has a single writer, so its ids are in commit order already and
//! every visible id is settled.
//!
//! Earlier versions numbered events under an advisory lock or through an outbox and a
//! sequencer (migrations 8–26). Their functions stay, so a replica of the previous
//! version keeps working while a release rolls, and after a rollback to it; this
//! version's poll moves what such a replica leaves in the outbox
//! ([`move_legacy_outbox`]). While both versions write side by side the two schemes do
//! not order each other's ids: in a rare interleaving a reader can be handed an id
//! before a lower one the other version wrote. That window closes when the roll does.

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

/// Appends `events` to the log; must run inside the transaction that made the changes,
/// as its last statement before commit. Returns the events with their ids and creation
/// time, in the order they were emitted.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    events: Vec<NewEvent>,
) -> Result<Vec<Event>, DbErr> {
    let backend = conn.get_database_backend();
    if events.is_empty() {
        return Ok(Vec::new());
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
    let mut events: Vec<Event> = rows.into_iter().map(Event::from).collect();
    events.sort_by_key(|event| event.id);
    Ok(events)
}

/// PostgreSQL: draws the batch's ids and writes the rows once, straight into the log, by
/// the function of the migration `m20261206_000027_events_written_once` (one round
/// trip). The database answers only the ids: the writer holds the events.
async fn append_postgres<C: ConnectionTrait>(
    conn: &C,
    events: Vec<NewEvent>,
) -> Result<Vec<Event>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(Debug, FromQueryResult)]
    struct Row {
        id: i64,
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
    let created_at = super::now();
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM agentops_append_events_once(CAST($1 AS jsonb), $2) AS a(id)",
        [batch.into(), created_at.into()],
    ))
    .all(conn)
    .await?;
    if rows.len() != count {
        return Err(DbErr::Custom(format!(
            "the event append numbered {} of {count} events",
            rows.len()
        )));
    }
    let mut ids: Vec<i64> = rows.into_iter().map(|row| row.id).collect();
    // Drawn in the order the events were emitted.
    ids.sort_unstable();
    Ok(ids
        .into_iter()
        .zip(events)
        .map(|(id, event)| Event {
            id,
            kind: event.kind.to_owned(),
            created_at,
            project_id: event.project_id,
            task_id: event.task_id,
            agent_id: event.agent_id,
            data: event.data,
        })
        .collect())
}

/// The settled head above `after`: the highest id whose every lower id is in the log,
/// visible to any read that starts now, or will never exist; `after` if no id above it
/// is settled yet. On SQLite, whose single writer commits ids in order, the newest id.
/// (PostgreSQL: `agentops_settled_event_id`, see the module doc.)
pub async fn settled_head<C: ConnectionTrait>(conn: &C, after: i64) -> Result<i64, DbErr> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => "SELECT agentops_settled_event_id($1) AS value",
        _ => "SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0), ?1) AS value",
    };
    Ok(query_i64_with(conn, sql, [after.into()])
        .await?
        .unwrap_or(after))
}

/// Moves into the log what a replica of a version before migration 27 left in its
/// outbox (PostgreSQL; nothing elsewhere), at most `limit` rows; returns how many.
/// Those replicas' sequencers move their own rows after each commit: this catches the
/// rows of one that stopped before its sequencer ran. The rows are numbered under the
/// earlier versions' ordering lock (`agentops_sequence_events`), and settle like any
/// other once their transaction has ended.
pub async fn move_legacy_outbox<C: ConnectionTrait>(conn: &C, limit: u64) -> Result<u64, DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(0);
    }
    let queued = query_i64(
        conn,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM event_outbox) THEN 1::bigint ELSE 0::bigint END \
         AS value",
    )
    .await?;
    if queued != Some(1) {
        return Ok(0);
    }
    let moved = query_i64_with(
        conn,
        "SELECT COUNT(*) AS value FROM agentops_sequence_events($1)",
        [i32::try_from(limit).unwrap_or(i32::MAX).into()],
    )
    .await?;
    Ok(moved.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

/// The newest id a read starting now can see, settled or not (0 for an empty log).
pub async fn newest_visible<C: ConnectionTrait>(conn: &C) -> Result<i64, DbErr> {
    Ok(query_i64(conn, "SELECT MAX(id) AS value FROM events")
        .await?
        .unwrap_or(0))
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

/// Settled events with an id above `after`, oldest first, at most `limit`; `known` as
/// for [`list_after_where`].
pub async fn list_after<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    known: i64,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    list_after_where(conn, after, &IdFilter::default(), known, limit).await
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

/// Events with an id above `after` that pass `filter`, oldest first, at most `limit`,
/// up to the settled head: a reader that resumes after the last id it got misses
/// nothing. `known` is an id the caller knows to be settled already (the hub's cursor:
/// everything at or below it was delivered or will never exist), so a read is never
/// held back further than the live stream; 0 if none.
pub async fn list_after_where<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    filter: &IdFilter,
    known: i64,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    let through = match conn.get_database_backend() {
        DbBackend::Postgres => Through::SettledOr(known),
        _ => Through::Anything,
    };
    list_where(conn, after, through, filter, limit).await
}

/// Events with `after < id <= through`, oldest first, at most `limit`: the caller knows
/// `through` to be settled (see [`settled_head`]).
pub async fn list_between<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    through: i64,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    list_where(
        conn,
        after,
        Through::Id(through),
        &IdFilter::default(),
        limit,
    )
    .await
}

/// Where a log read stops.
enum Through {
    /// Whatever is visible (SQLite: its ids are in commit order).
    Anything,
    /// This id.
    Id(i64),
    /// The settled head, or this id if higher (PostgreSQL).
    SettledOr(i64),
}

async fn list_where<C: ConnectionTrait>(
    conn: &C,
    after: i64,
    through: Through,
    filter: &IdFilter,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    let backend = conn.get_database_backend();
    let param = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    };
    let mut sql = format!(
        "SELECT id, type, created_at, project_id, task_id, agent_id, data FROM events \
         WHERE id > {}",
        param(1)
    );
    let mut values: Vec<Value> = vec![after.into()];
    match through {
        Through::Anything => {}
        Through::Id(id) => {
            values.push(id.into());
            sql.push_str(&format!(" AND id <= {}", param(values.len())));
        }
        Through::SettledOr(known) => {
            values.push(known.into());
            sql.push_str(&format!(
                " AND id <= GREATEST(agentops_settled_event_id({}), {})",
                param(1),
                param(values.len())
            ));
        }
    }
    for (column, id) in [
        ("project_id", filter.project_id),
        ("task_id", filter.task_id),
        ("agent_id", filter.agent_id),
    ] {
        if let Some(id) = id {
            values.push(id.into());
            sql.push_str(&format!(" AND {column} = {}", param(values.len())));
        }
    }
    if filter.exclude_keys {
        sql.push_str(" AND type NOT LIKE 'key.%'");
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {limit}"));
    Ok(event::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(conn)
        .await?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// The one integer (named `value`) a query returns: `None` for no row or `NULL`.
async fn query_i64<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<Option<i64>, DbErr> {
    query_i64_with(conn, sql, []).await
}

/// [`query_i64`] with parameters.
async fn query_i64_with<C: ConnectionTrait, const N: usize>(
    conn: &C,
    sql: &str,
    values: [Value; N],
) -> Result<Option<i64>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(Debug, sea_orm::FromQueryResult)]
    struct Row {
        value: Option<i64>,
    }
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        values,
    ))
    .one(conn)
    .await?;
    Ok(row.and_then(|r| r.value))
}

/// The log's settled head (see [`settled_head`], at least `known`; 0 for a log never
/// written). See [`head`].
pub async fn max_id<C: ConnectionTrait>(conn: &C, known: i64) -> Result<i64, DbErr> {
    Ok(head(conn, known).await?.0)
}

/// The log's settled head (at least `known`, an id the caller knows to be settled) and
/// its [`pruned_through`] mark, read together.
///
/// Retention may have deleted every event, so the head is the newest remaining id or
/// the mark, whichever is higher: a head that fell back would send every reader resuming
/// from it into `cursor_expired`. Ids are never reused (an identity column on
/// PostgreSQL, SQLite `AUTOINCREMENT`), so what comes next is always above it.
pub async fn head<C: ConnectionTrait>(conn: &C, known: i64) -> Result<(i64, i64), DbErr> {
    let newest = settled_head(conn, known).await?;
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
