//! `/api/v1/projects`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{ErrorBody, Page, ProjectIn, ProjectOut, ProjectPatch};

use super::created;
use crate::auth::{AdminKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, IdempotencyKey, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project, update_project, delete_project))
}

/// Create a project (an `Idempotency-Key` header makes retries safe).
#[utoipa::path(post, path = "/projects", tag = "projects", request_body = ProjectIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe create: the same key returns the first project")),
    responses((status = 201, body = ProjectOut), (status = 200, description = "Replay of an earlier create with the same Idempotency-Key", body = ProjectOut),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn create_project(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(input): ApiJson<ProjectIn>,
) -> ApiResult<Response> {
    Ok(created(
        domain::projects::create(&state, &caller, input, key).await?,
    ))
}

/// List projects, newest first.
#[utoipa::path(get, path = "/projects", tag = "projects", params(PageParams),
    responses((status = 200, body = Page<ProjectOut>)), security(("bearer" = ["viewer"])))]
async fn list_projects(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ProjectOut>>> {
    Ok(Json(
        domain::projects::list(&state, page.validate()?).await?,
    ))
}

/// Get a project.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects",
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses((status = 200, body = ProjectOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_project(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ProjectOut>> {
    Ok(Json(domain::projects::get(&state, id).await?))
}

/// Change a project's name, description or metadata.
#[utoipa::path(patch, path = "/projects/{id}", tag = "projects", request_body = ProjectPatch,
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses((status = 200, body = ProjectOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn update_project(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
    ApiJson(patch): ApiJson<ProjectPatch>,
) -> ApiResult<Json<ProjectOut>> {
    Ok(Json(domain::projects::update(&state, id, patch).await?))
}

/// Delete a project whose tasks have all finished (they are deleted with it).
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects",
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn delete_project(
    State(state): State<AppState>,
    _admin: AdminKey,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    domain::projects::delete(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
