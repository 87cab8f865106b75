//! Queries on `deployments`.

use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::deployment::{self, Model};

/// Inserts a deployment row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    deployment::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One deployment.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    deployment::Entity::find_by_id(id).one(conn).await
}

/// One deployment, locked until the transaction ends (see [`crate::store`]), so two
/// concurrent steps apply one after the other and a final status is never overwritten.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    deployment::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The deployment a caller recorded earlier with the same idempotency key.
pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    created_by: Uuid,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    deployment::Entity::find()
        .filter(deployment::Column::CreatedBy.eq(created_by))
        .filter(deployment::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// Deployments newest first, optionally in one status, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = deployment::Entity::find();
    if let Some(status) = status {
        query = query.filter(deployment::Column::Status.eq(status));
    }
    if let Some(before) = before {
        query = query.filter(deployment::Column::Id.lt(before));
    }
    query
        .order_by_desc(deployment::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}
