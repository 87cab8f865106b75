//! `/approvals`: plans the Chief of Staff proposed, from every channel, to approve or
//! reject with one press.

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::{ApprovalOut, ApprovalStatus};

use super::{fragment, head};
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge, json_block};
use crate::live::LiveQuery;
use crate::session::{Session, csrf_field};

/// `GET /approvals`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let (since, rows) = tokio::try_join!(head(&session), rows_markup(&session))?;
    let live = LiveQuery::url(since, Some("approval.*"), None, None);
    let body = html! {
        h1 { "Approvals" }
        div #approval-rows hx-get="/approvals/rows" hx-trigger="refresh" data-refresh-on="approval" data-refresh-ms="300" { (rows) }
    };
    Ok(layout::page(&session, Nav::Approvals, "Approvals", Some(live), body).into_response())
}

/// `GET /approvals/rows`.
pub(crate) async fn rows(session: Session) -> Result<Response, WebError> {
    Ok(fragment(rows_markup(&session).await?))
}

async fn rows_markup(session: &Session) -> Result<Markup, WebError> {
    let client = &session.client;
    let (pending, recent) = tokio::try_join!(
        client
            .approvals()
            .list()
            .status(ApprovalStatus::Pending)
            .limit(50)
            .send(),
        client.approvals().list().limit(20).send(),
    )?;
    let decided: Vec<&ApprovalOut> = recent
        .items
        .iter()
        .filter(|a| a.status != ApprovalStatus::Pending)
        .collect();
    Ok(html! {
        section.panel {
            h2 { "Waiting for a decision" }
            @if pending.items.is_empty() { (layout::empty("No plan is waiting.")) }
            @for approval in &pending.items { (card(session, approval, "/approvals")) }
        }
        section.panel {
            h2 { "Decided lately" }
            @if decided.is_empty() { (layout::empty("Nothing yet.")) }
            ul.plain {
                @for a in decided {
                    li { (badge(a.status.as_str())) " " (a.summary) " " small { (ago(a.updated_at)) }
                         @if let Some(r) = &a.reason { br; small.muted { (r) } } }
                }
            }
        }
    })
}

/// A pending plan with its buttons; after a decision the browser goes back to `back`.
pub(crate) fn card(session: &Session, approval: &ApprovalOut, back: &str) -> Markup {
    html! {
        article.approval data-approval=(approval.id) {
            h3 { (approval.summary) }
            p.muted { "Proposed " (ago(approval.created_at)) " in thread " code { (crate::layout::short(approval.thread_id)) } }
            (plan_steps(&approval.plan))
            (json_block("The whole plan", &approval.plan))
            @if session.can_write() {
                div.actions {
                    form method="post" action=(format!("/approvals/{}/approve", approval.id)) {
                        (csrf_field(session))
                        input type="hidden" name="back" value=(back);
                        button.ok type="submit" data-action="approve" { "OK, go ahead" }
                    }
                    form.reject method="post" action=(format!("/approvals/{}/reject", approval.id)) {
                        (csrf_field(session))
                        input type="hidden" name="back" value=(back);
                        input name="reason" placeholder="Why not (optional)" maxlength="2000";
                        button.danger type="submit" data-action="reject" { "Reject" }
                    }
                }
            }
        }
    }
}

/// The plan's steps, when it lists them (`actions` or `tasks` with titles).
fn plan_steps(plan: &serde_json::Value) -> Markup {
    let steps = plan
        .get("actions")
        .or_else(|| plan.get("tasks"))
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let title = |step: &serde_json::Value| -> Option<String> {
        for key in ["title", "name", "summary", "text"] {
            if let Some(t) = step.get(key).and_then(|v| v.as_str()) {
                return Some(t.to_owned());
            }
            for inner in ["task", "project", "schedule"] {
                if let Some(t) = step
                    .get(inner)
                    .and_then(|s| s.get(key))
                    .and_then(|v| v.as_str())
                {
                    return Some(t.to_owned());
                }
            }
        }
        step.get("type").and_then(|v| v.as_str()).map(str::to_owned)
    };
    html! {
        @if !steps.is_empty() {
            ol.steps { @for step in &steps { li { (title(step).unwrap_or_else(|| step.to_string())) } } }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RejectForm {
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    csrf: String,
    #[serde(default)]
    back: Option<String>,
}

/// Where to go after a decision: the page the button was on (only this site's pages).
fn back_to(back: Option<&str>) -> Redirect {
    Redirect::to(match back {
        Some("/chat") => "/chat",
        _ => "/approvals",
    })
}

/// `POST /approvals/{id}/approve`.
pub(crate) async fn approve(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<ApproveForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session.client.approvals().approve(id).await?;
    Ok(back_to(form.back.as_deref()).into_response())
}

/// `POST /approvals/{id}/reject`.
pub(crate) async fn reject(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<RejectForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let reason = form.reason.trim();
    session
        .client
        .approvals()
        .reject(id, (!reason.is_empty()).then(|| reason.to_owned()))
        .await?;
    Ok(back_to(form.back.as_deref()).into_response())
}
