//! `/tasks/{id}`: one task, its live timeline, artifacts, dependencies, the servers it
//! shows (previews), and the buttons a person needs: cancel, unblock with an answer, retry.
//!
//! A preview's `link` (`/preview/<short id>/~<token>/`) is used as it is, relative to
//! this page: the dashboard is served by the API process itself, on the same origin as
//! `/preview/`, while the SDK client it holds points at that process's loopback address,
//! which a person's browser (a phone, another machine) cannot reach. The link opens in a
//! new tab, where the preview runs sandboxed in an origin of its own.

use axum::body::Body;
use axum::extract::{Form, Path};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::TryStreamExt;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use agentops_sdk::types::{
    ArtifactOut, CancelIn, Event, EventFilter, PreviewOut, PreviewStatus, TaskIn, TaskOut,
    TaskStatus, UnblockIn,
};

use super::fragment;
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge, json_block, short, status_badge};
use crate::live::{LiveQuery, event_row};
use crate::session::{CsrfForm, Session, csrf_field};

/// Text artifacts up to this size are shown inline.
const PREVIEW_BYTES: u64 = 64 * 1024;
/// A task's previews the page lists (the newest).
const PREVIEWS_LISTED: u32 = 20;

/// `GET /tasks/{id}`.
pub(crate) async fn page(session: Session, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    let client = &session.client;
    // The head first: the live stream starts there, so an event committed while the
    // rest is read arrives live rather than being missed.
    let log = client.events().latest().await?;
    let since = log.last_id;
    let (task, timeline) = tokio::try_join!(
        async { Ok::<_, WebError>(client.tasks().get(id).await?) },
        async {
            // From the oldest event retention kept (older ones are gone).
            Ok(client
                .events()
                .list_filtered(&EventFilter::new().task(id).since(log.pruned_through))
                .limit(200)
                .send()
                .await?)
        },
    )?;
    let card = card_markup(&session, &task).await?;
    let live = LiveQuery::url(since, None, None, Some(id));
    let events: Vec<&Event> = timeline.items.iter().collect();
    let body = html! {
        nav.crumbs { a href="/tasks" { "Tasks" } " / " a href=(format!("/tasks?project_id={}", task.project_id)) { "project " (short(task.project_id)) } }
        div #task-card hx-get=(format!("/tasks/{id}/card")) hx-trigger="refresh" data-refresh-on="task,artifact,preview" data-refresh-ms="300" {
            (card)
        }
        section.panel {
            h2 { "Timeline" }
            ol #timeline.events.timeline sse-swap="task,artifact,usage,budget,agent,tool,preview" hx-swap="beforeend" data-cap="500" {
                @for event in events { (event_row(event)) }
            }
            @if timeline.next_cursor.is_some() {
                p.muted { "The first 200 events are shown; newer ones arrive live." }
            }
        }
    };
    Ok(layout::page(&session, Nav::Tasks, &task.title, Some(live), body).into_response())
}

/// `GET /tasks/{id}/card`: the part the live stream refreshes.
pub(crate) async fn card(session: Session, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    let task = session.client.tasks().get(id).await?;
    Ok(fragment(card_markup(&session, &task).await?))
}

