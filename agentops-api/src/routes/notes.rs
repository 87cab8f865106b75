//! `/api/v1/projects/{id}/notes`: versioned notes on a project.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{ErrorBody, NoteIn, NoteOut};

use crate::auth::{AgentKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdNamePath, IdPath};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notes))
        .routes(routes!(get_note, write_note))
        .routes(routes!(note_versions))
}

/// Which version of a note to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionParams {
    /// A version, from 1 (the newest if absent).
    version: Option<i64>,
}

/// Paging of a note's versions.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionsParams {
    /// Only versions below this one.
    before: Option<i64>,
    /// Versions per page (1–200, default 50).
    limit: Option<u64>,
}

/// The newest version of each of a project's notes.
#[utoipa::path(get, path = "/projects/{id}/notes", tag = "projects",
    params(("id" = uuid::Uuid, Path, description = "Project id")),
    responses((status = 200, body = Vec<NoteOut>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn list_notes(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<Vec<NoteOut>>> {
    Ok(Json(domain::notes::list(&state, id).await?))
}

/// A note on a project: its newest version, or the one asked for.
#[utoipa::path(get, path = "/projects/{id}/notes/{key}", tag = "projects",
    params(("id" = uuid::Uuid, Path, description = "Project id"),
           ("key" = String, Path, description = "The note's key"), VersionParams),
    responses((status = 200, body = NoteOut), (status = 404, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_note(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdNamePath(id, key): IdNamePath,
    ApiQuery(params): ApiQuery<VersionParams>,
) -> ApiResult<Json<NoteOut>> {
    Ok(Json(
        domain::notes::get(&state, id, &key, params.version).await?,
    ))
}

/// Write a new version of a note (`expected_version` guards against overwriting
/// someone else's write: `409 stale_version`).
#[utoipa::path(put, path = "/projects/{id}/notes/{key}", tag = "projects", request_body = NoteIn,
    params(("id" = uuid::Uuid, Path, description = "Project id"),
           ("key" = String, Path, description = "The note's key")),
    responses((status = 200, body = NoteOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn write_note(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdNamePath(id, key): IdNamePath,
    ApiJson(input): ApiJson<NoteIn>,
) -> ApiResult<Json<NoteOut>> {
    Ok(Json(
        domain::notes::write(&state, &caller, id, &key, input).await?,
    ))
}

/// A note's versions, newest first.
#[utoipa::path(get, path = "/projects/{id}/notes/{key}/versions", tag = "projects",
    params(("id" = uuid::Uuid, Path, description = "Project id"),
           ("key" = String, Path, description = "The note's key"), VersionsParams),
    responses((status = 200, body = Vec<NoteOut>), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn note_versions(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdNamePath(id, key): IdNamePath,
    ApiQuery(params): ApiQuery<VersionsParams>,
) -> ApiResult<Json<Vec<NoteOut>>> {
    let limit = crate::extract::PageParams {
        limit: params.limit,
        cursor: None,
    }
    .validate()?
    .limit;
    Ok(Json(
        domain::notes::versions(&state, id, &key, params.before, limit).await?,
    ))
}
