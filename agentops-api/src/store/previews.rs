//! Queries on `previews`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::preview::{self, Column, Model};

/// Inserts a preview row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    preview::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One preview.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    preview::Entity::find_by_id(id).one(conn).await
}

/// One preview, locked until the transaction ends.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    preview::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The preview served at `/preview/<short_id>/`.
pub async fn find_by_short_id<C: ConnectionTrait>(
    conn: &C,
    short_id: &str,
) -> Result<Option<Model>, DbErr> {
    preview::Entity::find()
        .filter(Column::ShortId.eq(short_id))
        .one(conn)
        .await
}

/// A preview of `task` to `upstream` that is still live at `now`.
pub async fn find_live<C: ConnectionTrait>(
    conn: &C,
    task: Uuid,
    upstream: &str,
    now: DateTime<Utc>,
) -> Result<Option<Model>, DbErr> {
    preview::Entity::find()
        .filter(Column::TaskId.eq(task))
        .filter(Column::Upstream.eq(upstream))
        .filter(Column::Stopped.eq(false))
        .filter(Column::ExpiresAt.gt(now))
        .one(conn)
        .await
}

/// Previews newest first, optionally of one task, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    task: Option<Uuid>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = preview::Entity::find();
    if let Some(task) = task {
        query = query.filter(Column::TaskId.eq(task));
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.order_by_desc(Column::Id).limit(limit).all(conn).await
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

/// Up to `limit` previews past their expiry at `now` whose expiry was not told yet, not
/// stopped, locked (on PostgreSQL skipping those another replica holds).
pub async fn expired_untold_for_update<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let query = preview::Entity::find()
        .filter(Column::Stopped.eq(false))
        .filter(Column::ExpiryTold.eq(false))
        .filter(Column::ExpiresAt.lte(now))
        .order_by_asc(Column::ExpiresAt)
        .limit(limit);
    super::skip_locked(conn, query).all(conn).await
}
