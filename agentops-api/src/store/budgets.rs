//! Queries on `budgets`, `budget_periods`, `budget_reservations` and their legs.
//!
//! A reservation moves a period's counters with one conditional `UPDATE` per budget
//! (room checked and taken in the same statement, under the row's lock), so concurrent
//! reservers on any number of replicas never hold more than the limit between them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value,
};
use uuid::Uuid;

use super::entity::budget_period;
use super::entity::budget_reservation;
use super::entity::budget_reservation_leg;
use super::entity::{budget, budget::Model};

/// `sql` with `$n` placeholders in the connection's syntax (`?n` on SQLite).
fn statement<C: ConnectionTrait>(conn: &C, sql: &str, values: Vec<Value>) -> Statement {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// `GREATEST` on PostgreSQL, `MAX` (with two arguments) on SQLite.
fn greatest<C: ConnectionTrait>(conn: &C) -> &'static str {
    match conn.get_database_backend() {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    }
}

/// Inserts a budget.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    budget::ActiveModel::from(row).insert(conn).await
}

/// Inserts a budget unless one with its id exists; whether it did.
pub async fn insert_if_absent<C: ConnectionTrait>(conn: &C, row: Model) -> Result<bool, DbErr> {
    let inserted = budget::Entity::insert(budget::ActiveModel::from(row))
        .on_conflict_do_nothing_on([budget::Column::Id])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// One budget.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    budget::Entity::find_by_id(id).one(conn).await
}

/// One budget, locked `FOR NO KEY UPDATE` until the transaction ends (see
/// [`crate::store`]): two changes of one budget take turns, so neither saves fields it
/// read before the other committed.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    budget::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// One budget, locked `FOR UPDATE` for deletion until the transaction ends.
pub async fn find_for_delete<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    budget::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await
}

/// Budgets by name, after the `after` cursor (an id), at most `limit`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = budget::Entity::find();
    if let Some(before) = before {
        query = query.filter(budget::Column::Id.lt(before));
    }
    query
        .order_by_desc(budget::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Every enforced budget.
pub async fn enabled<C: ConnectionTrait>(conn: &C) -> Result<Vec<Model>, DbErr> {
    budget::Entity::find()
        .filter(budget::Column::Enabled.eq(true))
        .order_by_asc(budget::Column::Id)
        .all(conn)
        .await
}

/// Saves changes to a budget.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    let mut active: budget::ActiveModel = row.clone().into();
    active.name = Set(row.name);
    active.limit_tokens = Set(row.limit_tokens);
    active.limit_cost_micros = Set(row.limit_cost_micros);
    active.enabled = Set(row.enabled);
    active.updated_at = Set(row.updated_at);
    active.update(conn).await
}

/// Deletes a budget (its periods and reservation legs go with it); whether it existed.
pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<bool, DbErr> {
    Ok(budget::Entity::delete_by_id(id)
        .exec(conn)
        .await?
        .rows_affected
        > 0)
}

/// A budget's counters in the period starting at `start` (none: nothing spent yet).
pub async fn period<C: ConnectionTrait>(
    conn: &C,
    budget_id: Uuid,
    start: DateTime<Utc>,
) -> Result<Option<budget_period::Model>, DbErr> {
    budget_period::Entity::find_by_id((budget_id, start))
        .one(conn)
        .await
}

/// Makes sure the period's row exists.
pub async fn ensure_period<C: ConnectionTrait>(
    conn: &C,
    budget_id: Uuid,
    start: DateTime<Utc>,
) -> Result<(), DbErr> {
    conn.execute_raw(statement(
        conn,
        "INSERT INTO budget_periods (budget_id, period_start) VALUES ($1, $2) \
         ON CONFLICT (budget_id, period_start) DO NOTHING",
        vec![budget_id.into(), start.into()],
    ))
    .await?;
    Ok(())
}

/// Takes `tokens` (and `cost` micro-dollars) of room in the period if both fit under the
/// limits; whether they did.
pub async fn try_reserve<C: ConnectionTrait>(
    conn: &C,
    budget: &Model,
    start: DateTime<Utc>,
    tokens: i64,
    cost: i64,
) -> Result<bool, DbErr> {
    let taken = budget_period::Entity::find()
        .from_raw_sql(statement(
            conn,
            "UPDATE budget_periods \
             SET reserved_tokens = reserved_tokens + $3, \
                 reserved_cost_micros = reserved_cost_micros + $4 \
             WHERE budget_id = $1 AND period_start = $2 \
               AND used_tokens + reserved_tokens + $3 <= $5 \
               AND ($6 < 0 OR used_cost_micros + reserved_cost_micros + $4 <= $6) \
             RETURNING *",
            vec![
                budget.id.into(),
                start.into(),
                tokens.into(),
                cost.into(),
                budget.limit_tokens.into(),
                budget.limit_cost_micros.unwrap_or(-1).into(),
            ],
        ))
        .one(conn)
        .await?;
    Ok(taken.is_some())
}

