//! `/chats` (admin): the chats the Telegram bot serves (pairings). A stranger's chat is
//! given a one-time code; its row waits here with that code, its name, channel, chat id
//! and when the code runs out, and Approve lets it in. Approved chats can be revoked.
//! Live: a chat asking, approved or revoked anywhere (the bot, the CLI, another
//! dashboard) shows up without a reload.
//!
//! Approving posts the code the row shows, as an operator typing it would, with the
//! session's key: `decided_by` is that key's name.

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::{PairingOut, PairingStatus};

use super::{fragment, head};
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge};
use crate::live::LiveQuery;
use crate::session::{CsrfForm, Session, csrf_field};

/// Rows each section lists (the newest).
const LISTED: u32 = 100;

/// `GET /chats`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let (since, rows) = tokio::try_join!(head(&session), rows_markup(&session))?;
    let live = LiveQuery::url(since, Some("pairing.*"), None, None);
    let body = html! {
        h1 { "Chats" }
        p.muted { "The chats the Telegram bot serves. A chat it does not know is given a one-time code (valid for an hour); approve it here, from an operator chat (its ✅ Allow button or /pair CODE), or with agentops telegram pair CODE." }
        div #chat-rows hx-get="/chats/rows" hx-trigger="refresh" data-refresh-on="pairing" data-refresh-ms="300" { (rows) }
    };
    Ok(layout::page(&session, Nav::Chats, "Chats", Some(live), body).into_response())
}

/// `GET /chats/rows`.
pub(crate) async fn rows(session: Session) -> Result<Response, WebError> {
    Ok(fragment(rows_markup(&session).await?))
}

async fn rows_markup(session: &Session) -> Result<Markup, WebError> {
    let pairings = session.client.pairings();
    let (pending, approved, recent) = tokio::try_join!(
        pairings
            .list()
            .status(PairingStatus::Pending)
            .limit(LISTED)
            .send(),
        pairings
            .list()
            .status(PairingStatus::Approved)
            .limit(LISTED)
            .send(),
        pairings.list().limit(LISTED).send(),
    )?;
    let ended: Vec<&PairingOut> = recent
        .items
        .iter()
        .filter(|p| matches!(p.status, PairingStatus::Revoked | PairingStatus::Expired))
        .collect();
    Ok(html! {
        section.panel {
            h2 { "Waiting for approval" }
            @if pending.items.is_empty() { (layout::empty("No chat is waiting. A stranger writing to the bot appears here with its code.")) }
            @else { (table(session, &pending.items.iter().collect::<Vec<_>>())) }
        }
        section.panel {
            h2 { "Allowed" }
            @if approved.items.is_empty() { (layout::empty("No chat is allowed yet.")) }
            @else { (table(session, &approved.items.iter().collect::<Vec<_>>())) }
        }
        @if !ended.is_empty() {
            section.panel {
                h2 { "Revoked or expired lately" }
                (table(session, &ended))
            }
        }
    })
}

fn table(session: &Session, rows: &[&PairingOut]) -> Markup {
    html! {
        table.list {
            thead { tr { th { "Chat" } th.wide { "Status" } th { "Code" } th.wide { "Channel" } th.wide { "Since" } th {} } }
            tbody {
                @for p in rows {
                    tr data-pairing=(p.id) {
                        td {
                            @if p.name.is_empty() { code { (p.chat) } } @else { (p.name) br; small.muted { code { (p.chat) } } }
                        }
                        // On a phone the section says the status; the badge column goes.
                        td.wide { (badge(p.status.as_str())) }
                        td {
                            @if let Some(code) = &p.code {
                                code.pairing-code { (code) }
                                @if let Some(at) = p.expires_at { br; small.muted { "expires " (ago(at)) } }
                            } @else {
                                small.muted { (p.status.as_str()) @if let Some(by) = &p.decided_by { " by " (by) } }
                            }
                        }
                        td.wide { (p.channel) }
                        td.wide { (ago(p.updated_at)) }
                        td {
                            @if let (PairingStatus::Pending, Some(code)) = (p.status, &p.code) {
                                form method="post" action="/chats/approve" {
                                    (csrf_field(session))
                                    input type="hidden" name="code" value=(code);
                                    button.ok type="submit" data-action="approve" { "Approve" }
                                }
                            } @else if p.status == PairingStatus::Approved {
                                form method="post" action=(format!("/chats/{}/revoke", p.id)) {
                                    (csrf_field(session))
                                    button.danger type="submit" data-action="revoke" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    csrf: String,
    code: String,
}

/// `POST /chats/approve`.
pub(crate) async fn approve(
    session: Session,
    Form(form): Form<ApproveForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session.client.pairings().approve(&form.code, None).await?;
    Ok(Redirect::to("/chats").into_response())
}

/// `POST /chats/{id}/revoke`.
pub(crate) async fn revoke(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session.client.pairings().revoke(id, None).await?;
    Ok(Redirect::to("/chats").into_response())
}
