//! `/personas` (admin): the personas people made. Yours (made here: you are
//! `web:<your key>` on the platform) with their links, a form for a new one, a change of
//! instructions (a new version), deletion, and their conversations (who talked to them,
//! and what was said, as their owner reads it); then every persona on the platform, as
//! its operator sees them. Live: a persona made, changed or deleted anywhere (Telegram,
//! the API), and a message in a conversation open here, show up without a reload.

use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use agentops_sdk::types::{
    MessageRole, PersonaIn, PersonaOut, PersonaPatch, PersonaStatus, Visibility,
};
use uuid::Uuid;

use super::{fragment, head};
use crate::error::WebError;
use crate::layout::{self, Nav, ago, badge};
use crate::live::LiveQuery;
use crate::session::{Session, csrf_field};

/// Personas each section lists (the newest).
const LISTED: u32 = 100;

/// Who the signed-in person is on the platform: `web:<the key they signed in with>`.
async fn person(session: &Session) -> Result<String, WebError> {
    let me = session.client.keys().me().await?;
    Ok(format!("web:{}", me.parent_id.unwrap_or(me.id)))
}

/// `GET /personas`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    let (since, rows, models) = tokio::try_join!(head(&session), rows_markup(&session), async {
        Ok::<_, WebError>(session.client.personas().models().await?.models)
    })?;
    let live = LiveQuery::url(since, Some("persona.*"), None, None);
    let body = html! {
        h1 { "Personas" }
        p.muted { "Agents people make — a name, what they are like, a model — and share by link. Everyone who talks to one has a conversation of their own. On Telegram: /create, /mine, and the link https://t.me/<bot>?start=<name>." }
        section.panel {
            h2 { "New persona" }
            form.stack method="post" action="/personas" {
                (csrf_field(&session))
                label { "Name " input name="name" required maxlength="100" placeholder="Captain Byte"; }
                label { "What it is like (its instructions) "
                    textarea name="system_prompt" required maxlength="8000" rows="3"
                        placeholder="You are a cheerful pirate who explains computers." {}
                }
                @if models.is_empty() {
                    label { "Model " input name="model" required maxlength="200" value="llama-3.3-70b-instruct"; }
                } @else {
                    label { "Model "
                        select name="model" {
                            @for model in &models { option value=(model) { (model) } }
                        }
                    }
                }
                label { "Who may talk to it "
                    select name="visibility" {
                        option value="link" { "anyone with its link" }
                        option value="public" { "anyone (listed)" }
                        option value="private" { "only me" }
                    }
                }
                label { "Messages a person may send it a day (empty: no limit) "
                    input name="daily_limit" type="number" min="1" max="100000";
                }
                button type="submit" data-action="create-persona" { "Create" }
            }
        }
        div #persona-rows hx-get="/personas/rows" hx-trigger="refresh" data-refresh-on="persona" data-refresh-ms="300" { (rows) }
    };
    Ok(layout::page(&session, Nav::Personas, "Personas", Some(live), body).into_response())
}

/// `GET /personas/rows`.
pub(crate) async fn rows(session: Session) -> Result<Response, WebError> {
    Ok(fragment(rows_markup(&session).await?))
}

async fn rows_markup(session: &Session) -> Result<Markup, WebError> {
    let me = person(session).await?;
    let mine = session.client.personas().on_behalf_of(me.clone());
    let (yours, all) = tokio::try_join!(
        mine.list().owner("me").limit(LISTED).send(),
        session.client.personas().list().limit(LISTED).send(),
    )?;
    Ok(html! {
        section.panel {
            h2 { "Yours" }
            @if yours.items.is_empty() { (layout::empty("You have made no persona yet.")) }
            @else {
                @for p in &yours.items { (own_card(session, p)) }
            }
        }
        section.panel {
            h2 { "Every persona" }
            @if all.items.is_empty() { (layout::empty("No persona yet. People make them on Telegram with /create, or here.")) }
            @else { (table(&all.items)) }
        }
    })
}

