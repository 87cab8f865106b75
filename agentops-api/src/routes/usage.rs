//! `/api/v1/usage`: the token ledger (record a call, list calls, totals per group).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{
    ErrorBody, Page, UsageGroupBy, UsageIn, UsageOut, UsageOutcome, UsageScope, UsageSummary,
};

use super::created;
use crate::auth::{AgentKey, ViewerKey};
use crate::domain;
use crate::domain::usage::UsageQuery;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_usage, list_usage))
        .routes(routes!(usage_summary))
}

/// Filters and paging of `GET /usage`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UsageListParams {
    /// Only this agent's calls.
    agent_id: Option<Uuid>,
    /// Only calls for this project.
    project_id: Option<Uuid>,
    /// Only calls for this task.
    task_id: Option<Uuid>,
    /// Only calls for this thread.
    thread_id: Option<Uuid>,
    /// Only calls for this person.
    user: Option<String>,
    /// Only reactive or only proactive calls.
    scope: Option<UsageScope>,
    /// Only calls to this model.
    model: Option<String>,
    /// Only calls that ended so.
    outcome: Option<UsageOutcome>,
    /// Only calls recorded at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only calls recorded before this time.
    to: Option<DateTime<Utc>>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Filters and grouping of `GET /usage/summary`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UsageSummaryParams {
    /// What the totals are grouped by.
    group_by: UsageGroupBy,
    /// Only this agent's calls.
    agent_id: Option<Uuid>,
    /// Only calls for this project.
    project_id: Option<Uuid>,
    /// Only calls for this person.
    user: Option<String>,
    /// Only reactive or only proactive calls.
    scope: Option<UsageScope>,
    /// Only calls to this model.
    model: Option<String>,
    /// Only calls recorded at or after this time.
    from: Option<DateTime<Utc>>,
    /// Only calls recorded before this time.
    to: Option<DateTime<Utc>>,
}

/// Record one model call in the ledger and charge it to the budgets that apply; with a
/// `reservation_id`, settle that reservation (a repeat returns the first record; an
/// `Idempotency-Key` does the same without one).
#[utoipa::path(post, path = "/usage", tag = "usage", request_body = UsageIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe record: the same key returns the first record")),
    responses((status = 201, body = UsageOut), (status = 200, description = "Replay of an earlier record (same reservation or Idempotency-Key)", body = UsageOut),
        (status = 404, description = "No such reservation (`reservation_not_found`)", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn record_usage(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<UsageIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::usage::record(&state, &caller, input, key).await?,
    ))
}

/// List recorded calls, newest first.
#[utoipa::path(get, path = "/usage", tag = "usage", params(UsageListParams),
    responses((status = 200, body = Page<UsageOut>), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn list_usage(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<UsageListParams>,
) -> ApiResult<Json<Page<UsageOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let query = UsageQuery {
        agent_id: params.agent_id,
        project_id: params.project_id,
        task_id: params.task_id,
        thread_id: params.thread_id,
        user: params.user,
        scope: params.scope,
        model: params.model,
        outcome: params.outcome,
        from: params.from,
        to: params.to,
    };
    Ok(Json(domain::usage::list(&state, query, page).await?))
}

/// Totals of recorded calls per agent, project, model, scope, person or day.
#[utoipa::path(get, path = "/usage/summary", tag = "usage", params(UsageSummaryParams),
    responses((status = 200, body = UsageSummary), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn usage_summary(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<UsageSummaryParams>,
) -> ApiResult<Json<UsageSummary>> {
    let query = UsageQuery {
        agent_id: params.agent_id,
        project_id: params.project_id,
        user: params.user,
        scope: params.scope,
        model: params.model,
        from: params.from,
        to: params.to,
        ..UsageQuery::default()
    };
    Ok(Json(
        domain::usage::summary(&state, query, params.group_by).await?,
    ))
}
