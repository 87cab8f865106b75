//! Errors: [`DomainError`] for use cases, [`ApiError`] for HTTP, and the single place that
//! maps each to a status and a stable code.
//!
//! Every error leaves the server as `{"error":{"code":…,"message":…,"details":[…]}}`.
//! A 5xx is always a bug or an outage: its cause is logged with its whole chain and the
//! client gets a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};

use agentops_sdk::types::{ErrorBody, ErrorCode, ErrorDetail, FieldError};

/// What a use case can refuse or fail with. The status of each answer comes from its
/// [`ErrorCode`] (the table in `agentops_sdk::types::ErrorCode`).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The entity does not exist (or the caller may not know it does).
    #[error("{} {id} not found", code.subject().unwrap_or("record"))]
    NotFound {
        /// `task_not_found`, `project_not_found`…
        code: ErrorCode,
        /// The id asked for.
        id: String,
    },
    /// The request cannot be carried out as asked: a conflict with the entity's state
    /// (`invalid_transition`, `stale_claim`), something gone for good (`cursor_expired`),
    /// a body that cannot be processed (`idempotency_key_reused`).
    #[error("{message}")]
    Refused {
        /// Says what, and the status.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// Some fields are invalid (`validation_failed`, 422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A budget has no room left (`budget_exhausted`, 429 with `Retry-After`).
    #[error("{message}")]
    Exhausted {
        /// Which budget, and when it starts over.
        message: String,
        /// Seconds until it does.
        retry_after_secs: u64,
    },
    /// Too many of something are waiting (`rate_limited`, 429 with `Retry-After`), such
    /// as pending pairing codes on one channel.
    #[error("{message}")]
    Limited {
        /// What is over its limit, and until when.
        message: String,
        /// Seconds until there is room again.
        retry_after_secs: u64,
    },
    /// The database failed.
    #[error("database error")]
    Db(#[from] DbErr),
}

impl DomainError {
    /// A `NotFound` with `code` (one of the `…_not_found` codes) for `id`.
    pub fn not_found(code: ErrorCode, id: impl ToString) -> Self {
        debug_assert!(code.subject().is_some(), "{code} is not a not-found code");
        DomainError::NotFound {
            code,
            id: id.to_string(),
        }
    }

    /// A `Refused` with `code` and `message`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError::Refused {
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
    /// A missing record (404).
    #[error("{} {id} not found", code.subject().unwrap_or("record"))]
    NotFound {
        /// `task_not_found`, `project_not_found`…
        code: ErrorCode,
        /// Id asked for.
        id: String,
    },
    /// 404 for a path no route serves.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A refusal whose code says its status (400, 409, 410, 416, 422…).
    #[error("{message}")]
    Refused {
        /// Says what, and the status.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// 422 with per-field details.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
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
    /// 429 `rate_limited` with the use case's own explanation (too many waiting).
    #[error("{message}")]
    Limited {
        /// What is over its limit, and until when.
        message: String,
        /// Seconds until there is room again.
        retry_after_secs: u64,
    },
    /// 429: a budget has no room left for the call.
    #[error("{message}")]
    BudgetExhausted {
        /// Which budget, and when it starts over.
        message: String,
        /// Seconds until it does.
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
    /// A refusal with `code` (which says the status) and `message`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The answer's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::NotFound { code, .. } | ApiError::Refused { code, .. } => *code,
            ApiError::RouteNotFound(_) => ErrorCode::RouteNotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::RateLimited { .. } | ApiError::Limited { .. } => ErrorCode::RateLimited,
            ApiError::BudgetExhausted { .. } => ErrorCode::BudgetExhausted,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound { code, id } => ApiError::NotFound { code, id },
            DomainError::Refused { code, message } => ApiError::Refused { code, message },
            DomainError::Validation(fields) => ApiError::Validation(fields),
            DomainError::Exhausted {
                message,
                retry_after_secs,
            } => ApiError::BudgetExhausted {
                message,
                retry_after_secs,
            },
            DomainError::Limited {
                message,
                retry_after_secs,
            } => ApiError::Limited {
                message,
                retry_after_secs,
            },
            DomainError::Db(err) => ApiError::from(err),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::RecordNotFound(what) => ApiError::NotFound {
                code: ErrorCode::RecordNotFound,
                id: what,
            },
            // Unreachable, or the connection went while in use (the statement's outcome
            // is unknown: the caller retries, and our writes are safe to repeat).
            err if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
                || crate::store::connection_lost(&err) =>
            {
                tracing::error!(error = %err, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry shortly".into())
            }
            // A deadlock or serialization failure: the database undid the request's
            // transaction to let a concurrent one through; the request may be sent again.
            err if crate::store::rolled_back_for_a_conflict(&err) => {
                tracing::warn!(error = %err, "a transaction was rolled back for a conflict");
                ApiError::Unavailable(
                    "the database undid this request to resolve a conflict with a concurrent \
                     one; send it again"
                        .into(),
                )
            }
            other if rejects_nul(&other) => ApiError::Refused {
                code: ErrorCode::InvalidText,
                message: "text must not contain the NUL character (\\u0000)".to_owned(),
            },
            other => match other.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(msg)) => ApiError::Refused {
                    code: ErrorCode::AlreadyExists,
                    message: format!("a conflicting record already exists ({msg})"),
                },
                Some(SqlErr::ForeignKeyConstraintViolation(msg)) => ApiError::Refused {
                    code: ErrorCode::ReferenceGone,
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
    matches!(
        crate::store::sqlstate(err).as_deref(),
        Some("22021" | "22P05")
    )
}

impl ApiError {
    /// The status and the error body's detail, as the client sees them (an internal
    /// error's cause is logged here and not shown).
    pub fn to_parts(&self) -> (StatusCode, ErrorDetail) {
        let (status, code) = (self.status(), self.code().as_str().to_owned());
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
        if let ApiError::RateLimited { retry_after_secs }
        | ApiError::Limited {
            retry_after_secs, ..
        }
        | ApiError::BudgetExhausted {
            retry_after_secs, ..
        } = &self
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of error codes in `docs/api.md`, as [`ErrorCode`] says it should read.
    fn rendered_table() -> String {
        let mut table = String::from(
            "<!-- error-codes:start (generated from agentops_sdk::types::ErrorCode; a test \
             fails when it is stale) -->\n| status | code | meaning |\n|---|---|---|\n",
        );
        for code in ErrorCode::ALL {
            table.push_str(&format!(
                "| {} | `{}` | {} |\n",
                code.status(),
                code.as_str(),
                code.meaning()
            ));
        }
        table.push_str("<!-- error-codes:end -->");
        table
    }

    #[test]
    fn the_api_guide_lists_every_error_code_as_the_table_says() {
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
            .expect("docs/api.md");
        let start = guide.find("<!-- error-codes:start").expect("start marker");
        let end = guide.find("<!-- error-codes:end -->").expect("end marker")
            + "<!-- error-codes:end -->".len();
        let expected = rendered_table();
        assert!(
            guide[start..end] == expected,
            "docs/api.md's error table is stale; replace it with:\n{expected}"
        );
    }

    #[test]
    fn answers_take_their_status_from_their_code() {
        let cases = [
            (
                ApiError::refused(ErrorCode::RangeNotSatisfiable, "beyond the end"),
                416,
            ),
            (ApiError::refused(ErrorCode::StaleClaim, "stale"), 409),
            (ApiError::refused(ErrorCode::CursorExpired, "old"), 410),
            (
                ApiError::from(DomainError::not_found(ErrorCode::TaskNotFound, "x")),
                404,
            ),
            (ApiError::Validation(Vec::new()), 422),
        ];
        for (error, status) in cases {
            let (answered, detail) = error.to_parts();
            assert_eq!(answered.as_u16(), status, "{}", detail.code);
            assert_eq!(detail.code.parse::<ErrorCode>().unwrap().status(), status);
        }
        let missing = DomainError::not_found(ErrorCode::ApprovalNotFound, "a1");
        assert_eq!(missing.to_string(), "approval a1 not found");
    }
}
