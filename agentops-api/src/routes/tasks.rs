//! `/api/v1/tasks`: tasks, and the agent protocol (claim, heartbeat, complete, fail, block).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{
    BatchOut, BlockIn, CancelIn, ClaimIn, ClaimOut, CompleteIn, CompleteManyIn, ErrorBody, FailIn,
    HeartbeatManyIn, Page, ReleaseIn, TaskHeartbeatIn, TaskIn, TaskOut, TaskPatch, TaskStatus,
    TaskSummary, UnblockIn,
};

use super::created;
use crate::auth::{AdminKey, AgentKey, ViewerKey};
use crate::domain;
use crate::domain::tasks::ListFilter;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, IdempotencyKey, OptionalJson, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_task, list_tasks))
        .routes(routes!(task_summary))
        .routes(routes!(claim_tasks))
        .routes(routes!(get_task, update_task))
        .routes(routes!(cancel_task))
        .routes(routes!(heartbeat_task))
        .routes(routes!(complete_task))
        .routes(routes!(complete_tasks))
        .routes(routes!(heartbeat_tasks))
        .routes(routes!(fail_task))
        .routes(routes!(block_task))
        .routes(routes!(release_task))
        .routes(routes!(unblock_task))
}

/// Filters and paging of `GET /tasks`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskListParams {
    /// Only this project's tasks.
    project_id: Option<Uuid>,
    /// Only tasks in this status.
    status: Option<TaskStatus>,
    /// Only tasks of this kind.
    kind: Option<String>,
    /// Only tasks carrying this label.
    label: Option<String>,
    /// Only tasks held (or last held) by this agent.
    agent_id: Option<Uuid>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// What `GET /tasks/summary` may be narrowed to.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SummaryParams {
    /// Only this project's tasks.
    project_id: Option<Uuid>,
}

/// Where the work stands: tasks per status, overall and per project, and the tasks
/// finished in each of the last 60 minutes.
#[utoipa::path(get, path = "/tasks/summary", tag = "tasks", params(SummaryParams),
    responses((status = 200, body = TaskSummary), (status = 400, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn task_summary(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> ApiResult<Json<TaskSummary>> {
    Ok(Json(
        domain::tasks::summary(&state, params.project_id).await?,
    ))
}

/// Create a task (an `Idempotency-Key` header makes retries safe).
#[utoipa::path(post, path = "/tasks", tag = "tasks", request_body = TaskIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe create: the same key returns the first task")),
    responses((status = 201, body = TaskOut), (status = 200, description = "Replay of an earlier create with the same Idempotency-Key", body = TaskOut),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn create_task(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<TaskIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::tasks::create(&state, &caller, input, key).await?,
    ))
}

/// List tasks, newest first, with filters.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(TaskListParams),
    responses((status = 200, body = Page<TaskOut>), (status = 400, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn list_tasks(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<TaskListParams>,
) -> ApiResult<Json<Page<TaskOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let filter = ListFilter {
        project_id: params.project_id,
        status: params.status.map(|s| s.as_str().to_owned()),
        kind: params.kind,
        label: params.label,
        agent_id: params.agent_id,
    };
    Ok(Json(domain::tasks::list(&state, &filter, page).await?))
}

/// Get a task.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_task(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::get(&state, id).await?))
}

/// Change a task that is not running and not finished.
#[utoipa::path(patch, path = "/tasks/{id}", tag = "tasks", request_body = TaskPatch,
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn update_task(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
    ApiJson(patch): ApiJson<TaskPatch>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::update(&state, id, patch).await?))
}

/// Cancel a task that has not finished, and the tasks waiting on it.
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks", request_body(content = Option<CancelIn>),
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn cancel_task(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<CancelIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::cancel(&state, id, input).await?))
}

/// Claim up to `limit` runnable tasks, each with a lease and a claim token (an
/// `Idempotency-Key` header makes retries safe).
#[utoipa::path(post, path = "/tasks/claim", tag = "agent protocol", request_body = ClaimIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe claim: a repeat by the same agent returns the tasks the first claim still holds (with `Idempotent-Replayed: true`) and claims nothing more")),
    responses((status = 200, body = ClaimOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn claim_tasks(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<ClaimIn>,
) -> ApiResult<Response> {
    let claimed = domain::tasks::claim(&state, input, key).await?;
    let mut response = Json(claimed.value).into_response();
    if claimed.replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Extend a running task's lease, optionally reporting progress.
#[utoipa::path(post, path = "/tasks/{id}/heartbeat", tag = "agent protocol", request_body = TaskHeartbeatIn,
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 409, body = ErrorBody, description = "Stale claim token or task not running")),
    security(("bearer" = ["agent"])))]
