//! Queries on `project_notes`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::entity::project_note::{self, Column, Model};

/// Inserts a version (the primary key refuses a version written twice).
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    project_note::ActiveModel::from(row).insert(conn).await
}

/// The newest version of a note, or a given one.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    project_id: Uuid,
    key: &str,
    version: Option<i64>,
) -> Result<Option<Model>, DbErr> {
    let mut query = project_note::Entity::find()
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::Key.eq(key));
    if let Some(version) = version {
        query = query.filter(Column::Version.eq(version));
    }
    query.order_by_desc(Column::Version).one(conn).await
}

/// A note's versions, newest first, below `before`, at most `limit`.
pub async fn versions<C: ConnectionTrait>(
    conn: &C,
    project_id: Uuid,
    key: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = project_note::Entity::find()
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::Key.eq(key));
    if let Some(before) = before {
        query = query.filter(Column::Version.lt(before));
    }
    query
        .order_by_desc(Column::Version)
        .limit(limit)
        .all(conn)
        .await
}

/// The newest version of each of a project's notes, by key.
pub async fn latest<C: ConnectionTrait>(conn: &C, project_id: Uuid) -> Result<Vec<Model>, DbErr> {
    let rows = project_note::Entity::find()
        .filter(Column::ProjectId.eq(project_id))
        .order_by_asc(Column::Key)
        .order_by_desc(Column::Version)
        .all(conn)
        .await?;
    let mut latest: Vec<Model> = Vec::new();
    for row in rows {
        if latest.last().is_none_or(|last| last.key != row.key) {
            latest.push(row);
        }
    }
    Ok(latest)
}
