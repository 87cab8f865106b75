//! Request extractors that turn every malformed input into a clear JSON error.
//!
//! axum's own extractors answer with plain-text bodies; these wrap them so that bad JSON,
//! unknown fields, bad ids and bad query strings all come back as
//! `{"error":{"code":…,"message":…}}` with the right status.

use agentops_sdk::types::ErrorCode;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body. Malformed JSON → 400 `malformed_json`; a body of the wrong shape
/// (missing, unknown or mistyped fields, anything but an object) or with a NUL
/// character in a string → 422
/// `invalid_body`; a wrong content type → 415; a body over the limit → 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|err| json_rejection(err.into(), limit))?;
        let axum::Json(value) =
            axum::Json::<T>::from_bytes(&bytes).map_err(|err| json_rejection(err, limit))?;
        // serde reads a JSON array into a struct by position (`["renamed"]` as a
        // project's name): every body of this API is an object, so only an object is.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::Refused {
                code: ErrorCode::InvalidBody,
                message: "the body must be a JSON object".to_owned(),
            });
        }
        if contains_nul(&bytes) {
            return Err(ApiError::Refused {
                code: ErrorCode::InvalidBody,
                message: "strings in the body must not contain the NUL character (\\u0000)"
                    .to_owned(),
            });
        }
        Ok(ApiJson(value))
    }
}

/// `application/json` or `application/<anything>+json`, as axum's `Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.split_once('/').is_some_and(|(kind, sub)| {
        kind == "application" && (sub == "json" || sub.ends_with("+json"))
    })
}

/// Whether a string (or key) of this valid JSON holds a NUL, which PostgreSQL stores
/// neither in `text` nor in `jsonb`. Bodies without the escape `\u0000` are not parsed
/// again.
fn contains_nul(json: &[u8]) -> bool {
    fn walk(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(walk),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    json.windows(6).any(|w| w == br"\u0000")
        && serde_json::from_slice::<Value>(json).is_ok_and(|value| walk(&value))
}

/// The body limit in force, put in the request's extensions by the router so errors can
/// state it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The error for what reading or parsing the body refused (the content type is checked
/// before, in [`ApiJson`]).
fn json_rejection(rejection: JsonRejection, limit: usize) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(err) => ApiError::refused(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {}", source_message(&err)),
        ),
        JsonRejection::JsonDataError(err) => ApiError::Refused {
            code: ErrorCode::InvalidBody,
            message: format!(
                "the body does not match the expected shape: {}",
                source_message(&err)
            ),
        },
        JsonRejection::BytesRejection(err) => {
            if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::refused(ErrorCode::UnreadableBody, err.body_text())
            }
        }
        other => ApiError::refused(ErrorCode::InvalidBody, other.body_text()),
    }
}

/// The innermost cause of an error, which for serde is the useful part.
fn source_message(err: &dyn std::error::Error) -> String {
    let mut current: &dyn std::error::Error = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// A UUID from the path (`/tasks/{id}`). Anything else → 400 `invalid_id`.
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(raw)) => Uuid::parse_str(&raw).map(IdPath).map_err(|_| {
                ApiError::refused(ErrorCode::InvalidId, format!("`{raw}` is not a valid UUID"))
            }),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

/// A name from the path (`/events/cursors/{name}`), percent-decoded; the use case
/// validates it.
pub struct NamePath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for NamePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(name) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(path_rejection)?;
        if name.contains('\0') {
            return Err(ApiError::refused(
                ErrorCode::InvalidPath,
                "the path must not contain the NUL character (%00)",
            ));
        }
        Ok(NamePath(name))
    }
}

