//! `/api/v1/previews` (the records) and `/preview/<short id>/…` (the proxy to the
//! task's server; not in the OpenAPI document: it answers whatever that server does).

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::any;
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use agentops_sdk::types::{ErrorBody, ErrorCode, Page, PreviewIn, PreviewOut};

use crate::auth::{AgentKey, ViewerKey, authenticate_secret, bearer_secret};
use crate::domain;
use crate::error::{ApiError, ApiResult, DomainError};
use crate::extract::{ApiJson, ApiQuery, IdPath, PageParams};
use crate::state::AppState;

/// Routes of the resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_preview, list_previews))
        .routes(routes!(get_preview))
        .routes(routes!(stop_preview))
}

/// The proxy's routes.
pub fn proxy_router() -> Router<AppState> {
    Router::new()
        .route("/preview/{short}", any(add_slash))
        .route("/preview/{short}/", any(proxy_root))
        .route("/preview/{short}/{*rest}", any(proxy))
}

/// Filters and paging of `GET /previews`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PreviewListParams {
    /// Only previews of this task.
    task_id: Option<Uuid>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Show a task's server at `/preview/<short id>/` until it expires; while one of the
/// same task and upstream is live, it is returned (200).
#[utoipa::path(post, path = "/previews", tag = "previews", request_body = PreviewIn,
    responses((status = 201, body = PreviewOut), (status = 200, description = "The live preview of the same task and upstream", body = PreviewOut),
        (status = 404, description = "No such task", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn create_preview(
    State(state): State<AppState>,
    _agent: AgentKey,
    ApiJson(input): ApiJson<PreviewIn>,
) -> ApiResult<Response> {
    let (preview, new) = domain::previews::create(&state, input).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(preview)).into_response())
}

/// List previews, newest first.
#[utoipa::path(get, path = "/previews", tag = "previews", params(PreviewListParams),
    responses((status = 200, body = Page<PreviewOut>)), security(("bearer" = ["viewer"])))]
async fn list_previews(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(params): ApiQuery<PreviewListParams>,
) -> ApiResult<Json<Page<PreviewOut>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    Ok(Json(
        domain::previews::list(&state, params.task_id, page).await?,
    ))
}

/// Get a preview.
#[utoipa::path(get, path = "/previews/{id}", tag = "previews",
    params(("id" = Uuid, Path, description = "Preview id")),
    responses((status = 200, body = PreviewOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_preview(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<PreviewOut>> {
    Ok(Json(domain::previews::get(&state, id).await?))
}

/// Stop showing a preview: `/preview/…` answers 410 from now on.
#[utoipa::path(post, path = "/previews/{id}/stop", tag = "previews",
    params(("id" = Uuid, Path, description = "Preview id")),
    responses((status = 200, body = PreviewOut), (status = 404, body = ErrorBody)), security(("bearer" = ["agent"])))]
async fn stop_preview(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<PreviewOut>> {
    Ok(Json(domain::previews::stop(&state, id).await?))
}

async fn add_slash(Path(short): Path<String>, request: Request) -> Redirect {
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    Redirect::permanent(&format!("/preview/{short}/{query}"))
}

async fn proxy_root(
    State(state): State<AppState>,
    Path(short): Path<String>,
    request: Request,
) -> Response {
    forward(state, short, String::new(), request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn proxy(
    State(state): State<AppState>,
    Path((short, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward(state, short, rest, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The cookie that carries a preview's token, scoped to its path.
fn cookie_name(short: &str) -> String {
    format!("agentops_preview_{}", short.replace('-', "_"))
}

/// The value of cookie `name` in `headers`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The query without its `token` parameter, and the token if there was one.
fn split_token(query: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(query) = query else {
        return (None, None);
    };
    let mut token = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("token=") {
            Some(value) => {
                token = Some(value.to_owned());
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    ((!kept.is_empty()).then(|| kept.join("&")), token)
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Headers that belong to one hop, never forwarded.
const HOP: [header::HeaderName; 6] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    header::PROXY_AUTHORIZATION,
];

async fn forward(
    state: AppState,
    short: String,
    rest: String,
    request: Request,
) -> Result<Response, ApiError> {
    let (query, token) = split_token(request.uri().query());
    let cookie_name = cookie_name(&short);
    let preview = domain::previews::open(&state, &short).await?;
    let by_token = [token.clone(), cookie(request.headers(), &cookie_name)]
        .into_iter()
        .flatten()
        .any(|given| given == preview.token);
    if !by_token {
        let secret = bearer_secret(&request).ok_or(ApiError::Unauthorized(
            "open a preview with its link (`?token=…`) or an API key (`Authorization: Bearer <key>`)",
        ))?;
        let caller = authenticate_secret(&state.authenticator(), &secret).await?;
        state.keys.check_rate(caller.key_id).await?;
    }
    let mut url = format!("{}{rest}", preview.upstream);
    if let Some(query) = query {
        url.push('?');
        url.push_str(&query);
    }
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    for name in HOP
        .iter()
        .chain([&header::HOST, &header::AUTHORIZATION, &header::COOKIE])
    {
        headers.remove(name);
    }
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    let answer = client()
        .request(parts.method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|err| {
            tracing::info!(preview = %short, "the preview's server does not answer: {err}");
            ApiError::from(DomainError::refused(
                ErrorCode::PreviewUnreachable,
                "the preview's server does not answer (its worker may have stopped)",
            ))
        })?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP.contains(name) && name != header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    if let Some(token) = token.filter(|t| *t == preview.token) {
        let seconds = (preview.expires_at - crate::store::now())
            .num_seconds()
            .max(0);
        if let Ok(value) = HeaderValue::from_str(&format!(
            "{cookie_name}={token}; Path=/preview/{short}/; Max-Age={seconds}; HttpOnly; SameSite=Lax"
        )) {
            response = response.header(header::SET_COOKIE, value);
        }
    }
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    response
        .body(Body::from_stream(stream))
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("cannot build the answer: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_out_of_the_query() {
        assert_eq!(split_token(None), (None, None));
        assert_eq!(
            split_token(Some("token=abc")),
            (None, Some("abc".to_owned()))
        );
        assert_eq!(
            split_token(Some("a=1&token=abc&b=2")),
            (Some("a=1&b=2".to_owned()), Some("abc".to_owned()))
        );
    }
}
