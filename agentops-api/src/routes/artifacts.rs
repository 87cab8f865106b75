//! `/api/v1/artifacts`: files attached to tasks and projects, streamed in and out.
//!
//! Uploads bypass the JSON body limit (`DefaultBodyLimit::disable()` on these routes):
//! their size is bounded by `AGENTOPS_ARTIFACT_MAX_BYTES`, counted as the bytes arrive.

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{ArtifactOut, ErrorBody, ErrorCode, ErrorDetail, Page};

use crate::auth::{AgentKey, ViewerKey};
use crate::domain;
use crate::domain::artifacts::ListFilter;
use crate::domain::artifacts::{
    ArtifactError, BodyError, Content, ContentRequest, NewArtifact, UploadBody,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, IdPath, IdempotencyKey, PageParams};
use crate::state::AppState;
use crate::storage::StorageError;

/// Longest accepted text field of an upload form, in bytes.
const FORM_FIELD_MAX: usize = 4096;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_artifact, list_artifacts))
        .routes(routes!(get_artifact, delete_artifact))
        .routes(routes!(get_artifact_content))
        .layer(DefaultBodyLimit::disable())
}

impl From<ArtifactError> for ApiError {
    fn from(err: ArtifactError) -> Self {
        match err {
            ArtifactError::Domain(err) => err.into(),
            ArtifactError::Forbidden(message) => ApiError::Forbidden(message),
            ArtifactError::TooLarge { limit } => ApiError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            err @ ArtifactError::ChecksumMismatch { .. } => {
                ApiError::refused(ErrorCode::ChecksumMismatch, err.to_string())
            }
            ArtifactError::BadBody { code, message } => ApiError::refused(code, message),
            err @ ArtifactError::RangeNotSatisfiable { .. } => {
                ApiError::refused(ErrorCode::RangeNotSatisfiable, err.to_string())
            }
            ArtifactError::Storage(StorageError::Unavailable(message)) => {
                tracing::error!(error = %message, "artifact storage unavailable");
                ApiError::Unavailable("the artifact storage is unavailable; retry shortly".into())
            }
            ArtifactError::Storage(err) => {
                ApiError::Internal(anyhow::Error::new(err).context("artifact storage"))
            }
            ArtifactError::Internal(err) => ApiError::Internal(err),
        }
    }
}

/// The query of `POST /artifacts` (for a multipart upload, form fields may stand in).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The task the artifact belongs to.
    task_id: Option<Uuid>,
    /// The project it belongs to (the task's, if a task is given).
    project_id: Option<Uuid>,
    /// Its file name (1–255 characters, no `/` or `\`); a multipart upload defaults to
    /// the file's name.
    name: Option<String>,
    /// The SHA-256 the bytes must have (hex): a mismatch stores nothing and answers 400.
    sha256: Option<String>,
}

