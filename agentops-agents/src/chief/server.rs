//! The Chief of Staff behind a small HTTP API (feature `server`), which the Telegram bot,
//! the dashboard and any HTTP caller talk to:
//!
//! - `POST /chat` [`ChatIn`] → [`ChatOut`](agentops_sdk::types::ChatOut);
//! - `POST /voice` (multipart: the audio as `file`, and the fields of [`ChatIn`] but
//!   `text`, `metadata` as JSON text) → [`VoiceOut`]: the audio is transcribed
//!   ([`crate::speech`]) and answered as if it had been typed; the person's message
//!   keeps the transcript in its metadata (`voice_transcript`). 422 `unreadable_audio`
//!   if no words are made out, 503 `speech_unavailable` without an engine;
//! - `POST /speech` [`SpeechIn`] → the text spoken, `audio/ogg` (Opus);
//! - `POST /image` (multipart: the picture as `file`, the person's words as `caption`,
//!   and the fields of [`ChatIn`] but `text`) → [`ImageOut`]: a model that sees
//!   describes it ([`crate::vision`]), and the Chief answers the caption with the
//!   description in view (a picture alone: the description, and what to do with it);
//!   the person's message keeps the description in its metadata (`image_json`). 422
//!   `unreadable_image` if it is not a picture the model reads, 503 `vision_unavailable`
//!   without a vision model (`VISION_MODEL`), 429 `budget_exhausted` when its budget is
//!   spent;
//! - `GET /health` (says whether speech and vision are on).
//!
//! Callers present a platform API key with the admin role (`Authorization: Bearer …`):
//! a chat can approve work, so it needs what approving needs. Keys are checked with the
//! platform (`GET /api/v1/keys/me`) and remembered for a minute. Errors are the
//! platform's error body (`{"error":{"code":…,"message":…}}`) with the status of their
//! [`ErrorCode`].
//!
//! The `agentops` binary serves it (`agentops chief-of-staff`, and inside `agentops up`);
//! this module is what it serves, so the Chief's wire contract lives next to the Chief.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use agentops_sdk::types::{ErrorBody, ErrorCode, Role};
use agentops_sdk::{CancellationToken, Client};

use agentops_sdk::types::{
    IMAGE_JSON, ImageOut, PICTURE_ONLY, SpeechIn, VOICE_TRANSCRIPT, VoiceOut,
};

use super::{ChatError, ChatIn, ChiefOfStaff};
use crate::llm::{Llm, LlmError};
use crate::speech::{MAX_AUDIO, Speaker, SpeechError, Transcriber};
use crate::vision::{MAX_IMAGE, VisionError};

/// What the Chief of Staff hears, speaks and sees with, beyond text.
#[derive(Debug, Clone, Default)]
pub struct Senses {
    /// Hearing voice notes and speaking answers (`/voice`, `/speech`).
    pub speech: Option<Speech>,
    /// A model that sees, for pictures (`/image`); metered like every model call.
    pub vision: Option<Llm>,
}

/// The speech engine the Chief hears and speaks with.
#[derive(Debug, Clone)]
pub struct Speech {
    /// Speech to text.
    pub transcriber: Arc<dyn Transcriber>,
    /// Text to speech.
    pub speaker: Arc<dyn Speaker>,
    /// Where its calls are recorded (the token ledger), if anywhere.
    pub meter: Option<crate::meter::Meter>,
}

impl Speech {
    /// One engine doing both (an OpenAI-compatible audio API).
    pub fn both<E: Transcriber + Speaker + 'static>(engine: E) -> Self {
        let engine = Arc::new(engine);
        Self {
            transcriber: engine.clone(),
            speaker: engine,
            meter: None,
        }
    }

    /// The same engine, its calls recorded through `meter`.
    #[must_use]
    pub fn metered(mut self, meter: crate::meter::Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Records a call in the ledger (when metered), for the person and conversation.
    async fn record(
        &self,
        kind: agentops_sdk::types::UsageKind,
        spender: &agentops_sdk::types::Spender,
        latency: Duration,
        result: Result<&str, String>,
    ) {
        let Some(meter) = &self.meter else {
            return;
        };
        let (provider, model) = if kind == agentops_sdk::types::UsageKind::Speech {
            (self.speaker.provider(), self.speaker.model())
        } else {
            (self.transcriber.provider(), self.transcriber.model())
        };
        let call = crate::meter::AudioCall {
            kind,
            provider,
            model,
            latency,
            result,
        };
        meter.record_audio(spender, call).await;
    }
}

