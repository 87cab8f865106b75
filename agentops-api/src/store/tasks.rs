//! Queries on `tasks`, `task_labels` and `task_dependencies`, including the atomic claim.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
    sea_query::{Expr, ExprTrait, LockType, Query},
};
use uuid::Uuid;

use super::entity::{task, task_dependency, task_label};
use super::events::placeholders;

pub use task::Model;

/// Inserts a task with its labels and dependencies.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    row: Model,
    labels: &[String],
    depends_on: &[Uuid],
) -> Result<Model, DbErr> {
    task::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    insert_labels(conn, row.id, labels).await?;
    if !depends_on.is_empty() {
        task_dependency::Entity::insert_many(depends_on.iter().map(|upstream| {
            task_dependency::Model {
                task_id: row.id,
                depends_on: *upstream,
            }
            .into_active_model()
            .reset_all()
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(row)
}

async fn insert_labels<C: ConnectionTrait>(
    conn: &C,
    task_id: Uuid,
    labels: &[String],
) -> Result<(), DbErr> {
    if labels.is_empty() {
        return Ok(());
    }
    task_label::Entity::insert_many(labels.iter().map(|label| {
        task_label::Model {
            task_id,
            label: label.clone(),
        }
        .into_active_model()
        .reset_all()
    }))
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Replaces a task's labels.
pub async fn replace_labels<C: ConnectionTrait>(
    conn: &C,
    task_id: Uuid,
    labels: &[String],
) -> Result<(), DbErr> {
    task_label::Entity::delete_many()
        .filter(task_label::Column::TaskId.eq(task_id))
        .exec(conn)
        .await?;
    insert_labels(conn, task_id, labels).await
}

/// One task.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    task::Entity::find_by_id(id).one(conn).await
}

/// One task, locked `FOR NO KEY UPDATE` until the transaction ends (see
/// [`crate::store`]).
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    task::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// Several tasks by id, locked for an update (in id order, so that two transactions
/// locking overlapping sets cannot deadlock).
pub async fn find_many_for_update<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    task::Entity::find()
        .filter(task::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(task::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .all(conn)
        .await
}

/// Several tasks by id, in no particular order.
pub async fn find_many<C: ConnectionTrait>(conn: &C, ids: &[Uuid]) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    task::Entity::find()
        .filter(task::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await
}

/// Several tasks by id, locked in shared mode until the transaction ends (PostgreSQL):
/// they cannot change status meanwhile, but other transactions may read-lock them too.
pub async fn find_many_for_share<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    task::Entity::find()
        .filter(task::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(task::Column::Id)
        .lock_shared()
        .all(conn)
        .await
}

/// The task a caller created earlier with the same idempotency key.
pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    created_by: Uuid,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    task::Entity::find()
        .filter(task::Column::CreatedBy.eq(created_by))
        .filter(task::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// Filters of a task listing; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Tasks of this project.
    pub project_id: Option<Uuid>,
    /// Tasks in this status.
    pub status: Option<String>,
    /// Tasks of this kind.
    pub kind: Option<String>,
    /// Tasks carrying this label.
    pub label: Option<String>,
    /// Tasks held (or last held) by this agent.
    pub agent_id: Option<Uuid>,
}

/// Tasks newest first, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &ListFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = task::Entity::find();
    if let Some(project_id) = filter.project_id {
        query = query.filter(task::Column::ProjectId.eq(project_id));
    }
    if let Some(status) = &filter.status {
        query = query.filter(task::Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(task::Column::Kind.eq(kind.as_str()));
    }
    if let Some(agent_id) = filter.agent_id {
        query = query.filter(task::Column::AgentId.eq(agent_id));
    }
    if let Some(label) = &filter.label {
        query = query.filter(
            task::Column::Id.in_subquery(
                Query::select()
                    .column(task_label::Column::TaskId)
                    .from(task_label::Entity)
                    .and_where(Expr::col(task_label::Column::Label).eq(label.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(before) = before {
        query = query.filter(task::Column::Id.lt(before));
    }
    query
        .order_by_desc(task::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

/// The upstream tasks of each of `task_ids`.
pub async fn dependencies_of<C: ConnectionTrait>(
    conn: &C,
    task_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>, DbErr> {
    if task_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = task_dependency::Entity::find()
        .filter(task_dependency::Column::TaskId.is_in(task_ids.iter().copied()))
        .all(conn)
        .await?;
    Ok(upstreams_by_task(rows))
}

/// Dependency rows grouped by the task that waits, each list sorted.
fn upstreams_by_task(
    rows: impl IntoIterator<Item = task_dependency::Model>,
) -> HashMap<Uuid, Vec<Uuid>> {
    let mut map: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in rows {
        map.entry(row.task_id).or_default().push(row.depends_on);
    }
    for deps in map.values_mut() {
        deps.sort();
    }
    map
}

/// Tasks still `waiting` that depend on `upstream`, locked for update.
pub async fn waiting_dependents_for_update<C: ConnectionTrait>(
    conn: &C,
    upstream: Uuid,
) -> Result<Vec<Model>, DbErr> {
    waiting_dependents_of_any_for_update(conn, &[upstream]).await
}

/// The waiting tasks that depend on any of `upstreams`, locked for an update, in id order.
pub async fn waiting_dependents_of_any_for_update<C: ConnectionTrait>(
    conn: &C,
    upstreams: &[Uuid],
) -> Result<Vec<Model>, DbErr> {
    if upstreams.is_empty() {
        return Ok(Vec::new());
    }
    task::Entity::find()
        // A literal, so that a generic plan starts from the dependency index (almost
        // always empty for `upstream`) rather than from every waiting task.
        .filter(Expr::col((task::Entity, task::Column::Status)).eq(Expr::cust("'waiting'")))
        .filter(
            task::Column::Id.in_subquery(
                Query::select()
                    .column(task_dependency::Column::TaskId)
                    .from(task_dependency::Entity)
                    .and_where(
                        Expr::col(task_dependency::Column::DependsOn)
                            .is_in(upstreams.iter().copied()),
                    )
                    .to_owned(),
            ),
        )
        .order_by_asc(task::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .all(conn)
        .await
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// How many of a task's dependencies have not completed.
pub async fn unfinished_dependency_count<C: ConnectionTrait>(
    conn: &C,
    task_id: Uuid,
) -> Result<i64, DbErr> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on \
         WHERE d.task_id = {} AND t.status <> 'completed'",
        param(backend, 1)
    );
    let count = Count::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [task_id.into()],
    ))
    .one(conn)
    .await?;
    Ok(count.map_or(0, |c| c.n))
}

/// Whether a project has tasks that are not final.
pub async fn project_has_unfinished<C: ConnectionTrait>(
    conn: &C,
    project_id: Uuid,
) -> Result<bool, DbErr> {
    Ok(task::Entity::find()
        .filter(task::Column::ProjectId.eq(project_id))
        .filter(task::Column::Status.is_in(["waiting", "queued", "running", "blocked"]))
        .one(conn)
        .await?
        .is_some())
}

#[derive(Debug, FromQueryResult)]
struct StatusCount {
    status: String,
    n: i64,
}

/// Number of tasks per status.
pub async fn count_by_status<C: ConnectionTrait>(conn: &C) -> Result<Vec<(String, i64)>, DbErr> {
    let backend = conn.get_database_backend();
    Ok(StatusCount::find_by_statement(Statement::from_string(
        backend,
        "SELECT status, COUNT(*) AS n FROM tasks GROUP BY status",
    ))
    .all(conn)
    .await?
    .into_iter()
    .map(|row| (row.status, row.n))
    .collect())
}

#[derive(Debug, FromQueryResult)]
struct ProjectStatusCount {
    project_id: Uuid,
    status: String,
    n: i64,
}

/// Number of tasks per project and status (of one project if given).
pub async fn count_by_project_and_status<C: ConnectionTrait>(
    conn: &C,
    project_id: Option<Uuid>,
) -> Result<Vec<(Uuid, String, i64)>, DbErr> {
    let mut query = task::Entity::find()
        .select_only()
        .column(task::Column::ProjectId)
        .column(task::Column::Status)
        .expr_as(Expr::cust("CAST(COUNT(*) AS bigint)"), "n")
        .group_by(task::Column::ProjectId)
        .group_by(task::Column::Status);
    if let Some(project_id) = project_id {
        query = query.filter(task::Column::ProjectId.eq(project_id));
    }
    Ok(query
        .into_model::<ProjectStatusCount>()
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.project_id, row.status, row.n))
        .collect())
}

#[derive(Debug, FromQueryResult)]
struct FinishedMinute {
    minute: String,
    status: String,
    n: i64,
}

/// How many tasks completed or failed in each minute since `since` (of one project if
/// given): `(minute "YYYY-MM-DD HH:MM" in UTC, status, count)`.
pub async fn finished_per_minute<C: ConnectionTrait>(
    conn: &C,
    since: DateTime<Utc>,
    project_id: Option<Uuid>,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    let minute = match conn.get_database_backend() {
        DbBackend::Postgres => {
            Expr::cust("to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')")
        }
        // Stored as RFC 3339 text in UTC: the first 16 characters are the minute.
        _ => Expr::cust("replace(substr(finished_at, 1, 16), 'T', ' ')"),
    };
    let mut query = task::Entity::find()
        .select_only()
        .expr_as(minute.clone(), "minute")
        .column(task::Column::Status)
        .expr_as(Expr::cust("CAST(COUNT(*) AS bigint)"), "n")
        .filter(task::Column::FinishedAt.gte(since))
        .filter(task::Column::Status.is_in(["completed", "failed"]))
        .group_by(minute)
        .group_by(task::Column::Status);
    if let Some(project_id) = project_id {
        query = query.filter(task::Column::ProjectId.eq(project_id));
    }
    Ok(query
        .into_model::<FinishedMinute>()
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.minute, row.status, row.n))
        .collect())
}

/// What a claim asks for.
#[derive(Debug, Clone)]
pub struct ClaimParams {
    /// The agent that will hold the leases.
    pub agent_id: Uuid,
    /// Only these kinds (any if empty).
    pub kinds: Vec<String>,
    /// Only tasks carrying all these labels.
    pub labels: Vec<String>,
    /// Only this project.
    pub project_id: Option<Uuid>,
    /// At most this many tasks.
    pub limit: u32,
    /// Lease length in seconds.
    pub lease_seconds: u32,
    /// The current time.
    pub now: DateTime<Utc>,
    /// The claim's `Idempotency-Key`, recorded on the tasks it takes.
    pub claim_key: Option<String>,
}

/// Atomically moves up to `limit` runnable tasks to `running` for one agent, each with a
/// fresh claim token, and returns them highest priority first, then oldest first.
///
/// PostgreSQL selects with `FOR NO KEY UPDATE SKIP LOCKED`, so concurrent claimers never
/// wait on or receive the same row (nor one a transition or a dependency check holds),
/// and a task with an artifact being attached is not skipped. SQLite runs the single
/// `UPDATE … RETURNING` inside the caller's immediate (write-locked) transaction, which
/// makes it exclusive.
pub async fn claim<C: ConnectionTrait>(conn: &C, p: &ClaimParams) -> Result<Vec<LinkedRow>, DbErr> {
    let backend = conn.get_database_backend();
    let lease_expires_at = p.now + chrono::Duration::seconds(i64::from(p.lease_seconds));
    let mut values: Vec<Value> = vec![
        p.now.into(),                                              // 1: now
        p.agent_id.into(),                                         // 2
        i32::try_from(p.lease_seconds).unwrap_or(i32::MAX).into(), // 3
        lease_expires_at.into(),                                   // 4
        p.claim_key.clone().into(),                                // 5
    ];
    let filter = claim_filter(backend, p, &mut values);
    // A literal, not a bind parameter: a prepared statement's generic plan assumes a
    // parameterised LIMIT takes a tenth of the rows, and then prefers reading and sorting
    // every queued task (tens of milliseconds with a long queue) to walking the
    // `tasks_claimable` index in order and stopping after `limit` rows.
    let limit = p.limit;
    let set = format!(
        "status = 'running', agent_id = {agent}, lease_seconds = {secs}, \
         lease_expires_at = {expires}, started_at = {now}, updated_at = {now}, \
         progress = NULL, block_reason = NULL, claim_key = {key}",
        agent = param(backend, 2),
        secs = param(backend, 3),
        expires = param(backend, 4),
        now = param(backend, 1),
        key = param(backend, 5),
    );
    let sql = match backend {
        DbBackend::Postgres => format!(
            "WITH picked AS (SELECT id FROM tasks WHERE {filter} \
             ORDER BY priority DESC, created_at, id LIMIT {limit} FOR NO KEY UPDATE SKIP LOCKED) \
             UPDATE tasks SET {set}, claim_token = gen_random_uuid() \
             FROM picked WHERE tasks.id = picked.id RETURNING {returning}",
            returning = returning_linked(backend),
        ),
        _ => format!(
            "UPDATE tasks SET {set}, claim_token = randomblob(16) WHERE id IN \
             (SELECT id FROM tasks WHERE {filter} ORDER BY priority DESC, created_at, id LIMIT {limit}) \
             RETURNING {returning}",
            returning = returning_linked(backend),
        ),
    };
    let mut rows =
        LinkedRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(conn)
            .await?;
    sort_claimed(&mut rows);
    Ok(rows)
}

/// Claimed rows in the order they were picked: highest priority first, then oldest.
fn sort_claimed(rows: &mut [LinkedRow]) {
    rows.sort_by(|a, b| {
        let (a, b) = (&a.task, &b.task);
        b.priority
            .cmp(&a.priority)
            .then(a.created_at.cmp(&b.created_at))
            .then(a.id.cmp(&b.id))
    });
}

/// The `WHERE` of a claim's picking: runnable at `p.now` (bound as parameter 1) and
/// matching `p`'s kinds, project and labels, whose values it appends to `values`.
fn claim_filter(backend: DbBackend, p: &ClaimParams, values: &mut Vec<Value>) -> String {
    let mut conditions = vec![format!(
        "status = 'queued' AND (not_before IS NULL OR not_before <= {})",
        param(backend, 1)
    )];
    if !p.kinds.is_empty() {
        let list = placeholders(backend, values.len(), p.kinds.len());
        values.extend(p.kinds.iter().map(|k| Value::from(k.as_str())));
        conditions.push(format!("kind IN {list}"));
    }
    if let Some(project_id) = p.project_id {
        values.push(project_id.into());
        conditions.push(format!("project_id = {}", param(backend, values.len())));
    }
    if !p.labels.is_empty() {
        let list = placeholders(backend, values.len(), p.labels.len());
        values.extend(p.labels.iter().map(|l| Value::from(l.as_str())));
        conditions.push(format!(
            "(SELECT COUNT(*) FROM task_labels l WHERE l.task_id = tasks.id AND l.label IN {list}) = {}",
            p.labels.len()
        ));
    }
    conditions.join(" AND ")
}

/// The tasks `agent_id` still holds from its claim with idempotency key `key` (running,
/// lease not expired at `now`), in the order the claim returned them.
pub async fn held_by_claim<C: ConnectionTrait>(
    conn: &C,
    agent_id: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Model>, DbErr> {
    task::Entity::find()
        // A literal, not a bind parameter: PostgreSQL can use the partial index
        // `tasks_claim_key` (… WHERE status = 'running') only when the query's condition
        // implies it, and a parameter does not once a prepared statement's plan is generic.
        .filter(Expr::col((task::Entity, task::Column::Status)).eq(Expr::cust("'running'")))
        .filter(task::Column::LeaseExpiresAt.gt(now))
        .filter(task::Column::AgentId.eq(agent_id))
        .filter(task::Column::ClaimKey.eq(key))
        .order_by_desc(task::Column::Priority)
        .order_by_asc(task::Column::CreatedAt)
        .order_by_asc(task::Column::Id)
        .all(conn)
        .await
}

/// Whether the agent exists and, if it does, whether its claim with idempotency key
/// `key` still holds tasks (running, lease not expired at `now`): `None` for no such
/// agent. The agent's row stays locked `FOR NO KEY UPDATE` until the transaction ends,
/// so keyed claims of one agent take turns. One round trip for what
/// [`super::agents::find_for_update`] and [`held_by_claim`] answer in two; a claim that
/// still holds tasks (a retry) then reads them with [`held_by_claim`].
pub async fn lock_claimant<C: ConnectionTrait>(
    conn: &C,
    agent_id: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, DbErr> {
    #[derive(Debug, FromQueryResult)]
    struct Row {
        holds: Option<i64>,
    }
    let backend = conn.get_database_backend();
    let sql = match backend {
        // The lock first, then the question in a fresh snapshot: a repeat that waited for
        // the first claim's lock must see what that claim took (migration
        // `m20261203_000009_write_functions`).
        DbBackend::Postgres => {
            "SELECT CAST(agentops_lock_claimant($1, $2, $3) AS bigint) AS holds".to_owned()
        }
        // One writer at a time: nothing to wait for, one snapshot is enough.
        _ => "SELECT CASE WHEN EXISTS (SELECT 1 FROM tasks t WHERE t.status = 'running' \
              AND t.agent_id = a.id AND t.claim_key = ?2 AND t.lease_expires_at > ?3) \
              THEN 1 ELSE 0 END AS holds FROM agents a WHERE a.id = ?1"
            .to_owned(),
    };
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [agent_id.into(), key.into(), now.into()],
    ))
    .one(conn)
    .await?;
    Ok(row.and_then(|row| row.holds).map(|holds| holds != 0))
}

/// [`lock_claimant`] for the keyed claims of many agents (distinct), in one round trip on
/// PostgreSQL (function `agentops_lock_claimants`, migration
/// `m20261204_000010_lock_claimants`: the agents are locked in id order, each question
/// asked after its lock); each agent's answer, keyed by agent.
pub async fn lock_claimants<C: ConnectionTrait>(
    conn: &C,
    claimants: &[(Uuid, &str)],
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Option<bool>>, DbErr> {
    #[derive(Debug, FromQueryResult)]
    struct Row {
        agent: Uuid,
        holds: Option<i32>,
    }
    let backend = conn.get_database_backend();
    if claimants.is_empty() {
        return Ok(HashMap::new());
    }
    if backend != DbBackend::Postgres || claimants.len() == 1 {
        let mut answers = HashMap::with_capacity(claimants.len());
        for &(agent, key) in claimants {
            answers.insert(agent, lock_claimant(conn, agent, key, now).await?);
        }
        return Ok(answers);
    }
    let agents: Vec<Uuid> = claimants.iter().map(|(agent, _)| *agent).collect();
    let keys: Vec<String> = claimants.iter().map(|(_, key)| (*key).to_owned()).collect();
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        backend,
        "SELECT agent, holds FROM agentops_lock_claimants($1, $2, $3)",
        [agents.into(), keys.into(), now.into()],
    ))
    .all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.agent, row.holds.map(|holds| holds != 0)))
        .collect())
}

/// [`claim`] for many agents (distinct) asking for the same kinds, labels and project,
/// at `now`, in one statement on PostgreSQL: the runnable tasks are picked once, in
/// claim order, and dealt out in the claims' order, each taking up to its limit. Each
/// claim's tasks, in the claims' order, sorted as [`claim`] sorts them.
pub async fn claim_many<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    claims: &[&ClaimParams],
) -> Result<Vec<Vec<LinkedRow>>, DbErr> {
    let backend = conn.get_database_backend();
    let [filter, ..] = claims else {
        return Ok(Vec::new());
    };
    if backend != DbBackend::Postgres || claims.len() == 1 {
        let mut taken = Vec::with_capacity(claims.len());
        for &params in claims {
            let params = ClaimParams {
                now,
                ..params.clone()
            };
            taken.push(claim(conn, &params).await?);
        }
        return Ok(taken);
    }
    let mut values: Vec<Value> = vec![now.into()];
    let filter_sql = claim_filter(backend, filter, &mut values);
    let mut rows = Vec::with_capacity(claims.len());
    let mut total: u64 = 0;
    for claimant in claims {
        let (lo, hi) = (total + 1, total + u64::from(claimant.limit));
        total = hi;
        let base = values.len();
        values.push(claimant.agent_id.into());
        values.push(claimant.claim_key.clone().into());
        values.push(
            i32::try_from(claimant.lease_seconds)
                .unwrap_or(i32::MAX)
                .into(),
        );
        values.push((now + chrono::Duration::seconds(i64::from(claimant.lease_seconds))).into());
        rows.push(format!(
            "(CAST(${} AS uuid), CAST(${} AS text), CAST(${} AS integer), \
             CAST(${} AS timestamptz), {lo}, {hi})",
            base + 1,
            base + 2,
            base + 3,
            base + 4,
        ));
    }
    // The picking is the single claim's (see there for why the limit is a literal); the
    // numbering is outside it, since a locking SELECT cannot number its rows.
    let sql = format!(
        "WITH picked AS (SELECT id, priority, created_at FROM tasks WHERE {filter_sql} \
         ORDER BY priority DESC, created_at, id LIMIT {total} FOR NO KEY UPDATE SKIP LOCKED), \
         numbered AS (SELECT id, row_number() OVER (ORDER BY priority DESC, created_at, id) AS n \
         FROM picked), \
         claimants (agent_id, claim_key, lease_seconds, lease_expires_at, lo, hi) AS \
         (VALUES {rows}) \
         UPDATE tasks SET status = 'running', agent_id = c.agent_id, \
         lease_seconds = c.lease_seconds, lease_expires_at = c.lease_expires_at, \
         started_at = $1, updated_at = $1, progress = NULL, block_reason = NULL, \
         claim_key = c.claim_key, claim_token = gen_random_uuid() \
         FROM numbered JOIN claimants c ON numbered.n BETWEEN c.lo AND c.hi \
         WHERE tasks.id = numbered.id RETURNING {returning}",
        rows = rows.join(", "),
        returning = returning_linked(backend),
    );
    let mut by_agent: HashMap<Uuid, Vec<LinkedRow>> = HashMap::new();
    for row in LinkedRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(conn)
        .await?
    {
        if let Some(agent) = row.task.agent_id {
            by_agent.entry(agent).or_default().push(row);
        }
    }
    Ok(claims
        .iter()
        .map(|claimant| {
            let mut rows = by_agent.remove(&claimant.agent_id).unwrap_or_default();
            sort_claimed(&mut rows);
            rows
        })
        .collect())
}

/// A completion to apply: the task, the claim token it must carry, its result.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The task.
    pub id: Uuid,
    /// The claim the completion is made under.
    pub claim_token: Uuid,
    /// What the task produced (`null` for nothing).
    pub result: serde_json::Value,
}

/// Completes, in one statement, each of `items` that is `running` under its claim token;
/// returns the rows it completed (in no particular order), with their links and whether
/// any task depends on them. Items it leaves alone (a stale token, another status, no
/// such task) are for the caller to explain.
pub async fn complete_running<C: ConnectionTrait>(
    conn: &C,
    items: &[&Completion],
    now: DateTime<Utc>,
) -> Result<Vec<CompletedRow>, DbErr> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    let mut values: Vec<Value> = vec![now.into()];
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let base = values.len();
        values.push(item.id.into());
        values.push(item.claim_token.into());
        values.push(item.result.clone().into());
        let (id, token, result) = (
            param(backend, base + 1),
            param(backend, base + 2),
            param(backend, base + 3),
        );
        rows.push(if postgres {
            format!(
                "SELECT CAST({id} AS uuid) AS id, CAST({token} AS uuid) AS claim_token, \
                 CAST({result} AS jsonb) AS result"
            )
        } else {
            format!("SELECT {id} AS id, {token} AS claim_token, {result} AS result")
        });
    }
    let update = format!(
        "UPDATE tasks SET status = 'completed', result = v.result, lease_expires_at = NULL, \
         progress = 1.0, finished_at = {now}, updated_at = {now} \
         FROM ({rows}) AS v \
         WHERE tasks.id = v.id AND tasks.claim_token = v.claim_token \
         AND tasks.status = 'running' RETURNING {returning}",
        now = param(backend, 1),
        rows = rows.join(" UNION ALL "),
        returning = returning_linked(backend),
    );
    let sql = if postgres {
        // Asked once, after the update is over (the argument reads all of its rows), in
        // a snapshot of its own: see the migration
        // `m20261206_000028_dependents_seen_by_completion`.
        format!(
            "WITH done AS ({update}) \
             SELECT done.*, done.id = ANY (w.upstreams) AS has_dependents \
             FROM done CROSS JOIN \
             agentops_with_dependents(ARRAY(SELECT id FROM done)) AS w(upstreams)"
        )
    } else {
        // One writer: the statement's own snapshot is enough.
        format!(
            "{update}, EXISTS (SELECT 1 FROM task_dependencies d \
             WHERE d.depends_on = tasks.id) AS has_dependents"
        )
    };
    CompletedRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(conn)
        .await
}

