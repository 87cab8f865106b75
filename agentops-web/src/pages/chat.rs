//! `/chat`: talk to the Chief of Staff from the browser. Each person (each key, whatever
//! session of it is signed in) has their own thread on the `web` channel; the Chief's
//! replies and the plans it proposes (with their OK button) appear live.
//!
//! Messages go to the Chief of Staff's HTTP API (`POST /chat`) with the person's own
//! session key, exactly as the Telegram bot sends its users' messages: the Chief checks
//! the key with the platform and records the conversation in the thread.
//!
//! When the Chief has a speech engine (its `GET /health` says `speech`), the page has a
//! 🎤 button: the browser records (`MediaRecorder`), `POST /chat/voice` passes the
//! recording to the Chief's `POST /voice`, and what was heard shows as the person's
//! message. Each of the Chief's answers has a 🔊 button that plays it
//! (`GET /chat/speech/{message}`, the Chief's `POST /speech`).

use std::time::Duration;

use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use agentops_sdk::types::{
    ApprovalStatus, ChatIn, MessageRole, PLAN_PROGRESS, SpeechIn, ThreadIn, ThreadOut,
    VOICE_TRANSCRIPT,
};

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
    let speaks = speaks(&state).await;
    let conversation = conversation(&session, &thread, speaks).await?;
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
            @if speaks {
                button #record type="button" data-record="/chat/voice" aria-pressed="false" title="Record a voice message" { "🎤 Speak" }
                span #record-status role="status" {}
            }
        }
        @if !speaks {
            p.muted { "Voice is off: the Chief of Staff has no speech engine (see docs/speech.md)." }
        }
    };
    Ok(layout::page(&session, Nav::Chat, "Chat", Some(live), body).into_response())
}

/// Whether the Chief of Staff hears and speaks (its `GET /health`).
async fn speaks(state: &AppState) -> bool {
    let Some(chief) = &state.chief_url else {
        return false;
    };
    let health = state
        .http
        .get(format!("{}/health", chief.trim_end_matches('/')))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    match health {
        Ok(response) => response
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|h| h["speech"] == true),
        Err(_) => false,
    }
}

