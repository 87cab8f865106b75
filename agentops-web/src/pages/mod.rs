//! One module per page; each serves the page and the partials its live parts re-fetch.

pub(crate) mod agents;
pub(crate) mod approvals;
pub(crate) mod chat;
pub(crate) mod chats;
pub(crate) mod deployments;
pub(crate) mod events;
pub(crate) mod keys;
pub(crate) mod overview;
pub(crate) mod personas;
pub(crate) mod projects;
pub(crate) mod schedules;
pub(crate) mod task;
pub(crate) mod tasks;
pub(crate) mod tools;
pub(crate) mod usage;

use axum::response::{Html, IntoResponse, Response};
use maud::Markup;

use crate::error::WebError;
use crate::session::Session;

/// The event log's head: where a page's live stream starts.
pub(crate) async fn head(session: &Session) -> Result<i64, WebError> {
    Ok(session.client.events().latest().await?.last_id)
}

/// A rendered fragment (for htmx).
pub(crate) fn fragment(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}
