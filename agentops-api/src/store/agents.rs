//! Queries on `agents`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::agent::{self, Model};

/// Inserts an agent row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    agent::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One agent.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    agent::Entity::find_by_id(id).one(conn).await
}

/// Which of `ids` are agents, in one read.
pub async fn existing<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let found: Vec<Uuid> = agent::Entity::find()
        .select_only()
        .column(agent::Column::Id)
        .filter(agent::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(found.into_iter().collect())
}

/// One agent by its unique name, locked `FOR NO KEY UPDATE` until the transaction ends
/// (see [`crate::store`]).
pub async fn find_by_name_for_update<C: ConnectionTrait>(
    conn: &C,
    name: &str,
) -> Result<Option<Model>, DbErr> {
    agent::Entity::find()
        .filter(agent::Column::Name.eq(name))
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// One agent, locked `FOR NO KEY UPDATE` until the transaction ends (see
/// [`crate::store`]): a heartbeat does not hold up an unkeyed claim that names the agent
/// (a keyed claim locks the agent itself).
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    agent::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// Agents newest first, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = agent::Entity::find();
    if let Some(before) = before {
        query = query.filter(agent::Column::Id.lt(before));
    }
    query
        .order_by_desc(agent::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Agents still marked online whose last heartbeat is older than `cutoff`, locked
/// (skipping rows another replica's reaper holds).
pub async fn list_silent_for_update<C: ConnectionTrait>(
    conn: &C,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let query = agent::Entity::find()
        .filter(agent::Column::Status.eq("online"))
        .filter(agent::Column::LastHeartbeatAt.lt(cutoff))
        .limit(limit);
    super::skip_locked(conn, query).all(conn).await
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}
