//! Queries on `pairings`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::pairing::{self, Column, Model};

/// Serialises the requests and approvals of pairings until the transaction ends, so the
/// cap on pending codes per channel is counted by one writer at a time and two first
/// requests of one chat do not both insert. PostgreSQL only: SQLite serialises every
/// writer already (`BEGIN IMMEDIATE`).
pub async fn lock<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared("SELECT pg_advisory_xact_lock(7243819113004)")
            .await?;
    }
    Ok(())
}

/// Inserts a pairing row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    pairing::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One pairing.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    pairing::Entity::find_by_id(id).one(conn).await
}

/// One pairing, locked until the transaction ends (see [`crate::store`]).
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    pairing::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The pairing of one chat, locked until the transaction ends.
pub async fn find_chat_for_update<C: ConnectionTrait>(
    conn: &C,
    channel: &str,
    chat: &str,
) -> Result<Option<Model>, DbErr> {
    pairing::Entity::find()
        .filter(Column::Channel.eq(channel))
        .filter(Column::Chat.eq(chat))
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The pending pairing holding `code` whose code is still valid at `now`, locked until
/// the transaction ends.
pub async fn find_pending_code_for_update<C: ConnectionTrait>(
    conn: &C,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Model>, DbErr> {
    pairing::Entity::find()
        .filter(Column::Code.eq(code))
        .filter(Column::Status.eq("pending"))
        .filter(Column::ExpiresAt.gt(now))
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// Whether any row holds `code` (valid or not), so a new code never repeats a live one.
pub async fn code_in_use<C: ConnectionTrait>(conn: &C, code: &str) -> Result<bool, DbErr> {
    Ok(pairing::Entity::find()
        .filter(Column::Code.eq(code))
        .count(conn)
        .await?
        > 0)
}

/// How many pairings of `channel` hold a code still valid at `now`, and when the first
/// of those codes runs out.
pub async fn pending_on<C: ConnectionTrait>(
    conn: &C,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<(u64, Option<DateTime<Utc>>), DbErr> {
    let pending = || {
        pairing::Entity::find()
            .filter(Column::Channel.eq(channel))
            .filter(Column::Status.eq("pending"))
            .filter(Column::ExpiresAt.gt(now))
    };
    let count = pending().count(conn).await?;
    let first = pending()
        .order_by_asc(Column::ExpiresAt)
        .one(conn)
        .await?
        .and_then(|row| row.expires_at);
    Ok((count, first))
}

/// Which pairings a listing wants.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListFilter<'a> {
    /// Only this channel.
    pub channel: Option<&'a str>,
    /// Only this chat.
    pub chat: Option<&'a str>,
    /// Only this stored status.
    pub status: Option<&'a str>,
    /// Only rows whose `expires_at` is after this time.
    pub expires_after: Option<DateTime<Utc>>,
    /// Only rows whose `expires_at` is at or before this time.
    pub expired_by: Option<DateTime<Utc>>,
}

/// Pairings newest first (by id: when the chat first asked), as `filter` says, after the
/// `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: ListFilter<'_>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = pairing::Entity::find();
    if let Some(channel) = filter.channel {
        query = query.filter(Column::Channel.eq(channel));
    }
    if let Some(chat) = filter.chat {
        query = query.filter(Column::Chat.eq(chat));
    }
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status));
    }
    if let Some(after) = filter.expires_after {
        query = query.filter(Column::ExpiresAt.gt(after));
    }
    if let Some(by) = filter.expired_by {
        query = query.filter(Column::ExpiresAt.lte(by));
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
