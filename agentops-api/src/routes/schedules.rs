//! `/api/v1/schedules`: task templates created on a cron expression, an interval or once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{ErrorBody, Page, ScheduleIn, ScheduleOut};

use crate::auth::{AdminKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_schedule, list_schedules))
        .routes(routes!(get_schedule, delete_schedule))
        .routes(routes!(pause_schedule))
        .routes(routes!(resume_schedule))
}

/// Filters and paging of `GET /schedules`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ScheduleListParams {
    /// Only this project's schedules.
    project_id: Option<Uuid>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Create a schedule: the task it creates, and when (exactly one of `cron`,
/// `every_seconds` and `at`).
#[utoipa::path(post, path = "/schedules", tag = "schedules", request_body = ScheduleIn,
    responses((status = 201, body = ScheduleOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn create_schedule(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    ApiJson(input): ApiJson<ScheduleIn>,
) -> ApiResult<(StatusCode, Json<ScheduleOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(domain::schedules::create(&state, &caller, input).await?),
    ))
}

/// List schedules, newest first, each with when it fires next.
#[utoipa::path(get, path = "/schedules", tag = "schedules", params(ScheduleListParams),
    responses((status = 200, body = Page<ScheduleOut>)), security(("bearer" = ["viewer"])))]
async fn list_schedules(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<ScheduleListParams>,
) -> ApiResult<Json<Page<ScheduleOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    Ok(Json(
        domain::schedules::list(&state, params.project_id, page).await?,
    ))
}

/// One schedule.
#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules",
    params(("id" = uuid::Uuid, Path, description = "Schedule id")),
    responses((status = 200, body = ScheduleOut), (status = 404, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_schedule(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ScheduleOut>> {
    Ok(Json(domain::schedules::get(&state, id).await?))
}

/// Delete a schedule (the tasks it created stay).
#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules",
    params(("id" = uuid::Uuid, Path, description = "Schedule id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn delete_schedule(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    domain::schedules::delete(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pause a schedule: it creates nothing until resumed.
#[utoipa::path(post, path = "/schedules/{id}/pause", tag = "schedules",
    params(("id" = uuid::Uuid, Path, description = "Schedule id")),
    responses((status = 200, body = ScheduleOut), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn pause_schedule(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ScheduleOut>> {
    Ok(Json(domain::schedules::set_paused(&state, id, true).await?))
}

/// Resume a paused schedule: it is next due from now (missed due times are skipped).
#[utoipa::path(post, path = "/schedules/{id}/resume", tag = "schedules",
    params(("id" = uuid::Uuid, Path, description = "Schedule id")),
    responses((status = 200, body = ScheduleOut), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn resume_schedule(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ScheduleOut>> {
    Ok(Json(
        domain::schedules::set_paused(&state, id, false).await?,
    ))
}
