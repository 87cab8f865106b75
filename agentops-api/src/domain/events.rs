//! Reading the event log, and the cursors its named consumers save.

use agentops_sdk::types::{ErrorCode, Event, EventCursor, EventCursorIn, EventLogHead, Page};

use super::Checks;
use super::limits::{CURSOR_NAME, EVENT_ID, EVENT_PAGE_LIMIT};
use crate::domain::Caller;
use crate::domain::Context;
use crate::error::DomainError;
use crate::events::filter::EventFilter;
use crate::store;
use crate::store::entity::event_cursor;

/// Events after `since` that pass `filter`, oldest first.
///
/// At most `limit` rows of the log are read per call, so a sparse filter may return a
/// short (even empty) page with a `next_cursor`: keep reading until `next_cursor` is
/// `None`.
pub async fn list(
    state: &Context,
    filter: &EventFilter,
    since: i64,
    limit: u64,
) -> Result<Page<Event>, DomainError> {
    let mut checks = Checks::default();
    checks.range(
        "limit",
        i64::try_from(limit).unwrap_or(i64::MAX),
        EVENT_PAGE_LIMIT,
    );
    checks.finish()?;
    if since < 0 {
        return Err(DomainError::invalid("since", "must not be negative"));
    }
    check_cursor(&state.db, since).await?;
    // Every write answered before this read is in the page (or a later one).
    state.events.flush().await?;
    let id_filter = store::events::IdFilter {
        project_id: filter.project_id,
        task_id: filter.task_id,
        agent_id: filter.agent_id,
        exclude_keys: !filter.include_keys,
    };
    let rows = store::events::list_after_where(
        &state.db,
        since,
        &id_filter,
        state.events.delivered(),
        limit,
    )
    .await?;
    // Retention may have committed between the check and the read (its deletion and
    // its mark go together): look again, so a reader never gets a page with a silent gap.
    check_cursor(&state.db, since).await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|e| e.id.to_string()))
        .flatten();
    let items = rows
        .into_iter()
        .filter(|event| filter.matches(event))
        .collect();
    Ok(Page { items, next_cursor })
}

/// Where the log stands: its head (0 for a log never written) and how far retention
/// has pruned it.
pub async fn head(state: &Context) -> Result<EventLogHead, DomainError> {
    state.events.flush().await?;
    let (last_id, pruned_through) =
        store::events::head(&state.db, state.events.delivered()).await?;
    Ok(EventLogHead {
        last_id,
        pruned_through,
    })
}

/// Refuses a `since` from before what retention has pruned: events after it may be gone,
/// and a reader must know it missed them rather than carry on as if it had not.
pub async fn check_cursor<C: sea_orm::ConnectionTrait>(
    conn: &C,
    since: i64,
) -> Result<(), DomainError> {
    let pruned_through = store::events::pruned_through(conn).await?;
    if since < pruned_through {
        return Err(DomainError::Refused {
            code: ErrorCode::CursorExpired,
            message: format!(
                "events up to #{pruned_through} were deleted by retention, so some after #{since} \
                 may be missing; read the current state again, then resume from \
                 GET /api/v1/events/latest"
            ),
        });
    }
    Ok(())
}

/// The cursor called `name`.
pub async fn get_cursor(state: &Context, name: &str) -> Result<EventCursor, DomainError> {
    store::event_cursors::find(&state.db, name)
        .await?
        .map(EventCursor::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::EventCursorNotFound, name))
}

/// Every saved cursor, by name.
pub async fn list_cursors(state: &Context) -> Result<Vec<EventCursor>, DomainError> {
    Ok(store::event_cursors::list(&state.db)
        .await?
        .into_iter()
        .map(EventCursor::from)
        .collect())
}

/// Creates the cursor `name` at `input.last_id`, or moves it forward there (never back).
pub async fn save_cursor(
    state: &Context,
    caller: &Caller,
    name: &str,
    input: EventCursorIn,
) -> Result<EventCursor, DomainError> {
    let mut checks = Checks::default();
    check_cursor_name(&mut checks, name);
    checks.range("last_id", input.last_id, EVENT_ID);
    checks.finish()?;
    state.events.flush().await?;
    let newest = store::events::max_id(&state.db, state.events.delivered()).await?;
    if input.last_id > newest {
        return Err(DomainError::invalid(
            "last_id",
            format!("is beyond the newest event (#{newest}): save the id of an event you handled"),
        ));
    }
    let now = chrono::Utc::now();
    let row = store::event_cursors::advance(
        &state.db,
        event_cursor::Model {
            name: name.to_owned(),
            last_id: input.last_id,
            updated_by: Some(caller.key_id),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    Ok(row.into())
}

/// Deletes the cursor `name`: its consumer starts afresh.
pub async fn delete_cursor(state: &Context, name: &str) -> Result<(), DomainError> {
    if store::event_cursors::delete(&state.db, name).await? {
        Ok(())
    } else {
        Err(DomainError::not_found(ErrorCode::EventCursorNotFound, name))
    }
}

/// `[a-zA-Z0-9_.:-]`, 1–100 characters, starting with a letter or digit (so that no name
/// is `.` or `..`, which URLs would resolve away).
fn check_cursor_name(checks: &mut Checks, name: &str) {
    checks.ident("name", name, CURSOR_NAME);
}

impl From<event_cursor::Model> for EventCursor {
    fn from(row: event_cursor::Model) -> Self {
        EventCursor {
            name: row.name,
            last_id: row.last_id,
            updated_by: row.updated_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The newest event's id, once every write answered before this call is in the log: a
/// live stream that starts "from now on" starts after it.
pub async fn newest_id(state: &Context) -> Result<i64, DomainError> {
    state.events.flush().await?;
    Ok(store::events::max_id(&state.db, state.events.delivered()).await?)
}

/// Up to `limit` events with an id above `after`, oldest first, of those `filter` may
/// match: the database applies its project, task, agent and key conditions, the caller
/// [`EventFilter::matches`] for the rest (an empty page with a high `after` is not the
/// end of the log unless it is shorter than `limit`).
pub async fn page_after(
    state: &Context,
    after: i64,
    filter: &EventFilter,
    limit: u64,
) -> Result<Vec<Event>, sea_orm::DbErr> {
    let ids = store::events::IdFilter {
        project_id: filter.project_id,
        task_id: filter.task_id,
        agent_id: filter.agent_id,
        exclude_keys: !filter.include_keys,
    };
    store::events::list_after_where(&state.db, after, &ids, state.events.delivered(), limit).await
}
