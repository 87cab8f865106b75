//! `/projects`: projects with their progress; a project's tasks as a dependency graph,
//! and its notes.

use std::collections::HashMap;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use uuid::Uuid;

use agentops_sdk::types::{StatusCounts, TaskOut};

use super::head;
use crate::error::WebError;
use crate::layout::{self, Nav, ago, number, status_badge};
use crate::live::LiveQuery;
use crate::session::Session;

/// `GET /projects`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let client = &session.client;
    let (since, projects, summary) = tokio::try_join!(
        head(&session),
        async { Ok(client.projects().list().limit(200).send().await?) },
        async { Ok(client.tasks().summary(None).await?) },
    )?;
    let counts: HashMap<Uuid, StatusCounts> = summary
        .by_project
        .into_iter()
        .map(|p| (p.project_id, p.by_status))
        .collect();
    let live = LiveQuery::url(since, Some("project.*"), None, None);
    let body = html! {
        h1 { "Projects" }
        @if projects.items.is_empty() { (layout::empty("No project yet. Ask the Chief of Staff for one, or POST /api/v1/projects.")) }
        table.list {
            thead { tr { th { "Project" } th { "Progress" } th.wide { "Tasks" } th.wide { "Updated" } } }
            tbody {
                @for project in &projects.items {
                    @let c = counts.get(&project.id).copied().unwrap_or_default();
                    tr {
                        td { a href=(format!("/projects/{}", project.id)) { (project.name) }
                             @if let Some(d) = &project.description { br; small.muted { (d) } } }
                        td { (progress_bar(&c)) }
                        td.wide { (number(c.total())) " · " (c.running) " running · " (c.blocked) " blocked · " (c.failed) " failed" }
                        td.wide { (ago(project.updated_at)) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, Nav::Projects, "Projects", Some(live), body).into_response())
}

fn progress_bar(c: &StatusCounts) -> Markup {
    let total = c.total();
    html! {
        @if total == 0 { span.muted { "no tasks" } } @else {
            progress max=(total) value=(c.completed) title=(format!("{} of {} completed", c.completed, total)) {}
            " " small { (c.completed) "/" (total) }
        }
    }
}

/// `GET /projects/{id}`.
pub(crate) async fn detail(session: Session, Path(id): Path<Uuid>) -> Result<Response, WebError> {
    let client = &session.client;
    let (project, tasks, notes) = tokio::try_join!(
        async { Ok::<_, WebError>(client.projects().get(id).await?) },
        async { Ok(client.tasks().list().project(id).limit(200).send().await?) },
        async { Ok(client.projects().notes(id).await?) },
    )?;
    let mut counts = StatusCounts::default();
    for task in &tasks.items {
        counts.add(task.status, 1);
    }
    let body = html! {
        nav.crumbs { a href="/projects" { "Projects" } }
        h1 { (project.name) }
        @if let Some(d) = &project.description { p { (d) } }
        p { (progress_bar(&counts)) " · " a href=(format!("/tasks?project_id={id}")) { "all its tasks" } }
        section.panel {
            h2 { "Tasks and what they wait on" }
            @if tasks.items.is_empty() { (layout::empty("No task yet.")) } @else { (dag(&tasks.items)) }
            @if tasks.next_cursor.is_some() { p.muted { "The 200 newest tasks are drawn." } }
        }
        section.panel {
            h2 { "Notes" }
            @if notes.is_empty() { (layout::empty("No notes.")) }
            @for note in &notes {
                article.note {
                    h3 { code { (note.key) } " " small { "v" (note.version) " · " (ago(note.created_at)) } }
                    p.pre { (note.text) }
                }
            }
        }
    };
    Ok(layout::page(&session, Nav::Projects, &project.name, None, body).into_response())
}

/// The tasks as a layered graph: a task sits one column right of the deepest task it
/// waits on; arrows run from a task to those waiting on it.
fn dag(tasks: &[TaskOut]) -> Markup {
    let index: HashMap<Uuid, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut layer = vec![0usize; tasks.len()];
    // Longest path by relaxation; a cycle cannot exist (dependencies point at older
    // tasks), and the pass count is bounded anyway.
    for _ in 0..tasks.len().min(64) {
        let mut changed = false;
        for (i, task) in tasks.iter().enumerate() {
            for up in &task.depends_on {
                if let Some(&j) = index.get(up)
                    && layer[i] < layer[j] + 1
                {
                    layer[i] = layer[j] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let (col_w, row_h, box_w, box_h) = (200usize, 48usize, 170usize, 34usize);
    let mut rows_in_layer: HashMap<usize, usize> = HashMap::new();
    let mut pos = vec![(0usize, 0usize); tasks.len()];
    // Oldest first, so the graph reads in creation order top to bottom.
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by_key(|&i| (tasks[i].created_at, tasks[i].id));
    for &i in &order {
        let row = rows_in_layer.entry(layer[i]).or_default();
        pos[i] = (10 + layer[i] * col_w, 10 + *row * row_h);
        *row += 1;
    }
    let width = 20 + (layer.iter().max().copied().unwrap_or(0) + 1) * col_w;
    let height = 20 + rows_in_layer.values().max().copied().unwrap_or(1) * row_h;
    html! {
        div.dag {
            svg viewBox=(format!("0 0 {width} {height}")) width=(width) height=(height) role="img" aria-label="Task dependency graph" {
                defs { marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse" { path d="M 0 0 L 10 5 L 0 10 z" class="arrow" {} } }
                @for (i, task) in tasks.iter().enumerate() {
                    @for up in &task.depends_on {
                        @if let Some(&j) = index.get(up) {
                            line.edge x1=(pos[j].0 + box_w) y1=(pos[j].1 + box_h / 2) x2=(pos[i].0) y2=(pos[i].1 + box_h / 2) marker-end="url(#arrow)" {}
                        }
                    }
                }
                @for (i, task) in tasks.iter().enumerate() {
                    a href=(format!("/tasks/{}", task.id)) {
                        g class=(format!("node s-{}", task.status)) {
                            title { (task.title) " (" (task.status) ")" }
                            rect x=(pos[i].0) y=(pos[i].1) width=(box_w) height=(box_h) rx="6" {}
                            text x=(pos[i].0 + 8) y=(pos[i].1 + 21) { (truncate(&task.title, 22)) }
                        }
                    }
                }
            }
            p.legend { @for status in agentops_sdk::types::TaskStatus::ALL { (status_badge(status)) " " } }
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}
