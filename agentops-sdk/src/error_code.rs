//! Every error code the server answers with, its HTTP status and what it means: the one
//! table the server, the SDK, the bots and `docs/api.md` share.

use std::fmt;
use std::str::FromStr;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $meaning:literal),)*) => {
        /// A stable, machine-readable error code (`error.code` of every error body).
        ///
        /// New codes may be added: match with a wildcard arm. The wire form is the
        /// snake_case name ([`ErrorCode::as_str`]); an [`crate::types::ErrorDetail`]
        /// keeps the code as sent, and [`crate::types::ErrorDetail::error_code`] reads it
        /// as one of these (or `None` for a code this SDK does not know yet).
        ///
        /// ```
        /// use agentops_sdk::types::ErrorCode;
        ///
        /// assert_eq!(ErrorCode::StaleClaim.as_str(), "stale_claim");
        /// assert_eq!(ErrorCode::StaleClaim.status(), 409);
        /// assert_eq!("task_not_found".parse(), Ok(ErrorCode::TaskNotFound));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the table (by status).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status the server answers with this code.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// What the code means, in a sentence (the table in `docs/api.md`).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)*
                }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownErrorCode;

            fn from_str(code: &str) -> Result<Self, Self::Err> {
                match code {
                    $($code => Ok(ErrorCode::$variant),)*
                    _ => Err(UnknownErrorCode),
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON.
    MalformedJson = ("malformed_json", 400, "The body is not valid JSON."),
    /// The body broke off, or stopped coming.
    UnreadableBody = ("unreadable_body", 400, "The body broke off, or no more of it came for `AGENTOPS_BODY_IDLE_TIMEOUT_SECS` (60)."),
    /// A path id is not a UUID.
    InvalidId = ("invalid_id", 400, "A path id is not a UUID."),
    /// A path segment cannot be read.
    InvalidPath = ("invalid_path", 400, "A path segment cannot be read (not UTF-8, or holds NUL)."),
    /// The query string does not parse.
    InvalidQuery = ("invalid_query", 400, "The query string does not parse: unknown or mistyped parameters, or NUL."),
    /// A page cursor is not one this server gave out.
    InvalidCursor = ("invalid_cursor", 400, "A page cursor is not one this server gave out."),
    /// The `Idempotency-Key` header is not 1–255 visible ASCII characters.
    InvalidIdempotencyKey = ("invalid_idempotency_key", 400, "The `Idempotency-Key` header is not 1–255 visible ASCII characters."),
    /// An upload's bytes do not match the `sha256` it named.
    ChecksumMismatch = ("checksum_mismatch", 400, "An upload's bytes do not match the `sha256` it named."),
    /// A multipart upload is not a form this server reads.
    InvalidForm = ("invalid_form", 400, "A multipart upload is not a form this server reads (fields before `file`, `file` last)."),
    /// An upload's body broke off.
    BodyInterrupted = ("body_interrupted", 400, "An upload's body broke off, or stopped coming."),
    /// An upload's body cannot be read as its content type says.
    MalformedBody = ("malformed_body", 400, "An upload's body cannot be read as its content type says."),
    /// A plain request to the WebSocket stream.
    NotAWebsocketRequest = ("not_a_websocket_request", 400, "A request to the event stream that is not a WebSocket opening handshake."),
    /// No API key, or an unknown or revoked one.
    Unauthorized = ("unauthorized", 401, "No API key, or one that is unknown or revoked (with `WWW-Authenticate: Bearer`)."),
    /// The key's role is not enough.
    Forbidden = ("forbidden", 403, "The key's role is not enough (decided before the body is read)."),
    /// A preview's upstream is on a host the platform does not forward to.
    UpstreamNotAllowed = ("upstream_not_allowed", 403, "A preview's upstream is on a host the platform does not forward to (`AGENTOPS_PREVIEW_UPSTREAMS`)."),
    /// No such task.
    TaskNotFound = ("task_not_found", 404, "No such task."),
    /// No such project.
    ProjectNotFound = ("project_not_found", 404, "No such project."),
    /// No such agent.
    AgentNotFound = ("agent_not_found", 404, "No such agent."),
    /// No such API key.
    KeyNotFound = ("key_not_found", 404, "No such API key."),
    /// No such artifact.
    ArtifactNotFound = ("artifact_not_found", 404, "No such artifact."),
    /// No such thread.
    ThreadNotFound = ("thread_not_found", 404, "No such thread."),
    /// No such approval.
    ApprovalNotFound = ("approval_not_found", 404, "No such approval."),
    /// No such note on the project.
    NoteNotFound = ("note_not_found", 404, "No such note (or version of it) on the project."),
    /// No such schedule.
    ScheduleNotFound = ("schedule_not_found", 404, "No such schedule."),
    /// No such budget.
    BudgetNotFound = ("budget_not_found", 404, "No such budget."),
    /// No such budget reservation.
    ReservationNotFound = ("reservation_not_found", 404, "No such budget reservation."),
    /// No such deployment.
    DeploymentNotFound = ("deployment_not_found", 404, "No such deployment."),
    /// No such pairing, or no pending pairing holds that code (codes expire after an hour).
    PairingNotFound = ("pairing_not_found", 404, "No such pairing, or no pending pairing holds that code (codes expire after an hour)."),
    /// No such persona, or one the caller may not see.
    PersonaNotFound = ("persona_not_found", 404, "No such persona (by id or slug), or a private one of someone else."),
    /// No such tool.
    ToolNotFound = ("tool_not_found", 404, "No such tool."),
    /// No such preview.
    PreviewNotFound = ("preview_not_found", 404, "No such preview."),
    /// No event cursor of that name.
    EventCursorNotFound = ("event_cursor_not_found", 404, "No event cursor of that name."),
    /// A record went away while the request was served.
    RecordNotFound = ("record_not_found", 404, "A record went away while the request was served."),
    /// No route serves this path.
    RouteNotFound = ("route_not_found", 404, "No route serves this path."),
    /// The route does not take this method.
    MethodNotAllowed = ("method_not_allowed", 405, "The route does not take this method."),
    /// The status change is not allowed from the current status.
    InvalidTransition = ("invalid_transition", 409, "The status change is not allowed from the entity's current status."),
    /// The claim token is no longer the task's current claim.
    StaleClaim = ("stale_claim", 409, "The claim token is no longer the task's current claim (lease expired, or the task was cancelled)."),
    /// A note was written by someone else since the version the write replaces.
    StaleVersion = ("stale_version", 409, "A note changed since the `expected_version` the write replaces: read it again, then write."),
    /// The project still has unfinished tasks.
    ProjectNotEmpty = ("project_not_empty", 409, "The project still has unfinished tasks."),
    /// `DELETE /sessions/current` with a key that is not a session.
    NotASession = ("not_a_session", 409, "The key is not a session (made by `POST /sessions`); revoke a key with `DELETE /keys/{id}`."),
    /// A record with the same unique value exists.
    AlreadyExists = ("already_exists", 409, "A record with the same unique value exists."),
    /// A record the request refers to was deleted meanwhile.
    ReferenceGone = ("reference_gone", 409, "A record the request refers to was deleted meanwhile."),
    /// Events older than the retained log were asked for.
    CursorExpired = ("cursor_expired", 410, "An event `since` older than the retained log: reload, then resume."),
    /// The persona was deleted by its owner.
    PersonaDeleted = ("persona_deleted", 410, "The persona was deleted by its owner: it takes no new messages or changes."),
    /// The preview expired or was stopped: its server is gone.
    PreviewGone = ("preview_gone", 410, "The preview expired or was stopped: its server is gone."),
    /// The body is larger than the server accepts.
    PayloadTooLarge = ("payload_too_large", 413, "The body is larger than the server accepts."),
    /// The body is not of a media type the route reads.
    UnsupportedMediaType = ("unsupported_media_type", 415, "The body is not of a media type the route reads (`application/json`)."),
    /// The byte range asked for lies outside the artifact.
    RangeNotSatisfiable = ("range_not_satisfiable", 416, "The byte range asked for lies outside the artifact (with `Content-Range: bytes */size`)."),
    /// The body's shape is wrong.
    InvalidBody = ("invalid_body", 422, "The body's shape is wrong: not an object, missing, unknown or mistyped fields, NUL in a string."),
    /// The body's values are out of their constraints.
    ValidationFailed = ("validation_failed", 422, "Values out of their constraints, with `details` per field (also a number beyond ±1e300 in free-form JSON)."),
    /// Audio that cannot be heard.
    UnreadableAudio = ("unreadable_audio", 422, "The audio cannot be read, or no words could be made out in it."),
    /// A picture that cannot be seen.
    UnreadableImage = ("unreadable_image", 422, "Not a PNG, JPEG, GIF or WebP picture, or the vision model could not read it."),
    /// An `Idempotency-Key` reused with another body.
    IdempotencyKeyReused = ("idempotency_key_reused", 422, "An `Idempotency-Key` used again with a different body."),
    /// Text holds a NUL character.
    InvalidText = ("invalid_text", 422, "Text holds the NUL character, which cannot be stored."),
    /// A WebSocket version other than 13 (RFC 6455, section 4.4).
    UnsupportedWebsocketVersion = ("unsupported_websocket_version", 426, "A WebSocket version other than 13 (with `Sec-WebSocket-Version: 13`)."),
    /// Too many requests with this key.
    RateLimited = ("rate_limited", 429, "Too many requests with this key (with `Retry-After`)."),
    /// A budget that applies has no room left for the call.
    BudgetExhausted = ("budget_exhausted", 429, "A budget that applies to the call has no room left this period (with `Retry-After`: seconds until it starts over). Not worth retrying sooner."),
    /// A bug: the cause is logged, the message is generic.
    Internal = ("internal", 500, "A bug: its cause is logged, the message is generic."),
    /// A service in front of the platform could not reach its API.
    PlatformUnavailable = ("platform_unavailable", 502, "The Chief of Staff's HTTP API could not reach the platform API it works through."),
    /// The preview's server does not answer.
    PreviewUnreachable = ("preview_unreachable", 502, "The preview's server does not answer (its worker may have stopped)."),
    /// The Chief of Staff has no speech engine, or cannot reach it.
    SpeechUnavailable = ("speech_unavailable", 503, "The Chief of Staff's speech engine is not set up (`SPEECH_BASE_URL`) or cannot be reached now (with `Retry-After` when it may come back)."),
    /// The Chief of Staff has no vision model, or cannot reach it.
    VisionUnavailable = ("vision_unavailable", 503, "The Chief of Staff has no vision model (`VISION_MODEL`), or cannot reach it now (with `Retry-After` when it may come back)."),
    /// No master key to seal secrets with.
    SecretsUnavailable = ("secrets_unavailable", 503, "The platform has no master key (`AGENTOPS_SECRET_KEY`), so it cannot store a secret such as a provider key."),
    /// The database is down or unreachable, or the connection to it was lost.
    Unavailable = ("unavailable", 503, "The database (or artifact storage) is down or unreachable, or the connection to it was lost while the request ran (with `Retry-After: 2`); requests succeed again on their own once it is back. Also when the database undid the request to resolve a conflict with a concurrent one (a deadlock): nothing of it stays. A write that lost its connection may or may not have been made: repeat it with the same `Idempotency-Key` (the SDK does)."),
}

impl ErrorCode {
    /// What a `…_not_found` code says is missing (`task` for `task_not_found`).
    pub fn subject(self) -> Option<&'static str> {
        self.as_str().strip_suffix("_not_found")
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code that is not one of [`ErrorCode`] (a newer server's, perhaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code")]
pub struct UnknownErrorCode;

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        code.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown error code `{code}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_is_snake_case() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse(), Ok(code));
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!((400..600).contains(&code.status()), "{code}");
        }
        assert_eq!("no_such_code".parse::<ErrorCode>(), Err(UnknownErrorCode));
    }

    #[test]
    fn codes_are_distinct_and_listed_by_status() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        assert!(
            ErrorCode::ALL
                .windows(2)
                .all(|w| w[0].status() <= w[1].status())
        );
    }

    #[test]
    fn not_found_codes_name_their_subject() {
        assert_eq!(
            ErrorCode::EventCursorNotFound.subject(),
            Some("event_cursor")
        );
        assert_eq!(ErrorCode::ThreadNotFound.subject(), Some("thread"));
        assert_eq!(ErrorCode::StaleClaim.subject(), None);
    }
}
