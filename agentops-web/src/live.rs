//! `GET /live`: the platform's event stream as Server-Sent Events for the page.
//!
//! Each platform event becomes one SSE message: its `event:` is the event's family
//! (`task`, `agent`, `approval`…, which parts of a page listen to with
//! `hx-trigger="sse:task"`), its `id:` the event id, its data one rendered row for feeds
//! and timelines (`sse-swap`). The page opens the stream with `since=` the log's head
//! when it was rendered, so nothing between render and connect is lost; after a drop
//! the browser reconnects by itself with `Last-Event-ID`, and the stream resumes from
//! there through the SDK's own resumable subscription: nothing missed, nothing twice.
//!
//! Why SSE and not the WebSocket extension: a browser's `EventSource` resumes from the
//! last id on its own, through any HTTP proxy, and htmx's SSE extension maps event
//! names to page parts with no script of ours.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::StreamExt;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::{Event, EventFilter};

use crate::AppState;
use crate::layout::{self, short};
use crate::session::Session;

/// What a page's stream is narrowed to.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LiveQuery {
    /// Resume after this event id (the log's head when the page was rendered).
    #[serde(default)]
    since: Option<i64>,
    /// Comma-separated type patterns (`task.*,agent.*`).
    #[serde(default)]
    types: Option<String>,
    #[serde(default)]
    project_id: Option<Uuid>,
    #[serde(default)]
    task_id: Option<Uuid>,
}

impl LiveQuery {
    /// The `/live?…` URL of a page's stream.
    pub(crate) fn url(
        since: i64,
        types: Option<&str>,
        project_id: Option<Uuid>,
        task_id: Option<Uuid>,
    ) -> String {
        let mut url = format!("/live?since={since}");
        if let Some(types) = types.filter(|t| !t.is_empty()) {
            url.push_str(&format!("&types={}", crate::error::percent_encode(types)));
        }
        if let Some(id) = project_id {
            url.push_str(&format!("&project_id={id}"));
        }
        if let Some(id) = task_id {
            url.push_str(&format!("&task_id={id}"));
        }
        url
    }
}

/// Every event family an SSE message may be named after. A kind of a family not listed
/// (one the API added since) goes out as `other`, so the Events feed, which swaps in all
/// of these, still shows it. `assets/app.js` lists the same names (a test keeps them
/// equal), so each of them can refresh the parts that ask for it (`data-refresh-on`).
pub(crate) const FAMILIES: [&str; 18] = [
    "task",
    "agent",
    "approval",
    "project",
    "artifact",
    "key",
    "budget",
    "schedule",
    "thread",
    "message",
    "usage",
    "note",
    "deployment",
    "pairing",
    "persona",
    "tool",
    "preview",
    "other",
];

/// The event family an SSE message is named after: the part before the first dot, if
/// it is one of [`FAMILIES`], else `other`.
pub(crate) fn family(kind: &str) -> &'static str {
    let prefix = kind.split('.').next().unwrap_or_default();
    FAMILIES
        .into_iter()
        .find(|family| *family == prefix)
        .unwrap_or("other")
}

/// Every family, comma-separated: the `sse-swap` of a feed that shows every event.
pub(crate) fn all_families() -> String {
    FAMILIES.join(",")
}

/// One event as a feed or timeline row.
pub(crate) fn event_row(event: &Event) -> Markup {
    let detail = summary(event);
    html! {
        li.event data-event-id=(event.id) {
            span.when { (layout::ago(event.created_at)) }
            span class=(format!("kind f-{}", family(&event.kind))) { (event.kind) }
            @if let Some(task) = event.task_id {
                a.ref href=(format!("/tasks/{task}")) { "task " (short(task)) }
            }
            @if let Some(project) = event.project_id {
                a.ref href=(format!("/projects/{project}")) { "project " (short(project)) }
            }
            @if !detail.is_empty() { span.detail { (detail) } }
        }
    }
}

