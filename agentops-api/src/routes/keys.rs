//! `/api/v1/keys`: API key management (admin only), and `/keys/me` for any key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{ApiKeyCreated, ApiKeyIn, ApiKeyOut, ErrorBody, Page};

use crate::auth::{AdminKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(own_key))
}

/// The caller's own key, any role: which key this is and what it may do (for services
/// that accept a platform key from their own callers).
#[utoipa::path(get, path = "/keys/me", tag = "keys",
    responses((status = 200, body = ApiKeyOut), (status = 401, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn own_key(
    State(state): State<AppState>,
    ViewerKey(caller): ViewerKey,
) -> ApiResult<Json<ApiKeyOut>> {
    Ok(Json(domain::keys::me(&state, &caller).await?))
}

/// Create an API key; the response is the only time its secret is shown.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = ApiKeyIn,
    responses((status = 201, body = ApiKeyCreated), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn create_key(
    State(state): State<AppState>,
    _admin: AdminKey,
    ApiJson(input): ApiJson<ApiKeyIn>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(domain::keys::create(&state, input).await?),
    ))
}

/// List the API keys that have not been revoked.
#[utoipa::path(get, path = "/keys", tag = "keys", params(PageParams),
    responses((status = 200, body = Page<ApiKeyOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminKey,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ApiKeyOut>>> {
    Ok(Json(domain::keys::list(&state, page.validate()?).await?))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys",
    params(("id" = uuid::Uuid, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn revoke_key(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    domain::keys::revoke(&state, id).await?;
    // It stops working at once on this replica; the others' caches forget it within
    // their time to live.
    state.keys.evict(id);
    Ok(StatusCode::NO_CONTENT)
}
