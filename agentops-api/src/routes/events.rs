//! `/api/v1/events`: the event log over HTTP, and the live stream over WebSocket.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{
    ErrorBody, ErrorCode, Event, EventCursor, EventCursorIn, EventLogHead, Page,
};

use super::event_stream::{self as stream, Start};
use crate::auth::{AgentKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::events::filter::EventFilter;
use crate::events::ws::WsUpgrade;
use crate::extract::{ApiJson, ApiQuery, NamePath};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(event_log_head))
        .routes(routes!(stream_events))
        .routes(routes!(list_cursors))
        .routes(routes!(get_cursor, save_cursor, delete_cursor))
}

/// Filters of the event log and stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventParams {
    /// Only events after this id (the log's start if absent for the list; for the stream,
    /// only events committed from now on if absent).
    since: Option<i64>,
    /// Comma-separated type patterns: `task.completed`, `task.*`, `*`.
    types: Option<String>,
    /// Only events about this project.
    project_id: Option<Uuid>,
    /// Only events about this task.
    task_id: Option<Uuid>,
    /// Only events about this agent.
    agent_id: Option<Uuid>,
    /// Most events in a page (1–1000, default 100; list only).
    limit: Option<u64>,
    /// Browsers' WebSocket API cannot set headers: the API key may come here instead.
    #[serde(rename = "access_token")]
    #[expect(
        dead_code,
        reason = "read by the authentication middleware; declared for the OpenAPI document"
    )]
    access_token: Option<String>,
}

impl EventParams {
    fn filter(
        &self,
        caller: &crate::auth::Caller,
    ) -> Result<EventFilter, crate::error::DomainError> {
        EventFilter::parse(
            self.types.as_deref(),
            self.project_id,
            self.task_id,
            self.agent_id,
            caller.role,
        )
    }
}

/// Read the event log after `since`, oldest first.
///
/// `next_cursor`, when present, is the `since` of the next page.
#[utoipa::path(get, path = "/events", tag = "events", params(EventParams),
    responses((status = 200, body = Page<Event>), (status = 400, body = ErrorBody),
        (status = 410, description = "`since` is older than what retention kept (`cursor_expired`)", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn list_events(
    State(state): State<AppState>,
    ViewerKey(caller): ViewerKey,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Json<Page<Event>>> {
    let filter = params.filter(&caller)?;
    let page = domain::events::list(
        &state,
        &filter,
        params.since.unwrap_or(0),
        params.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(page))
}

/// The newest event id (a `since` that starts a reader at "now"), and how far retention
/// has pruned the log.
#[utoipa::path(get, path = "/events/latest", tag = "events",
    responses((status = 200, body = EventLogHead)), security(("bearer" = ["viewer"])))]
async fn event_log_head(
    State(state): State<AppState>,
    _viewer: ViewerKey,
) -> ApiResult<Json<EventLogHead>> {
    Ok(Json(domain::events::head(&state).await?))
}

/// Watch events live over a WebSocket: first the log after `since`, then new events.
///
/// Each text message is one event as JSON, in id order, with no gap and no duplicate.
/// The server pings every 15 s; a subscriber that falls behind is closed with code 4000,
/// and on shutdown with 1012; either way, reconnect with `since` = the last id received.
#[utoipa::path(get, path = "/events/stream", tag = "events", params(EventParams),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 400, body = ErrorBody),
        (status = 410, description = "`since` is older than what retention kept (`cursor_expired`)", body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn stream_events(
    State(state): State<AppState>,
    ViewerKey(caller): ViewerKey,
    ApiQuery(params): ApiQuery<EventParams>,
    upgrade: WsUpgrade,
) -> ApiResult<Response> {
    let filter = params.filter(&caller)?;
    let start = match params.since {
        Some(since) if since >= 0 => Start::After(since),
        Some(_) => {
            return Err(crate::error::ApiError::refused(
                ErrorCode::InvalidQuery,
                "since must not be negative",
            ));
        }
        None => Start::Now,
    };
    let prepared = stream::prepare(&state, start).await?;
    Ok(upgrade.on_upgrade(move |reader, writer| {
        stream::run(reader, writer, state, filter, prepared, caller.key_id)
    }))
}

/// Every saved event cursor, by name: how far each named consumer has got (compare with
/// `GET /events/latest` to see how far behind it is).
#[utoipa::path(get, path = "/events/cursors", tag = "events",
    responses((status = 200, body = Vec<EventCursor>)), security(("bearer" = ["viewer"])))]
async fn list_cursors(
    State(state): State<AppState>,
    _viewer: ViewerKey,
) -> ApiResult<Json<Vec<EventCursor>>> {
    Ok(Json(domain::events::list_cursors(&state).await?))
}

/// A named event cursor: resume its consumer's stream with `since` = `last_id`.
#[utoipa::path(get, path = "/events/cursors/{name}", tag = "events",
    params(("name" = String, Path, description = "The cursor's name")),
    responses((status = 200, body = EventCursor), (status = 404, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_cursor(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    NamePath(name): NamePath,
) -> ApiResult<Json<EventCursor>> {
    Ok(Json(domain::events::get_cursor(&state, &name).await?))
}

/// Save a named event cursor: create it, or move it forward to `last_id` (agent role).
///
/// A cursor never moves back: saving a lower id than the stored one leaves it (and
/// answers it) as it is, so replicas or retries that save late do no harm.
#[utoipa::path(put, path = "/events/cursors/{name}", tag = "events",
    params(("name" = String, Path, description = "The cursor's name")),
    request_body = EventCursorIn,
    responses((status = 200, body = EventCursor), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn save_cursor(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    NamePath(name): NamePath,
    ApiJson(input): ApiJson<EventCursorIn>,
) -> ApiResult<Json<EventCursor>> {
    Ok(Json(
        domain::events::save_cursor(&state, &caller, &name, input).await?,
    ))
}

/// Delete a named event cursor, so that its consumer starts afresh (agent role).
#[utoipa::path(delete, path = "/events/cursors/{name}", tag = "events",
    params(("name" = String, Path, description = "The cursor's name")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn delete_cursor(
    State(state): State<AppState>,
    _agent: AgentKey,
    NamePath(name): NamePath,
) -> ApiResult<StatusCode> {
    domain::events::delete_cursor(&state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