/// A row [`complete_running`] completed.
#[derive(Debug, FromQueryResult)]
pub struct CompletedRow {
    /// The row as written, with its upstream tasks.
    #[sea_orm(nested)]
    pub linked: LinkedRow,
    /// Whether any task depends on it (waiting ones may now be released). Asked after
    /// the row was locked, so a dependent whose creator held the row until it committed
    /// is counted.
    pub has_dependents: bool,
}

/// A row changed by [`claim_round`], with its event.
#[derive(Debug, FromQueryResult)]
pub struct RoundRow {
    /// The claim (0-based, in the order given) that took the task; `None` for a
    /// completion.
    pub call_no: Option<i32>,
    /// Whether the row was completed (otherwise claimed).
    pub completed: bool,
    /// The task after the change, as JSON text in its wire form.
    pub task: String,
    /// The claim token of a claimed task.
    pub claim_token: Option<Uuid>,
    /// The id of the change's event.
    pub event_id: i64,
}

/// PostgreSQL only: `claims` (distinct agents), after the completions `done` (distinct
/// tasks, in the order given), with one event per change appended at `created`, in one
/// statement and so in one implicit transaction of its own: the function
/// `agentops_claim_round` of the migration `m20261207_000030_claim_round`, which says
/// what it does and why. Must not run inside a transaction.
///
/// `Ok(None)` when the round needs the general path (an unknown agent, a repeated keyed
/// claim, a completion that did not apply, a completed task with dependents): nothing
/// was changed. Otherwise every completion applied, and the rows completed (in the
/// order given) and claimed (by claim, each in claim order), each with its event.
pub async fn claim_round<C: ConnectionTrait>(
    conn: &C,
    claims: &[&ClaimParams],
    done: &[&Completion],
    at: DateTime<Utc>,
    created: DateTime<Utc>,
) -> Result<Option<Vec<RoundRow>>, DbErr> {
    #[derive(serde::Serialize)]
    struct Call<'a> {
        agent_id: Uuid,
        claim_key: Option<&'a str>,
        kinds: &'a [String],
        labels: &'a [String],
        project_id: Option<Uuid>,
        limit: u32,
        lease_seconds: u32,
    }
    #[derive(serde::Serialize)]
    struct Done<'a> {
        id: Uuid,
        claim_token: Uuid,
        result: &'a serde_json::Value,
    }
    let calls: Vec<Call<'_>> = claims
        .iter()
        .map(|p| Call {
            agent_id: p.agent_id,
            claim_key: p.claim_key.as_deref(),
            kinds: &p.kinds,
            labels: &p.labels,
            project_id: p.project_id,
            limit: p.limit,
            lease_seconds: p.lease_seconds,
        })
        .collect();
    let done: Vec<Done<'_>> = done
        .iter()
        .map(|item| Done {
            id: item.id,
            claim_token: item.claim_token,
            result: &item.result,
        })
        .collect();
    let calls = serde_json::to_string(&calls).map_err(|err| DbErr::Custom(err.to_string()))?;
    let done = serde_json::to_string(&done).map_err(|err| DbErr::Custom(err.to_string()))?;
    let rows = RoundRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT out_call - 1 AS call_no, out_completed AS completed, out_task AS task, \
         out_token AS claim_token, out_event AS event_id \
         FROM agentops_claim_round(CAST($1 AS jsonb), CAST($2 AS jsonb), $3, $4)",
        [calls.into(), done.into(), at.into(), created.into()],
    ))
    .all(conn)
    .await;
    match rows {
        Ok(rows) => Ok(Some(rows)),
        // The function leaving the round to the general path.
        Err(err) if super::sqlstate(&err).as_deref() == Some("AO001") => Ok(None),
        Err(err) => Err(err),
    }
}