fn own_card(session: &Session, p: &PersonaOut) -> Markup {
    html! {
        article.persona data-persona=(p.id) {
            h3 { (p.name) " " (badge(p.status.as_str())) " " small.muted { "version " span.version { (p.version) } } }
            p.muted { code { (p.slug) } " · " (p.visibility.as_str()) " · " (p.model)
                @if let Some(limit) = p.daily_limit { " · " (limit) " messages a day each" }
                @if let Some(bot) = p.telegram_bot_id { " · its own Telegram bot (id " (bot) ")" } }
            @if let Some(today) = p.today {
                p.muted.today { "Today: " (today.messages) " message(s) from " (today.people) " person(s)" }
            }
            p { a data-action="conversations" href=(format!("/personas/{}/conversations", p.id)) { "Conversations" } }
            @if p.status == PersonaStatus::Active {
                form.stack method="post" action=(format!("/personas/{}/prompt", p.id)) {
                    (csrf_field(session))
                    label { "Instructions "
                        textarea name="system_prompt" required maxlength="8000" rows="3" {
                            (p.system_prompt.as_deref().unwrap_or_default())
                        }
                    }
                    div.inline {
                        button type="submit" data-action="save-prompt" { "Save as a new version" }
                    }
                }
                form method="post" action=(format!("/personas/{}/delete", p.id)) {
                    (csrf_field(session))
                    button.danger type="submit" data-action="delete-persona" { "Delete" }
                }
            }
        }
    }
}

