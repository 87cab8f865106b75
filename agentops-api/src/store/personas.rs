//! Queries on `personas` and `persona_versions`.

use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::persona::{self, Column, Model};
use super::entity::persona_version;

/// Inserts a persona row.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    persona::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// Inserts a version row.
pub async fn insert_version<C: ConnectionTrait>(
    conn: &C,
    row: persona_version::Model,
) -> Result<persona_version::Model, DbErr> {
    persona_version::Entity::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(conn)
        .await?;
    Ok(row)
}

/// Saves every column of `row`.
pub async fn update<C: ConnectionTrait>(conn: &C, row: Model) -> Result<Model, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

/// Writes a persona's sealed provider key and Telegram token as `after` if they are
/// still `before` (a compare-and-set: a change made since they were read is not undone);
/// whether it did.
pub async fn swap_sealed<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    before: (Option<&str>, Option<&str>),
    after: (Option<String>, Option<String>),
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    let same = |column: Column, value: Option<&str>| match value {
        Some(value) => column.eq(value),
        None => column.is_null(),
    };
    let done = persona::Entity::update_many()
        .col_expr(Column::ProviderKeySealed, after.0.into())
        .col_expr(Column::TelegramTokenSealed, after.1.into())
        .col_expr(Column::UpdatedAt, now.into())
        .filter(Column::Id.eq(id))
        .filter(same(Column::ProviderKeySealed, before.0))
        .filter(same(Column::TelegramTokenSealed, before.1))
        .exec(conn)
        .await?;
    Ok(done.rows_affected > 0)
}

/// One persona.
pub async fn find<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Model>, DbErr> {
    persona::Entity::find_by_id(id).one(conn).await
}

/// One persona, locked until the transaction ends (see [`crate::store`]).
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    persona::Entity::find_by_id(id)
        .lock(LockType::NoKeyUpdate)
        .one(conn)
        .await
}

/// The persona whose slug is `slug_key` (lower case).
pub async fn find_slug<C: ConnectionTrait>(
    conn: &C,
    slug_key: &str,
) -> Result<Option<Model>, DbErr> {
    persona::Entity::find()
        .filter(Column::SlugKey.eq(slug_key))
        .one(conn)
        .await
}

/// Whether a persona holds `slug_key` (other than `except`).
pub async fn slug_taken<C: ConnectionTrait>(
    conn: &C,
    slug_key: &str,
    except: Option<Uuid>,
) -> Result<bool, DbErr> {
    let mut query = persona::Entity::find().filter(Column::SlugKey.eq(slug_key));
    if let Some(id) = except {
        query = query.filter(Column::Id.ne(id));
    }
    Ok(query.count(conn).await? > 0)
}

/// A version of a persona.
pub async fn find_version<C: ConnectionTrait>(
    conn: &C,
    persona_id: Uuid,
    version: i32,
) -> Result<Option<persona_version::Model>, DbErr> {
    persona_version::Entity::find_by_id((persona_id, version))
        .one(conn)
        .await
}

/// A persona's versions, newest first, below `before` (a version number).
pub async fn versions<C: ConnectionTrait>(
    conn: &C,
    persona_id: Uuid,
    before: Option<i32>,
    limit: u64,
) -> Result<Vec<persona_version::Model>, DbErr> {
    let mut query =
        persona_version::Entity::find().filter(persona_version::Column::PersonaId.eq(persona_id));
    if let Some(before) = before {
        query = query.filter(persona_version::Column::Version.lt(before));
    }
    query
        .order_by_desc(persona_version::Column::Version)
        .limit(limit)
        .all(conn)
        .await
}

/// Which personas a listing wants.
#[derive(Debug, Default, Clone)]
pub struct ListFilter<'a> {
    /// Only this owner's.
    pub owner: Option<&'a str>,
    /// Only these visibilities.
    pub visibility: Option<&'a str>,
    /// Only active ones.
    pub active_only: bool,
    /// Besides the others, every persona this owner has (whatever its visibility).
    pub or_owned_by: Option<&'a str>,
    /// Only public ones, plus `or_owned_by`'s.
    pub public_only: bool,
    /// Only those with (or without) a Telegram bot.
    pub telegram_bot: Option<bool>,
}

/// Personas newest first, as `filter` says, after the `before` cursor.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    filter: ListFilter<'_>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = persona::Entity::find();
    if let Some(owner) = filter.owner {
        query = query.filter(Column::Owner.eq(owner));
    }
    if let Some(visibility) = filter.visibility {
        query = query.filter(Column::Visibility.eq(visibility));
    }
    if filter.active_only {
        query = query.filter(Column::Status.eq("active"));
    }
    if filter.public_only {
        let mut seen = Condition::any().add(Column::Visibility.eq("public"));
        if let Some(owner) = filter.or_owned_by {
            seen = seen.add(Column::Owner.eq(owner));
        }
        query = query.filter(seen);
    }
    match filter.telegram_bot {
        Some(true) => query = query.filter(Column::TelegramBotId.is_not_null()),
        Some(false) => query = query.filter(Column::TelegramBotId.is_null()),
        None => {}
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query.order_by_desc(Column::Id).limit(limit).all(conn).await
}