async fn heartbeat_task(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<TaskHeartbeatIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::heartbeat(&state, id, input).await?))
}

/// Complete a running task with its result.
#[utoipa::path(post, path = "/tasks/{id}/complete", tag = "agent protocol", request_body = CompleteIn,
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 409, body = ErrorBody, description = "Stale claim token or task not running")),
    security(("bearer" = ["agent"])))]
async fn complete_task(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<CompleteIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::complete(&state, id, input).await?))
}

/// Complete many running tasks in one request and one transaction.
///
/// Each item is judged as `POST /tasks/{id}/complete` would judge it and gets its own
/// outcome (`status` 200, or 404/409/422 with `error`): a stale claim token fails only
/// its own item. A request refused as a whole (validation, 5xx) changed nothing.
#[utoipa::path(post, path = "/tasks/complete", tag = "agent protocol", request_body = CompleteManyIn,
    responses((status = 200, body = BatchOut, description = "One outcome per item, in request order"),
        (status = 422, body = ErrorBody, description = "No items, over 100, a task named twice, or a result over 1 MiB")),
    security(("bearer" = ["agent"])))]
async fn complete_tasks(
    State(state): State<AppState>,
    _agent: AgentKey,
    ApiJson(input): ApiJson<CompleteManyIn>,
) -> ApiResult<Json<BatchOut>> {
    Ok(Json(domain::tasks::complete_many(&state, input).await?))
}

/// Extend the leases of many running tasks (and report their progress) in one request.
///
/// Each item is judged as `POST /tasks/{id}/heartbeat` would judge it and gets its own
/// outcome: a stale claim token fails only its own item.
#[utoipa::path(post, path = "/tasks/heartbeat", tag = "agent protocol", request_body = HeartbeatManyIn,
    responses((status = 200, body = BatchOut, description = "One outcome per item, in request order"),
        (status = 422, body = ErrorBody, description = "No items, over 100, a task named twice, or an invalid progress")),
    security(("bearer" = ["agent"])))]
async fn heartbeat_tasks(
    State(state): State<AppState>,
    _agent: AgentKey,
    ApiJson(input): ApiJson<HeartbeatManyIn>,
) -> ApiResult<Json<BatchOut>> {
    Ok(Json(domain::tasks::heartbeat_many(&state, input).await?))
}

/// Report a failed attempt; retried after a back-off while attempts remain.
#[utoipa::path(post, path = "/tasks/{id}/fail", tag = "agent protocol", request_body = FailIn,
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 409, body = ErrorBody, description = "Stale claim token or task not running")),
    security(("bearer" = ["agent"])))]
async fn fail_task(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<FailIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::fail(&state, id, input).await?))
}

/// Block a running task because it needs a human.
#[utoipa::path(post, path = "/tasks/{id}/block", tag = "agent protocol", request_body = BlockIn,
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 409, body = ErrorBody, description = "Stale claim token or task not running")),
    security(("bearer" = ["agent"])))]
async fn block_task(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<BlockIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::block(&state, id, input).await?))
}

/// Hand a running task back to the queue without using up an attempt.
#[utoipa::path(post, path = "/tasks/{id}/release", tag = "agent protocol", request_body = ReleaseIn,
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 409, body = ErrorBody, description = "Stale claim token or task not running")),
    security(("bearer" = ["agent"])))]
async fn release_task(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<ReleaseIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::release(&state, id, input).await?))
}

/// Put a blocked task back in the queue, with an optional note for its next attempt.
#[utoipa::path(post, path = "/tasks/{id}/unblock", tag = "tasks", request_body(content = Option<UnblockIn>),
    params(("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn unblock_task(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<UnblockIn>,
) -> ApiResult<Json<TaskOut>> {
    Ok(Json(domain::tasks::unblock(&state, id, input).await?))
}