/// An error answer: the platform's error body, with the status of `code`.
fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(ErrorBody::new(code, message))).into_response()
}

/// How long a caller's key, once checked, is taken as it was.
const KEY_CACHE: Duration = Duration::from_secs(60);

/// SHA-256 of checked keys → whether it is an admin key, and when that was learnt.
type CheckedKeys = Arc<Mutex<HashMap<[u8; 32], (bool, Instant)>>>;

#[derive(Clone)]
struct AppState {
    chief: ChiefOfStaff,
    platform_url: String,
    keys: CheckedKeys,
    speech: Option<Speech>,
    vision: Option<Llm>,
}

impl AppState {
    /// Whether the request carries an admin key of the platform.
    async fn authorise(&self, headers: &HeaderMap) -> Result<(), Response> {
        let Some(key) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme is case-insensitive, as the platform takes it.
                let (scheme, key) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(key)
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
        else {
            return Err(error(
                ErrorCode::Unauthorized,
                "send a platform API key: Authorization: Bearer <key>",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE)
            .map(|(admin, _)| *admin);
        let admin = match cached {
            Some(admin) => admin,
            None => {
                let client = Client::builder()
                    .base_url(&self.platform_url)
                    .api_key(key)
                    .max_retries(1)
                    .build()
                    .map_err(|err| error(ErrorCode::PlatformUnavailable, err.to_string()))?;
                let admin = match client.keys().me().await {
                    Ok(me) => me.role == Role::Admin,
                    Err(err) if err.is_auth() => {
                        return Err(error(
                            ErrorCode::Unauthorized,
                            "the platform does not know this key",
                        ));
                    }
                    Err(err) => {
                        return Err(error(
                            ErrorCode::PlatformUnavailable,
                            format!("cannot check the key with the platform: {err}"),
                        ));
                    }
                };
                let mut keys = self
                    .keys
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                keys.retain(|_, (_, at)| at.elapsed() < KEY_CACHE);
                keys.insert(digest, (admin, Instant::now()));
                admin
            }
        };
        if admin {
            Ok(())
        } else {
            Err(error(
                ErrorCode::Forbidden,
                "talking to the Chief of Staff needs an admin key (a chat can approve work)",
            ))
        }
    }
}

async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChatIn>, JsonRejection>,
) -> Response {
    if let Err(denied) = state.authorise(&headers).await {
        return denied;
    }
    let input = match body {
        Ok(Json(input)) => input,
        Err(rejection) => return rejected(&rejection),
    };
    match state.chief.chat(input).await {
        Ok(out) => Json(out).into_response(),
        Err(err) => chat_failed(err),
    }
}

/// What a chat call's failure answers.
fn chat_failed(err: ChatError) -> Response {
    match err {
        ChatError::Invalid(message) => error(ErrorCode::ValidationFailed, message),
        ChatError::Platform(err) if err.is_not_found() => {
            error(ErrorCode::ThreadNotFound, err.to_string())
        }
        ChatError::Platform(err) if err.is_invalid_request() => {
            error(ErrorCode::ValidationFailed, err.to_string())
        }
        ChatError::Platform(err) => {
            tracing::warn!("chat failed: {err}");
            error(ErrorCode::PlatformUnavailable, err.to_string())
        }
    }
}

/// What a speech engine's failure answers.
fn speech_failed(err: &SpeechError) -> Response {
    match err {
        SpeechError::TooLarge(_) => error(ErrorCode::PayloadTooLarge, err.to_string()),
        err if err.is_unreadable() => error(ErrorCode::UnreadableAudio, err.to_string()),
        err => {
            tracing::warn!("the speech engine failed: {err}");
            let mut response = error(ErrorCode::SpeechUnavailable, err.to_string());
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("10"),
            );
            response
        }
    }
}