/// For each of `personas`: how many messages people sent it since `since`, and how
/// many people did (their conversations are threads of channel `persona` whose external
/// id starts with the persona's id).
pub async fn usage_since<C: ConnectionTrait>(
    conn: &C,
    personas: &[Uuid],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<std::collections::HashMap<Uuid, (u64, u64)>, DbErr> {
    use super::entity::{thread, thread_message};
    let mut usage = std::collections::HashMap::new();
    if personas.is_empty() {
        return Ok(usage);
    }
    let mut of_any = Condition::any();
    for id in personas {
        of_any = of_any.add(thread::Column::ExternalId.starts_with(format!("{id}:")));
    }
    let threads: Vec<(Uuid, Option<String>)> = thread::Entity::find()
        .select_only()
        .column(thread::Column::Id)
        .column(thread::Column::ExternalId)
        .filter(thread::Column::Channel.eq("persona"))
        .filter(of_any)
        .into_tuple()
        .all(conn)
        .await?;
    let owner_of: std::collections::HashMap<Uuid, Uuid> = threads
        .into_iter()
        .filter_map(|(thread, external)| Some((thread, persona_of_external(&external?)?)))
        .collect();
    let ids: Vec<Uuid> = owner_of.keys().copied().collect();
    for chunk in ids.chunks(500) {
        let counts: Vec<(Uuid, i64)> = thread_message::Entity::find()
            .select_only()
            .column(thread_message::Column::ThreadId)
            .column_as(thread_message::Column::Id.count(), "n")
            .filter(thread_message::Column::ThreadId.is_in(chunk.iter().copied()))
            .filter(thread_message::Column::Role.eq("user"))
            .filter(thread_message::Column::CreatedAt.gte(since))
            .group_by(thread_message::Column::ThreadId)
            .into_tuple()
            .all(conn)
            .await?;
        for (thread, n) in counts {
            if let Some(persona) = owner_of.get(&thread) {
                let entry = usage.entry(*persona).or_insert((0, 0));
                entry.0 += u64::try_from(n).unwrap_or(0);
                entry.1 += 1;
            }
        }
    }
    Ok(usage)
}

/// The persona a conversation's external id (`<persona id>:<person>`) names.
fn persona_of_external(external: &str) -> Option<Uuid> {
    external.get(..36)?.parse().ok()
}

/// The persona whose conversation `thread` is, if it is one (a thread of channel
/// `persona` whose external id starts with the persona's id).
pub async fn persona_of_thread<C: ConnectionTrait>(
    conn: &C,
    thread: Uuid,
) -> Result<Option<Uuid>, DbErr> {
    use super::entity::thread as thread_entity;
    let external: Option<Option<String>> = thread_entity::Entity::find_by_id(thread)
        .select_only()
        .column(thread_entity::Column::ExternalId)
        .filter(thread_entity::Column::Channel.eq("persona"))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(external.flatten().as_deref().and_then(persona_of_external))
}

/// The persona (its id and owner) whose conversation `thread` is, if it is one; deleted
/// personas too, as long as their row is kept.
pub async fn of_thread<C: ConnectionTrait>(
    conn: &C,
    thread: Uuid,
) -> Result<Option<(Uuid, String)>, DbErr> {
    let Some(persona) = persona_of_thread(conn, thread).await? else {
        return Ok(None);
    };
    let owner: Option<String> = persona::Entity::find_by_id(persona)
        .select_only()
        .column(Column::Owner)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(owner.map(|owner| (persona, owner)))
}

/// A persona's conversations (threads of channel `persona` whose external id starts with
/// its id), newest first, before the `before` cursor, at most `limit`; each with how
/// many messages it holds and when the last was written.
pub async fn conversations<C: ConnectionTrait>(
    conn: &C,
    persona: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<
    Vec<(
        super::entity::thread::Model,
        u64,
        Option<chrono::DateTime<chrono::Utc>>,
    )>,
    DbErr,
> {
    use super::entity::{thread, thread_message};
    let mut query = thread::Entity::find()
        .filter(thread::Column::Channel.eq("persona"))
        .filter(thread::Column::ExternalId.starts_with(format!("{persona}:")));
    if let Some(before) = before {
        query = query.filter(thread::Column::Id.lt(before));
    }
    let threads = query
        .order_by_desc(thread::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    if threads.is_empty() {
        return Ok(Vec::new());
    }
    let counts: Vec<(Uuid, i64, Option<chrono::DateTime<chrono::Utc>>)> =
        thread_message::Entity::find()
            .select_only()
            .column(thread_message::Column::ThreadId)
            .column_as(thread_message::Column::Id.count(), "n")
            .column_as(thread_message::Column::CreatedAt.max(), "last")
            .filter(thread_message::Column::ThreadId.is_in(threads.iter().map(|t| t.id)))
            .group_by(thread_message::Column::ThreadId)
            .into_tuple()
            .all(conn)
            .await?;
    let counts: std::collections::HashMap<Uuid, (i64, Option<chrono::DateTime<chrono::Utc>>)> =
        counts
            .into_iter()
            .map(|(thread, n, last)| (thread, (n, last)))
            .collect();
    Ok(threads
        .into_iter()
        .map(|thread| {
            let (n, last) = counts.get(&thread.id).copied().unwrap_or_default();
            (thread, u64::try_from(n).unwrap_or(0), last)
        })
        .collect())
}

/// Deletes a persona and its versions.
pub async fn purge<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<(), DbErr> {
    persona_version::Entity::delete_many()
        .filter(persona_version::Column::PersonaId.eq(id))
        .exec(conn)
        .await?;
    persona::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// Personas holding a sealed secret, after `after` (by id), `limit` at a time.
pub async fn with_secrets<C: ConnectionTrait>(
    conn: &C,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = persona::Entity::find().filter(
        Condition::any()
            .add(Column::ProviderKeySealed.is_not_null())
            .add(Column::TelegramTokenSealed.is_not_null()),
    );
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.order_by_asc(Column::Id).limit(limit).all(conn).await
}