/// A task row as the statement that wrote it returned it, with its upstream tasks, read
/// by that same statement: the answer to a claim or a completion needs them, and asking
/// in the `RETURNING` saves a round trip per write. (A task's upstream tasks are fixed when
/// it is created, so the statement's snapshot is always right about them. Whether
/// anything waits on a task is not: a dependent created while the write waited for a
/// lock is not in that snapshot, so it is asked by a statement of its own.)
#[derive(Debug, FromQueryResult)]
pub struct LinkedRow {
    /// The row as written.
    #[sea_orm(nested)]
    pub task: Model,
    /// The upstream tasks' ids, comma-separated (`NULL` for none).
    depends_on: Option<String>,
}

impl LinkedRow {
    /// The row and its upstream tasks (sorted).
    pub fn into_parts(self) -> Result<(Model, Vec<Uuid>), DbErr> {
        let mut depends_on = match &self.depends_on {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|id| {
                    Uuid::parse_str(id)
                        .map_err(|err| DbErr::Custom(format!("dependency id {id:?}: {err}")))
                })
                .collect::<Result<_, _>>()?,
        };
        depends_on.sort();
        Ok((self.task, depends_on))
    }
}

/// The `RETURNING` list of a write on `tasks` read as [`LinkedRow`]: every column of the
/// row, then its links. SQLite keeps ids as 16-byte blobs, hence `hex`; its `RETURNING`
/// names only the updated table's columns, hence the bare `*`.
fn returning_linked(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "tasks.*, \
             (SELECT string_agg(CAST(d.depends_on AS text), ',') FROM task_dependencies d \
              WHERE d.task_id = tasks.id) AS depends_on"
        }
        _ => {
            "*, \
             (SELECT group_concat(lower(hex(d.depends_on)), ',') FROM task_dependencies d \
              WHERE d.task_id = tasks.id) AS depends_on"
        }
    }
}

/// Running tasks whose lease ended before `now`, locked for update; on PostgreSQL rows
/// another replica's reaper holds are skipped.
pub async fn expired_leases_for_update<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let query = task::Entity::find()
        .filter(task::Column::Status.eq("running"))
        .filter(task::Column::LeaseExpiresAt.lt(now))
        .order_by_asc(task::Column::LeaseExpiresAt)
        .limit(limit);
    super::skip_locked(conn, query).all(conn).await
}

/// The `n`th (1-based) bind parameter in the backend's syntax.
fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}
