//! Queries on `tools`.

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use super::entity::tool::{self, Column, Model};

/// Serialises the creation of tools of one name until the transaction ends, so two
/// authors of the same name get consecutive versions instead of one unique-index error.
/// PostgreSQL only: SQLite serialises every writer already (`BEGIN IMMEDIATE`).
pub async fn lock_name<C: ConnectionTrait>(conn: &C, name: &str) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended('agentops.tools:' || $1, 0))",
            [name.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The highest version of a name, if it has any.
pub async fn latest_version<C: ConnectionTrait>(
    conn: &C,
    name: &str,
) -> Result<Option<i32>, DbErr> {
    Ok(tool::Entity::find()
        .filter(Column::Name.eq(name))
        .order_by_desc(Column::Version)
        .one(conn)
        .await?
        .map(|row| row.version))
}

/// The tool a caller stored earlier with the same idempotency key.
pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    created_by: Uuid,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    tool::Entity::find()
        .filter(Column::CreatedBy.eq(created_by))
        .filter(Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// Inserts a tool row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    tool::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One tool.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    tool::Entity::find_by_id(id).one(conn).await
}

/// One tool, locked until the transaction ends (see [`crate::store`]), so a review and
/// a reported run apply one after the other.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    tool::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// Which tools a listing shows.
#[derive(Debug, Default)]
pub struct ToolFilter<'a> {
    /// In this status.
    pub status: Option<&'a str>,
    /// Of this name.
    pub name: Option<&'a str>,
    /// Made in this task.
    pub task_id: Option<Uuid>,
    /// Those this task may use: approved ones, and those waiting for review that it
    /// made.
    pub usable_by_task: Option<Uuid>,
}

/// Tools newest first, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &ToolFilter<'_>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = tool::Entity::find();
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status));
    }
    if let Some(name) = filter.name {
        query = query.filter(Column::Name.eq(name));
    }
    if let Some(task) = filter.task_id {
        query = query.filter(Column::TaskId.eq(task));
    }
    if let Some(task) = filter.usable_by_task {
        query = query.filter(
            Condition::any().add(Column::Status.eq("approved")).add(
                Condition::all()
                    .add(Column::Status.eq("pending_review"))
                    .add(Column::TaskId.eq(task)),
            ),
        );
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.order_by_desc(Column::Id).limit(limit).all(conn).await
}

/// Counts one run: `usage_count` + 1, and on failure `failure_count` + 1 and the error,
/// in one statement (runs are frequent; the row is not read first).
pub async fn record_run<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    error: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    let mut update = tool::Entity::update_many()
        .col_expr(Column::UsageCount, Expr::col(Column::UsageCount).add(1))
        .col_expr(Column::LastUsedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now));
    if let Some(error) = error {
        update = update
            .col_expr(Column::FailureCount, Expr::col(Column::FailureCount).add(1))
            .col_expr(Column::LastError, Expr::value(error));
    }
    Ok(update
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}
