//! The `agentops` binary's library half: the command line and what each command does.
//!
//! This crate is the composition root: it wires the server, the migrations, the agents and the
//! interfaces together. The command-line definition here is the
//! single source of truth for the settings and environment variables the binary reads;
//! the deployment contract test compares the Terraform containers against it.

pub mod agents;
pub mod chief;
pub mod cli;
pub mod telegram;

/// The error answer of the HTTP services this crate serves beside the API (the Chief of
/// Staff's, the Telegram webhook): the API's error body, with the status of `code`.
pub(crate) fn error_response(
    code: agentops_sdk::types::ErrorCode,
    message: impl Into<String>,
) -> axum::response::Response {
    use agentops_sdk::types::{ErrorBody, ErrorDetail};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.as_str().to_owned(),
            message: message.into(),
            details: Vec::new(),
        },
    };
    (status, axum::Json(body)).into_response()
}