fn table(rows: &[PersonaOut]) -> Markup {
    html! {
        table.list {
            thead { tr { th { "Persona" } th { "Status" } th.wide { "Owner" } th.wide { "Who may talk" } th.wide { "Version" } th.wide { "Today" } th.wide { "Changed" } } }
            tbody {
                @for p in rows {
                    tr data-persona-row=(p.id) {
                        td { (p.name) br; small.muted { code { (p.slug) } } }
                        td { (badge(p.status.as_str())) }
                        td.wide { (p.owner) }
                        td.wide { (p.visibility.as_str()) }
                        td.wide { (p.version) }
                        td.wide { @if let Some(today) = p.today { (today.messages) " from " (today.people) } @else { "—" } }
                        td.wide { (ago(p.updated_at)) }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CreateForm {
    csrf: String,
    name: String,
    system_prompt: String,
    model: String,
    visibility: String,
    #[serde(default)]
    daily_limit: String,
}

/// `POST /personas`.
pub(crate) async fn create(
    session: Session,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let me = person(&session).await?;
    let input = PersonaIn {
        visibility: form.visibility.parse::<Visibility>().ok(),
        daily_limit: form.daily_limit.trim().parse().ok(),
        ..PersonaIn::new(form.name, form.system_prompt, form.model)
    };
    session
        .client
        .personas()
        .on_behalf_of(me)
        .create(&input)
        .await?;
    Ok(Redirect::to("/personas").into_response())
}

#[derive(Deserialize)]
pub(crate) struct PromptForm {
    csrf: String,
    system_prompt: String,
}

/// `POST /personas/{id}/prompt`: new instructions, a new version.
pub(crate) async fn prompt(
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<PromptForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let me = person(&session).await?;
    let patch = PersonaPatch {
        system_prompt: Some(form.system_prompt),
        ..PersonaPatch::default()
    };
    session
        .client
        .personas()
        .on_behalf_of(me)
        .update(&id, &patch)
        .await?;
    Ok(Redirect::to("/personas").into_response())
}

/// `POST /personas/{id}/delete`.
pub(crate) async fn delete(
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<crate::session::CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let me = person(&session).await?;
    session
        .client
        .personas()
        .on_behalf_of(me)
        .delete(&id, false)
        .await?;
    Ok(Redirect::to("/personas").into_response())
}

/// Messages a conversation page shows (the latest).
const TRANSCRIPT: u32 = 200;

/// `GET /personas/{id}/conversations`: who talked to one of yours, newest first.
pub(crate) async fn conversations(
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let me = person(&session).await?;
    let mine = session.client.personas().on_behalf_of(me);
    let (since, persona, rows) = tokio::try_join!(
        head(&session),
        async { Ok::<_, WebError>(mine.get(&id).await?) },
        conversation_rows(&session, &id)
    )?;
    let live = LiveQuery::url(since, Some("thread.message"), None, None);
    let title = format!("{} — conversations", persona.name);
    let body = html! {
        p { a href="/personas" { "← Personas" } }
        h1 { (persona.name) " — conversations" }
        p.muted { "Each person who talks to " (persona.name) " has a conversation of their own; you, its owner, can read them. The API exports them: GET /api/v1/personas/" (persona.slug) "/conversations." }
        div #conversation-rows hx-get=(format!("/personas/{}/conversations/rows", persona.id)) hx-trigger="refresh" data-refresh-on="thread" data-refresh-ms="500" { (rows) }
    };
    Ok(layout::page(&session, Nav::Personas, &title, Some(live), body).into_response())
}

/// `GET /personas/{id}/conversations/rows`.
pub(crate) async fn conversations_rows(
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    Ok(fragment(conversation_rows(&session, &id).await?))
}

async fn conversation_rows(session: &Session, id: &str) -> Result<Markup, WebError> {
    let me = person(session).await?;
    let page = session
        .client
        .personas()
        .on_behalf_of(me)
        .conversations(id)
        .limit(LISTED)
        .send()
        .await?;
    Ok(html! {
        @if page.items.is_empty() { (layout::empty("Nobody has talked to it yet. Share its link.")) }
        @else {
            table.list {
                thead { tr { th { "Person" } th { "Messages" } th.wide { "Began" } th { "Last message" } } }
                tbody {
                    @for c in &page.items {
                        tr data-conversation=(c.thread_id) {
                            td { a href=(format!("/personas/{id}/conversations/{}", c.thread_id)) { (c.person) } }
                            td { (c.messages) }
                            td.wide { (ago(c.started_at)) }
                            td { @if let Some(at) = c.last_message_at { (ago(at)) } @else { "—" } }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /personas/{id}/conversations/{thread}`: what was said, oldest first.
pub(crate) async fn conversation(
    session: Session,
    Path((id, thread)): Path<(String, Uuid)>,
) -> Result<Response, WebError> {
    let me = person(&session).await?;
    let mine = session.client.personas().on_behalf_of(me);
    let (since, persona, transcript, talk) = tokio::try_join!(
        head(&session),
        async { Ok::<_, WebError>(mine.get(&id).await?) },
        transcript(&session, &id, thread),
        async { Ok::<_, WebError>(session.client.threads().get(thread).await?) },
    )?;
    // The conversation's person: its thread's external id is `<persona id>:<person>`.
    let with = talk
        .external_id
        .as_deref()
        .and_then(|external| external.split_once(':'))
        .map(|(_, person)| person.to_owned())
        .unwrap_or_default();
    let live = LiveQuery::url(since, Some("thread.message"), None, None);
    let body = html! {
        p { a href=(format!("/personas/{}/conversations", persona.id)) { "← " (persona.name) "'s conversations" } }
        h1 { (persona.name) " — with " span.person { (with) } }
        div #transcript hx-get=(format!("/personas/{}/conversations/{thread}/rows", persona.id)) hx-trigger="refresh" data-refresh-on="thread" data-refresh-ms="500" { (transcript) }
    };
    Ok(layout::page(&session, Nav::Personas, &persona.name, Some(live), body).into_response())
}

/// `GET /personas/{id}/conversations/{thread}/rows`.
pub(crate) async fn conversation_part(
    session: Session,
    Path((id, thread)): Path<(String, Uuid)>,
) -> Result<Response, WebError> {
    Ok(fragment(transcript(&session, &id, thread).await?))
}

async fn transcript(session: &Session, id: &str, thread: Uuid) -> Result<Markup, WebError> {
    let me = person(session).await?;
    let mut page = session
        .client
        .personas()
        .on_behalf_of(me)
        .conversation(id, thread)
        .limit(TRANSCRIPT)
        .send()
        .await?;
    let earlier = page.next_cursor.is_some();
    page.items.reverse();
    Ok(html! {
        @if earlier { p.muted { "Earlier messages: through the API (GET /api/v1/personas/" (id) "/conversations/" (thread) ")." } }
        ol.transcript {
            @for m in &page.items {
                li data-role=(m.role.as_str()) {
                    strong { @match m.role { MessageRole::Assistant => "the persona", MessageRole::System => "note", _ => "the person" } }
                    " " small.muted { (ago(m.created_at)) }
                    p { (m.text) }
                }
            }
        }
    })
}
