//! `/api/v1/keys`: API key management (admin only), `/keys/me` for any key, and
//! `/sessions`: any key starts a short-lived session of itself (the dashboard's login)
//! and ends it (logout).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{ApiKeyCreated, ApiKeyIn, ApiKeyOut, ErrorBody, Page, SessionIn};

use crate::auth::{AdminKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, OptionalJson, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(own_key))
        .routes(routes!(start_session))
        .routes(routes!(end_session))
}

/// Start a session: a short-lived key with the caller's role, made from the caller's key
/// and revoked with it; the answer is the only time its secret is shown. The dashboard
/// exchanges the key a person pastes for one of these.
#[utoipa::path(post, path = "/sessions", tag = "keys",
    request_body(content = Option<SessionIn>),
    responses((status = 201, body = ApiKeyCreated), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn start_session(
    State(state): State<AppState>,
    ViewerKey(caller): ViewerKey,
    OptionalJson(input): OptionalJson<SessionIn>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(domain::keys::start_session(&state, &caller, input).await?),
    ))
}

/// End the calling session (logout): its key stops working at once. A key that is not a
/// session is refused with `not_a_session`.
#[utoipa::path(delete, path = "/sessions/current", tag = "keys",
    responses((status = 204), (status = 409, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn end_session(
    State(state): State<AppState>,
    ViewerKey(caller): ViewerKey,
) -> ApiResult<StatusCode> {
    domain::keys::end_session(&state, &caller).await?;
    state.keys.evict(caller.key_id);
    Ok(StatusCode::NO_CONTENT)
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
    // They stop working at once on this replica; the others' caches forget them within
    // their time to live.
    for revoked in domain::keys::revoke(&state, id).await? {
        state.keys.evict(revoked);
    }
    Ok(StatusCode::NO_CONTENT)
}
