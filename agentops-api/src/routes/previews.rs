//! `/api/v1/previews` (the records) and `/preview/<short id>/…` (the proxy to the
//! task's server; not in the OpenAPI document: it answers whatever that server does).

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
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

/// The token a path starts with (`~<token>/…`), and the rest of the path after it.
fn split_token(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.strip_prefix('~')?;
    Some(match rest.split_once('/') {
        Some((token, after)) => (token, after),
        None => (rest, ""),
    })
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

/// What a task's page may do in a browser: run its scripts, forms and pop-ups, but in
/// an origin of its own (no `allow-same-origin`), so that it cannot read or act with
/// what the browser keeps for the platform's own origin (the dashboard's session).
const SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

async fn forward(
    state: AppState,
    short: String,
    rest: String,
    request: Request,
) -> Result<Response, ApiError> {
    let preview = domain::previews::open(&state, &short).await?;
    let (rest, by_token) = match split_token(&rest) {
        Some((token, after)) if token == preview.token => {
            // The token opens the preview; its pages' relative links keep it.
            if after.is_empty() && !rest.ends_with('/') {
                return Ok(
                    Redirect::permanent(&format!("/preview/{short}/~{token}/")).into_response()
                );
            }
            (after.to_owned(), true)
        }
        Some(_) => {
            return Err(ApiError::Unauthorized(
                "this preview link's token is not the preview's",
            ));
        }
        None => (rest, false),
    };
    if !by_token {
        let secret = bearer_secret(&request).ok_or(ApiError::Unauthorized(
            "open a preview with its link (`/preview/<id>/~<token>/`) or an API key \
             (`Authorization: Bearer <key>`)",
        ))?;
        let caller = authenticate_secret(&state.authenticator(), &secret).await?;
        state.keys.check_rate(caller.key_id).await?;
    }
    let mut url = format!("{}{rest}", preview.upstream);
    if let Some(query) = request.uri().query() {
        url.push('?');
        url.push_str(query);
    }
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    for name in HOP.iter().chain([
        &header::HOST,
        &header::AUTHORIZATION,
        &header::COOKIE,
        &header::REFERER,
    ]) {
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
        if !HOP.contains(name) && name != header::CONTENT_LENGTH && name != header::SET_COOKIE {
            response = response.header(name, value);
        }
    }
    response = response
        .header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX),
        )
        // The link's token is in its path: never sent on to the sites a page links to.
        .header(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        )
        .header(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    response
        .body(Body::from_stream(stream))
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("cannot build the answer: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_first_segment_after_a_tilde() {
        assert_eq!(split_token(""), None);
        assert_eq!(split_token("app.js"), None);
        assert_eq!(split_token("~abc"), Some(("abc", "")));
        assert_eq!(split_token("~abc/"), Some(("abc", "")));
        assert_eq!(
            split_token("~abc/static/app.js"),
            Some(("abc", "static/app.js"))
        );
    }
}
