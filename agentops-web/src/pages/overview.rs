//! `/`: where the work stands, at a glance, live.

use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};

use agentops_sdk::types::{
    AgentStatus, ApprovalStatus, MinuteCount, TaskOut, TaskStatus, TaskSummary,
};

use super::{fragment, head};
use crate::error::WebError;
use crate::layout::{self, Nav, ago, duration_text, number, status_badge};
use crate::live::LiveQuery;
use crate::session::Session;

/// `GET /`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let (since, body) = tokio::try_join!(head(&session), body_markup(&session))?;
    let live = LiveQuery::url(
        since,
        Some("task.*,agent.*,approval.*,budget.*"),
        None,
        None,
    );
    Ok(layout::page(
        &session,
        Nav::Overview,
        "Overview",
        Some(live),
        html! {
            h1 { "Overview" }
            div #overview hx-get="/overview/body"
                hx-trigger="refresh" data-refresh-on="task,agent,approval,budget" data-refresh-ms="1000" {
                (body)
            }
        },
    )
    .into_response())
}

/// `GET /overview/body`: the part the live stream refreshes.
pub(crate) async fn body(session: Session) -> Result<Response, WebError> {
    Ok(fragment(body_markup(&session).await?))
}

async fn body_markup(session: &Session) -> Result<Markup, WebError> {
    let client = &session.client;
    let tasks = client.tasks();
    let (summary, agents, blocked, failed, approvals, budgets) = tokio::try_join!(
        tasks.summary(None),
        client.agents().list().limit(200).send(),
        client
            .tasks()
            .list()
            .status(TaskStatus::Blocked)
            .limit(10)
            .send(),
        client
            .tasks()
            .list()
            .status(TaskStatus::Failed)
            .limit(5)
            .send(),
        client
            .approvals()
            .list()
            .status(ApprovalStatus::Pending)
            .limit(10)
            .send(),
        client.budgets().list().limit(20).send(),
    )?;
    let online: Vec<_> = agents
        .items
        .iter()
        .filter(|a| a.status == AgentStatus::Online)
        .collect();
    Ok(html! {
        section.cards aria-label="Tasks by status" {
            @for status in TaskStatus::ALL {
                a.card href=(format!("/tasks?status={status}")) data-status=(status) {
                    span.count { (number(summary.by_status.get(status))) }
                    (status_badge(status))
                }
            }
        }
        div.grid {
            section.panel {
                h2 { "Finished in the last hour" }
                (throughput_chart(&summary))
            }
            section.panel {
                h2 { "Agents online " span.count-inline { (online.len()) " of " (agents.items.len()) } }
                @if online.is_empty() {
                    (layout::empty("No agent is online."))
                } @else {
                    ul.plain {
                        @for agent in online.iter().take(8) {
                            li { a href="/agents" { (agent.name) } " · " small { (agent.kind) " · heartbeat " (ago(agent.last_heartbeat_at)) } }
                        }
                    }
                }
            }
            section.panel {
                h2 { "Waiting on a person" }
                @if blocked.items.is_empty() {
                    (layout::empty("Nothing is blocked."))
                } @else {
                    ul.plain {
                        @for task in &blocked.items { (blocked_row(task)) }
                    }
                }
            }
            section.panel {
                h2 { "Plans to approve" }
                @if approvals.items.is_empty() {
                    (layout::empty("No plan is waiting."))
                } @else {
                    ul.plain {
                        @for approval in &approvals.items {
                            li { a href="/approvals" { (approval.summary) } " " small { (ago(approval.created_at)) } }
                        }
                    }
                }
            }
            section.panel {
                h2 { "Recent failures" }
                @if failed.items.is_empty() {
                    (layout::empty("No failures."))
                } @else {
                    ul.plain {
                        @for task in &failed.items {
                            li {
                                a href=(format!("/tasks/{}", task.id)) { (task.title) }
                                " " small.problem { (task.error.as_deref().unwrap_or("failed")) }
                            }
                        }
                    }
                }
            }
            section.panel {
                h2 { "Spend against budgets" }
                @if budgets.items.is_empty() {
                    (layout::empty("No budget is set."))
                } @else {
                    table.compact {
                        thead { tr { th { "Budget" } th { "Used" } th { "Limit" } th {} } }
                        tbody {
                            @for budget in &budgets.items {
                                tr {
                                    td { (budget.name) " " small { "(" (budget.period) ")" } }
                                    td { (number(budget.current.used_tokens)) }
                                    td { (number(budget.limit_tokens)) }
                                    td { meter min="0" max=(budget.limit_tokens.max(1)) value=(budget.current.used_tokens.min(budget.limit_tokens)) {} }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn blocked_row(task: &TaskOut) -> Markup {
    let waiting = (Utc::now() - task.updated_at).num_seconds().max(0);
    html! {
        li {
            a href=(format!("/tasks/{}", task.id)) { (task.title) }
            " " small { "waiting " (duration_text(waiting)) }
            @if let Some(reason) = &task.block_reason { br; small.reason { (reason) } }
        }
    }
}

/// Bars per minute (completed, failed on top), as SVG with no script.
fn throughput_chart(summary: &TaskSummary) -> Markup {
    let minutes: &[MinuteCount] = &summary.finished_per_minute;
    let peak = minutes
        .iter()
        .map(|m| m.completed + m.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u64 = minutes.iter().map(|m| m.completed + m.failed).sum();
    let (width, height, bar) = (600u64, 120u64, 10u64);
    let scale = |n: u64| n * (height - 10) / peak;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {width} {height}")) role="img"
                aria-label=(format!("{total} tasks finished in the last hour; at most {peak} in one minute")) {
                line x1="0" y1=(height - 1) x2=(width) y2=(height - 1) class="axis" {}
                @for (i, minute) in minutes.iter().enumerate() {
                    @let x = i as u64 * bar;
                    @let done = scale(minute.completed);
                    @let failed = scale(minute.failed);
                    @if done > 0 {
                        rect class="done" x=(x + 1) y=(height - 1 - done) width=(bar - 2) height=(done) {
                            title { (minute.minute.format("%H:%M")) ": " (minute.completed) " completed" }
                        }
                    }
                    @if failed > 0 {
                        rect class="failed" x=(x + 1) y=(height - 1 - done - failed) width=(bar - 2) height=(failed) {
                            title { (minute.minute.format("%H:%M")) ": " (minute.failed) " failed" }
                        }
                    }
                }
            }
            figcaption { (number(total)) " finished in 60 minutes · peak " (peak) "/min" }
        }
    }
}