/// Gives back room a reservation held.
pub async fn unreserve<C: ConnectionTrait>(
    conn: &C,
    budget_id: Uuid,
    start: DateTime<Utc>,
    tokens: i64,
    cost: i64,
) -> Result<(), DbErr> {
    let greatest = greatest(conn);
    conn.execute_raw(statement(
        conn,
        &format!(
            "UPDATE budget_periods \
             SET reserved_tokens = {greatest}(reserved_tokens - $3, 0), \
                 reserved_cost_micros = {greatest}(reserved_cost_micros - $4, 0) \
             WHERE budget_id = $1 AND period_start = $2"
        ),
        vec![budget_id.into(), start.into(), tokens.into(), cost.into()],
    ))
    .await?;
    Ok(())
}

/// Adds what a call spent to the period (whatever the limit: it was spent); the period
/// after it.
pub async fn spend<C: ConnectionTrait>(
    conn: &C,
    budget_id: Uuid,
    start: DateTime<Utc>,
    tokens: i64,
    cost: i64,
) -> Result<Option<budget_period::Model>, DbErr> {
    budget_period::Entity::find()
        .from_raw_sql(statement(
            conn,
            "UPDATE budget_periods \
             SET used_tokens = used_tokens + $3, used_cost_micros = used_cost_micros + $4 \
             WHERE budget_id = $1 AND period_start = $2 RETURNING *",
            vec![budget_id.into(), start.into(), tokens.into(), cost.into()],
        ))
        .one(conn)
        .await
}

/// Which flag of a period to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// 80 % spent.
    Warned,
    /// All spent, or a reservation refused.
    Exhausted,
}

/// Raises `flag` on the period; `true` only for the caller that raised it (so each
/// period warns once).
pub async fn raise<C: ConnectionTrait>(
    conn: &C,
    budget_id: Uuid,
    start: DateTime<Utc>,
    flag: Flag,
) -> Result<bool, DbErr> {
    let column = match flag {
        Flag::Warned => "warned",
        Flag::Exhausted => "exhausted",
    };
    let raised = conn
        .execute_raw(statement(
            conn,
            &format!(
                "UPDATE budget_periods SET {column} = true \
                 WHERE budget_id = $1 AND period_start = $2 AND {column} = false"
            ),
            vec![budget_id.into(), start.into()],
        ))
        .await?;
    Ok(raised.rows_affected() > 0)
}

/// Inserts a reservation and its legs.
pub async fn insert_reservation<C: ConnectionTrait>(
    conn: &C,
    row: budget_reservation::Model,
    legs: &[(Uuid, DateTime<Utc>)],
) -> Result<budget_reservation::Model, DbErr> {
    let id = row.id;
    let row = budget_reservation::ActiveModel::from(row)
        .insert(conn)
        .await?;
    if !legs.is_empty() {
        budget_reservation_leg::Entity::insert_many(legs.iter().map(|(budget_id, start)| {
            budget_reservation_leg::ActiveModel {
                reservation_id: Set(id),
                budget_id: Set(*budget_id),
                period_start: Set(*start),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(row)
}

/// One reservation.
pub async fn find_reservation<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<budget_reservation::Model>, DbErr> {
    budget_reservation::Entity::find_by_id(id).one(conn).await
}

/// The budgets (and periods) a reservation holds room in.
pub async fn legs<C: ConnectionTrait>(
    conn: &C,
    reservation_id: Uuid,
) -> Result<Vec<budget_reservation_leg::Model>, DbErr> {
    budget_reservation_leg::Entity::find()
        .filter(budget_reservation_leg::Column::ReservationId.eq(reservation_id))
        .order_by_asc(budget_reservation_leg::Column::BudgetId)
        .all(conn)
        .await
}

/// Moves a held reservation to `state` (`settled` or `released`); the reservation if it
/// was held, so only one caller ever settles or releases it.
pub async fn end_reservation<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    state: &str,
) -> Result<Option<budget_reservation::Model>, DbErr> {
    budget_reservation::Entity::find()
        .from_raw_sql(statement(
            conn,
            "UPDATE budget_reservations SET state = $2 WHERE id = $1 AND state = 'held' \
             RETURNING *",
            vec![id.into(), state.into()],
        ))
        .one(conn)
        .await
}

/// Held reservations that expired before `now`, oldest first, at most `limit`.
pub async fn expired<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Uuid>, DbErr> {
    Ok(budget_reservation::Entity::find()
        .filter(budget_reservation::Column::State.eq("held"))
        .filter(budget_reservation::Column::ExpiresAt.lt(now))
        .order_by_asc(budget_reservation::Column::ExpiresAt)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}