/// `GET /chat/messages`: the part the live stream refreshes.
pub(crate) async fn messages(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, WebError> {
    let (thread, speaks) = tokio::join!(thread(&session), speaks(&state));
    Ok(fragment(conversation(&session, &thread?, speaks).await?))
}

async fn conversation(
    session: &Session,
    thread: &ThreadOut,
    speaks: bool,
) -> Result<Markup, WebError> {
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
                @let spoken = message.metadata.get(VOICE_TRANSCRIPT).is_some();
                // Lines on how a plan's tasks are going: shown lighter than what is said.
                @let line = if message.metadata.get(PLAN_PROGRESS).is_some() { " progress" } else { "" };
                li class=(format!("msg {who}{line}")) {
                    span.who { @if message.role == MessageRole::User { (message.author.as_deref().unwrap_or("you")) } @else { "Chief of Staff" } }
                    " " small { (ago(message.created_at)) }
                    @if spoken { " " small.spoken title="said aloud, as heard" { "🎙" } }
                    @if speaks && message.role == MessageRole::Assistant && line.is_empty() {
                        " " button.play type="button" data-speak=(format!("/chat/speech/{}", message.id)) title="Play it aloud" { "🔊" }
                    }
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

/// The largest recording the page uploads, in bytes (the Chief takes 20 MB).
const RECORDING_MAX: usize = 20 * 1024 * 1024;

/// A JSON answer for the page's script.
fn said(status: axum::http::StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `POST /chat/voice` (multipart: `csrf`, `file`): a recording from the page's
/// microphone, heard and answered by the Chief of Staff (`POST /voice`). Answers
/// `{"heard": …}`, or `{"error": …}` with a 4xx/5xx; the conversation refreshes from
/// the live stream.
pub(crate) async fn voice(
    State(state): State<AppState>,
    session: Session,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    use axum::http::StatusCode;
    let refuse =
        |status: StatusCode, message: &str| said(status, serde_json::json!({"error": message}));
    let Some(chief) = state.chief_url.clone() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "No Chief of Staff is configured.",
        );
    };
    let Ok(mut form) = form else {
        return refuse(StatusCode::BAD_REQUEST, "Send the recording as a form.");
    };
    let (mut csrf, mut audio) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("csrf") => csrf = field.text().await.ok(),
                Some("file") => {
                    let mime = field.content_type().unwrap_or("audio/webm").to_owned();
                    match field.bytes().await {
                        Ok(bytes) => audio = Some((mime, bytes)),
                        Err(_) => {
                            return refuse(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "The recording is too long: at most 20 MB.",
                            );
                        }
                    }
                }
                _ => {}
            },
            Ok(None) => break,
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "The recording did not arrive whole.",
                );
            }
        }
    }
    if session
        .check_csrf(csrf.as_deref().unwrap_or_default())
        .is_err()
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "This page is stale: reload it and speak again.",
        );
    }
    let Some((mime, audio)) = audio.filter(|(_, a)| !a.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "Nothing was recorded.");
    };
    if audio.len() > RECORDING_MAX {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The recording is too long: at most 20 MB.",
        );
    }
    let (person, name) = match person(&session).await {
        Ok(who) => who,
        Err(_) => return refuse(StatusCode::BAD_GATEWAY, "The platform cannot be reached."),
    };
    let extension = if mime.contains("ogg") {
        "ogg"
    } else if mime.contains("mp4") {
        "mp4"
    } else {
        "webm"
    };
    let part = match reqwest::multipart::Part::bytes(audio.to_vec())
        .file_name(format!("voice.{extension}"))
        .mime_str(&mime)
    {
        Ok(part) => part,
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "The recording's type is not one."),
    };
    let upload = reqwest::multipart::Form::new()
        .part("file", part)
        .text("channel", CHANNEL)
        .text("external_id", person)
        .text("author", name);
    let answer = state
        .http
        .post(format!("{}/voice", chief.trim_end_matches('/')))
        .bearer_auth(&session.secret)
        .timeout(Duration::from_secs(180))
        .multipart(upload)
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            said(StatusCode::OK, serde_json::json!({"heard": body["heard"]}))
        }
        Ok(response) => {
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let message = match body["error"]["code"].as_str() {
                Some("unreadable_audio") => {
                    "No words could be made out: try again, closer to the microphone, or type it."
                        .to_owned()
                }
                _ => format!(
                    "The Chief of Staff answered {status}: {}",
                    body["error"]["message"]
                        .as_str()
                        .unwrap_or("it refused the recording")
                ),
            };
            let status = if status.is_client_error() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            };
            said(status, serde_json::json!({"error": message}))
        }
        Err(_) => refuse(
            StatusCode::BAD_GATEWAY,
            "The Chief of Staff could not be reached; nothing was sent. Try again in a moment.",
        ),
    }
}

/// `GET /chat/speech/{message}`: one of the Chief's answers in this person's
/// conversation, spoken (`audio/ogg`).
pub(crate) async fn speech(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
) -> Result<Response, WebError> {
    let Some(chief) = &state.chief_url else {
        return Err(WebError::BadInput(
            "No Chief of Staff is configured.".into(),
        ));
    };
    let thread = thread(&session).await?;
    // Only a message of the person's own conversation is read out.
    let messages = session
        .client
        .threads()
        .messages(thread.id)
        .limit(200)
        .send()
        .await?;
    let Some(message) = messages.items.into_iter().find(|m| m.id == id) else {
        return Err(WebError::BadInput(
            "That message is not in your conversation.".into(),
        ));
    };
    let answer = state
        .http
        .post(format!("{}/speech", chief.trim_end_matches('/')))
        .bearer_auth(&session.secret)
        .timeout(Duration::from_secs(120))
        .json(&SpeechIn { text: message.text })
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => {
            let audio = response.bytes().await.map_err(|_| {
                WebError::BadInput("The spoken answer did not arrive whole.".into())
            })?;
            Ok(([(axum::http::header::CONTENT_TYPE, "audio/ogg")], audio).into_response())
        }
        _ => Err(WebError::BadInput(
            "The Chief of Staff could not speak it now.".into(),
        )),
    }
}
