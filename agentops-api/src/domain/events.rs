//! Reading the event log.

use agentops_sdk::types::{Event, Page};

use crate::error::DomainError;
use crate::events::filter::EventFilter;
use crate::state::AppState;
use crate::store;

/// Events after `since` that pass `filter`, oldest first.
///
/// At most `limit` rows of the log are read per call, so a sparse filter may return a
/// short (even empty) page with a `next_cursor`: keep reading until `next_cursor` is
/// `None`.
pub async fn list(
    state: &AppState,
    filter: &EventFilter,
    since: i64,
    limit: u64,
) -> Result<Page<Event>, DomainError> {
    if !(1..=1000).contains(&limit) {
        return Err(DomainError::invalid("limit", "must be between 1 and 1000"));
    }
    if since < 0 {
        return Err(DomainError::invalid("since", "must not be negative"));
    }
    check_cursor(&state.db, since).await?;
    let id_filter = store::events::IdFilter {
        project_id: filter.project_id,
        task_id: filter.task_id,
        agent_id: filter.agent_id,
        exclude_keys: !filter.include_keys,
    };
    let rows = store::events::list_after_where(&state.db, since, &id_filter, limit).await?;
    let next_cursor = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|e| e.id.to_string()))
        .flatten();
    let items = rows
        .into_iter()
        .filter(|event| filter.matches(event))
        .collect();
    Ok(Page { items, next_cursor })
}

/// The highest event id committed so far (0 for an empty log).
pub async fn last_id(state: &AppState) -> Result<i64, DomainError> {
    Ok(store::events::max_id(&state.db).await?)
}

/// Refuses a `since` from before what retention has pruned: events after it may be gone,
/// and a reader must know it missed them rather than carry on as if it had not.
pub async fn check_cursor<C: sea_orm::ConnectionTrait>(
    conn: &C,
    since: i64,
) -> Result<(), DomainError> {
    let pruned_through = store::events::pruned_through(conn).await?;
    if since < pruned_through {
        return Err(DomainError::Gone {
            code: "cursor_expired",
            message: format!(
                "events up to #{pruned_through} were deleted by retention, so some after #{since} \
                 may be missing; read the current state again, then resume from \
                 GET /api/v1/events/latest"
            ),
        });
    }
    Ok(())
}