/// An id and a name from the path (`/projects/{id}/notes/{key}`): the id must be a UUID
/// (400 `invalid_id`), the name is percent-decoded and validated by the use case.
pub struct IdNamePath(pub Uuid, pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdNamePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((raw, name)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(path_rejection)?;
        let id = Uuid::parse_str(&raw).map_err(|_| {
            ApiError::refused(ErrorCode::InvalidId, format!("`{raw}` is not a valid UUID"))
        })?;
        if name.contains('\0') {
            return Err(ApiError::refused(
                ErrorCode::InvalidPath,
                "the path must not contain the NUL character (%00)",
            ));
        }
        Ok(IdNamePath(id, name))
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::refused(ErrorCode::InvalidPath, rejection.body_text())
}

/// Query-string parameters. Unknown or malformed parameters, or a NUL character (`%00`)
/// → 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::refused(
                ErrorCode::InvalidQuery,
                "query parameters must not contain the NUL character (%00)",
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    match rejection {
        QueryRejection::FailedToDeserializeQueryString(err) => ApiError::refused(
            ErrorCode::InvalidQuery,
            format!("invalid query string: {}", source_message(&err)),
        ),
        other => ApiError::refused(ErrorCode::InvalidQuery, other.body_text()),
    }
}

/// `?limit=&cursor=` of a listing.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (1–200, default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub use crate::domain::PageRequest;

impl PageParams {
    /// Checks the limit and decodes the cursor.
    pub fn validate(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(50);
        let range = crate::domain::limits::PAGE_LIMIT;
        if !(range.min as u64..=range.max as u64).contains(&limit) {
            return Err(ApiError::refused(
                ErrorCode::InvalidQuery,
                format!("limit must be between {} and {}", range.min, range.max),
            ));
        }
        let before = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(Uuid::parse_str(cursor).map_err(|_| {
                ApiError::refused(
                    ErrorCode::InvalidCursor,
                    "cursor is not one this server issued",
                )
            })?),
        };
        Ok(PageRequest { limit, before })
    }
}

/// The optional `Idempotency-Key` header (1–255 visible ASCII characters).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::refused(
                    ErrorCode::InvalidIdempotencyKey,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )
            })?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// A JSON body that may be left out entirely (then `T::default()`); a body that is sent
/// is held to the same rules as [`ApiJson`].
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_none()
                && req
                    .headers()
                    .get(axum::http::header::TRANSFER_ENCODING)
                    .is_none()
                && req
                    .headers()
                    .get(axum::http::header::CONTENT_LENGTH)
                    .is_none());
        if empty {
            return Ok(OptionalJson(T::default()));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(OptionalJson(value))
    }
}

/// The optional `X-On-Behalf-Of` header: the person an interface acts for (the use case
/// checks who may send it and what it holds).
pub struct OnBehalfOf(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OnBehalfOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("x-on-behalf-of") else {
            return Ok(OnBehalfOf(None));
        };
        // Header values are bytes; a person's name may be UTF-8.
        let text = std::str::from_utf8(value.as_bytes()).map_err(|_| {
            ApiError::refused(
                ErrorCode::ValidationFailed,
                "X-On-Behalf-Of must be UTF-8 text",
            )
        })?;
        // An empty header names no one: as if it were not sent.
        let text = text.trim();
        Ok(OnBehalfOf((!text.is_empty()).then(|| text.to_owned())))
    }
}

/// A persona's id or slug and a version number from the path
/// (`/personas/{persona}/versions/{version}`).
pub struct NameVersionPath(pub String, pub u32);

/// A path naming something by id or slug, then one of its parts by id
/// (`/personas/{persona}/conversations/{thread}`); a part that is not an id is a 400.
pub struct NameIdPath(pub String, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for NameIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((name, id)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(path_rejection)?;
        let id = Uuid::parse_str(&id).map_err(|_| {
            ApiError::refused(ErrorCode::InvalidPath, format!("`{id}` is not an id"))
        })?;
        Ok(NameIdPath(name, id))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NameVersionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((name, version)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(path_rejection)?;
        let version = version.parse().map_err(|_| {
            ApiError::refused(
                ErrorCode::InvalidPath,
                format!("`{version}` is not a version number"),
            )
        })?;
        Ok(NameVersionPath(name, version))
    }
}