/// A multipart upload: text fields first, the `file` field last.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the form for OpenAPI only")]
struct UploadForm {
    task_id: Option<Uuid>,
    project_id: Option<Uuid>,
    name: Option<String>,
    sha256: Option<String>,
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// An upload's metadata and its body, not yet read.
struct Upload(NewArtifact, UploadBody);

impl FromRequest<AppState> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ApiQuery(params) =
            ApiQuery::<UploadParams>::from_request_parts(&mut parts, state).await?;
        let mut new = NewArtifact {
            task_id: params.task_id,
            project_id: params.project_id,
            name: params.name,
            sha256: params.sha256,
            ..NewArtifact::default()
        };
        let content_type = header_text(&parts.headers, header::CONTENT_TYPE);
        match content_type
            .as_deref()
            .and_then(|ct| multer::parse_boundary(ct).ok())
        {
            Some(boundary) => {
                let form = multer::Multipart::new(body.into_data_stream(), boundary);
                let body = read_form(form, &mut new).await?;
                Ok(Upload(new, body))
            }
            None if content_type
                .as_deref()
                .is_some_and(|ct| ct.trim_start().starts_with("multipart/form-data")) =>
            {
                Err(ApiError::refused(
                    ErrorCode::MalformedBody,
                    "a multipart/form-data body needs a boundary",
                ))
            }
            None => {
                new.content_type = content_type;
                new.declared_size = header_text(&parts.headers, header::CONTENT_LENGTH)
                    .and_then(|len| len.parse().ok());
                let body = body
                    .into_data_stream()
                    .map_err(|err| BodyError::Interrupted(err.to_string()))
                    .boxed();
                Ok(Upload(new, body))
            }
        }
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn form_error(err: multer::Error) -> BodyError {
    match err {
        multer::Error::IncompleteStream | multer::Error::StreamReadFailed(_) => {
            BodyError::Interrupted(err.to_string())
        }
        other => BodyError::Malformed(format!("the multipart body is malformed: {other}")),
    }
}

fn invalid_form(message: impl Into<String>) -> ApiError {
    ApiError::refused(ErrorCode::InvalidForm, message)
}

/// Reads the form's text fields into `new` and returns the `file` field's bytes, which
/// must come last.
async fn read_form(
    mut form: multer::Multipart<'static>,
    new: &mut NewArtifact,
) -> Result<UploadBody, ApiError> {
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|err| ApiError::from(ArtifactError::from(form_error(err))))?
            .ok_or_else(|| invalid_form("the form has no `file` field"))?;
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            new.content_type = field.content_type().map(ToString::to_string);
            if new.name.is_none() {
                new.name = field.file_name().map(str::to_owned);
            }
            return Ok(file_stream(field, form));
        }
        let value = small_text(field).await?;
        let id = |value: &str| {
            Uuid::parse_str(value.trim())
                .map_err(|_| invalid_form(format!("`{name}` is not a valid UUID")))
        };
        match name.as_str() {
            "task_id" => new.task_id = Some(id(&value)?),
            "project_id" => new.project_id = Some(id(&value)?),
            "name" => new.name = Some(value),
            "sha256" => new.sha256 = Some(value),
            other => {
                return Err(invalid_form(format!(
                    "unknown form field `{other}` (expected task_id, project_id, name, sha256, file)"
                )));
            }
        }
    }
}

async fn small_text(mut field: multer::Field<'static>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|err| ApiError::from(ArtifactError::from(form_error(err))))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > FORM_FIELD_MAX {
            return Err(invalid_form(format!(
                "form fields other than `file` must be at most {FORM_FIELD_MAX} bytes"
            )));
        }
    }
    String::from_utf8(bytes).map_err(|_| invalid_form("form fields must be UTF-8 text"))
}

/// The `file` field's bytes, then a check that nothing follows it.
fn file_stream(field: multer::Field<'static>, form: multer::Multipart<'static>) -> UploadBody {
    let fields_after = futures_util::stream::once(async move {
        let mut form = form;
        match form.next_field().await {
            Ok(None) => None,
            Ok(Some(_)) => Some(Err(BodyError::Malformed(
                "the `file` field must be the form's last field".to_owned(),
            ))),
            Err(err) => Some(Err(form_error(err))),
        }
    })
    .filter_map(std::future::ready);
    field.map_err(form_error).chain(fields_after).boxed()
}

/// Upload an artifact: the raw body (with `Content-Type`) and the query, or a multipart form
/// (an `Idempotency-Key` header makes retries safe).
#[utoipa::path(post, path = "/artifacts", tag = "artifacts",
    params(UploadParams,
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe upload: the same key, metadata and bytes return the first artifact (the repeat's bytes are not kept)")),
    request_body(description = "The bytes, or a form whose last field is `file`",
        content(("application/octet-stream"), (UploadForm = "multipart/form-data"))),
    responses((status = 201, body = ArtifactOut),
        (status = 200, description = "Replay of an earlier upload with the same Idempotency-Key", body = ArtifactOut),
        (status = 400, body = ErrorBody, description = "Checksum mismatch, malformed or interrupted body"),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Invalid metadata, or an Idempotency-Key reused for another upload")),
    security(("bearer" = ["agent"])))]
async fn upload_artifact(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdempotencyKey(key): IdempotencyKey,
    Upload(new, body): Upload,
) -> ApiResult<Response> {
    let created = domain::artifacts::upload(&state, &caller, new, body, key).await?;
    let location = HeaderValue::from_str(&created.value.links.self_).ok();
    let mut response = super::created(created);
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Filters and paging of `GET /artifacts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ArtifactListParams {
    /// Only this task's artifacts.
    task_id: Option<Uuid>,
    /// Only this project's artifacts (its tasks' included).
    project_id: Option<Uuid>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List artifacts, newest first.
#[utoipa::path(get, path = "/artifacts", tag = "artifacts", params(ArtifactListParams),
    responses((status = 200, body = Page<ArtifactOut>), (status = 400, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn list_artifacts(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<ArtifactListParams>,
) -> ApiResult<Json<Page<ArtifactOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let filter = ListFilter {
        task_id: params.task_id,
        project_id: params.project_id,
    };
    Ok(Json(domain::artifacts::list(&state, &filter, page).await?))
}

/// Get an artifact's metadata.
#[utoipa::path(get, path = "/artifacts/{id}", tag = "artifacts",
    params(("id" = Uuid, Path, description = "Artifact id")),
    responses((status = 200, body = ArtifactOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_artifact(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<ArtifactOut>> {
    Ok(Json(domain::artifacts::get(&state, id).await?))
}

/// Delete an artifact (admins: any; agents: those their key uploaded).
#[utoipa::path(delete, path = "/artifacts/{id}", tag = "artifacts",
    params(("id" = Uuid, Path, description = "Artifact id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = ["agent"])))]
async fn delete_artifact(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    domain::artifacts::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?redirect=` of a download.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ContentParams {
    /// With S3 storage, answer 307 to a short-lived presigned URL instead of streaming
    /// through the API (ignored for local storage).
    redirect: Option<bool>,
}

/// The download preferences of a request: its query and its conditional headers.
struct Wanted(ContentRequest);

impl<S: Send + Sync> FromRequestParts<S> for Wanted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(params) = ApiQuery::<ContentParams>::from_request_parts(parts, state).await?;
        Ok(Wanted(ContentRequest {
            range: header_text(&parts.headers, header::RANGE),
            if_range: header_text(&parts.headers, header::IF_RANGE),
            if_none_match: header_text(&parts.headers, header::IF_NONE_MATCH),
            redirect: params.redirect.unwrap_or(false),
        }))
    }
}

