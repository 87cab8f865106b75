//! Queries on `artifacts`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::artifact::{self, Model};

/// Inserts an artifact row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    artifact::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One artifact.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    artifact::Entity::find_by_id(id).one(conn).await
}

/// The artifact a key uploaded earlier with the same idempotency key.
pub async fn find_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    created_by: Uuid,
    key: &str,
) -> Result<Option<Model>, DbErr> {
    artifact::Entity::find()
        .filter(artifact::Column::CreatedBy.eq(created_by))
        .filter(artifact::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// One artifact, locked `FOR UPDATE` for deletion until the transaction ends (see
/// [`crate::store`]).
pub async fn find_for_delete<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    artifact::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await
}

/// Which artifacts a listing wants.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this task's artifacts.
    pub task_id: Option<Uuid>,
    /// Only this project's artifacts (its tasks' included).
    pub project_id: Option<Uuid>,
}

/// Artifacts newest first, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: &ListFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = artifact::Entity::find();
    if let Some(id) = filter.task_id {
        query = query.filter(artifact::Column::TaskId.eq(id));
    }
    if let Some(id) = filter.project_id {
        query = query.filter(artifact::Column::ProjectId.eq(id));
    }
    if let Some(before) = before {
        query = query.filter(artifact::Column::Id.lt(before));
    }
    query
        .order_by_desc(artifact::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Deletes an artifact row; whether it existed.
pub async fn delete<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<bool, DbErr> {
    Ok(artifact::Entity::delete_by_id(id)
        .exec(conn)
        .await?
        .rows_affected
        > 0)
}

/// Which of `ids` have a row.
pub async fn existing<C: ConnectionTrait>(conn: &C, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    artifact::Entity::find()
        .select_only()
        .column(artifact::Column::Id)
        .filter(artifact::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await
}