/// A few words of what an event says, from its data.
fn summary(event: &Event) -> String {
    let data = &event.data;
    let text = |key: &str| data.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let mut parts = Vec::new();
    if let Some(title) = text("title")
        .or_else(|| text("name"))
        .or_else(|| text("summary"))
    {
        parts.push(title);
    }
    if let Some(status) = text("status") {
        parts.push(format!("→ {status}"));
    }
    if let Some(message) = text("progress_message") {
        parts.push(format!("“{message}”"));
    }
    if let Some(progress) = data.get("progress").and_then(|v| v.as_f64()) {
        parts.push(format!("{:.0}%", progress * 100.0));
    }
    if let Some(error) = text("error").or_else(|| text("block_reason")) {
        parts.push(error);
    }
    let mut out = parts.join(" ");
    if out.chars().count() > 160 {
        out = out.chars().take(159).collect::<String>() + "…";
    }
    out
}

/// `GET /live`.
pub(crate) async fn stream(
    State(_state): State<AppState>,
    session: Result<Session, axum::response::Response>,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> axum::response::Response {
    // Signed out (no cookie, or one that no longer parses): say so once, rather than
    // answering a redirect the browser's EventSource would retry for ever.
    let Ok(session) = session else {
        let message = SseEvent::default()
            .event("signed-out")
            .data("the session ended");
        let once = futures_util::stream::once(async move { Ok::<_, Infallible>(message) });
        return Sse::new(once).into_response();
    };
    // A reconnecting browser says where it got to; that wins over the page's `since`.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.since);
    let mut filter = EventFilter::new();
    if let Some(types) = &query.types {
        filter = filter.types(types.split(',').map(str::trim).filter(|t| !t.is_empty()));
    }
    if let Some(id) = query.project_id {
        filter = filter.project(id);
    }
    if let Some(id) = query.task_id {
        filter = filter.task(id);
    }
    if let Some(since) = resume {
        filter = filter.since(since);
    }
    let subscription = session.client.events().subscribe(filter);
    // A session that ends while the page is open (sign-out elsewhere, expiry, its key
    // revoked) gets one `signed-out` message and the end of the stream, on which the
    // page goes to the sign-in form, instead of reconnecting every second for ever.
    let events = futures_util::stream::unfold(Some(subscription), |state| async move {
        let mut subscription = state?;
        let message = match subscription.next().await? {
            Ok(event) => {
                let message = SseEvent::default()
                    .event(family(&event.kind))
                    .id(event.id.to_string())
                    .data(event_row(&event).into_string());
                return Some((Ok::<_, Infallible>(message), Some(subscription)));
            }
            Err(err) if err.is_auth() => SseEvent::default()
                .event("signed-out")
                .data("the session ended"),
            // The SDK retries what can pass; what it yields is refused for good (the
            // page's position was deleted by retention, say): the page reloads and
            // starts from the log's head again, instead of reconnecting in a loop.
            Err(err) => {
                tracing::debug!(error = %err, "a dashboard stream's subscription was refused");
                SseEvent::default().event("reload").data(err.to_string())
            }
        };
        Some((Ok(message), None))
    });
    // The browser waits this long before reconnecting after a drop.
    let retry = futures_util::stream::once(async {
        Ok(SseEvent::default()
            .retry(Duration::from_millis(1000))
            .comment("hello"))
    });
    Sse::new(retry.chain(events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_family_is_its_prefix_when_known_else_other() {
        assert_eq!(family("task.completed"), "task");
        assert_eq!(family("preview.started"), "preview");
        assert_eq!(family("persona.updated"), "persona");
        assert_eq!(family("deployment.updated"), "deployment");
        assert_eq!(family("pairing.approved"), "pairing");
        assert_eq!(family("secret.rotated"), "other");
        assert_eq!(family(""), "other");
        assert!(all_families().split(',').any(|f| f == "preview"));
    }

    #[test]
    fn the_page_script_listens_to_every_family_the_server_names() {
        let script = include_str!("../assets/app.js");
        let start = script
            .find("var FAMILIES = [")
            .expect("app.js lists FAMILIES");
        let list = &script[start..];
        let list = &list[list.find('[').expect("[") + 1..list.find(']').expect("]")];
        let in_script: Vec<&str> = list
            .split(',')
            .map(|name| name.trim().trim_matches('\''))
            .filter(|name| !name.is_empty())
            .collect();
        assert_eq!(
            in_script, FAMILIES,
            "app.js's FAMILIES and live::FAMILIES differ"
        );
    }
}
