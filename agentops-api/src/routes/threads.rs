//! `/api/v1/threads` and `/api/v1/approvals`: conversations, their messages, and the
//! plans agents propose in them for a human to approve.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{
    ApprovalDecisionIn, ApprovalIn, ApprovalOut, ApprovalOutcomeIn, ApprovalStatus, ErrorBody,
    MessageIn, MessageOut, Page, ThreadIn, ThreadOut, ThreadPatch,
};

use super::created;
use crate::auth::{AdminKey, AgentKey, ViewerKey};
use crate::domain;
use crate::domain::threads::ApprovalFilter;
use crate::domain::threads::Decision;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, IdempotencyKey, OptionalJson, PageParams};
use crate::state::AppState;

/// Routes of these resources.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_thread, list_threads))
        .routes(routes!(get_thread, update_thread))
        .routes(routes!(post_message, list_messages))
        .routes(routes!(propose_approval))
        .routes(routes!(list_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(finish_approval))
}

/// Filters and paging of `GET /threads`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ThreadListParams {
    /// Only threads of this channel.
    channel: Option<String>,
    /// Only the thread with this `external_id` (with `channel`: at most one), without
    /// opening it as `POST /threads` would.
    external_id: Option<String>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Filters and paging of `GET /approvals`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ApprovalListParams {
    /// Only this thread's approvals.
    thread_id: Option<Uuid>,
    /// Only approvals in this status.
    status: Option<ApprovalStatus>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Open a thread, or get the one its channel already has under `external_id` (200).
#[utoipa::path(post, path = "/threads", tag = "threads", request_body = ThreadIn,
    responses((status = 201, body = ThreadOut), (status = 200, description = "The channel's existing thread for this external_id", body = ThreadOut),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn open_thread(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    ApiJson(input): ApiJson<ThreadIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::threads::open(&state, &caller, input).await?,
    ))
}

/// List threads, newest first.
#[utoipa::path(get, path = "/threads", tag = "threads", params(ThreadListParams),
    responses((status = 200, body = Page<ThreadOut>)), security(("bearer" = ["viewer"])))]
async fn list_threads(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<ThreadListParams>,
) -> ApiResult<Json<Page<ThreadOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    Ok(Json(
        domain::threads::list(
            &state,
            params.channel.as_deref(),
            params.external_id.as_deref(),
            page,
        )
        .await?,
    ))
}

/// Get a thread.
#[utoipa::path(get, path = "/threads/{id}", tag = "threads",
    params(("id" = Uuid, Path, description = "Thread id")),
    responses((status = 200, body = ThreadOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_thread(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ThreadOut>> {
    Ok(Json(domain::threads::get(&state, id).await?))
}

/// Change a thread's title, or set keys of its metadata (merged; `null` removes a key).
#[utoipa::path(patch, path = "/threads/{id}", tag = "threads", request_body = ThreadPatch,
    params(("id" = Uuid, Path, description = "Thread id")),
    responses((status = 200, body = ThreadOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn update_thread(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(patch): ApiJson<ThreadPatch>,
) -> ApiResult<Json<ThreadOut>> {
    Ok(Json(domain::threads::update(&state, id, patch).await?))
}

/// Add a message to a thread; a `user` message supersedes the thread's pending approval
/// (an `Idempotency-Key` header makes retries safe).
#[utoipa::path(post, path = "/threads/{id}/messages", tag = "threads", request_body = MessageIn,
    params(("id" = Uuid, Path, description = "Thread id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe post: the same key, thread and body return the first message (nothing is superseded or announced again)")),
    responses((status = 201, body = MessageOut),
        (status = 200, description = "Replay of an earlier post with the same Idempotency-Key", body = MessageOut,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was added"))),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn post_message(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdPath(id): IdPath,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<MessageIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::threads::post_message(&state, &caller, id, input, key).await?,
    ))
}

/// A thread's messages, newest first: one page of `limit` is "the last N messages".
#[utoipa::path(get, path = "/threads/{id}/messages", tag = "threads",
    params(("id" = Uuid, Path, description = "Thread id"), PageParams),
    responses((status = 200, body = Page<MessageOut>), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn list_messages(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<MessageOut>>> {
    Ok(Json(
        domain::threads::messages(&state, id, page.validate()?).await?,
    ))
}

/// Propose a plan in a thread for a human to approve; it supersedes the pending one.
#[utoipa::path(post, path = "/threads/{id}/approvals", tag = "approvals", request_body = ApprovalIn,
    params(("id" = Uuid, Path, description = "Thread id")),
    responses((status = 201, body = ApprovalOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn propose_approval(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<ApprovalIn>,
) -> ApiResult<Response> {
    let approval = domain::threads::propose(&state, &caller, id, input).await?;
    Ok((StatusCode::CREATED, Json(approval)).into_response())
}

/// List approvals, newest first (`?status=pending` for what waits for a human,
/// `?status=approved` for what an agent still has to carry out).
#[utoipa::path(get, path = "/approvals", tag = "approvals", params(ApprovalListParams),
    responses((status = 200, body = Page<ApprovalOut>)), security(("bearer" = ["viewer"])))]
async fn list_approvals(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<ApprovalListParams>,
) -> ApiResult<Json<Page<ApprovalOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let filter = ApprovalFilter {
        thread_id: params.thread_id,
        status: params.status.map(|s| s.as_str().to_owned()),
    };
    Ok(Json(
        domain::threads::approvals(&state, &filter, page).await?,
    ))
}

/// Get an approval.
#[utoipa::path(get, path = "/approvals/{id}", tag = "approvals",
    params(("id" = Uuid, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_approval(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ApprovalOut>> {
    Ok(Json(domain::threads::approval(&state, id).await?))
}

/// Approve a pending plan (a human's OK): the proposing agent may now carry it out.
#[utoipa::path(post, path = "/approvals/{id}/approve", tag = "approvals", request_body(content = Option<ApprovalDecisionIn>),
    params(("id" = Uuid, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn approve(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<ApprovalDecisionIn>,
) -> ApiResult<Json<ApprovalOut>> {
    Ok(Json(
        domain::threads::decide(&state, &caller, id, Decision::Approve, input).await?,
    ))
}

/// Reject a pending plan.
#[utoipa::path(post, path = "/approvals/{id}/reject", tag = "approvals", request_body(content = Option<ApprovalDecisionIn>),
    params(("id" = Uuid, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn reject(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<ApprovalDecisionIn>,
) -> ApiResult<Json<ApprovalOut>> {
    Ok(Json(
        domain::threads::decide(&state, &caller, id, Decision::Reject, input).await?,
    ))
}

/// Record what carrying out an approved plan gave: `result` (executed) or `error` (failed).
#[utoipa::path(post, path = "/approvals/{id}/finish", tag = "approvals", request_body = ApprovalOutcomeIn,
    params(("id" = Uuid, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn finish_approval(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<ApprovalOutcomeIn>,
) -> ApiResult<Json<ApprovalOut>> {
    Ok(Json(domain::threads::finish(&state, id, input).await?))
}
