//! The `agentops` binary's library half: the command line and what each command does.
//!
//! This crate is the composition root: it wires the server, the migrations, the agents and the
//! interfaces together. The command-line definition here is the
//! single source of truth for the settings and environment variables the binary reads;
//! the deployment contract test compares the Terraform containers against it.

pub mod agents;
pub mod chief;
pub mod cli;
mod serve;
pub mod speech;
pub mod telegram;

/// The error answer of the HTTP service this crate serves beside the API (the Telegram
/// webhook): the API's error body, with the status of `code`.
pub(crate) fn error_response(
    code: agentops_sdk::types::ErrorCode,
    message: impl Into<String>,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = agentops_sdk::types::ErrorBody::new(code, message);
    (status, axum::Json(body)).into_response()
}