fn no_speech() -> Response {
    error(
        ErrorCode::SpeechUnavailable,
        "this Chief of Staff has no speech engine: set SPEECH_BASE_URL (see docs/speech.md)",
    )
}

/// A multipart form of `/voice` or `/image`: its `file`, a `caption` (where taken), and
/// the other fields of [`ChatIn`] but `text` (`metadata` as JSON text).
struct Form {
    /// Its file name, if it has one, and its bytes.
    file: Option<(Option<String>, Vec<u8>)>,
    caption: Option<String>,
    input: ChatIn,
}

async fn read_form(
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
    route: &str,
    takes_caption: bool,
) -> Result<Form, Response> {
    let mut form =
        form.map_err(|rejection| error(ErrorCode::InvalidForm, rejection.body_text()))?;
    let mut read = Form {
        file: None,
        caption: None,
        input: ChatIn::default(),
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => {
                let code = if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::PayloadTooLarge
                } else {
                    ErrorCode::InvalidForm
                };
                return Err(error(code, err.body_text()));
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().map(str::to_owned);
            match field.bytes().await {
                Ok(bytes) => read.file = Some((file_name, bytes.to_vec())),
                Err(err) => return Err(error(ErrorCode::InvalidForm, err.body_text())),
            }
            continue;
        }
        let value = match field.text().await {
            Ok(value) => value,
            Err(err) => return Err(error(ErrorCode::InvalidForm, err.body_text())),
        };
        let bad = |what: &str| error(ErrorCode::InvalidForm, format!("`{name}` {what}"));
        let input = &mut read.input;
        match name.as_str() {
            "channel" => input.channel = Some(value),
            "external_id" => input.external_id = Some(value),
            "author" => input.author = Some(value),
            "caption" if takes_caption => read.caption = Some(value),
            "thread_id" => match value.parse() {
                Ok(id) => input.thread_id = Some(id),
                Err(_) => return Err(bad("is not a UUID")),
            },
            "metadata" => match serde_json::from_str::<serde_json::Value>(&value) {
                Ok(metadata @ serde_json::Value::Object(_)) => input.metadata = Some(metadata),
                _ => return Err(bad("must be a JSON object")),
            },
            "multitask" => match serde_json::from_value(json!(value)) {
                Ok(policy) => input.multitask = Some(policy),
                Err(_) => return Err(bad("must be enqueue, reject or interrupt")),
            },
            _ => return Err(bad(&format!("is not a field of /{route}"))),
        }
    }
    Ok(read)
}

