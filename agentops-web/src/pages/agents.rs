//! `/agents`: registered agents, whether they are online, their last heartbeat and what
//! they are running now, live.

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use uuid::Uuid;

use agentops_sdk::types::{AgentStatus, TaskOut, TaskStatus};

use super::{fragment, head};
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge};
use crate::live::LiveQuery;
use crate::session::Session;

/// `GET /agents`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let (since, rows) = tokio::try_join!(head(&session), rows_markup(&session))?;
    let live = LiveQuery::url(since, Some("agent.*,task.*"), None, None);
    let body = html! {
        h1 { "Agents" }
        table.list {
            thead { tr { th { "Agent" } th { "Status" } th { "Heartbeat" } th { "Running" } th.wide { "Version" } th.wide { "Capabilities" } } }
            tbody #agent-rows hx-get="/agents/rows" hx-trigger="refresh" data-refresh-on="agent,task" data-refresh-ms="1000" { (rows) }
        }
    };
    Ok(layout::page(&session, Nav::Agents, "Agents", Some(live), body).into_response())
}

/// `GET /agents/rows`.
pub(crate) async fn rows(session: Session) -> Result<Response, WebError> {
    Ok(fragment(rows_markup(&session).await?))
}

async fn rows_markup(session: &Session) -> Result<Markup, WebError> {
    let client = &session.client;
    let (agents, running) = tokio::try_join!(
        client.agents().list().limit(200).send(),
        client
            .tasks()
            .list()
            .status(TaskStatus::Running)
            .limit(200)
            .send(),
    )?;
    let mut by_agent: HashMap<Uuid, Vec<&TaskOut>> = HashMap::new();
    for task in &running.items {
        if let Some(agent) = task.agent_id {
            by_agent.entry(agent).or_default().push(task);
        }
    }
    Ok(html! {
        @if agents.items.is_empty() { tr { td colspan="6" { (layout::empty("No agent has registered yet.")) } } }
        @for agent in &agents.items {
            tr data-agent=(agent.id) {
                td { strong { (agent.name) } br; small.muted { (agent.kind) } }
                td { (badge(if agent.status == AgentStatus::Online { "online" } else { "offline" })) }
                td { (ago(agent.last_heartbeat_at)) }
                td {
                    @for task in by_agent.get(&agent.id).map(Vec::as_slice).unwrap_or_default() {
                        a href=(format!("/tasks/{}", task.id)) { (task.title) } br;
                    }
                }
                td.wide { (agent.version.as_deref().unwrap_or("—")) }
                td.wide { @for c in &agent.capabilities { span.tag { (c) } " " } }
            }
        }
    })
}
