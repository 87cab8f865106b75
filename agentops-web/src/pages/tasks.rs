//! `/tasks`: every task, filtered by project, status, kind, label or agent, live.

use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::{Page, TaskOut, TaskStatus};

use super::{fragment, head};
use crate::error::{WebError, percent_encode};
use crate::layout::{self, Nav, ago, short, status_badge};
use crate::live::LiveQuery;
use crate::session::Session;

const PAGE_SIZE: u32 = 50;

/// The list's filters, as the form sends them (empty means "any").
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TasksQuery {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl TasksQuery {
    fn project(&self) -> Result<Option<Uuid>, WebError> {
        given(&self.project_id)
            .map(|v| {
                v.parse()
                    .map_err(|_| WebError::BadInput(format!("`{v}` is not a project id")))
            })
            .transpose()
    }

    fn agent(&self) -> Result<Option<Uuid>, WebError> {
        given(&self.agent_id)
            .map(|v| {
                v.parse()
                    .map_err(|_| WebError::BadInput(format!("`{v}` is not an agent id")))
            })
            .transpose()
    }

    fn status(&self) -> Result<Option<TaskStatus>, WebError> {
        given(&self.status)
            .map(|v| {
                TaskStatus::ALL
                    .into_iter()
                    .find(|s| s.as_str() == v)
                    .ok_or_else(|| WebError::BadInput(format!("`{v}` is not a task status")))
            })
            .transpose()
    }

    /// The filters as a query string (without the cursor unless asked).
    fn query_string(&self, with_cursor: bool) -> String {
        let mut pairs = Vec::new();
        for (key, value) in [
            ("project_id", &self.project_id),
            ("status", &self.status),
            ("kind", &self.kind),
            ("label", &self.label),
            ("agent_id", &self.agent_id),
        ] {
            if let Some(v) = given(value) {
                pairs.push(format!("{key}={}", percent_encode(v)));
            }
        }
        if with_cursor && let Some(c) = given(&self.cursor) {
            pairs.push(format!("cursor={}", percent_encode(c)));
        }
        pairs.join("&")
    }
}

async fn fetch(session: &Session, query: &TasksQuery) -> Result<Page<TaskOut>, WebError> {
    let mut list = session.client.tasks().list().limit(PAGE_SIZE);
    if let Some(project) = query.project()? {
        list = list.project(project);
    }
    if let Some(status) = query.status()? {
        list = list.status(status);
    }
    if let Some(kind) = given(&query.kind) {
        list = list.kind(kind);
    }
    if let Some(label) = given(&query.label) {
        list = list.label(label);
    }
    if let Some(agent) = query.agent()? {
        list = list.agent(agent);
    }
    if let Some(cursor) = given(&query.cursor) {
        list = list.cursor(cursor);
    }
    Ok(list.send().await?)
}

/// `GET /tasks`.
pub(crate) async fn page(
    session: Session,
    Query(query): Query<TasksQuery>,
) -> Result<Response, WebError> {
    let (since, tasks, projects, agents) = tokio::try_join!(
        head(&session),
        fetch(&session, &query),
        async { Ok(session.client.projects().list().limit(200).send().await?) },
        async { Ok(session.client.agents().list().limit(200).send().await?) },
    )?;
    let live = LiveQuery::url(since, Some("task.*"), query.project()?, None);
    let chosen_status = given(&query.status);
    let chosen_project = given(&query.project_id);
    let chosen_agent = given(&query.agent_id);
    let body = html! {
        h1 { "Tasks" }
        form.filters method="get" action="/tasks" {
            label { "Project "
                select name="project_id" {
                    option value="" { "any" }
                    @for p in &projects.items {
                        option value=(p.id) selected[chosen_project == Some(p.id.to_string().as_str())] { (p.name) }
                    }
                }
            }
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in TaskStatus::ALL {
                        option value=(s) selected[chosen_status == Some(s.as_str())] { (s) }
                    }
                }
            }
            label { "Kind " input name="kind" value=[given(&query.kind)] size="10"; }
            label { "Label " input name="label" value=[given(&query.label)] size="10"; }
            label { "Agent "
                select name="agent_id" {
                    option value="" { "any" }
                    @for a in &agents.items {
                        option value=(a.id) selected[chosen_agent == Some(a.id.to_string().as_str())] { (a.name) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a href="/tasks" { "Clear" }
        }
        table.list {
            thead { tr { th { "Task" } th { "Status" } th.wide { "Kind" } th.wide { "Agent" } th { "Progress" } th.wide { "Updated" } } }
            tbody #task-rows hx-get=(format!("/tasks/rows?{}", query.query_string(true)))
                hx-trigger="refresh" data-refresh-on="task" data-refresh-ms="500" {
                (rows_markup(&tasks, &query))
            }
        }
    };
    Ok(layout::page(&session, Nav::Tasks, "Tasks", Some(live), body).into_response())
}

/// `GET /tasks/rows`: the rows the live stream refreshes.
pub(crate) async fn rows(
    session: Session,
    Query(query): Query<TasksQuery>,
) -> Result<Response, WebError> {
    let tasks = fetch(&session, &query).await?;
    Ok(fragment(rows_markup(&tasks, &query)))
}

fn rows_markup(tasks: &Page<TaskOut>, query: &TasksQuery) -> Markup {
    html! {
        @if tasks.items.is_empty() {
            tr { td colspan="6" { (layout::empty("No task matches.")) } }
        }
        @for task in &tasks.items { (row(task)) }
        @if let Some(next) = &tasks.next_cursor {
            tr.more { td colspan="6" {
                @let filters = query.query_string(false);
                a href=(format!("/tasks?{}{}cursor={}", filters, if filters.is_empty() { "" } else { "&" }, percent_encode(next))) { "Older tasks →" }
            } }
        }
    }
}

/// One task as a list row.
pub(crate) fn row(task: &TaskOut) -> Markup {
    html! {
        tr #(format!("task-{}", task.id)) data-status=(task.status) {
            td { a href=(format!("/tasks/{}", task.id)) { (task.title) } br; small.muted { (short(task.id)) } }
            td { (status_badge(task.status)) }
            td.wide { code { (task.kind) } }
            td.wide { @if let Some(agent) = task.agent_id { (short(agent)) } }
            td { @if let Some(p) = task.progress { progress max="1" value=(p) { (format!("{:.0}%", p * 100.0)) } } }
            td.wide { (ago(task.updated_at)) }
        }
    }
}
