//! Queries on `schedules`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::entity::schedule::{self, Column, Model};

/// Inserts a schedule.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    schedule::ActiveModel::from(row).insert(conn).await
}

/// One schedule.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    schedule::Entity::find_by_id(id).one(conn).await
}

/// One schedule, locked `FOR NO KEY UPDATE` until the transaction ends (see
/// [`crate::store`]): a replica firing it holds it `FOR UPDATE`, so what is read here is
/// what that firing committed, and saving it cannot undo the run it recorded.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    schedule::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// One schedule, locked `FOR UPDATE` for deletion until the transaction ends.
pub async fn find_for_delete<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    schedule::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await
}

/// Locks the schedules of a project `FOR UPDATE`, in id order, until the transaction
/// ends: deleting a project takes these before the project's own row.
pub async fn lock_of_project<C: ConnectionTrait>(conn: &C, project_id: Uuid) -> Result<(), DbErr> {
    schedule::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::ProjectId.eq(project_id))
        .order_by_asc(Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(conn)
        .await
        .map(drop)
}

/// Schedules (of one project, if given), newest first, before the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    project_id: Option<Uuid>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = schedule::Entity::find();
    if let Some(project_id) = project_id {
        query = query.filter(Column::ProjectId.eq(project_id));
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.order_by_desc(Column::Id).limit(limit).all(conn).await
}

/// Saves a schedule's state (paused, next run, last run).
pub async fn save<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    let mut active: schedule::ActiveModel = row.clone().into();
    active.paused = Set(row.paused);
    active.next_run_at = Set(row.next_run_at);
    active.last_run_at = Set(row.last_run_at);
    active.last_task_id = Set(row.last_task_id);
    active.runs = Set(row.runs);
    active.updated_at = Set(row.updated_at);
    active.update(conn).await
}

/// Deletes a schedule; whether it existed.
pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<bool, DbErr> {
    Ok(schedule::Entity::delete_by_id(id)
        .exec(conn)
        .await?
        .rows_affected
        > 0)
}

/// Active schedules due at `now`, the most overdue first, at most `limit`. On
/// PostgreSQL, inside a transaction, they are locked for it and rows another replica
/// holds are skipped (`FOR UPDATE SKIP LOCKED`).
pub async fn due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT * FROM schedules WHERE NOT paused AND next_run_at IS NOT NULL \
             AND next_run_at <= $1 ORDER BY next_run_at LIMIT {limit} FOR UPDATE SKIP LOCKED"
        ),
        _ => format!(
            "SELECT * FROM schedules WHERE NOT paused AND next_run_at IS NOT NULL \
             AND next_run_at <= ?1 ORDER BY next_run_at LIMIT {limit}"
        ),
    };
    schedule::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, [now.into()]))
        .all(conn)
        .await
}

/// Moves a schedule on from the due time `due` (only if it is still due then, so a
/// twin firing elsewhere moves it once); whether it did.
pub async fn advance<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    due: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    fired: Option<(DateTime<Utc>, Uuid)>,
) -> Result<bool, DbErr> {
    let mut update = schedule::Entity::update_many()
        .col_expr(Column::NextRunAt, next.into())
        .col_expr(Column::UpdatedAt, Utc::now().into())
        .filter(Column::Id.eq(id))
        .filter(Column::NextRunAt.eq(due));
    if let Some((at, task)) = fired {
        update = update
            .col_expr(Column::LastRunAt, Some(at).into())
            .col_expr(Column::LastTaskId, Some(task).into())
            .col_expr(
                Column::Runs,
                sea_orm::sea_query::ExprTrait::add(sea_orm::sea_query::Expr::col(Column::Runs), 1),
            );
    }
    Ok(update.exec(conn).await?.rows_affected > 0)
}