/// `input`'s metadata with `key` set to `value`.
fn with_derived(input: &mut ChatIn, key: &str, value: serde_json::Value) {
    let mut metadata = match input.metadata.take() {
        Some(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    metadata.insert(key.to_owned(), value);
    input.metadata = Some(serde_json::Value::Object(metadata));
}

/// `POST /voice`: a voice note, heard and answered.
async fn voice(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Err(denied) = state.authorise(&headers).await {
        return denied;
    }
    let Some(speech) = &state.speech else {
        return no_speech();
    };
    let Form {
        file, mut input, ..
    } = match read_form(form, "voice", false).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let Some((file_name, audio)) = file else {
        return error(
            ErrorCode::InvalidForm,
            "send the audio as the form's `file`",
        );
    };
    let file_name = file_name.unwrap_or_else(|| "voice.ogg".to_owned());
    let started = Instant::now();
    let heard = speech.transcriber.transcribe(audio, &file_name).await;
    let latency = started.elapsed();
    let mut spender = agentops_sdk::types::Spender {
        user: input.author.clone(),
        ..Default::default()
    };
    let heard = match heard {
        Ok(heard) => heard,
        Err(err) => {
            let failed = Err(err.to_string());
            speech
                .record(
                    agentops_sdk::types::UsageKind::Transcription,
                    &spender,
                    latency,
                    failed,
                )
                .await;
            return speech_failed(&err);
        }
    };
    if heard.text.is_empty() {
        return error(
            ErrorCode::UnreadableAudio,
            "no words could be made out in the audio",
        );
    }
    with_derived(
        &mut input,
        VOICE_TRANSCRIPT,
        json!({"text": heard.text, "model": heard.model, "seconds": heard.seconds}),
    );
    input.text = heard.text.clone();
    let answered = state.chief.chat(input).await;
    spender.thread_id = answered.as_ref().ok().map(|chat| chat.thread_id);
    speech
        .record(
            agentops_sdk::types::UsageKind::Transcription,
            &spender,
            latency,
            Ok(&heard.text),
        )
        .await;
    match answered {
        Ok(chat) => Json(VoiceOut {
            heard: heard.text,
            seconds: heard.seconds,
            chat,
        })
        .into_response(),
        Err(err) => chat_failed(err),
    }
}

/// `POST /speech`: text spoken, as OGG/Opus.
async fn speak(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SpeechIn>, JsonRejection>,
) -> Response {
    if let Err(denied) = state.authorise(&headers).await {
        return denied;
    }
    let Some(speech) = &state.speech else {
        return no_speech();
    };
    let input = match body {
        Ok(Json(input)) => input,
        Err(rejection) => return rejected(&rejection),
    };
    let text = input.text.trim();
    if text.is_empty() {
        return error(ErrorCode::ValidationFailed, "`text` is empty");
    }
    let started = Instant::now();
    let spoken = speech.speaker.speak(text).await;
    let result = spoken.as_ref().map(|_| text).map_err(ToString::to_string);
    speech
        .record(
            agentops_sdk::types::UsageKind::Speech,
            &agentops_sdk::types::Spender::default(),
            started.elapsed(),
            result,
        )
        .await;
    match spoken {
        Ok(audio) => ([(axum::http::header::CONTENT_TYPE, "audio/ogg")], audio).into_response(),
        Err(err) => speech_failed(&err),
    }
}

fn no_vision() -> Response {
    error(
        ErrorCode::VisionUnavailable,
        "this Chief of Staff has no vision model: set VISION_MODEL (see docs/speech.md)",
    )
}

/// What a vision model's failure answers.
fn vision_failed(err: &VisionError) -> Response {
    let retry_after = |mut response: Response, seconds: u64| {
        if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    };
    match err {
        VisionError::TooLarge(_) => error(ErrorCode::PayloadTooLarge, err.to_string()),
        err if err.is_unreadable() => error(ErrorCode::UnreadableImage, err.to_string()),
        VisionError::Llm(LlmError::Budget {
            retry_after: wait, ..
        }) => retry_after(
            error(ErrorCode::BudgetExhausted, err.to_string()),
            wait.map_or(60, |wait| wait.as_secs().max(1)),
        ),
        err => {
            tracing::warn!("the vision model failed: {err}");
            retry_after(error(ErrorCode::VisionUnavailable, err.to_string()), 10)
        }
    }
}

/// `POST /image`: a picture, seen and answered.
async fn image(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Err(denied) = state.authorise(&headers).await {
        return denied;
    }
    let Some(vision) = &state.vision else {
        return no_vision();
    };
    let Form {
        file,
        caption,
        mut input,
    } = match read_form(form, "image", true).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let Some((_, picture)) = file else {
        return error(
            ErrorCode::InvalidForm,
            "send the picture as the form's `file`",
        );
    };
    let caption = caption
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let (bytes, content_type) = (picture.len(), crate::vision::image_type(&picture));
    // Booked for the person, in their conversation.
    let spender = agentops_sdk::types::Spender {
        user: input.author.clone(),
        thread_id: if input.thread_id.is_some() || input.external_id.is_some() {
            state.chief.thread_of(&input).await.ok()
        } else {
            None
        },
        ..Default::default()
    };
    let seen =
        crate::vision::describe(&vision.for_spender(spender), picture, caption.as_deref()).await;
    let sight = match seen {
        Ok(sight) => sight,
        Err(err) => return vision_failed(&err),
    };
    with_derived(
        &mut input,
        IMAGE_JSON,
        json!({
            "description": sight.description,
            "model": sight.model,
            "caption": caption,
            "content_type": content_type,
            "bytes": bytes,
        }),
    );
    input.text = caption.unwrap_or_else(|| PICTURE_ONLY.to_owned());
    match state.chief.chat(input).await {
        Ok(chat) => Json(ImageOut {
            seen: sight.description,
            chat,
        })
        .into_response(),
        Err(err) => chat_failed(err),
    }
}

/// What a JSON body the route cannot read answers.
fn rejected(rejection: &JsonRejection) -> Response {
    let status = rejection.status();
    let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        ErrorCode::UnsupportedMediaType
    } else if status == StatusCode::BAD_REQUEST {
        ErrorCode::MalformedJson
    } else {
        ErrorCode::InvalidBody
    };
    error(code, rejection.body_text())
}

/// The Chief of Staff's HTTP API: `POST /chat` and `GET /health`, callers checked with
/// the platform at `platform_url`.
pub fn router(chief: ChiefOfStaff, platform_url: String) -> Router {
    router_with_speech(chief, platform_url, None)
}

/// [`router`], hearing voice notes and speaking answers with `speech` (without one,
/// `/voice` and `/speech` answer 503 `speech_unavailable`).
pub fn router_with_speech(
    chief: ChiefOfStaff,
    platform_url: String,
    speech: Option<Speech>,
) -> Router {
    router_with_senses(
        chief,
        platform_url,
        Senses {
            speech,
            vision: None,
        },
    )
}

/// [`router`], with `senses`: without speech, `/voice` and `/speech` answer 503
/// `speech_unavailable`; without vision, `/image` answers 503 `vision_unavailable`.
pub fn router_with_senses(chief: ChiefOfStaff, platform_url: String, senses: Senses) -> Router {
    let (speaks, sees) = (senses.speech.is_some(), senses.vision.is_some());
    let state = AppState {
        chief,
        platform_url,
        keys: Arc::new(Mutex::new(HashMap::new())),
        speech: senses.speech,
        vision: senses.vision,
    };
    Router::new()
        .route("/chat", post(chat))
        .route(
            "/voice",
            // The audio, and room for the other fields.
            post(voice).layer(axum::extract::DefaultBodyLimit::max(MAX_AUDIO + 64 * 1024)),
        )
        .route("/speech", post(speak))
        .route(
            "/image",
            post(image).layer(axum::extract::DefaultBodyLimit::max(MAX_IMAGE + 64 * 1024)),
        )
        .route(
            "/health",
            get(move || async move {
                Json(json!({
                    "status": "ok",
                    "agent": "chief-of-staff",
                    "speech": speaks,
                    "vision": sees,
                }))
            }),
        )
        .fallback(|| async { error(ErrorCode::RouteNotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            error(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            )
        })
        .with_state(state)
}

/// Runs the executor of approved plans, and beside it the worker of the Chief's own tasks
/// (its schedules' reminders and reports), until `stop`; each is started again while the
/// platform cannot be read (the executor starts over by itself when its event stream
/// ends).
pub fn spawn_executor(chief: ChiefOfStaff, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let worker = {
        let (chief, stop) = (chief.clone(), stop.clone());
        tokio::spawn(restarting(
            "the Chief's task worker",
            stop.clone(),
            move || {
                let (chief, stop) = (chief.clone(), stop.clone());
                async move { chief.run_chief_tasks(stop).await.map_err(|e| e.to_string()) }
            },
        ))
    };
    let plans = {
        let stop = stop.clone();
        restarting("the executor of approved plans", stop.clone(), move || {
            let (chief, stop) = (chief.clone(), stop.clone());
            async move { chief.run_executor(stop).await.map_err(|e| e.to_string()) }
        })
    };
    tokio::spawn(async move {
        plans.await;
        let _ = worker.await;
    })
}

/// Runs `run` until it returns `Ok` (only once `stop` is cancelled), starting it again
/// after a failure with a back-off from 0.5 s to 30 s.
async fn restarting<F, Fut>(what: &str, stop: CancellationToken, run: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut delay = Duration::from_millis(500);
    loop {
        match run().await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!("{what} cannot run: {err}");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
