//! `/chat`: talk to the Chief of Staff from the browser. Each person (each key, whatever
//! session of it is signed in) has their own thread on the `web` channel; the Chief's
//! replies and the plans it proposes (with their OK button) appear live.
//!
//! Messages go to the Chief of Staff's HTTP API (`POST /chat`) with the person's own
//! session key, exactly as the Telegram bot sends its users' messages: the Chief checks
//! the key with the platform and records the conversation in the thread.

use std::time::Duration;

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use agentops_sdk::types::{ApprovalStatus, ChatIn, MessageRole, ThreadIn, ThreadOut};

use super::{fragment, head};
use crate::AppState;
use crate::error::WebError;
use crate::layout::{self, Nav, ago};
use crate::live::LiveQuery;
use crate::pages::approvals::card;
use crate::session::{Session, csrf_field};

/// The channel of the dashboard's threads.
pub(crate) const CHANNEL: &str = "web";

/// Who is writing: the thread's external id (the key, a session counting as the key it
/// was made from) and the name their messages carry.
async fn person(session: &Session) -> Result<(String, String), WebError> {
    let me = session.client.keys().me().await?;
    let person = me.parent_id.unwrap_or(me.id);
    let name = me
        .name
        .strip_prefix("dashboard (")
        .map_or(me.name.clone(), |_| "you".to_owned());
    Ok((person.to_string(), name))
}

/// This person's thread: one per key.
async fn thread(session: &Session) -> Result<ThreadOut, WebError> {
    let (person, _) = person(session).await?;
    let mut input = ThreadIn::for_channel(CHANNEL, person);
    input.title = Some("Dashboard chat".into());
    Ok(session.client.threads().open(input).await?)
}

/// `GET /chat`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    if state.chief_url.is_none() {
        let body = html! {
            h1 { "Chat" }
            p { "No Chief of Staff is configured for this dashboard. Run the platform with the embedded Chief (the default of "
                code { "agentops up" } "), or point " code { "CHIEF_OF_STAFF_URL" } " at one." }
        };
        return Ok(layout::page(&session, Nav::Chat, "Chat", None, body).into_response());
    }
    let (since, thread) = tokio::try_join!(head(&session), thread(&session))?;
    let conversation = conversation(&session, &thread).await?;
    let live = LiveQuery::url(since, Some("thread.*,approval.*"), None, None);
    let body = html! {
        h1 { "Chat with the Chief of Staff" }
        div #conversation hx-get="/chat/messages" hx-trigger="refresh" data-refresh-on="thread,approval" data-refresh-ms="300" {
            (conversation)
        }
        form.chat method="post" action="/chat" {
            (csrf_field(&session))
            label for="text" { "Tell it what you need, in plain words (try “help”)" }
            textarea #text name="text" rows="2" maxlength="4000" required {}
            button type="submit" { "Send" }
        }
    };
    Ok(layout::page(&session, Nav::Chat, "Chat", Some(live), body).into_response())
}

/// `GET /chat/messages`: the part the live stream refreshes.
pub(crate) async fn messages(session: Session) -> Result<Response, WebError> {
    let thread = thread(&session).await?;
    Ok(fragment(conversation(&session, &thread).await?))
}

async fn conversation(session: &Session, thread: &ThreadOut) -> Result<Markup, WebError> {
    let threads = session.client.threads();
    let approvals = session.client.approvals();
    let (messages, pending) = tokio::try_join!(
        threads.messages(thread.id).limit(100).send(),
        approvals
            .list()
            .thread(thread.id)
            .status(ApprovalStatus::Pending)
            .limit(10)
            .send(),
    )?;
    let mut messages = messages.items;
    messages.sort_by_key(|m| (m.created_at, m.id));
    Ok(html! {
        @if messages.is_empty() { (layout::empty("No messages yet.")) }
        ol.messages {
            @for message in &messages {
                @let who = match message.role { MessageRole::User => "user", MessageRole::Assistant => "assistant", MessageRole::System => "system" };
                li class=(format!("msg {who}")) {
                    span.who { @if message.role == MessageRole::User { (message.author.as_deref().unwrap_or("you")) } @else { "Chief of Staff" } }
                    " " small { (ago(message.created_at)) }
                    p.pre { (message.text) }
                }
            }
        }
        @for approval in &pending.items { (card(session, approval, "/chat")) }
    })
}

#[derive(Deserialize)]
pub(crate) struct ChatForm {
    csrf: String,
    text: String,
}

/// `POST /chat`: the message goes to the Chief of Staff; its reply lands in the thread.
pub(crate) async fn send(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<ChatForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let text = form.text.trim();
    if text.is_empty() {
        return Err(WebError::BadInput("Write something first.".into()));
    }
    if text.chars().count() > 4000 {
        return Err(WebError::BadInput(
            "A message is at most 4,000 characters.".into(),
        ));
    }
    let Some(chief) = &state.chief_url else {
        return Err(WebError::BadInput(
            "No Chief of Staff is configured.".into(),
        ));
    };
    // The Chief of Staff opens (or finds) the thread from the channel and external id.
    let (person, name) = person(&session).await?;
    let mut input = ChatIn::on(CHANNEL, person, text);
    input.author = Some(name);
    let answer = state
        .http
        .post(format!("{}/chat", chief.trim_end_matches('/')))
        .bearer_auth(&session.secret)
        .timeout(Duration::from_secs(180))
        .json(&input)
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => Ok(Redirect::to("/chat").into_response()),
        Ok(response) => {
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let message = body["error"]["message"]
                .as_str()
                .unwrap_or("the Chief of Staff refused the message")
                .to_owned();
            if status == axum::http::StatusCode::FORBIDDEN {
                Err(WebError::BadInput(format!(
                    "The Chief of Staff takes messages from admin keys only: {message}"
                )))
            } else {
                Err(WebError::BadInput(format!(
                    "The Chief of Staff answered {status}: {message}"
                )))
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "the dashboard could not reach the Chief of Staff");
            Err(WebError::BadInput(
                "The Chief of Staff could not be reached; your message was not sent. Try again in a moment."
                    .into(),
            ))
        }
    }
}
