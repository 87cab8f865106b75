//! `/events`: the live feed, filtered by type and project, with a pause button.

use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::EventFilter;

use crate::error::WebError;
use crate::layout::{self, Nav};
use crate::live::{LiveQuery, all_families, event_row};
use crate::session::Session;

/// The feed's filters, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    types: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

/// How many events the page starts with, and keeps.
const KEEP: u32 = 100;

/// `GET /events`.
pub(crate) async fn page(
    session: Session,
    Query(query): Query<EventsQuery>,
) -> Result<Response, WebError> {
    let types = query
        .types
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let project: Option<Uuid> = match query.project_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| WebError::BadInput(format!("`{v}` is not a project id")))?,
        ),
    };
    let client = &session.client;
    let log = client.events().latest().await?;
    let head = log.last_id;
    let mut filter = EventFilter::new().since((head - i64::from(KEEP)).max(log.pruned_through));
    if let Some(types) = types {
        filter = filter.types(types.split(',').map(str::trim).filter(|t| !t.is_empty()));
    }
    if let Some(project) = project {
        filter = filter.project(project);
    }
    let (recent, projects) = tokio::try_join!(
        client.events().list_filtered(&filter).limit(KEEP).send(),
        client.projects().list().limit(200).send(),
    )?;
    let shown: Vec<_> = recent.items.iter().rev().take(KEEP as usize).collect();
    let live = LiveQuery::url(head, types, project, None);
    let body = html! {
        h1 { "Events" }
        form.filters method="get" action="/events" {
            label { "Types " input name="types" value=[types] placeholder="task.*,agent.*" size="18"; }
            label { "Project "
                select name="project_id" {
                    option value="" { "any" }
                    @for p in &projects.items {
                        option value=(p.id) selected[project == Some(p.id)] { (p.name) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a href="/events" { "Clear" }
            button #pause type="button" data-pause="#feed" aria-pressed="false" { "Pause" }
            span #paused-count.muted {}
        }
        ol #feed.events sse-swap=(all_families()) hx-swap="afterbegin" data-cap="300" {
            @for event in &shown { (event_row(event)) }
        }
        @if shown.is_empty() { (layout::empty("No event yet: they appear here as they happen.")) }
    };
    Ok(layout::page(&session, Nav::Events, "Events", Some(live), body).into_response())
}
