//! Queries on `api_keys`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entity::api_key::{self, Model};

/// Inserts a key row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    api_key::ActiveModel {
        id: Set(row.id),
        name: Set(row.name),
        role: Set(row.role),
        prefix: Set(row.prefix),
        secret_hash: Set(row.secret_hash),
        created_at: Set(row.created_at),
        expires_at: Set(row.expires_at),
        revoked_at: Set(row.revoked_at),
        parent_id: Set(row.parent_id),
    }
    .insert(conn)
    .await
}

/// The key whose secret hashes to `secret_hash`, revoked or not.
pub async fn find_by_hash<C: ConnectionTrait>(
    conn: &C,
    secret_hash: &str,
) -> Result<Option<Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(secret_hash))
        .one(conn)
        .await
}

/// Key `id` if it has not been revoked.
fn active(id: Uuid) -> sea_orm::Select<api_key::Entity> {
    api_key::Entity::find_by_id(id).filter(api_key::Column::RevokedAt.is_null())
}

/// A key that has not been revoked.
pub async fn find_active<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    active(id).one(conn).await
}

/// Whether key `id` may still be used at `now`: not revoked, not expired, and, for a
/// session key, made from a key that is neither.
pub async fn still_valid<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let Some(row) = find_active(conn, id).await? else {
        return Ok(false);
    };
    if row.expires_at.is_some_and(|at| at <= now) {
        return Ok(false);
    }
    match row.parent_id {
        Some(parent) => Ok(find_active(conn, parent)
            .await?
            .is_some_and(|p| p.expires_at.is_none_or(|at| at > now))),
        None => Ok(true),
    }
}

/// Keys that have not been revoked, sessions left out, newest first, after the `before`
/// cursor.
pub async fn list_active<C: ConnectionTrait>(
    conn: &C,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = api_key::Entity::find()
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(api_key::Column::ParentId.is_null());
    if let Some(before) = before {
        query = query.filter(api_key::Column::Id.lt(before));
    }
    query
        .order_by_desc(api_key::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Marks a key revoked, and the sessions made from it; returns the key's updated row if
/// it was active, and the ids of the sessions revoked with it.
pub async fn revoke<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<(Model, Vec<Uuid>)>, DbErr> {
    // Locked: of two revocations at once, the second waits, finds the key revoked, and
    // revokes (and tells) nothing.
    let Some(row) = active(id)
        .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let mut active: api_key::ActiveModel = row.into();
    active.revoked_at = Set(Some(at));
    let row = active.update(conn).await?;
    let sessions: Vec<Uuid> = api_key::Entity::find()
        .select_only()
        .column(api_key::Column::Id)
        .filter(api_key::Column::ParentId.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .into_tuple()
        .all(conn)
        .await?;
    if !sessions.is_empty() {
        api_key::Entity::update_many()
            .col_expr(
                api_key::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(at),
            )
            .filter(api_key::Column::Id.is_in(sessions.clone()))
            .exec(conn)
            .await?;
    }
    Ok(Some((row, sessions)))
}

/// Deletes session keys that ended (revoked or expired) before `cutoff`; ordinary keys
/// are kept for good, revoked or not. Sessions hang from ordinary keys (one made from a
/// session hangs from that session's key), so none is another's parent; a row that were
/// one would be kept, never break the reference. Returns how many were deleted.
pub async fn prune_ended_sessions<C: ConnectionTrait>(
    conn: &C,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::Condition;
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let parents = Query::select()
        .column(api_key::Column::ParentId)
        .from(api_key::Entity)
        .and_where(Expr::col(api_key::Column::ParentId).is_not_null())
        .to_owned();
    let deleted = api_key::Entity::delete_many()
        .filter(api_key::Column::ParentId.is_not_null())
        .filter(
            Condition::any()
                .add(api_key::Column::RevokedAt.lt(cutoff))
                .add(api_key::Column::ExpiresAt.lt(cutoff)),
        )
        .filter(api_key::Column::Id.not_in_subquery(parents))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}

/// How many keys exist, revoked ones included.
pub async fn count_all<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    api_key::Entity::find().count(conn).await
}