async fn card_markup(session: &Session, task: &TaskOut) -> Result<Markup, WebError> {
    let client = &session.client;
    let (artifacts, upstream, siblings, shown) = tokio::try_join!(
        async {
            Ok::<_, WebError>(
                client
                    .artifacts()
                    .list()
                    .task(task.id)
                    .limit(100)
                    .send()
                    .await?,
            )
        },
        async {
            let mut found = Vec::new();
            for id in &task.depends_on {
                match client.tasks().get(*id).await {
                    Ok(t) => found.push(t),
                    Err(err) if err.is_not_found() => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(found)
        },
        async {
            Ok(client
                .tasks()
                .list()
                .project(task.project_id)
                .limit(200)
                .send()
                .await?)
        },
        async {
            Ok(client
                .previews()
                .list()
                .task(task.id)
                .limit(PREVIEWS_LISTED)
                .send()
                .await?)
        },
    )?;
    let downstream: Vec<&TaskOut> = siblings
        .items
        .iter()
        .filter(|t| t.depends_on.contains(&task.id))
        .collect();
    let mut artifact_previews = Vec::new();
    for artifact in &artifacts.items {
        artifact_previews.push(preview(session, artifact).await);
    }
    let can_write = session.can_write();
    Ok(html! {
        h1 { (task.title) " " (status_badge(task.status)) }
        div.grid {
            section.panel {
                h2 { "State" }
                dl.facts {
                    dt { "Status" } dd data-field="status" { (status_badge(task.status)) }
                    dt { "Kind" } dd { code { (task.kind) } }
                    @if !task.labels.is_empty() {
                        dt { "Labels" } dd { @for l in &task.labels { span.tag { (l) } " " } }
                    }
                    dt { "Progress" } dd data-field="progress" {
                        @if let Some(p) = task.progress {
                            progress max="1" value=(p) { (format!("{:.0}%", p * 100.0)) } " " (format!("{:.0}%", p * 100.0))
                        } @else { "—" }
                        @if let Some(m) = &task.progress_message { " · " (m) }
                    }
                    dt { "Attempts" } dd { (task.attempts) " of " (task.max_attempts) }
                    dt { "Held by" } dd {
                        @if let Some(agent) = task.agent_id {
                            a href="/agents" { "agent " (short(agent)) }
                            @if let Some(until) = task.lease_expires_at { " · lease until " (ago(until)) }
                        } @else { "—" }
                    }
                    dt { "Priority" } dd { (task.priority) }
                    dt { "Created" } dd { (ago(task.created_at)) }
                    @if let Some(at) = task.started_at { dt { "Started" } dd { (ago(at)) } }
                    @if let Some(at) = task.finished_at { dt { "Finished" } dd { (ago(at)) } }
                    @if let Some(at) = task.not_before { dt { "Not before" } dd { (ago(at)) } }
                }
                @if let Some(error) = &task.error { p.problem { strong { "Error: " } (error) } }
                @if let Some(reason) = &task.block_reason { p.blocked { strong { "Blocked: " } (reason) } }
                @if can_write { (actions(session, task)) }
            }
            section.panel {
                h2 { "Dependencies" }
                h3 { "Waits on" }
                @if upstream.is_empty() { (layout::empty("Nothing.")) }
                ul.plain { @for t in &upstream { li { a href=(format!("/tasks/{}", t.id)) { (t.title) } " " (status_badge(t.status)) } } }
                h3 { "Waited on by" }
                @if downstream.is_empty() { (layout::empty("Nothing.")) }
                ul.plain { @for t in &downstream { li { a href=(format!("/tasks/{}", t.id)) { (t.title) } " " (status_badge(t.status)) } } }
            }
        }
        @if !shown.items.is_empty() { (previews_markup(task.id, &shown.items, Utc::now())) }
        @if let Some(description) = &task.description { section.panel { h2 { "Description" } p.pre { (description) } } }
        section.panel {
            h2 { "Input and result" }
            (json_block("Input", &task.input))
            @if let Some(result) = &task.result { (json_block("Result", result)) }
        }
        section.panel {
            h2 { "Artifacts" }
            @if artifacts.items.is_empty() { (layout::empty("No artifact yet.")) }
            ul.artifacts {
                @for (artifact, preview) in artifacts.items.iter().zip(artifact_previews) {
                    li data-artifact=(artifact.id) {
                        a.download href=(format!("/artifacts/{}/download", artifact.id)) download=(artifact.name) { (artifact.name) }
                        " " small { (artifact.content_type) " · " (layout::number(artifact.size)) " bytes" }
                        (preview)
                    }
                }
            }
        }
    })
}

/// The servers a task shows through the platform: a live one as a prominent link (a new
/// tab) with when it stops and its port, the expired and stopped ones greyed with their
/// status. The card refreshes on `preview.*` events; an expiry has no event, so while
/// one is live a hidden element refreshes the card when the soonest one runs out.
fn previews_markup(task: Uuid, previews: &[PreviewOut], now: DateTime<Utc>) -> Markup {
    let next_expiry = previews
        .iter()
        .filter(|p| p.status == PreviewStatus::Live)
        .map(|p| p.expires_at)
        .min();
    html! {
        section.panel #previews {
            h2 { "Preview" }
            ul.plain.previews {
                @for p in previews {
                    @if p.status == PreviewStatus::Live {
                        li data-preview=(p.id) data-status=(p.status) {
                            a.open-preview href=(p.link) target="_blank" rel="noopener noreferrer"
                                title="Opens in a new tab" { "Open preview" }
                            " " (badge(&p.status.to_string()))
                            " until " (clock(p.expires_at, now))
                            @if let Some(port) = p.port { " · port " (port) }
                            " · " code { (p.path) }
                        }
                    } @else {
                        li.gone data-preview=(p.id) data-status=(p.status) {
                            (badge(&p.status.to_string())) " " code { (p.path) }
                            @match (p.status, p.stopped_at) {
                                (PreviewStatus::Stopped, Some(at)) => { " · stopped " (ago(at)) }
                                _ => { " · expired " (ago(p.expires_at)) }
                            }
                            @if let Some(port) = p.port { " · port " (port) }
                        }
                    }
                }
            }
            @if next_expiry.is_some() {
                p.muted { "Anyone with the link can open it until it expires: share it as you would the server itself." }
            }
            @if let Some(at) = next_expiry {
                // One second late, so the API already calls it expired.
                span hidden hx-get=(format!("/tasks/{task}/card")) hx-target="#task-card"
                    hx-trigger=(format!("load delay:{}s", (at - now).num_seconds().max(0) + 1)) {}
            }
        }
    }
}

/// "14:30 UTC" today (in UTC), "Dec 6 14:30 UTC" on another day; exact on hover.
fn clock(at: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    let text = if at.date_naive() == now.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%b %-d %H:%M UTC").to_string()
    };
    html! { time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC")) { (text) } }
}

fn actions(session: &Session, task: &TaskOut) -> Markup {
    html! {
        div.actions {
            @if !task.status.is_final() {
                form method="post" action=(format!("/tasks/{}/cancel", task.id)) {
                    (csrf_field(session))
                    button.danger type="submit" data-action="cancel" { "Cancel task" }
                }
            }
            @if matches!(task.status, TaskStatus::Failed | TaskStatus::Cancelled) {
                form method="post" action=(format!("/tasks/{}/retry", task.id)) {
                    (csrf_field(session))
                    button type="submit" data-action="retry" { "Retry as a new task" }
                }
            }
        }
        @if task.status == TaskStatus::Blocked {
            form.unblock method="post" action=(format!("/tasks/{}/unblock", task.id)) {
                (csrf_field(session))
                label for="answer" { "Your answer (the agent reads it when it picks the task up again)" }
                textarea #answer name="answer" rows="3" maxlength="2000" {}
                button type="submit" data-action="unblock" { "Unblock" }
            }
        }
    }
}

/// The media type of a content type, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Only raster images are shown inline: an artifact's content type is whatever its
/// uploader said, and anything else (SVG, HTML, script) could run in this origin.
fn inline_image(content_type: &str) -> bool {
    matches!(
        media_type(content_type).as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

async fn preview(session: &Session, artifact: &ArtifactOut) -> Markup {
    let media = media_type(&artifact.content_type);
    let kind = media.as_str();
    if inline_image(kind) {
        return html! { img.preview src=(format!("/artifacts/{}/raw", artifact.id)) alt=(artifact.name) loading="lazy"; };
    }
    let texty = kind.starts_with("text/")
        || kind.contains("json")
        || kind.contains("xml")
        || kind.contains("yaml")
        || kind.contains("csv");
    if !texty || artifact.size == 0 {
        return html! {};
    }
    let end = artifact.size.min(PREVIEW_BYTES) - 1;
    let bytes = match session
        .client
        .artifacts()
        .download_range(artifact.id, 0, Some(end))
        .await
    {
        Ok(download) => download.bytes().await.ok(),
        Err(_) => None,
    };
    match bytes {
        Some(bytes) => html! {
            details.preview open[artifact.size <= 4096] {
                summary { "Preview" @if artifact.size > PREVIEW_BYTES { " (first 64 KiB)" } }
                pre { (String::from_utf8_lossy(&bytes)) }
            }
        },
        None => html! {},
    }
}

#[derive(Deserialize)]
pub(crate) struct UnblockForm {
    csrf: String,
    #[serde(default)]
    answer: String,
}

/// `POST /tasks/{id}/cancel`.
pub(crate) async fn cancel(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session
        .client
        .tasks()
        .cancel(
            id,
            CancelIn {
                reason: Some("cancelled from the dashboard".into()),
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/tasks/{id}")).into_response())
}

/// `POST /tasks/{id}/unblock`: back to the queue, with the person's answer.
pub(crate) async fn unblock(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<UnblockForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let answer = form.answer.trim();
    if answer.chars().count() > 2000 {
        return Err(WebError::BadInput(
            "An answer is at most 2,000 characters.".into(),
        ));
    }
    session
        .client
        .tasks()
        .unblock(
            id,
            UnblockIn {
                note: (!answer.is_empty()).then(|| answer.to_owned()),
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/tasks/{id}")).into_response())
}

/// `POST /tasks/{id}/retry`: a finished task never changes, so a retry is a new task
/// with the same work, labelled `retry-of:<id>`; pressing twice makes it once (the
/// create is idempotent on the failed task's id).
pub(crate) async fn retry(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let task = session.client.tasks().get(id).await?;
    if !matches!(task.status, TaskStatus::Failed | TaskStatus::Cancelled) {
        return Err(WebError::BadInput(format!(
            "Only a failed or cancelled task can be retried; this one is {}.",
            task.status
        )));
    }
    let mut labels: Vec<String> = task
        .labels
        .iter()
        .filter(|l| !l.starts_with("retry-of:"))
        .cloned()
        .collect();
    labels.push(format!("retry-of:{}", task.id.simple()));
    let copy = session
        .client
        .tasks()
        .create_with_key(
            TaskIn {
                project_id: task.project_id,
                title: task.title,
                description: task.description,
                kind: Some(task.kind),
                labels: Some(labels),
                priority: Some(task.priority),
                input: Some(task.input),
                depends_on: None,
                max_attempts: Some(task.max_attempts),
            },
            &format!("dashboard-retry-{}", task.id),
        )
        .await?;
    Ok(Redirect::to(&format!("/tasks/{}", copy.0.id)).into_response())
}

/// `GET /artifacts/{id}/download`: the artifact's bytes, streamed, as a file.
pub(crate) async fn download(session: Session, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    artifact_response(&session, id, true).await
}

/// `GET /artifacts/{id}/raw`: an image's bytes, for the inline preview.
pub(crate) async fn raw(session: Session, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    artifact_response(&session, id, false).await
}

async fn artifact_response(
    session: &Session,
    id: Uuid,
    attachment: bool,
) -> Result<Response, WebError> {
    let artifact = session.client.artifacts().get(id).await?;
    let download = session.client.artifacts().download(id).await?;
    // A download is bytes to save, never something this origin renders or runs; an
    // inline preview is one of the raster image types.
    let content_type = if !attachment && inline_image(&artifact.content_type) {
        media_type(&artifact.content_type)
    } else {
        "application/octet-stream".to_owned()
    };
    let file_name: String = artifact
        .name
        .rsplit('/')
        .next()
        .unwrap_or("artifact")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = if attachment {
        format!("attachment; filename=\"{file_name}\"")
    } else {
        "inline".to_owned()
    };
    let body = Body::from_stream(download.stream().map_err(std::io::Error::other));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
            // Whatever it holds, it runs nothing and loads nothing.
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_owned(),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn preview(status: PreviewStatus, now: DateTime<Utc>) -> PreviewOut {
        PreviewOut {
            id: Uuid::now_v7(),
            task_id: Uuid::now_v7(),
            project_id: Uuid::now_v7(),
            short_id: "8f3a2b1c9d0e".into(),
            path: "/preview/8f3a2b1c9d0e/".into(),
            link: "/preview/8f3a2b1c9d0e/~5b0c/".into(),
            port: Some(8000),
            status,
            expires_at: now + Duration::minutes(30),
            created_at: now,
            stopped_at: (status == PreviewStatus::Stopped).then_some(now),
        }
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_live_preview_is_a_link_in_a_new_tab_with_its_end_and_port() {
        let now = noon();
        let live = preview(PreviewStatus::Live, now);
        let task = Uuid::now_v7();
        let html = previews_markup(task, std::slice::from_ref(&live), now).into_string();
        assert!(
            html.contains(
                r#"href="/preview/8f3a2b1c9d0e/~5b0c/" target="_blank" rel="noopener noreferrer""#
            ),
            "{html}"
        );
        assert!(html.contains(">Open preview</a>"), "{html}");
        assert!(html.contains("12:30 UTC"), "{html}");
        assert!(html.contains("port 8000"), "{html}");
        // At its end the card refreshes itself: an expiry is not an event.
        assert!(
            html.contains(&format!(r#"hx-get="/tasks/{task}/card""#)),
            "{html}"
        );
        assert!(html.contains(r#"hx-trigger="load delay:1801s""#), "{html}");
    }

    #[test]
    fn stopped_and_expired_previews_are_greyed_with_their_status_and_no_link() {
        let now = noon();
        let mut expired = preview(PreviewStatus::Expired, now);
        expired.expires_at = now - Duration::minutes(5);
        let stopped = preview(PreviewStatus::Stopped, now);
        let html = previews_markup(Uuid::now_v7(), &[stopped, expired], now).into_string();
        assert!(!html.contains("Open preview"), "{html}");
        assert!(!html.contains("~5b0c"), "no token to a dead link: {html}");
        assert!(html.contains(r#"class="gone" data-preview"#), "{html}");
        assert!(html.contains(r#"data-status="stopped""#), "{html}");
        assert!(html.contains("badge s-stopped"), "{html}");
        assert!(html.contains("· stopped "), "{html}");
        assert!(html.contains("badge s-expired"), "{html}");
        assert!(html.contains("· expired "), "{html}");
        assert!(
            !html.contains("hx-trigger"),
            "nothing left to expire: {html}"
        );
    }

    #[test]
    fn an_end_on_another_day_names_the_day() {
        let now = noon();
        assert!(
            clock(now + Duration::hours(13), now)
                .into_string()
                .contains(">Dec 6 01:00 UTC<")
        );
    }
}