/// Download an artifact's bytes (`Range` gives 206; S3 may redirect with `?redirect=true`).
#[utoipa::path(get, path = "/artifacts/{id}/content", tag = "artifacts",
    params(("id" = Uuid, Path, description = "Artifact id"), ContentParams,
        ("Range" = Option<String>, Header, description = "One range: `bytes=0-99`, `bytes=100-`, `bytes=-100`")),
    responses((status = 200, description = "The bytes, with `ETag` (the SHA-256) and `Content-Disposition`", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range, with `Content-Range`", content_type = "application/octet-stream"),
        (status = 304, description = "`If-None-Match` matched"), (status = 307, description = "Redirect to a presigned URL"),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_artifact_content(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
    Wanted(request): Wanted,
) -> Response {
    match domain::artifacts::content(&state, id, request).await {
        Ok(content) => content_response(content),
        Err(err) => error_response(err),
    }
}

fn content_response(content: Content) -> Response {
    let (artifact, range, stream) = match content {
        Content::NotModified(artifact) => {
            let etag = domain::artifacts::etag(&artifact);
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        Content::Redirect(url) => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [
                    (header::LOCATION, url),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
            )
                .into_response();
        }
        Content::Bytes {
            artifact,
            range,
            stream,
        } => (artifact, range, stream),
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    let text = |value: String| HeaderValue::from_str(&value).ok();
    let content_type = text(artifact.content_type.clone())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    let length = range.map_or(artifact.size, |r| r.len());
    for (name, value) in [
        (header::CONTENT_LENGTH, text(length.to_string())),
        (header::ETAG, text(domain::artifacts::etag(&artifact))),
        (
            header::CONTENT_DISPOSITION,
            text(domain::artifacts::content_disposition(&artifact.name)),
        ),
        (header::ACCEPT_RANGES, text("bytes".to_owned())),
        // User-supplied bytes served from the API's origin: never sniffed or run.
        (header::X_CONTENT_TYPE_OPTIONS, text("nosniff".to_owned())),
        (header::CONTENT_SECURITY_POLICY, text("sandbox".to_owned())),
    ] {
        if let Some(value) = value {
            headers.insert(name, value);
        }
    }
    if let Some(range) = range {
        let value = format!("bytes {}-{}/{}", range.start, range.end, artifact.size);
        if let Some(value) = text(value) {
            headers.insert(header::CONTENT_RANGE, value);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    response
}

fn error_response(err: ArtifactError) -> Response {
    let ArtifactError::RangeNotSatisfiable { size } = err else {
        return ApiError::from(err).into_response();
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code: ErrorCode::RangeNotSatisfiable.as_str().to_owned(),
            message: err.to_string(),
            details: Vec::new(),
        },
    };
    (
        StatusCode::RANGE_NOT_SATISFIABLE,
        [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        Json(body),
    )
        .into_response()
}
