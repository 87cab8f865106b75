//! Queries on `projects`.

use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::project::{self, Model};

/// Inserts a project row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    project::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One project.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    project::Entity::find_by_id(id).one(conn).await
}

/// One project, locked `FOR NO KEY UPDATE` until the transaction ends (see
/// [`crate::store`]): renaming a project does not hold up tasks being created in it.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    project::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// One project, locked `FOR UPDATE` for deletion until the transaction ends (see
/// [`crate::store`]): inserts that reference it wait, then fail or go ahead with the
/// outcome.
pub async fn find_for_delete<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    project::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await
}

/// The project a caller created earlier with the same idempotency key.
pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    created_by: Uuid,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    project::Entity::find()
        .filter(project::Column::CreatedBy.eq(created_by))
        .filter(project::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// Projects newest first, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = project::Entity::find();
    if let Some(before) = before {
        query = query.filter(project::Column::Id.lt(before));
    }
    query
        .order_by_desc(project::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

/// Deletes a project (its tasks go with it, by cascade).
pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<bool, DbErr> {
    Ok(project::Entity::delete_by_id(id)
        .exec(conn)
        .await?
        .rows_affected
        > 0)
}
