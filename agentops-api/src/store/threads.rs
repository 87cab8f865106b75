//! Queries on `threads`, `thread_messages` and `approvals`.

use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::{approval, thread, thread_message};

/// Inserts a thread row.
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    row: thread::Model,
) -> Result<thread::Model, DbErr> {
    thread::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One thread.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<thread::Model>, DbErr> {
    thread::Entity::find_by_id(id).one(conn).await
}

/// One thread, locked `FOR NO KEY UPDATE` until the transaction ends (see
/// [`crate::store`]): writers to one thread take turns, so "the pending approval" is
/// well defined.
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<thread::Model>, DbErr> {
    thread::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The thread a channel knows by `external_id`.
pub async fn find_by_external<C: ConnectionTrait>(
    conn: &C,
    channel: &str,
    external_id: &str,
) -> Result<Option<thread::Model>, DbErr> {
    thread::Entity::find()
        .filter(thread::Column::Channel.eq(channel))
        .filter(thread::Column::ExternalId.eq(external_id))
        .one(conn)
        .await
}

/// Threads newest first, after the `before` cursor, optionally of one channel.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    channel: Option<&str>,
    external_id: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<thread::Model>, DbErr> {
    let mut query = thread::Entity::find();
    if let Some(channel) = channel {
        query = query.filter(thread::Column::Channel.eq(channel));
    }
    if let Some(external_id) = external_id {
        query = query.filter(thread::Column::ExternalId.eq(external_id));
    }
    if let Some(before) = before {
        query = query.filter(thread::Column::Id.lt(before));
    }
    query
        .order_by_desc(thread::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Saves every column of a thread.
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    row: thread::Model,
) -> Result<thread::Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

/// Inserts a message row.
pub async fn insert_message<C: ConnectionTrait>(
    conn: &C,
    row: thread_message::Model,
) -> Result<thread_message::Model, DbErr> {
    thread_message::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// The message an API key posted with `key` as its `Idempotency-Key`.
pub async fn find_message_by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    created_by: Uuid,
    key: &str,
) -> Result<Option<thread_message::Model>, DbErr> {
    thread_message::Entity::find()
        .filter(thread_message::Column::CreatedBy.eq(created_by))
        .filter(thread_message::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// A thread's messages newest first, after the `before` cursor.
pub async fn list_messages<C: ConnectionTrait>(
    conn: &C,
    thread_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<thread_message::Model>, DbErr> {
    let mut query =
        thread_message::Entity::find().filter(thread_message::Column::ThreadId.eq(thread_id));
    if let Some(before) = before {
        query = query.filter(thread_message::Column::Id.lt(before));
    }
    query
        .order_by_desc(thread_message::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// How many messages of `role` thread `thread_id` has had since `since`.
pub async fn count_messages_since<C: ConnectionTrait>(
    conn: &C,
    thread_id: Uuid,
    role: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    thread_message::Entity::find()
        .filter(thread_message::Column::ThreadId.eq(thread_id))
        .filter(thread_message::Column::Role.eq(role))
        .filter(thread_message::Column::CreatedAt.gte(since))
        .count(conn)
        .await
}

/// Inserts an approval row.
pub async fn insert_approval<C: ConnectionTrait>(
    conn: &C,
    row: approval::Model,
) -> Result<approval::Model, DbErr> {
    approval::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// One approval.
pub async fn find_approval<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<approval::Model>, DbErr> {
    approval::Entity::find_by_id(id).one(conn).await
}

/// One approval, locked `FOR NO KEY UPDATE` until the transaction ends.
pub async fn find_approval_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<approval::Model>, DbErr> {
    approval::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The thread's pending approval (at most one, by a unique index), locked
/// `FOR NO KEY UPDATE`.
pub async fn find_pending_for_update<C: ConnectionTrait>(
    conn: &C,
    thread_id: Uuid,
) -> Result<Option<approval::Model>, DbErr> {
    approval::Entity::find()
        .filter(approval::Column::ThreadId.eq(thread_id))
        .filter(approval::Column::Status.eq("pending"))
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// Which approvals a listing wants.
#[derive(Debug, Default, Clone)]
pub struct ApprovalFilter {
    /// Only this thread's.
    pub thread_id: Option<Uuid>,
    /// Only in this status.
    pub status: Option<String>,
}

/// Approvals newest first, after the `before` cursor.
pub async fn list_approvals<C: ConnectionTrait>(
    conn: &C,
    filter: &ApprovalFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<approval::Model>, DbErr> {
    let mut query = approval::Entity::find();
    if let Some(thread_id) = filter.thread_id {
        query = query.filter(approval::Column::ThreadId.eq(thread_id));
    }
    if let Some(status) = &filter.status {
        query = query.filter(approval::Column::Status.eq(status.as_str()));
    }
    if let Some(before) = before {
        query = query.filter(approval::Column::Id.lt(before));
    }
    query
        .order_by_desc(approval::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Saves every column of an approval.
pub async fn update_approval<C: ConnectionTrait>(
    conn: &C,
    row: approval::Model,
) -> Result<approval::Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}
