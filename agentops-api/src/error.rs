//! Errors: [`DomainError`] for use cases, [`ApiError`] for HTTP, and the single place that
//! maps each to a status and a stable code.
//!
//! Every error leaves the server as `{"error":{"code":…,"message":…,"details":[…]}}`.
//! A 5xx is always a bug or an outage: its cause is logged with its whole chain and the
//! client gets a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};

use agentops_sdk::types::{ErrorBody, ErrorDetail, FieldError};

/// What a use case can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The entity does not exist (or the caller may not know it does).
    #[error("{kind} {id} not found")]
    NotFound {
        /// `task`, `project`, `agent`, `key`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request conflicts with the entity's current state.
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `invalid_transition`, `stale_claim`.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Some fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request is well-formed but cannot be processed as asked.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// What was asked for existed but is gone for good (e.g. events past retention).
    #[error("{message}")]
    Gone {
        /// Stable code, e.g. `cursor_expired`.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// The database failed.
    #[error("database error")]
    Db(#[from] DbErr),
}

impl DomainError {
    /// A `NotFound` for `kind` and `id`.
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        DomainError::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// A `Conflict` with `code` and `message`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A `Validation` error on one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}

/// An error answered over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Entity kind.
        kind: &'static str,
        /// Id asked for.
        id: String,
    },
    /// 404 for a path no route serves.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 400 with a code.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// 410: gone for good.
    #[error("{message}")]
    Gone {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// 409.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// 422 with per-field details.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 422 with a code.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// 413.
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 429.
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request will be accepted.
        retry_after_secs: u64,
    },
    /// 503: a dependency is down.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 400 with `code` and `message`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, String) {
        match self {
            ApiError::NotFound { kind, .. } => (StatusCode::NOT_FOUND, format!("{kind}_not_found")),
            ApiError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "route_not_found".into()),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".into())
            }
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, (*code).into()),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, (*code).into()),
            ApiError::Gone { code, .. } => (StatusCode::GONE, (*code).into()),
            ApiError::Validation(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed".into())
            }
            ApiError::Unprocessable { code, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, (*code).into())
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
            }
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type".into(),
            ),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized".into()),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden".into()),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable".into()),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal".into()),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound { kind, id } => ApiError::NotFound { kind, id },
            DomainError::Conflict { code, message } => ApiError::Conflict { code, message },
            DomainError::Validation(fields) => ApiError::Validation(fields),
            DomainError::Unprocessable { code, message } => {
                ApiError::Unprocessable { code, message }
            }
            DomainError::Gone { code, message } => ApiError::Gone { code, message },
            DomainError::Db(err) => ApiError::from(err),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::RecordNotFound(what) => ApiError::NotFound {
                kind: "record",
                id: what,
            },
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                tracing::error!(error = %err, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
            other if rejects_nul(&other) => ApiError::Unprocessable {
                code: "invalid_text",
                message: "text must not contain the NUL character (\\u0000)".to_owned(),
            },
            other => match other.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(msg)) => ApiError::Conflict {
                    code: "already_exists",
                    message: format!("a conflicting record already exists ({msg})"),
                },
                Some(SqlErr::ForeignKeyConstraintViolation(msg)) => ApiError::Conflict {
                    code: "reference_gone",
                    message: format!(
                        "a record this request refers to was deleted meanwhile ({msg})"
                    ),
                },
                _ => ApiError::Internal(anyhow::Error::new(other).context("database error")),
            },
        }
    }
}

/// PostgreSQL refusing a NUL in `text` (22021) or `\\u0000` in `jsonb` (22P05). The
/// extractors refuse both up front; this keeps whatever slips past them a 4xx.
fn rejects_nul(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    if let DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) = err
        && let sea_orm::sqlx::Error::Database(db) = &**e
    {
        return matches!(db.code().as_deref(), Some("22021" | "22P05"));
    }
    false
}

impl ApiError {
    /// The status and the error body's detail, as the client sees them (an internal
    /// error's cause is logged here and not shown).
    pub fn to_parts(&self) -> (StatusCode, ErrorDetail) {
        let (status, code) = self.status_and_code();
        let (message, details) = match self {
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                ("internal server error".to_owned(), Vec::new())
            }
            ApiError::Validation(fields) => (
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                fields.clone(),
            ),
            other => (other.to_string(), Vec::new()),
        };
        (
            status,
            ErrorDetail {
                code,
                message,
                details,
            },
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.to_parts();
        let body = ErrorBody { error };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if matches!(self, ApiError::Unavailable(_)) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"agentops\""),
            );
        }
        response
    }
}

/// The `Retry-After` of a 503, in seconds: a dependency outage is usually short, and the
/// pool reconnects on its own, so clients come back soon rather than backing off long.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
