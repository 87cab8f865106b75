//! The SDK's error type: what the server refused, and what went wrong on the way there.
//!
//! Every fallible call returns [`Result<T>`]. An [`Error::Api`] is a well-formed refusal by
//! the server (status, stable `code`, message); everything else is about reaching it or
//! understanding it. [`Error::is_retryable`] says whether trying again later may succeed;
//! the client already retries those errors for requests that are safe to repeat.

use std::time::Duration;

use reqwest::StatusCode;

use crate::types::{ErrorCode, FieldError};

/// What a call to the AgentOps API can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status and (usually) an error body.
    #[error("{status}: {code}: {message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The stable, machine-readable code, such as `task_not_found` or `stale_claim`
        /// (`http_<status>` if the body was not an AgentOps error body).
        code: String,
        /// The server's explanation.
        message: String,
        /// Per-field problems, for `validation_failed`.
        details: Vec<FieldError>,
        /// The server's `Retry-After`, when it sent one (429 and some 503).
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or the answer could not be read (refused or dropped
    /// connection, DNS, TLS...).
    #[error("transport error: {source}")]
    Transport {
        /// The underlying HTTP client error.
        #[source]
        source: reqwest::Error,
    },
    /// The request took longer than the client's timeout.
    #[error("the request timed out")]
    Timeout,
    /// The answer was not the JSON the SDK expected.
    #[error("cannot decode the server's answer: {source}")]
    Decode {
        /// What serde could not make sense of.
        #[source]
        source: serde_json::Error,
        /// The body as received (cut at 4 KiB).
        body: String,
    },
    /// The WebSocket of the event stream failed.
    #[error("event stream error: {source}")]
    WebSocket {
        /// The underlying WebSocket error.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// A local file could not be read or written (artifact upload from or download to a
    /// file).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The client is misconfigured (bad base URL, missing API key, bad header value).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the same request may succeed if sent again later: connection problems,
    /// timeouts, 429 (rate limited, but not `budget_exhausted`) and 502/503/504.
    ///
    /// The client retries these by itself for requests that are safe to repeat, so an
    /// error you see has already used up the configured retries.
    ///
    /// ```
    /// # use agentops_sdk::Error;
    /// fn worth_retrying(err: &Error) -> bool {
    ///     err.is_retryable()
    /// }
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            // A spent budget starts over at the end of its period, hours away.
            Error::Api { .. } if self.error_code() == Some(ErrorCode::BudgetExhausted) => false,
            Error::Api { status, .. } => matches!(
                *status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
            Error::Transport { source } => !source.is_builder() && !source.is_redirect(),
            Error::Timeout | Error::WebSocket { .. } => true,
            Error::Decode { .. } | Error::Io(_) | Error::Config(_) => false,
        }
    }

    /// Whether the request certainly never reached the server (the connection could not
    /// be opened), so repeating it cannot apply it twice.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Transport { source } if source.is_connect())
    }

    /// The HTTP status, for [`Error::Api`].
    ///
    /// ```
    /// # use agentops_sdk::Error;
    /// fn is_gone(err: &Error) -> bool {
    ///     err.status() == Some(reqwest::StatusCode::NOT_FOUND)
    /// }
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error code, for [`Error::Api`] (`task_not_found`, `stale_claim`...).
    ///
    /// ```
    /// # use agentops_sdk::Error;
    /// fn is_validation(err: &Error) -> bool {
    ///     err.code() == Some("validation_failed")
    /// }
    /// ```
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's error code as an [`ErrorCode`], for [`Error::Api`] (`None` for a
    /// code this SDK does not know).
    ///
    /// ```
    /// # use agentops_sdk::Error;
    /// use agentops_sdk::types::ErrorCode;
    /// fn cursor_gone(err: &Error) -> bool {
    ///     err.error_code() == Some(ErrorCode::EventCursorNotFound)
    /// }
    /// ```
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code()?.parse().ok()
    }

    /// How long the server asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the claim token is no longer the task's current claim: the lease expired
    /// (and the task may be running elsewhere), or the task was cancelled. Stop working on
    /// the task; nothing you send with that token will be accepted.
    ///
    /// ```
    /// # use agentops_sdk::Error;
    /// fn lease_lost(err: &Error) -> bool {
    ///     err.is_stale_claim()
    /// }
    /// ```
    pub fn is_stale_claim(&self) -> bool {
        self.error_code() == Some(ErrorCode::StaleClaim)
    }

    /// Whether the entity asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the request conflicts with the entity's state (409: `stale_claim`,
    /// `invalid_transition`, `already_exists`...).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(StatusCode::CONFLICT)
    }

    /// Whether the status change asked for is not allowed from the entity's current
    /// status (409 `invalid_transition`), e.g. cancelling a completed task.
    pub fn is_invalid_transition(&self) -> bool {
        self.error_code() == Some(ErrorCode::InvalidTransition)
    }

    /// Whether the request was refused for its content (400 or 422).
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self.status(),
            Some(StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY)
        )
    }

    /// Whether the API key is missing, unknown, expired or revoked (401) or lacks the
    /// role (403).
    pub fn is_auth(&self) -> bool {
        matches!(
            self.status(),
            Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        )
    }

    /// Whether a budget had no room for the call (`budget_exhausted`, 429); its
    /// `retry_after` says when the budget starts over.
    pub fn is_budget_exhausted(&self) -> bool {
        self.error_code() == Some(ErrorCode::BudgetExhausted)
    }

    /// Whether the server refused because of its rate limit (429, not a spent budget).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(StatusCode::TOO_MANY_REQUESTS) && !self.is_budget_exhausted()
    }

    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Error::Timeout
        } else {
            Error::Transport { source: err }
        }
    }

    pub(crate) fn decode(source: serde_json::Error, body: &[u8]) -> Self {
        const MAX: usize = 4096;
        let mut text = String::from_utf8_lossy(&body[..body.len().min(MAX)]).into_owned();
        if body.len() > MAX {
            text.push('…');
        }
        Error::Decode { source, body: text }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(err: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket {
            source: Box::new(err),
        }
    }
}
