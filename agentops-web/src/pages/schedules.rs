//! `/schedules`: the work that comes back by itself (cron, intervals, one-offs), when it
//! runs next, and pause / resume.

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use uuid::Uuid;

use agentops_sdk::types::ScheduleStatus;

use super::head;
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge};
use crate::live::LiveQuery;
use crate::session::{CsrfForm, Session, csrf_field};

/// `GET /schedules`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let schedules = session.client.schedules();
    let (since, list) = tokio::try_join!(head(&session), async {
        Ok(schedules.list().limit(200).send().await?)
    })?;
    let live = LiveQuery::url(since, Some("schedule.*"), None, None);
    let body = html! {
        h1 { "Schedules" }
        @if list.items.is_empty() { (layout::empty("No schedule yet. Ask the Chief of Staff (“every weekday at 9:00 send me a status report”) or POST /api/v1/schedules.")) }
        @else {
            table.list {
                thead { tr { th { "Schedule" } th { "When" } th { "Status" } th { "Next run" } th.wide { "Last run" } th.wide { "Runs" } th {} } }
                tbody {
                    @for s in &list.items {
                        tr data-schedule=(s.id) {
                            td { (s.name) br; small.muted { "task: " (s.task.title) } }
                            td { (s.description) }
                            td { (badge(s.status.as_str())) }
                            td { @if let Some(at) = s.next_run_at { (ago(at)) } @else { "—" } }
                            td.wide {
                                @if let Some(at) = s.last_run_at {
                                    @if let Some(task) = s.last_task_id { a href=(format!("/tasks/{task}")) { (ago(at)) } } @else { (ago(at)) }
                                } @else { "never" }
                            }
                            td.wide { (s.runs) }
                            td {
                                @if session.can_write() {
                                    @if s.status == ScheduleStatus::Active {
                                        form method="post" action=(format!("/schedules/{}/pause", s.id)) {
                                            (csrf_field(&session)) button.danger type="submit" data-action="pause" { "Pause" }
                                        }
                                    } @else if s.status == ScheduleStatus::Paused {
                                        form method="post" action=(format!("/schedules/{}/resume", s.id)) {
                                            (csrf_field(&session)) button type="submit" data-action="resume" { "Resume" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, Nav::Schedules, "Schedules", Some(live), body).into_response())
}

/// `POST /schedules/{id}/pause`.
pub(crate) async fn pause(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session.client.schedules().pause(id).await?;
    Ok(Redirect::to("/schedules").into_response())
}

/// `POST /schedules/{id}/resume`.
pub(crate) async fn resume(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session.client.schedules().resume(id).await?;
    Ok(Redirect::to("/schedules").into_response())
}
