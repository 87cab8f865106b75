//! `/api/v1/pairings`: the allowlist of chats an interface (the Telegram bot) serves, and
//! the one-time codes operators approve. Admin only: the bot runs with an admin key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{
    ErrorBody, Page, PairingApprove, PairingIn, PairingOut, PairingRevoke, PairingStatus,
};

use crate::auth::AdminKey;
use crate::domain;
use crate::domain::pairings::PairingQuery;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, OptionalJson, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_pairing, list_pairings))
        .routes(routes!(approve_pairing))
        .routes(routes!(get_pairing))
        .routes(routes!(revoke_pairing))
}

/// Filters and paging of `GET /pairings`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PairingListParams {
    /// Only pairings of this channel (`telegram`).
    channel: Option<String>,
    /// Only the pairing of this chat.
    chat: Option<String>,
    /// Only pairings in this status: `pending` lists valid codes, `expired` codes that ran out.
    status: Option<PairingStatus>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Ask for a chat's pairing: a one-time code (valid an hour), or approve it at once.
#[utoipa::path(post, path = "/pairings", tag = "pairings", request_body = PairingIn,
    responses((status = 201, description = "A new chat: its pairing", body = PairingOut),
        (status = 200, description = "A known chat: its pairing, unchanged if approved or holding a valid code, else with a new code (or approved)", body = PairingOut),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many pending pairing requests on the channel (`rate_limited`, with `Retry-After`: seconds until the oldest code expires)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))),
    security(("bearer" = ["admin"])))]
async fn request_pairing(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    ApiJson(input): ApiJson<PairingIn>,
) -> ApiResult<Response> {
    let made = domain::pairings::request(&state, &caller, input).await?;
    let status = if made.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(made.value)).into_response())
}

/// List pairings, newest first (by when the chat first asked).
#[utoipa::path(get, path = "/pairings", tag = "pairings", params(PairingListParams),
    responses((status = 200, body = Page<PairingOut>), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn list_pairings(
    State(state): State<AppState>,
    _admin: AdminKey,
    ApiQuery(params): ApiQuery<PairingListParams>,
) -> ApiResult<Json<Page<PairingOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let query = PairingQuery {
        channel: params.channel,
        chat: params.chat,
        status: params.status,
    };
    Ok(Json(domain::pairings::list(&state, query, page).await?))
}

/// Approve the pending pairing holding a code (case, spaces and dashes ignored).
#[utoipa::path(post, path = "/pairings/approve", tag = "pairings", request_body = PairingApprove,
    responses((status = 200, body = PairingOut),
        (status = 404, description = "No pending pairing holds this code (`pairing_not_found`): mistyped, used, or expired (codes expire after an hour)", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn approve_pairing(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    ApiJson(input): ApiJson<PairingApprove>,
) -> ApiResult<Json<PairingOut>> {
    Ok(Json(
        domain::pairings::approve(&state, &caller, input).await?,
    ))
}

/// Get a pairing.
#[utoipa::path(get, path = "/pairings/{id}", tag = "pairings",
    params(("id" = uuid::Uuid, Path, description = "Pairing id")),
    responses((status = 200, body = PairingOut), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn get_pairing(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<PairingOut>> {
    Ok(Json(domain::pairings::get(&state, id).await?))
}

/// Revoke a pairing: the chat is no longer served (a revoked one is answered unchanged).
#[utoipa::path(post, path = "/pairings/{id}/revoke", tag = "pairings", request_body(content = Option<PairingRevoke>),
    params(("id" = uuid::Uuid, Path, description = "Pairing id")),
    responses((status = 200, body = PairingOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn revoke_pairing(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdPath(id): IdPath,
    OptionalJson(input): OptionalJson<PairingRevoke>,
) -> ApiResult<Json<PairingOut>> {
    Ok(Json(
        domain::pairings::revoke(&state, &caller, id, input.by).await?,
    ))
}
