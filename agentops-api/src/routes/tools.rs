//! `/api/v1/tools`: tools agents write for themselves, their review and their runs.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{ErrorBody, Page, ToolIn, ToolOut, ToolReviewIn, ToolRunIn, ToolStatus};

use super::created;
use crate::auth::{AdminKey, AgentKey, ViewerKey};
use crate::domain;
use crate::domain::tools::{ListFilter, Review};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, IdempotencyKey, OptionalJson, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tool, list_tools))
        .routes(routes!(get_tool))
        .routes(routes!(approve_tool))
        .routes(routes!(reject_tool))
        .routes(routes!(retire_tool))
        .routes(routes!(record_tool_run))
}

/// Filters and paging of `GET /tools`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ToolListParams {
    /// Only tools in this status.
    status: Option<ToolStatus>,
    /// Only versions of this name.
    name: Option<String>,
    /// Only tools made in this task.
    task_id: Option<Uuid>,
    /// Only tools this task may use: every approved one, and those waiting for review
    /// that it made.
    usable_by_task: Option<Uuid>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Store a tool whose tests passed (an `Idempotency-Key` header makes retries safe).
/// It waits for review unless the server approves tools itself.
#[utoipa::path(post, path = "/tools", tag = "tools", request_body = ToolIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe create: the same key returns the first tool")),
    responses((status = 201, body = ToolOut), (status = 200, description = "Replay of an earlier create with the same Idempotency-Key", body = ToolOut),
        (status = 404, description = "The `task_id` names no task", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn create_tool(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<ToolIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::tools::create(&state, &caller, input, key).await?,
    ))
}

/// List tools, newest first.
#[utoipa::path(get, path = "/tools", tag = "tools", params(ToolListParams),
    responses((status = 200, body = Page<ToolOut>), (status = 422, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn list_tools(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<ToolListParams>,
) -> ApiResult<Json<Page<ToolOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let filter = ListFilter {
        status: params.status,
        name: params.name,
        task_id: params.task_id,
        usable_by_task: params.usable_by_task,
    };
    Ok(Json(domain::tools::list(&state, filter, page).await?))
}

/// Get a tool.
#[utoipa::path(get, path = "/tools/{id}", tag = "tools",
    params(("id" = Uuid, Path, description = "Tool id")),
    responses((status = 200, body = ToolOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_tool(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ToolOut>> {
    Ok(Json(domain::tools::get(&state, id).await?))
}

/// Approve a tool waiting for review: every later task is offered it.
#[utoipa::path(post, path = "/tools/{id}/approve", tag = "tools", request_body(content = Option<ToolReviewIn>),
    params(("id" = Uuid, Path, description = "Tool id")),
    responses((status = 200, body = ToolOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn approve_tool(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<ToolReviewIn>,
) -> ApiResult<Json<ToolOut>> {
    Ok(Json(
        domain::tools::review(&state, &caller, id, Review::Approve, input).await?,
    ))
}

/// Reject a tool waiting for review: it is never offered.
#[utoipa::path(post, path = "/tools/{id}/reject", tag = "tools", request_body(content = Option<ToolReviewIn>),
    params(("id" = Uuid, Path, description = "Tool id")),
    responses((status = 200, body = ToolOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn reject_tool(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<ToolReviewIn>,
) -> ApiResult<Json<ToolOut>> {
    Ok(Json(
        domain::tools::review(&state, &caller, id, Review::Reject, input).await?,
    ))
}

/// Retire a tool (it keeps failing, or is no longer wanted): it is no longer offered.
#[utoipa::path(post, path = "/tools/{id}/retire", tag = "tools", request_body(content = Option<ToolReviewIn>),
    params(("id" = Uuid, Path, description = "Tool id")),
    responses((status = 200, body = ToolOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn retire_tool(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<ToolReviewIn>,
) -> ApiResult<Json<ToolOut>> {
    Ok(Json(
        domain::tools::review(&state, &caller, id, Review::Retire, input).await?,
    ))
}

/// Report one run of a tool: its usage count (and on failure its failure count and last
/// error) move on.
#[utoipa::path(post, path = "/tools/{id}/runs", tag = "tools", request_body = ToolRunIn,
    params(("id" = Uuid, Path, description = "Tool id")),
    responses((status = 200, body = ToolOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn record_tool_run(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<ToolRunIn>,
) -> ApiResult<Json<ToolOut>> {
    Ok(Json(domain::tools::record_run(&state, id, input).await?))
}
