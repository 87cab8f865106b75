//! `/api/v1/budgets`: budgets the server enforces, and the reservations agents take
//! before a model call.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{
    BudgetIn, BudgetOut, BudgetPatch, ErrorBody, Page, ReservationIn, ReservationOut,
};

use crate::auth::{AdminKey, AgentKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_budget, list_budgets))
        .routes(routes!(get_budget, update_budget, delete_budget))
        .routes(routes!(reserve))
        .routes(routes!(release_reservation))
}

/// Create a budget: a token (and optionally cost) limit per day or month.
#[utoipa::path(post, path = "/budgets", tag = "budgets", request_body = BudgetIn,
    responses((status = 201, body = BudgetOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn create_budget(
    State(state): State<AppState>,
    _admin: AdminKey,
    ApiJson(input): ApiJson<BudgetIn>,
) -> ApiResult<(StatusCode, Json<BudgetOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(domain::budgets::create(&state, input).await?),
    ))
}

/// List budgets, newest first, each with where it stands this period.
#[utoipa::path(get, path = "/budgets", tag = "budgets", params(PageParams),
    responses((status = 200, body = Page<BudgetOut>)), security(("bearer" = ["viewer"])))]
async fn list_budgets(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<BudgetOut>>> {
    Ok(Json(domain::budgets::list(&state, page.validate()?).await?))
}

/// One budget, with where it stands this period.
#[utoipa::path(get, path = "/budgets/{id}", tag = "budgets",
    params(("id" = uuid::Uuid, Path, description = "Budget id")),
    responses((status = 200, body = BudgetOut), (status = 404, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_budget(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<BudgetOut>> {
    Ok(Json(domain::budgets::get(&state, id).await?))
}

/// Change a budget's name, limits or whether it is enforced.
#[utoipa::path(patch, path = "/budgets/{id}", tag = "budgets", request_body = BudgetPatch,
    params(("id" = uuid::Uuid, Path, description = "Budget id")),
    responses((status = 200, body = BudgetOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn update_budget(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
    ApiJson(patch): ApiJson<BudgetPatch>,
) -> ApiResult<Json<BudgetOut>> {
    Ok(Json(domain::budgets::update(&state, id, patch).await?))
}

/// Delete a budget.
#[utoipa::path(delete, path = "/budgets/{id}", tag = "budgets",
    params(("id" = uuid::Uuid, Path, description = "Budget id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn delete_budget(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    domain::budgets::delete(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reserve room for a model call in every budget that applies to it; `429
/// budget_exhausted` (with `Retry-After`) if one has no room. Settle it with
/// `POST /usage` (`reservation_id`) or release it.
#[utoipa::path(post, path = "/budgets/reservations", tag = "budgets", request_body = ReservationIn,
    responses((status = 201, body = ReservationOut), (status = 422, body = ErrorBody),
        (status = 429, description = "A budget that applies has no room left (`budget_exhausted`, with `Retry-After`)", body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn reserve(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    ApiJson(input): ApiJson<ReservationIn>,
) -> ApiResult<(StatusCode, Json<ReservationOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(domain::budgets::reserve(&state, &caller, input).await?),
    ))
}

/// Release a reservation whose call was not made (nothing changes for one already
/// settled or released).
#[utoipa::path(delete, path = "/budgets/reservations/{id}", tag = "budgets",
    params(("id" = uuid::Uuid, Path, description = "Reservation id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn release_reservation(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    domain::budgets::release(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
