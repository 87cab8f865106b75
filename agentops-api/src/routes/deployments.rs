//! `/api/v1/deployments`: the platform's own releases and the steps they report.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{
    DeploymentIn, DeploymentOut, DeploymentPatch, DeploymentStatus, ErrorBody, Page,
};

use super::created;
use crate::auth::{AdminKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, IdempotencyKey, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_deployment, list_deployments))
        .routes(routes!(get_deployment, update_deployment))
}

/// Filters and paging of `GET /deployments`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeploymentListParams {
    /// Only deployments in this status.
    status: Option<DeploymentStatus>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Record a deployment (an `Idempotency-Key` header makes retries safe).
#[utoipa::path(post, path = "/deployments", tag = "deployments", request_body = DeploymentIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe create: the same key returns the first deployment")),
    responses((status = 201, body = DeploymentOut), (status = 200, description = "Replay of an earlier create with the same Idempotency-Key", body = DeploymentOut),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn create_deployment(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<DeploymentIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::deployments::create(&state, &caller, input, key).await?,
    ))
}

/// List deployments, newest first.
#[utoipa::path(get, path = "/deployments", tag = "deployments", params(DeploymentListParams),
    responses((status = 200, body = Page<DeploymentOut>)), security(("bearer" = ["viewer"])))]
async fn list_deployments(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<DeploymentListParams>,
) -> ApiResult<Json<Page<DeploymentOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    Ok(Json(
        domain::deployments::list(&state, params.status, page).await?,
    ))
}

/// Get a deployment.
#[utoipa::path(get, path = "/deployments/{id}", tag = "deployments",
    params(("id" = uuid::Uuid, Path, description = "Deployment id")),
    responses((status = 200, body = DeploymentOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_deployment(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<DeploymentOut>> {
    Ok(Json(domain::deployments::get(&state, id).await?))
}

/// Move a deployment on: its status, its report (replaced whole), its metadata (merged).
#[utoipa::path(patch, path = "/deployments/{id}", tag = "deployments", request_body = DeploymentPatch,
    params(("id" = uuid::Uuid, Path, description = "Deployment id")),
    responses((status = 200, body = DeploymentOut), (status = 404, body = ErrorBody),
        (status = 409, description = "The deployment is final: its status no longer changes", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn update_deployment(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
    ApiJson(patch): ApiJson<DeploymentPatch>,
) -> ApiResult<Json<DeploymentOut>> {
    Ok(Json(domain::deployments::update(&state, id, patch).await?))
}
